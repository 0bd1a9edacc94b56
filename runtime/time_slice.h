// The residual slice along time (kernels/time_slice.h) on (B, T, C) tensors:
// y[b, t, c] = x[b, start + t * step, c] for t < t_out, and its backward, a scatter into zeros.
#pragma once

#include <cstdint>

#include "runtime/autograd.h"
#include "runtime/tensor.h"

namespace v3d::ops {

// x: (B, T_in, C), y: (B, T_out, C) with T_out = y.size(1).
void time_slice_out(const Tensor& x, int64_t start, int64_t step, const Tensor& y);
Tensor time_slice(const Tensor& x, int64_t start, int64_t step, int64_t t_out);
// d_y: (B, T_out, C), d_x: (B, T_in, C) OVERWRITTEN (zero off the slice).
void time_slice_bwd_out(const Tensor& d_y, int64_t start, int64_t step, const Tensor& d_x);
Tensor time_slice_bwd(const Tensor& d_y, int64_t start, int64_t step, int64_t t_in);

}  // namespace v3d::ops

namespace v3d::ag {

Var time_slice(const Var& x, int64_t start, int64_t step, int64_t t_out);

}  // namespace v3d::ag
