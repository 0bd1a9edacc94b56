// The MLP demo job.
#include "trainer/mlp_demo.h"

#include <chrono>
#include <cmath>
#include <random>
#include <string>

#include "runtime/autograd.h"
#include "runtime/ops.h"
#include "runtime/parameters.h"
#include "runtime/stream.h"
#include "trainer/progress.h"

namespace v3d {

namespace {

constexpr int64_t kIn = 17 * 2;   // 17 keypoints, (x, y)
constexpr int64_t kOut = 17 * 3;  // 17 joints, (x, y, z)

std::vector<float> normal(std::mt19937_64& rng, int64_t n, float stddev) {
  std::normal_distribution<float> d(0.0f, stddev);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

// Synthetic data: inputs are random keypoints, targets the teacher MLP's output.
struct Teacher {
  Tensor w1, w2;  // (kIn, H), (H, kOut) on the device
  Tensor targets_for(const Tensor& x) const {
    NoGradGuard no_grad;
    return ops::matmul(ops::relu(ops::matmul(x, w1)), w2);
  }
};

Var mse(const Var& y, const Tensor& target) {
  const Var d = ag::add(y, Var(ops::scale(target, -1.0f)));
  return ag::mean(ag::mul(d, d));
}

}  // namespace

MlpDemoResult run_mlp_demo(const MlpDemoOptions& o) {
  V3D_CHECK(o.steps > 0 && o.batch > 0 && o.hidden > 0,
            "demo: steps, batch and hidden must be > 0");
  std::mt19937_64 rng(o.seed);
  const Device dev = o.device;

  Teacher teacher{
      Tensor::from_vector(normal(rng, kIn * 128, 1.0f / std::sqrt(float(kIn))), {kIn, 128}, dev),
      Tensor::from_vector(normal(rng, 128 * kOut, 1.0f / std::sqrt(128.0f)), {128, kOut}, dev)};

  ParameterStore params(dev);
  Var w1 = params.add("fc1.weight", {kIn, o.hidden});
  Var w2 = params.add("fc2.weight", {o.hidden, kOut});
  params.finalize();
  w1.value().copy_from(Tensor::from_vector(
      normal(rng, kIn * o.hidden, std::sqrt(2.0f / float(kIn))), {kIn, o.hidden}));
  w2.value().copy_from(Tensor::from_vector(
      normal(rng, o.hidden * kOut, 1.0f / std::sqrt(float(o.hidden))), {o.hidden, kOut}));

  const Tensor val_x = Tensor::from_vector(normal(rng, 1024 * kIn, 1.0f), {1024, kIn}, dev);
  const Tensor val_t = teacher.targets_for(val_x);
  auto evaluate = [&] {
    NoGradGuard no_grad;
    PhiloxState unused;
    Var h = ag::relu(ag::matmul(Var(val_x), w1));
    h = ag::dropout(h, o.dropout, /*training=*/false, unused);
    return mse(ag::matmul(h, w2), val_t).value().item();
  };

  MlpDemoResult r;
  r.initial_loss = evaluate();
  std::fprintf(o.log, "demo: MLP %lld-%lld-%lld on %s, %lld parameters, batch %lld, %lld steps\n",
               static_cast<long long>(kIn), static_cast<long long>(o.hidden),
               static_cast<long long>(kOut), dev.str().c_str(),
               static_cast<long long>(params.parameter_count()), static_cast<long long>(o.batch),
               static_cast<long long>(o.steps));
  std::fprintf(o.log, "demo: held-out loss before training %.5f\n", r.initial_loss);
  std::fflush(o.log);  // the progress line goes to stderr; keep the two in order

  PhiloxState dropout_rng{o.seed, 0};
  Tensor step = Tensor::empty(params.flat_values().shape(), DType::kF32, dev);
  Progress progress("train", o.steps);
  const auto start = std::chrono::steady_clock::now();
  float loss_value = 0.0f;
  for (int64_t s = 1; s <= o.steps; ++s) {
    const Tensor x = Tensor::from_vector(normal(rng, o.batch * kIn, 1.0f), {o.batch, kIn}, dev);
    const Tensor t = teacher.targets_for(x);
    params.zero_grad();
    Var h = ag::relu(ag::matmul(Var(x), w1));
    h = ag::dropout(h, o.dropout, /*training=*/true, dropout_rng);
    Var loss = mse(ag::matmul(h, w2), t);
    loss.backward();
    // SGD over the flat buffer: two kernels for all parameters.
    ops::scale_out(params.flat_grads(), -o.lr, step);
    ops::add_out(params.flat_values(), step, params.flat_values());
    if (s % 50 == 0 || s == o.steps) {
      loss_value = loss.value().item();
      progress.update(s, "loss " + std::to_string(loss_value));
    }
  }
  synchronize(dev);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  progress.finish("loss " + std::to_string(loss_value));
  r.samples_per_second = static_cast<double>(o.steps * o.batch) / r.seconds;
  r.final_loss = evaluate();
  std::fprintf(o.log, "demo: held-out loss after training %.5f (%.1f%% of the initial loss)\n",
               r.final_loss, 100.0 * r.final_loss / r.initial_loss);
  std::fprintf(o.log, "demo: %.0f training samples/s on %s\n", r.samples_per_second,
               dev.str().c_str());
  return r;
}

}  // namespace v3d
