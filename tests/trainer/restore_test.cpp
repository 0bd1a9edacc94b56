// restore_model (trainer/restore.h), the one way commands get a trained model: the stored config
// with overrides (or a given YAML), the architecture check, layouts, epoch, weights and device.
#include "trainer/restore.h"

#include <gtest/gtest.h>

#include <fstream>
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

// A tiny random model's checkpoint: architecture and config as given, epoch 4.
Checkpoint tiny_checkpoint(const ExperimentConfig& c, const std::string& architecture) {
  TemporalModel model(temporal_model_config(c.model, 17, 2, 17), Device::cpu(), 3);
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

}  // namespace
}  // namespace v3d
