// Elementwise operations on contiguous float32 buffers of n elements, and the conversions between
// float32 and bfloat16 storage.
//
//   add:       y[i] = a[i] + b[i]
//   mul:       y[i] = a[i] * b[i]
//   scale:     y[i] = alpha * x[i]
//   fill:      y[i] = value
//   relu_fwd:  y[i] = max(x[i], 0)
//   relu_bwd:  d_x[i] = x[i] > 0 ? d_y[i] : 0      (gradient overwritten, not accumulated)
//   broadcast: y[i] = alpha * s[0]  (s is a one-element buffer on the same device: the backward
//              of a reduction, without a round trip to the host)
//   to_bf16:   y16[i] = BF16(x[i])  as the tensor cores' operands are rounded
//   (kernels/float_round.h,
//              bf16_bits: PTX cvt.rn.bf16.f32, ties to even, NaN -> 0x7FFF), stored as 16-bit
//              patterns
//   from_bf16: y[i] = x16[i] widened to float32 (exact)
//
// Aliasing: y may equal any input of its own element type (in-place use is how gradients are
// accumulated: add(g, d, g)). Tolerance: exact. Each output is one IEEE operation on the inputs, so
// CPU, emulated and real CUDA results are bit-identical.
#pragma once

#include "kernels/common.h"

namespace v3d::kernels {

inline void check_count(const char* op, int64_t n) {
  V3D_CHECK(n >= 0, op << ": negative element count " << n);
}

// add, mul, relu_bwd: y = f(a, b), n elements each.
struct BinaryArgs {
  int64_t n = 0;
  void validate(const char* op) const { check_count(op, n); }
  double flops() const { return static_cast<double>(n); }
  double bytes() const { return 12.0 * static_cast<double>(n); }
};

// scale (y = alpha * x), relu_fwd: n elements.
struct UnaryArgs {
  int64_t n = 0;
  float alpha = 1.0f;  // scale only
  void validate(const char* op) const { check_count(op, n); }
  double flops() const { return static_cast<double>(n); }
  double bytes() const { return 8.0 * static_cast<double>(n); }
};

// fill (y = value), broadcast (y = alpha * s[0]): n elements written.
struct FillArgs {
  int64_t n = 0;
  float value = 0.0f;  // fill
  float alpha = 1.0f;  // broadcast
  void validate(const char* op) const { check_count(op, n); }
  double flops() const { return 0.0; }
  double bytes() const { return 4.0 * static_cast<double>(n); }
};

// to_bf16, from_bf16: n elements converted.
struct ConvertArgs {
  int64_t n = 0;
  void validate(const char* op) const { check_count(op, n); }
  double flops() const { return 0.0; }
  double bytes() const { return 6.0 * static_cast<double>(n); }
};

namespace cpu {
void to_bf16(const ConvertArgs& args, const float* x, uint16_t* y);
void from_bf16(const ConvertArgs& args, const uint16_t* x, float* y);
void add(const BinaryArgs& args, const float* a, const float* b, float* y);
void mul(const BinaryArgs& args, const float* a, const float* b, float* y);
void relu_bwd(const BinaryArgs& args, const float* x, const float* d_y, float* d_x);
void scale(const UnaryArgs& args, const float* x, float* y);
void relu_fwd(const UnaryArgs& args, const float* x, float* y);
void fill(const FillArgs& args, float* y);
void broadcast(const FillArgs& args, const float* s, float* y);
}  // namespace cpu

namespace launch {
template <GpuKind G>
void to_bf16(const ConvertArgs& args, const float* x, uint16_t* y, StreamHandle s);
template <GpuKind G>
void from_bf16(const ConvertArgs& args, const uint16_t* x, float* y, StreamHandle s);
template <GpuKind G>
void add(const BinaryArgs& args, const float* a, const float* b, float* y, StreamHandle s);
template <GpuKind G>
void mul(const BinaryArgs& args, const float* a, const float* b, float* y, StreamHandle s);
template <GpuKind G>
void relu_bwd(const BinaryArgs& args, const float* x, const float* d_y, float* d_x, StreamHandle s);
template <GpuKind G>
void scale(const UnaryArgs& args, const float* x, float* y, StreamHandle s);
template <GpuKind G>
void relu_fwd(const UnaryArgs& args, const float* x, float* y, StreamHandle s);
template <GpuKind G>
void fill(const FillArgs& args, float* y, StreamHandle s);
template <GpuKind G>
void broadcast(const FillArgs& args, const float* src, float* y, StreamHandle s);
}  // namespace launch

}  // namespace v3d::kernels
