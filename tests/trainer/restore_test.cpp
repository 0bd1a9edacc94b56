// restore_model (trainer/restore.h), the one way commands get a trained model: the stored config
// with overrides (or a given YAML), the architecture check, layouts, epoch, weights and device.
#include "trainer/restore.h"

#include <gtest/gtest.h>

#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "kernels/common.h"
#include "tests/test_util.h"
#include "trainer/checkpoint.h"

namespace v3d {
namespace {

// A 9-frame, 16-channel model.
ExperimentConfig tiny_config() {
  return parse_config("model: {filter_widths: [3, 3], channels: 16, dropout: 0.0}", "tiny");
}

// A tiny random model's checkpoint: architecture and config as given, epoch 4; its weights read
// `keypoints` 2D points and predict `joints` 3D ones.
Checkpoint tiny_checkpoint(const ExperimentConfig& c, const std::string& architecture,
                           int64_t keypoints = 17, int64_t joints = 17) {
  TemporalModel model(temporal_model_config(c.model, keypoints, 2, joints), Device::cpu(), 3);
  Checkpoint ckpt;
  ckpt.tensors = model.state_dict();
  ckpt.architecture = architecture;
  ckpt.config_yaml = to_yaml(c);
  ckpt.epoch = 4;
  return ckpt;
}

TEST(Restore, ModelConfigLayoutsEpochAndEmuDevice) {
  const test_util::TempDir dir("v3d-restore");
  const Checkpoint ckpt = tiny_checkpoint(tiny_config(), "3,3");
  save_checkpoint(ckpt, dir / "model.h5");

  const RestoredModel m = restore_model(dir / "model.h5");
  EXPECT_EQ(m.config.model.filter_widths, (std::vector<int>{3, 3}));
  EXPECT_EQ(m.model->receptive_field(), 9);
  EXPECT_EQ(m.model->device(), Device::cpu());
  EXPECT_EQ(m.keypoints, &data::Skeleton::h36m17());
  EXPECT_EQ(m.joints, &data::Skeleton::h36m17());
  EXPECT_EQ(m.epoch, 4);
  for (const auto& [key, t] : m.model->state_dict()) {
    if (t.dtype() == DType::kI32) {
      EXPECT_EQ(t.to_vector_i32(), ckpt.find(key)->to_vector_i32()) << key;
    } else {
      EXPECT_EQ(t.to_vector(), ckpt.find(key)->to_vector()) << key;
    }
  }

  // Overrides apply to the stored config; without a device the config's device is used.
  const RestoredModel o =
      restore_model(dir / "model.h5",
                    {"ltb.capacity=40", "data.keypoints=pseudo_coco", "device=emu"}, std::nullopt);
  EXPECT_EQ(o.config.ltb.capacity, 40);
  EXPECT_EQ(o.keypoints, &data::Skeleton::coco17());
  EXPECT_EQ(o.model->device(), Device::emu());
  EXPECT_EQ(o.model->parameters().flat_values().to_vector(),
            m.model->parameters().flat_values().to_vector());
  // An explicit device wins over the config's device.
  EXPECT_EQ(restore_model(dir / "model.h5", {"device=emu"}, Device::cpu()).model->device(),
            Device::cpu());
}

TEST(Restore, ConfigFileArchitectureAndMissingConfig) {
  const test_util::TempDir dir("v3d-restore");
  // The checkpoint says 3,3,3 but its config 3,3.
  save_checkpoint(tiny_checkpoint(tiny_config(), "3,3,3"), dir / "mismatch.h5");
  test_util::expect_error([&] { restore_model(dir / "mismatch.h5"); },
                          {"mismatch.h5", "architecture is 3,3,3", "model.filter_widths is 3,3"});

  // No stored config: an error naming the checkpoint, unless a YAML is given.
  Checkpoint bare = tiny_checkpoint(tiny_config(), "3,3");
  bare.config_yaml.clear();
  save_checkpoint(bare, dir / "bare.h5");
  test_util::expect_error([&] { restore_model(dir / "bare.h5"); },
                          {"bare.h5", "stores no experiment config"});
  {
    std::ofstream f(dir / "tiny.yaml");
    f << to_yaml(tiny_config());
  }
  const RestoredModel m =
      restore_model(dir / "bare.h5", {"eval.flip_tta=false"}, Device::cpu(), dir / "tiny.yaml");
  EXPECT_EQ(m.model->receptive_field(), 9);
  EXPECT_FALSE(m.config.eval.flip_tta);
}

// A checkpoint with a non-finite weight or a negative running variance would evaluate without
// any error, only wrongly (a negative running_var moved H36M's MPJPE by 15 mm): restoring refuses
// it, naming the file and the tensor.
TEST(Restore, NonFiniteWeightsAndNegativeVariancesAreRefused) {
  const test_util::TempDir dir("v3d-restore");
  const Checkpoint good = tiny_checkpoint(tiny_config(), "3,3");
  const auto with = [&](const std::string& key, size_t index, float value) {
    Checkpoint c = good;
    for (auto& [k, t] : c.tensors) {
      if (k != key) continue;
      std::vector<float> v = t.to_vector();
      v.at(index) = value;
      t = Tensor::from_vector(v, t.shape());
    }
    return c;
  };
  save_checkpoint(with("layers_bn.0.running_var", 5, -0.25f), dir / "negvar.h5");
  test_util::expect_error(
      [&] { restore_model(dir / "negvar.h5"); },
      {"negvar.h5", "/model/layers_bn.0.running_var", "element 5 is -0.25", "variance >= 0"});
  save_checkpoint(with("shrink.weight", 2, std::numeric_limits<float>::quiet_NaN()),
                  dir / "nan.h5");
  test_util::expect_error([&] { restore_model(dir / "nan.h5"); },
                          {"nan.h5", "/model/shrink.weight", "element 2 is nan", "finite"});
  save_checkpoint(with("expand_conv.weight", 0, -std::numeric_limits<float>::infinity()),
                  dir / "inf.h5");
  test_util::expect_error([&] { restore_model(dir / "inf.h5"); },
                          {"inf.h5", "/model/expand_conv.weight", "element 0 is -inf"});
  // A variance of 0 is a valid (if degenerate) statistic.
  save_checkpoint(with("layers_bn.0.running_var", 5, 0.0f), dir / "zero.h5");
  EXPECT_EQ(restore_model(dir / "zero.h5").epoch, 4);
}

// A state dict that does not fit the model is reported against the checkpoint file.
TEST(Restore, StateDictMismatchNamesTheFile) {
  const test_util::TempDir dir("v3d-restore");
  Checkpoint c = tiny_checkpoint(tiny_config(), "3,3");
  const std::string first = c.tensors.front().first;
  c.tensors.erase(c.tensors.begin());
  save_checkpoint(c, dir / "partial.h5");
  test_util::expect_error([&] { restore_model(dir / "partial.h5"); },
                          {dir / "partial.h5", ": /model: ", "missing key '" + first + "'"});
}

// The weights' first layer must read the stored data.keypoints layout's points and the last
// predict the output layout's joints: restoring (and resuming, which checks the same) refuses a
// checkpoint whose weights were made for other counts, naming the dataset and both counts.
TEST(Restore, WeightsAgainstTheStoredKeypointLayout) {
  const test_util::TempDir dir("v3d-restore");
  save_checkpoint(tiny_checkpoint(tiny_config(), "3,3", 13, 17), dir / "kp13.h5");
  test_util::expect_error(
      [&] { restore_model(dir / "kp13.h5"); },
      {dir / "kp13.h5", ": /model/expand_conv.weight: 26 input channels",
       "data.keypoints h36m17 has 17 keypoints", "(expected 34: x and y of each)"});
  // The same under the other layout: its name is in the message.
  test_util::expect_error([&] { restore_model(dir / "kp13.h5", {"data.keypoints=pseudo_coco"}); },
                          {"data.keypoints pseudo_coco has 17 keypoints"});
  save_checkpoint(tiny_checkpoint(tiny_config(), "3,3", 17, 16), dir / "j16.h5");
  test_util::expect_error(
      [&] { restore_model(dir / "j16.h5"); },
      {dir / "j16.h5", ": /model/shrink.weight: 48 output channels",
       "the h36m17 output layout has 17 joints", "(expected 51: x, y and z of each)"});
  // What `v3d train --resume` calls on the checkpoint it continues.
  const Checkpoint ckpt = load_checkpoint(dir / "kp13.h5");
  test_util::expect_error([&] { check_checkpoint_layout(ckpt, "resumed.h5", tiny_config()); },
                          {"resumed.h5: /model/expand_conv.weight: 26 input channels"});
  EXPECT_NO_THROW(
      check_checkpoint_layout(tiny_checkpoint(tiny_config(), "3,3"), "good.h5", tiny_config()));
}

}  // namespace
}  // namespace v3d
