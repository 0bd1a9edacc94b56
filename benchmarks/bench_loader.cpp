// Loader benchmark: batches per second of the synchronous WindowGenerator and of the Prefetcher
// (data/batches.h, data/prefetch.h) for batch 1024 at RF 27 and 243, on a synthetic in-memory
// dataset of Human3.6M-like size (default 5 subjects x 15 actions x 4 cameras x 2000 frames of
// random 17-joint poses, 600k frames), and how long a training loop would wait for its batch when
// each step takes --step-ms (the prefetcher's point: zero wait once step time > load time).
//
//   bench_loader [--rf 27,243] [--batch 1024] [--mode Sequential] [--frames 2000]
//                [--devices cpu,emu] [--batches 40] [--step-ms 20] [--json FILE]
//
// Napkin math: a batch writes B * (RF * J * 2 + J * 3) floats, gathered as RF rows of J*2 floats
// per window (one memcpy of RF rows for unflipped interior stride-1 windows); the bound is the
// machine's copy bandwidth, measured in the same run as a memcpy of one batch's size.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "benchmarks/bench_common.h"
#include "data/batches.h"
#include "data/prefetch.h"
#include "runtime/stream.h"

namespace {

using v3d::data::Batch;
using v3d::data::BatchSpec;
using v3d::data::DeviceBatch;
using v3d::data::Prefetcher;
using v3d::data::Sequence;
using v3d::data::Skeleton;
using v3d::data::WindowGenerator;
using Clock = std::chrono::steady_clock;

using v3d::bench::seconds_since;

std::vector<Sequence> synthetic_dataset(int subjects, int actions, int cameras, int64_t frames) {
  std::mt19937 rng(2024);
  std::uniform_real_distribution<float> u2(-1.0f, 1.0f), u3(-0.9f, 0.9f);
  const int j = Skeleton::h36m17().num_joints();
  std::vector<Sequence> out;
  for (int s = 0; s < subjects; ++s) {
    for (int a = 0; a < actions; ++a) {
      for (int c = 0; c < cameras; ++c) {
        Sequence q;
        // snprintf, not "S" + std::to_string: GCC 12 warns falsely (-Wrestrict) on the latter.
        char name[32];
        std::snprintf(name, sizeof(name), "S%d", s + 1);
        q.subject = name;
        std::snprintf(name, sizeof(name), "Action%d", a);
        q.action = name;
        q.camera = c;
        q.frames = frames;
        q.poses_2d.resize(static_cast<size_t>(frames * j * 2));
        q.poses_3d.resize(static_cast<size_t>(frames * j * 3));
        for (float& v : q.poses_2d) v = u2(rng);
        for (float& v : q.poses_3d) v = u3(rng);
        for (int64_t t = 0; t < frames; ++t) {
          for (int k = 0; k < 3; ++k) q.poses_3d[static_cast<size_t>(t * j * 3 + k)] = 0.0f;
        }
        out.push_back(std::move(q));
      }
    }
  }
  return out;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(item);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Loader benchmark: window generation and prefetching, batches per second"};
  std::string rfs = "27,243", devices = "cpu,emu", mode = "Sequential", json_path;
  int64_t batch = 1024, frames = 2000, batches = 40;
  int subjects = 5, actions = 15, cameras = 4;
  double step_ms = 20.0;
  app.add_option("--rf", rfs, "Receptive fields (odd), comma-separated")->capture_default_str();
  app.add_option("--batch", batch, "Windows per batch")->capture_default_str();
  app.add_option("--mode", mode, "Training-data mode, e.g. 'Sample3/5/7+Sequential'")
      ->capture_default_str();
  app.add_option("--subjects", subjects, "Synthetic subjects")->capture_default_str();
  app.add_option("--actions", actions, "Synthetic actions per subject")->capture_default_str();
  app.add_option("--cameras", cameras, "Cameras per action")->capture_default_str();
  app.add_option("--frames", frames, "Frames per sequence")->capture_default_str();
  app.add_option("--devices", devices, "Prefetch targets: cpu, emu, cuda")->capture_default_str();
  app.add_option("--batches", batches, "Batches timed per measurement")->capture_default_str();
  app.add_option("--step-ms", step_ms, "Simulated training step (sleep) for the stall test")
      ->capture_default_str();
  app.add_option("--json", json_path, "Write the results to this JSON file");
  CLI11_PARSE(app, argc, argv);

  const Skeleton& skel = Skeleton::h36m17();
  const int j = skel.num_joints();
  auto t0 = Clock::now();
  const std::vector<Sequence> data = synthetic_dataset(subjects, actions, cameras, frames);
  std::printf("dataset: %d x %d x %d sequences of %lld frames (%.0f MB), built in %.2f s\n",
              subjects, actions, cameras, static_cast<long long>(frames),
              static_cast<double>(data.size()) * static_cast<double>(frames) * j * 5 * 4 / 1e6,
              seconds_since(t0));

  nlohmann::json out;
  out["benchmark"] = "bench_loader";
  out["batch"] = batch;
  out["mode"] = mode;
  out["sequences"] = data.size();
  out["frames_per_sequence"] = frames;
  out["hardware_threads"] = std::thread::hardware_concurrency();

  for (const std::string& rf_text : split(rfs)) {
    const int64_t rf = std::stoll(rf_text);
    BatchSpec spec;
    spec.batch_size = batch;
    spec.pad = (rf - 1) / 2;
    spec.mode = mode;
    const double batch_bytes = static_cast<double>(batch) * (rf * j * 2 + j * 3) * 4;

    // The machine's copy bandwidth on one batch's bytes: the gather's ceiling.
    std::vector<char> src(static_cast<size_t>(batch_bytes), 1), dst(src.size());
    const double memcpy_s =
        v3d::bench::time_median([&] { std::memcpy(dst.data(), src.data(), src.size()); }, 0.3);

    // Synchronous generator.
    WindowGenerator gen(data, skel, skel, spec);
    t0 = Clock::now();
    gen.start_epoch();
    const double epoch_start_s = seconds_since(t0);
    Batch b;
    // Validate before timing: the first window of the first batch is the gather of its frames.
    gen.next(b);
    {
      const auto w = gen.window(0);
      const Sequence& s = gen.sequences()[static_cast<size_t>(w.sequence)];
      const auto idx = gen.window_frames(s.frames, w.centre, w.stride);
      std::vector<float> want;
      for (int64_t t : idx) {
        want.insert(want.end(), s.poses_2d.begin() + t * j * 2,
                    s.poses_2d.begin() + (t + 1) * j * 2);
      }
      if (w.flip) v3d::data::flip_poses(want, rf, skel, 2);
      if (!std::equal(want.begin(), want.end(), b.inputs_2d.begin())) {
        std::fprintf(stderr, "validation failed: window 0 differs from its frames\n");
        return 1;
      }
    }
    t0 = Clock::now();
    int64_t n = 0;
    while (n < batches && gen.next(b)) ++n;
    const double gen_s = seconds_since(t0) / static_cast<double>(n);
    std::printf(
        "\nRF %lld, batch %lld, mode '%s': %lld windows/epoch, %lld batches/epoch, %.1f MB/batch\n",
        static_cast<long long>(rf), static_cast<long long>(batch), mode.c_str(),
        static_cast<long long>(gen.num_windows()), static_cast<long long>(gen.num_batches()),
        batch_bytes / 1e6);
    std::printf("  start_epoch (draws + shuffle of %lld windows): %.3f s\n",
                static_cast<long long>(gen.num_windows()), epoch_start_s);
    std::printf(
        "  generator:  %8.1f batches/s  %10.0f windows/s  %6.2f GB/s written (memcpy %.2f "
        "GB/s: %.0f%%)\n",
        1.0 / gen_s, batch / gen_s, batch_bytes / gen_s / 1e9, batch_bytes / memcpy_s / 1e9,
        100.0 * memcpy_s / gen_s);
    nlohmann::json r;
    r["rf"] = rf;
    r["windows_per_epoch"] = gen.num_windows();
    r["batches_per_epoch"] = gen.num_batches();
    r["batch_bytes"] = batch_bytes;
    r["start_epoch_s"] = epoch_start_s;
    r["memcpy_gbps"] = batch_bytes / memcpy_s / 1e9;
    r["generator"] = {{"batches_per_s", 1.0 / gen_s},
                      {"windows_per_s", batch / gen_s},
                      {"gbps", batch_bytes / gen_s / 1e9}};

    for (const std::string& dev_text : split(devices)) {
      const v3d::Device device = v3d::parse_device(dev_text);
      if (device.type == v3d::DeviceType::kCUDA && !v3d::cuda_available()) {
        std::printf("  prefetch %-4s SKIPPED (no CUDA device)\n", dev_text.c_str());
        continue;
      }
      Prefetcher pre(std::make_unique<WindowGenerator>(data, skel, skel, spec), device);
      pre.start_epoch();
      DeviceBatch db;
      // Validate: the prefetched first batch is the generator's (same seed, same order).
      WindowGenerator check(data, skel, skel, spec);
      check.start_epoch();
      Batch first;
      check.next(first);
      pre.next(db);
      if (db.size != first.size || db.inputs_2d.to_vector() != first.inputs_2d ||
          db.targets_3d.to_vector() != first.targets_3d) {
        std::fprintf(stderr, "validation failed: prefetched batch 0 differs on %s\n",
                     dev_text.c_str());
        return 1;
      }
      // Throughput: the consumer takes batches as fast as they come.
      t0 = Clock::now();
      int64_t m = 0;
      while (m < batches && pre.next(db)) ++m;
      v3d::synchronize(device);
      const double pre_s = seconds_since(t0) / static_cast<double>(m);
      // Stall test: a training step of step_ms per batch (sleep: it leaves the cores free, as a
      // GPU step would); the wait is what next() costs the loop.
      pre.start_epoch();
      double wait_s = 0.0;
      for (int64_t i = 0; i < batches / 2; ++i) {
        std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(step_ms));
        const auto w0 = Clock::now();
        pre.next(db);
        wait_s += seconds_since(w0);
      }
      wait_s /= static_cast<double>(batches / 2);
      std::printf(
          "  prefetch %-4s %8.1f batches/s  %10.0f windows/s  wait %.2f ms/batch at a "
          "%.0f ms step (sync generator: %.1f ms)\n",
          dev_text.c_str(), 1.0 / pre_s, batch / pre_s, wait_s * 1e3, step_ms, gen_s * 1e3);
      r["prefetch_" + dev_text] = {{"batches_per_s", 1.0 / pre_s},
                                   {"windows_per_s", batch / pre_s},
                                   {"wait_ms_per_batch", wait_s * 1e3},
                                   {"step_ms", step_ms}};
    }
    out["results"].push_back(r);
  }
  if (!json_path.empty()) v3d::bench::write_json(json_path, out);
  return 0;
}
