// Temporal convolution over (B, T, C) sequences (kernels/temporal_conv.h): shape-, device- and
// dtype-checked entry points and the differentiable form.
//
//   y[b, t, co] = sum_{ci, k} w[co, ci, k] * x[b, t*stride + k*dilation, ci]
//   x: (B, T_in, C_in) channels-last, w: (C_out, C_in, K) PyTorch order, y: (B, T_out, C_out),
//   T_out = (T_in - (K-1)*dilation - 1) / stride + 1; T_in must cover the receptive field.
//
// Errors name the tensor and what was expected (e.g. a sequence shorter than the receptive field).
#pragma once

#include <cstdint>

#include "kernels/temporal_conv.h"
#include "runtime/autograd.h"
#include "runtime/tensor.h"

namespace v3d::ops {

// Output frames for t_in input frames; throws when t_in is below the receptive field.
int64_t temporal_conv_out_frames(int64_t t_in, int64_t k, int64_t dilation, int64_t stride);

// Weights prepared once for many CPU forwards (kernels/temporal_conv.h): the Winograd transform
// (K = 3) and the tap-major permutation (K > 1) the CPU would otherwise redo on every call. Either
// is undefined where there is nothing to prepare (GPU devices, K = 1).
struct PreparedConv {
  Tensor winograd;   // (kWinogradTile + 2, C_out, C_in)
  Tensor tap_major;  // (C_out, K, C_in)
};
PreparedConv prepare_temporal_conv(const Tensor& w);

// y = conv(x, w); y: (B, T_out, C_out) on x's device. prepared (optional):
// prepare_temporal_conv(w); the result is bit-identical with or without it. math: the arithmetic
// (kernels/temporal_conv.h, ConvMath): kTf32 rounds x and w to TF32 (tensor cores on CUDA) and
// ignores `prepared`.
void temporal_conv_out(const Tensor& x, const Tensor& w, const Tensor& y, int64_t dilation,
                       int64_t stride, const PreparedConv* prepared = nullptr,
                       kernels::ConvMath math = kernels::ConvMath::kFp32);
Tensor temporal_conv(const Tensor& x, const Tensor& w, int64_t dilation, int64_t stride,
                     const PreparedConv* prepared = nullptr,
                     kernels::ConvMath math = kernels::ConvMath::kFp32);
// d_x (B, T_in, C_in), overwritten (frames no output reads get 0), from d_y (B, T_out, C_out).
// T_in is taken from d_x. math: kTf32 / kBf16 round d_y and w.
void temporal_conv_bwd_data_out(const Tensor& d_y, const Tensor& w, const Tensor& d_x,
                                int64_t dilation, int64_t stride,
                                kernels::ConvMath math = kernels::ConvMath::kFp32);
// d_w (C_out, C_in, K), overwritten, from x (B, T_in, C_in) and d_y (B, T_out, C_out). math:
// kTf32 / kBf16 round x and d_y.
void temporal_conv_bwd_weight_out(const Tensor& x, const Tensor& d_y, const Tensor& d_w,
                                  int64_t dilation, int64_t stride,
                                  kernels::ConvMath math = kernels::ConvMath::kFp32);

}  // namespace v3d::ops

namespace v3d::ag {

// Differentiable in x and w; the backward keeps x (for d_w) and w (for d_x). math: the arithmetic
// of all three passes (kernels/temporal_conv.h, ConvMath); the values and gradients stay float32.
Var temporal_conv(const Var& x, const Var& w, int64_t dilation, int64_t stride,
                  kernels::ConvMath math = kernels::ConvMath::kFp32);

}  // namespace v3d::ag
