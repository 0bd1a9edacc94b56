// Double-precision temporal convolution references: every (b, t, co, ci, k) term visited once.
#include "tests/reference/temporal_conv.h"

#include <cstddef>

namespace v3d::ref {
namespace {

size_t x_index(const ConvDims& d, int64_t b, int64_t f, int64_t ci) {
  return static_cast<size_t>((b * d.t_in + f) * d.c_in + ci);
}
size_t y_index(const ConvDims& d, int64_t b, int64_t t, int64_t co) {
  return static_cast<size_t>((b * d.t_out() + t) * d.c_out + co);
}
size_t w_index(const ConvDims& d, int64_t co, int64_t ci, int64_t k) {
  return static_cast<size_t>((co * d.c_in + ci) * d.k + k);
}

}  // namespace

Vec temporal_conv(const Vec& x, const Vec& w, const ConvDims& d) {
  Vec y(static_cast<size_t>(d.batch * d.t_out() * d.c_out), 0.0);
  for (int64_t b = 0; b < d.batch; ++b)
    for (int64_t t = 0; t < d.t_out(); ++t)
      for (int64_t co = 0; co < d.c_out; ++co) {
        double acc = 0.0;
        for (int64_t ci = 0; ci < d.c_in; ++ci)
          for (int64_t k = 0; k < d.k; ++k)
            acc += w[w_index(d, co, ci, k)] * x[x_index(d, b, t * d.stride + k * d.dilation, ci)];
        y[y_index(d, b, t, co)] = acc;
      }
  return y;
}

Vec temporal_conv_bwd_data(const Vec& d_y, const Vec& w, const ConvDims& d) {
  Vec d_x(static_cast<size_t>(d.batch * d.t_in * d.c_in), 0.0);
  for (int64_t b = 0; b < d.batch; ++b)
    for (int64_t t = 0; t < d.t_out(); ++t)
      for (int64_t co = 0; co < d.c_out; ++co)
        for (int64_t ci = 0; ci < d.c_in; ++ci)
          for (int64_t k = 0; k < d.k; ++k)
            d_x[x_index(d, b, t * d.stride + k * d.dilation, ci)] +=
                w[w_index(d, co, ci, k)] * d_y[y_index(d, b, t, co)];
  return d_x;
}

Vec temporal_conv_bwd_weight(const Vec& x, const Vec& d_y, const ConvDims& d) {
  Vec d_w(static_cast<size_t>(d.c_out * d.c_in * d.k), 0.0);
  for (int64_t b = 0; b < d.batch; ++b)
    for (int64_t t = 0; t < d.t_out(); ++t)
      for (int64_t co = 0; co < d.c_out; ++co)
        for (int64_t ci = 0; ci < d.c_in; ++ci)
          for (int64_t k = 0; k < d.k; ++k)
            d_w[w_index(d, co, ci, k)] +=
                d_y[y_index(d, b, t, co)] * x[x_index(d, b, t * d.stride + k * d.dilation, ci)];
  return d_w;
}

}  // namespace v3d::ref
