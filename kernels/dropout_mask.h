// The dropout mask of kernels/dropout.h, shared by the CPU and CUDA implementations so both
// evaluate literally the same expression.
#pragma once

#include "kernels/philox.h"

namespace v3d::kernels {

// Keep flags for the four elements 4g .. 4g+3.
V3D_HOST_DEVICE inline void dropout_keep4(uint64_t g, float p, uint64_t seed, uint64_t offset,
                                          bool keep[4]) {
  const Philox4x32 r =
      philox4x32_10(static_cast<uint32_t>(g), static_cast<uint32_t>(g >> 32),
                    static_cast<uint32_t>(offset), static_cast<uint32_t>(offset >> 32),
                    static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
  for (int j = 0; j < 4; ++j) keep[j] = philox_uniform(r.v[j]) >= p;
}

inline float dropout_scale(float p) { return 1.0f / (1.0f - p); }

}  // namespace v3d::kernels
