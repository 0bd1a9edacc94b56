// Double-precision references for the MPJPE loss and the AMSGrad step, written from the formulas
// of VideoPose3D (common/loss.py) and torch.optim.Adam(amsgrad=True), not from the kernels.
#pragma once

#include <cstdint>

#include "tests/reference/reference.h"

namespace v3d::ref {

// pred, target: (n, joints, coords); w: (n), or empty for the unweighted loss.
// mean over the n * joints points of w[n] * ||pred - target||.
double mpjpe(const Vec& pred, const Vec& target, const Vec& w, int64_t n, int64_t joints,
             int64_t coords = 3);
// d_pred (n, joints, coords) of d_loss * mpjpe; 0 where a point's distance is 0.
Vec mpjpe_bwd(const Vec& pred, const Vec& target, const Vec& w, double d_loss, int64_t n,
              int64_t joints, int64_t coords = 3);

// One AMSGrad step at 1-based `step` on p, m, v, v_max (updated) with gradient g, every
// quantity in double, beta^t by repeated multiplication.
void adam_amsgrad(Vec& p, const Vec& g, Vec& m, Vec& v, Vec& v_max, int64_t step, double lr,
                  double beta1, double beta2, double eps);

}  // namespace v3d::ref
