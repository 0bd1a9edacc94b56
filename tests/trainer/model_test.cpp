// TemporalModel (trainer/model.h): VideoPose3D's parameter counts, state_dict keys and shapes,
// initialisation, the dilated form with folded BN against the strided form on every window
// (symmetric and causal), running statistics in training and evaluation, a few SGD steps, and
// load_state_dict's round trip and errors. Numeric tests use small channel counts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/common.h"
#include "kernels/gpu/emu/runtime.h"
#include "kernels/temporal_conv.h"
#include "runtime/allocator.h"
#include "runtime/loss.h"
#include "runtime/ops.h"
#include "tests/runtime/test_util.h"
#include "tests/test_util.h"
#include "trainer/model.h"

namespace v3d {
namespace {

TemporalModelConfig config_of(std::vector<int64_t> widths, int64_t channels, bool causal = false,
                              float dropout = 0.25f) {
  TemporalModelConfig c;
  c.filter_widths = std::move(widths);
  c.channels = channels;
  c.causal = causal;
  c.dropout = dropout;
  return c;
}

std::vector<float> random_values(std::mt19937_64& rng, int64_t n, float mean, float stddev) {
  std::normal_distribution<float> d(mean, stddev);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

Tensor random_tensor(std::mt19937_64& rng, const Shape& shape, Device device) {
  return Tensor::from_vector(random_values(rng, shape.numel(), 0.0f, 1.0f), shape, device);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// BN affine parameters and running statistics far from the identity, so that a wrong BN
// placement or a wrong fold shows; convolution weights stay as initialised.
void randomize_bn(TemporalModel& model, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> var(0.5f, 2.0f);
  std::vector<std::pair<std::string, Tensor>> state;
  for (const auto& [key, t] : model.state_dict()) {
    if (ends_with(key, "num_batches_tracked")) continue;
    const int64_t n = t.numel();
    std::vector<float> v = t.to_vector();
    if (key.find("_bn.") != std::string::npos) {
      if (ends_with(key, ".weight")) v = random_values(rng, n, 1.0f, 0.2f);
      if (ends_with(key, ".bias")) v = random_values(rng, n, 0.0f, 0.2f);
      if (ends_with(key, ".running_mean")) v = random_values(rng, n, 0.0f, 0.3f);
      if (ends_with(key, ".running_var"))
        for (auto& x : v) x = var(rng);
    }
    state.emplace_back(key, Tensor::from_vector(v, t.shape()));
  }
  model.load_state_dict(state);
}

using test_util::relative_error;

// ---- architecture facts (CPU, construction only) ------------------------------------------------

TEST(TemporalModelConfig, ReceptiveFieldsAndOddWidths) {
  EXPECT_EQ(config_of({3, 3, 3}, 8).receptive_field(), 27);
  EXPECT_EQ(config_of({3, 3, 3, 3}, 8).receptive_field(), 81);
  EXPECT_EQ(config_of({3, 3, 3, 3, 3}, 8).receptive_field(), 243);
  EXPECT_EQ(config_of({3, 3, 7}, 8).receptive_field(), 63);
  try {
    TemporalModel m(config_of({3, 4, 3}, 8), Device::cpu());
    FAIL() << "even width accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("filter_widths[1] = 4"), std::string::npos) << e.what();
  }
  EXPECT_THROW(TemporalModel(config_of({}, 8), Device::cpu()), Error);
  EXPECT_THROW(TemporalModel(config_of({3, 3}, 0), Device::cpu()), Error);
  EXPECT_THROW(TemporalModel(config_of({3, 3}, 8, false, 1.0f), Device::cpu()), Error);
}

TEST(TemporalModel, VideoPose3DParameterCounts) {
  const std::vector<std::pair<std::vector<int64_t>, int64_t>> cases = {
      {{3, 3, 3}, 8555571}, {{3, 3, 3, 3}, 12753971}, {{3, 3, 3, 3, 3}, 16952371}};
  for (const auto& [widths, count] : cases) {
    const TemporalModel m(config_of(widths, 1024), Device::cpu());
    EXPECT_EQ(m.parameter_count(), count);
    EXPECT_EQ(m.receptive_field(), config_of(widths, 1024).receptive_field());
  }
}

TEST(TemporalModel, StateDictKeysAndShapesFor27Frames) {
  const TemporalModel m(config_of({3, 3, 3}, 1024), Device::cpu());
  std::vector<std::pair<std::string, Shape>> expected;
  auto bn = [&](const std::string& name) {
    for (const char* f : {"weight", "bias", "running_mean", "running_var"})
      expected.emplace_back(name + "." + f, Shape{1024});
    expected.emplace_back(name + ".num_batches_tracked", Shape{});
  };
  bn("expand_bn");
  expected.emplace_back("shrink.weight", Shape{51, 1024, 1});
  expected.emplace_back("shrink.bias", Shape{51});
  expected.emplace_back("expand_conv.weight", Shape{1024, 34, 3});
  expected.emplace_back("layers_conv.0.weight", Shape{1024, 1024, 3});
  expected.emplace_back("layers_conv.1.weight", Shape{1024, 1024, 1});
  expected.emplace_back("layers_conv.2.weight", Shape{1024, 1024, 3});
  expected.emplace_back("layers_conv.3.weight", Shape{1024, 1024, 1});
  for (int i = 0; i < 4; ++i) bn("layers_bn." + std::to_string(i));

  const auto state = m.state_dict();
  ASSERT_EQ(state.size(), 32u);
  ASSERT_EQ(state.size(), expected.size());
  for (size_t i = 0; i < state.size(); ++i) {
    EXPECT_EQ(state[i].first, expected[i].first) << "entry " << i;
    EXPECT_EQ(state[i].second.shape(), expected[i].second) << state[i].first;
    const bool counter = ends_with(state[i].first, "num_batches_tracked");
    EXPECT_EQ(state[i].second.dtype(), counter ? DType::kI32 : DType::kF32) << state[i].first;
  }
  // The parameter store holds exactly the trainable entries, in the same order.
  const auto& params = m.parameters().parameters();
  size_t p = 0;
  for (const auto& [key, t] : state) {
    if (ends_with(key, "running_mean") || ends_with(key, "running_var") ||
        ends_with(key, "num_batches_tracked"))
      continue;
    ASSERT_LT(p, params.size());
    EXPECT_EQ(params[p++].first, key);
  }
  EXPECT_EQ(p, params.size());
}

TEST(TemporalModel, PyTorchDefaultInitialisation) {
  const TemporalModel m(config_of({3, 3, 3}, 64), Device::cpu(), 5);
  for (const auto& [key, t] : m.state_dict()) {
    if (ends_with(key, "num_batches_tracked")) {
      EXPECT_EQ(t.to_vector_i32()[0], 0);
      continue;
    }
    const std::vector<float> v = t.to_vector();
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    if (key.find("_bn.") != std::string::npos) {
      const float want = ends_with(key, ".weight") || ends_with(key, ".running_var") ? 1.0f : 0.0f;
      EXPECT_EQ(*lo, want) << key;
      EXPECT_EQ(*hi, want) << key;
      continue;
    }
    // Conv weights and the shrink bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = C_in * K.
    const int64_t fan_in = key == "shrink.bias" ? 64 : t.size(1) * t.size(2);
    const float bound = 1.0f / std::sqrt(static_cast<float>(fan_in));
    EXPECT_GE(*lo, -bound) << key;
    EXPECT_LE(*hi, bound) << key;
    EXPECT_LT(*lo, -0.8f * bound) << key << ": the draws do not span the range";
    EXPECT_GT(*hi, 0.8f * bound) << key;
  }
  // Different seeds, different weights; the same seed, the same weights.
  const TemporalModel same(config_of({3, 3, 3}, 64), Device::cpu(), 5);
  const TemporalModel other(config_of({3, 3, 3}, 64), Device::cpu(), 6);
  EXPECT_EQ(m.parameters().flat_values().to_vector(), same.parameters().flat_values().to_vector());
  EXPECT_NE(m.parameters().flat_values().to_vector(), other.parameters().flat_values().to_vector());
}

// ---- both forms, CPU, emulated GPU and CUDA ------------------------------------------------

struct FormsCase {
  Device device;
  std::vector<int64_t> widths;
  int64_t channels;
  bool causal;
};

std::string describe(const FormsCase& c) {
  std::string name = test::device_name(c.device);
  name += "_arch";
  for (int64_t w : c.widths) name += std::to_string(w);
  return name + "_c" + std::to_string(c.channels) + (c.causal ? "_causal" : "");
}

std::string case_name(const ::testing::TestParamInfo<FormsCase>& info) {
  return describe(info.param);
}

void PrintTo(const FormsCase& c, std::ostream* os) { *os << describe(c); }

class ModelForms : public ::testing::TestWithParam<FormsCase> {
 protected:
  void SetUp() override { V3D_SKIP_UNLESS_USABLE(GetParam().device); }
};

// The dilated model (BN folded) over a sequence equals the strided model (BN in inference mode,
// no dropout) on each of its windows. Tolerance: fp32 convolutions summing C * K products in a
// different order in the two forms; 1e-5 relative to the largest output.
TEST_P(ModelForms, DilatedSequenceEqualsStridedOnEveryWindow) {
  const FormsCase& p = GetParam();
  TemporalModel m(config_of(p.widths, p.channels, p.causal), p.device, 3);
  randomize_bn(m, 4);
  const int64_t rf = m.receptive_field(), frames = rf + 6, c = m.config().in_channels();
  std::mt19937_64 rng(8);
  const std::vector<float> seq = random_values(rng, frames * c, 0.0f, 1.0f);
  const int64_t windows = frames - rf + 1;
  std::vector<float> stacked;
  for (int64_t t = 0; t < windows; ++t)
    stacked.insert(stacked.end(), seq.begin() + t * c, seq.begin() + (t + rf) * c);

  PhiloxState philox{11, 0};
  const Var strided =
      m.forward_train(Tensor::from_vector(stacked, {windows, rf, c}, p.device), philox, false);
  EXPECT_EQ(philox.offset, 0u) << "inference-mode strided form drew dropout masks";
  ASSERT_EQ(strided.value().shape(), (Shape{windows, 1, 51}));
  const Tensor dilated = m.forward_eval(Tensor::from_vector(seq, {1, frames, c}, p.device));
  ASSERT_EQ(dilated.shape(), (Shape{1, windows, 51}));
  EXPECT_EQ(dilated.device(), p.device);
  EXPECT_LT(relative_error(dilated.to_vector(), strided.value().to_vector()), 1e-5);
}

// Causal and symmetric models share weights but align the residual differently, so their outputs
// differ; shapes and receptive field are the same.
TEST_P(ModelForms, CausalChangesOnlyTheAlignment) {
  const FormsCase& p = GetParam();
  if (p.widths.size() < 2) GTEST_SKIP() << "no residual block";
  TemporalModel m(config_of(p.widths, p.channels, p.causal), p.device, 3);
  TemporalModel flipped(config_of(p.widths, p.channels, !p.causal), p.device, 3);
  EXPECT_EQ(m.receptive_field(), flipped.receptive_field());
  std::mt19937_64 rng(9);
  const Tensor x =
      random_tensor(rng, {2, m.receptive_field() + 3, m.config().in_channels()}, p.device);
  const Tensor a = m.forward_eval(x), b = flipped.forward_eval(x);
  ASSERT_EQ(a.shape(), b.shape());
  EXPECT_GT(relative_error(a.to_vector(), b.to_vector()), 1e-3);
}

TEST_P(ModelForms, RunningStatisticsChangeInTrainingOnly) {
  const FormsCase& p = GetParam();
  TemporalModel m(config_of(p.widths, p.channels, p.causal), p.device, 3);
  std::mt19937_64 rng(10);
  const int64_t rf = m.receptive_field();
  const Tensor window = random_tensor(rng, {4, rf, m.config().in_channels()}, p.device);
  auto snapshot = [&] {
    std::vector<std::vector<float>> out;
    for (const auto& [name, t] : m.buffers()) out.push_back(t.to_vector());
    return out;
  };
  const auto before = snapshot();
  PhiloxState philox{1, 0};
  m.forward_train(window, philox, false);
  m.forward_eval(random_tensor(rng, {1, rf + 2, m.config().in_channels()}, p.device));
  EXPECT_EQ(snapshot(), before);
  EXPECT_EQ(m.num_batches_tracked("expand_bn"), 0);

  m.set_bn_momentum(0.0f);  // momentum 0 keeps the statistics even in training
  m.forward_train(window, philox, true);
  EXPECT_EQ(snapshot(), before);
  m.set_bn_momentum(0.1f);
  m.forward_train(window, philox, true);
  const auto after = snapshot();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i)
    EXPECT_NE(after[i], before[i]) << m.buffers()[i].first << " unchanged by training";
  EXPECT_EQ(m.num_batches_tracked("expand_bn"), 2);
  EXPECT_EQ(m.num_batches_tracked("layers_bn." + std::to_string(2 * (p.widths.size() - 1) - 1)), 2);
  EXPECT_GT(philox.offset, 0u) << "training with dropout 0.25 drew no mask";
}

TEST_P(ModelForms, SgdStepsReduceMpjpe) {
  const FormsCase& p = GetParam();
  TemporalModel m(config_of(p.widths, p.channels, p.causal, 0.0f), p.device, 3);
  std::mt19937_64 rng(12);
  const int64_t batch = 8;
  const Tensor x = random_tensor(rng, {batch, m.receptive_field(), 34}, p.device);
  const Tensor target = random_tensor(rng, {batch, 1, 17, 3}, p.device);
  PhiloxState philox{2, 0};
  const float lr = 0.05f;
  std::vector<float> losses;
  for (int step = 0; step < 8; ++step) {
    m.parameters().zero_grad();
    const Var loss = ag::mpjpe(channels_to_poses(m.forward_train(x, philox), 17), target);
    losses.push_back(loss.value().item());
    loss.backward();
    const Tensor& w = m.parameters().flat_values();
    ops::add_out(w, ops::scale(m.parameters().flat_grads(), -lr), w);
  }
  EXPECT_LT(losses.back(), 0.9f * losses.front())
      << "loss " << losses.front() << " -> " << losses.back();
  // Every parameter received a gradient on the last step.
  for (const auto& [name, v] : m.parameters().parameters()) {
    const std::vector<float> g = v.grad().to_vector();
    EXPECT_TRUE(std::any_of(g.begin(), g.end(), [](float e) { return e != 0.0f; })) << name;
  }
}

// The dilated form in TF32 and BF16 (TemporalModel::set_eval_math, `v3d eval|infer --precision`):
// every convolution's operands rounded, float32 sums. On the CPU the result moves off the fp32
// one by about the rounding (and no further); on a GPU it is the CPU's in the same arithmetic up to
// the order of the sums (and an operand a sum-order difference moves across a rounding boundary),
// computed by the tensor-core kernels, and bitwise the same with the weights prepared by the fold;
// weights folded before set_eval_math keep their arithmetic.
TEST_P(ModelForms, EvalMathRoundsEveryConvolution) {
  const FormsCase& p = GetParam();
  TemporalModel m(config_of(p.widths, p.channels, p.causal), p.device, 3);
  randomize_bn(m, 4);
  TemporalModel cpu(config_of(p.widths, p.channels, p.causal), Device::cpu(), 0);
  cpu.load_state_dict(m.state_dict());
  std::mt19937_64 rng(10);
  const Tensor x =
      random_tensor(rng, {2, m.receptive_field() + 5, m.config().in_channels()}, Device::cpu());
  const std::vector<float> fp32 = cpu.forward_eval(x).to_vector();
  const TemporalModel::FoldedWeights fp32_folded = m.fold_weights();
  const std::vector<float> fp32_here = m.forward_eval(x.to(p.device)).to_vector();
  const bool emu = p.device.type == DeviceType::kEmu;
  struct Case {
    kernels::ConvMath math;
    double off_fp32_min, off_fp32_max;  // how far the rounding moves the output
  };
  for (const Case c :
       {Case{kernels::ConvMath::kTf32, 5e-5, 2e-3}, Case{kernels::ConvMath::kBf16, 5e-4, 2e-2}}) {
    SCOPED_TRACE(c.math == kernels::ConvMath::kTf32 ? "tf32" : "bf16");
    cpu.set_eval_math(c.math);
    const std::vector<float> want = cpu.forward_eval(x).to_vector();
    const double off = relative_error(want, fp32);
    EXPECT_GT(off, c.off_fp32_min) << "the operands were not rounded";
    EXPECT_LT(off, c.off_fp32_max);
    if (p.device.is_cpu()) continue;
    m.set_eval_math(c.math);
    if (emu) cuemu::reset_launch_counts();
    const Tensor got = m.forward_eval(x.to(p.device));
    EXPECT_EQ(got.device(), p.device);
    EXPECT_LT(relative_error(got.to_vector(), want), 2e-5);
    if (emu) {
      uint64_t tensor_core = 0;
      for (const auto& [name, count] : cuemu::launch_counts()) {
        if (name.find("conv_tc_kernel") != std::string::npos ||
            name.find("conv_wgmma_kernel") != std::string::npos)
          tensor_core += count;
      }
      EXPECT_EQ(tensor_core, 2 * p.widths.size()) << "a tensor-core launch per convolution";
    }
    // Folded once for many calls, every convolution's weights prepared in the math's format: the
    // same bits.
    const TemporalModel::FoldedWeights folded = m.fold_weights();
    for (const ops::PreparedConv& prepared : folded.prepared) {
      EXPECT_TRUE(prepared.device_tap_major.defined());
      EXPECT_EQ(prepared.device_math, c.math);
    }
    EXPECT_TRUE(
        test::bitwise_equal(m.forward_eval(x.to(p.device), &folded).to_vector(), got.to_vector()));
    EXPECT_TRUE(
        test::bitwise_equal(m.forward_eval(x.to(p.device), &fp32_folded).to_vector(), fp32_here));
  }
}

INSTANTIATE_TEST_SUITE_P(Model, ModelForms,
                         ::testing::Values(FormsCase{Device::cpu(), {3, 3, 3}, 64, false},
                                           FormsCase{Device::cpu(), {3, 3, 3}, 48, true},
                                           FormsCase{Device::cpu(), {3, 3, 3, 3}, 32, false},
                                           FormsCase{Device::cpu(), {3, 3, 3, 3, 3}, 16, true},
                                           FormsCase{Device::cpu(), {3, 5, 3}, 24, true},
                                           FormsCase{Device::cpu(), {3, 3, 7}, 24, false},
                                           FormsCase{Device::emu(), {3, 3, 3}, 24, false},
                                           FormsCase{Device::emu(), {3, 3, 3}, 16, true},
                                           FormsCase{Device::cuda(0), {3, 3, 3}, 24, false},
                                           FormsCase{Device::cuda(0), {3, 3, 3}, 16, true}),
                         case_name);

// ---- inputs and the state dict ------------------------------------------------------------------

// Training steps free and re-create the same activations; with the CPU allocator's cache the
// steady state neither grows the reserved memory nor the per-step peak, and the large blocks come
// from the cache.
TEST(TemporalModel, TrainingStepsReuseCpuMemory) {
  TemporalModel m(config_of({3, 3}, 64, false, 0.25f), Device::cpu(), 5);
  std::mt19937_64 rng(8);
  const int64_t batch = 64;  // activations (64, 3, 64) floats: 48 KiB .. (64, 3*3, 64): 144 KiB
  const Tensor x = random_tensor(rng, {batch, m.receptive_field(), 34}, Device::cpu());
  const Tensor target = random_tensor(rng, {batch, 1, 17, 3}, Device::cpu());
  PhiloxState philox{4, 0};
  Allocator& alloc = allocator_for(Device::cpu());
  std::vector<AllocatorStats> after;
  std::vector<int64_t> step_peak;
  for (int step = 0; step < 4; ++step) {
    alloc.reset_peak();
    m.parameters().zero_grad();
    const Var loss = ag::mpjpe(channels_to_poses(m.forward_train(x, philox), 17), target);
    loss.backward();
    const Tensor& w = m.parameters().flat_values();
    ops::add_out(w, ops::scale(m.parameters().flat_grads(), -0.01f), w);
    step_peak.push_back(alloc.stats().peak_allocated_bytes);
    after.push_back(alloc.stats());
  }
  for (int step = 2; step < 4; ++step) {
    EXPECT_EQ(after[step].reserved_bytes, after[1].reserved_bytes) << "step " << step;
    EXPECT_EQ(step_peak[step], step_peak[1]) << "step " << step;
    EXPECT_GT(after[step].cache_hits, after[step - 1].cache_hits) << "step " << step;
  }
}

TEST(TemporalModel, InputChecks) {
  TemporalModel m(config_of({3, 3}, 16), Device::cpu());
  PhiloxState philox;
  std::mt19937_64 rng(1);
  // 4-D poses are flattened joint-major.
  const Tensor poses = random_tensor(rng, {2, 9, 17, 2}, Device::cpu());
  EXPECT_EQ(m.forward_train(poses, philox, false).value().shape(), (Shape{2, 1, 51}));
  EXPECT_EQ(m.forward_eval(poses).shape(), (Shape{2, 1, 51}));
  EXPECT_EQ(m.forward_eval(random_tensor(rng, {1, 20, 34}, Device::cpu())).shape(),
            (Shape{1, 12, 51}));
  try {
    m.forward_train(random_tensor(rng, {2, 10, 34}, Device::cpu()), philox);
    FAIL() << "strided form accepted 10 frames";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("receptive field of 9"), std::string::npos) << e.what();
  }
  EXPECT_THROW(m.forward_eval(random_tensor(rng, {1, 8, 34}, Device::cpu())), Error);
  EXPECT_THROW(m.forward_eval(random_tensor(rng, {1, 9, 33}, Device::cpu())), Error);
  EXPECT_THROW(m.forward_eval(random_tensor(rng, {1, 9, 34}, Device::emu())), Error);
}

TEST(TemporalModel, LoadStateDictRoundTrip) {
  TemporalModel a(config_of({3, 3, 3}, 32), Device::cpu(), 1);
  randomize_bn(a, 2);
  PhiloxState philox{3, 0};
  std::mt19937_64 rng(4);
  a.forward_train(random_tensor(rng, {4, 27, 34}, Device::cpu()), philox);  // counters to 1
  TemporalModel b(config_of({3, 3, 3}, 32), Device::emu(), 7);
  b.load_state_dict(a.state_dict());
  const auto sa = a.state_dict(), sb = b.state_dict();
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    EXPECT_EQ(sa[i].first, sb[i].first);
    if (sa[i].second.dtype() == DType::kI32)
      EXPECT_EQ(sa[i].second.to_vector_i32(), sb[i].second.to_vector_i32()) << sa[i].first;
    else
      EXPECT_EQ(sa[i].second.to_vector(), sb[i].second.to_vector()) << sa[i].first;
  }
  EXPECT_EQ(b.num_batches_tracked("layers_bn.3"), 1);
  const Tensor x = random_tensor(rng, {1, 30, 34}, Device::cpu());
  EXPECT_LT(relative_error(b.forward_eval(x.to(Device::emu())).to_vector(),
                           a.forward_eval(x).to_vector()),
            1e-6);
}

TEST(TemporalModel, LoadStateDictErrorsLeaveTheModelUntouched) {
  TemporalModel m(config_of({3, 3, 3}, 16), Device::cpu(), 1);
  const TemporalModel src(config_of({3, 3, 3}, 16), Device::cpu(), 2);
  const std::vector<float> before = m.parameters().flat_values().to_vector();
  auto expect_error = [&](const std::vector<std::pair<std::string, Tensor>>& state,
                          const std::string& needle) {
    try {
      m.load_state_dict(state);
      ADD_FAILURE() << "accepted a state dict that should fail with '" << needle << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
    EXPECT_EQ(m.parameters().flat_values().to_vector(), before);
  };
  auto without = [&](const std::string& key) {
    auto s = src.state_dict();
    s.erase(std::remove_if(s.begin(), s.end(), [&](const auto& e) { return e.first == key; }),
            s.end());
    return s;
  };
  expect_error(without("layers_conv.3.weight"), "missing key 'layers_conv.3.weight'");
  expect_error(without("layers_bn.2.running_var"), "missing key 'layers_bn.2.running_var'");
  auto wrong = src.state_dict();
  for (auto& [key, t] : wrong)
    if (key == "expand_conv.weight") t = Tensor::zeros({16, 34, 5});
  expect_error(wrong, "'expand_conv.weight' has shape (16, 34, 5), expected (16, 34, 3)");
  auto extra = src.state_dict();
  extra.emplace_back("layers_conv.4.weight", Tensor::zeros({16, 16, 3}));
  expect_error(extra, "unexpected key 'layers_conv.4.weight'");

  // PyTorch < 0.4.1 checkpoints have no num_batches_tracked: loaded, counters at 0.
  std::vector<std::pair<std::string, Tensor>> old;
  for (const auto& e : src.state_dict())
    if (!ends_with(e.first, "num_batches_tracked")) old.push_back(e);
  m.load_state_dict(old);
  EXPECT_EQ(m.parameters().flat_values().to_vector(), src.parameters().flat_values().to_vector());
  EXPECT_EQ(m.num_batches_tracked("expand_bn"), 0);
}

TEST(TemporalModelConfigTest, FollowsTheExperimentConfig) {
  ModelConfig m;
  m.filter_widths = {3, 3, 3, 3};
  m.channels = 32;
  m.dropout = 0.1;
  m.causal = true;
  const TemporalModelConfig c = temporal_model_config(m, 17, 2, 16);
  EXPECT_EQ(c.receptive_field(), 81);
  EXPECT_EQ(c.channels, 32);
  EXPECT_EQ(c.in_channels(), 34);
  EXPECT_EQ(c.out_channels(), 48);
  EXPECT_FLOAT_EQ(c.dropout, 0.1f);
  EXPECT_TRUE(c.causal);
  m.filter_widths = {3, 4};
  EXPECT_THROW(temporal_model_config(m, 17, 2, 17), Error);
}

}  // namespace
}  // namespace v3d

namespace v3d {
namespace {

// Folding once (with the CPU's Winograd and tap-major weights made up front) gives forward_eval's
// and the dilated blocks' outputs bit for bit, on a shape that takes the Winograd path.
TEST(TemporalModel, FoldedWeightsGiveIdenticalOutputs) {
  TemporalModelConfig c;
  c.filter_widths = {3, 3, 3};
  c.channels = 128;
  TemporalModel m(c, Device::cpu(), 4);
  std::mt19937_64 rng(12);
  const Tensor x = random_tensor(rng, {2, 400, m.config().in_channels()}, Device::cpu());
  kernels::TemporalConvShape s;
  s.batch = 2;
  s.t_in = 398;
  s.c_in = s.c_out = 128;
  s.k = 3;
  s.dilation = 3;
  ASSERT_TRUE(kernels::cpu::temporal_conv_fwd_uses_winograd(s)) << "the test needs the path";
  const TemporalModel::FoldedWeights folded = m.fold_weights();
  ASSERT_TRUE(folded.prepared[1].winograd.defined());
  EXPECT_TRUE(folded.prepared[0].tap_major.defined());   // the expand conv (K = 3)
  EXPECT_FALSE(folded.prepared[2].tap_major.defined());  // a 1x1 conv needs nothing
  const TemporalModel::FoldedWeights unprepared = m.fold_weights(false);
  const DilatedBlocks blocks(folded), plain_blocks(unprepared);
  std::vector<Tensor> blocks_a, blocks_b;
  EXPECT_EQ(blocks.forward(x, &blocks_a).to_vector(), m.forward_eval(x).to_vector());
  EXPECT_EQ(m.forward_eval(x, &folded).to_vector(), m.forward_eval(x).to_vector());
  plain_blocks.forward(x, &blocks_b);
  ASSERT_EQ(blocks_a.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(blocks_a[i].to_vector(), blocks_b[i].to_vector());
  const Tensor in = random_tensor(rng, {40, 3, 128}, Device::cpu());
  EXPECT_EQ(blocks.window(1, in).to_vector(), plain_blocks.window(1, in).to_vector());
  // Folded weights belong to one model.
  TemporalModelConfig other = c;
  other.filter_widths = {3, 3};
  TemporalModel small(other, Device::cpu(), 4);
  EXPECT_THROW(small.forward_eval(x, &folded), Error);
}

// The dilated blocks one at a time (each output written into the first rows of a larger buffer,
// or not), stopped before a block and finished through the head: both bit for bit forward_eval's,
// on the Winograd path and on a causal model.
TEST(DilatedBlocks, BlockByBlockSplitsThePass) {
  for (const bool causal : {false, true}) {
    TemporalModelConfig c;
    c.filter_widths = {3, 3, 3};
    c.channels = 128;
    c.causal = causal;
    TemporalModel m(c, Device::cpu(), 5);
    std::mt19937_64 rng(13);
    const Tensor x = random_tensor(rng, {2, 300, m.config().in_channels()}, Device::cpu());
    const TemporalModel::FoldedWeights folded = m.fold_weights();
    const DilatedBlocks net(folded);
    ASSERT_EQ(net.size(), 3u);
    EXPECT_EQ(net.receptive_field(), 27);
    EXPECT_EQ(net.receptive_field(1), 9);
    EXPECT_EQ(net.dilation(2), 9);
    std::vector<Tensor> whole;
    const std::vector<float> y = net.forward(x, &whole).to_vector();
    EXPECT_EQ(m.forward_eval(x, &folded).to_vector(), y);
    for (const size_t count : {size_t{1}, size_t{2}}) {
      std::vector<Tensor> part, roomy, buffers;
      const std::vector<int64_t> room{5, 0, 7};
      Tensor h = x, hr = x;
      for (size_t i = 0; i < count; ++i) {
        h = net.block(i, h);
        part.push_back(h);
        const int64_t t = h.size(1);
        buffers.push_back(Tensor::empty({2 * t + room[i], 128}));
        hr = net.block(i, hr, buffers.back().narrow(0, 2 * t).view({2, t, 128}));
        roomy.push_back(hr);
      }
      ASSERT_EQ(part.size(), count);
      for (size_t i = 0; i < count; ++i) {
        EXPECT_EQ(part[i].to_vector(), whole[i].to_vector()) << i;
        EXPECT_EQ(roomy[i].to_vector(), whole[i].to_vector()) << i;
        // The output is the buffer's first rows; the room follows.
        EXPECT_TRUE(buffers[i].shares_storage(roomy[i]));
        EXPECT_EQ(buffers[i].size(0), 2 * whole[i].size(1) + room[i]);
        EXPECT_EQ(buffers[i].narrow(0, 2 * whole[i].size(1)).to_vector(), whole[i].to_vector());
      }
      Tensor rest = part.back();
      for (size_t i = count; i < net.size(); ++i) rest = net.block(i, rest);
      EXPECT_EQ(net.head(rest).to_vector(), y) << count;
    }
    EXPECT_THROW(net.block(3, whole[2]), Error);                    // no fourth block
    EXPECT_THROW(net.block(1, x), Error);                           // not a block output
    EXPECT_THROW(net.block(0, x, Tensor::empty({1, 128})), Error);  // no room for the output
    EXPECT_THROW(net.window(1, random_tensor(rng, {4, 5, 128}, Device::cpu())), Error);
  }
}

}  // namespace
}  // namespace v3d

namespace v3d {
namespace {

// In bf16 on a GPU a block's inner activation (its first convolution's output, which only its 1x1
// convolution reads) is written in BF16 by that convolution: the block's output is bitwise the
// unfused composition's with a float32 intermediate (the 1x1 convolution rounds it to the same
// bits as it reads it), and the block's peak holds at least that activation's float32 bytes less
// (the 2-byte activation instead of the 4-byte one, and no 2-byte copy of it made by the 1x1
// convolution in its workspace).
class DilatedBf16 : public test::DeviceTest {};

TEST_P(DilatedBf16, TheInnerActivationIsWrittenInBf16) {
  TemporalModelConfig c = config_of({3, 3}, 64);
  TemporalModel m(c, dev(), 4);
  randomize_bn(m, 5);
  m.set_eval_math(kernels::ConvMath::kBf16);
  const TemporalModel::FoldedWeights folded = m.fold_weights();
  const DilatedBlocks blocks(folded);
  std::mt19937_64 rng(13);
  const Tensor h = random_tensor(rng, {2, 40, 64}, dev());
  const int64_t d = blocks.dilation(1), pad = d, t_out = 40 - 2 * d;
  Allocator& alloc = allocator_for(dev());
  auto peak_of = [&](const auto& run) {
    const int64_t before = alloc.stats().allocated_bytes;
    alloc.reset_peak();
    Tensor out = run();
    return std::make_pair(out, alloc.stats().peak_allocated_bytes - before);
  };
  const auto [want, unfused_peak] = peak_of([&] {
    ops::ConvEpilogueTensors e1, e2;
    e1.bias = folded.convs[1].bias;
    e1.relu = e2.relu = true;
    e2.bias = folded.convs[2].bias;
    e2.residual = h;
    e2.residual_offset = pad;
    const Tensor y =
        ops::temporal_conv(h, folded.convs[1].weight, d, 1, nullptr, kernels::ConvMath::kBf16, &e1);
    return ops::temporal_conv(y, folded.convs[2].weight, 1, 1, nullptr, kernels::ConvMath::kBf16,
                              &e2);
  });
  const auto [got, block_peak] = peak_of([&] { return blocks.block(1, h); });
  EXPECT_TRUE(test::bitwise_equal(got.to_vector(), want.to_vector()));
  EXPECT_GE(unfused_peak - block_peak, 2 * t_out * 64 * 4);
  // A window (the long-term bank's): the same composition on gathered rows.
  const Tensor rows = random_tensor(rng, {5, 3, 64}, dev());
  ops::ConvEpilogueTensors e1, e2;
  e1.bias = folded.convs[1].bias;
  e1.relu = e2.relu = true;
  e2.bias = folded.convs[2].bias;
  e2.residual = rows;
  e2.residual_offset = 1;
  const Tensor y = ops::temporal_conv(rows, folded.convs[1].weight, 1, 1, nullptr,
                                      kernels::ConvMath::kBf16, &e1);
  EXPECT_TRUE(test::bitwise_equal(
      blocks.window(1, rows).to_vector(),
      ops::temporal_conv(y, folded.convs[2].weight, 1, 1, nullptr, kernels::ConvMath::kBf16, &e2)
          .to_vector()));
}

INSTANTIATE_TEST_SUITE_P(Devices, DilatedBf16, ::testing::ValuesIn(test::gpu_device_params()),
                         test::device_test_name);

}  // namespace
}  // namespace v3d
