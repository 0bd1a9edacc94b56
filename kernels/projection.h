// The geometry of semi-supervised training (VideoPose3D's back-projection, common/camera.py
// `project_to_2d` and `project_to_2d_linear`, and run.py's bone-length term), on contiguous float32
// buffers:
//
// project_2d: points (B, T, J, 3) camera space, root (B, T, 3) or nullptr (added to every joint),
//             intrinsic (B, 9) = [fx, fy, cx, cy, k1, k2, k3, t0, t1] normalised (Camera::
//             intrinsic(), one camera per sample b) -> out (B, T, J, 2) normalised screen units
//   X = points[b, t, j] + root[b, t]
//   u = clamp(X.xy / X.z, -1, 1)                               (per coordinate)
//   linear: out = f * u + c
//   full:   r2 = |u|^2, s = 1 + k1 r2 + k2 r2^2 + k3 r2^3 + t . u,
//           out = f * (u * s + t * r2) + c
// project_2d_bwd: d_out (B, T, J, 2) -> d_points (B, T, J, 3) OVERWRITTEN and d_root (B, T, 3)
//   OVERWRITTEN with the sum over the joints of d_points (nullptr: not computed). The clamp passes
//   the gradient where -1 <= X.xy / X.z <= 1 (PyTorch's clamp backward) and blocks it elsewhere.
//   Points with X.z == 0 give Inf/NaN, as in VideoPose3D.
//
// bone_lengths: points (N, J, 3), parents[j] (-1 for a root) -> len (N, J) with
//   len[n, j] = || points[n, j] - points[n, parents[j]] ||, and 0 where parents[j] < 0
// bone_lengths_bwd: d_len (N, J) -> d_points (N, J, 3) OVERWRITTEN:
//   d_points[n, j] += d_len[n, j] * e, d_points[n, parents[j]] -= d_len[n, j] * e,
//   e = (points[n, j] - points[n, parents[j]]) / len[n, j], and 0 where len[n, j] == 0 (the
//   norm's subgradient, as kernels/loss.h).
//
// The per-point math lives here, V3D_HOST_DEVICE, so both backends run the same float operations.
// Both directions of both ops write each output element from one thread (the bone backward walks
// a sample's joints in order in one thread): no atomics, the result does not depend on scheduling.
// Tolerance: project_2d is a handful of float32 operations per coordinate on values of order 1:
// 1e-5 relative (the full form's cubic polynomial adds a few roundings); the backward about twice
// that. bone_lengths: a norm, 1e-6 relative; its backward sums at most J terms per joint, 1e-5.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common.h"

namespace v3d::kernels {

inline constexpr int kBoneMaxJoints = 64;  // the parent table travels in the launch arguments

struct Project2dArgs {
  int64_t batch = 0, frames = 0, joints = 0;
  bool linear = false;  // project_to_2d_linear (no distortion)
  void validate(const char* op) const {
    V3D_CHECK(batch >= 0 && frames >= 1 && joints >= 1,
              op << ": bad sizes batch=" << batch << " frames=" << frames << " joints=" << joints);
  }
  int64_t points() const { return batch * frames * joints; }
  double flops() const { return (linear ? 8.0 : 30.0) * static_cast<double>(points()); }
  double bytes() const {
    return 4.0 * (5.0 * static_cast<double>(points()) + 3.0 * static_cast<double>(batch * frames) +
                  9.0 * static_cast<double>(batch));
  }
};

struct BoneLengthArgs {
  int64_t n = 0, joints = 0;
  int32_t parents[kBoneMaxJoints] = {};  // parents[j] < j or -1; only the first `joints` are read
  void validate(const char* op) const {
    V3D_CHECK(n >= 0 && joints >= 1 && joints <= kBoneMaxJoints,
              op << ": bad sizes n=" << n << " joints=" << joints << " (at most " << kBoneMaxJoints
                 << " joints)");
    for (int64_t j = 0; j < joints; ++j)
      V3D_CHECK(parents[j] >= -1 && parents[j] < joints && parents[j] != j,
                op << ": parent " << parents[j] << " of joint " << j << " out of range");
  }
  double flops() const { return 9.0 * static_cast<double>(n * joints); }
  double bytes() const { return 4.0 * 4.0 * static_cast<double>(n * joints); }
};

// One point: x (3) camera space, cam (9) -> out (2).
V3D_HOST_DEVICE inline void project_point(const float* x, const float* cam, bool linear,
                                          float* out) {
  float u[2];
  for (int i = 0; i < 2; ++i) u[i] = fminf(fmaxf(x[i] / x[2], -1.0f), 1.0f);
  if (linear) {
    for (int i = 0; i < 2; ++i) out[i] = cam[i] * u[i] + cam[2 + i];
    return;
  }
  const float r2 = u[0] * u[0] + u[1] * u[1];
  const float s =
      1.0f + r2 * (cam[4] + r2 * (cam[5] + r2 * cam[6])) + cam[7] * u[0] + cam[8] * u[1];
  for (int i = 0; i < 2; ++i) out[i] = cam[i] * (u[i] * s + cam[7 + i] * r2) + cam[2 + i];
}

// d_out (2) -> d_x (3), overwritten.
V3D_HOST_DEVICE inline void project_point_bwd(const float* x, const float* cam, bool linear,
                                              const float* d_out, float* d_x) {
  float q[2], u[2], g[2];  // q = x.xy / x.z, u = clamp(q), g = d loss / d u
  for (int i = 0; i < 2; ++i) {
    q[i] = x[i] / x[2];
    u[i] = fminf(fmaxf(q[i], -1.0f), 1.0f);
    g[i] = cam[i] * d_out[i];  // d loss / d (distorted u)
  }
  if (!linear) {
    // w = u * s + t * r2: dw_i/du_j = delta_ij s + u_i ds/du_j + 2 t_i u_j,
    // ds/du_j = 2 u_j (k1 + 2 k2 r2 + 3 k3 r2^2) + t_j.
    const float r2 = u[0] * u[0] + u[1] * u[1];
    const float s =
        1.0f + r2 * (cam[4] + r2 * (cam[5] + r2 * cam[6])) + cam[7] * u[0] + cam[8] * u[1];
    const float dr = cam[4] + r2 * (2.0f * cam[5] + 3.0f * r2 * cam[6]);
    const float gu = g[0] * u[0] + g[1] * u[1], gt = g[0] * cam[7] + g[1] * cam[8];
    float h[2];
    for (int j = 0; j < 2; ++j)
      h[j] = g[j] * s + gu * (2.0f * u[j] * dr + cam[7 + j]) + 2.0f * gt * u[j];
    g[0] = h[0];
    g[1] = h[1];
  }
  for (int i = 0; i < 2; ++i)
    if (!(q[i] >= -1.0f && q[i] <= 1.0f)) g[i] = 0.0f;
  d_x[0] = g[0] / x[2];
  d_x[1] = g[1] / x[2];
  d_x[2] = -(g[0] * q[0] + g[1] * q[1]) / x[2];
}

// Row r = (b, t) of J points: out (J, 2) of row r.
V3D_HOST_DEVICE inline void project_2d_row(const Project2dArgs& a, const float* points,
                                           const float* root, const float* intrinsic, int64_t r,
                                           float* out) {
  const float* cam = intrinsic + (r / a.frames) * 9;
  for (int64_t j = 0; j < a.joints; ++j) {
    float x[3];
    for (int c = 0; c < 3; ++c)
      x[c] = points[(r * a.joints + j) * 3 + c] + (root != nullptr ? root[r * 3 + c] : 0.0f);
    project_point(x, cam, a.linear, out + (r * a.joints + j) * 2);
  }
}

// Row r = (b, t): d_points (J, 3) of row r and d_root[r] (the joints summed in order), both
// overwritten; d_root may be nullptr.
V3D_HOST_DEVICE inline void project_2d_row_bwd(const Project2dArgs& a, const float* points,
                                               const float* root, const float* intrinsic,
                                               const float* d_out, int64_t r, float* d_points,
                                               float* d_root) {
  const float* cam = intrinsic + (r / a.frames) * 9;
  float sum[3] = {0.0f, 0.0f, 0.0f};
  for (int64_t j = 0; j < a.joints; ++j) {
    float x[3];
    for (int c = 0; c < 3; ++c)
      x[c] = points[(r * a.joints + j) * 3 + c] + (root != nullptr ? root[r * 3 + c] : 0.0f);
    float* d = d_points + (r * a.joints + j) * 3;
    project_point_bwd(x, cam, a.linear, d_out + (r * a.joints + j) * 2, d);
    for (int c = 0; c < 3; ++c) sum[c] += d[c];
  }
  if (d_root != nullptr)
    for (int c = 0; c < 3; ++c) d_root[r * 3 + c] = sum[c];
}

// One sample: p (J, 3) -> len (J).
V3D_HOST_DEVICE inline void bone_lengths_sample(const BoneLengthArgs& a, const float* p,
                                                float* len) {
  for (int64_t j = 0; j < a.joints; ++j) {
    const int32_t k = a.parents[j];
    if (k < 0) {
      len[j] = 0.0f;
      continue;
    }
    const float dx = p[j * 3] - p[k * 3], dy = p[j * 3 + 1] - p[k * 3 + 1],
                dz = p[j * 3 + 2] - p[k * 3 + 2];
    len[j] = sqrtf(dx * dx + dy * dy + dz * dz);
  }
}

// One sample: p (J, 3), d_len (J) -> d_p (J, 3), overwritten.
V3D_HOST_DEVICE inline void bone_lengths_sample_bwd(const BoneLengthArgs& a, const float* p,
                                                    const float* d_len, float* d_p) {
  for (int64_t e = 0; e < a.joints * 3; ++e) d_p[e] = 0.0f;
  for (int64_t j = 0; j < a.joints; ++j) {
    const int32_t k = a.parents[j];
    if (k < 0) continue;
    const float d[3] = {p[j * 3] - p[k * 3], p[j * 3 + 1] - p[k * 3 + 1],
                        p[j * 3 + 2] - p[k * 3 + 2]};
    const float len = sqrtf(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
    if (len == 0.0f) continue;  // subgradient 0 at the norm's kink
    const float scale = d_len[j] / len;
    for (int c = 0; c < 3; ++c) {
      d_p[j * 3 + c] += scale * d[c];
      d_p[k * 3 + c] -= scale * d[c];
    }
  }
}

namespace cpu {
// points: (B, T, J, 3); root: (B, T, 3) or nullptr; intrinsic: (B, 9) -> out: (B, T, J, 2).
void project_2d(const Project2dArgs& args, const float* points, const float* root,
                const float* intrinsic, float* out);
// d_out: (B, T, J, 2) -> d_points: (B, T, J, 3), d_root: (B, T, 3) or nullptr; both overwritten.
void project_2d_bwd(const Project2dArgs& args, const float* points, const float* root,
                    const float* intrinsic, const float* d_out, float* d_points, float* d_root);
// points: (N, J, 3) -> len: (N, J).
void bone_lengths(const BoneLengthArgs& args, const float* points, float* len);
// d_len: (N, J) -> d_points: (N, J, 3), overwritten.
void bone_lengths_bwd(const BoneLengthArgs& args, const float* points, const float* d_len,
                      float* d_points);
}  // namespace cpu

namespace launch {
template <GpuKind G>
void project_2d(const Project2dArgs& args, const float* points, const float* root,
                const float* intrinsic, float* out, StreamHandle s);
template <GpuKind G>
void project_2d_bwd(const Project2dArgs& args, const float* points, const float* root,
                    const float* intrinsic, const float* d_out, float* d_points, float* d_root,
                    StreamHandle s);
template <GpuKind G>
void bone_lengths(const BoneLengthArgs& args, const float* points, float* len, StreamHandle s);
template <GpuKind G>
void bone_lengths_bwd(const BoneLengthArgs& args, const float* points, const float* d_len,
                      float* d_points, StreamHandle s);
}  // namespace launch

}  // namespace v3d::kernels
