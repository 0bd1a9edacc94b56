// Division by a divisor fixed at launch, for numerators below 2^31, as a multiply-high, an add and
// a shift instead of the twenty-odd instructions of a general 32-bit division (Granlund and
// Montgomery's method): for kernels that split a row index into (sequence, frame) in a hot loop.
// Host-compilable, so that tests check it against the division it replaces.
#pragma once

#include <cstdint>

#include "kernels/common.h"

namespace v3d::kernels {

struct FastDivmod {
  uint32_t divisor = 1, multiplier = 1;
  int shift = 0;

  FastDivmod() = default;
  // divisor in [1, 2^31]. With l the smallest exponent such that 2^l >= divisor, the multiplier
  // floor(2^32 (2^l - divisor) / divisor) + 1 is below 2^32 (2^l < 2 divisor).
  V3D_HOST_DEVICE explicit FastDivmod(uint32_t d) : divisor(d) {
    while ((uint64_t{1} << shift) < d) ++shift;
    multiplier = static_cast<uint32_t>((((uint64_t{1} << shift) - d) << 32) / d + 1);
  }

  // n / divisor for n < 2^31: t = floor(multiplier n / 2^32) <= n, so t + n does not overflow.
  V3D_HOST_DEVICE uint32_t div(uint32_t n) const {
    const auto t = static_cast<uint32_t>((uint64_t{multiplier} * n) >> 32);
    return (t + n) >> shift;
  }
  // n % divisor given q = div(n).
  V3D_HOST_DEVICE uint32_t mod(uint32_t n, uint32_t q) const { return n - q * divisor; }
};

}  // namespace v3d::kernels
