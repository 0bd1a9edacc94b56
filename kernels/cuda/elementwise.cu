// CUDA backend of kernels/elementwise.h: one grid-stride kernel per arity, parameterised by a
// functor, so every elementwise op shares the launch geometry and its checks.
#include "kernels/cuda/mma.cuh"
#include "kernels/elementwise.h"
#include "kernels/gpu/check.h"
#include "kernels/gpu/compat.h"
#include "kernels/gpu/kind.h"

namespace v3d::kernels::V3D_GPU_NS {
namespace {

constexpr int kThreads = 256;

struct AddOp {
  __device__ float operator()(float a, float b) const { return a + b; }
};
struct MulOp {
  __device__ float operator()(float a, float b) const { return a * b; }
};
struct ReluBwdOp {
  __device__ float operator()(float x, float d_y) const { return x > 0.0f ? d_y : 0.0f; }
};
struct ScaleOp {
  float alpha;
  __device__ float operator()(float x) const { return alpha * x; }
};
struct ReluOp {
  __device__ float operator()(float x) const { return x > 0.0f ? x : 0.0f; }
};
struct ToBf16Op {
  __device__ uint16_t operator()(float x) const { return tc::to_bf16(x); }
};
struct FromBf16Op {
  __device__ float operator()(uint16_t x) const { return bf16_to_float(x); }
};

// y: (n), a: (n), b: (n)
template <class Op>
__global__ void binary_kernel(const float* __restrict__ a, const float* __restrict__ b, float* y,
                              int64_t n, Op op) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    y[i] = op(a[i], b[i]);
}

// y: (n), x: (n)
template <class In, class Out, class Op>
__global__ void unary_kernel(const In* __restrict__ x, Out* y, int64_t n, Op op) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    y[i] = op(x[i]);
}

// y: (n)
__global__ void fill_kernel(float* y, float value, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    y[i] = value;
}

// y: (n), s: (1)
__global__ void broadcast_kernel(const float* __restrict__ s, float alpha, float* y, int64_t n) {
  const float value = alpha * s[0];
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    y[i] = value;
}

template <class Op>
void launch_binary(const char* name, const BinaryArgs& args, const float* a, const float* b,
                   float* y, StreamHandle s, Op op) {
  args.validate(name);
  if (args.n == 0) return;
  auto stream = static_cast<gpu::Stream>(s);
  GPU_LAUNCH((binary_kernel<Op>), grid_for(args.n, kThreads), kThreads, 0, stream, a, b, y, args.n,
             op);
  V3D_LAUNCH_CHECK(name, stream);
}

template <class Args, class In, class Out, class Op>
void launch_unary(const char* name, const Args& args, const In* x, Out* y, StreamHandle s, Op op) {
  args.validate(name);
  if (args.n == 0) return;
  auto stream = static_cast<gpu::Stream>(s);
  GPU_LAUNCH((unary_kernel<In, Out, Op>), grid_for(args.n, kThreads), kThreads, 0, stream, x, y,
             args.n, op);
  V3D_LAUNCH_CHECK(name, stream);
}

}  // namespace
}  // namespace v3d::kernels::V3D_GPU_NS

namespace v3d::kernels::launch {
namespace impl = ::v3d::kernels::V3D_GPU_NS;

template <>
void to_bf16<V3D_GPU_KIND>(const ConvertArgs& args, const float* x, uint16_t* y, StreamHandle s) {
  impl::launch_unary("to_bf16", args, x, y, s, impl::ToBf16Op{});
}
template <>
void from_bf16<V3D_GPU_KIND>(const ConvertArgs& args, const uint16_t* x, float* y, StreamHandle s) {
  impl::launch_unary("from_bf16", args, x, y, s, impl::FromBf16Op{});
}
template <>
void add<V3D_GPU_KIND>(const BinaryArgs& args, const float* a, const float* b, float* y,
                       StreamHandle s) {
  impl::launch_binary("add", args, a, b, y, s, impl::AddOp{});
}
template <>
void mul<V3D_GPU_KIND>(const BinaryArgs& args, const float* a, const float* b, float* y,
                       StreamHandle s) {
  impl::launch_binary("mul", args, a, b, y, s, impl::MulOp{});
}
template <>
void relu_bwd<V3D_GPU_KIND>(const BinaryArgs& args, const float* x, const float* d_y, float* d_x,
                            StreamHandle s) {
  impl::launch_binary("relu_bwd", args, x, d_y, d_x, s, impl::ReluBwdOp{});
}
template <>
void scale<V3D_GPU_KIND>(const UnaryArgs& args, const float* x, float* y, StreamHandle s) {
  impl::launch_unary("scale", args, x, y, s, impl::ScaleOp{args.alpha});
}
template <>
void relu_fwd<V3D_GPU_KIND>(const UnaryArgs& args, const float* x, float* y, StreamHandle s) {
  impl::launch_unary("relu_fwd", args, x, y, s, impl::ReluOp{});
}
template <>
void fill<V3D_GPU_KIND>(const FillArgs& args, float* y, StreamHandle s) {
  args.validate("fill");
  if (args.n == 0) return;
  auto stream = static_cast<gpu::Stream>(s);
  GPU_LAUNCH(impl::fill_kernel, grid_for(args.n, impl::kThreads), impl::kThreads, 0, stream, y,
             args.value, args.n);
  V3D_LAUNCH_CHECK("fill", stream);
}

template <>
void broadcast<V3D_GPU_KIND>(const FillArgs& args, const float* src, float* y, StreamHandle s) {
  args.validate("broadcast");
  if (args.n == 0) return;
  auto stream = static_cast<gpu::Stream>(s);
  GPU_LAUNCH(impl::broadcast_kernel, grid_for(args.n, impl::kThreads), impl::kThreads, 0, stream,
             src, args.alpha, y, args.n);
  V3D_LAUNCH_CHECK("broadcast", stream);
}

}  // namespace v3d::kernels::launch
