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

RestoredModel restore_model(const std::string& checkpoint,
                            const std::vector<std::string>& overrides, std::optional<Device> device,
                            const std::string& config_path) {
  const Checkpoint ckpt = load_checkpoint(checkpoint, device.value_or(Device::cpu()));
  check_checkpoint_values(ckpt, checkpoint);
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
