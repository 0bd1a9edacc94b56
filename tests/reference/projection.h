// Double-precision references for camera projection and bone lengths, written from VideoPose3D's
// common/camera.py (project_to_2d, project_to_2d_linear) and run.py's bone-length term, not from
// the kernels.
#pragma once

#include <cstdint>
#include <vector>

#include "tests/reference/reference.h"

namespace v3d::ref {

// points (b, t, j, 3) + root (b, t, 3) (empty: none), intrinsic (b, 9) -> (b, t, j, 2).
Vec project_2d(const Vec& points, const Vec& root, const Vec& intrinsic, int64_t batch,
               int64_t frames, int64_t joints, bool linear);
// d_out (b, t, j, 2) -> {d_points (b, t, j, 3), d_root (b, t, 3)} of sum(d_out * project_2d):
// central differences of the double-precision projection point by point (h = 1e-6 |x|, far from
// the clamp's kink in every case that uses it).
struct ProjectGrads {
  Vec d_points, d_root;
};
ProjectGrads project_2d_bwd(const Vec& points, const Vec& root, const Vec& intrinsic,
                            const Vec& d_out, int64_t batch, int64_t frames, int64_t joints,
                            bool linear);
// points (n, joints, 3), parents (joints) -> (n, joints), 0 at a root.
Vec bone_lengths(const Vec& points, const std::vector<int>& parents, int64_t n, int64_t joints);
// d_len (n, joints) -> d_points (n, joints, 3); 0 for a zero-length bone.
Vec bone_lengths_bwd(const Vec& points, const std::vector<int>& parents, const Vec& d_len,
                     int64_t n, int64_t joints);

}  // namespace v3d::ref
