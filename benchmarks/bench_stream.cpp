// Streaming latency benchmark (`v3d stream`; trainer/stream.h): a recorded sequence (the
// built-in synthetic dataset's 2D, one track) replayed at a camera's frame rate into the
// incremental causal model, without and with the online long-term bank. Frame i is released at
// t0 + i / fps; its latency is the time from its release to its 3D pose (waiting for the frame
// before it included, so a frame slower than the period delays the next ones as it would live).
// After each pose the track's prepare_next runs (the products only later frames need,
// trainer/stream.h), as `v3d stream` runs it while waiting for the next line; its time is reported
// too, and when it outlasts the frame period the next frame's latency shows it.
// Reported: median, p90, p99 and max per-frame latency, and the share of frames the bank fused.
//
// The default model is VideoPose3D's 243-frame causal one (filter widths 3,3,3,3,3, 1024
// channels) with random weights: the cost does not depend on them, and the bank's fusion depends
// on the poses and its settings only. With --checkpoint a trained causal model runs instead, and
// the streamed poses' MPJPE against the track's ground truth is reported too (the accuracy cost of
// --bf16-weights, for one).
//
//   bench_stream [--arch 3,3,3,3,3] [--channels 1024] [--frames 1500] [--fps 50] [--no-flip]
//                [--bf16-weights] [--threads N] [--spin-ms 50] [--generic-products]
//                [--capacity 80] [--threshold 0.7] [--fusion-threshold 0.7]
//                [--checkpoint CKPT] [--json FILE]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "benchmarks/bench_common.h"
#include "data/synth.h"
#include "kernels/common.h"
#include "runtime/autograd.h"
#include "trainer/ltb.h"
#include "trainer/model.h"
#include "trainer/restore.h"
#include "trainer/stream.h"

namespace {

using Clock = std::chrono::steady_clock;

// One recorded track: the synthetic test subjects' sequences (slow and fast actions) one after
// the other, `frames` normalised 2D poses and their 3D ground truth (camera space, metres).
struct Recorded {
  std::vector<float> poses_2d, poses_3d;  // (frames, 17, 2), (frames, 17, 3)
};

Recorded recorded(int64_t frames) {
  v3d::data::SynthOptions so;
  so.frames_per_action = 300;
  so.subjects = {"S9"};
  const v3d::data::Dataset ds = v3d::data::synthesize(so);
  v3d::data::PrepareSpec spec;
  spec.subjects = {"S9"};
  const auto seqs = v3d::data::prepare_sequences(ds, spec);
  Recorded out;
  for (size_t i = 0; static_cast<int64_t>(out.poses_2d.size()) < frames * 34; ++i) {
    const auto& s = seqs[i % seqs.size()];
    out.poses_2d.insert(out.poses_2d.end(), s.poses_2d.begin(), s.poses_2d.end());
    out.poses_3d.insert(out.poses_3d.end(), s.poses_3d.begin(), s.poses_3d.end());
  }
  out.poses_2d.resize(static_cast<size_t>(frames * 34));
  out.poses_3d.resize(static_cast<size_t>(frames * 51));
  return out;
}

// MPJPE in mm of the poses (frames, 17, 3) against the ground truth, both relative to joint 0
// (the model predicts root-relative joints).
double mpjpe_mm(const std::vector<float>& pred, const std::vector<float>& truth) {
  double sum = 0.0;
  const size_t frames = pred.size() / 51;
  for (size_t t = 0; t < frames; ++t)
    for (size_t j = 0; j < 17; ++j) {
      double d2 = 0.0;
      for (size_t c = 0; c < 3; ++c) {
        const double a = pred[t * 51 + j * 3 + c] - pred[t * 51 + c];
        const double b = truth[t * 51 + j * 3 + c] - truth[t * 51 + c];
        d2 += (a - b) * (a - b);
      }
      sum += std::sqrt(d2);
    }
  return 1000.0 * sum / static_cast<double>(frames * 17);
}

// The q-quantile of sorted values (nearest rank).
double quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0.0;
  const size_t i =
      std::min(sorted.size() - 1, static_cast<size_t>(q * static_cast<double>(sorted.size())));
  return sorted[i];
}

struct Replay {
  std::vector<double> latency_ms, compute_ms, fused_ms;  // fused_ms: the fused frames' compute
  std::vector<double> prepare_ms;                        // prepare_next after each pose
  int64_t fused = 0, fused_nodes = 0;                    // and their tree nodes evaluated
  std::vector<float> poses;                              // the 3D poses, (frames, 17, 3)
};

// The track replayed at `fps` (0: back to back) through a fresh TrackStream.
Replay replay(const v3d::StreamModel& model, const std::vector<float>& poses, double fps) {
  v3d::TrackStream track(model);
  const int64_t frames = static_cast<int64_t>(poses.size()) / 34;
  Replay r;
  const auto t0 = Clock::now();
  for (int64_t i = 0; i < frames; ++i) {
    auto release = Clock::now();
    if (fps > 0) {
      release = t0 + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(static_cast<double>(i) / fps));
      std::this_thread::sleep_until(release);
    }
    const auto start = Clock::now();
    v3d::StreamStep step;
    const std::vector<float> pose =
        track.push(std::span<const float>(poses.data() + i * 34, 34), &step);
    const auto done = Clock::now();
    r.latency_ms.push_back(std::chrono::duration<double, std::milli>(done - release).count());
    r.compute_ms.push_back(std::chrono::duration<double, std::milli>(done - start).count());
    track.prepare_next();
    r.prepare_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - done).count());
    r.poses.insert(r.poses.end(), pose.begin(), pose.end());
    r.fused += step.fused;
    if (step.fused) {
      r.fused_ms.push_back(r.compute_ms.back());
      r.fused_nodes += step.computed;
    }
  }
  std::sort(r.latency_ms.begin(), r.latency_ms.end());
  std::sort(r.compute_ms.begin(), r.compute_ms.end());
  std::sort(r.fused_ms.begin(), r.fused_ms.end());
  std::sort(r.prepare_ms.begin(), r.prepare_ms.end());
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Streaming latency: a recorded 2D sequence replayed at a frame rate through the "
      "incremental causal model (v3d stream), without and with the online long-term bank"};
  std::string arch = "3,3,3,3,3", json_path, checkpoint;
  int64_t channels = 1024, frames = 1500;
  double fps = 50.0;
  bool no_flip = false, bf16 = false, generic = false;
  int threads = 0;
  double spin_ms = 50.0;
  v3d::LtbOptions o;
  app.add_option("--arch", arch, "Filter widths of the causal model")->capture_default_str();
  app.add_option("--checkpoint", checkpoint,
                 "A trained causal checkpoint (H36M-17 keypoints) instead of random weights: "
                 "also reports the streamed poses' MPJPE against the track's ground truth, e.g. "
                 "to compare --bf16-weights with float32")
      ->check(CLI::ExistingFile);
  app.add_option("--channels", channels, "Channels")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--frames", frames, "Frames of the recorded track")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--fps", fps, "Replay rate (0: back to back)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_flag("--no-flip", no_flip, "Turn off flip test-time augmentation");
  app.add_flag("--bf16-weights", bf16, "The stream's bf16 weights (v3d stream --bf16-weights)");
  app.add_option("--threads", threads,
                 "The products' threads (v3d stream --threads; 0: OpenMP's count, OMP_NUM_THREADS)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  app.add_option("--spin-ms", spin_ms,
                 "How long the helper threads poll for the next frame before they sleep (v3d "
                 "stream --spin-ms)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3.6e6));
  app.add_flag("--generic-products", generic,
               "The portable one-row SIMD products even where the CPU has AVX-512 (for "
               "comparison)");
  app.add_option("--capacity", o.capacity, "ltb.capacity")->capture_default_str();
  app.add_option("--threshold", o.threshold, "ltb.threshold")->capture_default_str();
  app.add_option("--fusion-threshold", o.fusion_threshold, "ltb.fusion_threshold")
      ->capture_default_str();
  v3d::bench::BlasOptions blas;
  v3d::bench::add_blas_options(app, blas);
  app.add_option("--json", json_path, "Write the results to this JSON file");
  CLI11_PARSE(app, argc, argv);
  using namespace v3d;
  try {
    bench::apply_blas_options(blas);
    validate_ltb_options(o);
    std::unique_ptr<TemporalModel> owned;
    RestoredModel restored;
    if (checkpoint.empty()) {
      TemporalModelConfig mc;
      mc.filter_widths = bench::parse_int_list(arch);
      mc.channels = channels;
      mc.dropout = 0.0f;
      mc.causal = true;
      owned = std::make_unique<TemporalModel>(mc, Device::cpu(), 1);
    } else {
      restored = restore_model(checkpoint, {"device=cpu"});
      V3D_REQUIRE(restored.keypoints->num_joints() == 17 && restored.joints->num_joints() == 17,
                  checkpoint << ": the recorded track is H36M-17; the checkpoint's layouts are "
                             << restored.keypoints->name << " and " << restored.joints->name);
      const TemporalModelConfig& mc = restored.model->config();
      std::ostringstream widths;
      for (size_t i = 0; i < mc.filter_widths.size(); ++i)
        widths << (i > 0 ? "," : "") << mc.filter_widths[i];
      arch = widths.str();
      channels = mc.channels;
    }
    const TemporalModel& model = owned ? *owned : *restored.model;
    const data::Skeleton& keypoints = owned ? data::Skeleton::h36m17() : *restored.keypoints;
    const data::Skeleton& joints = owned ? data::Skeleton::h36m17() : *restored.joints;
    NoGradGuard no_grad;
    const Recorded rec = recorded(frames);
    const std::vector<float>& poses = rec.poses_2d;
    const int team = threads > 0 ? threads : bench::blas_threads();
    std::printf("Threads: %d (the stream's team, polling %g ms before sleeping)\n", team, spin_ms);
    std::printf(
        "Model: widths %s, %lld channels, receptive field %lld (causal), %lld parameters; flip "
        "TTA %s; %s weights; %s products; %lld frames replayed at %g fps; %s\n",
        arch.c_str(), static_cast<long long>(channels),
        static_cast<long long>(model.receptive_field()),
        static_cast<long long>(model.parameter_count()), no_flip ? "off" : "on",
        bf16 ? "bf16" : "float32", stream_products(generic), static_cast<long long>(frames), fps,
        checkpoint.empty() ? "random weights" : checkpoint.c_str());
    std::printf(
        "latency from each frame's release to its pose, ms; compute: the push alone; prepare: "
        "prepare_next after it, between frames\n");
    std::printf("%-5s %8s %8s %8s %8s %12s %12s %12s %7s %18s %12s%s\n", "bank", "median", "p90",
                "p99", "max", "compute med", "compute max", "prepare med", "fused",
                "fused compute med", "nodes/fused", checkpoint.empty() ? "" : "  MPJPE mm");
    nlohmann::json out;
    out["gemm_kernel"] = bench::gemm_kernel_summary();
    out["cpu"] = bench::cpu_description();
    out["threads"] = team;
    out["spin_ms"] = spin_ms;
    out["arch"] = arch;
    out["channels"] = channels;
    out["checkpoint"] = checkpoint;
    out["frames"] = frames;
    out["fps"] = fps;
    out["flip"] = !no_flip;
    out["weights"] = bf16 ? "bf16" : "float32";
    out["products"] = stream_products(generic);
    for (const bool ltb : {false, true}) {
      StreamOptions so;
      so.flip_tta = !no_flip;
      so.ltb = ltb;
      so.ltb_options = o;
      so.bf16_weights = bf16;
      so.generic_products = generic;
      so.threads = threads;
      so.spin_ms = spin_ms;
      const StreamModel sm(model, keypoints, joints, so);
      replay(sm,
             std::vector<float>(poses.begin(), poses.begin() + std::min<int64_t>(frames, 50) * 34),
             0.0);  // warm-up: the GEMM library, the allocator's cache
      const Replay r = replay(sm, poses, fps);
      const double share = static_cast<double>(r.fused) / static_cast<double>(frames);
      const double nodes =
          r.fused > 0 ? static_cast<double>(r.fused_nodes) / static_cast<double>(r.fused) : 0.0;
      const double error = mpjpe_mm(r.poses, rec.poses_3d);
      std::printf("%-5s %8.3f %8.3f %8.3f %8.3f %12.3f %12.3f %12.3f %6.1f%% %18.3f %12.1f",
                  ltb ? "on" : "off", quantile(r.latency_ms, 0.5), quantile(r.latency_ms, 0.9),
                  quantile(r.latency_ms, 0.99), r.latency_ms.back(), quantile(r.compute_ms, 0.5),
                  r.compute_ms.back(), quantile(r.prepare_ms, 0.5), 100.0 * share,
                  quantile(r.fused_ms, 0.5), nodes);
      if (!checkpoint.empty()) std::printf("  %9.3f", error);
      std::printf("\n");
      std::fflush(stdout);
      out[ltb ? "bank_on" : "bank_off"] = {{"median_ms", quantile(r.latency_ms, 0.5)},
                                           {"p90_ms", quantile(r.latency_ms, 0.9)},
                                           {"p99_ms", quantile(r.latency_ms, 0.99)},
                                           {"max_ms", r.latency_ms.back()},
                                           {"compute_median_ms", quantile(r.compute_ms, 0.5)},
                                           {"compute_max_ms", r.compute_ms.back()},
                                           {"prepare_median_ms", quantile(r.prepare_ms, 0.5)},
                                           {"fused_share", share},
                                           {"fused_compute_median_ms", quantile(r.fused_ms, 0.5)},
                                           {"nodes_per_fused_frame", nodes}};
      if (!checkpoint.empty()) out[ltb ? "bank_on" : "bank_off"]["mpjpe_mm"] = error;
    }
    if (!json_path.empty()) bench::write_json(json_path, out);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_stream: %s\n", e.what());
    return 1;
  }
  return 0;
}
