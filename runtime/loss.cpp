// Shape-checked entry points of kernels/loss.h and the differentiable MPJPE.
#include "runtime/loss.h"

#include <string>
#include <vector>

#include "kernels/loss.h"
#include "runtime/op_run.h"

namespace v3d::ops {

namespace {

struct MpjpeDims {
  int64_t n = 0;       // samples: every leading dimension
  int64_t joints = 0;  // J
  int64_t coords = 3;  // D
};

// Checks pred, target and weights for `op`; returns (N, J).
MpjpeDims check_mpjpe(const char* op, const Tensor& pred, const Tensor& target,
                      const Tensor& weights) {
  V3D_CHECK(pred.defined(), op << ": pred is undefined");
  V3D_CHECK(pred.dtype() == DType::kF32, op << ": pred must be f32, got " << pred.str());
  V3D_CHECK(
      pred.ndim() >= 2 && (pred.size(pred.ndim() - 1) == 3 || pred.size(pred.ndim() - 1) == 2),
      op << ": pred must be (..., J, 3) or (..., J, 2), got " << pred.str());
  check_tensor(target, (std::string(op) + ": target").c_str(), pred.device(), pred.shape());
  MpjpeDims d;
  d.joints = pred.size(pred.ndim() - 2);
  d.coords = pred.size(pred.ndim() - 1);
  V3D_CHECK(d.joints >= 1, op << ": pred has no joints: " << pred.str());
  d.n = pred.numel() / (d.coords * d.joints);
  V3D_CHECK(d.n >= 1, op << ": pred holds no sample: " << pred.str());
  if (weights.defined()) {
    V3D_CHECK(
        weights.dtype() == DType::kF32 && weights.device() == pred.device(),
        op << ": weights must be f32 on " << pred.device().str() << ", got " << weights.str());
    V3D_CHECK(weights.numel() == d.n, op << ": weights must hold one value per sample (N = " << d.n
                                         << " for pred " << pred.shape().str() << "), got "
                                         << weights.str());
  }
  return d;
}

void check_scalar(const char* op, const char* what, const Tensor& t, Device device) {
  V3D_CHECK(t.defined() && t.dtype() == DType::kF32 && t.numel() == 1 && t.device() == device,
            op << ": " << what << " must be one f32 element on " << device.str() << ", got "
               << (t.defined() ? t.str() : std::string("an undefined tensor")));
}

const float* weights_or_null(const Tensor& weights) {
  return weights.defined() ? weights.f32() : nullptr;
}

}  // namespace

void mpjpe_out(const Tensor& pred, const Tensor& target, const Tensor& weights,
               const Tensor& loss) {
  const MpjpeDims d = check_mpjpe("mpjpe", pred, target, weights);
  check_scalar("mpjpe", "loss", loss, pred.device());
  const float* w = weights_or_null(weights);
  run_op<op_entry::mpjpe>(pred.device(), kernels::MpjpeArgs{d.n, d.joints, w != nullptr, d.coords},
                          pred.f32(), target.f32(), w, loss.f32());
}

Tensor mpjpe(const Tensor& pred, const Tensor& target, const Tensor& weights) {
  check_mpjpe("mpjpe", pred, target, weights);
  Tensor loss = Tensor::empty({}, DType::kF32, pred.device());
  mpjpe_out(pred, target, weights, loss);
  return loss;
}

void mpjpe_bwd_out(const Tensor& pred, const Tensor& target, const Tensor& weights,
                   const Tensor& d_loss, const Tensor& d_pred) {
  const MpjpeDims d = check_mpjpe("mpjpe_bwd", pred, target, weights);
  check_scalar("mpjpe_bwd", "d_loss", d_loss, pred.device());
  check_tensor(d_pred, "mpjpe_bwd: d_pred", pred.device(), pred.shape());
  const float* w = weights_or_null(weights);
  run_op<op_entry::mpjpe_bwd>(pred.device(),
                              kernels::MpjpeBwdArgs{d.n, d.joints, w != nullptr, d.coords},
                              pred.f32(), target.f32(), w, d_loss.f32(), d_pred.f32());
}

}  // namespace v3d::ops

namespace v3d::ag {

Var mpjpe(const Var& pred, const Tensor& target, const Tensor& weights) {
  const Tensor pv = pred.value();
  // The closure keeps the two poses and the weights: the backward recomputes each distance
  // rather than saving N * J norms.
  return make_result(ops::mpjpe(pv, target, weights), "mpjpe", {pred},
                     [pv, target, weights](const Tensor& d_loss, const std::vector<bool>&) {
                       Tensor d_pred = Tensor::empty(pv.shape(), DType::kF32, pv.device());
                       ops::mpjpe_bwd_out(pv, target, weights, d_loss, d_pred);
                       return std::vector<Tensor>{d_pred};
                     });
}

}  // namespace v3d::ag
