// Adam with AMSGrad over a ParameterStore's flat buffers (kernels/optimizer.h): VideoPose3D's
// optim.Adam(lr=0.001, amsgrad=True) with no weight decay. The whole state is three tensors shaped
// like the flat parameter buffer plus the step count, so a checkpoint saves and restores it in one
// piece, and step() is one kernel launch whatever the model.
#pragma once

#include <cstdint>

#include "runtime/parameters.h"
#include "runtime/tensor.h"

namespace v3d {

struct AdamOptions {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
};

namespace ops {

// One AMSGrad step at 1-based `step` on same-shaped f32 tensors of one device: param, exp_avg,
// exp_avg_sq and max_exp_avg_sq are updated in place, grad is read. The four updated tensors must
// not overlap one another or grad. The bias corrections are computed in double on the host.
void adam_amsgrad_out(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                      const Tensor& exp_avg_sq, const Tensor& max_exp_avg_sq, int64_t step,
                      const AdamOptions& options);

}  // namespace ops

class AdamAmsgrad {
 public:
  // The store must be finalized; it must outlive the optimizer. The state starts at zero, step 0.
  explicit AdamAmsgrad(ParameterStore& params, AdamOptions options = {});

  // One step from the store's flat gradients (as accumulated by backward): one launch.
  void step();
  // The learning rate of the next steps (VideoPose3D decays it by 0.95 per epoch).
  void set_lr(float lr);
  float lr() const { return options_.lr; }
  const AdamOptions& options() const { return options_; }
  int64_t steps() const { return steps_; }  // steps taken so far: the next is steps() + 1

  // The state, shaped like params.flat_values() and on its device: m, v and max(v).
  const Tensor& exp_avg() const { return exp_avg_; }
  const Tensor& exp_avg_sq() const { return exp_avg_sq_; }
  const Tensor& max_exp_avg_sq() const { return max_exp_avg_sq_; }

  // Restores a saved state (tensors from any device, copied in): continuing afterwards equals
  // continuing the optimizer that saved it.
  void load_state(int64_t steps, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                  const Tensor& max_exp_avg_sq);

 private:
  ParameterStore* params_;
  AdamOptions options_;
  int64_t steps_ = 0;
  Tensor exp_avg_, exp_avg_sq_, max_exp_avg_sq_;
};

}  // namespace v3d
