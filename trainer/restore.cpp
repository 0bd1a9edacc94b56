// Restoring a trained model (trainer/restore.h).
#include "trainer/restore.h"

#include "kernels/common.h"
#include "trainer/checkpoint.h"
#include "trainer/sequences.h"

namespace v3d {

ModelLayout model_layout(const ExperimentConfig& config) {
  ModelLayout l;
  l.keypoints = &keypoint_skeleton(config.data.keypoints);
  l.joints = &data::Skeleton::h36m17();
  return l;
}

void check_checkpoint_layout(const Checkpoint& ckpt, const std::string& path,
                             const ExperimentConfig& config) {
  const ModelLayout layout = model_layout(config);
  const auto check = [&](const char* key, int dim, const char* what, int64_t points,
                         const std::string& points_text, int coordinates, const char* which) {
    const Tensor* t = ckpt.find(key);
    if (t == nullptr || !t->defined() || t->shape().ndim() != 3) return;  // load_state_dict's
    const int64_t channels = t->shape()[dim];
    if (channels == points * coordinates) return;
    throw Error(path + ": /model/" + key + ": " + std::to_string(channels) + " " + what +
                " channels, but " + points_text + " has " + std::to_string(points) + " " + which +
                " (expected " + std::to_string(points * coordinates) + ": " +
                (coordinates == 2 ? "x and y" : "x, y and z") + " of each)");
  };
  check("expand_conv.weight", 1, "input", layout.keypoints->num_joints(),
        std::string("data.keypoints ") + to_string(config.data.keypoints), 2, "keypoints");
  check("shrink.weight", 0, "output", layout.joints->num_joints(),
        "the " + layout.joints->name + " output layout", 3, "joints");
}

RestoredModel restore_model(const std::string& checkpoint,
                            const std::vector<std::string>& overrides, std::optional<Device> device,
                            const std::string& config_path) {
  const Checkpoint ckpt = load_checkpoint(checkpoint, device.value_or(Device::cpu()));
  check_checkpoint_values(ckpt, checkpoint);
  const auto role = ckpt.metadata.find("model");
  V3D_REQUIRE(role == ckpt.metadata.end() || role->second != kTrajectoryModelRole,
              checkpoint << ": holds the trajectory model of semi-supervised training, not a pose "
                            "model (restore the epoch_<N>.h5 next to it)");
  RestoredModel m;
  if (!config_path.empty()) {
    m.config = load_config(config_path, overrides);
  } else {
    if (ckpt.config_yaml.empty())
      throw Error(checkpoint + ": the checkpoint stores no experiment config (config_yaml)");
    m.config = parse_config(ckpt.config_yaml, checkpoint, overrides);
  }
  std::string widths;
  for (int w : m.config.model.filter_widths) {
    if (!widths.empty()) widths += ',';
    widths += std::to_string(w);
  }
  if (!ckpt.architecture.empty() && ckpt.architecture != widths)
    throw Error(checkpoint + ": the checkpoint's architecture is " + ckpt.architecture +
                " but its config's model.filter_widths is " + widths);
  check_checkpoint_layout(ckpt, checkpoint, m.config);
  const ModelLayout layout = model_layout(m.config);
  m.keypoints = layout.keypoints;
  m.joints = layout.joints;
  m.epoch = ckpt.epoch;
  m.model = std::make_unique<TemporalModel>(
      temporal_model_config(m.config.model, m.keypoints->num_joints(), 2, m.joints->num_joints()),
      device ? *device : parse_device(m.config.device));
  try {
    m.model->load_state_dict(ckpt.tensors);
  } catch (const Error& e) {
    throw Error(checkpoint + ": /model: " + e.what());  // which file the weights came from
  }
  return m;
}

}  // namespace v3d
