// Elementwise operations on contiguous float32 buffers of n elements.
//
//   add:       y[i] = a[i] + b[i]
//   mul:       y[i] = a[i] * b[i]
//   scale:     y[i] = alpha * x[i]
//   fill:      y[i] = value
//   relu_fwd:  y[i] = max(x[i], 0)
//   relu_bwd:  d_x[i] = x[i] > 0 ? d_y[i] : 0      (gradient overwritten, not accumulated)
//   broadcast: y[i] = alpha * s[0]  (s is a one-element buffer on the same device: the backward
//              of a reduction, without a round trip to the host)
//
// Aliasing: y may equal any input (in-place use is how gradients are accumulated: add(g, d, g)).
// Tolerance: exact. Each output is one IEEE operation on the inputs, so CPU, emulated and real
// CUDA results are bit-identical.
#pragma once

#include "kernels/common.h"

namespace v3d::kernels {

namespace cpu {
void add(const float* a, const float* b, float* y, int64_t n);
void mul(const float* a, const float* b, float* y, int64_t n);
void scale(const float* x, float alpha, float* y, int64_t n);
void fill(float* y, float value, int64_t n);
void relu_fwd(const float* x, float* y, int64_t n);
void relu_bwd(const float* x, const float* d_y, float* d_x, int64_t n);
void broadcast(const float* s, float alpha, float* y, int64_t n);
}  // namespace cpu

namespace launch {
template <GpuKind G>
void add(const float* a, const float* b, float* y, int64_t n, StreamHandle s);
template <GpuKind G>
void mul(const float* a, const float* b, float* y, int64_t n, StreamHandle s);
template <GpuKind G>
void scale(const float* x, float alpha, float* y, int64_t n, StreamHandle s);
template <GpuKind G>
void fill(float* y, float value, int64_t n, StreamHandle s);
template <GpuKind G>
void relu_fwd(const float* x, float* y, int64_t n, StreamHandle s);
template <GpuKind G>
void relu_bwd(const float* x, const float* d_y, float* d_x, int64_t n, StreamHandle s);
template <GpuKind G>
void broadcast(const float* src, float alpha, float* y, int64_t n, StreamHandle s);
}  // namespace launch

}  // namespace v3d::kernels
