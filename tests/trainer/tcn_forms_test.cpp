// The two forms of a VideoPose3D temporal model built from the TCN ops must agree: the strided form
// used in training (convolutions with stride K, residual slice with step K) and the dilated form
// used for whole-sequence inference (stride 1, dilations 3, 9, ..., centre-tap residual slice),
// both with BN in inference mode and without dropout. Also checks that folding BN into the
// convolutions (conv + bias + ReLU) leaves the dilated model's output unchanged.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "kernels/temporal_conv.h"
#include "runtime/batch_norm.h"
#include "runtime/ops.h"
#include "runtime/temporal_conv.h"
#include "runtime/time_slice.h"
#include "tests/runtime/test_util.h"
#include "tests/test_util.h"

namespace v3d {
namespace {

struct Bn {
  Tensor gamma, beta, mean, var;
};

// Random weights for filter widths `widths`, with BN statistics far from the identity so that a
// wrong BN placement shows.
struct Model {
  std::vector<int64_t> widths;
  int64_t joints = 17, channels = 0;
  Tensor expand_w;
  Bn expand_bn;
  std::vector<Tensor> conv_w;  // layers_conv.{2i, 2i+1}
  std::vector<Bn> bn;          // layers_bn.{2i, 2i+1}
  Tensor shrink_w, shrink_b;

  int64_t receptive_field() const {
    int64_t rf = 1;
    for (int64_t w : widths) rf *= w;
    return rf;
  }
};

Tensor random_tensor(std::mt19937_64& rng, const Shape& shape, float mean, float stddev,
                     Device device) {
  std::normal_distribution<float> d(mean, stddev);
  std::vector<float> v(static_cast<size_t>(shape.numel()));
  for (auto& x : v) x = d(rng);
  return Tensor::from_vector(v, shape, device);
}

Bn random_bn(std::mt19937_64& rng, int64_t c, Device device) {
  std::uniform_real_distribution<float> var(0.5f, 2.0f);
  std::vector<float> v(static_cast<size_t>(c));
  for (auto& x : v) x = var(rng);
  return {random_tensor(rng, {c}, 1.0f, 0.2f, device), random_tensor(rng, {c}, 0.0f, 0.2f, device),
          random_tensor(rng, {c}, 0.0f, 0.3f, device), Tensor::from_vector(v, {c}, device)};
}

Model random_model(const std::vector<int64_t>& widths, int64_t channels, Device device) {
  std::mt19937_64 rng(42);
  Model m;
  m.widths = widths;
  m.channels = channels;
  const int64_t c_in = m.joints * 2;
  m.expand_w = random_tensor(rng, {channels, c_in, widths[0]}, 0.0f,
                             1.0f / std::sqrt(float(c_in * widths[0])), device);
  m.expand_bn = random_bn(rng, channels, device);
  for (size_t i = 1; i < widths.size(); ++i) {
    m.conv_w.push_back(random_tensor(rng, {channels, channels, widths[i]}, 0.0f,
                                     1.0f / std::sqrt(float(channels * widths[i])), device));
    m.bn.push_back(random_bn(rng, channels, device));
    m.conv_w.push_back(random_tensor(rng, {channels, channels, 1}, 0.0f,
                                     1.0f / std::sqrt(float(channels)), device));
    m.bn.push_back(random_bn(rng, channels, device));
  }
  m.shrink_w = random_tensor(rng, {m.joints * 3, channels, 1}, 0.0f,
                             1.0f / std::sqrt(float(channels)), device);
  m.shrink_b = random_tensor(rng, {m.joints * 3}, 0.0f, 0.1f, device);
  return m;
}

// relu(bn(conv(x))), or with BN folded into the convolution: relu(conv'(x) + b').
Tensor conv_bn_relu(const Tensor& x, const Tensor& w, const Bn& bn, int64_t dilation,
                    int64_t stride, bool fold) {
  if (fold) {
    const ops::FoldedConv f = ops::batch_norm_fold(w, bn.gamma, bn.beta, bn.mean, bn.var);
    return ops::bias_add(ops::temporal_conv(x, f.weight, dilation, stride), f.bias, true);
  }
  return ops::relu(ops::batch_norm_infer(ops::temporal_conv(x, w, dilation, stride), bn.gamma,
                                         bn.beta, bn.mean, bn.var));
}

// Training form: x (B, RF, J*2) -> (B, 1, J*3).
Tensor forward_strided(const Model& m, const Tensor& x) {
  Tensor h = conv_bn_relu(x, m.expand_w, m.expand_bn, 1, m.widths[0], false);
  for (size_t i = 1; i < m.widths.size(); ++i) {
    const int64_t k = m.widths[i];
    const Tensor res = ops::time_slice(h, k / 2, k, h.size(1) / k);
    h = conv_bn_relu(h, m.conv_w[2 * (i - 1)], m.bn[2 * (i - 1)], 1, k, false);
    h = conv_bn_relu(h, m.conv_w[2 * (i - 1) + 1], m.bn[2 * (i - 1) + 1], 1, 1, false);
    h = ops::add(res, h);
  }
  return ops::bias_add(ops::temporal_conv(h, m.shrink_w, 1, 1), m.shrink_b, false);
}

// Inference form: x (B, T, J*2) -> (B, T - RF + 1, J*3).
Tensor forward_dilated(const Model& m, const Tensor& x, bool fold) {
  Tensor h = conv_bn_relu(x, m.expand_w, m.expand_bn, 1, 1, fold);
  int64_t dilation = m.widths[0];
  for (size_t i = 1; i < m.widths.size(); ++i) {
    const int64_t pad = (m.widths[i] - 1) * dilation / 2;
    const Tensor res = ops::time_slice(h, pad, 1, h.size(1) - 2 * pad);
    h = conv_bn_relu(h, m.conv_w[2 * (i - 1)], m.bn[2 * (i - 1)], dilation, 1, fold);
    h = conv_bn_relu(h, m.conv_w[2 * (i - 1) + 1], m.bn[2 * (i - 1) + 1], 1, 1, fold);
    h = ops::add(res, h);
    dilation *= m.widths[i];
  }
  return ops::bias_add(ops::temporal_conv(h, m.shrink_w, 1, 1), m.shrink_b, false);
}

using test_util::relative_error;

struct FormsCase {
  Device device;
  std::vector<int64_t> widths;
  int64_t channels;
  // CPU: force the Winograd forward of the dilated K = 3 convs (kernels/temporal_conv.h), which
  // the default takes only for >= 128 channels.
  bool winograd = false;
};

std::string describe(const FormsCase& c) {
  std::string name = test::device_name(c.device);
  name += "_arch";
  for (int64_t w : c.widths) name += std::to_string(w);
  name += "_c";
  name += std::to_string(c.channels);
  if (c.winograd) name += "_winograd";
  return name;
}

std::string case_name(const ::testing::TestParamInfo<FormsCase>& info) {
  return describe(info.param);
}

void PrintTo(const FormsCase& c, std::ostream* os) { *os << describe(c); }

class TcnForms : public ::testing::TestWithParam<FormsCase> {
 protected:
  void SetUp() override {
    V3D_SKIP_UNLESS_USABLE(GetParam().device);
    if (GetParam().winograd) algo_.emplace(kernels::cpu::TemporalConvAlgo::kWinograd);
  }
  std::optional<kernels::cpu::TemporalConvAlgoGuard> algo_;
};

TEST_P(TcnForms, StridedEqualsDilatedOnReceptiveFieldWindows) {
  const FormsCase& p = GetParam();
  const Model m = random_model(p.widths, p.channels, p.device);
  const int64_t rf = m.receptive_field();
  std::mt19937_64 rng(7);
  // A batch of three independent windows of exactly the receptive field.
  const Tensor x = random_tensor(rng, {3, rf, m.joints * 2}, 0.0f, 1.0f, p.device);
  const Tensor strided = forward_strided(m, x);
  const Tensor dilated = forward_dilated(m, x, false);
  ASSERT_EQ(strided.shape(), (Shape{3, 1, m.joints * 3}));
  ASSERT_EQ(dilated.shape(), (Shape{3, 1, m.joints * 3}));
  EXPECT_LT(relative_error(strided.to_vector(), dilated.to_vector()), 1e-5);
}

TEST_P(TcnForms, DilatedSequenceEqualsStridedOnEveryWindow) {
  const FormsCase& p = GetParam();
  const Model m = random_model(p.widths, p.channels, p.device);
  const int64_t rf = m.receptive_field(), frames = rf + 6, c = m.joints * 2;
  std::mt19937_64 rng(8);
  const std::vector<float> seq =
      random_tensor(rng, {1, frames, c}, 0.0f, 1.0f, Device::cpu()).to_vector();
  // Every window of the sequence as one batch row for the strided form.
  const int64_t windows = frames - rf + 1;
  std::vector<float> stacked;
  for (int64_t t = 0; t < windows; ++t)
    stacked.insert(stacked.end(), seq.begin() + t * c, seq.begin() + (t + rf) * c);
  const Tensor strided =
      forward_strided(m, Tensor::from_vector(stacked, {windows, rf, c}, p.device));
  const Tensor dilated =
      forward_dilated(m, Tensor::from_vector(seq, {1, frames, c}, p.device), false);
  ASSERT_EQ(dilated.shape(), (Shape{1, windows, m.joints * 3}));
  EXPECT_LT(relative_error(strided.to_vector(), dilated.to_vector()), 1e-5);
}

TEST_P(TcnForms, FoldedBatchNormLeavesTheOutputUnchanged) {
  const FormsCase& p = GetParam();
  const Model m = random_model(p.widths, p.channels, p.device);
  std::mt19937_64 rng(9);
  const Tensor x =
      random_tensor(rng, {2, m.receptive_field() + 4, m.joints * 2}, 0.0f, 1.0f, p.device);
  const Tensor plain = forward_dilated(m, x, false);
  const Tensor folded = forward_dilated(m, x, true);
  EXPECT_LT(relative_error(folded.to_vector(), plain.to_vector()), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Forms, TcnForms,
                         ::testing::Values(FormsCase{Device::cpu(), {3, 3, 3}, 64},
                                           FormsCase{Device::cpu(), {3, 3, 3, 3}, 32},
                                           FormsCase{Device::cpu(), {3, 3, 3, 3, 3}, 16},
                                           FormsCase{Device::cpu(), {3, 3, 7}, 24},
                                           FormsCase{Device::cpu(), {3, 3, 3}, 64, true},
                                           FormsCase{Device::cpu(), {3, 3, 3, 3}, 32, true},
                                           FormsCase{Device::cpu(), {3, 3, 3, 3, 3}, 16, true},
                                           FormsCase{Device::emu(), {3, 3, 3}, 40},
                                           FormsCase{Device::emu(), {3, 3, 3, 3}, 16},
                                           FormsCase{Device::cuda(0), {3, 3, 3}, 40},
                                           FormsCase{Device::cuda(0), {3, 3, 3, 3}, 16}),
                         case_name);

}  // namespace
}  // namespace v3d
