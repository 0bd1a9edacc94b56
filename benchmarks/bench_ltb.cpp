// Long-term pose bank benchmark (docs/long-term-bank.md; trainer/ltb.h, kernels/pose_bank.h):
//
//   bank       frames/s of bank maintenance (ops::pose_bank, Algorithm 1) and of fusion into the
//              index map (ops::pose_bank_fuse), for 1 long sequence and for many sequences in one
//              launch (batch offline evaluation), on the CPU and, when a CUDA device is present,
//              on the GPU (one thread block per sequence);
//   inference  frames/s of whole-sequence inference (the dilated model over the phases batched,
//              predict_sequences, as v3d eval runs it) against the same with the bank (plan_ltb +
//              predict_with_ltb: the dilated pass up to the last block, then every frame's last
//              block and the blocks of the fused windows that see an inserted pose, batched) on
//              the same sequences; the ratio of the two times is the bank's cost (target <=
//              1.5x). Also timed: plain inference with one dilated pass per phase.
//
// Poses are the built-in synthetic dataset's normalised 2D (H36M-17, slow and fast actions), tiled
// to the requested number of sequences; the inference model has random weights (the cost does not
// depend on them; the share of fused frames depends on the poses and the settings only).
//
//   bench_ltb [--sequences 4096] [--frames 250] [--long-frames 20000] [--capacity 80]
//             [--threshold 0.7] [--fusion-threshold 0.7] [--arch 3,3,3] [--channels 1024]
//             [--interval 1] [--infer-frames 6000] [--flip] [--json FILE]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "benchmarks/bench_common.h"
#include "data/synth.h"
#include "kernels/common.h"
#include "runtime/autograd.h"
#include "runtime/device.h"
#include "runtime/pose_bank.h"
#include "trainer/evaluate.h"
#include "trainer/ltb.h"
#include "trainer/model.h"
#include "trainer/predict.h"

namespace {

using Clock = std::chrono::steady_clock;

using v3d::bench::median;
using v3d::bench::seconds_since;

// `count` sequences of `frames` frames cut round-robin from the synthetic test set's 2D.
std::vector<std::vector<float>> synthetic_2d(int64_t count, int64_t frames) {
  v3d::data::SynthOptions so;
  so.frames_per_action = std::max<int64_t>(frames, 300);
  so.subjects = {"S9", "S11"};
  const v3d::data::Dataset ds = v3d::data::synthesize(so);
  v3d::data::PrepareSpec spec;
  spec.subjects = {"S9", "S11"};
  const auto seqs = v3d::data::prepare_sequences(ds, spec);
  std::vector<std::vector<float>> out;
  for (int64_t i = 0; i < count; ++i) {
    const auto& s = seqs[static_cast<size_t>(i) % seqs.size()];
    const int64_t start =
        (i / static_cast<int64_t>(seqs.size())) % std::max<int64_t>(s.frames - frames + 1, 1);
    const int64_t n = std::min(frames, s.frames - start);
    out.emplace_back(s.poses_2d.begin() + start * 34, s.poses_2d.begin() + (start + n) * 34);
  }
  return out;
}

// One long sequence: the synthetic sequences concatenated to `frames` frames.
std::vector<float> long_2d(int64_t frames) {
  const auto parts = synthetic_2d(64, 300);
  std::vector<float> out;
  for (size_t i = 0; static_cast<int64_t>(out.size()) < frames * 34; ++i) {
    const auto& p = parts[i % parts.size()];
    out.insert(out.end(), p.begin(), p.end());
  }
  out.resize(static_cast<size_t>(frames * 34));
  return out;
}

struct BankTiming {
  double bank_s = 0, fuse_s = 0;
  int64_t frames = 0, sequences = 0, fused = 0;
  double bank_entries = 0;
};

BankTiming time_bank(const std::vector<std::vector<float>>& seqs, const v3d::LtbOptions& o,
                     v3d::Device device, int iters) {
  using namespace v3d;
  std::vector<int32_t> offsets{0};
  std::vector<float> packed;
  for (const auto& s : seqs) {
    packed.insert(packed.end(), s.begin(), s.end());
    offsets.push_back(static_cast<int32_t>(packed.size() / 34));
  }
  const int64_t total = offsets.back(), n = static_cast<int64_t>(seqs.size());
  const Tensor poses = Tensor::from_vector(packed, {total, 17, 2}, device);
  const Tensor off = Tensor::from_vector_i32(offsets, {n + 1}, device);
  const auto parents = ltb_parents(data::Skeleton::h36m17());
  const Tensor par = Tensor::from_vector_i32(parents, {17}, device);
  kernels::PoseBankSettings bs;
  bs.capacity = o.capacity;
  bs.threshold = o.threshold;
  kernels::PoseFuseSettings fs;
  fs.radius = 13;
  fs.max_insert = 13;
  fs.capacity = o.capacity;
  fs.fusion_threshold = o.fusion_threshold;
  std::vector<int32_t> rows(static_cast<size_t>(total));
  for (int64_t k = 0; k < n; ++k)
    for (int32_t g = offsets[static_cast<size_t>(k)]; g < offsets[static_cast<size_t>(k) + 1]; ++g)
      rows[static_cast<size_t>(g)] = static_cast<int32_t>(k);
  const Tensor bank_row = Tensor::from_vector_i32(rows, {total}, device);
  BankTiming t;
  t.frames = total;
  t.sequences = n;
  std::vector<double> bank_s, fuse_s;
  for (int it = 0; it <= iters; ++it) {  // the first run warms up
    auto t0 = Clock::now();
    const ops::PoseBankOutput b = ops::pose_bank(poses, off, par, o.center, bs, false);
    const std::vector<int32_t> size = b.size.to_vector_i32();  // waits for the device
    const double tb = seconds_since(t0);
    const Tensor fused = Tensor::zeros({total}, DType::kI32, device);
    t0 = Clock::now();
    const Tensor map =
        ops::pose_bank_fuse(poses, off, par, o.center, fs, b.frames, bank_row, fused);
    const std::vector<int32_t> f = fused.to_vector_i32();
    const double tf = seconds_since(t0);
    if (it == 0) {
      for (int32_t v : f) t.fused += v;
      for (int32_t v : size) t.bank_entries += v;
      t.bank_entries /= static_cast<double>(std::max<int64_t>(n, 1));
      continue;
    }
    bank_s.push_back(tb);
    fuse_s.push_back(tf);
  }
  t.bank_s = median(bank_s);
  t.fuse_s = median(fuse_s);
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Long-term pose bank benchmark: bank maintenance and fusion frames/s (1 and many "
      "sequences; CPU, and GPU when present) and inference with the bank against plain "
      "whole-sequence inference"};
  int64_t sequences = 4096, frames = 250, long_frames = 20000, infer_frames = 6000;
  int iters = 3, interval = 1;
  v3d::LtbOptions o;
  std::string arch = "3,3,3", json_path;
  int64_t channels = 1024;
  bool flip = false, skip_infer = false;
  app.add_option("--sequences", sequences, "Sequences of the batched bank run")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--frames", frames, "Frames per sequence of the batched run")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--long-frames", long_frames, "Frames of the single long sequence")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--iters", iters, "Timed runs (median; after one warm-up)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--capacity", o.capacity, "ltb.capacity")->capture_default_str();
  app.add_option("--threshold", o.threshold, "ltb.threshold")->capture_default_str();
  app.add_option("--fusion-threshold", o.fusion_threshold, "ltb.fusion_threshold")
      ->capture_default_str();
  app.add_option("--arch", arch, "Filter widths of the inference model")->capture_default_str();
  app.add_option("--channels", channels, "Channels of the inference model")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--interval", interval, "Test interval TD N of the inference sequences")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--infer-frames", infer_frames, "Frames of the inference comparison")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_flag("--flip", flip, "Flip test-time augmentation in the inference comparison");
  app.add_flag("--skip-infer", skip_infer, "Bank and fusion only");
  v3d::bench::BlasOptions blas;
  v3d::bench::add_blas_options(app, blas);
  app.add_option("--json", json_path, "Write the results to this JSON file");
  CLI11_PARSE(app, argc, argv);
  using namespace v3d;
  try {
    bench::apply_blas_options(blas);
    validate_ltb_options(o);
    nlohmann::json out;
    out["gemm_kernel"] = bench::gemm_kernel_summary();
    out["cpu"] = bench::cpu_description();
    out["capacity"] = o.capacity;
    out["threshold"] = o.threshold;
    out["fusion_threshold"] = o.fusion_threshold;
    std::printf(
        "bench_ltb: capacity %d, threshold %.2f, fusion threshold %.2f; GEMM %s, %d "
        "threads\n",
        o.capacity, static_cast<double>(o.threshold), static_cast<double>(o.fusion_threshold),
        bench::blas_core_name().c_str(), bench::blas_threads());

    // Bank maintenance and fusion.
    std::vector<Device> devices{Device::cpu()};
    std::string why;
    if (cuda_available(&why)) {
      devices.push_back(Device::cuda());
    } else {
      std::printf("GPU: SKIPPED (%s)\n", why.c_str());
    }
    const auto many = synthetic_2d(sequences, frames);
    const std::vector<std::vector<float>> one{long_2d(long_frames)};
    out["bank"] = nlohmann::json::array();
    for (const Device dev : devices) {
      for (const auto* set : {&one, &many}) {
        const BankTiming t = time_bank(*set, o, dev, iters);
        const double fps_bank = static_cast<double>(t.frames) / t.bank_s;
        const double fps_fuse = static_cast<double>(t.frames) / t.fuse_s;
        std::printf(
            "%-4s %5lld sequences x %6lld frames: bank %12.0f frames/s (%.4f s)  fusion "
            "%12.0f frames/s (%.4f s)  %.1f entries/bank, %.1f%% fused\n",
            dev.str().c_str(), static_cast<long long>(t.sequences),
            static_cast<long long>(t.frames / std::max<int64_t>(t.sequences, 1)), fps_bank,
            t.bank_s, fps_fuse, t.fuse_s, t.bank_entries,
            100.0 * static_cast<double>(t.fused) / static_cast<double>(t.frames));
        out["bank"].push_back({{"device", dev.str()},
                               {"sequences", t.sequences},
                               {"frames", t.frames},
                               {"bank_s", t.bank_s},
                               {"bank_frames_per_s", fps_bank},
                               {"fuse_s", t.fuse_s},
                               {"fuse_frames_per_s", fps_fuse},
                               {"bank_entries", t.bank_entries},
                               {"fused_frames", t.fused}});
      }
    }

    if (!skip_infer) {
      // Inference with and without the bank on the same phases (TD N of synthetic sequences).
      TemporalModelConfig mc;
      mc.filter_widths = bench::parse_int_list(arch);
      mc.channels = channels;
      mc.dropout = 0.0f;
      TemporalModel model(mc, Device::cpu(), 1);
      data::SynthOptions so;
      so.subjects = {"S9", "S11"};
      so.frames_per_action = 300;
      data::PrepareSpec spec;
      spec.subjects = {"S9", "S11"};
      std::vector<data::Sequence> seqs;
      int64_t total = 0;
      for (const auto& s : data::prepare_sequences(data::synthesize(so), spec)) {
        for (auto& p : data::split_phases(s, interval)) {
          if (total >= infer_frames) break;
          total += p.frames;
          seqs.push_back(std::move(p));
        }
      }
      const auto& kp = data::Skeleton::h36m17();
      std::vector<std::span<const float>> views;
      std::vector<const data::Sequence*> ptrs;
      for (const auto& s : seqs) {
        views.emplace_back(s.poses_2d);
        ptrs.push_back(&s);
      }
      const int64_t r = (model.receptive_field() - 1) / 2;
      NoGradGuard no_grad;
      std::vector<double> plain_s, ltb_s, single_s;
      LtbStats stats;
      for (int it = 0; it <= iters; ++it) {
        // Plain inference as v3d eval runs it (phases batched), and, for reference, one dilated
        // pass per phase (as before batching).
        auto t0 = Clock::now();
        const TemporalModel::FoldedWeights folded = model.fold_weights();  // as v3d eval
        const std::vector<std::vector<float>> plain =
            predict_sequences(model, ptrs, kp, kp, flip, &folded);
        const double tp = seconds_since(t0);
        t0 = Clock::now();
        {
          const TemporalModel::FoldedWeights f1 = model.fold_weights();
          for (const auto& s : seqs) predict_sequence(model, s, kp, kp, flip, &f1);
        }
        const double ts = seconds_since(t0);
        t0 = Clock::now();
        const LtbPlan plan = plan_ltb(views, 17, ltb_parents(kp), r, o, Device::cpu());
        LtbStats st;
        const auto fused = predict_with_ltb(model, ptrs, plan, kp, kp, flip, &st);
        const double tl = seconds_since(t0);
        if (it == 0) {
          stats = st;
          continue;
        }
        plain_s.push_back(tp);
        ltb_s.push_back(tl);
        single_s.push_back(ts);
      }
      const double tp = median(plain_s), tl = median(ltb_s), ts = median(single_s);
      const double share = static_cast<double>(stats.fused_frames) /
                           static_cast<double>(std::max<int64_t>(stats.frames, 1));
      std::printf(
          "inference (%s, %lld channels, TD %d, %lld frames in %zu phases, flip %s): plain "
          "%.0f frames/s, with the bank %.0f frames/s; time ratio %.2fx (target <= "
          "1.5x); %.1f%% of frames fused, %.2f blocks computed and %.2f reused per fused frame, "
          "%lld last blocks of unfused frames batched; plain with one pass per phase %.0f "
          "frames/s (batched %.2fx faster)\n",
          arch.c_str(), static_cast<long long>(channels), interval, static_cast<long long>(total),
          seqs.size(), flip ? "on" : "off", static_cast<double>(total) / tp,
          static_cast<double>(total) / tl, tl / tp, 100.0 * share,
          static_cast<double>(stats.blocks_computed) /
              static_cast<double>(std::max<int64_t>(stats.fused_frames, 1)),
          static_cast<double>(stats.blocks_reused) /
              static_cast<double>(std::max<int64_t>(stats.fused_frames, 1)),
          static_cast<long long>(stats.plain_blocks), static_cast<double>(total) / ts, ts / tp);
      out["inference"] = {{"arch", arch},
                          {"channels", channels},
                          {"interval", interval},
                          {"frames", total},
                          {"phases", seqs.size()},
                          {"flip", flip},
                          {"plain_s", tp},
                          {"ltb_s", tl},
                          {"time_ratio", tl / tp},
                          {"fused_share", share},
                          {"plain_frames_per_s", static_cast<double>(total) / tp},
                          {"ltb_frames_per_s", static_cast<double>(total) / tl},
                          {"blocks_computed", stats.blocks_computed},
                          {"blocks_reused", stats.blocks_reused},
                          {"plain_blocks", stats.plain_blocks},
                          {"plain_per_phase_s", ts},
                          {"plain_per_phase_frames_per_s", static_cast<double>(total) / ts}};
    }
    if (!json_path.empty()) bench::write_json(json_path, out);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_ltb: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
