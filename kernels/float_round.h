// Rounding of float32 to the tensor cores' input formats, bit for bit as the GPU's conversions
// round them, for the CPU implementations, the references and the emulator (kernels/cuda/mma.cuh
// uses the PTX instructions themselves under nvcc):
//
//   TF32  sign, 8 exponent bits and the upper 10 mantissa bits of a float32 (its upper 19 bits).
//         tf32_bits(x) is PTX `cvt.rn.tf32.f32`: round to nearest, ties to EVEN (as BF16), the
//         low 13 bits cleared. It is one instruction on sm_90 (F2FP), where cvt.rna (ties away)
//         takes three and would cost the TF32 convolutions' inner loop a third of its
//         instructions. Finite values that round past the largest finite TF32 become +-Inf;
//         Inf stays Inf; subnormals round like normals (a carry out of the mantissa gives the
//         smallest normal); every NaN becomes the canonical NaN 0x7FFFE000 (the PTX ISA
//         leaves the payload unspecified; an H200 returns 0x7FFFE000 for 0x7FC00000, the TF32
//         form of the GPU's canonical NaN 0x7FFFFFFF, as cvt.rn.bf16 returns 0x7FFF).
//   BF16  sign, 8 exponent bits, 7 mantissa bits: the upper half of a float32. bf16_bits(x) is
//         PTX `cvt.rn.bf16.f32`: round to nearest, ties to EVEN, subnormals kept (no flush),
//         overflow to +-Inf, every NaN to the canonical NaN 0x7FFF.
//
// The products of two TF32 (11-bit significands) or two BF16 values (8 bits) are exact in float32
// and double, which is what makes a double reference on rounded inputs a faithful reference of
// the tensor-core GEMMs.
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/common.h"

namespace v3d::kernels {

V3D_HOST_DEVICE inline uint32_t float_bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof(u));
  return u;
}

V3D_HOST_DEVICE inline float bits_to_float(uint32_t u) {
  float x;
  std::memcpy(&x, &u, sizeof(x));
  return x;
}

// PTX cvt.rn.tf32.f32: the TF32 value as a float32 bit pattern (low 13 bits zero).
V3D_HOST_DEVICE inline uint32_t tf32_bits(float x) {
  const uint32_t u = float_bits(x);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FFFE000u;  // NaN: canonical
  if ((u & 0x7F800000u) == 0x7F800000u) return u;           // Inf: no rounding carry
  // Half of the dropped range, minus one unless the kept part is odd: ties go to even. A carry
  // propagates into the exponent (and to Inf past the largest finite value).
  return (u + 0x00000FFFu + ((u >> 13) & 1u)) & 0xFFFFE000u;
}

V3D_HOST_DEVICE inline float round_tf32(float x) { return bits_to_float(tf32_bits(x)); }

// PTX cvt.rn.bf16.f32: the BF16 bit pattern.
V3D_HOST_DEVICE inline uint16_t bf16_bits(float x) {
  const uint32_t u = float_bits(x);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FFFu;  // NaN
  // Half of the dropped range, minus one unless the kept part is odd: ties go to even.
  return static_cast<uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

V3D_HOST_DEVICE inline float bf16_to_float(uint16_t h) {
  return bits_to_float(static_cast<uint32_t>(h) << 16);
}

V3D_HOST_DEVICE inline float round_bf16(float x) { return bf16_to_float(bf16_bits(x)); }

}  // namespace v3d::kernels
