// Cases for adam_amsgrad (runtime/optimizer.h). Inputs are (p, g, m, v, v_max) over a flat buffer
// of n elements; the outputs are the updated (p, m, v, v_max): the run copies the inputs into the
// outputs and updates those in place, as the optimizer does with its own buffers.
//   state=zero:    the first step of a fresh optimizer (t = 1, m = v = v_max = 0);
//   state=running: m N(0, 0.5), v U(0.05, 1), v_max = v * U(1, 1.002), the invariant
//                  v_max >= v of a running optimizer, close enough that the max picks either side;
//   grads=tiny:    |g| near eps at t = 1, where the update lr * g / (|g| + eps) depends on eps;
//   t=1..10:       ten consecutive steps from a zero state with one gradient, so the state each
//                  step leaves is what the next reads.
// Parameters are N(0, 0.05), the scale of trained weights, so that the relative tolerance on p
// still resolves an update of lr = 1e-3. Lengths sweep around the block size (256) and past many
// blocks (100003, not a multiple of anything).
#include <sstream>
#include <string>

#include "kernels/optimizer.h"
#include "runtime/optimizer.h"
#include "tests/harness/harness.h"
#include "tests/reference/loss.h"

namespace v3d::harness {

namespace {

struct AdamCase {
  int64_t n;
  int64_t first_step;  // steps first_step .. last_step run in order
  int64_t last_step;
  double lr;  // as written: the reference uses the decimal, the optimizer its float
  bool zero_state;
  bool tiny_grads;
};

OpCase make_case(const AdamCase& a) {
  AdamOptions options;
  options.lr = static_cast<float>(a.lr);
  const int64_t n = a.n;
  const int64_t steps = a.last_step - a.first_step + 1;
  std::ostringstream lr;
  lr << a.lr;  // "0.001", not "0.001000"
  OpCase c;
  c.op = "adam_amsgrad";
  c.params = "n=" + std::to_string(n) + " t=" + std::to_string(a.first_step) +
             (steps > 1 ? ".." + std::to_string(a.last_step) : std::string()) + " lr=" + lr.str() +
             " betas=(0.9, 0.999) eps=1e-08" + " state=" + (a.zero_state ? "zero" : "running") +
             " grads=" + (a.tiny_grads ? "tiny" : "normal");
  c.make_inputs = [a, n](Rng& r) {
    std::vector<float> p = random_normal(r, n, 0.05f);
    std::vector<float> g = random_normal(r, n, a.tiny_grads ? 1e-8f : 1.0f);
    std::vector<float> m(static_cast<size_t>(n), 0.0f), v = m, v_max = m;
    if (!a.zero_state) {
      m = random_normal(r, n, 0.5f);
      v = random_uniform(r, n, 0.05f, 1.0f);
      const std::vector<float> spread = random_uniform(r, n, 1.0f, 1.002f);
      for (size_t i = 0; i < v.size(); ++i) v_max[i] = v[i] * spread[i];
    }
    return std::vector<Input>{{{n}, p}, {{n}, g}, {{n}, m}, {{n}, v}, {{n}, v_max}};
  };
  c.outputs = {{n}, {n}, {n}, {n}};
  c.run = [a, options](const std::vector<Tensor>& in, const std::vector<Tensor>& out) {
    out[0].copy_from(in[0]);
    out[1].copy_from(in[2]);
    out[2].copy_from(in[3]);
    out[3].copy_from(in[4]);
    for (int64_t t = a.first_step; t <= a.last_step; ++t)
      ops::adam_amsgrad_out(out[0], in[1], out[1], out[2], out[3], t, options);
  };
  c.reference = [a](const std::vector<ref::Vec>& in) {
    ref::Vec p = in[0], m = in[2], v = in[3], v_max = in[4];
    // PyTorch's defaults as the decimals they are written as: the optimizer must read its float
    // options the same way (kernels/optimizer.h), or v is off by 1.3e-5 relative.
    for (int64_t t = a.first_step; t <= a.last_step; ++t)
      ref::adam_amsgrad(p, in[1], m, v, v_max, t, a.lr, 0.9, 0.999, 1e-8);
    return std::vector<ref::Vec>{p, m, v, v_max};
  };
  if (a.tiny_grads) {
    c.tol = {2e-6, 5e-10,
             "a handful of float32 roundings per element; when p - update cancels, what is left "
             "is the update's error: about eight half-ulps (float scalars, sqrt, divisions) of an "
             "update of lr = 1e-3"};
  } else {
    c.tol = {2e-6, 5e-7,
             "a handful of float32 roundings per element (kernels/optimizer.h); 5e-7 absolute "
             "for beta1 * m + (1 - beta1) * g when its terms of order 1 cancel"};
  }
  kernels::AdamStepArgs one_step;
  one_step.n = n;
  c.flops = one_step.flops() * static_cast<double>(steps);
  c.bytes = one_step.bytes() * static_cast<double>(steps);
  return c;
}

}  // namespace

V3D_HARNESS_CASES(cases) {
  for (const int64_t n : {int64_t{1}, int64_t{255}, int64_t{256}, int64_t{257}, int64_t{100003}}) {
    for (const int64_t t : {int64_t{1}, int64_t{2}, int64_t{10}, int64_t{1000}}) {
      for (const double lr : {1e-3, 0.1}) {
        cases.push_back(make_case({n, t, t, lr, /*zero_state=*/t == 1, /*tiny_grads=*/false}));
      }
    }
    cases.push_back(make_case({n, 1, 1, 1e-3, true, /*tiny_grads=*/true}));
    cases.push_back(make_case({n, 1, 10, 1e-3, /*zero_state=*/true, false}));
  }
}

}  // namespace v3d::harness
