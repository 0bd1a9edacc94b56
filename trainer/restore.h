// A trained model restored from its checkpoint, as every command that runs one does (`v3d eval`,
// `v3d infer`, `v3d ltb`, `v3d ltb-sweep`): the stored experiment config (or a given YAML) with
// overrides applied, checked against the checkpoint's architecture, the model built for its
// keypoint and joint layouts and its weights loaded.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/skeleton.h"
#include "runtime/device.h"
#include "trainer/checkpoint.h"
#include "trainer/config.h"
#include "trainer/model.h"

namespace v3d {

// The 2D layout a config's model takes (data.keypoints) and the 3D layout it predicts.
struct ModelLayout {
  const data::Skeleton* keypoints = nullptr;
  const data::Skeleton* joints = nullptr;
};
ModelLayout model_layout(const ExperimentConfig& config);

// A checkpoint's weights against the layouts of `config` (its stored config, or the one given):
// the first layer (expand_conv.weight, (C, C_in, K)) reads x and y of each keypoint of
// data.keypoints, the last (shrink.weight, (C_out, C, 1)) predicts x, y and z of each joint. The
// keypoint layouts all have 17 points, so only the count is checked, not which layout the weights
// were trained on (docs/checkpoints.md). Throws one line: "<path>: /model/expand_conv.weight: 26
// input channels, but data.keypoints h36m17 has 17 keypoints (expected 34: x and y of each)".
void check_checkpoint_layout(const Checkpoint& ckpt, const std::string& path,
                             const ExperimentConfig& config);

struct RestoredModel {
  ExperimentConfig config;  // with the overrides applied
  std::unique_ptr<TemporalModel> model;
  const data::Skeleton* keypoints = nullptr;  // the 2D layout it was trained on
  const data::Skeleton* joints = nullptr;     // its 3D output layout
  int64_t epoch = 0;                          // epochs completed
};

// `overrides` ("key.sub=value", as --set) apply to the stored config (e.g. ltb.capacity=40), or
// to the YAML at `config_path` when given. device: where the model lives; std::nullopt: the
// config's device key. Throws one line naming the checkpoint when it stores no config (and none
// is given) or when its architecture disagrees with the config's model.filter_widths.
RestoredModel restore_model(const std::string& checkpoint,
                            const std::vector<std::string>& overrides = {},
                            std::optional<Device> device = Device::cpu(),
                            const std::string& config_path = "");

}  // namespace v3d
