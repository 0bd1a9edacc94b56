// Naive references of tests/reference/batch_norm.h: loops straight from the formulas, in double.
#include "tests/reference/batch_norm.h"

#include <cmath>

namespace v3d::ref {

namespace {
size_t at(int64_t r, int64_t c, int64_t channels) { return static_cast<size_t>(r * channels + c); }
}  // namespace

BatchNormTrainRef batch_norm_train(const Vec& x, const Vec& gamma, const Vec& beta,
                                   const Vec& running_mean, const Vec& running_var, int64_t rows,
                                   int64_t channels, double momentum, double eps) {
  BatchNormTrainRef out;
  out.y.assign(x.size(), 0.0);
  out.mean.assign(static_cast<size_t>(channels), 0.0);
  out.inv_std = out.running_mean = out.running_var = out.mean;
  const double n = static_cast<double>(rows);
  for (int64_t c = 0; c < channels; ++c) {
    double mean = 0.0;
    for (int64_t r = 0; r < rows; ++r) mean += x[at(r, c, channels)];
    mean /= n;
    double var = 0.0;
    for (int64_t r = 0; r < rows; ++r) {
      const double d = x[at(r, c, channels)] - mean;
      var += d * d;
    }
    var /= n;
    const double inv_std = 1.0 / std::sqrt(var + eps);
    for (int64_t r = 0; r < rows; ++r)
      out.y[at(r, c, channels)] = gamma[c] * (x[at(r, c, channels)] - mean) * inv_std + beta[c];
    out.mean[c] = mean;
    out.inv_std[c] = inv_std;
    out.running_mean[c] = (1.0 - momentum) * running_mean[c] + momentum * mean;
    out.running_var[c] = (1.0 - momentum) * running_var[c] + momentum * var * n / (n - 1.0);
  }
  return out;
}

Vec batch_norm_infer(const Vec& x, const Vec& gamma, const Vec& beta, const Vec& running_mean,
                     const Vec& running_var, int64_t rows, int64_t channels, double eps) {
  Vec y(x.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < channels; ++c)
      y[at(r, c, channels)] =
          gamma[c] * (x[at(r, c, channels)] - running_mean[c]) / std::sqrt(running_var[c] + eps) +
          beta[c];
  return y;
}

BatchNormGradsRef batch_norm_bwd(const Vec& x, const Vec& d_y, const Vec& gamma, const Vec& mean,
                                 const Vec& inv_std, int64_t rows, int64_t channels,
                                 bool through_batch_stats) {
  BatchNormGradsRef g;
  g.d_x.assign(x.size(), 0.0);
  g.d_gamma.assign(static_cast<size_t>(channels), 0.0);
  g.d_beta = g.d_gamma;
  const double n = static_cast<double>(rows);
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t r = 0; r < rows; ++r) {
      const double x_hat = (x[at(r, c, channels)] - mean[c]) * inv_std[c];
      g.d_beta[c] += d_y[at(r, c, channels)];
      g.d_gamma[c] += d_y[at(r, c, channels)] * x_hat;
    }
    for (int64_t r = 0; r < rows; ++r) {
      const double x_hat = (x[at(r, c, channels)] - mean[c]) * inv_std[c];
      double d = d_y[at(r, c, channels)];
      if (through_batch_stats) d -= g.d_beta[c] / n + x_hat * g.d_gamma[c] / n;
      g.d_x[at(r, c, channels)] = gamma[c] * inv_std[c] * d;
    }
  }
  return g;
}

std::vector<Vec> batch_norm_fold(const Vec& w, const Vec& gamma, const Vec& beta,
                                 const Vec& running_mean, const Vec& running_var, int64_t c_out,
                                 int64_t inner, double eps) {
  Vec wf(w.size()), bf(static_cast<size_t>(c_out));
  for (int64_t co = 0; co < c_out; ++co) {
    const double s = gamma[co] / std::sqrt(running_var[co] + eps);
    for (int64_t j = 0; j < inner; ++j) wf[at(co, j, inner)] = w[at(co, j, inner)] * s;
    bf[co] = beta[co] - gamma[co] * running_mean[co] / std::sqrt(running_var[co] + eps);
  }
  return {wf, bf};
}

Vec bias_add(const Vec& x, const Vec& b, int64_t rows, int64_t channels, bool relu) {
  Vec y(x.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < channels; ++c) {
      const double v = x[at(r, c, channels)] + b[c];
      y[at(r, c, channels)] = relu && v < 0.0 ? 0.0 : v;
    }
  return y;
}

Vec column_sums(const Vec& d_y, int64_t rows, int64_t channels) {
  Vec s(static_cast<size_t>(channels), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < channels; ++c) s[c] += d_y[at(r, c, channels)];
  return s;
}

Vec time_slice(const Vec& x, int64_t batch, int64_t t_in, int64_t channels, int64_t start,
               int64_t step, int64_t t_out) {
  Vec y(static_cast<size_t>(batch * t_out * channels));
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < t_out; ++t)
      for (int64_t c = 0; c < channels; ++c)
        y[at(b * t_out + t, c, channels)] = x[at(b * t_in + start + t * step, c, channels)];
  return y;
}

Vec time_slice_bwd(const Vec& d_y, int64_t batch, int64_t t_in, int64_t channels, int64_t start,
                   int64_t step, int64_t t_out) {
  Vec d_x(static_cast<size_t>(batch * t_in * channels), 0.0);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < t_out; ++t)
      for (int64_t c = 0; c < channels; ++c)
        d_x[at(b * t_in + start + t * step, c, channels)] += d_y[at(b * t_out + t, c, channels)];
  return d_x;
}

}  // namespace v3d::ref
