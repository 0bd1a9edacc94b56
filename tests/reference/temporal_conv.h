// Double-precision references for the temporal convolution (kernels/temporal_conv.h), written
// straight from the definition with one loop per index and no im2col, independently of the
// kernels: the backward of the data is a scatter here where both backends gather.
//
//   y[b, t, co] = sum_{ci, k} w[co, ci, k] * x[b, t*stride + k*dilation, ci]
//   x: (B, T_in, C_in), w: (C_out, C_in, K), y: (B, T_out, C_out)
#pragma once

#include <cstdint>

#include "tests/reference/reference.h"

namespace v3d::ref {

struct ConvDims {
  int64_t batch, t_in, c_in, c_out, k, dilation, stride;
  int64_t t_out() const { return (t_in - (k - 1) * dilation - 1) / stride + 1; }
};

// y: (B, T_out, C_out)
Vec temporal_conv(const Vec& x, const Vec& w, const ConvDims& d);
// d_x: (B, T_in, C_in); frames no output reads are 0.
Vec temporal_conv_bwd_data(const Vec& d_y, const Vec& w, const ConvDims& d);
// d_w: (C_out, C_in, K)
Vec temporal_conv_bwd_weight(const Vec& x, const Vec& d_y, const ConvDims& d);

}  // namespace v3d::ref
