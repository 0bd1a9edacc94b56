// Cases for mpjpe and mpjpe_bwd (runtime/loss.h). Three kinds of inputs:
//   normal:    poses N(0, 1), weights U(0, 2): accuracy, and the gradient against finite
//              differences through ag::mpjpe;
//   integers:  target small integers, pred = target + a signed permutation of (1, 2, 2), (2, 3, 6),
//              (1, 4, 8) or (0, 3, 4), whose norms are the integers 3, 7, 9, 5, with integer
//              weights: every partial sum is exact in float32, so a dropped or doubled point is
//              caught exactly, whatever N;
//   zero_rows: as normal, with every third sample's target equal to its prediction and a few more
//              single points equal: the norm's kink, where the gradient must be exactly 0 (compare
//              mode only: finite differences are meaningless at a kink).
// N sweeps around the block size (256 threads) and past the 4 points per thread of one block;
// J = 1 makes each sample's weight change at every point. D = 2 (the 2D reprojection error of
// semi-supervised training) runs the normal and zero_rows inputs at a few sizes. N = 255 runs as
// (B, T') = (3, 85) with weights (3, 85, 1), VideoPose3D's layout, to check that leading dimensions
// flatten into N.
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "kernels/loss.h"
#include "runtime/loss.h"
#include "tests/harness/harness.h"
#include "tests/reference/loss.h"

namespace v3d::harness {

namespace {

enum class Values { kNormal, kIntegers, kZeroRows };

const char* values_name(Values v) {
  switch (v) {
    case Values::kNormal:
      return "normal";
    case Values::kIntegers:
      return "integers";
    case Values::kZeroRows:
      return "zero_rows";
  }
  return "?";
}

// pred, target: (n, joints, coords) flat; w: (n) flat. Integers: coords 3 only.
void make_poses(Rng& r, Values values, int64_t n, int64_t joints, int64_t coords,
                std::vector<float>& pred, std::vector<float>& target, std::vector<float>& w) {
  const int64_t points = n * joints;
  if (values == Values::kIntegers) {
    static const int kQuads[4][3] = {{1, 2, 2}, {2, 3, 6}, {1, 4, 8}, {0, 3, 4}};
    static const int kPerms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                     {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    std::uniform_int_distribution<int> coord(-8, 8), quad(0, 3), perm(0, 5), sign(0, 1),
        weight(0, 3);
    target.resize(static_cast<size_t>(points * 3));
    pred.resize(target.size());
    for (int64_t p = 0; p < points; ++p) {
      const int q = quad(r), o = perm(r);
      for (int c = 0; c < 3; ++c) {
        const size_t e = static_cast<size_t>(p * 3 + c);
        target[e] = static_cast<float>(coord(r));
        const int d = kQuads[q][kPerms[o][c]];
        pred[e] = target[e] + static_cast<float>(sign(r) ? d : -d);
      }
    }
    w.resize(static_cast<size_t>(n));
    for (auto& x : w) x = static_cast<float>(weight(r));
    return;
  }
  pred = random_normal(r, points * coords);
  target = random_normal(r, points * coords);
  w = random_uniform(r, n, 0.0f, 2.0f);
  if (values == Values::kZeroRows) {
    for (int64_t i = 0; i < n; i += 3)  // whole samples predicted exactly
      for (int64_t e = i * joints * coords; e < (i + 1) * joints * coords; ++e)
        target[static_cast<size_t>(e)] = pred[static_cast<size_t>(e)];
    for (int64_t p = 1; p < points; p += 7)  // and scattered single points
      for (int64_t c = 0; c < coords; ++c)
        target[static_cast<size_t>(p * coords + c)] = pred[static_cast<size_t>(p * coords + c)];
  }
}

}  // namespace

V3D_HARNESS_CASES(cases) {
  // (coords, N): 3D poses at every size, the 2D reprojection error at a few.
  std::vector<std::pair<int64_t, int64_t>> sizes;
  for (const int64_t n : {1, 7, 255, 256, 257, 9000}) sizes.emplace_back(3, n);
  for (const int64_t n : {1, 7, 255, 257}) sizes.emplace_back(2, n);
  for (const auto& [coords, n] : sizes) {
    for (const int64_t joints : {int64_t{17}, int64_t{1}}) {
      for (const bool weighted : {false, true}) {
        for (const Values values : {Values::kNormal, Values::kIntegers, Values::kZeroRows}) {
          if (coords == 2 && values == Values::kIntegers) continue;  // the triples are 3D
          const bool batched = n == 255;                             // (B, T') = (3, 85)
          const Shape pose_shape =
              batched ? Shape{3, 85, joints, coords} : Shape{n, joints, coords};
          const Shape weight_shape = batched ? Shape{3, 85, 1} : Shape{n};
          const int64_t points = n * joints;
          const double pts = static_cast<double>(points);
          const std::string params =
              "D=" + std::to_string(coords) + " N=" + std::to_string(n) +
              " J=" + std::to_string(joints) + " shape=" + pose_shape.str() +
              " weights=" + (weighted ? weight_shape.str() : std::string("none")) +
              " values=" + values_name(values);
          // pred, target, [w], [d_loss]: the weights only when weighted.
          auto inputs = [=](Rng& r, bool with_d_loss) {
            std::vector<float> pred, target, w;
            make_poses(r, values, n, joints, coords, pred, target, w);
            std::vector<Input> in{{pose_shape, pred}, {pose_shape, target}};
            if (weighted) in.push_back({weight_shape, w});
            if (with_d_loss) in.push_back({{}, random_normal(r, 1)});
            return in;
          };
          auto weights_of = [=](const std::vector<ref::Vec>& in) {
            return weighted ? in[2] : ref::Vec();
          };

          OpCase c;
          c.op = "mpjpe";
          c.params = params;
          c.make_inputs = [=](Rng& r) { return inputs(r, false); };
          c.outputs = {{}};
          c.run = [=](const std::vector<Tensor>& in, const std::vector<Tensor>& out) {
            ops::mpjpe_out(in[0], in[1], weighted ? in[2] : Tensor(), out[0]);
          };
          c.reference = [=](const std::vector<ref::Vec>& in) {
            return std::vector<ref::Vec>{
                ref::Vec{ref::mpjpe(in[0], in[1], weights_of(in), n, joints, coords)}};
          };
          if (values == Values::kIntegers) {
            c.tol = {2.5e-7, 0.0,
                     "integer distances and weights sum exactly; then the float32 1 / (N * J) "
                     "and one product: two roundings"};
          } else {
            c.tol = {2e-6, 0.0,
                     "float32 distances (two roundings each) summed in a float32 tree of depth "
                     "about log2(N * J): positive terms, no cancellation"};
          }
          if (values == Values::kNormal) {
            c.forward_var = [=](const std::vector<Var>& v) {
              return ag::mpjpe(v[0], v[1].value(), weighted ? v[2].value() : Tensor());
            };
            c.grad_inputs = {true, false};
            if (weighted) c.grad_inputs.push_back(false);
            // Each element's gradient is of order 1 / (N * J): an absolute floor that does not
            // scale with it would pass anything at N = 9000.
            c.grad_tol = {1e-3, 1e-4 / pts,
                          "float32 backward against double central differences; gradients "
                          "scale as 1 / (N * J)"};
          }
          const kernels::MpjpeArgs fwd_args{n, joints, weighted, coords};
          c.flops = fwd_args.flops();
          c.bytes = fwd_args.bytes();
          cases.push_back(c);

          OpCase b;
          b.op = "mpjpe_bwd";
          b.params = params;
          b.make_inputs = [=](Rng& r) { return inputs(r, true); };
          b.outputs = {pose_shape};
          b.run = [=](const std::vector<Tensor>& in, const std::vector<Tensor>& out) {
            ops::mpjpe_bwd_out(in[0], in[1], weighted ? in[2] : Tensor(), in.back(), out[0]);
          };
          b.reference = [=](const std::vector<ref::Vec>& in) {
            return std::vector<ref::Vec>{
                ref::mpjpe_bwd(in[0], in[1], weights_of(in), in.back()[0], n, joints, coords)};
          };
          // No absolute floor: a zero distance or a zero coordinate difference must give exactly 0.
          b.tol = {1e-6, 0.0,
                   "about eight float32 roundings per element (norm, square root, scale, "
                   "products), no cancellation"};
          const kernels::MpjpeBwdArgs bwd_args{n, joints, weighted, coords};
          b.flops = bwd_args.flops();
          b.bytes = bwd_args.bytes();
          cases.push_back(b);
        }
      }
    }
  }
}

}  // namespace v3d::harness
