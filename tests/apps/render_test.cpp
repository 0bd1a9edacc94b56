// `v3d render` and `v3d eval --render`: a test sequence of the checkpoint's synthetic data and a
// detector's JSON drawn to MP4, GIF and a PNG contact sheet (the pictures themselves are checked
// by tests/report/render_*_test.cpp); bad options are one error line.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/apps/cli_run.h"
#include "tests/apps/tiny_model.h"
#include "tests/test_util.h"
#include "trainer/config.h"

namespace v3d::apps {
namespace {

using test_util::coco_person;
using test_util::TempDir;
using test_util::write_text;

// A PNG's width and height from its IHDR chunk (bytes 16..23, big-endian).
std::pair<uint32_t, uint32_t> png_size(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<unsigned char> b(24);
  f.read(reinterpret_cast<char*>(b.data()), 24);
  EXPECT_EQ(f.gcount(), 24);
  const auto be = [&](int i) {
    return (uint32_t{b[i]} << 24) | (uint32_t{b[i + 1]} << 16) | (uint32_t{b[i + 2]} << 8) |
           b[i + 3];
  };
  EXPECT_EQ(std::string(b.begin() + 1, b.begin() + 4), "PNG");
  return {be(16), be(20)};
}

TEST(RenderCli, TestSequenceToVideosAndContactSheet) {
  const TempDir dir("v3d-render");
  save_tiny_model(dir.file("tiny.ckpt"), false);
  for (const std::string ext : {"mp4", "gif"}) {
    const CliRun r = run({"render", "--checkpoint", dir.file("tiny.ckpt"), "--sequence",
                          "S11/Walking", "--camera", "2", "--frames", "5:25", "--size", "320x160",
                          "--fps", "25", "--out", dir.file("walk." + ext)});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("Rendering S11/Walking camera 2"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("(20 frames at 25 fps, 320x160)"), std::string::npos) << r.out;
    EXPECT_GT(std::filesystem::file_size(dir.file("walk." + ext)), 1000u);
  }
  const CliRun r = run({"render", "--checkpoint", dir.file("tiny.ckpt"), "--sequence",
                        "S11/Walking", "--sheet-frames", "0,10,20,30,40", "--columns", "2",
                        "--scale", "0.5", "--out", dir.file("sheet.png")});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(png_size(dir.file("sheet.png")), std::make_pair(960u, 720u));  // 2 x 3 of 480 x 240
}

TEST(RenderCli, DetectorTrackToVideo) {
  const TempDir dir("v3d-render-json");
  save_tiny_model(dir.file("coco.ckpt"), false, Keypoints::kPseudoCoco);
  std::string json = "[";
  for (int t = 0; t < 30; ++t) {
    json += std::string(t ? ", " : "") + "{\"frame\": " + std::to_string(t) +
            ", \"track_id\": 7, \"keypoints\": " + coco_person(100 + 5 * t, 300, 30) + "}";
  }
  write_text(dir.file("person.json"), json + "]");
  const CliRun r =
      run({"render", "--checkpoint", dir.file("coco.ckpt"), "--input", dir.file("person.json"),
           "--res", "640x480", "--sequence", "7", "--out", dir.file("person.gif")});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("Rendering person/7 (30 frames from frame 0)"), std::string::npos) << r.out;
  EXPECT_TRUE(std::filesystem::exists(dir.file("person.gif")));
}

// A v3d pose file as --input: its 2D through the model, its 3D as the ground truth.
TEST(RenderCli, PoseFileInputBringsItsGroundTruth) {
  const TempDir dir("v3d-render-h5");
  save_tiny_model(dir.file("tiny.ckpt"), false);
  ASSERT_EQ(run({"synth", "--out", dir.file("poses.h5"), "--subjects", "S9", "--actions", "Walking",
                 "--frames", "40"})
                .status,
            0);
  const CliRun r =
      run({"render", "--checkpoint", dir.file("tiny.ckpt"), "--input", dir.file("poses.h5"),
           "--camera", "1", "--sequence", "S9/Walking", "--out", dir.file("walk.gif")});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("Rendering S9/Walking (40 frames"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Ground truth from " + dir.file("poses.h5")), std::string::npos) << r.out;
  EXPECT_TRUE(std::filesystem::exists(dir.file("walk.gif")));
}

TEST(RenderCli, EvalRendersTheWorstSequences) {
  const TempDir dir("v3d-render-eval");
  save_tiny_model(dir.file("tiny.ckpt"), false);
  const CliRun r = run({"eval", "--checkpoint", dir.file("tiny.ckpt"), "--intervals", "1", "--set",
                        "data.test_subjects=S9", "--render", "2", "--render-format", "gif", "--out",
                        dir.file("eval")});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("rank 1 of "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rank 2 of "), std::string::npos) << r.out;
  int videos = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.file("eval") + "/render")) {
    videos += e.path().extension() == ".gif";
  }
  EXPECT_EQ(videos, 2);
}

TEST(RenderCli, BadOptionsAreOneErrorLine) {
  const TempDir dir("v3d-render-bad");
  save_tiny_model(dir.file("tiny.ckpt"), false);
  const std::string ckpt = dir.file("tiny.ckpt");
  expect_one_line_error(run({"render", "--checkpoint", ckpt, "--out", dir.file("x.avi")}),
                        "the extension must be .mp4, .gif or .png");
  expect_one_line_error(
      run({"render", "--checkpoint", ckpt, "--sequence", "S9/Flying", "--out", dir.file("x.gif")}),
      "--sequence: no test sequence 'S9/Flying'");
  expect_one_line_error(
      run({"render", "--checkpoint", ckpt, "--frames", "ten", "--out", dir.file("x.gif")}),
      "--frames: 'ten' must be A:B");
  expect_one_line_error(
      run({"render", "--checkpoint", ckpt, "--size", "321x160", "--out", dir.file("x.gif")}),
      "--size 321x160 must be even");
  expect_one_line_error(run({"render", "--checkpoint", ckpt, "--sheet-frames", "0,100000", "--out",
                             dir.file("x.png")}),
                        "frame row 100000 is outside");
  expect_one_line_error(
      run({"render", "--checkpoint", ckpt, "--video", ckpt, "--out", dir.file("x.gif")}),
      "--video: needs --input");
  EXPECT_FALSE(std::filesystem::exists(dir.file("x.gif")));
  EXPECT_FALSE(std::filesystem::exists(dir.file("x.png")));
}

}  // namespace
}  // namespace v3d::apps
