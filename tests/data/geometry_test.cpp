// Tests of data/camera.h: quaternions, world <-> camera, VideoPose3D's projection, screen
// normalisation, the shipped Human3.6M camera table and root-relative targets.
//
// Expected values are computed here, in double, from the formulas of
// VideoPose3D's common/camera.py and common/quaternion.py (or from geometry, e.g. a rotation matrix
// built from the quaternion), never by calling the code under test. Tolerances: inputs and outputs
// are float (intermediates in double), so comparisons allow about one float ulp of the magnitudes
// involved plus margin: camera-space points lie 4-8 m from the camera, where a float ulp is 4.8e-7.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "data/camera.h"
#include "kernels/common.h"
#include "tests/test_util.h"

namespace v3d::data {
namespace {

// Runs `f`, expecting a one-line v3d::Error containing `needle`.
template <typename F>
void expect_error(F&& f, const std::string& needle) {
  test_util::expect_error(f, {needle});
}

// Camera 0 (54138969) of the reference table, in double.
constexpr double kW0 = 1000, kH0 = 1002;
constexpr double kFx0 = 1145.0494384765625, kFy0 = 1143.7811279296875;
constexpr double kCx0 = 512.54150390625, kCy0 = 515.4514770507812;
constexpr double kK0[3] = {-0.20709891617298126, 0.24777518212795258, -0.0030751503072679043};
constexpr double kT0[2] = {-0.0009756988729350269, -0.00142447161488235};

// VideoPose3D's project_to_2d for camera 0 in double, normalised units (reference 3.4-3.5).
std::array<double, 2> reference_project_cam0(double X, double Y, double Z) {
  const double fx = kFx0 / kW0 * 2, fy = kFy0 / kW0 * 2;
  const double cx = kCx0 / kW0 * 2 - 1, cy = kCy0 / kW0 * 2 - kH0 / kW0;
  const double x = std::clamp(X / Z, -1.0, 1.0), y = std::clamp(Y / Z, -1.0, 1.0);
  const double r2 = x * x + y * y;
  const double radial = 1 + kK0[0] * r2 + kK0[1] * r2 * r2 + kK0[2] * r2 * r2 * r2;
  const double tan = kT0[0] * x + kT0[1] * y;
  return {fx * (x * (radial + tan) + kT0[0] * r2) + cx,
          fy * (y * (radial + tan) + kT0[1] * r2) + cy};
}

// Rotation matrix of a unit quaternion (w, x, y, z), the textbook formula, in double.
std::array<std::array<double, 3>, 3> rotation_matrix(const std::array<float, 4>& qf) {
  const double w = qf[0], x = qf[1], y = qf[2], z = qf[3];
  return {{{1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)},
           {2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)},
           {2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)}}};
}

std::vector<float> random_points(int n, float lo, float hi, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(static_cast<size_t>(n) * 3);
  for (float& x : v) x = u(rng);
  return v;
}

TEST(GeometryTest, QrotNinetyDegreesAboutZ) {
  const float h = static_cast<float>(std::sqrt(0.5));
  const std::array<float, 4> q = {h, 0, 0, h};  // cos 45, sin 45 * z
  const std::array<std::array<float, 3>, 3> in = {{{1, 0, 0}, {0, 1, 0}, {2, 3, 4}}};
  const std::array<std::array<float, 3>, 3> want = {{{0, 1, 0}, {-1, 0, 0}, {-3, 2, 4}}};
  for (int i = 0; i < 3; ++i) {
    const auto r = qrot(q, in[i]);
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(r[c], want[i][c], 1e-6) << "point " << i << " c " << c;
  }
}

TEST(GeometryTest, QinverseUndoesQrot) {
  const Camera cam = h36m_camera("S9", 2);
  const auto q_inv = qinverse(cam.orientation);
  EXPECT_EQ(q_inv[0], cam.orientation[0]);
  for (int c = 1; c < 4; ++c) EXPECT_EQ(q_inv[c], -cam.orientation[c]);
  const std::array<float, 3> v = {0.3f, -1.2f, 2.5f};
  const auto back = qrot(q_inv, qrot(cam.orientation, v));
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(back[c], v[c], 1e-6);
}

TEST(GeometryTest, QrotMatchesRotationMatrix) {
  const Camera cam = h36m_camera("S1", 0);
  const auto R = rotation_matrix(cam.orientation);
  const std::array<float, 3> v = {0.5f, 1.5f, -0.7f};
  const auto r = qrot(cam.orientation, v);
  for (int i = 0; i < 3; ++i) {
    const double want = R[i][0] * v[0] + R[i][1] * v[1] + R[i][2] * v[2];
    EXPECT_NEAR(r[i], want, 2e-6) << "row " << i;
  }
}

TEST(GeometryTest, WorldToCameraThenBackIsIdentity) {
  for (const std::string& s : h36m_subjects_with_extrinsics()) {
    for (int k = 0; k < 4; ++k) {
      const Camera cam = h36m_camera(s, k);
      // A capture volume around the origin, Z up (the H36M world frame).
      const std::vector<float> world = random_points(200, -1.5f, 1.5f, 7 + k);
      const std::vector<float> back = camera_to_world(world_to_camera(world, cam), cam);
      ASSERT_EQ(back.size(), world.size());
      for (size_t i = 0; i < world.size(); ++i)
        ASSERT_NEAR(back[i], world[i], 1e-6) << s << " camera " << k << " element " << i;
    }
  }
}

TEST(GeometryTest, S1Camera0CentreAndOpticalAxis) {
  const Camera cam = h36m_camera("S1", 0);
  const auto& t = cam.translation;
  // The camera centre is the origin of camera space, exactly (X - t is exactly zero).
  const std::vector<float> centre = world_to_camera({t[0], t[1], t[2]}, cam);
  EXPECT_EQ(centre, (std::vector<float>{0, 0, 0}));

  // 3 m along the optical axis: camera z axis in world = third column of the camera->world matrix.
  const auto R = rotation_matrix(cam.orientation);
  std::vector<float> p(3);
  for (int i = 0; i < 3; ++i) p[i] = static_cast<float>(t[i] + 3.0 * R[i][2]);
  const std::vector<float> c = world_to_camera(p, cam);
  EXPECT_NEAR(c[0], 0.0, 2e-6);
  EXPECT_NEAR(c[1], 0.0, 2e-6);
  EXPECT_NEAR(c[2], 3.0, 2e-6);
  // A point 1 m along the camera x axis (first column) lands on camera x.
  for (int i = 0; i < 3; ++i) p[i] = static_cast<float>(t[i] + 1.0 * R[i][0]);
  const std::vector<float> cx = world_to_camera(p, cam);
  EXPECT_NEAR(cx[0], 1.0, 2e-6);
  EXPECT_NEAR(cx[1], 0.0, 2e-6);
  EXPECT_NEAR(cx[2], 0.0, 2e-6);
}

TEST(GeometryTest, EveryH36mCameraSeesTheCaptureVolume) {
  // A point at chest height above the world origin must be in front of every camera and inside
  // its image: this fails if the quaternion convention (camera -> world) were inverted.
  for (const std::string& s : h36m_subjects_with_extrinsics()) {
    for (int k = 0; k < 4; ++k) {
      const Camera cam = h36m_camera(s, k);
      const std::vector<float> c = world_to_camera({0.0f, 0.0f, 1.0f}, cam);
      EXPECT_GT(c[2], 3.0f) << s << " camera " << k;
      const std::vector<float> px = image_coordinates(project_to_2d(c, cam), cam.res_w, cam.res_h);
      EXPECT_GT(px[0], 0.0f) << s << " camera " << k;
      EXPECT_LT(px[0], cam.res_w) << s << " camera " << k;
      EXPECT_GT(px[1], 0.0f) << s << " camera " << k;
      EXPECT_LT(px[1], cam.res_h) << s << " camera " << k;
    }
  }
}

TEST(GeometryTest, OpticalAxisProjectsToCentre) {
  const Camera cam = h36m_camera("S1", 0);
  const auto in = cam.intrinsic();
  for (const auto& uv :
       {project_to_2d({0, 0, 2.5f}, cam), project_to_2d_linear({0, 0, 2.5f}, cam)}) {
    EXPECT_EQ(uv[0], in[2]);
    EXPECT_EQ(uv[1], in[3]);
  }
  const std::vector<float> px = image_coordinates(project_to_2d({0, 0, 2.5f}, cam), 1000, 1002);
  EXPECT_NEAR(px[0], kCx0, 1e-4);
  EXPECT_NEAR(px[1], kCy0, 1e-4);
}

TEST(GeometryTest, ZeroDistortionEqualsLinear) {
  Camera cam = h36m_camera("S1", 1);
  cam.radial = {0, 0, 0};
  cam.tangential = {0, 0};
  std::vector<float> pts = random_points(100, -1.0f, 1.0f, 3);
  for (size_t i = 2; i < pts.size(); i += 3) pts[i] = 2.0f + pts[i];  // z in [1, 3]
  EXPECT_EQ(project_to_2d(pts, cam), project_to_2d_linear(pts, cam));
  // The distorted and linear projections of the real camera differ off-axis.
  const Camera real = h36m_camera("S1", 1);
  EXPECT_NE(project_to_2d(pts, real), project_to_2d_linear(pts, real));
}

TEST(GeometryTest, DistortedProjectionMatchesHandComputation) {
  const Camera cam = h36m_camera("S1", 0);
  const std::vector<std::array<double, 3>> pts = {
      {0.3, -0.2, 4.0}, {-0.9, 0.7, 3.0}, {1.1, 1.3, 2.2}, {0.01, 0.02, 5.5}};
  for (const auto& p : pts) {
    const auto want = reference_project_cam0(p[0], p[1], p[2]);
    const std::vector<float> in = {float(p[0]), float(p[1]), float(p[2])};
    const std::vector<float> got = project_to_2d(in, cam);
    EXPECT_NEAR(got[0], want[0], 1e-6) << p[0] << "," << p[1] << "," << p[2];
    EXPECT_NEAR(got[1], want[1], 1e-6) << p[0] << "," << p[1] << "," << p[2];
  }
}

TEST(GeometryTest, DistortionMatchesH36mProjectPointRadial) {
  // Human3.6M's own ProjectPointRadial (3d-pose-baseline cameras.py), in pixels, with its [p1, p2]
  // = VideoPose3D's stored (t1, t0): tan = p1 y + p2 x, XXX = XX (radial + tan) + r2 [p2, p1].
  const double p1 = kT0[1], p2 = kT0[0];
  const double X = -0.4, Y = 0.35, Z = 3.7;
  const double x = X / Z, y = Y / Z, r2 = x * x + y * y;
  const double radial = 1 + kK0[0] * r2 + kK0[1] * r2 * r2 + kK0[2] * r2 * r2 * r2;
  const double tan = p1 * y + p2 * x;
  const double u = kFx0 * (x * (radial + tan) + r2 * p2) + kCx0;
  const double v = kFy0 * (y * (radial + tan) + r2 * p1) + kCy0;
  const Camera cam = h36m_camera("S5", 0);
  const std::vector<float> px =
      image_coordinates(project_to_2d({float(X), float(Y), float(Z)}, cam), cam.res_w, cam.res_h);
  EXPECT_NEAR(px[0], u, 1e-3);
  EXPECT_NEAR(px[1], v, 1e-3);
}

TEST(GeometryTest, ProjectionClampsToUnitSquare) {
  const Camera cam = h36m_camera("S1", 0);
  const double fx = kFx0 / kW0 * 2, fy = kFy0 / kW0 * 2;
  const double cx = kCx0 / kW0 * 2 - 1, cy = kCy0 / kW0 * 2 - kH0 / kW0;
  // x / z = 10 and 20 both clamp to 1: x_d = (radial + t0) + t0 r2 with r2 = 1, y = 0.
  const double radial = 1 + kK0[0] + kK0[1] + kK0[2];
  const double want_u = fx * (radial + kT0[0] + kT0[0]) + cx;
  const double want_v = fy * kT0[1] + cy;
  const std::vector<float> a = project_to_2d({10, 0, 1}, cam);
  const std::vector<float> b = project_to_2d({40, 0, 2}, cam);
  EXPECT_EQ(a, b);
  EXPECT_NEAR(a[0], want_u, 1e-6);
  EXPECT_NEAR(a[1], want_v, 1e-6);
  // Both coordinates clamped to -1, linear: f * -1 + c.
  const std::vector<float> lin = project_to_2d_linear({-7, -9, 1}, cam);
  EXPECT_NEAR(lin[0], -fx + cx, 1e-6);
  EXPECT_NEAR(lin[1], -fy + cy, 1e-6);
  // Inside the square nothing is clamped: x/z = 0.5 projects linearly to f * 0.5 + c.
  const std::vector<float> in = project_to_2d_linear({1, 0, 2}, cam);
  EXPECT_NEAR(in[0], fx * 0.5 + cx, 1e-6);
}

TEST(GeometryTest, FlipIntrinsicMirrorsProjection) {
  const Camera cam = h36m_camera("S7", 3);
  const auto in = cam.intrinsic();
  const auto fl = flip_intrinsic(in);
  for (int i = 0; i < 9; ++i) EXPECT_EQ(fl[i], (i == 2 || i == 7) ? -in[i] : in[i]) << i;
  // Mirroring a point (x -> -x) and the camera mirrors the projection (u -> -u), exactly.
  const std::vector<float> pts = {0.4f, -0.3f, 3.0f, -0.8f, 0.6f, 4.5f};
  const std::vector<float> mirrored = {-0.4f, -0.3f, 3.0f, 0.8f, 0.6f, 4.5f};
  const std::vector<float> a = project_to_2d(pts, in);
  const std::vector<float> b = project_to_2d(mirrored, fl);
  for (size_t i = 0; i < a.size(); i += 2) {
    EXPECT_EQ(b[i], -a[i]);
    EXPECT_EQ(b[i + 1], a[i + 1]);
  }
  EXPECT_EQ(project_to_2d(pts, cam), a);
}

TEST(GeometryTest, NormalizeScreenCoordinatesKnownValuesAndRoundTrip) {
  const int w = 1000, h = 1002;
  const std::vector<float> px = {0, 0, 1000, 1002, 500, 501, 123.25f, 987.5f};
  const std::vector<float> n = normalize_screen_coordinates(px, w, h);
  const double hw = double(h) / w;
  const std::vector<double> want = {-1, -hw, 1, hw, 0, 0, 123.25 / 500 - 1, 987.5 / 500 - hw};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(n[i], want[i], 1e-6) << i;
  const std::vector<float> back = image_coordinates(n, w, h);
  for (size_t i = 0; i < px.size(); ++i) EXPECT_NEAR(back[i], px[i], 1e-4) << i;
  // Both axes are divided by w: the aspect ratio is kept.
  const std::vector<float> sq = normalize_screen_coordinates({0, 0, 640, 480}, 640, 480);
  EXPECT_NEAR(sq[3] - sq[1], 2.0 * 480 / 640, 1e-6);
}

TEST(CameraTest, IntrinsicOfCamera0) {
  const Camera cam = h36m_camera("S1", 0);
  const auto in = cam.intrinsic();
  const double want[9] = {kFx0 / kW0 * 2,
                          kFy0 / kW0 * 2,
                          kCx0 / kW0 * 2 - 1,
                          kCy0 / kW0 * 2 - kH0 / kW0,
                          kK0[0],
                          kK0[1],
                          kK0[2],
                          kT0[0],
                          kT0[1]};
  for (int i : {0, 1, 4, 5, 6, 7, 8}) EXPECT_FLOAT_EQ(in[i], static_cast<float>(want[i])) << i;
  // fy is divided by res_w too (1000), not res_h (1002).
  EXPECT_FLOAT_EQ(in[1], 1143.7811279296875f / 1000.0f * 2.0f);
  // The centre loses digits to cancellation (c / w * 2 - 1 in float32): within 1e-7 (5e-5 px) of
  // the exact value, and bit-identical to VideoPose3D's numpy steps (float32 c / w * 2, minus the
  // float64 list [1, h / w], cast to float32).
  EXPECT_NEAR(in[2], want[2], 1e-7);
  EXPECT_NEAR(in[3], want[3], 1e-7);
  const float cx32 = 512.54150390625f / 1000.0f * 2.0f, cy32 = 515.4514770507812f / 1000.0f * 2.0f;
  EXPECT_EQ(in[2], static_cast<float>(double(cx32) - 1.0));
  EXPECT_EQ(in[3], static_cast<float>(double(cy32) - 1002.0 / 1000.0));
}

TEST(CameraTest, H36mTableValues) {
  const Camera c0 = h36m_camera("S1", 0);
  EXPECT_EQ(c0.id, "54138969");
  EXPECT_EQ(c0.res_w, 1000);
  EXPECT_EQ(c0.res_h, 1002);
  EXPECT_TRUE(c0.has_extrinsics);
  EXPECT_EQ(c0.focal[0], 1145.0494384765625f);
  EXPECT_EQ(c0.center[1], 515.4514770507812f);
  EXPECT_EQ(c0.orientation[2], -0.755240797996521f);
  // Translation in metres, the float nearest the reference's mm value / 1000.
  EXPECT_EQ(c0.translation[0], 1.8411070556640625f);
  EXPECT_EQ(c0.translation[1], 4.95528466796875f);
  EXPECT_EQ(c0.translation[2], 1.5634454345703125f);
  const Camera s11c3 = h36m_camera("S11", 3);
  EXPECT_EQ(s11c3.id, "60457274");
  EXPECT_EQ(s11c3.orientation[0], 0.5894251465797424f);
  EXPECT_EQ(s11c3.translation[1], -3.8541689453125f);
  EXPECT_EQ(h36m_camera("S9", 1).res_h, 1000);
  EXPECT_EQ(h36m_camera("S9", 2).tangential[0], 0.0014843869721516967f);

  const std::vector<std::string> want = {"S1", "S5", "S6", "S7", "S8", "S9", "S11"};
  EXPECT_EQ(h36m_subjects_with_extrinsics(), want);
  for (const std::string& s : want) {
    for (int k = 0; k < 4; ++k) {
      const Camera c = h36m_camera(s, k);
      const auto& q = c.orientation;
      EXPECT_NEAR(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3], 1.0, 1e-6) << s << k;
      // Cameras stand 3.5-6 m from the centre of the room, 1.4-1.7 m high.
      const double d = std::hypot(c.translation[0], c.translation[1]);
      EXPECT_GT(d, 3.5) << s << k;
      EXPECT_LT(d, 6.0) << s << k;
      EXPECT_GT(c.translation[2], 1.4) << s << k;
      EXPECT_LT(c.translation[2], 1.7) << s << k;
      EXPECT_EQ(h36m_camera_index(c.id), k);
    }
  }
  const Camera s2 = h36m_camera("S2", 1);
  EXPECT_FALSE(s2.has_extrinsics);
  EXPECT_EQ(s2.id, "55011271");
}

TEST(CameraTest, BadInputThrowsOneLineErrors) {
  const Camera cam = h36m_camera("S1", 0);
  expect_error([&] { world_to_camera({1, 2, 3, 4}, cam); }, "not a multiple of 3");
  expect_error([&] { camera_to_world({1, 2}, cam); }, "not a multiple of 3");
  expect_error([&] { project_to_2d({1, 2, 3, 4, 5}, cam); }, "not a multiple of 3");
  expect_error([&] { project_to_2d_linear({1}, cam); }, "not a multiple of 3");
  expect_error([&] { normalize_screen_coordinates({1, 2, 3}, 1000, 1000); }, "multiple of 2");
  expect_error([&] { image_coordinates({1}, 1000, 1000); }, "multiple of 2");
  expect_error([&] { normalize_screen_coordinates({1, 2}, 0, 1000); }, "resolution");
  expect_error([&] { image_coordinates({1, 2}, 1000, 0); }, "resolution");
  Camera zero = cam;
  zero.res_w = 0;
  expect_error([&] { zero.intrinsic(); }, "resolution");
  expect_error([&] { h36m_camera("S12", 0); }, "unknown Human3.6M subject 'S12'");
  expect_error([&] { h36m_camera("S1", 4); }, "out of range");
  expect_error([&] { h36m_camera("S1", -1); }, "out of range");
  expect_error([&] { h36m_camera_index("12345678"); }, "unknown Human3.6M camera id");
  expect_error([&] { world_to_camera({0, 0, 0}, h36m_camera("S3", 0)); }, "no extrinsics");
  Camera bad_q = cam;
  bad_q.orientation = {0, 0, 0, 0};
  expect_error([&] { camera_to_world({0, 0, 0}, bad_q); }, "unit quaternion");
}

TEST(GeometryTest, MakeRootRelative) {
  // (2 frames, 3 joints, 3)
  std::vector<float> xyz = {1,  2,  3,  4,  6,  8,  -1, 0, 5,  //
                            10, 10, 10, 11, 12, 13, 7,  7, 7};
  make_root_relative(xyz, 2, 3);
  EXPECT_EQ(xyz, (std::vector<float>{0, 0, 0, 3, 4, 5, -2, -2, 2,  //
                                     0, 0, 0, 1, 2, 3, -3, -3, -3}));
  std::vector<float> r1 = {1, 1, 1, 2, 2, 2, 5, 4, 3};
  make_root_relative(r1, 1, 3, 1);
  EXPECT_EQ(r1, (std::vector<float>{-1, -1, -1, 0, 0, 0, 3, 2, 1}));
  std::vector<float> bad(10);
  expect_error([&] { make_root_relative(bad, 1, 3); }, "make_root_relative");
  expect_error([&] { make_root_relative(r1, 1, 3, 3); }, "root 3 out of range");
}

}  // namespace
}  // namespace v3d::data
