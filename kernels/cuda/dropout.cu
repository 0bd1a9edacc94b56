// CUDA backend of kernels/dropout.h: one thread per group of four elements, so one Philox call
// serves four outputs exactly as on the CPU. One kernel serves dropout and the fused
// relu_dropout, forward and backward (the mode is a template parameter).
#include "kernels/cuda/mma.cuh"
#include "kernels/dropout.h"
#include "kernels/dropout_mask.h"
#include "kernels/gpu/check.h"
#include "kernels/gpu/compat.h"
#include "kernels/gpu/kind.h"

namespace v3d::kernels::V3D_GPU_NS {
namespace {

constexpr int kThreads = 256;

// out[i] = keep[i] ? f(i) * scale : 0, f as in kernels/cpu/dropout.cpp:
// 0: in[i] (dropout), 1: relu(in[i]) (relu_dropout fwd), 2: x[i] > 0 ? in[i] : 0 (its bwd).
enum Mode { kDropout = 0, kReluFwd = 1, kReluBwd = 2 };

// The stored element: float32, or BF16 rounded as to_bf16 rounds (relu_dropout_bf16).
__device__ __forceinline__ void store(float* to, float v) { *to = v; }
__device__ __forceinline__ void store(uint16_t* to, float v) { *to = tc::to_bf16(v); }

// x (kReluBwd only), in, out: (n); thread g handles elements 4g .. 4g+3.
template <int M, class Out>
__global__ void dropout_kernel(const float* __restrict__ x, const float* __restrict__ in, Out* out,
                               int64_t n, float p, float scale, uint64_t seed, uint64_t offset) {
  const int64_t groups = (n + 3) / 4;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t g = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; g < groups;
       g += stride) {
    bool keep[4];
    dropout_keep4(static_cast<uint64_t>(g), p, seed, offset, keep);
    for (int j = 0; j < 4; ++j) {
      const int64_t i = 4 * g + j;
      if (i < n) {
        float v = in[i];
        if (M == kReluFwd) v = v > 0.0f ? v : 0.0f;
        if (M == kReluBwd) v = x[i] > 0.0f ? v : 0.0f;
        store(out + i, keep[j] ? v * scale : 0.0f);
      }
    }
  }
}

template <int M, class Out>
void launch_dropout(const char* name, const DropoutArgs& a, const float* x, const float* in,
                    Out* out, StreamHandle s) {
  a.validate(name);
  if (a.n == 0) return;
  auto stream = static_cast<gpu::Stream>(s);
  GPU_LAUNCH((dropout_kernel<M, Out>), grid_for((a.n + 3) / 4, kThreads), kThreads, 0, stream, x,
             in, out, a.n, a.p, dropout_scale(a.p), a.seed, a.offset);
  V3D_LAUNCH_CHECK(name, stream);
}

}  // namespace
}  // namespace v3d::kernels::V3D_GPU_NS

namespace v3d::kernels::launch {

template <>
void dropout_fwd<V3D_GPU_KIND>(const DropoutArgs& a, const float* x, float* y, StreamHandle s) {
  V3D_GPU_NS::launch_dropout<V3D_GPU_NS::kDropout>("dropout_fwd", a, nullptr, x, y, s);
}

template <>
void dropout_bwd<V3D_GPU_KIND>(const DropoutArgs& a, const float* d_y, float* d_x, StreamHandle s) {
  V3D_GPU_NS::launch_dropout<V3D_GPU_NS::kDropout>("dropout_bwd", a, nullptr, d_y, d_x, s);
}

template <>
void relu_dropout_fwd<V3D_GPU_KIND>(const DropoutArgs& a, const float* x, float* y,
                                    StreamHandle s) {
  V3D_GPU_NS::launch_dropout<V3D_GPU_NS::kReluFwd>("relu_dropout_fwd", a, nullptr, x, y, s);
}

template <>
void relu_dropout_bwd<V3D_GPU_KIND>(const DropoutArgs& a, const float* x, const float* d_y,
                                    float* d_x, StreamHandle s) {
  V3D_GPU_NS::launch_dropout<V3D_GPU_NS::kReluBwd>("relu_dropout_bwd", a, x, d_y, d_x, s);
}

template <>
void relu_dropout_bf16_fwd<V3D_GPU_KIND>(const DropoutArgs& a, const float* x, uint16_t* y,
                                         StreamHandle s) {
  V3D_GPU_NS::launch_dropout<V3D_GPU_NS::kReluFwd>("relu_dropout_bf16_fwd", a, nullptr, x, y, s);
}

}  // namespace v3d::kernels::launch
