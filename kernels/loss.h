// MPJPE, the training loss and headline metric of VideoPose3D (common/loss.py `mpjpe` and
// `weighted_mpjpe`), on contiguous float32 buffers:
//
//   pred, target: (N, J, D), point p = n * J + j, coordinate c at p * D + c; D (`coords`) is 3
//                 for poses, 2 for the 2D reprojection error of semi-supervised training
//   w:            (N) per-sample weights, or nullptr for the unweighted loss (w_n = 1)
//   dist[n, j]  = || pred[n, j, :] - target[n, j, :] ||_2
//   fwd: loss[0] = (1 / (N * J)) * sum_{n, j} w_n * dist[n, j]
//   bwd: d_pred[n, j, c] = d_loss[0] * w_n / (N * J) * (pred - target)[n, j, c] / dist[n, j],
//        and 0 where dist[n, j] == 0
//
// N is every leading dimension flattened (B * T' for a batch of output windows). The weighting is
// VideoPose3D's: `torch.mean(w * torch.norm(pred - target, dim=-1))` with w of shape (B, T, 1)
// broadcast over the joints, so the normalisation is N * J whatever the weights are (not the sum
// of the weights); w = 1 gives `mpjpe`. Weights may be any value, negative included.
// Zero distance: the norm is not differentiable at 0; the gradient there is 0, the subgradient
// PyTorch's norm backward uses too (it masks grad / norm where norm == 0), so a joint predicted
// exactly contributes nothing instead of NaN.
// d_loss is a one-element buffer on the same device as pred (the seed of the backward pass, read
// on the device: no host round trip). d_pred is OVERWRITTEN, not accumulated.
//
// Determinism: no float atomics. CPU: distances in float (as CUDA computes them), summed in double
// in chunks of kMpjpeChunk points, chunk sums in order. CUDA: each block reduces a grid-stride
// share of the points into workspace[block] (warp shuffles, then one value per warp), then one
// block reduces the partials and scales by 1 / (N * J); `workspace` holds
// mpjpe_workspace_floats(N * J) floats. The summation order depends only on N * J.
// Tolerance: each distance carries about two float32 roundings; the CUDA float tree adds about
// log2(N * J) more, on positive terms (no cancellation): 2e-6 relative for the loss. Inputs whose
// distances and weights are small integers make every partial sum exact, which leaves only the
// final scaling (two roundings). The backward is a chain of about eight roundings per element
// (norm, square root, scale, products): 1e-6 relative.
#pragma once

#include <cmath>

#include "kernels/common.h"

namespace v3d::kernels {

// d = pred[p] - target[p] (coords 2 or 3); returns ||d||: the float operations both backends run.
V3D_HOST_DEVICE inline float mpjpe_point_distance(const float* pred, const float* target, int64_t p,
                                                  int64_t coords, float* d) {
  float s = 0.0f;
  for (int64_t c = 0; c < coords; ++c) {
    d[c] = pred[p * coords + c] - target[p * coords + c];
    s += d[c] * d[c];
  }
  return sqrtf(s);
}

constexpr int64_t kMpjpeChunk = 4096;  // points per CPU partial sum

// The forward over n samples of `joints` points (n >= 1) of `coords` (2 or 3) coordinates.
struct MpjpeArgs {
  int64_t n = 0, joints = 0;
  bool weighted = false;  // one weight per sample (w non-null)
  int64_t coords = 3;
  void validate(const char* op) const {
    V3D_CHECK(n >= 1 && joints >= 1,
              op << ": need at least one point, got n=" << n << " joints=" << joints);
    V3D_CHECK(coords == 2 || coords == 3, op << ": coords must be 2 or 3, got " << coords);
  }
  // Floats of device workspace the CUDA forward needs (one partial sum per block).
  int64_t workspace_floats() const;
  // 3 differences, 3 squares, 2 sums, sqrt, weight and accumulate per point.
  double flops() const { return 10.0 * static_cast<double>(n * joints); }
  double bytes() const {
    return 4.0 * (2.0 * static_cast<double>(coords * n * joints) +
                  (weighted ? static_cast<double>(n) : 0.0));
  }
};

// The backward over n samples of `joints` points (n >= 0).
struct MpjpeBwdArgs {
  int64_t n = 0, joints = 0;
  bool weighted = false;
  int64_t coords = 3;
  void validate(const char* op) const {
    V3D_CHECK(n >= 0 && joints >= 1, op << ": bad sizes n=" << n << " joints=" << joints);
    V3D_CHECK(coords == 2 || coords == 3, op << ": coords must be 2 or 3, got " << coords);
  }
  double flops() const { return 14.0 * static_cast<double>(n * joints); }
  double bytes() const {
    return 4.0 * (3.0 * static_cast<double>(coords * n * joints) +
                  (weighted ? static_cast<double>(n) : 0.0));
  }
};

namespace cpu {
// pred, target: (n, joints, coords); w: (n) or nullptr; loss: (1), overwritten.
void mpjpe_fwd(const MpjpeArgs& args, const float* pred, const float* target, const float* w,
               float* loss);
// d_loss: (1); d_pred: (n, joints, coords), overwritten.
void mpjpe_bwd(const MpjpeBwdArgs& args, const float* pred, const float* target, const float* w,
               const float* d_loss, float* d_pred);
}  // namespace cpu

namespace launch {
template <GpuKind G>
void mpjpe_fwd(const MpjpeArgs& args, const float* pred, const float* target, const float* w,
               float* loss, float* workspace, StreamHandle s);
template <GpuKind G>
void mpjpe_bwd(const MpjpeBwdArgs& args, const float* pred, const float* target, const float* w,
               const float* d_loss, float* d_pred, StreamHandle s);
}  // namespace launch

}  // namespace v3d::kernels
