// Shape-checked entry of kernels/optimizer.h and the optimizer that owns its state.
#include "runtime/optimizer.h"

#include <string>

#include "kernels/optimizer.h"
#include "runtime/op_run.h"
#include "runtime/ops.h"

namespace v3d {

namespace ops {

namespace {

// Whether two tensors share element ranges of one storage (an in-place update through both would
// read what the other wrote).
bool overlaps(const Tensor& a, const Tensor& b) {
  if (!a.shares_storage(b) || a.numel() == 0 || b.numel() == 0) return false;
  return a.offset() < b.offset() + b.numel() && b.offset() < a.offset() + a.numel();
}

}  // namespace

void adam_amsgrad_out(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                      const Tensor& exp_avg_sq, const Tensor& max_exp_avg_sq, int64_t step,
                      const AdamOptions& options) {
  V3D_CHECK(param.defined() && param.dtype() == DType::kF32,
            "adam_amsgrad: param must be a defined f32 tensor");
  check_tensor(grad, "adam_amsgrad: grad", param.device(), param.shape());
  check_tensor(exp_avg, "adam_amsgrad: exp_avg", param.device(), param.shape());
  check_tensor(exp_avg_sq, "adam_amsgrad: exp_avg_sq", param.device(), param.shape());
  check_tensor(max_exp_avg_sq, "adam_amsgrad: max_exp_avg_sq", param.device(), param.shape());
  const Tensor* t[] = {&param, &grad, &exp_avg, &exp_avg_sq, &max_exp_avg_sq};
  const char* names[] = {"param", "grad", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  for (int i = 0; i < 5; ++i)
    for (int j = i + 1; j < 5; ++j)
      V3D_CHECK(!overlaps(*t[i], *t[j]),
                "adam_amsgrad: " << names[i] << " and " << names[j] << " overlap in memory");
  const kernels::AdamStepArgs a = kernels::adam_step_args(options.lr, options.beta1, options.beta2,
                                                          options.eps, step, param.numel());
  run_op<op_entry::adam_amsgrad>(param.device(), a, param.f32(), grad.f32(), exp_avg.f32(),
                                 exp_avg_sq.f32(), max_exp_avg_sq.f32());
}

}  // namespace ops

AdamAmsgrad::AdamAmsgrad(ParameterStore& params, AdamOptions options)
    : params_(&params), options_(options) {
  V3D_CHECK(params.finalized(),
            "AdamAmsgrad: the parameter store must be finalized before the optimizer is made");
  // Validates the hyperparameters now rather than at the first step.
  kernels::adam_step_args(options.lr, options.beta1, options.beta2, options.eps, 1);
  const Tensor& flat = params.flat_values();
  exp_avg_ = Tensor::zeros(flat.shape(), DType::kF32, flat.device());
  exp_avg_sq_ = Tensor::zeros(flat.shape(), DType::kF32, flat.device());
  max_exp_avg_sq_ = Tensor::zeros(flat.shape(), DType::kF32, flat.device());
}

void AdamAmsgrad::step() {
  // Padding between parameters has zero values and gradients: it stays zero (0 / (0 + eps)).
  ops::adam_amsgrad_out(params_->flat_values(), params_->flat_grads(), exp_avg_, exp_avg_sq_,
                        max_exp_avg_sq_, steps_ + 1, options_);
  ++steps_;
}

void AdamAmsgrad::set_lr(float lr) {
  V3D_CHECK(lr >= 0.0f, "AdamAmsgrad: invalid learning rate " << lr);
  options_.lr = lr;
}

void AdamAmsgrad::load_state(int64_t steps, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                             const Tensor& max_exp_avg_sq) {
  V3D_CHECK(steps >= 0, "AdamAmsgrad::load_state: negative step count " << steps);
  const Shape& shape = exp_avg_.shape();
  const Tensor* in[] = {&exp_avg, &exp_avg_sq, &max_exp_avg_sq};
  const char* names[] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  // Check all three before copying any, so a bad checkpoint leaves the state untouched.
  for (int i = 0; i < 3; ++i) {
    V3D_CHECK(in[i]->defined() && in[i]->dtype() == DType::kF32 && in[i]->shape() == shape,
              "AdamAmsgrad::load_state: "
                  << names[i] << " must be f32 of shape " << shape.str()
                  << " (the flat parameter buffer), got "
                  << (in[i]->defined() ? in[i]->str() : std::string("undefined")));
  }
  exp_avg_.copy_from(exp_avg);
  exp_avg_sq_.copy_from(exp_avg_sq);
  max_exp_avg_sq_.copy_from(max_exp_avg_sq);
  steps_ = steps;
}

}  // namespace v3d
