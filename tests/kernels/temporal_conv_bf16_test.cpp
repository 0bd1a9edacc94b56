// The CPU forward in bf16 precision (kernels/temporal_conv.h, ConvPrecision) on the Winograd, view
// and im2col paths: close to the double-precision reference at bfloat16's accuracy, and not
// float32's (the bf16 GEMM did run); float32 again once the guard ends.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kernels/gemm_kernel.h"
#include "kernels/temporal_conv.h"
#include "tests/reference/temporal_conv.h"

namespace v3d {
namespace {

using kernels::TemporalConvShape;
using kernels::cpu::ConvPrecision;
using kernels::cpu::ConvPrecisionGuard;

// RMS of (got - reference) / RMS of the reference.
double relative_rms_error(const TemporalConvShape& s, ConvPrecision precision, std::string* path) {
  std::mt19937_64 rng(99 + static_cast<uint64_t>(s.c_in + s.dilation));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(s.batch * s.t_in * s.c_in)),
      w(static_cast<size_t>(s.c_out * s.c_in * s.k));
  for (float& v : x) v = normal(rng);
  for (float& v : w) v = normal(rng);
  std::vector<float> y(static_cast<size_t>(s.batch * s.t_out() * s.c_out));
  {
    ConvPrecisionGuard use(precision);
    *path = kernels::cpu::temporal_conv_fwd_path(s);
    kernels::cpu::temporal_conv_fwd(s, x.data(), w.data(), y.data());
  }
  const ref::ConvDims d{s.batch, s.t_in, s.c_in, s.c_out, s.k, s.dilation, s.stride};
  const ref::Vec want =
      ref::temporal_conv(ref::Vec(x.begin(), x.end()), ref::Vec(w.begin(), w.end()), d);
  double err2 = 0.0, ref2 = 0.0;
  for (size_t i = 0; i < y.size(); ++i) {
    err2 += (y[i] - want[i]) * (y[i] - want[i]);
    ref2 += want[i] * want[i];
  }
  return std::sqrt(err2 / ref2);
}

TEST(TemporalConvBf16, CloseToTheReferenceAtBfloat16Accuracy) {
  std::string why;
  if (!kernels::bf16_gemm_available(&why)) GTEST_SKIP() << "no bf16 GEMM here: " << why;
  using kernels::cpu::TemporalConvAlgo;
  const std::pair<TemporalConvShape, TemporalConvAlgo> cases[] = {
      // Winograd F(4,3) on a layer of the 27-frame model (forced: too few tiles for kAuto)
      {{1, 26 + 6, 1024, 1024, 3, 3, 1}, TemporalConvAlgo::kWinograd},
      {{2, 40, 256, 256, 1, 1, 1}, TemporalConvAlgo::kAuto},  // 1x1: sgemm on a view of x
      {{2, 60, 34, 128, 3, 1, 1}, TemporalConvAlgo::kAuto},   // the expand layer: im2col
      {{4, 27, 64, 96, 3, 1, 3}, TemporalConvAlgo::kAuto}};   // strided (the training form)
  for (const auto& [s, algo] : cases) {
    const kernels::cpu::TemporalConvAlgoGuard use(algo);
    std::string path32, path16;
    const double fp32 = relative_rms_error(s, ConvPrecision::kFp32, &path32);
    const double bf16 = relative_rms_error(s, ConvPrecision::kBf16, &path16);
    EXPECT_EQ(path32, path16);
    // bfloat16 keeps 8 significant bits: operands off by up to 2^-9 relative, so products by
    // ~2^-8; random signs average that down. float32 is ~1e-7.
    EXPECT_LT(fp32, 1e-6) << path32;
    EXPECT_GT(bf16, 1e-4) << path16 << ": no larger than float32's error; did bf16 run?";
    EXPECT_LT(bf16, 2e-2) << path16;
    std::printf("%-24s fp32 rel. RMS error %.2e, bf16 %.2e\n", path16.c_str(), fp32, bf16);
  }
  EXPECT_EQ(kernels::cpu::conv_fwd_precision(), ConvPrecision::kFp32);
}

}  // namespace
}  // namespace v3d
