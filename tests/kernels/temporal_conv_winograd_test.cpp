// The CPU forward's Winograd F(m, 3) path (kernels/temporal_conv.h) against the double-precision
// reference, forced on (TemporalConvAlgo::kWinograd) over dilations 1 .. 81, output lengths whose
// residue chains are and are not multiples of the tile (partial tiles), batch 1 and 2, and channel
// counts that are not multiples of anything; one 1024 -> 1024 layer as the models run it. The
// output sits between NaN guards and starts as NaN, so a frame the path forgets or a write past
// the end shows. The contract's tolerance applies unchanged: |err| <= 1e-5 |want| + 2e-6 K C_in.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/temporal_conv.h"
#include "tests/reference/temporal_conv.h"

namespace v3d {
namespace {

using kernels::TemporalConvShape;
using kernels::cpu::TemporalConvAlgo;
using kernels::cpu::TemporalConvAlgoGuard;

struct WinogradCase {
  int64_t batch, t_out, c_in, c_out, dilation;
};

std::string describe(const WinogradCase& c) {
  std::ostringstream os;  // not "literal" + std::string: GCC 12's spurious -Werror=restrict
  os << "b" << c.batch << "_t" << c.t_out << "_c" << c.c_in << "to" << c.c_out << "_d"
     << c.dilation;
  return os.str();
}

struct Errors {
  double max_abs = 0.0, max_ratio = 0.0;  // ratio: err / (1e-5 |want| + 2e-6 K C_in)
};

// Runs the CPU forward under `algo` and compares it with the reference.
Errors run_and_compare(const WinogradCase& c, TemporalConvAlgo algo, bool expect_winograd) {
  TemporalConvShape s;
  s.batch = c.batch;
  s.t_in = c.t_out + 2 * c.dilation;
  s.c_in = c.c_in;
  s.c_out = c.c_out;
  s.k = 3;
  s.dilation = c.dilation;
  s.stride = 1;
  std::mt19937_64 rng(1234 + static_cast<uint64_t>(c.t_out * 7 + c.dilation));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(s.batch * s.t_in * s.c_in)),
      w(static_cast<size_t>(s.c_out * s.c_in * 3));
  for (float& v : x) v = normal(rng);
  for (float& v : w) v = normal(rng);
  const int64_t n_y = s.batch * s.t_out() * s.c_out, guard = 64;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> y(static_cast<size_t>(n_y + 2 * guard), nan);
  {
    TemporalConvAlgoGuard use(algo);
    EXPECT_EQ(kernels::cpu::temporal_conv_fwd_uses_winograd(s), expect_winograd)
        << kernels::cpu::temporal_conv_fwd_path(s);
    kernels::cpu::temporal_conv_fwd(s, x.data(), w.data(), y.data() + guard);
  }
  for (int64_t i = 0; i < guard; ++i) {
    EXPECT_TRUE(std::isnan(y[static_cast<size_t>(i)])) << "guard before y overwritten at " << i;
    EXPECT_TRUE(std::isnan(y[static_cast<size_t>(guard + n_y + i)]))
        << "guard after y overwritten at " << i;
  }
  const ref::ConvDims d{s.batch, s.t_in, s.c_in, s.c_out, 3, s.dilation, 1};
  const ref::Vec want =
      ref::temporal_conv(ref::Vec(x.begin(), x.end()), ref::Vec(w.begin(), w.end()), d);
  Errors e;
  int reported = 0;
  const double atol = 2e-6 * static_cast<double>(3 * s.c_in);
  for (int64_t i = 0; i < n_y; ++i) {
    const double got = y[static_cast<size_t>(guard + i)], ref = want[static_cast<size_t>(i)];
    const double err = std::fabs(got - ref), bound = 1e-5 * std::fabs(ref) + atol;
    if (!(err <= bound) && reported++ < 5) {
      const int64_t co = i % s.c_out, t = (i / s.c_out) % s.t_out(), b = i / s.c_out / s.t_out();
      ADD_FAILURE() << describe(c) << ": y[" << b << ", " << t << ", " << co << "] = " << got
                    << ", want " << ref << " (bound " << bound << ")";
    }
    if (std::isnan(err)) continue;
    e.max_abs = std::max(e.max_abs, err);
    e.max_ratio = std::max(e.max_ratio, err / bound);
  }
  return e;
}

class TemporalConvWinograd : public ::testing::TestWithParam<WinogradCase> {};

TEST_P(TemporalConvWinograd, MatchesDoubleReference) {
  const WinogradCase& c = GetParam();
  const Errors wino = run_and_compare(c, TemporalConvAlgo::kWinograd, true);
  const Errors direct = run_and_compare(c, TemporalConvAlgo::kDirect, false);
  // Printed so that the accuracy of the tile size stays visible (kernels/cpu/temporal_conv.cpp).
  std::printf("%-22s winograd max|err| %.3g (%.3f of the bound), direct %.3g (%.3f)\n",
              describe(c).c_str(), wino.max_abs, wino.max_ratio, direct.max_abs, direct.max_ratio);
}

// t_out is chosen per dilation so that each residue chain is a multiple of 4 frames or not.
INSTANTIATE_TEST_SUITE_P(
    Shapes, TemporalConvWinograd,
    ::testing::Values(WinogradCase{1, 8, 34, 64, 1},     // two whole tiles
                      WinogradCase{2, 11, 34, 64, 1},    // partial last tile, batch 2
                      WinogradCase{2, 24, 64, 65, 3},    // chains of 8
                      WinogradCase{1, 31, 64, 65, 3},    // chains of 11, 10, 10
                      WinogradCase{2, 36, 34, 64, 9},    // chains of 4
                      WinogradCase{1, 50, 64, 65, 9},    // chains of 6 and 5
                      WinogradCase{1, 108, 34, 64, 27},  // chains of 4
                      WinogradCase{2, 60, 64, 65, 27},   // chains of 3 and 2: partial tiles only
                      WinogradCase{1, 340, 34, 64, 81},  // chains of 5 and 4
                      WinogradCase{2, 324, 64, 65, 81},  // chains of 4
                      WinogradCase{1, 26, 1024, 1024, 3}),
    [](const ::testing::TestParamInfo<WinogradCase>& p) { return describe(p.param); });

TEST(TemporalConvWinogradSwitch, AutoTakesItOnlyWhereItPays) {
  TemporalConvAlgoGuard use(TemporalConvAlgo::kAuto);
  TemporalConvShape big{1, 1000, 1024, 1024, 3, 9, 1};
  EXPECT_TRUE(kernels::cpu::temporal_conv_fwd_uses_winograd(big));
  TemporalConvShape expand{1, 1000, 34, 1024, 3, 1, 1};  // few input channels
  EXPECT_FALSE(kernels::cpu::temporal_conv_fwd_uses_winograd(expand));
  TemporalConvShape strided{1, 999, 1024, 1024, 3, 1, 3};  // the training form
  EXPECT_FALSE(kernels::cpu::temporal_conv_fwd_uses_winograd(strided));
  TemporalConvShape pointwise{1, 1000, 1024, 1024, 1, 1, 1};
  EXPECT_FALSE(kernels::cpu::temporal_conv_fwd_uses_winograd(pointwise));
  TemporalConvShape short_seq{1, 21, 1024, 1024, 3, 9, 1};  // 3 frames: no whole tile
  EXPECT_FALSE(kernels::cpu::temporal_conv_fwd_uses_winograd(short_seq));
  kernels::cpu::set_temporal_conv_algo(TemporalConvAlgo::kDirect);
  EXPECT_FALSE(kernels::cpu::temporal_conv_fwd_uses_winograd(big));
  EXPECT_STREQ(kernels::cpu::temporal_conv_fwd_path(big), "im2col + sgemm");
}

}  // namespace
}  // namespace v3d
