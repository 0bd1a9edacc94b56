// Tensor operations: check shapes, devices and dtypes, then call the kernels of the tensors'
// device. `*_out` forms write into a given tensor (the op harness places outputs in guarded
// buffers this way); the plain forms allocate their result on the inputs' device.
// These are not differentiable; runtime/autograd.h wraps them with backward closures.
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace v3d::ops {

// y = a + b, a * b (same shape, same device; y may alias a or b).
void add_out(const Tensor& a, const Tensor& b, const Tensor& y);
Tensor add(const Tensor& a, const Tensor& b);
void mul_out(const Tensor& a, const Tensor& b, const Tensor& y);
Tensor mul(const Tensor& a, const Tensor& b);
// y = alpha * x
void scale_out(const Tensor& x, float alpha, const Tensor& y);
Tensor scale(const Tensor& x, float alpha);
// Every element of t set to value.
void fill_(const Tensor& t, float value);
// Every element of y set to alpha * s, s a one-element tensor on y's device.
void broadcast_out(const Tensor& s, float alpha, const Tensor& y);

// y = x rounded to bfloat16 (kernels/elementwise.h, to_bf16: ties to even, as the tensor cores
// round), a bf16 tensor of x's shape; and back, exactly.
void to_bf16_out(const Tensor& x, const Tensor& y);
Tensor to_bf16(const Tensor& x);
void from_bf16_out(const Tensor& x, const Tensor& y);
Tensor from_bf16(const Tensor& x);

void relu_out(const Tensor& x, const Tensor& y);
Tensor relu(const Tensor& x);
// d_x = x > 0 ? d_y : 0
void relu_bwd_out(const Tensor& x, const Tensor& d_y, const Tensor& d_x);

// Inverted dropout (kernels/dropout.h); the mask is a function of (seed, offset, element index).
void dropout_out(const Tensor& x, const Tensor& y, float p, uint64_t seed, uint64_t offset);
void dropout_bwd_out(const Tensor& d_y, const Tensor& d_x, float p, uint64_t seed, uint64_t offset);
// ReLU then dropout in one pass, and its backward given the ReLU input x (kernels/dropout.h);
// bit-identical to relu_out + dropout_out and dropout_bwd_out + relu_bwd_out.
void relu_dropout_out(const Tensor& x, const Tensor& y, float p, uint64_t seed, uint64_t offset);
void relu_dropout_bwd_out(const Tensor& x, const Tensor& d_y, const Tensor& d_x, float p,
                          uint64_t seed, uint64_t offset);
// relu_dropout_out's values rounded to bfloat16 into y (a bf16 tensor of x's shape), in one pass.
void relu_dropout_bf16_out(const Tensor& x, const Tensor& y, float p, uint64_t seed,
                           uint64_t offset);

// c = alpha * op(a) @ op(b) + beta * c for 2-D row-major a, b, c.
void matmul_out(const Tensor& a, const Tensor& b, const Tensor& c, bool trans_a = false,
                bool trans_b = false, float alpha = 1.0f, float beta = 0.0f);
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);

// y (a one-element tensor) = alpha * sum of all elements of x. mean: alpha = 1 / numel.
void sum_out(const Tensor& x, const Tensor& y, float alpha = 1.0f);
Tensor sum(const Tensor& x);
Tensor mean(const Tensor& x);

}  // namespace v3d::ops
