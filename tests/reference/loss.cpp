// Naive double-precision MPJPE and AMSGrad.
#include "tests/reference/loss.h"

#include <cmath>
#include <cstddef>

namespace v3d::ref {

namespace {

// Distance of point (i, j) and its weight.
double distance(const Vec& pred, const Vec& target, int64_t point, int64_t coords) {
  double s = 0.0;
  for (int64_t c = 0; c < coords; ++c) {
    const double d = pred[static_cast<size_t>(point * coords + c)] -
                     target[static_cast<size_t>(point * coords + c)];
    s += d * d;
  }
  return std::sqrt(s);
}

double weight(const Vec& w, int64_t i) { return w.empty() ? 1.0 : w[static_cast<size_t>(i)]; }

}  // namespace

double mpjpe(const Vec& pred, const Vec& target, const Vec& w, int64_t n, int64_t joints,
             int64_t coords) {
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < joints; ++j)
      total += weight(w, i) * distance(pred, target, i * joints + j, coords);
  return total / static_cast<double>(n * joints);
}

Vec mpjpe_bwd(const Vec& pred, const Vec& target, const Vec& w, double d_loss, int64_t n,
              int64_t joints, int64_t coords) {
  Vec d(pred.size(), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < joints; ++j) {
      const int64_t point = i * joints + j;
      const double dist = distance(pred, target, point, coords);
      if (dist == 0.0) continue;  // the subgradient 0 at the norm's kink
      for (int64_t c = 0; c < coords; ++c) {
        const size_t e = static_cast<size_t>(point * coords + c);
        d[e] =
            d_loss * weight(w, i) * (pred[e] - target[e]) / dist / static_cast<double>(n * joints);
      }
    }
  }
  return d;
}

void adam_amsgrad(Vec& p, const Vec& g, Vec& m, Vec& v, Vec& v_max, int64_t step, double lr,
                  double beta1, double beta2, double eps) {
  double beta1_t = 1.0, beta2_t = 1.0;
  for (int64_t t = 0; t < step; ++t) {
    beta1_t *= beta1;
    beta2_t *= beta2;
  }
  for (size_t i = 0; i < p.size(); ++i) {
    m[i] = beta1 * m[i] + (1.0 - beta1) * g[i];
    v[i] = beta2 * v[i] + (1.0 - beta2) * g[i] * g[i];
    if (v[i] > v_max[i]) v_max[i] = v[i];
    const double m_hat = m[i] / (1.0 - beta1_t);
    const double v_hat = v_max[i] / (1.0 - beta2_t);
    // The textbook form; PyTorch's sqrt(v_max) / sqrt(1 - beta2^t) + eps is the same number.
    p[i] -= lr * m_hat / (std::sqrt(v_hat) + eps);
  }
}

}  // namespace v3d::ref
