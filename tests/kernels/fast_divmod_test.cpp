// kernels/fast_divmod.h against the division it replaces: every divisor up to 4096 and the
// extremes up to 2^31, on numerators 0 .. 70000, the multiples of the divisor and their
// neighbours up to 2^31 - 1, and random ones below 2^31.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/fast_divmod.h"

namespace v3d {
namespace {

using kernels::FastDivmod;

::testing::AssertionResult divides(const FastDivmod& f, uint32_t n) {
  const uint32_t q = f.div(n);
  if (q == n / f.divisor && f.mod(n, q) == n % f.divisor) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << n << " / " << f.divisor << ": " << q << " remainder "
                                       << f.mod(n, q) << ", not " << n / f.divisor;
}

TEST(FastDivmod, AgreesWithDivisionBelow2To31) {
  constexpr uint32_t kLimit = 0x7fffffffu;  // the largest numerator it promises
  std::vector<uint32_t> divisors;
  for (uint32_t d = 1; d <= 4096; ++d) divisors.push_back(d);
  for (const uint32_t d : {65535u, 65536u, 65537u, 1000003u, 0x3fffffffu, 0x40000000u, 0x40000001u,
                           0x7ffffffeu, 0x7fffffffu, 0x80000000u}) {
    divisors.push_back(d);
  }
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> any(0, kLimit);
  for (const uint32_t d : divisors) {
    const FastDivmod f(d);
    ASSERT_EQ(f.divisor, d);
    for (uint32_t n = 0; n < (d <= 64 ? 70000u : 2000u); ++n) ASSERT_TRUE(divides(f, n));
    // Around multiples of d, spread over the whole range.
    const uint64_t step = d * std::max<uint64_t>(1, (uint64_t{kLimit} / d) / 512);
    for (uint64_t m = d; m <= kLimit; m += step) {
      for (const uint64_t n : {m - 1, m, m + 1}) {
        if (n <= kLimit) {
          ASSERT_TRUE(divides(f, static_cast<uint32_t>(n)));
        }
      }
    }
    for (int i = 0; i < 256; ++i) ASSERT_TRUE(divides(f, any(rng)));
    ASSERT_TRUE(divides(f, kLimit));
    ASSERT_TRUE(divides(f, kLimit - 1));
  }
}

}  // namespace
}  // namespace v3d
