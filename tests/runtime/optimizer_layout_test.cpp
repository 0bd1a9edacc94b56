// AdamAmsgrad on a ParameterStore (first step, convergence on a quadratic, learning-rate changes,
// checkpoint round trips), the MPJPE loss's documented semantics (VideoPose3D's weighting, the
// zero-distance gradient, leading dimensions), and the pose layout views, on every device.
// Accuracy against double references over many sizes is the op harness's job
// (tests/harness/cases_loss.cpp, cases_optimizer.cpp); these pin the behaviour users rely on.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "runtime/autograd.h"
#include "runtime/layout.h"
#include "runtime/loss.h"
#include "runtime/ops.h"
#include "runtime/optimizer.h"
#include "runtime/parameters.h"
#include "tests/runtime/test_util.h"

namespace v3d {
namespace {

using test::bitwise_equal;
using test::iota_vec;

// ---- layout views -----------------------------------------------------------------------------

class LayoutTest : public test::DeviceTest {};

// A value that names its pose index, so a misplaced element says where it came from.
float code(int64_t b, int64_t t, int64_t j, int64_t f) {
  return static_cast<float>(1000 * b + 100 * t + 10 * j + f);
}

TEST_P(LayoutTest, PosesToChannelsIsJointMajor) {
  const int64_t B = 2, T = 3, J = 5, F = 2;
  std::vector<float> poses(B * T * J * F);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = 0; j < J; ++j)
        for (int64_t f = 0; f < F; ++f) poses[((b * T + t) * J + j) * F + f] = code(b, t, j, f);
  const Tensor x = Tensor::from_vector(poses, {B, T, J, F}, dev());
  const Tensor y = ops::poses_to_channels(x);
  EXPECT_EQ(y.shape(), Shape({B, T, J * F}));
  EXPECT_TRUE(y.shares_storage(x));
  EXPECT_EQ(y.device(), dev());
  const std::vector<float> ch = y.to_vector();
  // channel j * 2 + f of frame (b, t) is pose element (j, f), as VideoPose3D's x.view(B, T, -1)
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t c = 0; c < J * F; ++c)
        EXPECT_EQ(ch[(b * T + t) * J * F + c], code(b, t, c / F, c % F))
            << "b=" << b << " t=" << t << " channel " << c;
}

TEST_P(LayoutTest, ChannelsToPosesIsTheInverseForThreeCoordinates) {
  const int64_t B = 2, T = 4, J = 17;
  const Tensor y = Tensor::from_vector(iota_vec(B * T * J * 3), {B, T, J * 3}, dev());
  const Tensor poses = ops::channels_to_poses(y, J);
  EXPECT_EQ(poses.shape(), Shape({B, T, J, 3}));
  EXPECT_TRUE(poses.shares_storage(y));
  const std::vector<float> p = poses.to_vector(), ch = y.to_vector();
  for (int64_t bt = 0; bt < B * T; ++bt)
    for (int64_t j = 0; j < J; ++j)
      for (int64_t c = 0; c < 3; ++c)
        EXPECT_EQ(p[(bt * J + j) * 3 + c], ch[bt * J * 3 + j * 3 + c]);
  EXPECT_EQ(ops::poses_to_channels(poses).shape(), y.shape());
  // Empty batches and windows are shapes like any other.
  EXPECT_EQ(ops::channels_to_poses(Tensor::zeros({0, 4, 51}, DType::kF32, dev()), 17).shape(),
            Shape({0, 4, 17, 3}));
}

TEST_P(LayoutTest, WrongShapesAreNamed) {
  const Tensor three_d = Tensor::zeros({2, 3, 34}, DType::kF32, dev());
  EXPECT_V3D_ERROR(ops::poses_to_channels(three_d), "poses_to_channels", "(B, T, J, F)",
                   "(2, 3, 34)");
  EXPECT_V3D_ERROR(ops::poses_to_channels(Tensor()), "poses_to_channels", "undefined");
  EXPECT_V3D_ERROR(ops::channels_to_poses(three_d, 17), "channels_to_poses", "(B, T, 51)",
                   "J = 17");
  EXPECT_V3D_ERROR(ops::channels_to_poses(Tensor::zeros({2, 51}, DType::kF32, dev()), 17),
                   "channels_to_poses", "(2, 51)");
  EXPECT_V3D_ERROR(ops::channels_to_poses(three_d, 0), "channels_to_poses", "joints");
}

INSTANTIATE_TEST_SUITE_P(Devices, LayoutTest, ::testing::ValuesIn(test::device_params()),
                         test::device_test_name);

// ---- MPJPE ------------------------------------------------------------------------------------

class MpjpeTest : public test::DeviceTest {
 protected:
  // N = 2 samples of J = 2 joints whose errors are (3, 4, 0), (0, 0, 0), (1, 2, 2), (2, 3, 6):
  // distances 5, 0, 3, 7.
  Tensor pred() const {
    return Tensor::from_vector({3, 4, 0, 1, 1, 1, 1, 2, 2, 2, 3, 6}, {2, 2, 3}, dev());
  }
  Tensor target() const { return Tensor::zeros({2, 2, 3}, DType::kF32, dev()); }
  Tensor shifted_target() const {
    // target (0, 0, 0) except the second point, which equals its prediction.
    return Tensor::from_vector({0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0}, {2, 2, 3}, dev());
  }
};

TEST_P(MpjpeTest, MeanOverSamplesAndJoints) {
  EXPECT_FLOAT_EQ(ops::mpjpe(pred(), shifted_target()).item(), (5.0f + 0 + 3 + 7) / 4);
  EXPECT_EQ(ops::mpjpe(pred(), shifted_target()).shape(), Shape());
}

TEST_P(MpjpeTest, WeightsScaleSamplesAndTheMeanStaysOverNTimesJ) {
  // VideoPose3D's weighted_mpjpe: mean(w * dist) over N * J, not normalised by the weights' sum.
  const Tensor w = Tensor::from_vector({1, 3}, {2}, dev());
  EXPECT_FLOAT_EQ(ops::mpjpe(pred(), shifted_target(), w).item(),
                  (1 * (5 + 0) + 3 * (3 + 7)) / 4.f);
  // Weights of shape (B, T', 1) as VideoPose3D passes them, with leading dimensions (1, 2).
  const Tensor pred4 = pred().view({1, 2, 2, 3});
  const Tensor w3 = w.view({1, 2, 1});
  EXPECT_FLOAT_EQ(ops::mpjpe(pred4, shifted_target().view({1, 2, 2, 3}), w3).item(), 35.0f / 4);
}

TEST_P(MpjpeTest, GradientIsTheUnitErrorAndZeroWhereExact) {
  const Var p(pred(), true);
  const Tensor w = Tensor::from_vector({2, 1}, {2}, dev());
  const Var loss = ag::mpjpe(p, shifted_target(), w);
  EXPECT_EQ(loss.op(), "mpjpe");
  loss.backward();
  const std::vector<float> d = p.grad().to_vector();
  // w_n / (N * J) * error / ||error||; the exactly predicted point gets 0, not NaN.
  const std::vector<float> want = {2.f / 4 * 0.6f,
                                   2.f / 4 * 0.8f,
                                   0,
                                   0,
                                   0,
                                   0,
                                   1.f / 4 / 3,
                                   1.f / 4 * 2 / 3,
                                   1.f / 4 * 2 / 3,
                                   1.f / 4 * 2 / 7,
                                   1.f / 4 * 3 / 7,
                                   1.f / 4 * 6 / 7};
  ASSERT_EQ(d.size(), want.size());
  for (size_t i = 0; i < d.size(); ++i) EXPECT_NEAR(d[i], want[i], 1e-7f) << i;
  EXPECT_EQ(d[3], 0.0f);
  EXPECT_EQ(d[4], 0.0f);
  EXPECT_EQ(d[5], 0.0f);
}

TEST_P(MpjpeTest, BackwardOverwritesAndReadsTheSeedOnTheDevice) {
  Tensor d_pred = Tensor::full({2, 2, 3}, 123.0f, dev());
  const Tensor d_loss = Tensor::from_vector({-4.0f}, {1}, dev());
  ops::mpjpe_bwd_out(pred(), target(), Tensor(), d_loss, d_pred);
  const std::vector<float> d = d_pred.to_vector();
  // Point 0: -4 / 4 * (3, 4, 0) / 5; nothing of the 123 survives.
  EXPECT_FLOAT_EQ(d[0], -0.6f);
  EXPECT_FLOAT_EQ(d[1], -0.8f);
  EXPECT_EQ(d[2], 0.0f);
}

TEST_P(MpjpeTest, ErrorsNameTheOpAndTheShapes) {
  const Tensor w_bad = Tensor::zeros({3}, DType::kF32, dev());
  EXPECT_V3D_ERROR(ops::mpjpe(pred(), target(), w_bad), "mpjpe", "one value per sample", "N = 2");
  EXPECT_V3D_ERROR(ops::mpjpe(pred(), Tensor::zeros({2, 3, 3}, DType::kF32, dev())),
                   "mpjpe: target", "(2, 2, 3)", "(2, 3, 3)");
  EXPECT_V3D_ERROR(ops::mpjpe(pred().view({2, 6}), target().view({2, 6})), "mpjpe", "(..., J, 3)");
  EXPECT_V3D_ERROR(ops::mpjpe(Tensor::zeros({0, 17, 3}, DType::kF32, dev()),
                              Tensor::zeros({0, 17, 3}, DType::kF32, dev())),
                   "mpjpe", "no sample");
  Tensor loss2 = Tensor::zeros({2}, DType::kF32, dev());
  EXPECT_V3D_ERROR(ops::mpjpe_out(pred(), target(), Tensor(), loss2), "mpjpe", "loss",
                   "one f32 element");
  Tensor d_pred = Tensor::zeros({2, 2, 3}, DType::kF32, dev());
  const Device other = dev().is_cpu() ? Device::emu() : Device::cpu();
  EXPECT_V3D_ERROR(
      ops::mpjpe_bwd_out(pred(), target(), Tensor(), Tensor::full({1}, 1.0f, other), d_pred),
      "mpjpe_bwd", "d_loss");
}

INSTANTIATE_TEST_SUITE_P(Devices, MpjpeTest, ::testing::ValuesIn(test::device_params()),
                         test::device_test_name);

// ---- AdamAmsgrad ------------------------------------------------------------------------------

class AdamAmsgradTest : public test::DeviceTest {
 protected:
  Tensor host(const std::vector<float>& v, const Shape& s) const {
    return Tensor::from_vector(v, s, Device::cpu());
  }
  // w: (5) at offset 0, b: (3) at offset 16 of a 32-float flat buffer.
  void declare(ParameterStore& store) const {
    store.add("w", {5});
    store.add("b", {3});
    store.finalize();
    store.find("w").set_value(host({0.5f, -1.0f, 2.0f, 0.0f, 3.0f}, {5}));
    store.find("b").set_value(host({-2.0f, 1.5f, 0.25f}, {3}));
  }
  // loss = sum((w - a)^2) + sum((b - c)^2), gradients accumulated into the store's flat buffer.
  float quadratic_step(ParameterStore& store) const {
    const Var a(Tensor::from_vector({-1.0f, 2.0f, 0.5f, -0.5f, 1.0f}, {5}, dev()));
    const Var c(Tensor::from_vector({1.0f, -1.0f, 0.75f}, {3}, dev()));
    const Var dw = ag::add(store.find("w"), ag::scale(a, -1.0f));
    const Var db = ag::add(store.find("b"), ag::scale(c, -1.0f));
    const Var loss = ag::add(ag::sum(ag::mul(dw, dw)), ag::sum(ag::mul(db, db)));
    store.zero_grad();
    loss.backward();
    return loss.value().item();
  }
};

TEST_P(AdamAmsgradTest, FirstStepMovesEachParameterByLrAgainstItsGradient) {
  // At t = 1 the bias corrections make the update lr * g / (|g| + eps): lr times the sign.
  ParameterStore store(dev());
  declare(store);
  AdamOptions options;
  options.lr = 0.01f;
  AdamAmsgrad adam(store, options);
  EXPECT_EQ(adam.steps(), 0);
  const std::vector<float> before = store.flat_values().to_vector();
  quadratic_step(store);
  const std::vector<float> g = store.flat_grads().to_vector();
  adam.step();
  EXPECT_EQ(adam.steps(), 1);
  const std::vector<float> after = store.flat_values().to_vector();
  for (size_t i = 0; i < after.size(); ++i) {
    const float expect = g[i] > 0 ? before[i] - 0.01f : g[i] < 0 ? before[i] + 0.01f : before[i];
    EXPECT_NEAR(after[i], expect, 1e-7f) << "flat element " << i;
  }
  // The state after one step from zero: m = 0.1 g, v = v_max = 0.001 g^2. Padding stays 0.
  const std::vector<float> m = adam.exp_avg().to_vector(), v = adam.exp_avg_sq().to_vector(),
                           v_max = adam.max_exp_avg_sq().to_vector();
  for (size_t i = 0; i < g.size(); ++i) {
    // 1 - beta2 is 0.001 as in PyTorch, not 1 - double(0.999f) (kernels/optimizer.h)
    EXPECT_FLOAT_EQ(m[i], 0.1f * g[i]) << i;
    EXPECT_FLOAT_EQ(v[i], 0.001f * (g[i] * g[i])) << i;
    EXPECT_EQ(v_max[i], v[i]) << i;
  }
  EXPECT_EQ(after[5], 0.0f);   // padding after w
  EXPECT_EQ(after[31], 0.0f);  // padding after b
  EXPECT_EQ(adam.exp_avg().shape(), store.flat_values().shape());
  EXPECT_EQ(adam.exp_avg().device(), dev());
}

TEST_P(AdamAmsgradTest, MinimisesAQuadratic) {
  ParameterStore store(dev());
  declare(store);
  AdamOptions options;
  options.lr = 0.1f;
  AdamAmsgrad adam(store, options);
  const float initial = quadratic_step(store);
  float loss = initial;
  for (int it = 0; it < 500; ++it) {
    adam.step();
    // VideoPose3D decays the rate; here a decay lets Adam settle instead of circling the minimum.
    if (it % 100 == 99) adam.set_lr(adam.lr() * 0.5f);
    loss = quadratic_step(store);
  }
  EXPECT_GT(initial, 10.0f);
  EXPECT_LT(loss, 1e-8f) << "from " << initial;
  const std::vector<float> w = store.find("w").value().to_vector();
  const std::vector<float> a = {-1.0f, 2.0f, 0.5f, -0.5f, 1.0f};
  for (size_t i = 0; i < w.size(); ++i) EXPECT_NEAR(w[i], a[i], 1e-4f) << i;
  EXPECT_EQ(adam.steps(), 500);
}

TEST_P(AdamAmsgradTest, ZeroLearningRateKeepsParametersButAdvancesTheState) {
  ParameterStore store(dev());
  declare(store);
  AdamAmsgrad adam(store);
  EXPECT_FLOAT_EQ(adam.lr(), 1e-3f);
  adam.set_lr(0.0f);
  const std::vector<float> before = store.flat_values().to_vector();
  quadratic_step(store);
  adam.step();
  EXPECT_TRUE(bitwise_equal(store.flat_values().to_vector(), before));
  EXPECT_NE(adam.exp_avg().to_vector(), std::vector<float>(32, 0.0f));
  EXPECT_V3D_ERROR(adam.set_lr(-1.0f), "learning rate");
}

TEST_P(AdamAmsgradTest, LoadStateRoundTripsBitwise) {
  // Continuing after save/restore equals continuing without.
  ParameterStore a_store(dev());
  declare(a_store);
  AdamAmsgrad a(a_store);
  for (int i = 0; i < 5; ++i) {
    quadratic_step(a_store);
    a.step();
  }
  // The checkpoint, on the host as a file would hold it.
  const int64_t steps = a.steps();
  const Tensor values = a_store.flat_values().to(Device::cpu());
  const Tensor m = a.exp_avg().to(Device::cpu()), v = a.exp_avg_sq().to(Device::cpu()),
               v_max = a.max_exp_avg_sq().to(Device::cpu());
  for (int i = 0; i < 5; ++i) {
    quadratic_step(a_store);
    a.step();
  }

  ParameterStore b_store(dev());
  declare(b_store);
  b_store.flat_values().copy_from(values);
  AdamAmsgrad b(b_store);
  b.load_state(steps, m, v, v_max);
  EXPECT_EQ(b.steps(), 5);
  for (int i = 0; i < 5; ++i) {
    quadratic_step(b_store);
    b.step();
  }
  EXPECT_EQ(b.steps(), a.steps());
  EXPECT_TRUE(bitwise_equal(b_store.flat_values().to_vector(), a_store.flat_values().to_vector()));
  EXPECT_TRUE(bitwise_equal(b.exp_avg().to_vector(), a.exp_avg().to_vector()));
  EXPECT_TRUE(bitwise_equal(b.exp_avg_sq().to_vector(), a.exp_avg_sq().to_vector()));
  EXPECT_TRUE(bitwise_equal(b.max_exp_avg_sq().to_vector(), a.max_exp_avg_sq().to_vector()));
}

TEST_P(AdamAmsgradTest, Errors) {
  ParameterStore unfinished(dev());
  unfinished.add("w", {3});
  EXPECT_V3D_ERROR(AdamAmsgrad{unfinished}, "AdamAmsgrad", "finalized");

  ParameterStore store(dev());
  declare(store);
  AdamOptions bad;
  bad.beta1 = 1.0f;
  EXPECT_V3D_ERROR((AdamAmsgrad{store, bad}), "adam_amsgrad", "beta1");
  bad = AdamOptions{};
  bad.eps = -1.0f;
  EXPECT_V3D_ERROR((AdamAmsgrad{store, bad}), "adam_amsgrad", "epsilon");

  AdamAmsgrad adam(store);
  const Tensor m = Tensor::zeros({32}, DType::kF32, Device::cpu());
  const Tensor short_m = Tensor::zeros({31}, DType::kF32, Device::cpu());
  EXPECT_V3D_ERROR(adam.load_state(3, m, short_m, m), "load_state", "exp_avg_sq", "(32)", "(31)");
  EXPECT_V3D_ERROR(adam.load_state(-1, m, m, m), "load_state", "negative");
  EXPECT_EQ(adam.steps(), 0);  // a refused checkpoint changes nothing

  const Tensor p = Tensor::zeros({8}, DType::kF32, dev());
  const Tensor g = Tensor::zeros({8}, DType::kF32, dev());
  const Tensor s = Tensor::zeros({24}, DType::kF32, dev());
  const Tensor s1 = s.narrow(0, 8), s2 = s.narrow(8, 8), s3 = s.narrow(16, 8);
  EXPECT_NO_THROW(ops::adam_amsgrad_out(p, g, s1, s2, s3, 1, AdamOptions{}));
  EXPECT_V3D_ERROR(ops::adam_amsgrad_out(p, g, s1, s1, s3, 1, AdamOptions{}), "adam_amsgrad",
                   "exp_avg and exp_avg_sq overlap");
  EXPECT_V3D_ERROR(ops::adam_amsgrad_out(p, g, s1, s2, s3, 0, AdamOptions{}), "adam_amsgrad",
                   "1-based");
  EXPECT_V3D_ERROR(
      ops::adam_amsgrad_out(p, Tensor::zeros({7}, DType::kF32, dev()), s1, s2, s3, 1, {}),
      "adam_amsgrad: grad", "(8)", "(7)");
}

INSTANTIATE_TEST_SUITE_P(Devices, AdamAmsgradTest, ::testing::ValuesIn(test::device_params()),
                         test::device_test_name);

}  // namespace
}  // namespace v3d
