// A random tiny model (widths 3, 3; 16 channels; no dropout) saved with its config, for the
// command-line tests that need a checkpoint but no training.
#pragma once

#include <string>

#include "runtime/device.h"
#include "trainer/checkpoint.h"
#include "trainer/config.h"
#include "trainer/model.h"

namespace v3d::apps {

inline void save_tiny_model(const std::string& path, bool causal,
                            Keypoints keypoints = Keypoints::kH36m17) {
  ExperimentConfig c;
  c.model.filter_widths = {3, 3};
  c.model.channels = 16;
  c.model.dropout = 0.0;
  c.model.causal = causal;
  c.data.keypoints = keypoints;
  TemporalModel model(temporal_model_config(c.model, 17, 2, 17), Device::cpu(), 4);
  Checkpoint ckpt;
  ckpt.tensors = model.state_dict();
  ckpt.architecture = "3,3";
  ckpt.config_yaml = to_yaml(c);
  save_checkpoint(ckpt, path);
}

}  // namespace v3d::apps
