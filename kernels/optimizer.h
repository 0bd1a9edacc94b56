// Adam with AMSGrad, as torch.optim.Adam(amsgrad=True) with no weight decay (the optimiser of
// VideoPose3D, run.py), one elementwise update over the flat parameter buffer (runtime/
// parameters.h): one launch updates every parameter of a model.
//
//   all buffers: (n), contiguous float32; step t is 1-based
//   m      = beta1 * m + (1 - beta1) * g
//   v      = beta2 * v + (1 - beta2) * g * g
//   v_max  = max(v_max, v)
//   denom  = sqrt(v_max) / sqrt(1 - beta2^t) + eps
//   p      = p - (lr / (1 - beta1^t)) * (m / denom)
//
// p, m, v and v_max are updated in place; g is read only. The per-step scalars (bias corrections,
// 1 - beta, lr / (1 - beta1^t)) are computed on the host in double by adam_step_args() and passed
// as floats, as PyTorch computes them in Python doubles. The float hyperparameters are read as the
// decimals they are written as (0.999f as 0.999, the shortest decimal that rounds to it), so that
// 1 - beta2 is 0.001 as in PyTorch rather than 1 - double(0.999f) = 0.00099998713. Each element is
// independent, so any launch geometry gives the same result and a run is reproducible bit for bit
// on one backend. Tolerance: a handful of float32 roundings per element (two products and a sum for
// m and v, a square root, two divisions, a product and a difference for p): 2e-6 relative, plus
// 5e-7 absolute for the cancellation in m = beta1 * m + (1 - beta1) * g when the two terms nearly
// cancel (terms of order 1, half an ulp each). nvcc contracts products and sums into FMAs, so CUDA
// and CPU results agree within that tolerance, not bitwise.
#pragma once

#include "kernels/common.h"

namespace v3d::kernels {

// One step over n elements, its scalars in float as the kernels use them.
struct AdamStepArgs {
  int64_t n = 0;
  float beta1 = 0.9f, one_minus_beta1 = 0.1f;
  float beta2 = 0.999f, one_minus_beta2 = 0.001f;
  float step_size = 1e-3f;             // lr / (1 - beta1^t)
  float bias_correction2_sqrt = 1.0f;  // sqrt(1 - beta2^t)
  float eps = 1e-8f;
  void validate(const char* op) const { V3D_CHECK(n >= 0, op << ": negative element count " << n); }
  double flops() const { return 14.0 * static_cast<double>(n); }
  double bytes() const {
    return 36.0 * static_cast<double>(n);
  }  // reads p, g, m, v, v_max; writes 4
};

// Validates the hyperparameters (PyTorch's rules: lr >= 0, eps >= 0, 0 <= beta < 1, step >= 1)
// and computes the scalars of a step over n elements in double.
AdamStepArgs adam_step_args(float lr, float beta1, float beta2, float eps, int64_t step,
                            int64_t n = 0);

namespace cpu {
// p, g, m, v, v_max: (n)
void adam_amsgrad(const AdamStepArgs& a, float* p, const float* g, float* m, float* v,
                  float* v_max);
}  // namespace cpu

namespace launch {
template <GpuKind G>
void adam_amsgrad(const AdamStepArgs& a, float* p, const float* g, float* m, float* v, float* v_max,
                  StreamHandle s);
}  // namespace launch

}  // namespace v3d::kernels
