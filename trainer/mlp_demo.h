// A small end-to-end training job on built-in synthetic data that exercises the whole stack
// (parameters in a flat buffer, autograd, matmul, ReLU, dropout, reductions, an SGD step over the
// flat buffer) on any device. It is the main job until the TCN trainer lands: a two-layer MLP
// learns to imitate a fixed random "teacher" MLP that maps 17 2-D keypoints to 17 3-D joints.
#pragma once

#include <cstdint>
#include <cstdio>

#include "runtime/device.h"

namespace v3d {

struct MlpDemoOptions {
  Device device = Device::cpu();
  int64_t steps = 600;
  int64_t batch = 256;
  int64_t hidden = 256;
  float lr = 0.05f;
  float dropout = 0.1f;
  uint64_t seed = 1;
  std::FILE* log = stdout;
};

struct MlpDemoResult {
  float initial_loss = 0.0f;  // held-out loss before training
  float final_loss = 0.0f;    // held-out loss after training
  double seconds = 0.0;
  double samples_per_second = 0.0;
};

MlpDemoResult run_mlp_demo(const MlpDemoOptions& options);

}  // namespace v3d
