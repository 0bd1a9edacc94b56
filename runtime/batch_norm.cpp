// Shape-checked entry points over kernels/batch_norm.h and their differentiable forms. A tensor
// of any shape (..., C) is viewed as (rows, C) with rows = numel / C: it is contiguous, so the
// kernels take the raw pointer.
#include "runtime/batch_norm.h"

#include "kernels/batch_norm.h"
#include "runtime/op_run.h"
#include "runtime/ops.h"

namespace v3d::ops {

namespace {

// Channel count of a channels-last activation: its last dimension.
int64_t channels_of(const Tensor& x, const char* what) {
  V3D_CHECK(x.defined(), what << ": undefined tensor");
  V3D_CHECK(x.dtype() == DType::kF32, what << ": expected f32, got " << x.str());
  V3D_CHECK(
      x.ndim() >= 1 && x.size(x.ndim() - 1) >= 1,
      what << ": expected a tensor whose last dimension is the channel count, got " << x.str());
  return x.size(x.ndim() - 1);
}

void check_channel_vec(const Tensor& t, const char* what, const Tensor& ref, int64_t c) {
  check_tensor(t, what, ref.device(), Shape{c});
}

}  // namespace

void batch_norm_train_out(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                          const Tensor& running_mean, const Tensor& running_var, float momentum,
                          float eps, const Tensor& y, const Tensor& save_mean,
                          const Tensor& save_inv_std) {
  const int64_t c = channels_of(x, "batch_norm_train: x");
  check_channel_vec(gamma, "batch_norm_train: gamma", x, c);
  check_channel_vec(beta, "batch_norm_train: beta", x, c);
  check_channel_vec(running_mean, "batch_norm_train: running_mean", x, c);
  check_channel_vec(running_var, "batch_norm_train: running_var", x, c);
  check_tensor(y, "batch_norm_train: y", x.device(), x.shape());
  check_channel_vec(save_mean, "batch_norm_train: save_mean", x, c);
  check_channel_vec(save_inv_std, "batch_norm_train: save_inv_std", x, c);
  const int64_t rows = x.numel() / c;
  V3D_CHECK(rows >= 2,
            "batch_norm_train: expected more than 1 value per channel when training, "
            "got input "
                << x.str());
  V3D_CHECK(eps > 0.0f, "batch_norm_train: eps must be positive, got " << eps);
  kernels::BatchNormArgs args;
  args.rows = rows;
  args.channels = c;
  args.momentum = momentum;
  args.eps = eps;
  run_op<op_entry::batch_norm_train>(x.device(), args, x.f32(), gamma.f32(), beta.f32(), y.f32(),
                                     save_mean.f32(), save_inv_std.f32(), running_mean.f32(),
                                     running_var.f32());
}

BatchNormTrainResult batch_norm_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                      const Tensor& running_mean, const Tensor& running_var,
                                      float momentum, float eps) {
  const int64_t c = channels_of(x, "batch_norm_train: x");
  BatchNormTrainResult r{Tensor::empty(x.shape(), DType::kF32, x.device()),
                         Tensor::empty({c}, DType::kF32, x.device()),
                         Tensor::empty({c}, DType::kF32, x.device())};
  batch_norm_train_out(x, gamma, beta, running_mean, running_var, momentum, eps, r.y, r.save_mean,
                       r.save_inv_std);
  return r;
}

void batch_norm_infer_out(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                          const Tensor& running_mean, const Tensor& running_var, float eps,
                          const Tensor& y) {
  const int64_t c = channels_of(x, "batch_norm_infer: x");
  check_channel_vec(gamma, "batch_norm_infer: gamma", x, c);
  check_channel_vec(beta, "batch_norm_infer: beta", x, c);
  check_channel_vec(running_mean, "batch_norm_infer: running_mean", x, c);
  check_channel_vec(running_var, "batch_norm_infer: running_var", x, c);
  check_tensor(y, "batch_norm_infer: y", x.device(), x.shape());
  const int64_t rows = x.numel() / c;
  run_op<op_entry::batch_norm_infer>(x.device(), kernels::BatchNormInferArgs{rows, c, eps}, x.f32(),
                                     gamma.f32(), beta.f32(), running_mean.f32(), running_var.f32(),
                                     y.f32());
}

Tensor batch_norm_infer(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                        const Tensor& running_mean, const Tensor& running_var, float eps) {
  channels_of(x, "batch_norm_infer: x");
  Tensor y = Tensor::empty(x.shape(), DType::kF32, x.device());
  batch_norm_infer_out(x, gamma, beta, running_mean, running_var, eps, y);
  return y;
}

namespace {

// Shared checks of the two backward entry points; returns C.
int64_t check_bwd(const char* op, const Tensor& x, const Tensor& d_y, const Tensor& gamma,
                  const Tensor& mean, const Tensor& spread, const Tensor& d_x,
                  const Tensor& d_gamma, const Tensor& d_beta) {
  const std::string o(op);
  const int64_t c = channels_of(x, (o + ": x").c_str());
  check_tensor(d_y, (o + ": d_y").c_str(), x.device(), x.shape());
  check_channel_vec(gamma, (o + ": gamma").c_str(), x, c);
  check_channel_vec(mean, (o + ": mean").c_str(), x, c);
  check_channel_vec(spread, (o + ": inv_std / var").c_str(), x, c);
  check_tensor(d_x, (o + ": d_x").c_str(), x.device(), x.shape());
  check_channel_vec(d_gamma, (o + ": d_gamma").c_str(), x, c);
  check_channel_vec(d_beta, (o + ": d_beta").c_str(), x, c);
  return c;
}

BatchNormGrads alloc_grads(const Tensor& x) {
  const int64_t c = x.size(x.ndim() - 1);
  return {Tensor::empty(x.shape(), DType::kF32, x.device()),
          Tensor::empty({c}, DType::kF32, x.device()), Tensor::empty({c}, DType::kF32, x.device())};
}

}  // namespace

void batch_norm_bwd_out(const Tensor& x, const Tensor& d_y, const Tensor& gamma,
                        const Tensor& save_mean, const Tensor& save_inv_std, const Tensor& d_x,
                        const Tensor& d_gamma, const Tensor& d_beta) {
  const int64_t c =
      check_bwd("batch_norm_bwd", x, d_y, gamma, save_mean, save_inv_std, d_x, d_gamma, d_beta);
  const int64_t rows = x.numel() / c;
  kernels::BatchNormArgs args;
  args.rows = rows;
  args.channels = c;
  run_op<op_entry::batch_norm_bwd>(x.device(), args, x.f32(), d_y.f32(), gamma.f32(),
                                   save_mean.f32(), save_inv_std.f32(), d_x.f32(), d_gamma.f32(),
                                   d_beta.f32());
}

BatchNormGrads batch_norm_bwd(const Tensor& x, const Tensor& d_y, const Tensor& gamma,
                              const Tensor& save_mean, const Tensor& save_inv_std) {
  channels_of(x, "batch_norm_bwd: x");
  BatchNormGrads g = alloc_grads(x);
  batch_norm_bwd_out(x, d_y, gamma, save_mean, save_inv_std, g.d_x, g.d_gamma, g.d_beta);
  return g;
}

void batch_norm_infer_bwd_out(const Tensor& x, const Tensor& d_y, const Tensor& gamma,
                              const Tensor& running_mean, const Tensor& running_var, float eps,
                              const Tensor& d_x, const Tensor& d_gamma, const Tensor& d_beta) {
  const int64_t c = check_bwd("batch_norm_infer_bwd", x, d_y, gamma, running_mean, running_var, d_x,
                              d_gamma, d_beta);
  const int64_t rows = x.numel() / c;
  kernels::BatchNormArgs args;
  args.rows = rows;
  args.channels = c;
  args.eps = eps;
  run_op<op_entry::batch_norm_infer_bwd>(x.device(), args, x.f32(), d_y.f32(), gamma.f32(),
                                         running_mean.f32(), running_var.f32(), d_x.f32(),
                                         d_gamma.f32(), d_beta.f32());
}

BatchNormGrads batch_norm_infer_bwd(const Tensor& x, const Tensor& d_y, const Tensor& gamma,
                                    const Tensor& running_mean, const Tensor& running_var,
                                    float eps) {
  channels_of(x, "batch_norm_infer_bwd: x");
  BatchNormGrads g = alloc_grads(x);
  batch_norm_infer_bwd_out(x, d_y, gamma, running_mean, running_var, eps, g.d_x, g.d_gamma,
                           g.d_beta);
  return g;
}

void batch_norm_fold_out(const Tensor& w, const Tensor& gamma, const Tensor& beta,
                         const Tensor& running_mean, const Tensor& running_var, float eps,
                         const Tensor& w_folded, const Tensor& b_folded) {
  V3D_CHECK(w.defined() && w.dtype() == DType::kF32 && w.ndim() >= 1,
            "batch_norm_fold: w must be an f32 tensor (C_out, C_in, K), got " << w.str());
  const int64_t c_out = w.size(0);
  const int64_t inner = c_out > 0 ? w.numel() / c_out : 0;
  check_channel_vec(gamma, "batch_norm_fold: gamma", w, c_out);
  check_channel_vec(beta, "batch_norm_fold: beta", w, c_out);
  check_channel_vec(running_mean, "batch_norm_fold: running_mean", w, c_out);
  check_channel_vec(running_var, "batch_norm_fold: running_var", w, c_out);
  check_tensor(w_folded, "batch_norm_fold: w_folded", w.device(), w.shape());
  check_channel_vec(b_folded, "batch_norm_fold: b_folded", w, c_out);
  run_op<op_entry::batch_norm_fold>(w.device(), kernels::BatchNormFoldArgs{c_out, inner, eps},
                                    w.f32(), gamma.f32(), beta.f32(), running_mean.f32(),
                                    running_var.f32(), w_folded.f32(), b_folded.f32());
}

FoldedConv batch_norm_fold(const Tensor& w, const Tensor& gamma, const Tensor& beta,
                           const Tensor& running_mean, const Tensor& running_var, float eps) {
  V3D_CHECK(w.defined() && w.ndim() >= 1,
            "batch_norm_fold: w must be (C_out, C_in, K), got " << w.str());
  FoldedConv f{Tensor::empty(w.shape(), DType::kF32, w.device()),
               Tensor::empty({w.size(0)}, DType::kF32, w.device())};
  batch_norm_fold_out(w, gamma, beta, running_mean, running_var, eps, f.weight, f.bias);
  return f;
}

void bias_add_out(const Tensor& x, const Tensor& b, bool relu, const Tensor& y) {
  const int64_t c = channels_of(x, "bias_add: x");
  check_channel_vec(b, "bias_add: b", x, c);
  check_tensor(y, "bias_add: y", x.device(), x.shape());
  const int64_t rows = x.numel() / c;
  run_op<op_entry::bias_add>(x.device(), kernels::BiasArgs{rows, c, relu}, x.f32(), b.f32(),
                             y.f32());
}

Tensor bias_add(const Tensor& x, const Tensor& b, bool relu) {
  channels_of(x, "bias_add: x");
  Tensor y = Tensor::empty(x.shape(), DType::kF32, x.device());
  bias_add_out(x, b, relu, y);
  return y;
}

void bias_add_bwd_out(const Tensor& d_y, const Tensor& d_b) {
  const int64_t c = channels_of(d_y, "bias_add_bwd: d_y");
  check_channel_vec(d_b, "bias_add_bwd: d_b", d_y, c);
  const int64_t rows = d_y.numel() / c;
  run_op<op_entry::bias_add_bwd>(d_y.device(), kernels::BiasBwdArgs{rows, c}, d_y.f32(), d_b.f32());
}

Tensor bias_add_bwd(const Tensor& d_y) {
  const int64_t c = channels_of(d_y, "bias_add_bwd: d_y");
  Tensor d_b = Tensor::empty({c}, DType::kF32, d_y.device());
  bias_add_bwd_out(d_y, d_b);
  return d_b;
}

}  // namespace v3d::ops

namespace v3d::ag {

Var batch_norm(const Var& x, const Var& gamma, const Var& beta, Tensor running_mean,
               Tensor running_var, float momentum, bool training, float eps) {
  Tensor xv = x.value(), gv = gamma.value();
  if (training) {
    ops::BatchNormTrainResult r =
        ops::batch_norm_train(xv, gv, beta.value(), running_mean, running_var, momentum, eps);
    Tensor mean = r.save_mean, inv_std = r.save_inv_std;
    return make_result(r.y, "batch_norm", {x, gamma, beta},
                       [xv, gv, mean, inv_std](const Tensor& d, const std::vector<bool>&) {
                         ops::BatchNormGrads g = ops::batch_norm_bwd(xv, d, gv, mean, inv_std);
                         return std::vector<Tensor>{g.d_x, g.d_gamma, g.d_beta};
                       });
  }
  Tensor y = ops::batch_norm_infer(xv, gv, beta.value(), running_mean, running_var, eps);
  // Snapshots: a later training step updates the running statistics in place.
  Tensor rm = running_mean.clone(), rv = running_var.clone();
  return make_result(y, "batch_norm", {x, gamma, beta},
                     [xv, gv, rm, rv, eps](const Tensor& d, const std::vector<bool>&) {
                       ops::BatchNormGrads g = ops::batch_norm_infer_bwd(xv, d, gv, rm, rv, eps);
                       return std::vector<Tensor>{g.d_x, g.d_gamma, g.d_beta};
                     });
}

Var bias_add(const Var& x, const Var& b, bool relu) {
  Tensor y = ops::bias_add(x.value(), b.value(), relu);
  // With ReLU, y > 0 exactly where x + b > 0, so y is all the backward keeps.
  Tensor saved = relu ? y : Tensor();
  return make_result(y, "bias_add", {x, b}, [saved](const Tensor& d, const std::vector<bool>&) {
    Tensor d_pre = d;
    if (saved.defined()) {
      d_pre = Tensor::empty(d.shape(), DType::kF32, d.device());
      ops::relu_bwd_out(saved, d, d_pre);
    }
    return std::vector<Tensor>{d_pre, ops::bias_add_bwd(d_pre)};
  });
}

}  // namespace v3d::ag
