// Training, evaluation and inference end to end on a GPU device (the emulator everywhere, cuda:0
// where a GPU is usable) against the same runs on the CPU: a tiny training run gives the CPU's
// step losses and final state, checkpoints trained on either device evaluate to the same metrics
// on either, and inference with the long-term bank gives the CPU's poses (the bank and the fusion
// plan alone equal the CPU's bit for bit: ltb_test.cpp's LtbDevices).
//
// Tolerances (docs/testing.md). The device kernels (kernels/cuda/*.cu) sum in another order than
// the CPU ones (tiled GEMM and convolution reductions, tree reductions for BN's statistics and
// the loss; nvcc also contracts a*b+c into FMA), so every op differs from the CPU's by float32
// rounding, about 1e-7 relative, and training carries that through every step:
//   - losses and metrics: 1e-4 relative (kLossRel). The emulator's runs below differ by about
//     1e-7; a 1% change of the learning rate on the device moves the losses by 1e-3.
//   - weights: each tensor's difference, in L2 norm, within 1e-3 (kStateRel) of how far the CPU
//     run moved it from the (bit-identical) initial weights; optimizer moments within 1e-3 of
//     their own norm. AMSGrad divides by the root of the second moment, so a gradient element
//     that cancels to rounding noise gets a full lr-sized step of either sign: a few elements
//     can differ by the step size, which an elementwise bound would have to allow everywhere.
//     The emulator's run stays below 1e-5 of the distance moved; wider models trained longer
//     reach 1e-4.
//   - poses in metres: 1e-5 * (1 + |x|), as the CPU-only batching tests (ltb_test.cpp).
// Everything that is not float arithmetic is compared exactly: step and sample counts, lr and BN
// momentum, the generator and dropout states, BN's batch counters, the bank's statistics.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "data/dataset.h"
#include "data/infer_input.h"
#include "data/synth.h"
#include "kernels/common.h"
#include "runtime/temporal_conv.h"
#include "tests/runtime/test_util.h"
#include "tests/test_util.h"
#include "tests/trainer/ltb_test_util.h"
#include "tests/trainer/state_near.h"
#include "trainer/checkpoint.h"
#include "trainer/config.h"
#include "trainer/evaluate.h"
#include "trainer/infer.h"
#include "trainer/model.h"
#include "trainer/restore.h"
#include "trainer/train.h"

namespace v3d {
namespace {

using test::expect_state_near;
using test::NamedTensors;

constexpr double kLossRel = 1e-4;  // see the file comment
constexpr int kSteps = 8;

// Widths 3, 3, 3 (27 frames), 16 channels, dropout on. One subject, one action: 4 cameras x 16
// frames x 2 flips = 128 windows, one batch, so each epoch is one optimizer step and its logged
// loss is that step's loss. About 5 s on the emulator.
ExperimentConfig tiny_config(const Device& device) {
  ExperimentConfig c;
  c.device = device.str();
  c.model.filter_widths = {3, 3, 3};
  c.model.channels = 16;
  c.model.dropout = 0.25;
  c.data.source = SyntheticSourceConfig{3, 16};
  c.data.train_subjects = {"S1"};
  c.data.test_subjects = {"S9"};
  c.data.actions = {"Walking"};
  c.train.epochs = kSteps;
  c.train.batch_size = 128;
  c.train.lr = 3e-3;
  c.train.lr_decay = 0.9;
  c.train.seed = 11;
  c.train.checkpoint_every = 100;  // the final checkpoint only
  c.eval.test_intervals = {1, 2};
  return c;
}

TrainResult train_in(const ExperimentConfig& c, const test_util::TempDir& dir) {
  TrainOptions o;
  o.out_dir = dir.str();
  o.quiet = true;
  return train(c, o);
}

::testing::AssertionResult near_rel(double got, double want) {
  const double diff = std::fabs(got - want);
  if (diff <= kLossRel * std::fabs(want)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << got << " vs " << want << ": relative difference "
                                       << diff / std::fabs(want) << " > " << kLossRel;
}

// Two checkpoints of the same run on different devices: the model state within the tolerance of
// how far it moved from `initial`, the optimizer's moments within the tolerance of their norms, the
// rest equal.
void expect_checkpoints_near(const Checkpoint& want, const Checkpoint& got,
                             const NamedTensors& initial) {
  expect_state_near(want.tensors, got.tensors, &initial);
  EXPECT_EQ(want.epoch, got.epoch);
  EXPECT_EQ(want.lr, got.lr);
  EXPECT_EQ(want.optimizer.steps, got.optimizer.steps);
  const auto moments = [](const Checkpoint& c) {
    return NamedTensors{{"exp_avg", c.optimizer.exp_avg},
                        {"exp_avg_sq", c.optimizer.exp_avg_sq},
                        {"max_exp_avg_sq", c.optimizer.max_exp_avg_sq}};
  };
  expect_state_near(moments(want), moments(got));
  EXPECT_EQ(want.generator_state, got.generator_state);
  EXPECT_EQ(want.dropout_seed, got.dropout_seed);
  EXPECT_EQ(want.dropout_offset, got.dropout_offset);
}

// The checkpoint's test split evaluated on `device`, each test interval of its config (TD 1, 2)
// without and with the long-term bank. The test split is longer than the training one, and has a
// fast action (S9 Walking and Boxing, 90 frames, phases of 45 at TD 2), so that the bank fuses
// frames at every interval (not into sequences shorter than the receptive field).
EvalReport evaluate_on(const std::string& checkpoint, const Device& device) {
  RestoredModel m = restore_model(
      checkpoint,
      {"data.source={type: synthetic, seed: 3, frames: 90}", "data.actions=Walking,Boxing"},
      device);
  EXPECT_EQ(m.model->device(), device);
  EvalOptions o = eval_options(m.config);
  o.ltb = LtbEval::kBoth;
  o.ltb_options = ltb_test::fusing_options();
  return evaluate(*m.model, load_test_sequences(m.config), o);
}

// The bank's counts depend on the plan alone, which every device computes bit for bit.
void expect_same_stats(const LtbStats& want, const LtbStats& got) {
  const auto counts = [](const LtbStats& s) {
    return std::vector<int64_t>{s.frames,          s.fused_frames,  s.bank_entries, s.sequences,
                                s.blocks_computed, s.blocks_reused, s.plain_blocks};
  };
  EXPECT_EQ(counts(want), counts(got))
      << "frames, fused frames, bank entries, sequences, blocks computed, reused, plain";
}

void expect_reports_near(const EvalReport& want, const EvalReport& got) {
  EXPECT_EQ(want.frames, got.frames);
  ASSERT_EQ(want.intervals.size(), got.intervals.size());
  for (size_t k = 0; k < want.intervals.size(); ++k) {
    const IntervalReport &w = want.intervals[k], &g = got.intervals[k];
    SCOPED_TRACE("TD " + std::to_string(w.interval) + (w.ltb ? " with the bank" : ""));
    EXPECT_EQ(w.interval, g.interval);
    EXPECT_EQ(w.ltb, g.ltb);
    EXPECT_EQ(w.phases, g.phases);
    expect_same_stats(w.ltb_stats, g.ltb_stats);
    EXPECT_EQ(w.mean.frames, g.mean.frames);
    for (const Metric metric : want.metrics)
      EXPECT_TRUE(near_rel(g.mean.get(metric), w.mean.get(metric))) << metric_name(metric);
  }
}

class TrainDevices : public test::DeviceTest {};

// The same seed and config trained on the device and on the CPU: the same initial weights bit for
// bit, the same step losses and final state within the tolerance, the same counters exactly.
TEST_P(TrainDevices, TinyTrainingMatchesTheCpu) {
  const ExperimentConfig c = tiny_config(dev());
  const TemporalModelConfig mc = temporal_model_config(c.model, 17, 2, 17);
  const NamedTensors initial = TemporalModel(mc, Device::cpu(), c.train.seed).state_dict();
  {
    const NamedTensors on_dev = TemporalModel(mc, dev(), c.train.seed).state_dict();
    ASSERT_EQ(on_dev.size(), initial.size());
    for (size_t i = 0; i < initial.size(); ++i) {
      if (initial[i].second.dtype() != DType::kF32) continue;
      EXPECT_TRUE(test::bitwise_equal(on_dev[i].second.to_vector(), initial[i].second.to_vector()))
          << initial[i].first;
    }
  }

  test_util::TempDir cpu_dir("v3d-train-cpu"), dev_dir("v3d-train-dev");
  const TrainResult on_cpu = train_in(tiny_config(Device::cpu()), cpu_dir);
  const TrainResult on_dev = train_in(c, dev_dir);
  ASSERT_EQ(on_cpu.log.size(), static_cast<size_t>(kSteps));
  ASSERT_EQ(on_dev.log.size(), static_cast<size_t>(kSteps));
  for (size_t k = 0; k < on_cpu.log.size(); ++k) {
    SCOPED_TRACE("step " + std::to_string(k + 1));
    EXPECT_EQ(on_cpu.log[k].samples, 128);
    EXPECT_EQ(on_dev.log[k].samples, 128);
    EXPECT_EQ(on_dev.log[k].lr, on_cpu.log[k].lr);
    EXPECT_EQ(on_dev.log[k].bn_momentum, on_cpu.log[k].bn_momentum);
    EXPECT_TRUE(near_rel(on_dev.log[k].train_mpjpe_mm, on_cpu.log[k].train_mpjpe_mm));
  }
  EXPECT_LT(on_cpu.log.back().train_mpjpe_mm, 0.9 * on_cpu.log.front().train_mpjpe_mm)
      << "a run that learns nothing would agree too easily";
  // The device's checkpoint read onto the CPU and onto the device.
  const Checkpoint want = load_checkpoint(on_cpu.checkpoint);
  expect_checkpoints_near(want, load_checkpoint(on_dev.checkpoint), initial);
  expect_checkpoints_near(want, load_checkpoint(on_dev.checkpoint, dev()), initial);
}

// model.conv_backend: cublaslt trains the same run within the same tolerance of the CPU, and it
// is what ran: the weights differ in their bits from the v3d backend's run.
TEST_P(TrainDevices, TinyTrainingOnTheCublasLtBackendMatchesTheCpu) {
  ExperimentConfig c = tiny_config(dev());
  c.train.epochs = 4;
  c.model.conv_backend = ops::ConvBackendChoice::kCublasLt;
  ExperimentConfig on_cpu_config = tiny_config(Device::cpu());
  on_cpu_config.train.epochs = 4;
  ExperimentConfig v3d_config = c;
  v3d_config.model.conv_backend = ops::ConvBackendChoice::kV3d;
  test_util::TempDir cpu_dir("v3d-train-cpu"), lt_dir("v3d-train-lt"), v3d_dir("v3d-train-v3d");
  const TrainResult on_cpu = train_in(on_cpu_config, cpu_dir);
  const TrainResult lt = train_in(c, lt_dir);
  const TrainResult v3d = train_in(v3d_config, v3d_dir);
  ASSERT_EQ(lt.log.size(), on_cpu.log.size());
  for (size_t k = 0; k < on_cpu.log.size(); ++k)
    EXPECT_TRUE(near_rel(lt.log[k].train_mpjpe_mm, on_cpu.log[k].train_mpjpe_mm))
        << "step " << k + 1;
  EXPECT_NE(lt.weights_checksum, v3d.weights_checksum);
  EXPECT_EQ(ops::conv_backend(), ops::ConvBackendChoice::kV3d) << "train() restores the setting";
}

// A checkpoint trained on either device evaluates to the same metrics on both, with and without
// the long-term bank.
TEST_P(TrainDevices, CheckpointsEvaluateOnTheOtherDevice) {
  test_util::TempDir cpu_dir("v3d-train-cpu"), dev_dir("v3d-train-dev");
  ExperimentConfig c = tiny_config(Device::cpu());
  c.train.epochs = 3;
  const std::string from_cpu = train_in(c, cpu_dir).checkpoint;
  c.device = dev().str();
  const std::string from_dev = train_in(c, dev_dir).checkpoint;
  const EvalReport want = evaluate_on(from_cpu, Device::cpu());
  ASSERT_EQ(want.intervals.size(), 4u);  // TD 1 and 2, each without and with the bank
  for (const IntervalReport& r : want.intervals) {
    if (r.ltb) {
      EXPECT_GT(r.ltb_stats.fused_frames, 0) << "the test needs fused frames";
    }
  }
  {
    SCOPED_TRACE("trained on the CPU, evaluated on " + dev().str());
    expect_reports_near(want, evaluate_on(from_cpu, dev()));
  }
  {
    SCOPED_TRACE("trained on " + dev().str() + ", evaluated on the CPU");
    expect_reports_near(want, evaluate_on(from_dev, Device::cpu()));
  }
  {
    SCOPED_TRACE("trained and evaluated on " + dev().str());
    expect_reports_near(want, evaluate_on(from_dev, dev()));
  }
}

// `v3d infer`'s path (inputs read from a pose file, the model restored from a trained checkpoint,
// and with the long-term bank, offline and online, the bank planned and the fused windows
// predicted on the model's device) gives the CPU's poses and bank statistics, with and without
// flip TTA.
TEST_P(TrainDevices, BankInferenceMatchesTheCpu) {
  test_util::TempDir dir("v3d-train-dev");
  ExperimentConfig c = tiny_config(Device::cpu());
  c.train.epochs = 2;
  const std::string checkpoint = train_in(c, dir).checkpoint;
  data::SynthOptions so;
  so.frames_per_action = 90;
  so.subjects = {"S9"};
  so.actions = {"Walking", "Boxing"};
  data::write_dataset(data::synthesize(so), dir / "poses.h5");
  const std::vector<InferInput> inputs = data::read_infer_input_h5(dir / "poses.h5", 0);
  ASSERT_EQ(inputs.size(), 2u);
  const LtbOptions offline = ltb_test::fusing_options();
  LtbOptions online = offline;
  online.online = true;

  RestoredModel on_cpu = restore_model(checkpoint, {}, Device::cpu());
  RestoredModel on_dev = restore_model(checkpoint, {}, dev());
  ASSERT_EQ(on_dev.model->device(), dev());
  const std::vector<const LtbOptions*> settings{nullptr, &offline, &online};
  for (const LtbOptions* ltb : settings) {
    for (const bool flip : {false, true}) {
      SCOPED_TRACE(std::string(ltb == nullptr ? "no bank"
                               : ltb->online  ? "online"
                                              : "offline") +
                   (flip ? ", flip TTA" : ", no flip"));
      LtbStats want_stats, got_stats;
      const auto want = infer_3d(*on_cpu.model, inputs, flip, ltb, &want_stats);
      const auto got = infer_3d(*on_dev.model, inputs, flip, ltb, &got_stats);
      if (ltb != nullptr) {
        EXPECT_GT(want_stats.fused_frames, 0) << "the test needs fused frames";
      }
      expect_same_stats(want_stats, got_stats);
      ASSERT_EQ(got.size(), want.size());
      for (size_t k = 0; k < want.size(); ++k) {
        ASSERT_EQ(got[k].size(), want[k].size());
        for (size_t e = 0; e < want[k].size(); ++e)
          ASSERT_NEAR(got[k][e], want[k][e], 1e-5f * (1 + std::fabs(want[k][e])))
              << inputs[k].name << " element " << e;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(GpuDevices, TrainDevices, ::testing::ValuesIn(test::gpu_device_params()),
                         test::device_test_name);

}  // namespace
}  // namespace v3d
