// CUDA backend of kernels/loss.h. The forward is a deterministic two-pass reduction (per-block
// partial sums into a workspace, then one block over the partials) instead of float atomics, so
// the loss does not depend on block scheduling. The backward is one thread per point (n, j): its
// coordinates (3, or 2 for the reprojection error) share one norm.
#include "kernels/cuda/block_reduce.cuh"
#include "kernels/gpu/check.h"
#include "kernels/gpu/compat.h"
#include "kernels/gpu/kind.h"
#include "kernels/loss.h"

namespace v3d::kernels::V3D_GPU_NS {
namespace {

constexpr int kThreads =
    256;  // MpjpeArgs::workspace_floats() assumes 256 threads x 4 points per block

// pred, target: (points, D) with points = N * J; w: (N) or nullptr -> partial: (gridDim.x), the
// weighted distances of this block's grid-stride share.
__global__ void mpjpe_partial_kernel(const float* __restrict__ pred,
                                     const float* __restrict__ target, const float* __restrict__ w,
                                     int64_t joints, int64_t points, int64_t coords,
                                     float* partial) {
  float acc = 0.0f;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; p < points;
       p += stride) {
    float d[3];
    acc += (w != nullptr ? w[p / joints] : 1.0f) * mpjpe_point_distance(pred, target, p, coords, d);
  }
  acc = block_sum<kThreads>(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// partial: (count) -> loss: (1) = inv_points * sum(partial); one block.
__global__ void mpjpe_final_kernel(const float* __restrict__ partial, int count, float inv_points,
                                   float* loss) {
  float acc = 0.0f;
  for (int i = threadIdx.x; i < count; i += blockDim.x) acc += partial[i];
  acc = block_sum<kThreads>(acc);
  if (threadIdx.x == 0) loss[0] = inv_points * acc;
}

// pred, target, d_pred: (points, D); w: (N) or nullptr; d_loss: (1). d_pred overwritten.
__global__ void mpjpe_bwd_kernel(const float* __restrict__ pred, const float* __restrict__ target,
                                 const float* __restrict__ w, const float* __restrict__ d_loss,
                                 int64_t joints, int64_t points, int64_t coords, float inv_points,
                                 float* d_pred) {
  // Read on the device: the seed of the backward pass never visits the host.
  const float scale = d_loss[0] * inv_points;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; p < points;
       p += stride) {
    float d[3];
    const float dist = mpjpe_point_distance(pred, target, p, coords, d);
    // Zero distance: subgradient 0 (see kernels/loss.h), never 0 / 0.
    const float k = dist > 0.0f ? (w != nullptr ? scale * w[p / joints] : scale) / dist : 0.0f;
    for (int64_t c = 0; c < coords; ++c) d_pred[p * coords + c] = k * d[c];
  }
}

// 1 / points rounded once from double, the same float the CPU backend uses.
float inverse_count(int64_t points) {
  return static_cast<float>(1.0 / static_cast<double>(points));
}

}  // namespace
}  // namespace v3d::kernels::V3D_GPU_NS

namespace v3d::kernels::launch {
namespace impl = ::v3d::kernels::V3D_GPU_NS;

template <>
void mpjpe_fwd<V3D_GPU_KIND>(const MpjpeArgs& args, const float* pred, const float* target,
                             const float* w, float* loss, float* workspace, StreamHandle s) {
  args.validate("mpjpe_fwd");
  V3D_CHECK(workspace != nullptr, "mpjpe_fwd: the CUDA forward needs a workspace");
  const int64_t points = args.n * args.joints;
  auto stream = static_cast<gpu::Stream>(s);
  const int blocks = static_cast<int>(args.workspace_floats());
  GPU_LAUNCH(impl::mpjpe_partial_kernel, blocks, impl::kThreads, 0, stream, pred, target, w,
             args.joints, points, args.coords, workspace);
  V3D_LAUNCH_CHECK("mpjpe_fwd (partial)", stream);
  GPU_LAUNCH(impl::mpjpe_final_kernel, 1, impl::kThreads, 0, stream, workspace, blocks,
             impl::inverse_count(points), loss);
  V3D_LAUNCH_CHECK("mpjpe_fwd (final)", stream);
}

template <>
void mpjpe_bwd<V3D_GPU_KIND>(const MpjpeBwdArgs& args, const float* pred, const float* target,
                             const float* w, const float* d_loss, float* d_pred, StreamHandle s) {
  args.validate("mpjpe_bwd");
  const int64_t joints = args.joints, points = args.n * joints;
  if (points == 0) return;
  auto stream = static_cast<gpu::Stream>(s);
  GPU_LAUNCH(impl::mpjpe_bwd_kernel, grid_for(points, impl::kThreads), impl::kThreads, 0, stream,
             pred, target, w, d_loss, joints, points, args.coords, impl::inverse_count(points),
             d_pred);
  V3D_LAUNCH_CHECK("mpjpe_bwd", stream);
}

}  // namespace v3d::kernels::launch
