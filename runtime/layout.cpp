// Pose layout views (runtime/layout.h). A contiguous (B, T, J, F) tensor is already laid out as
// (B, T, J * F) with channel j * F + f, so both directions are reshapes.
#include "runtime/layout.h"

namespace v3d::ops {

Tensor poses_to_channels(const Tensor& poses) {
  V3D_CHECK(poses.defined(), "poses_to_channels: undefined tensor");
  V3D_CHECK(poses.ndim() == 4,
            "poses_to_channels: expected poses (B, T, J, F), got " << poses.str());
  return poses.view(Shape{poses.size(0), poses.size(1), poses.size(2) * poses.size(3)});
}

Tensor channels_to_poses(const Tensor& y, int64_t joints) {
  V3D_CHECK(y.defined(), "channels_to_poses: undefined tensor");
  V3D_CHECK(joints >= 1, "channels_to_poses: joints must be positive, got " << joints);
  V3D_CHECK(y.ndim() == 3 && y.size(2) == joints * 3,
            "channels_to_poses: expected (B, T, J * 3) = (B, T, "
                << joints * 3 << ") for J = " << joints << ", got " << y.str());
  return y.view(Shape{y.size(0), y.size(1), joints, 3});
}

}  // namespace v3d::ops
