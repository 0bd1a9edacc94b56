// CUDA backend of kernels/reduce.h. Two launches instead of float atomics, so that the result does
// not depend on block scheduling.
#include "kernels/cuda/block_reduce.cuh"
#include "kernels/gpu/check.h"
#include "kernels/gpu/compat.h"
#include "kernels/gpu/kind.h"
#include "kernels/reduce.h"

namespace v3d::kernels::V3D_GPU_NS {
namespace {

constexpr int kThreads =
    256;  // SumArgs::workspace_floats() assumes 256 threads x 4 items per block

// x: (n) -> partial: (gridDim.x)
__global__ void sum_partial_kernel(const float* __restrict__ x, int64_t n, float* partial) {
  float acc = 0.0f;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    acc += x[i];
  acc = block_sum<kThreads>(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// partial: (count) -> y: (1), one block.
__global__ void sum_final_kernel(const float* __restrict__ partial, int count, float alpha,
                                 float* y) {
  float acc = 0.0f;
  for (int i = threadIdx.x; i < count; i += blockDim.x) acc += partial[i];
  acc = block_sum<kThreads>(acc);
  if (threadIdx.x == 0) y[0] = alpha * acc;
}

}  // namespace
}  // namespace v3d::kernels::V3D_GPU_NS

namespace v3d::kernels::launch {

template <>
void sum<V3D_GPU_KIND>(const SumArgs& args, const float* x, float* y, float* workspace,
                       StreamHandle s) {
  namespace impl = ::v3d::kernels::V3D_GPU_NS;
  args.validate("sum");
  V3D_CHECK(workspace != nullptr, "sum: the CUDA sum needs a workspace");
  auto stream = static_cast<gpu::Stream>(s);
  const int blocks = static_cast<int>(args.workspace_floats());
  GPU_LAUNCH(impl::sum_partial_kernel, blocks, impl::kThreads, 0, stream, x, args.n, workspace);
  V3D_LAUNCH_CHECK("sum (partial)", stream);
  GPU_LAUNCH(impl::sum_final_kernel, 1, impl::kThreads, 0, stream, workspace, blocks, args.alpha,
             y);
  V3D_LAUNCH_CHECK("sum (final)", stream);
}

}  // namespace v3d::kernels::launch
