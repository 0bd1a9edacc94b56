// v3d info: what this build and machine offer: CUDA, the processor and the CPU GEMM kernel.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "apps/app_util.h"
#include "apps/commands.h"
#include "kernels/cpu_features.h"
#include "kernels/gemm.h"
#include "kernels/gemm_kernel.h"
#include "runtime/device.h"

namespace v3d::apps {

namespace {

struct InfoArgs {
  std::string blas;
  bool bench = false;
  double seconds = 0.3;
};

struct Shape {
  const char* what;
  bool trans_a, trans_b;
  int64_t m, n, k;
};

// The GEMMs of the 27-frame model (1024 channels, 17 joints) in training (batch 1024 windows,
// strided form) and in whole-sequence inference (5000 frames), and the 2048^3 peak.
const Shape kShapes[] = {
    {"train expand_conv forward", false, true, 9216, 1024, 102},
    {"train K=3 conv forward (block 0)", false, true, 3072, 1024, 3072},
    {"train 1x1 conv forward (block 0)", false, true, 3072, 1024, 1024},
    {"train K=3 conv forward (block 1)", false, true, 1024, 1024, 3072},
    {"train K=3 conv d_weight (block 0)", true, false, 1024, 3072, 3072},
    {"train K=3 conv d_input (block 0)", false, false, 3072, 3072, 1024},
    {"train shrink forward", false, true, 1024, 51, 1024},
    {"infer 1x1 conv, 5000 frames", false, true, 5000, 1024, 1024},
    {"infer Winograd tile GEMM, 5000 frames", false, false, 1250, 1024, 1024},
    {"peak 2048^3", false, false, 2048, 2048, 2048},
};

// Median GFLOP/s of `s` through the chosen sgemm, or (bf16) the bf16 GEMM.
double gflops(const Shape& s, double seconds, bool bf16) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> a(static_cast<size_t>(s.m * s.k)), b(static_cast<size_t>(s.k * s.n));
  std::vector<float> c(static_cast<size_t>(s.m * s.n));
  for (auto& x : a) x = u(rng);
  for (auto& x : b) x = u(rng);
  kernels::GemmArgs g;
  g.trans_a = s.trans_a;
  g.trans_b = s.trans_b;
  g.m = s.m;
  g.n = s.n;
  g.k = s.k;
  g.a = a.data();
  g.lda = s.trans_a ? s.m : s.k;
  g.b = b.data();
  g.ldb = s.trans_b ? s.k : s.n;
  g.c = c.data();
  g.ldc = s.n;
  std::vector<uint16_t> ah, bh;
  kernels::GemmBf16Args h;
  if (bf16) {
    ah.resize(a.size());
    bh.resize(b.size());
    kernels::float_to_bf16(a.data(), ah.data(), static_cast<int64_t>(a.size()));
    kernels::float_to_bf16(b.data(), bh.data(), static_cast<int64_t>(b.size()));
    h = kernels::bf16_operands(g, ah.data(), g.lda, bh.data(), g.ldb);
  }
  const auto run = [&] {
    if (bf16)
      kernels::gemm_bf16(h);
    else
      kernels::cpu::gemm(g);
  };
  using Clock = std::chrono::steady_clock;
  run();  // warm-up
  std::vector<double> times;
  double total = 0.0;
  while (total < seconds || times.size() < 3) {
    const auto t0 = Clock::now();
    run();
    const double t = std::chrono::duration<double>(Clock::now() - t0).count();
    times.push_back(t);
    total += t;
  }
  std::sort(times.begin(), times.end());
  return g.flops() / times[times.size() / 2] / 1e9;
}

void run_info(const InfoArgs& a) {
  std::printf("v3d %s\n", V3D_VERSION);
  std::printf("  CUDA backend built: %s\n", cuda_built() ? "yes" : "no");
  std::string why;
  const bool cuda = cuda_available(&why);
  std::printf("  CUDA device usable: %s%s%s\n", cuda ? "yes" : "no", cuda ? "" : " (",
              cuda ? "" : (why + ")").c_str());
  std::printf("  emulated CUDA device: emu (host emulation, for tests)\n");
  const kernels::CpuFeatures& cpu = kernels::cpu_features();
  std::printf("CPU: %s\n", cpu.describe().c_str());
  std::string isa;
  for (const auto& f : cpu.names()) isa += (isa.empty() ? "" : " ") + f;
  std::printf("  ISA features: %s\n", isa.empty() ? "(none beyond x86-64)" : isa.c_str());
  apply_blas(a.blas);
  const kernels::GemmKernelInfo& k = kernels::gemm_kernel();
  std::printf("GEMM kernel: %s\n", k.spec.name().c_str());
  std::printf("  library: %s\n", k.library.c_str());
  std::printf("  why: %s\n", k.reason.c_str());
  for (const auto& w : k.warnings) std::printf("  warning: %s\n", w.c_str());
  std::string why_no_bf16;
  const bool bf16 = kernels::bf16_gemm_available(&why_no_bf16);
  std::printf("bf16 GEMM (--precision bf16): %s\n",
              bf16 ? "available (oneDNN)" : ("not available: " + why_no_bf16).c_str());
  if (!a.bench) return;
  std::printf("GEMM GFLOP/s on the model's shapes (sgemm: %s; median of >= %.1f s each):\n",
              k.spec.name().c_str(), a.seconds);
  std::printf("  %-38s %6s %6s %6s %4s %10s %10s\n", "GEMM", "M", "N", "K", "op", "sgemm",
              bf16 ? "bf16" : "");
  for (const Shape& s : kShapes) {
    const std::string op = std::string(s.trans_a ? "T" : "N") + (s.trans_b ? "T" : "N");
    std::printf("  %-38s %6lld %6lld %6lld %4s %10.1f", s.what, static_cast<long long>(s.m),
                static_cast<long long>(s.n), static_cast<long long>(s.k), op.c_str(),
                gflops(s, a.seconds, false));
    if (bf16) std::printf(" %10.1f", gflops(s, a.seconds, true));
    std::printf("\n");
    std::fflush(stdout);
  }
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "info", "Show what this build and machine offer: CUDA, the CPU's features, the GEMM kernel");
  cmd->footer(
      "The GEMM kernel is chosen from the CPU's feature bits (docs/cpu-gemm.md); --bench "
      "measures its sgemm GFLOP/s on the 27-frame model's shapes.\n"
      "Examples:\n"
      "  v3d info\n"
      "  v3d info --bench --blas openblas:Haswell");
  auto args = std::make_shared<InfoArgs>();
  add_blas_option(*cmd, args->blas);
  cmd->add_flag("--bench", args->bench, "Measure sgemm GFLOP/s on the model's GEMM shapes");
  cmd->add_option("--seconds", args->seconds, "Minimum time per shape with --bench")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->callback([args] { run_info(*args); });
}

}  // namespace v3d::apps
