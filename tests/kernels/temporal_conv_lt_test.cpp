// The plans of the cuBLASLt backend (kernels/temporal_conv_lt.h), run on host memory with the CPU
// sgemm, against the double references: every view, stride, zeroing and permutation of every plan
// form. The op harness runs the same plans through the CUDA launcher on the emulated device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/float_round.h"
#include "kernels/temporal_conv_lt.h"
#include "tests/reference/temporal_conv.h"

namespace v3d {
namespace {

using kernels::ConvMath;
using kernels::LtPlan;
using kernels::TemporalConvPass;
using kernels::TemporalConvShape;

std::vector<float> normal(std::mt19937_64& rng, int64_t n) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

ref::Vec widen(const std::vector<float>& v) { return ref::Vec(v.begin(), v.end()); }

// |got - want| <= 1e-5 |want| + 2e-6 * terms, elementwise (the contract's float32 bound).
void expect_close(const std::vector<float>& got, const ref::Vec& want, int64_t terms,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    const double bound = 1e-5 * std::fabs(want[i]) + 2e-6 * static_cast<double>(terms);
    ASSERT_LE(std::fabs(got[i] - want[i]), bound) << what << " element " << i;
  }
}

struct Case {
  TemporalConvShape s;
  const char* form;
};

// One shape of every plan form: contiguous windows over evenly spaced rows (one GEMM), over
// unevenly spaced rows (a batch), per-tap GEMMs (dilated, overlapping, gapped), K = 1.
const Case kCases[] = {
    {{3, 27, 34, 37, 3, 1, 3}, "strided, rows evenly spaced: one GEMM"},
    {{2, 11, 5, 13, 3, 1, 3}, "strided with 2 leftover frames: a batch, tail zeroed"},
    {{2, 17, 3, 4, 3, 1, 5}, "stride > K: gaps zeroed"},
    {{2, 20, 6, 5, 3, 3, 1}, "dilation 3: per-tap GEMMs over a batch"},
    {{1, 170, 2, 3, 3, 81, 1}, "dilation 81, batch 1"},
    {{2, 15, 6, 7, 3, 1, 2}, "overlapping strided windows"},
    {{2, 17, 3, 4, 2, 3, 5}, "dilation 3 stride 5"},
    {{2, 13, 37, 34, 1, 1, 1}, "pointwise"},
    {{2, 9, 5, 6, 1, 1, 2}, "pointwise stride 2, uneven rows"},
    {{4, 18, 5, 6, 1, 1, 3}, "pointwise stride 3, even rows"},
};

TEST(TemporalConvLt, PlansMatchTheReferenceInEveryForm) {
  for (const Case& c : kCases) {
    const TemporalConvShape s = c.s;
    const ref::ConvDims d{s.batch, s.t_in, s.c_in, s.c_out, s.k, s.dilation, s.stride};
    std::mt19937_64 rng(11);
    const std::vector<float> x = normal(rng, s.batch * s.t_in * s.c_in);
    const std::vector<float> w = normal(rng, s.c_out * s.c_in * s.k);
    const std::vector<float> d_y = normal(rng, s.rows() * s.c_out);
    const std::string what =
        std::string(c.form) + " (" + std::to_string(s.batch) + "x" + std::to_string(s.t_in) + ")";

    std::vector<float> y(static_cast<size_t>(s.rows() * s.c_out), NAN);
    std::vector<float> ws(static_cast<size_t>(
        kernels::temporal_conv_lt_workspace_floats(s, TemporalConvPass::kForward)));
    kernels::cpu::run_lt_plan(
        kernels::temporal_conv_lt_plan(s, TemporalConvPass::kForward, x.data(), w.data(), y.data(),
                                       ws.data()),
        s);
    expect_close(y, ref::temporal_conv(widen(x), widen(w), d), s.k * s.c_in, "fwd " + what);

    // NaN in the outputs: every element must be written (frames no tap reads become 0).
    std::vector<float> d_x(x.size(), NAN);
    kernels::cpu::run_lt_plan(
        kernels::temporal_conv_lt_plan(s, TemporalConvPass::kBackwardData, d_y.data(), w.data(),
                                       d_x.data(), ws.data()),
        s);
    expect_close(d_x, ref::temporal_conv_bwd_data(widen(d_y), widen(w), d), s.k * s.c_out,
                 "bwd_data " + what);

    std::vector<float> d_w(w.size(), NAN);
    kernels::cpu::run_lt_plan(
        kernels::temporal_conv_lt_plan(s, TemporalConvPass::kBackwardWeight, x.data(), d_y.data(),
                                       d_w.data(), ws.data()),
        s);
    expect_close(d_w, ref::temporal_conv_bwd_weight(widen(x), widen(d_y), d), s.rows(),
                 "bwd_weight " + what);
  }
}

TEST(TemporalConvLt, PlanFormsAreTheDocumentedOnes) {
  std::vector<float> ws(1 << 22);
  float* p = ws.data();
  // Training layer, rows evenly spaced: one GEMM per pass over all B*T_out rows, no zeroing.
  const TemporalConvShape train{1024, 9, 1024, 1024, 3, 1, 3};
  LtPlan fwd = kernels::temporal_conv_lt_plan(train, TemporalConvPass::kForward, p, p, p, p);
  ASSERT_EQ(fwd.gemms.size(), 1u);
  EXPECT_EQ(fwd.gemms[0].batch, 1);
  EXPECT_EQ(fwd.gemms[0].g.m, 1024 * 3);
  EXPECT_EQ(fwd.gemms[0].g.k, 3 * 1024);
  EXPECT_EQ(fwd.gemms[0].g.lda, 3 * 1024);
  EXPECT_NE(fwd.permute_to, nullptr);
  LtPlan data = kernels::temporal_conv_lt_plan(train, TemporalConvPass::kBackwardData, p, p, p, p);
  EXPECT_EQ(data.zero, nullptr) << "every frame is written by the beta = 0 GEMM";
  LtPlan weight =
      kernels::temporal_conv_lt_plan(train, TemporalConvPass::kBackwardWeight, p, p, p, p);
  ASSERT_EQ(weight.gemms.size(), 1u);
  EXPECT_EQ(weight.gemms[0].g.k, 1024 * 3);
  EXPECT_NE(weight.unpermute_to, nullptr);
  // Dilated inference layer: one GEMM per tap, accumulating after the first.
  const TemporalConvShape dilated{1, 2000, 64, 64, 3, 9, 1};
  fwd = kernels::temporal_conv_lt_plan(dilated, TemporalConvPass::kForward, p, p, p, p);
  ASSERT_EQ(fwd.gemms.size(), 3u);
  EXPECT_EQ(fwd.gemms[0].g.beta, 0.0f);
  EXPECT_EQ(fwd.gemms[2].g.beta, 1.0f);
  EXPECT_EQ(fwd.gemms[2].g.a, p + 2 * 9 * 64);
  // Pointwise: w is used in place.
  const TemporalConvShape pointwise{2, 5, 8, 8, 1, 1, 1};
  fwd = kernels::temporal_conv_lt_plan(pointwise, TemporalConvPass::kForward, p, p, p, p);
  EXPECT_EQ(fwd.permute_to, nullptr);
}

// kTf32 and kBf16 are fp32 GEMMs of the operands rounded to TF32 or BF16 (the emulation's
// contract; cuBLAS's own rounding is held to the same bound on a GPU by the op harness).
TEST(TemporalConvLt, Tf32AndBf16RoundTheOperands) {
  for (const ConvMath math : {ConvMath::kTf32, ConvMath::kBf16}) {
    TemporalConvShape s{2, 20, 6, 5, 3, 3, 1};
    std::mt19937_64 rng(3);
    const std::vector<float> x = normal(rng, s.batch * s.t_in * s.c_in);
    const std::vector<float> w = normal(rng, s.c_out * s.c_in * s.k);
    std::vector<float> xr = x, wr = w;
    const auto round = [math](float v) {
      return math == ConvMath::kBf16 ? kernels::round_bf16(v) : kernels::round_tf32(v);
    };
    for (float& v : xr) v = round(v);
    for (float& v : wr) v = round(v);
    std::vector<float> ws(static_cast<size_t>(
        kernels::temporal_conv_lt_workspace_floats(s, TemporalConvPass::kForward)));
    std::vector<float> fp32_rounded(static_cast<size_t>(s.rows() * s.c_out)), got(fp32_rounded);
    kernels::cpu::run_lt_plan(
        kernels::temporal_conv_lt_plan(s, TemporalConvPass::kForward, xr.data(), wr.data(),
                                       fp32_rounded.data(), ws.data()),
        s);
    s.math = math;
    kernels::cpu::run_lt_plan(
        kernels::temporal_conv_lt_plan(s, TemporalConvPass::kForward, x.data(), w.data(),
                                       got.data(), ws.data()),
        s);
    EXPECT_EQ(got, fp32_rounded);
    EXPECT_NE(got, [&] {
      std::vector<float> plain(got.size());
      TemporalConvShape f = s;
      f.math = ConvMath::kFp32;
      kernels::cpu::run_lt_plan(
          kernels::temporal_conv_lt_plan(f, TemporalConvPass::kForward, x.data(), w.data(),
                                         plain.data(), ws.data()),
          f);
      return plain;
    }()) << "the rounding changes the result";
  }
}

TEST(TemporalConvLt, AlignmentIsWhatEveryBatchEntryHas) {
  alignas(256) static float buffer[512];
  EXPECT_EQ(kernels::lt_alignment(buffer, 0), 256);
  EXPECT_EQ(kernels::lt_alignment(buffer + 1, 0), 4);
  EXPECT_EQ(kernels::lt_alignment(buffer + 4, 0), 16);
  EXPECT_EQ(kernels::lt_alignment(buffer, 6), 8) << "a stride of 6 floats leaves 8-byte entries";
  EXPECT_EQ(kernels::lt_alignment(buffer + 64, 128), 256);
}

}  // namespace
}  // namespace v3d
