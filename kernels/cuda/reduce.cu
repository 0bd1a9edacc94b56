// CUDA backend of kernels/reduce.h. Two launches instead of float atomics, so that the result does
// not depend on block scheduling.
#include "kernels/gpu/check.h"
#include "kernels/gpu/compat.h"
#include "kernels/gpu/kind.h"
#include "kernels/reduce.h"

namespace v3d::kernels::V3D_GPU_NS {
namespace {

constexpr int kThreads = 256;  // sum_workspace_floats() assumes 256 threads x 4 items per block
constexpr int kWarps = kThreads / 32;

// Sum of v over the block, valid in thread 0. Warp shuffles first, then one value per warp goes
// through shared memory.
__device__ float block_sum(float v) {
  __shared__ float warp_sums[kWarps];
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

// x: (n) -> partial: (gridDim.x)
__global__ void sum_partial_kernel(const float* __restrict__ x, int64_t n, float* partial) {
  float acc = 0.0f;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    acc += x[i];
  acc = block_sum(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// partial: (count) -> y: (1), one block.
__global__ void sum_final_kernel(const float* __restrict__ partial, int count, float alpha,
                                 float* y) {
  float acc = 0.0f;
  for (int i = threadIdx.x; i < count; i += blockDim.x) acc += partial[i];
  acc = block_sum(acc);
  if (threadIdx.x == 0) y[0] = alpha * acc;
}

}  // namespace
}  // namespace v3d::kernels::V3D_GPU_NS

namespace v3d::kernels::launch {

template <>
void sum<V3D_GPU_KIND>(const float* x, int64_t n, float alpha, float* y, float* workspace,
                       StreamHandle s) {
  namespace impl = ::v3d::kernels::V3D_GPU_NS;
  V3D_CHECK(n >= 0, "sum: negative element count " << n);
  V3D_CHECK(workspace != nullptr, "sum: the CUDA sum needs a workspace");
  auto stream = static_cast<gpu::Stream>(s);
  const int blocks = static_cast<int>(sum_workspace_floats(n));
  GPU_LAUNCH(impl::sum_partial_kernel, blocks, impl::kThreads, 0, stream, x, n, workspace);
  V3D_LAUNCH_CHECK("sum (partial)", stream);
  GPU_LAUNCH(impl::sum_final_kernel, 1, impl::kThreads, 0, stream, workspace, blocks, alpha, y);
  V3D_LAUNCH_CHECK("sum (final)", stream);
}

}  // namespace v3d::kernels::launch
