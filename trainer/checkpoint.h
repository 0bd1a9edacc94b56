// Training checkpoints in HDF5 (format "v3d-checkpoint", version 1; layout: docs/checkpoints.md).
// The model's tensors are VideoPose3D's state_dict, one dataset per key under /model, in PyTorch's
// layout and in state_dict order, so h5py users and the PyTorch converter see the same names and
// shapes as torch.load; the rest is what `v3d train --resume` needs to continue bit-identically:
// epoch, learning rate, the AMSGrad state, the batch generator's state and the dropout RNG.
//
// dtypes: f32 tensors are float32 datasets. i32 tensors are int64 datasets (PyTorch's long; the
// only ones in VideoPose3D are the 0-d BN `num_batches_tracked` counters), read back as i32 with a
// range check: the runtime has no int64 tensors, and 2^31 batches is beyond any training run.
//
// Writes are atomic (temporary file in the same directory, then rename); a failed write leaves
// neither a new file nor the temporary one, and an existing file untouched. Every failure is one
// v3d::Error line "<file>: <object path>: <what>".
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "runtime/device.h"
#include "runtime/tensor.h"

namespace v3d {

constexpr const char* kCheckpointFormat = "v3d-checkpoint";
constexpr int kCheckpointVersion = 1;
// The most elements one stored tensor may declare (8 GiB of float32), checked in 64 bits before a
// reader allocates; VideoPose3D's largest model has about 17M parameters in all.
constexpr uint64_t kMaxCheckpointElements = uint64_t{1} << 31;

// metadata["model"] of semi-supervised training's trajectory model file (trainer/semi.h): a
// TemporalModel with one output joint, which commands that restore a pose model refuse.
inline constexpr const char* kTrajectoryModelRole = "trajectory";

struct Checkpoint {
  // state_dict entries in order: key (e.g. "layers_bn.0.running_mean") and tensor (f32 or i32,
  // 0 to 4 dimensions, any device). Keys are non-empty, unique, contain no '/' and are not ".".
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::string architecture;  // filter widths, e.g. "3,3,3"
  std::string config_yaml;   // the experiment's resolved YAML
  int64_t epoch = 0;         // epochs completed
  float lr = 0;              // learning rate of the next epoch

  // AdamAmsgrad's state (runtime/optimizer.h). Either all three tensors are defined (f32, one
  // shape, any device) or none is: a weights-only checkpoint (e.g. converted published weights)
  // has no /optimizer group and loads with undefined tensors and steps = 0.
  struct Optimizer {
    int64_t steps = 0;
    Tensor exp_avg, exp_avg_sq, max_exp_avg_sq;
  } optimizer;

  std::string generator_state;  // WindowGenerator::save_state()
  uint64_t dropout_seed = 0;    // PhiloxState of the dropout masks
  uint64_t dropout_offset = 0;
  // Free-form provenance (v3d version, git commit, date, source file of a conversion, ...).
  // Keys are non-empty.
  std::map<std::string, std::string> metadata;

  // The tensor of `key`, or nullptr.
  const Tensor* find(const std::string& key) const;
};

// Writes `ckpt` to `path` atomically. Validates everything before touching the file system.
void save_checkpoint(const Checkpoint& ckpt, const std::string& path);

// Reads a checkpoint; tensors (model and optimizer) are placed on `device`. The values are read
// as stored, bit for bit (NaN payloads included): check_checkpoint_values judges them.
Checkpoint load_checkpoint(const std::string& path, Device device = Device::cpu());

// What a model may be restored from (restore_model, `v3d train --resume`): finite f32 tensors,
// BN running variances (keys ending ".running_var") and AMSGrad's second moments >= 0. A negative
// variance would evaluate without any error, only wrongly. Throws "<path>: /model/<key>: element
// i is nan (expected finite values)".
void check_checkpoint_values(const Checkpoint& ckpt, const std::string& path);

}  // namespace v3d
