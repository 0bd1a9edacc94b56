// Pose layout views between the pose tensors of the data pipeline and the channel layout of the
// temporal convolutions, as VideoPose3D flattens them (model.py: x.view(B, T, -1) of (B, T, J, F)):
// channel = j * F + f, joint-major. Both are views: no copy, storage shared with the argument.
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace v3d::ops {

// poses: (B, T, J, F) -> (B, T, J * F), channel j * F + f is poses[b, t, j, f].
Tensor poses_to_channels(const Tensor& poses);
// y: (B, T, J * 3) -> (B, T, J, 3), the network's output as 3D joints (channel j * 3 + c).
Tensor channels_to_poses(const Tensor& y, int64_t joints);

}  // namespace v3d::ops
