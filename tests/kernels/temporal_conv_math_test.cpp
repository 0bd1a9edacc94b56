// The TF32 and BF16 passes of the CPU backend (kernels/temporal_conv.h, ConvMath) are the float32
// passes on rounded operands, bit for bit: x and w for the forward, d_y and w for bwd_data, x and
// d_y for bwd_weight. The op harness compares every backend's TF32 and BF16 passes with the
// double reference (tests/harness).
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "kernels/float_round.h"
#include "kernels/temporal_conv.h"

namespace v3d {
namespace {

using kernels::ConvMath;
using kernels::TemporalConvShape;

TEST(TemporalConvMath, CpuIsTheFloat32PathOnRoundedInputs) {
  for (const ConvMath math : {ConvMath::kTf32, ConvMath::kBf16}) {
    const auto round = [math](float v) {
      return math == ConvMath::kBf16 ? kernels::round_bf16(v) : kernels::round_tf32(v);
    };
    const TemporalConvShape shapes[] = {{2, 27, 34, 37, 3, 1, 3},  // strided (a view of x)
                                        {1, 40, 20, 16, 3, 9, 1},  // dilated (im2col)
                                        {2, 13, 37, 34, 1, 1, 1}};
    for (TemporalConvShape s : shapes) {
      std::mt19937_64 rng(7);
      std::normal_distribution<float> normal(0.0f, 1.0f);
      std::vector<float> x(static_cast<size_t>(s.batch * s.t_in * s.c_in)),
          w(static_cast<size_t>(s.c_out * s.c_in * s.k));
      for (float& v : x) v = normal(rng);
      for (float& v : w) v = normal(rng);
      std::vector<float> xr = x, wr = w;
      for (float& v : xr) v = round(v);
      for (float& v : wr) v = round(v);
      const size_t n_y = static_cast<size_t>(s.batch * s.t_out() * s.c_out);
      std::vector<float> rounded(n_y), fp32_rounded(n_y), fp32(n_y);
      kernels::cpu::temporal_conv_fwd(s, xr.data(), wr.data(), fp32_rounded.data());
      kernels::cpu::temporal_conv_fwd(s, x.data(), w.data(), fp32.data());
      s.math = math;
      kernels::cpu::temporal_conv_fwd(s, x.data(), w.data(), rounded.data());
      EXPECT_EQ(rounded, fp32_rounded);
      EXPECT_NE(rounded, fp32) << "the inputs were not rounded";
    }
  }
}

std::vector<float> normal_values(size_t n, std::mt19937_64& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& e : v) e = normal(rng);
  return v;
}

TEST(TemporalConvMath, CpuBackwardPassesAreTheFloat32PathsOnRoundedOperands) {
  for (const ConvMath math : {ConvMath::kTf32, ConvMath::kBf16}) {
    const auto rounded = [math](std::vector<float> v) {
      for (float& e : v)
        e = math == ConvMath::kBf16 ? kernels::round_bf16(e) : kernels::round_tf32(e);
      return v;
    };
    const TemporalConvShape shapes[] = {{2, 27, 34, 37, 3, 1, 3},  // strided: disjoint windows
                                        {1, 40, 20, 16, 3, 9, 1},  // dilated: overlapping
                                        {2, 13, 37, 34, 1, 1, 1}};
    for (TemporalConvShape s : shapes) {
      std::mt19937_64 rng(11);
      const std::vector<float> x =
          normal_values(static_cast<size_t>(s.batch * s.t_in * s.c_in), rng);
      const std::vector<float> w = normal_values(static_cast<size_t>(s.c_out * s.c_in * s.k), rng);
      const std::vector<float> d_y =
          normal_values(static_cast<size_t>(s.batch * s.t_out() * s.c_out), rng);
      std::vector<float> d_x(x.size()), d_x_want(x.size()), d_x_fp32(x.size());
      std::vector<float> d_w(w.size()), d_w_want(w.size()), d_w_fp32(w.size());
      kernels::cpu::temporal_conv_bwd_data(s, rounded(d_y).data(), rounded(w).data(),
                                           d_x_want.data());
      kernels::cpu::temporal_conv_bwd_weight(s, rounded(x).data(), rounded(d_y).data(),
                                             d_w_want.data());
      kernels::cpu::temporal_conv_bwd_data(s, d_y.data(), w.data(), d_x_fp32.data());
      kernels::cpu::temporal_conv_bwd_weight(s, x.data(), d_y.data(), d_w_fp32.data());
      s.math = math;
      kernels::cpu::temporal_conv_bwd_data(s, d_y.data(), w.data(), d_x.data());
      kernels::cpu::temporal_conv_bwd_weight(s, x.data(), d_y.data(), d_w.data());
      EXPECT_EQ(d_x, d_x_want);
      EXPECT_EQ(d_w, d_w_want);
      EXPECT_NE(d_x, d_x_fp32) << "d_y and w were not rounded";
      EXPECT_NE(d_w, d_w_fp32) << "x and d_y were not rounded";
    }
  }
}

// The backward args take every math; the tensor-core bwd_data gathers overlapping taps itself, so
// only the float32 one needs the d_X_col workspace, and the tensor-core one the weights permuted
// tap-major (as its forward does; K = 1 needs no permutation).
TEST(TemporalConvMath, BackwardPassesTakeEveryMath) {
  kernels::TemporalConvBwdDataArgs data;
  kernels::TemporalConvBwdWeightArgs weight;
  for (TemporalConvShape* s :
       {static_cast<TemporalConvShape*>(&data), static_cast<TemporalConvShape*>(&weight)}) {
    *s = TemporalConvShape{2, 30, 4, 5, 3, 3, 1};  // dilated: overlapping windows
  }
  const int64_t fp32_workspace = data.workspace_floats();
  EXPECT_EQ(fp32_workspace, data.rows() * data.reduction());
  for (const ConvMath math : {ConvMath::kFp32, ConvMath::kTf32, ConvMath::kBf16}) {
    data.math = weight.math = math;
    EXPECT_NO_THROW(data.validate());
    EXPECT_NO_THROW(weight.validate());
    const int64_t tap_major = math == ConvMath::kFp32 ? 0 : 5 * 3 * 4;
    EXPECT_EQ(data.workspace_floats(), math == ConvMath::kFp32 ? fp32_workspace : tap_major);
    EXPECT_EQ(kernels::temporal_conv_workspace_floats(data, kernels::TemporalConvPass::kForward),
              tap_major);
  }
  TemporalConvShape pointwise{2, 30, 4, 5, 1, 1, 1};
  pointwise.math = ConvMath::kTf32;
  EXPECT_EQ(pointwise.workspace_floats(), 0);
}

// BF16 with whole 16-byte runs of the reduction operand (C_in % 8 = 0 for the forward, C_out % 8 =
// 0 for bwd_data, both for bwd_weight, whose runs are along the channels) runs on BF16 copies of
// both operands, made in the workspace: the activation or gradient operand, then the weights, two
// elements per float; for bwd_weight the split's partial sums, then d_y and x.
TEST(TemporalConvMath, Bf16CopiesWhereTheRunsAreWhole16ByteVectors) {
  using kernels::TemporalConvPass;
  TemporalConvShape s{2, 30, 8, 5, 3, 3, 1};  // C_in 8, C_out 5
  s.math = ConvMath::kBf16;
  EXPECT_TRUE(kernels::temporal_conv_tc_bf16_staged(s, TemporalConvPass::kForward));
  EXPECT_FALSE(kernels::temporal_conv_tc_bf16_staged(s, TemporalConvPass::kBackwardData));
  EXPECT_FALSE(kernels::temporal_conv_tc_bf16_staged(s, TemporalConvPass::kBackwardWeight));
  const int64_t x = 2 * 30 * 8, w = 5 * 8 * 3;
  EXPECT_EQ(s.workspace_floats(), (x + w + 1) / 2);
  s.c_out = 16;  // d_y (2, 24, 16)
  EXPECT_TRUE(kernels::temporal_conv_tc_bf16_staged(s, TemporalConvPass::kBackwardData));
  EXPECT_EQ(kernels::temporal_conv_workspace_floats(s, TemporalConvPass::kBackwardData),
            (2 * 24 * 16 + 16 * 8 * 3) / 2);
  EXPECT_TRUE(kernels::temporal_conv_tc_bf16_staged(s, TemporalConvPass::kBackwardWeight));
  EXPECT_EQ(kernels::temporal_conv_workspace_floats(s, TemporalConvPass::kBackwardWeight),
            (2 * 24 * 16 + 2 * 30 * 8 + 1) / 2);
  s.t_in = 29;  // x (2, 29, 8)
  EXPECT_EQ(s.workspace_floats(), (2 * 29 * 8 + 16 * 8 * 3) / 2);
  EXPECT_EQ(kernels::temporal_conv_workspace_floats(s, TemporalConvPass::kBackwardWeight),
            (2 * 23 * 16 + 2 * 29 * 8 + 1) / 2);
  s.c_in = 9;
  EXPECT_FALSE(kernels::temporal_conv_tc_bf16_staged(s, TemporalConvPass::kForward));
  EXPECT_EQ(s.workspace_floats(), 16 * 9 * 3) << "tap-major weights only";
  s.c_in = 8;
  for (const ConvMath math : {ConvMath::kFp32, ConvMath::kTf32}) {
    s.math = math;
    EXPECT_FALSE(kernels::temporal_conv_tc_bf16_staged(s, TemporalConvPass::kForward));
  }
  s.math = ConvMath::kBf16;
  s.backend = kernels::ConvBackend::kCublasLt;
  EXPECT_FALSE(kernels::temporal_conv_tc_bf16_staged(s, TemporalConvPass::kForward));
  EXPECT_FALSE(kernels::temporal_conv_tc_bf16_staged(s, TemporalConvPass::kBackwardWeight));
}

// The staged bwd_weight reduces 32 rows per slice, so its splits are whole 32-row slices (the
// others' whole 16-row ones), and its workspace holds the partial sums, then d_y and x in BF16.
TEST(TemporalConvMath, StagedBf16WeightGradientSplitsWholeSlices) {
  using kernels::TemporalConvPass;
  TemporalConvShape s{10, 106, 8, 16, 3, 1, 1};  // 1040 rows, one 128 x 64 tile: 5 splits
  s.math = ConvMath::kTf32;
  EXPECT_EQ(kernels::temporal_conv_weight_split(s).splits, 5);
  EXPECT_EQ(kernels::temporal_conv_weight_split(s).chunk, 208);
  s.math = ConvMath::kBf16;
  ASSERT_TRUE(kernels::temporal_conv_tc_bf16_staged(s, TemporalConvPass::kBackwardWeight));
  const kernels::TemporalConvSplit split = kernels::temporal_conv_weight_split(s);
  EXPECT_EQ(split.splits, 5);
  EXPECT_EQ(split.chunk, 224);
  const int64_t partials = 5 * 16 * 24, d_y = 1040 * 16, x = 10 * 106 * 8;
  EXPECT_EQ(kernels::temporal_conv_workspace_floats(s, TemporalConvPass::kBackwardWeight),
            partials + (d_y + x + 1) / 2);
}

}  // namespace
}  // namespace v3d
