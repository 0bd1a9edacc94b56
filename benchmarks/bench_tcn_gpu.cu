// GPU benchmark of our temporal convolution kernels against the two library baselines, cuDNN (the
// baseline they must beat) and our cuBLASLt backend (kernels/temporal_conv_lt.h, the same binary's
// `model.conv_backend: cublaslt`), on the layer shapes of VideoPose3D models: the strided training
// form (batch of windows) and the dilated whole-sequence inference form. --math fp32 runs FMA only
// everywhere (cuDNN's CUDNN_FMA_MATH, CUBLAS_COMPUTE_32F); --math tf32 runs our tensor-core
// kernels, cuDNN with CUDNN_TENSOR_OP_MATH on float tensors (TF32) and cuBLASLt with
// CUBLAS_COMPUTE_32F_FAST_TF32, for the passes our contract has in TF32 (the others print n/a);
// --math bf16 runs ours and cuBLASLt (CUBLAS_COMPUTE_32F_FAST_16BF) in BF16 on the same float32
// tensors (ours converting them in the workspace where it stages BF16, inside the timing) and
// cuDNN still in TF32, its fastest arithmetic on float tensors.
// cuDNN runs the fastest algorithm cudnnFind* reports for each shape, with its preferred NHWC
// layouts (our (B, T, C) activations are NHWC with H = 1; its filter is our weight permuted to
// (C_out, 1, K, C_in), prepared once outside the timing).
//
//   bench_tcn_gpu [--arch 3,3,3] [--batch 1024] [--channels 1024] [--frames 10000] [--reps 20]
//                 [--math fp32|tf32|bf16] [--json FILE]
//
// Each measurement validates our and cuBLASLt's outputs against cuDNN's before timing (relative
// error below 1e-4 in fp32, 1e-2 in tf32, 3e-2 in bf16). Napkin math: 2*M*N*K flops
// per pass (M = B*T_out, N = C_out, K = taps*C_in) and the fraction of the card's peak for the
// arithmetic run: SMs x clock x flops per SM per clock, 2 x the fp32 lanes for fp32, the dense
// TF32 tensor-core rate for tf32 (2048 on sm_90, 1024 on sm_80), twice that for bf16. In tf32 and
// bf16, "ours" runs each pass in the tile our launcher picks by shape (kernels/temporal_conv.h,
// ConvTile), and a line below it times each tile (narrow 128 x 64, wide 128 x 128, and on a
// compute capability 9.0 device the Hopper tile where it has a kernel for the pass: wgmma, the
// forward and bwd_data). Without a CUDA device it prints SKIPPED and exits 0.
#include <cuda_runtime.h>
#include <cudnn.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "benchmarks/bench_common.h"
#include "kernels/temporal_conv.h"
#include "kernels/temporal_conv_lt.h"

namespace {

using v3d::kernels::GpuKind;
using v3d::kernels::TemporalConvPass;
using v3d::kernels::TemporalConvShape;

#define CHECK_CUDA(expr)                                                                       \
  do {                                                                                         \
    const cudaError_t e_ = (expr);                                                             \
    if (e_ != cudaSuccess) {                                                                   \
      std::fprintf(stderr, "%s failed: %s (%s:%d)\n", #expr, cudaGetErrorString(e_), __FILE__, \
                   __LINE__);                                                                  \
      std::exit(1);                                                                            \
    }                                                                                          \
  } while (0)
#define CHECK_CUDNN(expr)                                                                       \
  do {                                                                                          \
    const cudnnStatus_t s_ = (expr);                                                            \
    if (s_ != CUDNN_STATUS_SUCCESS) {                                                           \
      std::fprintf(stderr, "%s failed: %s (%s:%d)\n", #expr, cudnnGetErrorString(s_), __FILE__, \
                   __LINE__);                                                                   \
      std::exit(1);                                                                             \
    }                                                                                           \
  } while (0)

struct Layer {
  std::string name;
  TemporalConvShape shape;
};

std::vector<Layer> strided_layers(const std::vector<int64_t>& widths, int64_t batch, int64_t c,
                                  int64_t joints) {
  int64_t t = 1;
  for (int64_t w : widths) t *= w;
  std::vector<Layer> layers{{"train expand", {batch, t, joints * 2, c, widths[0], 1, widths[0]}}};
  t /= widths[0];
  for (size_t i = 1; i < widths.size(); ++i) {
    layers.push_back(
        {"train conv k" + std::to_string(widths[i]), {batch, t, c, c, widths[i], 1, widths[i]}});
    t /= widths[i];
    layers.push_back({"train pointwise", {batch, t, c, c, 1, 1, 1}});
  }
  return layers;
}

std::vector<Layer> dilated_layers(const std::vector<int64_t>& widths, int64_t frames, int64_t c,
                                  int64_t joints) {
  std::vector<Layer> layers{{"infer expand", {1, frames, joints * 2, c, widths[0], 1, 1}}};
  int64_t t = frames - (widths[0] - 1), d = widths[0];
  for (size_t i = 1; i < widths.size(); ++i) {
    layers.push_back({"infer conv d" + std::to_string(d), {1, t, c, c, widths[i], d, 1}});
    t -= (widths[i] - 1) * d;
    d *= widths[i];
  }
  return layers;
}

int fp32_lanes_per_sm(int major, int minor) {
  if (major == 8 && minor == 0) return 64;  // A100
  return 128;                               // sm_86, sm_89, sm_90
}

// Dense TF32 mma flops per SM per clock (the data sheets' dense TF32 figures over SMs x clock).
int tf32_flops_per_sm_clock(int major, int minor) {
  if (major >= 9) return 2048;                // H100, H200
  if (major == 8 && minor == 0) return 1024;  // A100
  return 512;                                 // sm_86, sm_89
}

struct Buffers {
  float *x, *w, *w_nhwc, *y, *d_y, *d_x, *d_w, *ref, *ws;
  size_t ws_bytes;
};

// Median milliseconds of `reps` runs of fn on the stream, timed with events.
template <class Fn>
float time_ms(cudaStream_t stream, int reps, Fn&& fn) {
  fn();
  CHECK_CUDA(cudaStreamSynchronize(stream));
  cudaEvent_t a, b;
  CHECK_CUDA(cudaEventCreate(&a));
  CHECK_CUDA(cudaEventCreate(&b));
  std::vector<float> t;
  for (int r = 0; r < reps; ++r) {
    CHECK_CUDA(cudaEventRecord(a, stream));
    fn();
    CHECK_CUDA(cudaEventRecord(b, stream));
    CHECK_CUDA(cudaEventSynchronize(b));
    float ms = 0;
    CHECK_CUDA(cudaEventElapsedTime(&ms, a, b));
    t.push_back(ms);
  }
  CHECK_CUDA(cudaEventDestroy(a));
  CHECK_CUDA(cudaEventDestroy(b));
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// max |a - b| / max |b| over two device buffers of n floats.
double rel_error(const float* a, const float* b, size_t n) {
  std::vector<float> ha(n), hb(n);
  CHECK_CUDA(cudaMemcpy(ha.data(), a, n * sizeof(float), cudaMemcpyDeviceToHost));
  CHECK_CUDA(cudaMemcpy(hb.data(), b, n * sizeof(float), cudaMemcpyDeviceToHost));
  double err = 0, scale = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(ha[i])) return INFINITY;
    err = std::max(err, std::fabs(double(ha[i]) - hb[i]));
    scale = std::max(scale, std::fabs(double(hb[i])));
  }
  return err / std::max(scale, 1e-30);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"GPU benchmark of our temporal convolution kernels against cuDNN"};
  std::string arch = "3,3,3", json_path;
  int64_t batch = 1024, channels = 1024, frames = 10000;
  int reps = 20;
  std::string math_name = "fp32";
  app.add_option("--arch", arch, "Filter widths")->capture_default_str();
  app.add_option("--math", math_name, "Arithmetic: fp32, tf32 or bf16")
      ->check(CLI::IsMember({"fp32", "tf32", "bf16"}))
      ->capture_default_str();
  app.add_option("--batch", batch, "Windows per training batch")->capture_default_str();
  app.add_option("--channels", channels, "Channels")->capture_default_str();
  app.add_option("--frames", frames, "Frames of the inference sequence")->capture_default_str();
  app.add_option("--reps", reps, "Timed repetitions (median reported)")->capture_default_str();
  app.add_option("--json", json_path, "Write the results to this JSON file");
  CLI11_PARSE(app, argc, argv);

  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("SKIPPED: no CUDA device (%s)\n", cudaGetErrorString(cudaGetLastError()));
    return 0;
  }
  cudaDeviceProp prop{};
  CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  // The Hopper tile's kernel is sm_90a code: compute capability 9.0 only.
  const bool hopper = prop.major == 9 && prop.minor == 0;
  int clock_khz = 0;
  CHECK_CUDA(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0));
  // tc: ours on tensor cores (tf32 or bf16); cuDNN then runs TF32 on the float tensors.
  const bool bf16 = math_name == "bf16", tc = math_name != "fp32";
  const double fp32_peak_gflops = double(prop.multiProcessorCount) *
                                  fp32_lanes_per_sm(prop.major, prop.minor) * 2.0 * clock_khz *
                                  1e-6;
  // BF16 tensor cores run twice the TF32 rate.
  const double peak_gflops = tc ? double(prop.multiProcessorCount) *
                                      tf32_flops_per_sm_clock(prop.major, prop.minor) *
                                      (bf16 ? 2 : 1) * clock_khz * 1e-6
                                : fp32_peak_gflops;
  std::printf("bench_tcn_gpu: %s (sm_%d%d, %d SMs, %.0f MHz), %s peak %.1f TFLOP/s\n", prop.name,
              prop.major, prop.minor, prop.multiProcessorCount, clock_khz / 1e3,
              bf16 ? "dense BF16 tensor-core"
              : tc ? "dense TF32 tensor-core"
                   : "fp32 FMA",
              peak_gflops / 1e3);

  std::vector<int64_t> widths;
  std::stringstream ss(arch);
  for (std::string item; std::getline(ss, item, ',');) widths.push_back(std::stoll(item));
  std::vector<Layer> layers = strided_layers(widths, batch, channels, 17);
  for (const Layer& l : dilated_layers(widths, frames, channels, 17)) layers.push_back(l);

  cudaStream_t stream;
  CHECK_CUDA(cudaStreamCreate(&stream));
  cudnnHandle_t cudnn;
  CHECK_CUDNN(cudnnCreate(&cudnn));
  CHECK_CUDNN(cudnnSetStream(cudnn, stream));

  const auto math = bf16 ? v3d::kernels::ConvMath::kBf16
                    : tc ? v3d::kernels::ConvMath::kTf32
                         : v3d::kernels::ConvMath::kFp32;
  // Against cuDNN's TF32 (or FMA) result: BF16 operands keep 8 significant bits.
  const double tolerance = bf16 ? 3e-2 : tc ? 1e-2 : 1e-4;
  nlohmann::json out;
  out["device"] = prop.name;
  out["math"] = math_name;
  out["peak_fp32_gflops"] = fp32_peak_gflops;
  out["peak_gflops"] = peak_gflops;
  std::printf("%-18s %-10s %9s %9s %9s %8s %8s %9s %7s %6s\n", "layer", "pass", "ours ms",
              "cuBLASLt", "cuDNN ms", "vs Lt", "vs cuDNN", "GFLOP/s", "%peak", "relerr");
  std::mt19937_64 rng(1);
  bool all_valid = true;
  for (const Layer& l : layers) {
    TemporalConvShape s = l.shape;
    s.math = math;
    TemporalConvShape lt_shape = s;
    lt_shape.backend = v3d::kernels::ConvBackend::kCublasLt;
    // What our launchers run: s, or s in one tile (TF32: both tiles are timed apart).
    TemporalConvShape ours_shape = s;
    const size_t nx = size_t(s.batch * s.t_in * s.c_in), nw = size_t(s.c_out * s.c_in * s.k);
    const size_t ny = size_t(s.rows() * s.c_out);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> hx(nx), hw(nw), hdy(ny), hw_nhwc(nw);
    for (auto& v : hx) v = dist(rng);
    for (auto& v : hw) v = dist(rng);
    for (auto& v : hdy) v = dist(rng);
    for (int64_t co = 0; co < s.c_out; ++co)
      for (int64_t ci = 0; ci < s.c_in; ++ci)
        for (int64_t k = 0; k < s.k; ++k)
          hw_nhwc[size_t((co * s.k + k) * s.c_in + ci)] = hw[size_t((co * s.c_in + ci) * s.k + k)];

    Buffers b{};
    const size_t ref_n = std::max({nx, nw, ny});
    CHECK_CUDA(cudaMalloc(&b.x, nx * 4));
    CHECK_CUDA(cudaMalloc(&b.w, nw * 4));
    CHECK_CUDA(cudaMalloc(&b.w_nhwc, nw * 4));
    CHECK_CUDA(cudaMalloc(&b.y, ny * 4));
    CHECK_CUDA(cudaMalloc(&b.d_y, ny * 4));
    CHECK_CUDA(cudaMalloc(&b.d_x, nx * 4));
    CHECK_CUDA(cudaMalloc(&b.d_w, nw * 4));
    CHECK_CUDA(cudaMalloc(&b.ref, ref_n * 4));
    CHECK_CUDA(cudaMemcpy(b.x, hx.data(), nx * 4, cudaMemcpyHostToDevice));
    CHECK_CUDA(cudaMemcpy(b.w, hw.data(), nw * 4, cudaMemcpyHostToDevice));
    CHECK_CUDA(cudaMemcpy(b.w_nhwc, hw_nhwc.data(), nw * 4, cudaMemcpyHostToDevice));
    CHECK_CUDA(cudaMemcpy(b.d_y, hdy.data(), ny * 4, cudaMemcpyHostToDevice));
    // Enough for every tile the loop below times (the Hopper tile's TF32 forward and bwd_data
    // permute the weights for K = 1 too, and its TF32 bwd_weight transposes d_y and x's windows).
    v3d::kernels::TemporalConvShape s_hopper = s;
    s_hopper.tile = v3d::kernels::ConvTile::kHopper;
    const int64_t ours_ws = std::max(
        {v3d::kernels::temporal_conv_workspace_floats(s, TemporalConvPass::kForward),
         v3d::kernels::temporal_conv_workspace_floats(s, TemporalConvPass::kBackwardData),
         v3d::kernels::temporal_conv_workspace_floats(s, TemporalConvPass::kBackwardWeight),
         v3d::kernels::temporal_conv_workspace_floats(s_hopper, TemporalConvPass::kForward),
         v3d::kernels::temporal_conv_workspace_floats(s_hopper, TemporalConvPass::kBackwardData),
         v3d::kernels::temporal_conv_workspace_floats(s_hopper, TemporalConvPass::kBackwardWeight),
         int64_t{1}});
    float* our_ws = nullptr;
    CHECK_CUDA(cudaMalloc(&our_ws, size_t(ours_ws) * 4));
    const int64_t lt_ws_floats =
        v3d::kernels::temporal_conv_lt_workspace_floats(lt_shape, TemporalConvPass::kForward);
    float *lt_ws = nullptr, *lt_out = nullptr;
    CHECK_CUDA(cudaMalloc(&lt_ws, size_t(lt_ws_floats) * 4));
    CHECK_CUDA(cudaMalloc(&lt_out, ref_n * 4));

    cudnnTensorDescriptor_t xd, yd;
    cudnnFilterDescriptor_t wd;
    cudnnConvolutionDescriptor_t cd;
    CHECK_CUDNN(cudnnCreateTensorDescriptor(&xd));
    CHECK_CUDNN(cudnnCreateTensorDescriptor(&yd));
    CHECK_CUDNN(cudnnCreateFilterDescriptor(&wd));
    CHECK_CUDNN(cudnnCreateConvolutionDescriptor(&cd));
    CHECK_CUDNN(cudnnSetTensor4dDescriptor(xd, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, int(s.batch),
                                           int(s.c_in), 1, int(s.t_in)));
    CHECK_CUDNN(cudnnSetTensor4dDescriptor(yd, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, int(s.batch),
                                           int(s.c_out), 1, int(s.t_out())));
    CHECK_CUDNN(cudnnSetFilter4dDescriptor(wd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, int(s.c_out),
                                           int(s.c_in), 1, int(s.k)));
    CHECK_CUDNN(cudnnSetConvolution2dDescriptor(cd, 0, 0, 1, int(s.stride), 1, int(s.dilation),
                                                CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CHECK_CUDNN(cudnnSetConvolutionMathType(cd, tc ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));

    int found = 0;
    cudnnConvolutionFwdAlgoPerf_t fwd_perf[8];
    CHECK_CUDNN(cudnnFindConvolutionForwardAlgorithm(cudnn, xd, wd, cd, yd, 8, &found, fwd_perf));
    cudnnConvolutionBwdDataAlgoPerf_t bd_perf[8];
    CHECK_CUDNN(
        cudnnFindConvolutionBackwardDataAlgorithm(cudnn, wd, yd, cd, xd, 8, &found, bd_perf));
    cudnnConvolutionBwdFilterAlgoPerf_t bf_perf[8];
    CHECK_CUDNN(
        cudnnFindConvolutionBackwardFilterAlgorithm(cudnn, xd, yd, cd, wd, 8, &found, bf_perf));
    b.ws_bytes = std::max({fwd_perf[0].memory, bd_perf[0].memory, bf_perf[0].memory, size_t{4}});
    CHECK_CUDA(cudaMalloc(&b.ws, b.ws_bytes));
    const float one = 1.0f, zero = 0.0f;
    const double flops = 2.0 * double(s.rows()) * double(s.c_out) * double(s.reduction());

    struct Pass {
      const char* name;
      float* ours_out;
      size_t n;
      std::function<void()> ours, cudnn_run, lt;
      bool nhwc_weights;  // the output is a weight gradient in cuDNN's NHWC filter order
      TemporalConvPass pass;
    };
    // Whether our contract has this pass in the chosen arithmetic.
    const auto supported = [&](TemporalConvPass pass) {
      try {
        if (pass == TemporalConvPass::kBackwardData)
          v3d::kernels::TemporalConvBwdDataArgs{s}.validate();
        if (pass == TemporalConvPass::kBackwardWeight)
          v3d::kernels::TemporalConvBwdWeightArgs{s}.validate();
        return true;
      } catch (const v3d::Error&) {
        return false;
      }
    };
    const Pass passes[] = {
        {"fwd", b.y, ny,
         [&] {
           v3d::kernels::launch::temporal_conv_fwd<GpuKind::kCuda>(ours_shape, b.x, b.w, b.y,
                                                                   our_ws, stream);
         },
         [&] {
           CHECK_CUDNN(cudnnConvolutionForward(cudnn, &one, xd, b.x, wd, b.w_nhwc, cd,
                                               fwd_perf[0].algo, b.ws, b.ws_bytes, &zero, yd,
                                               b.ref));
         },
         [&] {
           v3d::kernels::launch::temporal_conv_fwd<GpuKind::kCuda>(lt_shape, b.x, b.w, lt_out,
                                                                   lt_ws, stream);
         },
         false, TemporalConvPass::kForward},
        {"bwd_data", b.d_x, nx,
         [&] {
           v3d::kernels::launch::temporal_conv_bwd_data<GpuKind::kCuda>(
               v3d::kernels::TemporalConvBwdDataArgs{ours_shape}, b.d_y, b.w, b.d_x, our_ws,
               stream);
         },
         [&] {
           CHECK_CUDNN(cudnnConvolutionBackwardData(cudnn, &one, wd, b.w_nhwc, yd, b.d_y, cd,
                                                    bd_perf[0].algo, b.ws, b.ws_bytes, &zero, xd,
                                                    b.ref));
         },
         [&] {
           v3d::kernels::launch::temporal_conv_bwd_data<GpuKind::kCuda>(
               v3d::kernels::TemporalConvBwdDataArgs{lt_shape}, b.d_y, b.w, lt_out, lt_ws, stream);
         },
         false, TemporalConvPass::kBackwardData},
        {"bwd_weight", b.d_w, nw,
         [&] {
           v3d::kernels::launch::temporal_conv_bwd_weight<GpuKind::kCuda>(
               v3d::kernels::TemporalConvBwdWeightArgs{ours_shape}, b.x, b.d_y, b.d_w, our_ws,
               stream);
         },
         [&] {
           CHECK_CUDNN(cudnnConvolutionBackwardFilter(cudnn, &one, xd, b.x, yd, b.d_y, cd,
                                                      bf_perf[0].algo, b.ws, b.ws_bytes, &zero, wd,
                                                      b.ref));
         },
         [&] {
           v3d::kernels::launch::temporal_conv_bwd_weight<GpuKind::kCuda>(
               v3d::kernels::TemporalConvBwdWeightArgs{lt_shape}, b.x, b.d_y, lt_out, lt_ws,
               stream);
         },
         true, TemporalConvPass::kBackwardWeight},
    };
    for (const Pass& p : passes) {
      if (!supported(p.pass)) {
        std::printf("%-18s %-10s %9s  (our contract has no %s form of this pass)\n", l.name.c_str(),
                    p.name, "n/a", math_name.c_str());
        continue;
      }
      p.ours();
      p.lt();
      p.cudnn_run();
      CHECK_CUDA(cudaStreamSynchronize(stream));
      double err;
      if (p.nhwc_weights) {
        // cuDNN's filter gradient is (C_out, 1, K, C_in): compare on the host in our order.
        std::vector<float> ours(nw), ref(nw), ref_ours(nw);
        CHECK_CUDA(cudaMemcpy(ours.data(), b.d_w, nw * 4, cudaMemcpyDeviceToHost));
        CHECK_CUDA(cudaMemcpy(ref.data(), b.ref, nw * 4, cudaMemcpyDeviceToHost));
        for (int64_t co = 0; co < s.c_out; ++co)
          for (int64_t ci = 0; ci < s.c_in; ++ci)
            for (int64_t k = 0; k < s.k; ++k)
              ref_ours[size_t((co * s.c_in + ci) * s.k + k)] =
                  ref[size_t((co * s.k + k) * s.c_in + ci)];
        CHECK_CUDA(cudaMemcpy(b.ref, ref_ours.data(), nw * 4, cudaMemcpyHostToDevice));
      }
      err = rel_error(p.ours_out, b.ref, p.n);
      const double lt_err = rel_error(lt_out, b.ref, p.n);
      const bool valid = err < tolerance && lt_err < tolerance;
      all_valid = all_valid && valid;
      const float ours_ms = time_ms(stream, reps, p.ours);
      const float lt_ms = time_ms(stream, reps, p.lt);
      const float cudnn_ms = time_ms(stream, reps, p.cudnn_run);
      const double gflops = flops / (ours_ms * 1e-3) / 1e9;
      std::printf("%-18s %-10s %9.3f %9.3f %9.3f %8.2f %8.2f %9.1f %6.1f%% %6.0e%s\n",
                  l.name.c_str(), p.name, ours_ms, lt_ms, cudnn_ms, lt_ms / ours_ms,
                  cudnn_ms / ours_ms, gflops, 100.0 * gflops / peak_gflops, std::max(err, lt_err),
                  valid ? "" : "  INVALID");
      // TF32: our kernels in each tile (kernels/temporal_conv.h, ConvTile), each validated too;
      // the default (above) is one of them, chosen by shape. The Hopper tile (wgmma) where it
      // has a kernel for the pass, on a compute capability 9.0 device.
      nlohmann::json tiles;
      if (tc) {
        const bool wide_default = v3d::kernels::temporal_conv_tc_wide(s, p.pass);
        std::vector<std::pair<v3d::kernels::ConvTile, const char*>> tile_list = {
            {v3d::kernels::ConvTile::kNarrow, "narrow"}, {v3d::kernels::ConvTile::kWide, "wide"}};
        if (hopper && v3d::kernels::temporal_conv_wgmma_shape(s, p.pass)) {
          tile_list.emplace_back(v3d::kernels::ConvTile::kHopper, "hopper");
        }
        for (const auto& [tile, tile_name] : tile_list) {
          ours_shape.tile = tile;
          p.ours();
          CHECK_CUDA(cudaStreamSynchronize(stream));
          const double tile_err = rel_error(p.ours_out, b.ref, p.n);
          const bool tile_valid = tile_err < tolerance;
          all_valid = all_valid && tile_valid;
          const float tile_ms = time_ms(stream, reps, p.ours);
          const bool is_default = tile != v3d::kernels::ConvTile::kHopper &&
                                  (tile == v3d::kernels::ConvTile::kWide) == wide_default;
          std::printf("%-18s %-10s %9.3f  ours in the %s tile%s: %.2fx cuDNN, %.2fx cuBLASLt%s\n",
                      "", "", tile_ms, tile_name, is_default ? " (the default here)" : "",
                      cudnn_ms / tile_ms, lt_ms / tile_ms, tile_valid ? "" : "  INVALID");
          tiles[tile_name] = {{"ms", tile_ms},
                              {"rel_err_vs_cudnn", tile_err},
                              {"valid", tile_valid},
                              {"default", is_default}};
        }
        ours_shape = s;
      }
      out["results"].push_back({{"layer", l.name},
                                {"pass", p.name},
                                {"m", s.rows()},
                                {"n", s.c_out},
                                {"k", s.reduction()},
                                {"ours_ms", ours_ms},
                                {"cudnn_ms", cudnn_ms},
                                {"cublaslt_ms", lt_ms},
                                {"speedup_vs_cublaslt", lt_ms / ours_ms},
                                {"cublaslt_rel_err_vs_cudnn", lt_err},
                                {"speedup_vs_cudnn", cudnn_ms / ours_ms},
                                {"gflops", gflops},
                                {"fraction_of_peak", gflops / peak_gflops},
                                {"rel_err_vs_cudnn", err}});
      if (!tiles.empty()) out["results"].back()["tiles"] = tiles;
    }
    cudnnDestroyTensorDescriptor(xd);
    cudnnDestroyTensorDescriptor(yd);
    cudnnDestroyFilterDescriptor(wd);
    cudnnDestroyConvolutionDescriptor(cd);
    for (float* p :
         {b.x, b.w, b.w_nhwc, b.y, b.d_y, b.d_x, b.d_w, b.ref, b.ws, our_ws, lt_ws, lt_out})
      CHECK_CUDA(cudaFree(p));
  }
  cudnnDestroy(cudnn);
  CHECK_CUDA(cudaStreamDestroy(stream));
  if (!json_path.empty()) v3d::bench::write_json(json_path, out);
  if (!all_valid) {
    std::fprintf(stderr,
                 "bench_tcn_gpu: some outputs (ours or cuBLASLt's) disagree with cuDNN (marked "
                 "INVALID)\n");
    return 1;
  }
  return 0;
}
