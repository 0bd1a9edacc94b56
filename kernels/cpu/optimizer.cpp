// CPU backend of kernels/optimizer.h: one vectorisable loop over the flat buffers, split across
// threads with OpenMP when the buffer is large (elements are independent, so the split does not
// change the result).
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "kernels/optimizer.h"

namespace v3d::kernels {

namespace {

// The decimal a float hyperparameter stands for: the shortest decimal that rounds to it
// (0.999f -> 0.999), as a double. PyTorch's betas and lr are Python doubles, so 1 - beta2 is
// 0.001, not 1 - double(0.999f) = 0.00099998713; this keeps the step's float scalars identical
// to PyTorch's for the same written hyperparameters.
double intended(float x) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf - 1, x);
  if (ec != std::errc()) return x;
  *end = '\0';
  return std::strtod(buf, nullptr);
}

}  // namespace

AdamStepArgs adam_step_args(float lr, float beta1, float beta2, float eps, int64_t step,
                            int64_t n) {
  V3D_CHECK(step >= 1, "adam_amsgrad: the step count is 1-based, got " << step);
  V3D_CHECK(lr >= 0.0f, "adam_amsgrad: invalid learning rate " << lr);
  V3D_CHECK(eps >= 0.0f, "adam_amsgrad: invalid epsilon " << eps);
  V3D_CHECK(beta1 >= 0.0f && beta1 < 1.0f,
            "adam_amsgrad: invalid beta1 " << beta1 << " (need 0 <= beta1 < 1)");
  V3D_CHECK(beta2 >= 0.0f && beta2 < 1.0f,
            "adam_amsgrad: invalid beta2 " << beta2 << " (need 0 <= beta2 < 1)");
  // In double, as PyTorch's Python scalars: beta^t for t in the tens of thousands stays accurate
  // and 1 - beta^t does not lose the digits a float would.
  const double b1 = intended(beta1), b2 = intended(beta2), t = static_cast<double>(step);
  const double bias_correction1 = 1.0 - std::pow(b1, t);
  const double bias_correction2 = 1.0 - std::pow(b2, t);
  AdamStepArgs a;
  a.n = n;
  a.beta1 = beta1;
  a.one_minus_beta1 = static_cast<float>(1.0 - b1);
  a.beta2 = beta2;
  a.one_minus_beta2 = static_cast<float>(1.0 - b2);
  a.step_size = static_cast<float>(intended(lr) / bias_correction1);
  a.bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  a.eps = eps;
  return a;
}

namespace cpu {

namespace {
// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelMin = 1 << 15;
}  // namespace

void adam_amsgrad(const AdamStepArgs& a, float* p, const float* g, float* m, float* v,
                  float* v_max) {
  a.validate("adam_amsgrad");
  const int64_t n = a.n;
  // p, g, m, v, v_max: (n)
#pragma omp parallel for simd if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i];
    const float mi = a.beta1 * m[i] + a.one_minus_beta1 * gi;
    const float vi = a.beta2 * v[i] + a.one_minus_beta2 * (gi * gi);
    const float vmax = v_max[i] > vi ? v_max[i] : vi;  // a NaN in v propagates
    const float denom = std::sqrt(vmax) / a.bias_correction2_sqrt + a.eps;
    m[i] = mi;
    v[i] = vi;
    v_max[i] = vmax;
    p[i] = p[i] - a.step_size * (mi / denom);
  }
}

}  // namespace cpu
}  // namespace v3d::kernels
