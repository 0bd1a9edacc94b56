// CPU benchmark of the temporal convolution layers of a VideoPose3D model in its strided training
// form: forward, backward-data and backward-weight of every conv layer for a batch of windows,
// against OpenBLAS sgemm measured in the same run, on the same GEMM shapes and on a large square
// product (the machine's sgemm peak).
//
//   bench_tcn_cpu [--arch 3,3,3] [--batch 1024] [--channels 1024] [--seconds 1]
//                 [--blas KERNEL | --native-blas] [--json FILE]
//
// Napkin math: a conv layer with M = B*T_out rows, N = C_out, K = K*C_in costs 2*M*N*K flops per
// pass; training runs forward, backward-weight and (except for the first layer, whose input needs
// no gradient) backward-data.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "benchmarks/bench_common.h"
#include "kernels/gemm.h"
#include "kernels/temporal_conv.h"

namespace {

using v3d::kernels::TemporalConvShape;

struct Layer {
  std::string name;
  TemporalConvShape shape;
  bool needs_d_x;
};

// The strided (training) form of the VideoPose3D model for filter widths `widths`: each window of
// RF = prod(widths) frames gives one output frame.
std::vector<Layer> strided_layers(const std::vector<int64_t>& widths, int64_t batch,
                                  int64_t channels, int64_t joints) {
  int64_t t = 1;
  for (int64_t w : widths) t *= w;
  std::vector<Layer> layers;
  layers.push_back(
      {"expand_conv", {batch, t, joints * 2, channels, widths[0], 1, widths[0]}, false});
  t /= widths[0];
  for (size_t i = 1; i < widths.size(); ++i) {
    layers.push_back({"layers_conv." + std::to_string(2 * (i - 1)),
                      {batch, t, channels, channels, widths[i], 1, widths[i]},
                      true});
    t /= widths[i];
    layers.push_back({"layers_conv." + std::to_string(2 * (i - 1) + 1),
                      {batch, t, channels, channels, 1, 1, 1},
                      true});
  }
  layers.push_back({"shrink", {batch, t, channels, joints * 3, 1, 1, 1}, true});
  return layers;
}

double layer_flops(const Layer& l) {
  const double pass =
      2.0 * double(l.shape.rows()) * double(l.shape.c_out) * double(l.shape.reduction());
  return pass * (l.needs_d_x ? 3.0 : 2.0);
}

// Checks a few forward outputs against a direct double-precision sum; returns the max rel error.
double validate_forward(const Layer& l, const std::vector<float>& x, const std::vector<float>& w,
                        const std::vector<float>& y) {
  const TemporalConvShape& s = l.shape;
  std::mt19937_64 rng(7);
  double worst = 0.0;
  for (int probe = 0; probe < 16; ++probe) {
    const int64_t b = int64_t(rng() % uint64_t(s.batch)), t = int64_t(rng() % uint64_t(s.t_out()));
    const int64_t co = int64_t(rng() % uint64_t(s.c_out));
    double acc = 0.0, mag = 0.0;
    for (int64_t ci = 0; ci < s.c_in; ++ci)
      for (int64_t k = 0; k < s.k; ++k) {
        const double p =
            double(w[size_t((co * s.c_in + ci) * s.k + k)]) *
            double(x[size_t((b * s.t_in + t * s.stride + k * s.dilation) * s.c_in + ci)]);
        acc += p;
        mag += std::fabs(p);
      }
    const double got = y[size_t((b * s.t_out() + t) * s.c_out + co)];
    worst = std::max(worst, std::fabs(got - acc) / std::max(mag, 1e-30));
  }
  return worst;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"CPU benchmark of the TCN conv layers (strided training form) against sgemm"};
  std::string arch = "3,3,3", json_path;
  int64_t batch = 1024, channels = 1024, joints = 17;
  double seconds = 1.0;
  app.add_option("--arch", arch, "Filter widths, e.g. 3,3,3 (27 frames) or 3,3,3,3,3 (243)")
      ->capture_default_str();
  app.add_option("--batch", batch, "Windows per batch")->capture_default_str();
  app.add_option("--channels", channels, "Channels")->capture_default_str();
  app.add_option("--seconds", seconds, "Minimum time per measurement")->capture_default_str();
  v3d::bench::BlasOptions blas;
  v3d::bench::add_blas_options(app, blas);
  app.add_option("--json", json_path, "Write the results to this JSON file");
  CLI11_PARSE(app, argc, argv);
  try {
    v3d::bench::apply_blas_options(blas);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_tcn_cpu: %s\n", e.what());
    return 2;
  }

  std::vector<int64_t> widths;
  std::stringstream ss(arch);
  for (std::string item; std::getline(ss, item, ',');) widths.push_back(std::stoll(item));
  const std::vector<Layer> layers = strided_layers(widths, batch, channels, joints);

  std::printf("bench_tcn_cpu: arch %s, batch %lld, channels %lld, GEMM %s, %d threads\n",
              arch.c_str(), static_cast<long long>(batch), static_cast<long long>(channels),
              v3d::bench::blas_core_name().c_str(), v3d::bench::blas_threads());

  std::mt19937_64 rng(1);
  nlohmann::json out;
  out["arch"] = arch;
  out["batch"] = batch;
  out["channels"] = channels;
  out["blas_core"] = v3d::bench::blas_core_name();
  out["blas_threads"] = v3d::bench::blas_threads();
  out["gemm_kernel"] = v3d::bench::gemm_kernel_summary();
  out["cpu"] = v3d::bench::cpu_description();
  double total_flops = 0.0, total_ours = 0.0, total_gemm = 0.0;
  std::printf("%-16s %8s %8s %8s %4s | %10s %10s | %9s %9s %6s\n", "layer", "M", "N", "K", "",
              "ours ms", "sgemm ms", "ours GF/s", "sgemm GF/s", "ratio");
  for (const Layer& l : layers) {
    const TemporalConvShape& s = l.shape;
    std::vector<float> x = v3d::bench::random_vector(rng, s.batch * s.t_in * s.c_in);
    std::vector<float> w = v3d::bench::random_vector(rng, s.c_out * s.c_in * s.k);
    std::vector<float> y(size_t(s.rows() * s.c_out)),
        d_y = v3d::bench::random_vector(rng, s.rows() * s.c_out);
    std::vector<float> d_x(x.size()), d_w(w.size());

    v3d::kernels::cpu::temporal_conv_fwd(s, x.data(), w.data(), y.data());
    const double err = validate_forward(l, x, w, y);
    if (!(err < 1e-4)) {
      std::fprintf(stderr, "bench_tcn_cpu: %s forward is wrong (relative error %g)\n",
                   l.name.c_str(), err);
      return 1;
    }

    const double ours = v3d::bench::time_median(
        [&] {
          v3d::kernels::cpu::temporal_conv_fwd(s, x.data(), w.data(), y.data());
          v3d::kernels::cpu::temporal_conv_bwd_weight(s, x.data(), d_y.data(), d_w.data());
          if (l.needs_d_x)
            v3d::kernels::cpu::temporal_conv_bwd_data(s, d_y.data(), w.data(), d_x.data());
        },
        seconds);

    // The same three products as plain sgemm on contiguous operands of the same sizes.
    const int64_t m = s.rows(), n = s.c_out, k = s.reduction();
    std::vector<float> a = v3d::bench::random_vector(rng, m * k),
                       bm = v3d::bench::random_vector(rng, n * k);
    std::vector<float> c(size_t(m * n)), dw(size_t(n * k)), da(size_t(m * k));
    auto gemm = [](bool ta, bool tb, int64_t gm, int64_t gn, int64_t gk, const float* ga,
                   int64_t lda, const float* gb, int64_t ldb, float* gc, int64_t ldc) {
      v3d::kernels::GemmArgs g;
      g.trans_a = ta;
      g.trans_b = tb;
      g.m = gm;
      g.n = gn;
      g.k = gk;
      g.a = ga;
      g.lda = lda;
      g.b = gb;
      g.ldb = ldb;
      g.c = gc;
      g.ldc = ldc;
      v3d::kernels::cpu::gemm(g);
    };
    const double sgemm = v3d::bench::time_median(
        [&] {
          gemm(false, true, m, n, k, a.data(), k, bm.data(), k, c.data(), n);  // Y = X W^T
          gemm(true, false, n, k, m, c.data(), n, a.data(), k, dw.data(), k);  // dW = dY^T X
          if (l.needs_d_x)
            gemm(false, false, m, k, n, c.data(), n, bm.data(), k, da.data(), k);  // dX = dY W
        },
        seconds);
    const double flops = layer_flops(l);
    total_flops += flops;
    total_ours += ours;
    total_gemm += sgemm;
    std::printf("%-16s %8lld %8lld %8lld %4s | %10.2f %10.2f | %9.1f %9.1f %6.2f\n", l.name.c_str(),
                static_cast<long long>(m), static_cast<long long>(n), static_cast<long long>(k),
                l.needs_d_x ? "" : "noDx", ours * 1e3, sgemm * 1e3, flops / ours / 1e9,
                flops / sgemm / 1e9, sgemm / ours);
    out["layers"].push_back({{"name", l.name},
                             {"m", m},
                             {"n", n},
                             {"k", k},
                             {"flops", flops},
                             {"ours_s", ours},
                             {"sgemm_same_shapes_s", sgemm},
                             {"validation_rel_err", err}});
  }

  // The machine's sgemm peak: a large square product.
  const double peak = v3d::bench::sgemm_peak_gflops(seconds);

  const double ours_gflops = total_flops / total_ours / 1e9;
  const double gemm_gflops = total_flops / total_gemm / 1e9;
  std::printf("\ntotal: %.2f GFLOP per training step of the conv layers\n", total_flops / 1e9);
  std::printf("ours (fwd + bwd):                %8.1f GFLOP/s  %8.1f ms\n", ours_gflops,
              total_ours * 1e3);
  std::printf("sgemm on the same shapes:        %8.1f GFLOP/s  (ours / sgemm = %.2f)\n",
              gemm_gflops, ours_gflops / gemm_gflops);
  std::printf("sgemm peak (2048^3):             %8.1f GFLOP/s  (ours / peak  = %.2f)\n", peak,
              ours_gflops / peak);
  out["ours_gflops"] = ours_gflops;
  out["sgemm_same_shapes_gflops"] = gemm_gflops;
  out["sgemm_peak_gflops"] = peak;
  out["ratio_vs_same_shapes"] = ours_gflops / gemm_gflops;
  out["ratio_vs_peak"] = ours_gflops / peak;
  if (!json_path.empty()) v3d::bench::write_json(json_path, out);
  return 0;
}
