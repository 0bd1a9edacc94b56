// Which copy of a .cu file is being compiled (see cmake/V3dGpu.cmake): nvcc builds the real
// CUDA launchers, the host compiler builds the emulated ones. Launchers are explicit
// specialisations of templates over GpuKind, so both copies link into one program.
#pragma once

#include "kernels/common.h"

#if defined(__CUDACC__)
#define V3D_GPU_KIND ::v3d::kernels::GpuKind::kCuda
#else
#define V3D_GPU_KIND ::v3d::kernels::GpuKind::kEmu
#endif

namespace v3d::kernels {

// Grid size for a grid-stride loop over n items: enough blocks to fill a large GPU, never more
// than the items need, at least one so that n = 0 still launches legally.
inline unsigned grid_for(int64_t n, int threads, int64_t max_blocks = 4096) {
  int64_t blocks = (n + threads - 1) / threads;
  if (blocks > max_blocks) blocks = max_blocks;
  if (blocks < 1) blocks = 1;
  return static_cast<unsigned>(blocks);
}

}  // namespace v3d::kernels
