// Mixed-precision training (train.precision, docs/gpu.md "Mixed-precision training"): the
// convolutions' three passes in TF32 or BF16 arithmetic (tensor cores on emu and cuda:0, rounded
// operands on the CPU) while weights, optimizer, batch norm and the loss stay float32.
//
// The claim tested: a run whose training ends in tf32 or bf16 reaches the fp32 run's test MPJPE
// within 1 mm. A small demo-shaped model (widths 3, 3, 3, 32 channels, dropout 0.25) on one
// subject and action trains 30 epochs (2 steps each, lr 3e-3 decaying by 0.85 per epoch). Every
// run shares the first 10 epochs in fp32: from scratch, training this small is chaotic (Adam's
// normalised first steps turn rounding-sized gradient differences into lr-sized steps; different
// fp32 seeds end 10-40 mm apart here), so full runs differ by up to about 1 mm for any
// perturbation, rounding or not (measured: tf32 -0.3 mm, bf16 +1.0 mm). The last 20 epochs,
// where the schedule converges (the test MPJPE drops by about 20 mm), run in each precision:
// measured differences 0.02 mm (tf32) and 0.07 mm (bf16) on the CPU.
// Devices: the CPU's runs cover the whole 20-epoch tail; the emulator, about 1000 times slower,
// runs the last epoch in each precision from the same fp32 state and is held to the same 1 mm
// against fp32, and to the CPU's run in its own precision (the same rounding contract) within
// 0.05 mm.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "kernels/common.h"
#include "kernels/gpu/emu/runtime.h"
#include "kernels/temporal_conv.h"
#include "runtime/temporal_conv.h"
#include "tests/runtime/test_util.h"
#include "tests/test_util.h"
#include "trainer/checkpoint.h"
#include "trainer/config.h"
#include "trainer/evaluate.h"
#include "trainer/restore.h"
#include "trainer/train.h"

namespace v3d {
namespace {

constexpr double kBoundMm = 1.0;          // against fp32 (the bound)
constexpr double kSameRoundingMm = 0.05;  // a device against the CPU in the same precision
constexpr int kEpochs = 30, kSharedEpochs = 10;

ExperimentConfig small_config(const Device& device, const std::string& precision) {
  ExperimentConfig c;
  c.device = device.str();
  c.model.filter_widths = {3, 3, 3};
  c.model.channels = 32;
  c.model.dropout = 0.25;
  c.data.source = SyntheticSourceConfig{1, 64};
  c.data.train_subjects = {"S1"};
  c.data.test_subjects = {"S9"};
  c.data.actions = {"Walking"};
  c.train.epochs = kEpochs;
  c.train.batch_size = 256;
  c.train.lr = 3e-3;
  c.train.lr_decay = 0.85;
  c.train.seed = 7;
  c.train.precision = precision;
  c.train.checkpoint_every = 1000;  // the final checkpoint only
  c.eval.test_intervals = {1};
  return c;
}

// Output folders that live as long as the test binary (checkpoints are shared between tests).
test_util::TempDir& scratch() {
  static test_util::TempDir dir("v3d-mixed-precision");
  return dir;
}

// Trains on `device` in `precision` up to `epochs` epochs of the schedule, from `from` (a
// checkpoint) or from scratch; returns the final checkpoint. The precision is recorded in the
// checkpoint and in the JSONL log.
std::string train_to(const Device& device, const std::string& precision, const std::string& from,
                     int epochs, kernels::ConvTile tile = kernels::ConvTile::kDefault) {
  static int runs = 0;
  const std::string dir = scratch() / ("run" + std::to_string(runs++));
  TrainOptions o;
  o.out_dir = dir;
  o.quiet = true;
  o.resume = from;
  o.max_epochs = epochs;
  ExperimentConfig config = small_config(device, precision);
  config.model.conv_tile = tile;
  const TrainResult r = train(config, o);
  const Checkpoint ckpt = load_checkpoint(r.checkpoint);
  EXPECT_EQ(ckpt.epoch, epochs);
  EXPECT_EQ(ckpt.metadata.at("precision"), precision);
  EXPECT_EQ(parse_config(ckpt.config_yaml, "checkpoint").train.precision, precision);
  const std::string log = test_util::read_text(dir + "/train_log.jsonl");
  EXPECT_NE(log.find("\"precision\": \"" + precision + "\""), std::string::npos) << log;
  return r.checkpoint;
}

// The fp32 run on the CPU after `epochs` (10, 29 or 30) epochs, computed once per binary.
const std::string& fp32_checkpoint(int epochs) {
  static std::map<int, std::string> done;
  auto it = done.find(epochs);
  if (it != done.end()) return it->second;
  // 10 from scratch, then 29 from 10, then 30 from 29 (a resumed run is the same run).
  const std::string from = epochs == kEpochs        ? fp32_checkpoint(kEpochs - 1)
                           : epochs > kSharedEpochs ? fp32_checkpoint(kSharedEpochs)
                                                    : "";
  return done[epochs] = train_to(Device::cpu(), "fp32", from, epochs);
}

// Test MPJPE at TD 1 (evaluation is float32 on every device: evaluated on the CPU).
double test_mpjpe(const std::string& checkpoint) {
  RestoredModel m = restore_model(checkpoint);
  const EvalReport report =
      evaluate(*m.model, load_test_sequences(m.config), eval_options(m.config));
  return report.intervals.at(0).mean.get(Metric::kMpjpe);
}

class MixedPrecision : public test::DeviceTest {};

TEST_P(MixedPrecision, Tf32AndBf16EndWithinOneMmOfFp32) {
  const bool cpu = dev().is_cpu();
  // The CPU runs the whole tail after the shared epochs; a GPU device the last epoch.
  const int from_epoch = cpu ? kSharedEpochs : kEpochs - 1;
  const std::string& from = fp32_checkpoint(from_epoch);
  const double fp32 = test_mpjpe(fp32_checkpoint(kEpochs));
  if (cpu) {
    EXPECT_LT(fp32, test_mpjpe(from) - 5.0) << "the tail must learn for the bound to mean much";
  }
  for (const char* precision : {"tf32", "bf16"}) {
    SCOPED_TRACE(precision);
    const double got = test_mpjpe(train_to(dev(), precision, from, kEpochs));
    std::printf("%s on %s from epoch %d: test MPJPE %.3f mm, fp32 %.3f mm\n", precision,
                dev().str().c_str(), from_epoch, got, fp32);
    EXPECT_NEAR(got, fp32, kBoundMm);
    if (!cpu) {
      const double on_cpu = test_mpjpe(train_to(Device::cpu(), precision, from, kEpochs));
      EXPECT_NEAR(got, on_cpu, kSameRoundingMm) << "the CPU's run in the same precision";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Devices, MixedPrecision, ::testing::ValuesIn(test::device_params()),
                         test::device_test_name);

// The Hopper tile (model.conv_tile: hopper; wgmma, docs/gpu.md) trains the same run as the default
// tile on the emulator, whose wgmma sums each instruction's terms as its mma.sync does: the last
// epoch in tf32 from the same fp32 state ends with the same test MPJPE, to the bit. At 32 channels
// every pass of the hidden layers runs on wgmma, and bwd_weight of every layer (on transposed
// copies; the input layer's forward, over 34 channels, stays on the default tile); the launch
// counts show it ran.
TEST(MixedPrecisionEmu, TheHopperTileTrainsTheSameRun) {
  const std::string& from = fp32_checkpoint(kEpochs - 1);
  const double plain = test_mpjpe(train_to(Device::emu(), "tf32", from, kEpochs));
  cuemu::reset_launch_counts();
  // model.conv_tile: hopper, which train() applies for the run and restores after.
  const double hopper =
      test_mpjpe(train_to(Device::emu(), "tf32", from, kEpochs, kernels::ConvTile::kHopper));
  EXPECT_EQ(ops::conv_tile(), kernels::ConvTile::kDefault) << "train() restores the setting";
  // Launches are counted by the kernel expression as written, one key for every instance.
  uint64_t wgmma_launches = 0;
  for (const auto& [name, count] : cuemu::launch_counts()) {
    if (name.find("conv_wgmma_kernel") != std::string::npos) wgmma_launches += count;
  }
  EXPECT_GT(wgmma_launches, 0u) << "the Hopper tile's kernel ran";
  EXPECT_EQ(hopper, plain);
}

}  // namespace
}  // namespace v3d
