// `v3d stream` end to end on a tiny causal checkpoint (9 frames, 16 channels): a synthetic
// sequence fed line by line reproduces `v3d infer` on the same frames, for one track and for three
// interleaved ones (each with its own cache), with the online bank as `v3d infer --ltb` in online
// mode, over loopback TCP; bad lines get one error line each and the stream goes on.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "data/dataset.h"
#include "data/infer_input.h"
#include "data/synth.h"
#include "tests/apps/cli_run.h"
#include "tests/apps/tiny_model.h"
#include "tests/test_util.h"
#include "trainer/checkpoint.h"
#include "trainer/config.h"
#include "trainer/model.h"

namespace v3d::apps {
namespace {

using nlohmann::json;

// poses.h5 (S1: Walking, Boxing, JumpingJacks, 60 frames each) and causal.h5, a random tiny
// causal model.
class StreamCli : public ::testing::Test {
 protected:
  void SetUp() override {
    data::SynthOptions so;
    so.subjects = {"S1"};
    so.actions = {"Walking", "Boxing", "JumpingJacks"};
    so.frames_per_action = 60;
    data::write_dataset(data::synthesize(so), dir_.file("poses.h5"));
    save_tiny_model(ckpt_path(), true);
    inputs_ = data::read_infer_input_h5(dir_.file("poses.h5"), 0);
    ASSERT_EQ(inputs_.size(), 3u);  // S1/Boxing, S1/JumpingJacks, S1/Walking
  }
  std::string ckpt_path() const { return dir_.file("causal.h5"); }
  std::string res() const {
    return std::to_string(inputs_[0].res_w) + "x" + std::to_string(inputs_[0].res_h);
  }

  // `v3d infer` of poses.h5 (camera 0): name -> (frames * 17 * 3) poses.
  std::map<std::string, std::vector<float>> infer(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> words = {
        "infer", "--checkpoint",      ckpt_path(), "--input", dir_.file("poses.h5"),
        "--out", dir_.file("out.csv")};
    words.insert(words.end(), extra.begin(), extra.end());
    const CliRun r = run(words);
    EXPECT_EQ(r.status, 0) << r.err;
    std::map<std::string, std::vector<float>> out;
    std::ifstream f(dir_.file("out.csv"));
    std::string line;
    std::getline(f, line);  // header
    while (std::getline(f, line)) {
      std::stringstream ss(line);
      std::string name, v;
      std::getline(ss, name, ',');
      std::getline(ss, v, ',');  // frame
      std::getline(ss, v, ',');  // joint
      while (std::getline(ss, v, ',')) out[name].push_back(std::stof(v));
    }
    return out;
  }

  // One input line of frame t of input k, under track id `track` (JSON text).
  std::string frame_line(size_t k, int64_t t, const std::string& track) const {
    json kp = json::array();
    for (int e = 0; e < 34; ++e)
      kp.push_back(inputs_[k].keypoints_px[static_cast<size_t>(t * 34 + e)]);
    return "{\"track\":" + track + ",\"keypoints\":" + kp.dump() + "}";
  }

  // `v3d stream` over `lines` written to a file: its status, stdout lines parsed, stderr.
  struct Streamed {
    int status = 0;
    std::vector<json> out;
    std::string err;
  };
  Streamed stream(const std::vector<std::string>& lines,
                  const std::vector<std::string>& extra = {}) {
    {
      std::ofstream f(dir_.file("in.jsonl"));
      for (const auto& l : lines) f << l << "\n";
    }
    std::vector<std::string> words = {
        "stream", "--checkpoint", ckpt_path(), "--input", dir_.file("in.jsonl"), "--res", res()};
    words.insert(words.end(), extra.begin(), extra.end());
    const CliRun r = run(words);
    Streamed s;
    s.status = r.status;
    s.err = r.err;
    std::stringstream ss(r.out);
    std::string line;
    while (std::getline(ss, line)) s.out.push_back(json::parse(line));
    return s;
  }

  // Every output line of `track` equals the batch poses of that input, frame by frame.
  static void expect_track(const std::vector<json>& out, const json& track,
                           const std::vector<float>& want, int64_t frames) {
    int64_t t = 0;
    for (const json& o : out) {
      if (o["track"] != track) continue;
      ASSERT_EQ(o["frame"].get<int64_t>(), t);
      ASSERT_EQ(o["joints"].size(), 17u);
      for (int j = 0; j < 17; ++j)
        for (int c = 0; c < 3; ++c) {
          const float w = want[static_cast<size_t>((t * 17 + j) * 3 + c)];
          // The same operations as the batch pass, summed in another order per convolution
          // (docs/cli.md): about 100 float ulps of these O(1) values.
          ASSERT_NEAR(o["joints"][static_cast<size_t>(j)][static_cast<size_t>(c)].get<float>(), w,
                      1e-5f * (1 + std::fabs(w)))
              << "track " << track.dump() << " frame " << t << " joint " << j;
        }
      ++t;
    }
    EXPECT_EQ(t, frames) << "track " << track.dump();
  }

  test_util::TempDir dir_{"v3d-stream"};
  std::vector<data::InferInput> inputs_;
};

TEST_F(StreamCli, OneTrackReproducesInfer) {
  const auto want = infer();
  std::vector<std::string> lines;
  for (int64_t t = 0; t < inputs_[2].frames; ++t) lines.push_back(frame_line(2, t, "\"cam0\""));
  const Streamed s = stream(lines);
  ASSERT_EQ(s.status, 0) << s.err;
  ASSERT_EQ(s.out.size(), lines.size());
  expect_track(s.out, "cam0", want.at("S1/Walking"), inputs_[2].frames);
  EXPECT_NE(s.err.find("Streamed 60 frames of 1 track(s), 0 line(s) refused"), std::string::npos)
      << s.err;
}

// --threads and --spin-ms reach the stream (its banner names the threads and the products), and
// the poses stay those of v3d infer whatever the threads.
TEST_F(StreamCli, ThreadsAndSpinKeepThePoses) {
  const auto want = infer();
  std::vector<std::string> lines;
  for (int64_t t = 0; t < inputs_[2].frames; ++t) lines.push_back(frame_line(2, t, "\"cam0\""));
  for (const char* threads : {"1", "3"}) {
    const Streamed s = stream(lines, {"--threads", threads, "--spin-ms", "0.5"});
    ASSERT_EQ(s.status, 0) << s.err;
    EXPECT_NE(s.err.find(std::string("products on ") + threads + " threads"), std::string::npos)
        << s.err;
    expect_track(s.out, "cam0", want.at("S1/Walking"), inputs_[2].frames);
  }
}

// --bf16-weights: the same frames, the model's weights rounded to bf16 (docs/cli.md's bound
// against the float32 model), and the banner says so.
TEST_F(StreamCli, Bf16WeightsStayWithinTheirBound) {
  const auto want = infer();
  const std::vector<float>& w = want.at("S1/Walking");
  std::vector<std::string> lines;
  for (int64_t t = 0; t < inputs_[2].frames; ++t) lines.push_back(frame_line(2, t, "\"cam0\""));
  const Streamed s = stream(lines, {"--bf16-weights"});
  ASSERT_EQ(s.status, 0) << s.err;
  ASSERT_EQ(s.out.size(), lines.size());
  EXPECT_NE(s.err.find("bf16 weights"), std::string::npos) << s.err;
  double max_diff = 0.0;
  for (size_t t = 0; t < s.out.size(); ++t)
    for (size_t j = 0; j < 17; ++j)
      for (size_t c = 0; c < 3; ++c) {
        const float v = w[(t * 17 + j) * 3 + c];
        max_diff = std::max(
            max_diff, std::fabs(s.out[t]["joints"][j][c].get<double>() - v) / (1.0 + std::fabs(v)));
      }
  EXPECT_GT(max_diff, 1e-6) << "the weights were rounded";
  EXPECT_LT(max_diff, 1e-2);
}

// Three tracks interleaved unevenly (ids of both kinds), with bad lines among them: each bad line
// is one error line naming its line number, and no track's poses change.
TEST_F(StreamCli, InterleavedTracksAndBadLines) {
  const auto want = infer();
  const std::vector<std::string> ids = {"\"boxing\"", "7", "\"walk\""};
  std::vector<std::string> lines;
  std::vector<int64_t> next(3, 0);
  std::vector<std::string> bad = {
      "not json",
      "{\"track\": \"walk\"}",
      "{\"track\": \"walk\", \"keypoints\": [1, 2, 3]}",
      "{\"track\": -1, \"keypoints\": []}",
      "[1, 2]",
      "{\"track\": 7, \"keypoints\": " +
          std::string(json(std::vector<std::string>(34, "x")).dump()) + "}",
  };
  for (int step = 0; next[0] < 60 || next[1] < 60 || next[2] < 60; ++step) {
    const size_t k = static_cast<size_t>(step % 5 == 0 ? 1 : (step % 2 == 0 ? 0 : 2));
    const size_t kk = next[k] < 60 ? k : (next[0] < 60 ? 0 : (next[1] < 60 ? 1 : 2));
    lines.push_back(frame_line(kk, next[kk]++, ids[kk]));
    if (step % 29 == 3 && !bad.empty()) {
      lines.push_back(bad.back());
      bad.pop_back();
    }
  }
  lines.push_back("");  // blank lines are skipped
  ASSERT_TRUE(bad.empty());
  const Streamed s = stream(lines);
  ASSERT_EQ(s.status, 0) << s.err;
  ASSERT_EQ(s.out.size(), 180u);
  expect_track(s.out, "boxing", want.at("S1/Boxing"), 60);
  expect_track(s.out, 7, want.at("S1/JumpingJacks"), 60);
  expect_track(s.out, "walk", want.at("S1/Walking"), 60);
  // One line per refused input line, each naming its line number.
  std::stringstream ss(s.err);
  std::string line;
  int errors = 0;
  while (std::getline(ss, line))
    if (line.rfind("v3d: stream: line ", 0) == 0) ++errors;
  EXPECT_EQ(errors, 6) << s.err;
  for (const char* what : {"invalid JSON", "no \"keypoints\"", "has 3 values, expected 34",
                           "\"track\" must be a string or an integer >= 0", "expected an object",
                           "must be a finite number"})
    EXPECT_NE(s.err.find(what), std::string::npos) << what << "\n" << s.err;
  EXPECT_NE(s.err.find("Streamed 180 frames of 3 track(s), 6 line(s) refused"), std::string::npos)
      << s.err;
}

// The online bank: each track's bank and fused windows as `v3d infer --ltb` in online mode, on a
// causal model (causal windows).
TEST_F(StreamCli, OnlineBankReproducesInferWithTheBank) {
  const std::vector<std::string> bank = {"--set", "ltb.capacity=12",
                                         "--set", "ltb.threshold=0.9",
                                         "--set", "ltb.fusion_threshold=0.5"};
  std::vector<std::string> infer_args = bank;
  infer_args.insert(infer_args.end(), {"--ltb", "--set", "ltb.mode=online"});
  const auto want = infer(infer_args);
  std::vector<std::string> lines;
  for (int64_t t = 0; t < 60; ++t)
    for (size_t k = 0; k < 3; ++k) lines.push_back(frame_line(k, t, std::to_string(k)));
  std::vector<std::string> stream_args = bank;
  stream_args.insert(stream_args.end(), {"--ltb", "on"});
  const Streamed s = stream(lines, stream_args);
  ASSERT_EQ(s.status, 0) << s.err;
  int fused = 0;
  for (const json& o : s.out) fused += o["fused"].get<bool>();
  EXPECT_GT(fused, 0) << "the test needs fused windows";
  expect_track(s.out, 0, want.at("S1/Boxing"), 60);
  expect_track(s.out, 1, want.at("S1/JumpingJacks"), 60);
  expect_track(s.out, 2, want.at("S1/Walking"), 60);
}

// Lines from a loopback TCP client (the last without its newline) give the same poses.
TEST_F(StreamCli, LoopbackTcp) {
  const auto want = infer();
  // A port the system just gave out as free (another process could take it in between, rarely).
  int port = 0;
  {
    const int probe = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    ASSERT_EQ(::bind(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0);
    ASSERT_EQ(::getsockname(probe, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port = ntohs(addr.sin_port);
    ::close(probe);
  }
  std::string payload;
  for (int64_t t = 0; t < 60; ++t) payload += frame_line(2, t, "\"tcp\"") + (t < 59 ? "\n" : "");
  std::thread client([&] {
    for (int attempt = 0; attempt < 500; ++attempt) {
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<uint16_t>(port));
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0) {
        for (size_t sent = 0; sent < payload.size();) {
          const ssize_t n = ::send(fd, payload.data() + sent, payload.size() - sent, 0);
          if (n <= 0) break;
          sent += static_cast<size_t>(n);
        }
        ::close(fd);
        return;
      }
      ::close(fd);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  const CliRun r = run({"stream", "--checkpoint", ckpt_path(), "--res", res(), "--listen",
                        std::to_string(port), "--connections", "1"});
  client.join();
  ASSERT_EQ(r.status, 0) << r.err;
  std::vector<json> out;
  std::stringstream ss(r.out);
  std::string line;
  while (std::getline(ss, line)) out.push_back(json::parse(line));
  ASSERT_EQ(out.size(), 60u);
  expect_track(out, "tcp", want.at("S1/Walking"), 60);
}

TEST_F(StreamCli, CentredCheckpointsAndBadOptionsAreOneLineErrors) {
  save_tiny_model(dir_.file("centred.h5"), false);
  expect_one_line_error(run({"stream", "--checkpoint", dir_.file("centred.h5")}),
                        "the model is not causal");
  expect_one_line_error(run({"stream", "--checkpoint", ckpt_path(), "--ltb", "maybe"}), "--ltb");
  expect_one_line_error(run({"stream", "--checkpoint", ckpt_path(), "--max-tracks", "0"}),
                        "--max-tracks");
  expect_one_line_error(run({"stream", "--checkpoint", ckpt_path(), "--threads", "-1"}),
                        "--threads");
  expect_one_line_error(run({"stream", "--checkpoint", ckpt_path(), "--spin-ms", "-2"}),
                        "--spin-ms");
}

}  // namespace
}  // namespace v3d::apps
