// Naive double-precision projection and bone lengths.
#include "tests/reference/projection.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace v3d::ref {

namespace {

// One camera-space point x (3) through the 9-vector cam -> (2).
void project_point(const double* x, const double* cam, bool linear, double* out) {
  const double f[2] = {cam[0], cam[1]}, c[2] = {cam[2], cam[3]};
  const double k[3] = {cam[4], cam[5], cam[6]}, p[2] = {cam[7], cam[8]};
  // XX = clamp(X[..., :2] / X[..., 2:], -1, 1)
  const double xx[2] = {std::clamp(x[0] / x[2], -1.0, 1.0), std::clamp(x[1] / x[2], -1.0, 1.0)};
  double xxx[2] = {xx[0], xx[1]};
  if (!linear) {
    const double r2 = xx[0] * xx[0] + xx[1] * xx[1];
    const double radial = 1.0 + k[0] * r2 + k[1] * r2 * r2 + k[2] * r2 * r2 * r2;
    const double tan = p[0] * xx[0] + p[1] * xx[1];
    for (int e = 0; e < 2; ++e) xxx[e] = xx[e] * (radial + tan) + p[e] * r2;
  }
  for (int e = 0; e < 2; ++e) out[e] = f[e] * xxx[e] + c[e];
}

// Point (b, t, j) plus its root -> x (3).
void placed(const Vec& points, const Vec& root, int64_t row, int64_t point, double* x) {
  for (int64_t e = 0; e < 3; ++e) {
    x[e] = points[static_cast<size_t>(point * 3 + e)] +
           (root.empty() ? 0.0 : root[static_cast<size_t>(row * 3 + e)]);
  }
}

}  // namespace

Vec project_2d(const Vec& points, const Vec& root, const Vec& intrinsic, int64_t batch,
               int64_t frames, int64_t joints, bool linear) {
  Vec out(static_cast<size_t>(batch * frames * joints * 2));
  for (int64_t row = 0; row < batch * frames; ++row) {
    for (int64_t j = 0; j < joints; ++j) {
      const int64_t point = row * joints + j;
      double x[3];
      placed(points, root, row, point, x);
      project_point(x, intrinsic.data() + (row / frames) * 9, linear, out.data() + point * 2);
    }
  }
  return out;
}

ProjectGrads project_2d_bwd(const Vec& points, const Vec& root, const Vec& intrinsic,
                            const Vec& d_out, int64_t batch, int64_t frames, int64_t joints,
                            bool linear) {
  ProjectGrads g;
  g.d_points.assign(points.size(), 0.0);
  g.d_root.assign(static_cast<size_t>(batch * frames * 3), 0.0);
  for (int64_t row = 0; row < batch * frames; ++row) {
    const double* cam = intrinsic.data() + (row / frames) * 9;
    for (int64_t j = 0; j < joints; ++j) {
      const int64_t point = row * joints + j;
      double x[3];
      placed(points, root, row, point, x);
      for (int e = 0; e < 3; ++e) {
        const double x0 = x[e], h = 1e-6 * std::max(1.0, std::fabs(x0));
        double plus[2], minus[2];
        x[e] = x0 + h;
        project_point(x, cam, linear, plus);
        x[e] = x0 - h;
        project_point(x, cam, linear, minus);
        x[e] = x0;
        double d = 0.0;
        for (int i = 0; i < 2; ++i)
          d += d_out[static_cast<size_t>(point * 2 + i)] * (plus[i] - minus[i]) / (2.0 * h);
        g.d_points[static_cast<size_t>(point * 3 + e)] = d;
        g.d_root[static_cast<size_t>(row * 3 + e)] += d;
      }
    }
  }
  return g;
}

Vec bone_lengths(const Vec& points, const std::vector<int>& parents, int64_t n, int64_t joints) {
  Vec len(static_cast<size_t>(n * joints), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < joints; ++j) {
      const int parent = parents[static_cast<size_t>(j)];
      if (parent < 0) continue;
      double s = 0.0;
      for (int64_t c = 0; c < 3; ++c) {
        const double d = points[static_cast<size_t>((i * joints + j) * 3 + c)] -
                         points[static_cast<size_t>((i * joints + parent) * 3 + c)];
        s += d * d;
      }
      len[static_cast<size_t>(i * joints + j)] = std::sqrt(s);
    }
  }
  return len;
}

Vec bone_lengths_bwd(const Vec& points, const std::vector<int>& parents, const Vec& d_len,
                     int64_t n, int64_t joints) {
  Vec d(points.size(), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < joints; ++j) {
      const int parent = parents[static_cast<size_t>(j)];
      if (parent < 0) continue;
      double diff[3], s = 0.0;
      for (int64_t c = 0; c < 3; ++c) {
        diff[c] = points[static_cast<size_t>((i * joints + j) * 3 + c)] -
                  points[static_cast<size_t>((i * joints + parent) * 3 + c)];
        s += diff[c] * diff[c];
      }
      const double len = std::sqrt(s);
      if (len == 0.0) continue;  // the subgradient 0 at the norm's kink
      const double scale = d_len[static_cast<size_t>(i * joints + j)] / len;
      for (int64_t c = 0; c < 3; ++c) {
        d[static_cast<size_t>((i * joints + j) * 3 + c)] += scale * diff[c];
        d[static_cast<size_t>((i * joints + parent) * 3 + c)] -= scale * diff[c];
      }
    }
  }
  return d;
}

}  // namespace v3d::ref
