// Cameras and geometry, as VideoPose3D defines them (common/camera.py).
// Raw parameters are kept as stored (pixels; translation in metres in our files); the normalised
// 9-vector [fx, fy, cx, cy, k1, k2, k3, t0, t1] (focal and centre divided by res_w, centre shifted)
// is what projection uses. Quaternions are (w, x, y, z) and rotate camera -> world.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace v3d::data {

struct Camera {
  std::string id;  // "54138969"
  int res_w = 0, res_h = 0;
  std::array<float, 2> focal{};       // pixels (fx, fy)
  std::array<float, 2> center{};      // pixels (cx, cy)
  std::array<float, 3> radial{};      // k1, k2, k3
  std::array<float, 2> tangential{};  // VideoPose3D's stored order (t0, t1), see the reference
  std::array<float, 4> orientation{1, 0, 0, 0};  // (w, x, y, z), camera -> world
  std::array<float, 3> translation{};            // camera centre in world coordinates, metres
  bool has_extrinsics = false;

  // [fx, fy, cx, cy, k1, k2, k3, t0, t1] in normalised screen units (VideoPose3D's `intrinsic`).
  std::array<float, 9> intrinsic() const;
};

// The Human3.6M cameras shipped with v3d: intrinsics for camera index 0..3 and extrinsics for
// subjects S1, S5, S6, S7, S8, S9, S11 (translation converted to metres). Throws for an unknown
// subject or index.
Camera h36m_camera(const std::string& subject, int index);
const std::vector<std::string>& h36m_subjects_with_extrinsics();
// "54138969" -> 0, "55011271" -> 1, "58860488" -> 2, "60457274" -> 3; throws for another id.
int h36m_camera_index(const std::string& camera_id);

// Quaternions (w, x, y, z) as common/quaternion.py; qrot computes in double, rounded once.
// qinverse assumes a unit quaternion: (w, -x, -y, -z).
std::array<float, 4> qinverse(const std::array<float, 4>& q);
std::array<float, 3> qrot(const std::array<float, 4>& q, const std::array<float, 3>& v);

// The 9-vector of a horizontally mirrored camera: cx (index 2) and t0 (index 7) negated, as
// VideoPose3D does to the intrinsics of flipped batches (semi-supervised path).
std::array<float, 9> flip_intrinsic(std::array<float, 9> intrinsic);

// All point arrays are (N, 3) or (N, 2) float, row-major; N = frames * joints.
// qrot(q, v) = v + 2 (w (u x v) + u x (u x v)), q = (w, u).
// Throw when `cam` has no extrinsics or its orientation is not a unit quaternion (|q|^2 off by
// more than 1e-3); the orientation is renormalised in double before use.
std::vector<float> world_to_camera(const std::vector<float>& xyz, const Camera& cam);
std::vector<float> camera_to_world(const std::vector<float>& xyz, const Camera& cam);
// VideoPose3D's project_to_2d: clamp (x/z, y/z) to [-1, 1], three radial and two tangential terms;
// result in normalised screen units.
std::vector<float> project_to_2d(const std::vector<float>& xyz_camera, const Camera& cam);
// f * clamp(xy / z, -1, 1) + c, normalised screen units.
std::vector<float> project_to_2d_linear(const std::vector<float>& xyz_camera, const Camera& cam);
// The same with an explicit 9-vector (e.g. a flip_intrinsic() one).
std::vector<float> project_to_2d(const std::vector<float>& xyz_camera,
                                 const std::array<float, 9>& intrinsic);
std::vector<float> project_to_2d_linear(const std::vector<float>& xyz_camera,
                                        const std::array<float, 9>& intrinsic);
// X / w * 2 - [1, h / w] and its inverse (pixels <-> normalised).
std::vector<float> normalize_screen_coordinates(const std::vector<float>& xy, int w, int h);
std::vector<float> image_coordinates(const std::vector<float>& xy, int w, int h);
// (frames, joints, 3): subtracts joint `root` from every joint and zeroes the root, VideoPose3D's
// root-relative targets.
void make_root_relative(std::vector<float>& xyz, int64_t frames, int joints, int root = 0);

}  // namespace v3d::data
