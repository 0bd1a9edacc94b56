// CUDA backend of kernels/projection.h: one thread per (b, t) row (projection) or per sample
// (bone lengths), each running the per-row math the header shares with the CPU backend, so a
// row's root gradient and a sample's bone scatter are summed in one thread without atomics.
#include "kernels/gpu/check.h"
#include "kernels/gpu/compat.h"
#include "kernels/gpu/kind.h"
#include "kernels/projection.h"

namespace v3d::kernels::V3D_GPU_NS {
namespace {

constexpr int kThreads = 128;

// points: (rows, J, 3), root: (rows, 3) or nullptr, intrinsic: (B, 9) -> out: (rows, J, 2)
__global__ void project_2d_kernel(Project2dArgs a, const float* __restrict__ points,
                                  const float* __restrict__ root,
                                  const float* __restrict__ intrinsic, float* __restrict__ out) {
  const int64_t rows = a.batch * a.frames, stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; r < rows;
       r += stride)
    project_2d_row(a, points, root, intrinsic, r, out);
}

// d_out: (rows, J, 2) -> d_points: (rows, J, 3), d_root: (rows, 3) or nullptr
__global__ void project_2d_bwd_kernel(Project2dArgs a, const float* __restrict__ points,
                                      const float* __restrict__ root,
                                      const float* __restrict__ intrinsic,
                                      const float* __restrict__ d_out, float* __restrict__ d_points,
                                      float* __restrict__ d_root) {
  const int64_t rows = a.batch * a.frames, stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; r < rows;
       r += stride)
    project_2d_row_bwd(a, points, root, intrinsic, d_out, r, d_points, d_root);
}

// points: (N, J, 3) -> len: (N, J)
__global__ void bone_lengths_kernel(BoneLengthArgs a, const float* __restrict__ points,
                                    float* __restrict__ len) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t n = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; n < a.n;
       n += stride)
    bone_lengths_sample(a, points + n * a.joints * 3, len + n * a.joints);
}

// d_len: (N, J) -> d_points: (N, J, 3)
__global__ void bone_lengths_bwd_kernel(BoneLengthArgs a, const float* __restrict__ points,
                                        const float* __restrict__ d_len,
                                        float* __restrict__ d_points) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t n = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; n < a.n;
       n += stride)
    bone_lengths_sample_bwd(a, points + n * a.joints * 3, d_len + n * a.joints,
                            d_points + n * a.joints * 3);
}

}  // namespace
}  // namespace v3d::kernels::V3D_GPU_NS

namespace v3d::kernels::launch {
namespace impl = ::v3d::kernels::V3D_GPU_NS;

template <>
void project_2d<V3D_GPU_KIND>(const Project2dArgs& args, const float* points, const float* root,
                              const float* intrinsic, float* out, StreamHandle s) {
  args.validate("project_2d");
  const int64_t rows = args.batch * args.frames;
  if (rows == 0) return;
  auto stream = static_cast<gpu::Stream>(s);
  GPU_LAUNCH(impl::project_2d_kernel, grid_for(rows, impl::kThreads), impl::kThreads, 0, stream,
             args, points, root, intrinsic, out);
  V3D_LAUNCH_CHECK("project_2d", stream);
}

template <>
void project_2d_bwd<V3D_GPU_KIND>(const Project2dArgs& args, const float* points, const float* root,
                                  const float* intrinsic, const float* d_out, float* d_points,
                                  float* d_root, StreamHandle s) {
  args.validate("project_2d_bwd");
  const int64_t rows = args.batch * args.frames;
  if (rows == 0) return;
  auto stream = static_cast<gpu::Stream>(s);
  GPU_LAUNCH(impl::project_2d_bwd_kernel, grid_for(rows, impl::kThreads), impl::kThreads, 0, stream,
             args, points, root, intrinsic, d_out, d_points, d_root);
  V3D_LAUNCH_CHECK("project_2d_bwd", stream);
}

template <>
void bone_lengths<V3D_GPU_KIND>(const BoneLengthArgs& args, const float* points, float* len,
                                StreamHandle s) {
  args.validate("bone_lengths");
  if (args.n == 0) return;
  auto stream = static_cast<gpu::Stream>(s);
  GPU_LAUNCH(impl::bone_lengths_kernel, grid_for(args.n, impl::kThreads), impl::kThreads, 0, stream,
             args, points, len);
  V3D_LAUNCH_CHECK("bone_lengths", stream);
}

template <>
void bone_lengths_bwd<V3D_GPU_KIND>(const BoneLengthArgs& args, const float* points,
                                    const float* d_len, float* d_points, StreamHandle s) {
  args.validate("bone_lengths_bwd");
  if (args.n == 0) return;
  auto stream = static_cast<gpu::Stream>(s);
  GPU_LAUNCH(impl::bone_lengths_bwd_kernel, grid_for(args.n, impl::kThreads), impl::kThreads, 0,
             stream, args, points, d_len, d_points);
  V3D_LAUNCH_CHECK("bone_lengths_bwd", stream);
}

}  // namespace v3d::kernels::launch
