// Cases for project_2d and bone_lengths (runtime/projection.h), and their backward kernels alone
// ("pass=backward": against double-precision backward references) and through the grad cases.
// Inputs:
//   project_2d: joints N(0, 0.3) m around a root 3-6 m in front of the camera (or, without a
//               root, the points themselves that far), H36M-like normalised intrinsics with
//               random distortion; "wide" pushes every fifth point outside the clamp's
//               [-1, 1] (compare mode only: the clamp's kink makes finite differences meaningless
//               there, and grad inputs stay at |x / z| <= 0.6).
//   bone_lengths: N(0, 1) joints with the Human3.6M 17-joint parents, and a single root joint;
//               every third sample with a joint equal to its parent (a zero length, compare only).
// Sizes: one row, a (3, 85) batch of windows, 257 rows (past one block of 128 threads).
#include <string>
#include <vector>

#include "kernels/projection.h"
#include "runtime/projection.h"
#include "tests/harness/harness.h"
#include "tests/reference/projection.h"

namespace v3d::harness {

namespace {

const std::vector<int>& h36m_parents() {
  static const std::vector<int> p{-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15};
  return p;
}

// (batch, 9): [fx, fy, cx, cy, k1, k2, k3, t0, t1].
std::vector<float> random_intrinsics(Rng& r, int64_t batch) {
  std::vector<float> cam;
  for (int64_t b = 0; b < batch; ++b) {
    const std::vector<float> f = random_uniform(r, 2, 1.0f, 2.5f);
    const std::vector<float> c = random_uniform(r, 2, -0.1f, 0.1f);
    const std::vector<float> k = random_normal(r, 3, 0.1f);
    const std::vector<float> t = random_normal(r, 2, 0.01f);
    for (const auto* part : {&f, &c, &k, &t}) cam.insert(cam.end(), part->begin(), part->end());
  }
  return cam;
}

}  // namespace

V3D_HARNESS_CASES(cases) {
  struct Size {
    int64_t batch, frames, joints;
  };
  for (const Size s : {Size{1, 1, 17}, Size{3, 85, 17}, Size{257, 1, 17}, Size{5, 2, 1}}) {
    for (const bool linear : {false, true}) {
      for (const bool with_root : {true, false}) {
        for (const bool wide : {false, true}) {
          const int64_t rows = s.batch * s.frames, points = rows * s.joints;
          const Shape point_shape{s.batch, s.frames, s.joints, 3};
          const std::string params =
              "B=" + std::to_string(s.batch) + " T=" + std::to_string(s.frames) +
              " J=" + std::to_string(s.joints) + (linear ? " linear" : " full") +
              (with_root ? " root" : " no_root") + (wide ? " wide" : "");
          // points, [root], intrinsic
          auto inputs = [=](Rng& r) {
            std::vector<float> pts = random_normal(r, points * 3, 0.3f);
            std::vector<float> root = random_uniform(r, rows * 3, -0.5f, 0.5f);
            for (int64_t i = 0; i < rows; ++i) root[static_cast<size_t>(i * 3 + 2)] += 4.5f;
            if (!with_root) {  // the root's offset moved into the points
              for (int64_t p = 0; p < points; ++p)
                for (int c = 0; c < 3; ++c)
                  pts[static_cast<size_t>(p * 3 + c)] +=
                      root[static_cast<size_t>((p / s.joints) * 3 + c)];
            }
            if (wide) {
              for (int64_t p = 0; p < points; p += 5) pts[static_cast<size_t>(p * 3)] += 9.0f;
            }
            std::vector<Input> in{{point_shape, pts}};
            if (with_root) in.push_back({Shape{s.batch, s.frames, 3}, root});
            in.push_back({Shape{s.batch, 9}, random_intrinsics(r, s.batch)});
            return in;
          };
          OpCase c;
          c.op = "project_2d";
          c.params = params;
          c.make_inputs = inputs;
          c.outputs = {Shape{s.batch, s.frames, s.joints, 2}};
          c.run = [=](const std::vector<Tensor>& in, const std::vector<Tensor>& out) {
            ops::project_2d_out(in[0], with_root ? in[1] : Tensor(), in.back(), linear, out[0]);
          };
          c.reference = [=](const std::vector<ref::Vec>& in) {
            return std::vector<ref::Vec>{ref::project_2d(in[0], with_root ? in[1] : ref::Vec(),
                                                         in.back(), s.batch, s.frames, s.joints,
                                                         linear)};
          };
          c.tol = {1e-5, 1e-6,
                   "a division, the clamp and (full) a cubic distortion polynomial in float32 on "
                   "values of order 1: a few roundings; the floor covers outputs near 0"};
          if (!wide) {
            c.forward_var = [=](const std::vector<Var>& v) {
              return ag::project_2d(v[0], with_root ? v[1] : Var(), v.back().value(), linear);
            };
            c.grad_inputs =
                with_root ? std::vector<bool>{true, true, false} : std::vector<bool>{true, false};
            c.grad_tol = {2e-3, 2e-4,
                          "float32 backward against double central differences of a rational "
                          "function of the point (depth about 4.5 m)"};
          }
          kernels::Project2dArgs a;
          a.batch = s.batch;
          a.frames = s.frames;
          a.joints = s.joints;
          a.linear = linear;
          c.flops = a.flops();
          c.bytes = a.bytes();
          cases.push_back(c);

          // The backward kernel alone: d_points and d_root (the joints' sum) of given d_out.
          OpCase k = c;
          k.params = params + " pass=backward";
          k.make_inputs = [=](Rng& r) {
            std::vector<Input> in = inputs(r);
            in.push_back({Shape{s.batch, s.frames, s.joints, 2}, random_normal(r, points * 2)});
            return in;
          };
          k.outputs = {point_shape};
          if (with_root) k.outputs.push_back(Shape{s.batch, s.frames, 3});
          k.run = [=](const std::vector<Tensor>& in, const std::vector<Tensor>& out) {
            ops::project_2d_bwd_out(in[0], with_root ? in[1] : Tensor(), in[in.size() - 2], linear,
                                    in.back(), out[0], with_root ? out[1] : Tensor());
          };
          k.reference = [=](const std::vector<ref::Vec>& in) {
            const ref::ProjectGrads g =
                ref::project_2d_bwd(in[0], with_root ? in[1] : ref::Vec(), in[in.size() - 2],
                                    in.back(), s.batch, s.frames, s.joints, linear);
            std::vector<ref::Vec> out{g.d_points};
            if (with_root) out.push_back(g.d_root);
            return out;
          };
          k.tol = {1e-4, 1e-5,
                   "the float32 chain rule (a few roundings per term, a cancellation in d_z) "
                   "against double central differences; d_root sums J terms"};
          k.forward_var = nullptr;
          k.grad_inputs.clear();
          k.flops = 2.0 * a.flops();
          k.bytes = a.bytes() + 4.0 * static_cast<double>(points);
          cases.push_back(k);
        }
      }
    }
  }

  for (const int64_t joints : {int64_t{17}, int64_t{1}}) {
    const std::vector<int> parents =
        joints == 17 ? h36m_parents() : std::vector<int>(static_cast<size_t>(joints), -1);
    for (const int64_t n : {int64_t{1}, int64_t{255}, int64_t{257}}) {
      for (const bool zeros : {false, true}) {
        const Shape shape = n == 255 ? Shape{3, 85, joints, 3} : Shape{n, joints, 3};
        OpCase c;
        c.op = "bone_lengths";
        c.params = "N=" + std::to_string(n) + " J=" + std::to_string(joints) +
                   " shape=" + shape.str() + (zeros ? " zero_bones" : "");
        c.make_inputs = [=](Rng& r) {
          std::vector<float> p = random_normal(r, n * joints * 3);
          if (zeros && joints > 1) {
            for (int64_t i = 0; i < n; i += 3)  // joint 2 on its parent 1
              for (int64_t e = 0; e < 3; ++e)
                p[static_cast<size_t>((i * joints + 2) * 3 + e)] =
                    p[static_cast<size_t>((i * joints + 1) * 3 + e)];
          }
          return std::vector<Input>{{shape, p}};
        };
        std::vector<int64_t> out_dims = shape.to_vector();
        out_dims.pop_back();
        c.outputs = {Shape(out_dims)};
        c.run = [=](const std::vector<Tensor>& in, const std::vector<Tensor>& out) {
          ops::bone_lengths_out(in[0], parents, out[0]);
        };
        c.reference = [=](const std::vector<ref::Vec>& in) {
          return std::vector<ref::Vec>{ref::bone_lengths(in[0], parents, n, joints)};
        };
        c.tol = {1e-6, 0.0, "three differences, squares and a square root: a few roundings"};
        if (!zeros) {
          c.forward_var = [=](const std::vector<Var>& v) {
            return ag::bone_lengths(v[0], parents);
          };
          c.grad_inputs = {true};
        }
        kernels::BoneLengthArgs a;
        a.n = n;
        a.joints = joints;
        c.flops = a.flops();
        c.bytes = a.bytes();
        cases.push_back(c);

        // The backward kernel alone: d_points of given d_len (zero-length bones give 0).
        OpCase k = c;
        k.params = c.params + " pass=backward";
        k.make_inputs = [=](Rng& r) {
          std::vector<Input> in = c.make_inputs(r);
          in.push_back({c.outputs[0], random_normal(r, n * joints)});
          return in;
        };
        k.outputs = {shape};
        k.run = [=](const std::vector<Tensor>& in, const std::vector<Tensor>& out) {
          ops::bone_lengths_bwd_out(in[0], parents, in[1], out[0]);
        };
        k.reference = [=](const std::vector<ref::Vec>& in) {
          return std::vector<ref::Vec>{ref::bone_lengths_bwd(in[0], parents, in[1], n, joints)};
        };
        k.tol = {1e-5, 1e-6,
                 "a unit vector times d_len, at most a joint's children summed: a few roundings "
                 "per term; the floor covers sums that cancel"};
        k.forward_var = nullptr;
        k.grad_inputs.clear();
        cases.push_back(k);
      }
    }
  }
}

}  // namespace v3d::harness
