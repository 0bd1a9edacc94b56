// End-to-end benchmark (CPU, or --device cuda) of v3d's trainer on VideoPose3D's model, the
// counterpart of the PyTorch reference benchmarks/reference/videopose3d_ref.py (benchmarks/run_e2e
// prints both side by side):
//
//   training   samples/s of the training step of trainer/train.cpp (zero_grad, strided
//              forward_train in train mode with dropout, ag::mpjpe, backward, AMSGrad step),
//              batch 1024 windows of RF frames, 17 joints; the batch is made once (the loader is
//              benchmarked by bench_loader and is not part of either side).
//   inference  frames/s of whole-sequence inference through trainer/predict.h predict_sequence
//              (weights folded once per pass over the sequences, as v3d eval does)
//              (edge padding to one pose per frame, the dilated form with BN folded, no TTA) on
//              sequences of the given lengths.
//
//   bench_e2e [--arch 3,3,3] [--channels 1024] [--batch 1024] [--train-iters 5]
//             [--infer-lengths 1000,2500,5000] [--infer-iters 2] [--skip-train] [--skip-infer]
//             [--peak-seconds 1] [--blas KERNEL | --native-blas] [--device cpu|cuda]
//             [--json FILE]
//
// Napkin math: a training sample costs forward + backward-weight + backward-data (not for the
// first layer, whose input needs no gradient) of every conv of the strided form, 2 FLOPs per MAC;
// an inferred frame costs the dilated form's MACs per output position, x2 (videopose3d.md 1.4:
// 17.09 MFLOP for 27 frames, 33.87 for 243). Both are reported as a fraction of the machine's
// sgemm peak (a 2048^3 product), measured in the same run. Peak memory: getrusage's maxrss (the
// whole process) and the CPU allocator's peak of live tensor bytes during the phase.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "benchmarks/bench_common.h"
#include "data/batches.h"
#include "data/skeleton.h"
#include "kernels/common.h"
#include "kernels/gemm.h"
#include "kernels/temporal_conv.h"
#include "runtime/allocator.h"
#include "runtime/autograd.h"
#include "runtime/device.h"
#include "runtime/loss.h"
#include "runtime/optimizer.h"
#include "runtime/stream.h"
#include "runtime/temporal_conv.h"
#include "trainer/config.h"
#include "trainer/model.h"
#include "trainer/predict.h"

namespace {

using v3d::TemporalModel;
using v3d::TemporalModelConfig;
using v3d::Tensor;
using v3d::ops::ConvBackendChoice;
using Clock = std::chrono::steady_clock;

using v3d::bench::median;
using v3d::bench::seconds_since;

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // Linux: kilobytes
}

double allocator_peak_mb(v3d::Device device) {
  return static_cast<double>(v3d::allocator_for(device).stats().peak_allocated_bytes) /
         (1024.0 * 1024.0);
}

// (C_in, C_out, K) of every convolution, expand first, shrink last.
struct Conv {
  int64_t c_in, c_out, k;
};
std::vector<Conv> conv_layers(const TemporalModelConfig& c) {
  std::vector<Conv> layers = {{c.in_channels(), c.channels, c.filter_widths[0]}};
  for (size_t i = 1; i < c.filter_widths.size(); ++i) {
    layers.push_back({c.channels, c.channels, c.filter_widths[i]});
    layers.push_back({c.channels, c.channels, 1});
  }
  layers.push_back({c.channels, c.out_channels(), 1});
  return layers;
}

double flops_per_frame(const TemporalModelConfig& c) {
  double f = 0;
  for (const Conv& l : conv_layers(c)) f += 2.0 * double(l.c_in) * double(l.c_out) * double(l.k);
  return f;
}

double flops_per_training_sample(const TemporalModelConfig& c) {
  int64_t rows = c.receptive_field();
  double f = 0;
  bool first = true;
  for (const Conv& l : conv_layers(c)) {
    rows /= l.k;  // strided: each output row reads K consecutive frames
    const double pass = 2.0 * double(rows) * double(l.c_in) * double(l.c_out) * double(l.k);
    f += pass * (first ? 2.0 : 3.0);
    first = false;
  }
  return f;
}

// The strided form (eval mode: running statistics, no dropout) and the dilated whole-sequence
// form must agree on every window: the two paths the benchmark times compute the same model.
double validate_forms(TemporalModel& model, std::mt19937_64& rng) {
  const TemporalModelConfig& c = model.config();
  const int64_t rf = c.receptive_field(), frames = rf + 3;
  const std::vector<float> seq = v3d::bench::random_vector(rng, frames * c.in_channels(), 0.3f);
  const std::vector<float> dilated =
      model.forward_eval(Tensor::from_vector(seq, {1, frames, c.in_channels()}, model.device()))
          .to_vector();
  std::vector<float> windows;  // (4, RF, C_in): the windows starting at frames 0..3
  for (int64_t s = 0; s < 4; ++s) {
    windows.insert(windows.end(), seq.begin() + s * c.in_channels(),
                   seq.begin() + (s + rf) * c.in_channels());
  }
  v3d::PhiloxState rng_unused{0, 0};
  const std::vector<float> strided =
      model
          .forward_train(Tensor::from_vector(windows, {4, rf, c.in_channels()}, model.device()),
                         rng_unused,
                         /*training=*/false)
          .value()
          .to_vector();
  V3D_CHECK(strided.size() == dilated.size(),
            "validate: " << strided.size() << " vs " << dilated.size() << " outputs");
  double diff = 0, scale = 1e-12;
  for (size_t i = 0; i < strided.size(); ++i) {
    V3D_CHECK(std::isfinite(strided[i]) && std::isfinite(dilated[i]),
              "validate: non-finite output at " << i);
    diff = std::max(diff, std::abs(double(strided[i]) - double(dilated[i])));
    scale = std::max(scale, std::abs(double(dilated[i])));
  }
  return diff / scale;
}

nlohmann::json bench_training(const TemporalModelConfig& cfg, int64_t batch, int iters,
                              double peak_gflops, v3d::Device device, v3d::kernels::ConvMath math) {
  TemporalModel model(cfg, device, /*seed=*/1);
  v3d::AdamAmsgrad optimizer(model.parameters());
  v3d::PhiloxState dropout_rng{1234, 0};
  std::mt19937_64 rng(11);
  const double form_err = validate_forms(model, rng);
  V3D_CHECK(form_err <= 1e-4, "validate: strided and dilated forms differ by " << form_err);
  model.set_conv_math(math);  // train.precision, after the fp32 check of the two forms
  const int64_t rf = cfg.receptive_field();
  const Tensor x =
      Tensor::from_vector(v3d::bench::random_vector(rng, batch * rf * cfg.in_channels(), 0.3f),
                          {batch, rf, cfg.in_channels()}, device);
  const Tensor target =
      Tensor::from_vector(v3d::bench::random_vector(rng, batch * cfg.out_channels(), 0.2f),
                          {batch, 1, cfg.joints_out, 3}, device);

  v3d::allocator_for(device).reset_peak();
  std::vector<double> fwd, bwd, opt, total;
  float first_loss = 0, last_loss = 0;
  for (int it = 0; it <= iters; ++it) {  // iteration 0 is the warm-up
    // The step of trainer/train.cpp.
    const auto t0 = Clock::now();
    model.parameters().zero_grad();
    const v3d::Var loss = v3d::ag::mpjpe(
        v3d::channels_to_poses(model.forward_train(x, dropout_rng), cfg.joints_out), target);
    // On a GPU each phase ends with a synchronisation, so that its time is its kernels' (the same
    // in benchmarks/reference/videopose3d_ref.py).
    if (!device.is_cpu()) v3d::synchronize(device);
    const auto t1 = Clock::now();
    loss.backward();
    if (!device.is_cpu()) v3d::synchronize(device);
    const auto t2 = Clock::now();
    optimizer.step();
    const float value = loss.value().item();
    const auto t3 = Clock::now();
    V3D_CHECK(std::isfinite(value), "training loss is not finite at step " << it);
    if (it == 0) {
      first_loss = value;
      continue;
    }
    last_loss = value;
    fwd.push_back(std::chrono::duration<double>(t1 - t0).count());
    bwd.push_back(std::chrono::duration<double>(t2 - t1).count());
    opt.push_back(std::chrono::duration<double>(t3 - t2).count());
    total.push_back(std::chrono::duration<double>(t3 - t0).count());
  }
  const double step = median(total);
  const double gflops = flops_per_training_sample(cfg) * double(batch) / step / 1e9;
  return {{"batch", batch},
          {"iters", iters},
          {"median_step_s", step},
          {"median_forward_s", median(fwd)},
          {"median_backward_s", median(bwd)},
          {"median_optimizer_s", median(opt)},
          {"samples_per_s", double(batch) / step},
          {"gflops", gflops},
          {"fraction_of_peak", peak_gflops > 0 ? gflops / peak_gflops : 0.0},
          {"warmup_loss", first_loss},
          {"last_loss", last_loss},
          {"validation_forms_rel_err", form_err},
          {"allocator_peak_mb", allocator_peak_mb(device)},
          {"peak_rss_mb", peak_rss_mb()}};
}

// The CPU forward path of each convolution of the dilated form on a sequence of `frames` frames
// (edge-padded to frames + RF - 1 as predict_sequence does), e.g. "winograd F(4,3)"; the K = 3
// layers' path follows V3D_CPU_WINOGRAD (kernels/temporal_conv.h).
std::string conv_paths(const TemporalModelConfig& c, int64_t frames) {
  using v3d::kernels::TemporalConvShape;
  const auto& fw = c.filter_widths;
  int64_t t = frames + c.receptive_field() - 1;
  std::ostringstream os;
  auto add = [&](const std::string& name, const TemporalConvShape& s) {
    os << (os.tellp() > 0 ? ", " : "") << name << " "
       << v3d::kernels::cpu::temporal_conv_fwd_path(s);
  };
  add("expand", {1, t, c.in_channels(), c.channels, fw[0], 1, 1});
  t -= fw[0] - 1;
  int64_t dilation = fw[0];
  for (size_t i = 1; i < fw.size(); ++i) {
    std::ostringstream name;
    name << "layers_conv." << 2 * (i - 1) << " (d=" << dilation << ")";
    add(name.str(), {1, t, c.channels, c.channels, fw[i], dilation, 1});
    t -= (fw[i] - 1) * dilation;
    dilation *= fw[i];
  }
  return os.str();
}

nlohmann::json bench_inference(const TemporalModelConfig& cfg, const std::vector<int64_t>& lengths,
                               int iters, double peak_gflops, v3d::Device device,
                               v3d::kernels::ConvMath math) {
  TemporalModel model(cfg, device, /*seed=*/2);
  model.set_eval_math(math);
  const v3d::data::Skeleton& skeleton = v3d::data::Skeleton::h36m17();
  V3D_CHECK(cfg.joints_in == skeleton.num_joints() && cfg.joints_out == skeleton.num_joints(),
            "inference runs the H36M-17 model");
  std::mt19937_64 rng(13);
  std::vector<v3d::data::Sequence> seqs;
  int64_t frames = 0;
  for (int64_t n : lengths) {
    v3d::data::Sequence s;
    s.subject = "S0";
    s.action = "bench " + std::to_string(n);
    s.frames = n;
    s.poses_2d = v3d::bench::random_vector(rng, n * cfg.in_channels(), 0.3f);
    seqs.push_back(std::move(s));
    frames += n;
  }
  // As v3d eval and v3d infer: the weights are folded once per pass over the sequences.
  auto run_all = [&] {
    const TemporalModel::FoldedWeights folded = model.fold_weights();
    for (const auto& s : seqs) {
      const std::vector<float> pred = v3d::predict_sequence(model, s, skeleton, skeleton,
                                                            /*flip_tta=*/false, &folded);
      V3D_CHECK(static_cast<int64_t>(pred.size()) == s.frames * cfg.joints_out * 3,
                "inference returned " << pred.size() << " values for " << s.frames << " frames");
    }
  };
  // Validate: finite predictions, one pose per frame (checked in run_all), then warm up.
  {
    const std::vector<float> pred =
        v3d::predict_sequence(model, seqs[0], skeleton, skeleton, false);
    for (float v : pred) V3D_CHECK(std::isfinite(v), "inference output is not finite");
  }
  v3d::allocator_for(device).reset_peak();
  run_all();
  std::vector<double> t;
  for (int it = 0; it < iters; ++it) {
    const auto t0 = Clock::now();
    run_all();
    t.push_back(seconds_since(t0));
  }
  const double pass = median(t);
  const double gflops = flops_per_frame(cfg) * double(frames) / pass / 1e9;
  return {{"lengths", lengths},
          {"frames", frames},
          {"iters", iters},
          {"median_pass_s", pass},
          {"frames_per_s", double(frames) / pass},
          {"gflops", gflops},
          {"fraction_of_peak", peak_gflops > 0 ? gflops / peak_gflops : 0.0},
          {"allocator_peak_mb", allocator_peak_mb(device)},
          {"peak_rss_mb", peak_rss_mb()}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"End-to-end benchmark of v3d's training step and whole-sequence inference"};
  std::string arch = "3,3,3", lengths_arg = "1000,2500,5000", json_path, precision = "fp32";
  int64_t channels = 1024, batch = 1024;
  int train_iters = 5, infer_iters = 2;
  double peak_seconds = 1.0;
  std::string device_arg = "cpu", train_math = "fp32", conv_backend = "v3d", conv_tile = "default";
  bool skip_train = false, skip_infer = false;
  app.add_option("--arch", arch, "Filter widths: 3,3,3 (27 frames) or 3,3,3,3,3 (243)")
      ->capture_default_str();
  app.add_option("--channels", channels, "Channels")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--batch", batch, "Training windows per batch (>= 2)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 20));
  app.add_option("--train-iters", train_iters, "Timed training steps (after one warm-up)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--infer-lengths", lengths_arg, "Inference sequence lengths, frames")
      ->capture_default_str();
  app.add_option("--infer-iters", infer_iters, "Timed passes over the sequences (after a warm-up)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--peak-seconds", peak_seconds, "Minimum time of the sgemm peak measurement")
      ->capture_default_str();
  app.add_option("--device", device_arg,
                 "Device of the model and the step: cpu, cuda[:N] (the GPU check) or emu")
      ->capture_default_str();
  app.add_option("--train-math", train_math,
                 "Arithmetic of the training step's convolutions (train.precision): fp32, tf32 "
                 "or bf16 (FP32 master weights, optimizer and loss)")
      ->check(CLI::IsMember({"fp32", "tf32", "bf16"}))
      ->capture_default_str();
  app.add_option("--conv-backend", conv_backend,
                 "Convolutions on a GPU (model.conv_backend): v3d, cublaslt or auto")
      ->check(CLI::IsMember({"v3d", "cublaslt", "auto"}))
      ->capture_default_str();
  app.add_option("--conv-tile", conv_tile,
                 "Our tensor-core kernels' tile under --conv-backend v3d (ops::ConvTileGuard): "
                 "default (by shape), narrow, wide or hopper (wgmma: every pass, where the shape "
                 "fits, on a compute capability 9.0 device; docs/gpu.md)")
      ->check(CLI::IsMember({"default", "narrow", "wide", "hopper"}))
      ->capture_default_str();
  app.add_flag("--skip-train", skip_train, "Measure inference only");
  app.add_flag("--skip-infer", skip_infer, "Measure training only");
  app.add_option("--precision", precision,
                 "Products of inference (v3d eval|infer --precision): fp32, tf32 or bf16; on a "
                 "GPU tf32 and bf16 run the tensor cores, on the CPU bf16 is the bf16 GEMM "
                 "(AVX512_BF16) and tf32 the GPU's rounding on float32 GEMMs")
      ->check(CLI::IsMember({"fp32", "tf32", "bf16"}))
      ->capture_default_str();
  v3d::bench::BlasOptions blas;
  v3d::bench::add_blas_options(app, blas);
  app.add_option("--json", json_path, "Write the results to this JSON file");
  CLI11_PARSE(app, argc, argv);

  try {
    v3d::bench::apply_blas_options(blas);
    const v3d::Device device = v3d::parse_device(device_arg);
    TemporalModelConfig cfg;
    cfg.filter_widths = v3d::bench::parse_int_list(arch);
    cfg.channels = channels;
    cfg.validate();
    const std::vector<int64_t> lengths = v3d::bench::parse_int_list(lengths_arg);
    V3D_CHECK(!lengths.empty(), "--infer-lengths: empty");
    for (int64_t n : lengths) V3D_CHECK(n >= 1, "--infer-lengths: " << n << " < 1");

    std::printf("bench_e2e: arch %s (RF %lld), channels %lld, GEMM %s, %d threads\n", arch.c_str(),
                static_cast<long long>(cfg.receptive_field()), static_cast<long long>(channels),
                v3d::bench::blas_core_name().c_str(), v3d::bench::blas_threads());
    // The CPU's sgemm peak; on a GPU the fractions of peak are left at 0 (bench_tcn_gpu has the
    // card's peaks).
    const double peak = device.is_cpu() ? v3d::bench::sgemm_peak_gflops(peak_seconds) : 0.0;
    if (device.is_cpu()) {
      std::printf("device %s, sgemm peak (2048^3): %.1f GFLOP/s\n", device.str().c_str(), peak);
    } else {
      std::printf("device %s (fractions of peak: see bench_tcn_gpu)\n", device.str().c_str());
    }

    nlohmann::json out;
    out["framework"] = "v3d";
    out["arch"] = arch;
    out["channels"] = channels;
    out["device"] = device.str();
    out["blas_core"] = v3d::bench::blas_core_name();
    out["blas_threads"] = v3d::bench::blas_threads();
    out["gemm_kernel"] = v3d::bench::gemm_kernel_summary();
    out["cpu"] = v3d::bench::cpu_description();
    out["sgemm_peak_gflops"] = peak;
    out["flops_per_training_sample"] = flops_per_training_sample(cfg);
    out["flops_per_frame"] = flops_per_frame(cfg);
    out["train_math"] = train_math;
    out["conv_backend"] = conv_backend;
    out["conv_tile"] = conv_tile;
    const v3d::ops::ConvTileGuard tile(conv_tile == "narrow"   ? v3d::kernels::ConvTile::kNarrow
                                       : conv_tile == "wide"   ? v3d::kernels::ConvTile::kWide
                                       : conv_tile == "hopper" ? v3d::kernels::ConvTile::kHopper
                                                               : v3d::kernels::ConvTile::kDefault);
    const v3d::ops::ConvBackendGuard backend(conv_backend == "cublaslt"
                                                 ? ConvBackendChoice::kCublasLt
                                             : conv_backend == "auto" ? ConvBackendChoice::kAuto
                                                                      : ConvBackendChoice::kV3d);
    if (!skip_train) {
      const v3d::kernels::ConvMath math = train_math == "tf32"   ? v3d::kernels::ConvMath::kTf32
                                          : train_math == "bf16" ? v3d::kernels::ConvMath::kBf16
                                                                 : v3d::kernels::ConvMath::kFp32;
      const nlohmann::json t = bench_training(cfg, batch, train_iters, peak, device, math);
      std::printf(
          "training:  %9.1f samples/s  step %.3f s (forward %.3f, backward %.3f, optimizer "
          "%.3f)  %.1f GFLOP/s = %.2f of peak  maxrss %.0f MB, tensors %.0f MB\n",
          t["samples_per_s"].get<double>(), t["median_step_s"].get<double>(),
          t["median_forward_s"].get<double>(), t["median_backward_s"].get<double>(),
          t["median_optimizer_s"].get<double>(), t["gflops"].get<double>(),
          t["fraction_of_peak"].get<double>(), t["peak_rss_mb"].get<double>(),
          t["allocator_peak_mb"].get<double>());
      out["train"] = t;
    }
    if (!skip_infer) {
      const std::string paths = conv_paths(cfg, lengths[0]);
      std::printf("inference conv paths at %lld frames: %s\n", static_cast<long long>(lengths[0]),
                  paths.c_str());
      // As v3d eval and infer take --precision (apps/app_util.h, PrecisionScope).
      std::optional<v3d::kernels::cpu::ConvPrecisionGuard> bf16;
      v3d::kernels::ConvMath infer_math = v3d::kernels::ConvMath::kFp32;
      if (precision == "bf16" && device.is_cpu()) {
        bf16.emplace(v3d::kernels::cpu::ConvPrecision::kBf16);
      } else if (precision != "fp32") {
        infer_math = v3d::parse_precision(precision);
      }
      nlohmann::json t = bench_inference(cfg, lengths, infer_iters, peak, device, infer_math);
      t["conv_paths"] = paths;
      t["precision"] = precision;
      std::printf(
          "inference (%s): %9.1f frames/s   pass %.3f s over %lld frames  %.1f GFLOP/s = %.2f of "
          "peak  maxrss %.0f MB, tensors %.0f MB\n",
          precision.c_str(), t["frames_per_s"].get<double>(), t["median_pass_s"].get<double>(),
          static_cast<long long>(t["frames"].get<int64_t>()), t["gflops"].get<double>(),
          t["fraction_of_peak"].get<double>(), t["peak_rss_mb"].get<double>(),
          t["allocator_peak_mb"].get<double>());
      out["infer"] = t;
    }
    out["peak_rss_mb"] = peak_rss_mb();
    if (!json_path.empty()) v3d::bench::write_json(json_path, out);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_e2e: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
