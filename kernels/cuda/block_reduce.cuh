// Block-wide reductions shared by the CUDA kernels (device code: include from .cu files only).
#pragma once

#include "kernels/gpu/compat.h"

namespace v3d::kernels::V3D_GPU_NS {

// Sum of v over a block of kThreads threads (a multiple of 32, at most 1024), valid in thread 0:
// warp shuffles, then one value per warp through shared memory and a last shuffle in warp 0. Every
// thread of the block must call it (it contains a barrier). The order of additions is fixed, so
// the result is deterministic.
template <int kThreads>
__device__ inline float block_sum(float v) {
  static_assert(kThreads % 32 == 0 && kThreads <= 1024, "block_sum: whole warps, <= 1024");
  constexpr int kWarps = kThreads / 32;
  GPU_SHARED(float, warp_sums, [kWarps]);
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  v = threadIdx.x < kWarps ? warp_sums[threadIdx.x] : 0.0f;
  if (warp == 0)
    for (int offset = kWarps / 2; offset > 0; offset >>= 1)
      v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

}  // namespace v3d::kernels::V3D_GPU_NS
