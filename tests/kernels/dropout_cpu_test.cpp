// The CPU dropout (kernels/cpu/dropout.cpp) against the scalar definition of kernels/dropout.h,
// bit for bit: whichever path the CPU takes (AVX-512 blocks of 64 elements, the scalar tail, the
// scalar loop elsewhere), every element must equal keep ? x * scale : 0 with the mask of
// dropout_keep4. Sizes cover empty, below one block, block edges, tails, and the parallel range.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/dropout.h"
#include "kernels/dropout_mask.h"
#include "tests/test_util.h"

namespace v3d {
namespace {

std::vector<float> expected_dropout(const std::vector<float>& x, float p, uint64_t seed,
                                    uint64_t offset) {
  const int64_t n = static_cast<int64_t>(x.size());
  const float scale = kernels::dropout_scale(p);
  std::vector<float> y(x.size());
  for (int64_t g = 0; 4 * g < n; ++g) {
    bool keep[4];
    kernels::dropout_keep4(static_cast<uint64_t>(g), p, seed, offset, keep);
    for (int64_t i = 4 * g; i < std::min(n, 4 * g + 4); ++i)
      y[i] = keep[i - 4 * g] ? x[i] * scale : 0.0f;
  }
  return y;
}

TEST(DropoutCpu, MatchesScalarDefinitionBitForBit) {
  std::mt19937 rng(7u);
  std::normal_distribution<float> normal;
  const int64_t sizes[] = {0, 1, 3, 4, 63, 64, 65, 127, 1000, 4096 + 61, (1 << 16) + 5, 1 << 20};
  const float ps[] = {0.0f, 0.25f, 0.5f, 0.9f};
  const uint64_t offsets[] = {0, 17, 0xFFFFFFFFull, 0x1234567890ABCDEFull};
  for (const int64_t n : sizes) {
    std::vector<float> x(static_cast<size_t>(n));
    for (float& v : x) v = normal(rng);
    if (n > 2) {
      x[1] = -0.0f;
      x[2] = std::numeric_limits<float>::infinity();
    }
    for (const float p : ps) {
      for (const uint64_t offset : offsets) {
        const uint64_t seed =
            0xC0FFEE0000000001ull ^ static_cast<uint64_t>(n) * 0x9E3779B97F4A7C15ull;
        const std::vector<float> want = expected_dropout(x, p, seed, offset);
        // Guard element past the end: the kernel must not write beyond n.
        std::vector<float> y(x.size() + 1, 42.0f), d(x.size() + 1, 42.0f);
        kernels::cpu::dropout_fwd({n, p, seed, offset}, x.data(), y.data());
        kernels::cpu::dropout_bwd({n, p, seed, offset}, x.data(), d.data());
        const std::string what = "n=" + std::to_string(n) + " p=" + std::to_string(p) +
                                 " offset=" + std::to_string(offset);
        ASSERT_TRUE(test_util::same_bits(std::span(y).first(want.size()), want)) << what;
        ASSERT_TRUE(test_util::same_bits(std::span(d).first(want.size()), want)) << what;
        EXPECT_EQ(y.back(), 42.0f) << what;
        EXPECT_EQ(d.back(), 42.0f) << what;
      }
    }
  }
}

// The fused relu_dropout against relu followed by dropout, and its backward against dropout_bwd
// followed by relu_bwd (the definitions of kernels/dropout.h), bit for bit.
TEST(DropoutCpu, ReluDropoutEqualsTheUnfusedPair) {
  std::mt19937 rng(11u);
  std::normal_distribution<float> normal;
  for (const int64_t n : {int64_t{0}, int64_t{5}, int64_t{64}, int64_t{200}, int64_t{70001}}) {
    std::vector<float> x(static_cast<size_t>(n)), d_y(static_cast<size_t>(n));
    for (float& v : x) v = normal(rng);
    for (float& v : d_y) v = normal(rng);
    if (n > 3) {
      x[0] = 0.0f;
      x[1] = -0.0f;
      x[2] = std::numeric_limits<float>::quiet_NaN();
      x[3] = -std::numeric_limits<float>::infinity();
    }
    const float p = 0.25f;
    const uint64_t seed = 77, offset = 0x100000003ull;
    std::vector<float> r(x.size()), want_y(x.size()), want_d(x.size()), tmp(x.size());
    for (size_t i = 0; i < x.size(); ++i) r[i] = x[i] > 0.0f ? x[i] : 0.0f;
    kernels::cpu::dropout_fwd({n, p, seed, offset}, r.data(), want_y.data());
    kernels::cpu::dropout_bwd({n, p, seed, offset}, d_y.data(), tmp.data());
    for (size_t i = 0; i < x.size(); ++i) want_d[i] = x[i] > 0.0f ? tmp[i] : 0.0f;

    std::vector<float> y(x.size()), d_x(x.size());
    kernels::cpu::relu_dropout_fwd({n, p, seed, offset}, x.data(), y.data());
    kernels::cpu::relu_dropout_bwd({n, p, seed, offset}, x.data(), d_y.data(), d_x.data());
    EXPECT_TRUE(test_util::same_bits(y, want_y)) << "n=" << n;
    EXPECT_TRUE(test_util::same_bits(d_x, want_d)) << "n=" << n;
  }
}

}  // namespace
}  // namespace v3d
