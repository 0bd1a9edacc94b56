// Camera projection and bone lengths (kernels/projection.h), the geometry of semi-supervised
// training (VideoPose3D's back-projection):
//
//   project_2d:   points (B, T, J, 3) camera space, root (B, T, 3) added to every joint (or
//                 undefined), intrinsic (B, 9) normalised [f, c, k, t] -> (B, T, J, 2) normalised
//                 screen units, VideoPose3D's project_to_2d (or project_to_2d_linear)
//   bone_lengths: points (..., J, 3), parents (J, -1 for a root) -> (..., J), the distance of each
//                 joint to its parent (0 for a root)
//
// Errors name the op and what is wrong before any kernel runs.
#pragma once

#include <vector>

#include "runtime/autograd.h"
#include "runtime/tensor.h"

namespace v3d::ops {

// out: (B, T, J, 2), overwritten.
void project_2d_out(const Tensor& points, const Tensor& root, const Tensor& intrinsic, bool linear,
                    const Tensor& out);
Tensor project_2d(const Tensor& points, const Tensor& root, const Tensor& intrinsic, bool linear);
// d_points (points' shape) and d_root (root's shape, or undefined) overwritten.
void project_2d_bwd_out(const Tensor& points, const Tensor& root, const Tensor& intrinsic,
                        bool linear, const Tensor& d_out, const Tensor& d_points,
                        const Tensor& d_root);

// len: points' shape without the last dimension, overwritten.
void bone_lengths_out(const Tensor& points, const std::vector<int>& parents, const Tensor& len);
Tensor bone_lengths(const Tensor& points, const std::vector<int>& parents);
// d_points (points' shape) overwritten.
void bone_lengths_bwd_out(const Tensor& points, const std::vector<int>& parents,
                          const Tensor& d_len, const Tensor& d_points);

}  // namespace v3d::ops

namespace v3d::ag {

// Differentiable in points and root (root may be an undefined Var: no root); the intrinsics are
// data.
Var project_2d(const Var& points, const Var& root, const Tensor& intrinsic, bool linear);
Var bone_lengths(const Var& points, const std::vector<int>& parents);

}  // namespace v3d::ag
