// report/render.h's videos, read back by FFmpeg's own programs: ffprobe counts the frames and
// reads the size and duration, ffmpeg decodes a frame in which the skeletons' pixels are looked
// for where the projections put them. Built where FFmpeg's libraries are (scripts/setup installs
// them and the ffmpeg programs).
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "kernels/common.h"
#include "report/render.h"
#include "tests/report/render_fixture.h"

namespace v3d::report {
namespace {

namespace fs = std::filesystem;

// The command's standard output; fails the test when it cannot run or exits non-zero.
std::string run(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) {
    ADD_FAILURE() << "cannot run " << command;
    return out;
  }
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  EXPECT_EQ(status, 0) << command;
  return out;
}

struct Probe {
  int width = 0, height = 0;
  long frames = 0;
  double duration = 0;
  std::string codec;
};

Probe probe(const std::string& path) {
  const std::string out =
      run("ffprobe -v error -count_frames -select_streams v:0 -show_entries "
          "stream=codec_name,width,height,nb_read_frames,duration -of "
          "default=noprint_wrappers=1 '" +
          path + "'");
  Probe p;
  size_t pos = 0;
  while (pos < out.size()) {
    const size_t end = out.find('\n', pos);
    const std::string line = out.substr(pos, end - pos);
    pos = end == std::string::npos ? out.size() : end + 1;
    const size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = line.substr(0, eq), value = line.substr(eq + 1);
    if (key == "codec_name") p.codec = value;
    if (key == "width") p.width = std::stoi(value);
    if (key == "height") p.height = std::stoi(value);
    if (key == "nb_read_frames") p.frames = std::stol(value);
    if (key == "duration") p.duration = std::stod(value);
  }
  return p;
}

class RenderVideo : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("v3d_render_video_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(RenderVideo, Mp4AndGifHaveTheFramesSizeAndDuration) {
  ASSERT_TRUE(video_supported());
  const RenderSequence seq = test::synthetic_render_sequence();
  RenderOptions o;
  o.width = 320;
  o.height = 160;
  o.fps = 25;
  o.begin = 10;
  o.end = 45;  // 35 frames: 1.4 s at 25 fps
  for (const char* name : {"walk.mp4", "walk.gif"}) {
    const std::string path = (dir_ / name).string();
    int64_t calls = 0;
    render_video(seq, o, path, [&](int64_t done, int64_t total) {
      ++calls;
      EXPECT_EQ(done, calls);
      EXPECT_EQ(total, 35);
    });
    EXPECT_EQ(calls, 35);
    const Probe p = probe(path);
    EXPECT_EQ(p.codec, std::string(name).find(".mp4") != std::string::npos ? "h264" : "gif");
    EXPECT_EQ(p.width, 320) << name;
    EXPECT_EQ(p.height, 160) << name;
    EXPECT_EQ(p.frames, 35) << name;
    EXPECT_NEAR(p.duration, 1.4, 0.011) << name;
  }
  // Nothing but the two videos: no temporary file left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator{}), 2);
}

TEST_F(RenderVideo, DecodedFrameHasTheSkeletonsWhereTheProjectionsPutThem) {
  const RenderSequence seq = test::synthetic_render_sequence();
  RenderOptions o;  // 960 x 480
  const std::string path = (dir_ / "walk.mp4").string();
  render_video(seq, o, path);
  const int64_t row = 23;
  const std::string raw = run("ffmpeg -v error -i '" + path + "' -vf 'select=eq(n\\," +
                              std::to_string(row) + ")' -frames:v 1 -f rawvideo -pix_fmt rgb24 -");
  ASSERT_EQ(raw.size(), static_cast<size_t>(o.width) * o.height * 3);
  const std::vector<uint8_t> rgb(raw.begin(), raw.end());
  const test::Image image{o.width, o.height, rgb};
  // H.264 in yuv420p blurs thin lines' colours: a joint's dot is found within 2 pixels and 60
  // levels of its colour; the background far from the skeletons stays near white.
  int found_pred = 0, found_true = 0, found_2d = 0;
  for (int j = 0; j < 17; ++j) {
    const size_t i3 = (static_cast<size_t>(row) * 17 + j) * 3;
    const size_t i2 = (static_cast<size_t>(row) * 17 + j) * 2;
    found_pred += image.has_color_near(
        view_3d(o, {seq.predicted_3d[i3], seq.predicted_3d[i3 + 1], seq.predicted_3d[i3 + 2]}),
        kPredictedColor, 2, 60);
    found_true += image.has_color_near(
        view_3d(
            o, {seq.ground_truth_3d[i3], seq.ground_truth_3d[i3 + 1], seq.ground_truth_3d[i3 + 2]}),
        kGroundTruthColor, 2, 60);
    found_2d += image.has_color_near(
        view_2d(seq, o, seq.keypoints_2d[i2], seq.keypoints_2d[i2 + 1]), kKeypointColor, 2, 60);
  }
  EXPECT_EQ(found_pred, 17);
  EXPECT_EQ(found_true, 17);
  EXPECT_EQ(found_2d, 17);
  EXPECT_TRUE(image.has_color_near({o.width * 0.99, o.height * 0.98}, 0xffffff, 0, 12));
}

TEST_F(RenderVideo, TheVideoIsUnderTheKeypoints) {
  // A 640x480 video of one colour, 40 frames, and the synthetic sequence's 2D in its pixels.
  const std::string video = (dir_ / "input.mp4").string();
  run("ffmpeg -v error -f lavfi -i color=c=0x4080c0:s=640x480:r=25 -frames:v 40 -pix_fmt yuv420p "
      "'" +
      video + "'");
  RenderSequence seq = test::synthetic_render_sequence();
  seq.image_width = 640;
  seq.image_height = 480;
  for (size_t i = 0; i < seq.keypoints_2d.size(); i += 2) {
    seq.keypoints_2d[i] = (seq.keypoints_2d[i] + 1) * 320;
    seq.keypoints_2d[i + 1] = (seq.keypoints_2d[i + 1] + 0.75f) * 320;
  }
  seq.video = video;
  const RenderOptions o;
  const std::vector<uint8_t> rgb = render_frame_rgb(seq, o, 30);
  const test::Image image{o.width, o.height, rgb};
  // Near the image's corner: the video's colour at 60% over white; the keypoints on top of it.
  EXPECT_TRUE(image.has_color_near(view_2d(seq, o, 8, 8), 0x8cb3d9, 0, 8));
  EXPECT_TRUE(image.has_color_near(view_2d(seq, o, 632, 472), 0x8cb3d9, 0, 8));
  const size_t k = (30 * 17 + 10) * 2;
  EXPECT_TRUE(image.has_color_near(view_2d(seq, o, seq.keypoints_2d[k], seq.keypoints_2d[k + 1]),
                                   kKeypointColor, 1, 10));
  // Frames past the video's end: one error naming the video and the frame.
  seq.first_frame = 25;
  try {
    render_frame_rgb(seq, o, 30);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the video ends before frame 55"), std::string::npos)
        << e.what();
  }
}

TEST_F(RenderVideo, AFailedWriteLeavesNoFile) {
  const RenderSequence seq = test::synthetic_render_sequence();
  const std::string path = (dir_ / "missing" / "walk.mp4").string();
  try {
    render_video(seq, {}, path);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(path));
}

}  // namespace
}  // namespace v3d::report
