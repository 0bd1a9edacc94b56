// Shape-checked entry points of kernels/projection.h and their autograd forms.
#include "runtime/projection.h"

#include <string>

#include "kernels/projection.h"
#include "runtime/op_run.h"

namespace v3d::ops {

namespace {

// Checks the tensors of project_2d for `op`; returns the args.
kernels::Project2dArgs check_project(const char* op, const Tensor& points, const Tensor& root,
                                     const Tensor& intrinsic, bool linear) {
  V3D_CHECK(points.defined() && points.dtype() == DType::kF32 && points.ndim() == 4 &&
                points.size(3) == 3,
            op << ": points must be f32 (B, T, J, 3), got "
               << (points.defined() ? points.str() : std::string("an undefined tensor")));
  const int64_t b = points.size(0), t = points.size(1);
  if (root.defined())
    check_tensor(root, (std::string(op) + ": root").c_str(), points.device(), Shape{b, t, 3});
  check_tensor(intrinsic, (std::string(op) + ": intrinsic").c_str(), points.device(), Shape{b, 9});
  kernels::Project2dArgs a;
  a.batch = b;
  a.frames = t;
  a.joints = points.size(2);
  a.linear = linear;
  return a;
}

// Checks points (..., J, 3) and the parent table for `op`; returns the args.
kernels::BoneLengthArgs check_bones(const char* op, const Tensor& points,
                                    const std::vector<int>& parents) {
  V3D_CHECK(points.defined() && points.dtype() == DType::kF32 && points.ndim() >= 2 &&
                points.size(points.ndim() - 1) == 3,
            op << ": points must be f32 (..., J, 3), got "
               << (points.defined() ? points.str() : std::string("an undefined tensor")));
  kernels::BoneLengthArgs a;
  a.joints = points.size(points.ndim() - 2);
  V3D_CHECK(static_cast<int64_t>(parents.size()) == a.joints,
            op << ": " << parents.size() << " parents for " << a.joints << " joints");
  V3D_CHECK(a.joints >= 1 && a.joints <= kernels::kBoneMaxJoints,
            op << ": " << a.joints << " joints (at most " << kernels::kBoneMaxJoints << ")");
  a.n = points.numel() / (3 * a.joints);
  for (int64_t j = 0; j < a.joints; ++j) a.parents[j] = parents[static_cast<size_t>(j)];
  return a;
}

Shape without_last(const Shape& s) {
  std::vector<int64_t> d = s.to_vector();
  d.pop_back();
  return Shape(d);
}

float* or_null(const Tensor& t) { return t.defined() ? t.f32() : nullptr; }

}  // namespace

void project_2d_out(const Tensor& points, const Tensor& root, const Tensor& intrinsic, bool linear,
                    const Tensor& out) {
  const auto a = check_project("project_2d", points, root, intrinsic, linear);
  check_tensor(out, "project_2d: out", points.device(), Shape{a.batch, a.frames, a.joints, 2});
  run_op<op_entry::project_2d>(points.device(), a, points.f32(), or_null(root), intrinsic.f32(),
                               out.f32());
}

Tensor project_2d(const Tensor& points, const Tensor& root, const Tensor& intrinsic, bool linear) {
  const auto a = check_project("project_2d", points, root, intrinsic, linear);
  Tensor out = Tensor::empty({a.batch, a.frames, a.joints, 2}, DType::kF32, points.device());
  project_2d_out(points, root, intrinsic, linear, out);
  return out;
}

void project_2d_bwd_out(const Tensor& points, const Tensor& root, const Tensor& intrinsic,
                        bool linear, const Tensor& d_out, const Tensor& d_points,
                        const Tensor& d_root) {
  const auto a = check_project("project_2d_bwd", points, root, intrinsic, linear);
  check_tensor(d_out, "project_2d_bwd: d_out", points.device(),
               Shape{a.batch, a.frames, a.joints, 2});
  check_tensor(d_points, "project_2d_bwd: d_points", points.device(), points.shape());
  if (d_root.defined())
    check_tensor(d_root, "project_2d_bwd: d_root", points.device(), Shape{a.batch, a.frames, 3});
  run_op<op_entry::project_2d_bwd>(points.device(), a, points.f32(), or_null(root), intrinsic.f32(),
                                   d_out.f32(), d_points.f32(), or_null(d_root));
}

void bone_lengths_out(const Tensor& points, const std::vector<int>& parents, const Tensor& len) {
  const auto a = check_bones("bone_lengths", points, parents);
  check_tensor(len, "bone_lengths: len", points.device(), without_last(points.shape()));
  run_op<op_entry::bone_lengths>(points.device(), a, points.f32(), len.f32());
}

Tensor bone_lengths(const Tensor& points, const std::vector<int>& parents) {
  check_bones("bone_lengths", points, parents);
  Tensor len = Tensor::empty(without_last(points.shape()), DType::kF32, points.device());
  bone_lengths_out(points, parents, len);
  return len;
}

void bone_lengths_bwd_out(const Tensor& points, const std::vector<int>& parents,
                          const Tensor& d_len, const Tensor& d_points) {
  const auto a = check_bones("bone_lengths_bwd", points, parents);
  check_tensor(d_len, "bone_lengths_bwd: d_len", points.device(), without_last(points.shape()));
  check_tensor(d_points, "bone_lengths_bwd: d_points", points.device(), points.shape());
  run_op<op_entry::bone_lengths_bwd>(points.device(), a, points.f32(), d_len.f32(), d_points.f32());
}

}  // namespace v3d::ops

namespace v3d::ag {

Var project_2d(const Var& points, const Var& root, const Tensor& intrinsic, bool linear) {
  const Tensor pv = points.value();
  const Tensor rv = root.defined() ? root.value() : Tensor();
  std::vector<Var> inputs{points};
  if (root.defined()) inputs.push_back(root);
  return make_result(ops::project_2d(pv, rv, intrinsic, linear), "project_2d", inputs,
                     [pv, rv, intrinsic, linear](const Tensor& d, const std::vector<bool>& needs) {
                       Tensor d_points = Tensor::empty(pv.shape(), DType::kF32, pv.device());
                       Tensor d_root = rv.defined() && needs.size() > 1 && needs[1]
                                           ? Tensor::empty(rv.shape(), DType::kF32, rv.device())
                                           : Tensor();
                       ops::project_2d_bwd_out(pv, rv, intrinsic, linear, d, d_points, d_root);
                       std::vector<Tensor> grads{needs[0] ? d_points : Tensor()};
                       if (rv.defined()) grads.push_back(d_root);
                       return grads;
                     });
}

Var bone_lengths(const Var& points, const std::vector<int>& parents) {
  const Tensor pv = points.value();
  return make_result(ops::bone_lengths(pv, parents), "bone_lengths", {points},
                     [pv, parents](const Tensor& d, const std::vector<bool>&) {
                       Tensor d_points = Tensor::empty(pv.shape(), DType::kF32, pv.device());
                       ops::bone_lengths_bwd_out(pv, parents, d, d_points);
                       return std::vector<Tensor>{d_points};
                     });
}

}  // namespace v3d::ag
