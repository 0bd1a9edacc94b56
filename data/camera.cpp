// Geometry of data/camera.h: quaternion rotation, world <-> camera, VideoPose3D's projection with
// and without distortion, and screen normalisation (VideoPose3D common/camera.py).
//
// Precision. Points and camera parameters are float (as VideoPose3D stores them); rotations and
// projections are computed in double and rounded once, with the camera quaternion renormalised
// in double, so a world -> camera -> world round trip stays within about a float ulp of the
// camera distance (VideoPose3D's float32 torch path drifts by a few ulps more). The one
// place where we copy VideoPose3D's float32 rounding step by step is screen normalisation
// (numpy: X / w * 2 in float32, minus the float64 list [1, h / w], cast back to float32), which
// makes Camera::intrinsic() bit-identical to VideoPose3D's `intrinsic` vector; image_coordinates
// is float64 in numpy too, rounded once. Differences to VideoPose3D's float32 torch projection
// are a few 1e-8 in normalised units (1e-5 pixels).
// Arrays are flat and row-major: xyz (N, 3), xy (N, 2); N may be frames * joints.
#include <algorithm>
#include <cmath>

#include "data/camera.h"
#include "kernels/common.h"

namespace v3d::data {

namespace {

int64_t rows_of(const std::vector<float>& a, int width, const char* what) {
  V3D_CHECK(a.size() % static_cast<size_t>(width) == 0,
            what << ": expected (N, " << width << ") points, got " << a.size()
                 << " floats (not a multiple of " << width << ")");
  return static_cast<int64_t>(a.size()) / width;
}

void check_resolution(int w, int h, const char* what) {
  V3D_CHECK(w > 0 && h > 0, what << ": resolution must be positive, got " << w << "x" << h);
}

// Rejects cameras that would silently project through the identity: no extrinsics, or a
// quaternion that is not a rotation (far from unit length). The tolerance is
// loose because stored quaternions are float32 and only need to be unit to a few digits.
void check_extrinsics(const Camera& cam, const char* what) {
  V3D_CHECK(cam.has_extrinsics, what << ": camera '" << cam.id << "' has no extrinsics");
  const auto& q = cam.orientation;
  const double n2 =
      double(q[0]) * q[0] + double(q[1]) * q[1] + double(q[2]) * q[2] + double(q[3]) * q[3];
  V3D_CHECK(std::abs(n2 - 1.0) < 1e-3,
            what << ": camera '" << cam.id
                 << "' orientation is not a unit quaternion (|q|^2 = " << n2 << ")");
}

using Vec3 = std::array<double, 3>;
using Quat = std::array<double, 4>;

// qrot(q, v) = v + 2 (w (u x v) + u x (u x v)), q = (w, u): common/quaternion.py, in double.
Vec3 qrot_d(const Quat& q, const Vec3& v) {
  const double w = q[0], ux = q[1], uy = q[2], uz = q[3];
  const Vec3 uv = {uy * v[2] - uz * v[1], uz * v[0] - ux * v[2], ux * v[1] - uy * v[0]};
  const Vec3 uuv = {uy * uv[2] - uz * uv[1], uz * uv[0] - ux * uv[2], ux * uv[1] - uy * uv[0]};
  return {v[0] + 2 * (w * uv[0] + uuv[0]), v[1] + 2 * (w * uv[1] + uuv[1]),
          v[2] + 2 * (w * uv[2] + uuv[2])};
}

// The camera's rotation as an exactly unit quaternion in double. Stored float quaternions are
// unit only to about 1e-7, and qrot with q then with qinverse(q) scales by |q|^4: at 6 m from the
// camera that alone would cost a micrometre per round trip.
Quat unit_rotation(const std::array<float, 4>& q) {
  const double n = std::sqrt(double(q[0]) * q[0] + double(q[1]) * q[1] + double(q[2]) * q[2] +
                             double(q[3]) * q[3]);
  return {q[0] / n, q[1] / n, q[2] / n, q[3] / n};
}

// x / z clamped to [-1, 1] as VideoPose3D does (torch.clamp), so points far off-screen or
// behind-and-beside the camera cannot blow up the distortion polynomial.
inline double clamp_unit(double v) { return std::min(std::max(v, -1.0), 1.0); }

}  // namespace

std::array<float, 9> Camera::intrinsic() const {
  check_resolution(res_w, res_h, "Camera::intrinsic");
  const std::vector<float> c = normalize_screen_coordinates({center[0], center[1]}, res_w, res_h);
  const float w = static_cast<float>(res_w);
  // Both focal entries are divided by res_w (not res_h): VideoPose3D's convention, which keeps
  // the aspect ratio of normalised coordinates.
  return {focal[0] / w * 2.0f, focal[1] / w * 2.0f, c[0],          c[1],         radial[0],
          radial[1],           radial[2],           tangential[0], tangential[1]};
}

int h36m_camera_index(const std::string& camera_id) {
  static const char* const kIds[] = {"54138969", "55011271", "58860488", "60457274"};
  for (int k = 0; k < 4; ++k)
    if (camera_id == kIds[k]) return k;
  V3D_CHECK(false, "unknown Human3.6M camera id '"
                       << camera_id << "' (known: 54138969, 55011271, 58860488, 60457274)");
  return -1;
}

std::array<float, 4> qinverse(const std::array<float, 4>& q) { return {q[0], -q[1], -q[2], -q[3]}; }

std::array<float, 3> qrot(const std::array<float, 4>& q, const std::array<float, 3>& v) {
  const Vec3 r = qrot_d({q[0], q[1], q[2], q[3]}, {v[0], v[1], v[2]});
  return {static_cast<float>(r[0]), static_cast<float>(r[1]), static_cast<float>(r[2])};
}

std::array<float, 9> flip_intrinsic(std::array<float, 9> intrinsic) {
  intrinsic[2] = -intrinsic[2];
  intrinsic[7] = -intrinsic[7];
  return intrinsic;
}

std::vector<float> world_to_camera(const std::vector<float>& xyz, const Camera& cam) {
  const int64_t n = rows_of(xyz, 3, "world_to_camera");
  check_extrinsics(cam, "world_to_camera");
  const Quat q = unit_rotation(cam.orientation);
  const Quat q_inv = {q[0], -q[1], -q[2], -q[3]};
  const auto& t = cam.translation;
  std::vector<float> out(xyz.size());
  // xyz, out: (N, 3); out = qrot(q^-1, X - t)
  for (int64_t i = 0; i < n; ++i) {
    const float* p = &xyz[3 * i];
    const Vec3 r = qrot_d(q_inv, {double(p[0]) - t[0], double(p[1]) - t[1], double(p[2]) - t[2]});
    for (int c = 0; c < 3; ++c) out[3 * i + c] = static_cast<float>(r[c]);
  }
  return out;
}

std::vector<float> camera_to_world(const std::vector<float>& xyz, const Camera& cam) {
  const int64_t n = rows_of(xyz, 3, "camera_to_world");
  check_extrinsics(cam, "camera_to_world");
  const Quat q = unit_rotation(cam.orientation);
  const auto& t = cam.translation;
  std::vector<float> out(xyz.size());
  // xyz, out: (N, 3); out = qrot(q, X) + t
  for (int64_t i = 0; i < n; ++i) {
    const float* p = &xyz[3 * i];
    const Vec3 r = qrot_d(q, {p[0], p[1], p[2]});
    for (int c = 0; c < 3; ++c) out[3 * i + c] = static_cast<float>(r[c] + t[c]);
  }
  return out;
}

std::vector<float> project_to_2d(const std::vector<float>& xyz_camera,
                                 const std::array<float, 9>& intrinsic) {
  const int64_t n = rows_of(xyz_camera, 3, "project_to_2d");
  const double fx = intrinsic[0], fy = intrinsic[1], cx = intrinsic[2], cy = intrinsic[3];
  const double k1 = intrinsic[4], k2 = intrinsic[5], k3 = intrinsic[6];
  const double t0 = intrinsic[7], t1 = intrinsic[8];
  std::vector<float> out(static_cast<size_t>(n) * 2);
  // xyz_camera: (N, 3) -> out: (N, 2), normalised screen units
  for (int64_t i = 0; i < n; ++i) {
    const float* p = &xyz_camera[3 * i];
    const double x = clamp_unit(double(p[0]) / p[2]);
    const double y = clamp_unit(double(p[1]) / p[2]);
    const double r2 = x * x + y * y;
    const double radial = 1 + k1 * r2 + k2 * r2 * r2 + k3 * r2 * r2 * r2;
    // H36M's tangential model with VideoPose3D's stored coefficient order (no factor 2, not
    // Brown-Conrady): x_d = x (radial + tan) + t0 r2, y_d = y (radial + tan) + t1 r2.
    const double tan = t0 * x + t1 * y;
    out[2 * i] = static_cast<float>(fx * (x * (radial + tan) + t0 * r2) + cx);
    out[2 * i + 1] = static_cast<float>(fy * (y * (radial + tan) + t1 * r2) + cy);
  }
  return out;
}

std::vector<float> project_to_2d_linear(const std::vector<float>& xyz_camera,
                                        const std::array<float, 9>& intrinsic) {
  const int64_t n = rows_of(xyz_camera, 3, "project_to_2d_linear");
  std::vector<float> out(static_cast<size_t>(n) * 2);
  // xyz_camera: (N, 3) -> out: (N, 2), normalised screen units
  for (int64_t i = 0; i < n; ++i) {
    const float* p = &xyz_camera[3 * i];
    out[2 * i] =
        static_cast<float>(double(intrinsic[0]) * clamp_unit(double(p[0]) / p[2]) + intrinsic[2]);
    out[2 * i + 1] =
        static_cast<float>(double(intrinsic[1]) * clamp_unit(double(p[1]) / p[2]) + intrinsic[3]);
  }
  return out;
}

std::vector<float> project_to_2d(const std::vector<float>& xyz_camera, const Camera& cam) {
  return project_to_2d(xyz_camera, cam.intrinsic());
}

std::vector<float> project_to_2d_linear(const std::vector<float>& xyz_camera, const Camera& cam) {
  return project_to_2d_linear(xyz_camera, cam.intrinsic());
}

std::vector<float> normalize_screen_coordinates(const std::vector<float>& xy, int w, int h) {
  const int64_t n = rows_of(xy, 2, "normalize_screen_coordinates");
  check_resolution(w, h, "normalize_screen_coordinates");
  const float fw = static_cast<float>(w);
  const double h_over_w = static_cast<double>(h) / w;
  std::vector<float> out(xy.size());
  // xy, out: (N, 2); X / w * 2 in float32, minus [1, h / w] in float64, rounded once.
  for (int64_t i = 0; i < n; ++i) {
    const float sx = xy[2 * i] / fw * 2.0f;
    const float sy = xy[2 * i + 1] / fw * 2.0f;
    out[2 * i] = static_cast<float>(static_cast<double>(sx) - 1.0);
    out[2 * i + 1] = static_cast<float>(static_cast<double>(sy) - h_over_w);
  }
  return out;
}

std::vector<float> image_coordinates(const std::vector<float>& xy, int w, int h) {
  const int64_t n = rows_of(xy, 2, "image_coordinates");
  check_resolution(w, h, "image_coordinates");
  const double h_over_w = static_cast<double>(h) / w;
  const double half_w = static_cast<double>(w) / 2.0;
  std::vector<float> out(xy.size());
  // xy, out: (N, 2); (X + [1, h / w]) * w / 2 in float64, rounded once.
  for (int64_t i = 0; i < n; ++i) {
    out[2 * i] = static_cast<float>((static_cast<double>(xy[2 * i]) + 1.0) * half_w);
    out[2 * i + 1] = static_cast<float>((static_cast<double>(xy[2 * i + 1]) + h_over_w) * half_w);
  }
  return out;
}

void make_root_relative(std::vector<float>& xyz, int64_t frames, int joints, int root) {
  V3D_CHECK(frames >= 0 && joints >= 1,
            "make_root_relative: bad shape frames=" << frames << " joints=" << joints);
  V3D_CHECK(root >= 0 && root < joints,
            "make_root_relative: root " << root << " out of range [0, " << joints << ")");
  V3D_CHECK(xyz.size() == static_cast<size_t>(frames) * joints * 3,
            "make_root_relative: expected (" << frames << ", " << joints
                                             << ", 3) = " << frames * joints * 3 << " floats, got "
                                             << xyz.size());
  // xyz: (frames, joints, 3)
  for (int64_t f = 0; f < frames; ++f) {
    float* pose = &xyz[static_cast<size_t>(f) * joints * 3];
    const float r[3] = {pose[3 * root], pose[3 * root + 1], pose[3 * root + 2]};
    for (int j = 0; j < joints; ++j)
      for (int c = 0; c < 3; ++c) pose[3 * j + c] = (j == root) ? 0.0f : pose[3 * j + c] - r[c];
  }
}

}  // namespace v3d::data
