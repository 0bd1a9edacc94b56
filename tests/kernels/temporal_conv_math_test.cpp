// The TF32 and BF16 forwards of the CPU backend (kernels/temporal_conv.h, ConvMath) are the
// float32 forward on rounded inputs, bit for bit, and the backward passes refuse them. The op
// harness compares every backend's TF32 forward with the double reference (tests/harness).
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

TEST(TemporalConvMath, BackwardPassesRefuseTf32AndBf16) {
  kernels::TemporalConvBwdDataArgs data;
  kernels::TemporalConvBwdWeightArgs weight;
  for (TemporalConvShape* s :
       {static_cast<TemporalConvShape*>(&data), static_cast<TemporalConvShape*>(&weight)}) {
    *s = TemporalConvShape{2, 9, 4, 5, 3, 1, 3};
  }
  for (const ConvMath math : {ConvMath::kTf32, ConvMath::kBf16}) {
    data.math = weight.math = math;
    EXPECT_THROW(data.validate(), Error);
    EXPECT_THROW(weight.validate(), Error);
  }
  data.math = weight.math = ConvMath::kFp32;
  EXPECT_NO_THROW(data.validate());
  EXPECT_NO_THROW(weight.validate());
}

}  // namespace
}  // namespace v3d
