// Metrics on hand-made poses: rigid/similarity copies, reflections, offsets; the 3x3 SVD; and
// VideoPose3D's aggregation rules (frame weighting, action groups by first word, unweighted mean).
#include "trainer/metrics.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/common.h"

namespace v3d {
namespace {

// Random (frames, joints, 3) poses in a 1 m box, fixed seed.
std::vector<double> random_poses(int64_t frames, int64_t joints, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-0.5, 0.5);
  std::vector<double> p(static_cast<size_t>(frames * joints * 3));
  for (auto& x : p) x = u(rng);
  return p;
}

// Rotation about a unit axis (Rodrigues), row-major.
std::array<double, 9> rotation(std::array<double, 3> axis, double angle) {
  const double n = std::sqrt(axis[0] * axis[0] + axis[1] * axis[1] + axis[2] * axis[2]);
  for (auto& a : axis) a /= n;
  const double c = std::cos(angle), s = std::sin(angle), t = 1 - c;
  const double x = axis[0], y = axis[1], z = axis[2];
  return {t * x * x + c,     t * x * y - s * z, t * x * z + s * y, t * x * y + s * z, t * y * y + c,
          t * y * z - s * x, t * x * z - s * y, t * y * z + s * x, t * z * z + c};
}

// p_j -> scale * R p_j + t for every point (column-vector convention).
std::vector<double> transform(const std::vector<double>& p, const std::array<double, 9>& r,
                              double scale, std::array<double, 3> t) {
  std::vector<double> out(p.size());
  for (size_t i = 0; i < p.size(); i += 3)
    for (int a = 0; a < 3; ++a)
      out[i + a] =
          scale * (r[a * 3] * p[i] + r[a * 3 + 1] * p[i + 1] + r[a * 3 + 2] * p[i + 2]) + t[a];
  return out;
}

std::array<double, 9> matmul(const std::array<double, 9>& a, const std::array<double, 9>& b) {
  std::array<double, 9> r{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 3; ++k) r[i * 3 + j] += a[i * 3 + k] * b[k * 3 + j];
  return r;
}

std::array<double, 9> transpose(const std::array<double, 9>& a) {
  return {a[0], a[3], a[6], a[1], a[4], a[7], a[2], a[5], a[8]};
}

void expect_svd_reconstructs(const std::array<double, 9>& a, double tol) {
  const Svd3 svd = svd3x3(a);
  EXPECT_GE(svd.s[0], svd.s[1]);
  EXPECT_GE(svd.s[1], svd.s[2]);
  EXPECT_GE(svd.s[2], 0.0);
  std::array<double, 9> us = svd.u;
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 3; ++k) us[i * 3 + k] *= svd.s[k];
  const auto back = matmul(us, transpose(svd.v));
  const auto utu = matmul(transpose(svd.u), svd.u);
  const auto vtv = matmul(transpose(svd.v), svd.v);
  for (int i = 0; i < 9; ++i) {
    EXPECT_NEAR(back[i], a[i], tol) << "element " << i;
    EXPECT_NEAR(utu[i], i % 4 == 0 ? 1.0 : 0.0, 1e-12) << "U^T U element " << i;
    EXPECT_NEAR(vtv[i], i % 4 == 0 ? 1.0 : 0.0, 1e-12) << "V^T V element " << i;
  }
}

TEST(Svd3x3, ReconstructsRandomAndDegenerateMatrices) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(-2, 2);
  for (int trial = 0; trial < 200; ++trial) {
    std::array<double, 9> a;
    for (auto& x : a) x = u(rng);
    expect_svd_reconstructs(a, 1e-12);
  }
  expect_svd_reconstructs({0, 0, 0, 0, 0, 0, 0, 0, 0}, 1e-15);     // rank 0
  expect_svd_reconstructs({1, 2, 3, 2, 4, 6, -1, -2, -3}, 1e-12);  // rank 1
  expect_svd_reconstructs({1, 0, 0, 0, 2, 0, 0, 0, 0}, 1e-12);     // rank 2
  expect_svd_reconstructs({3, 0, 0, 0, -3, 0, 0, 0, 3}, 1e-12);    // repeated values, det < 0
  const Svd3 d = svd3x3({0, 0, 5, 0, -2, 0, 1, 0, 0});
  EXPECT_NEAR(d.s[0], 5, 1e-14);
  EXPECT_NEAR(d.s[1], 2, 1e-14);
  EXPECT_NEAR(d.s[2], 1, 1e-14);
}

TEST(Metrics, MpjpeOfAConstantOffsetIsItsLength) {
  const auto target = random_poses(4, 17, 1);
  const auto pred = transform(target, rotation({0, 0, 1}, 0), 1.0, {0.03, 0.04, 0});
  EXPECT_NEAR(mpjpe(pred, target, 17), 0.05, 1e-12);
  EXPECT_NEAR(mpjve(pred, target, 17), 0.0, 1e-12);  // same motion, shifted
  EXPECT_NEAR(p_mpjpe(pred, target, 17), 0.0, 1e-12);
}

TEST(Metrics, HandComputedValues) {
  // Two joints, two frames: frame 0 errors 1 and 0, frame 1 errors 3 and 4 -> mean 2.
  const std::vector<double> target = {0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0};
  const std::vector<double> pred = {1, 0, 0, 1, 0, 0, 0, 3, 0, 1, 0, 4};
  EXPECT_DOUBLE_EQ(mpjpe(pred, target, 2), 2.0);
  // Velocities: pred (-1,3,0), (0,0,4); target 0 -> (1 + ... ) = (sqrt(10) + 4) / 2.
  EXPECT_NEAR(mpjve(pred, target, 2), (std::sqrt(10.0) + 4.0) / 2, 1e-12);
  EXPECT_EQ(mpjve(std::vector<double>(pred.begin(), pred.begin() + 6),
                  std::vector<double>(target.begin(), target.begin() + 6), 2),
            0.0);
  // N-MPJPE, one frame: pred = 2 * target -> scale 1/2, error 0.
  EXPECT_NEAR(
      n_mpjpe(std::vector<double>{0, 0, 0, 2, 0, 0}, std::vector<double>{0, 0, 0, 1, 0, 0}, 2), 0.0,
      1e-15);
}

TEST(Metrics, SimilarityCopyHasZeroPMpjpeButNotMpjpe) {
  const auto target = random_poses(5, 17, 2);
  std::vector<double> pred;
  // A different similarity per frame: P-MPJPE aligns each frame on its own.
  for (int64_t f = 0; f < 5; ++f) {
    const std::vector<double> frame(target.begin() + f * 51, target.begin() + (f + 1) * 51);
    const auto moved = transform(frame, rotation({1.0 + f, -2, 0.5}, 0.3 + 0.7 * f),
                                 0.5 + 0.4 * static_cast<double>(f), {0.1 * f, -0.2, 0.3});
    pred.insert(pred.end(), moved.begin(), moved.end());
  }
  EXPECT_GT(mpjpe(pred, target, 17), 0.05);
  EXPECT_NEAR(p_mpjpe(pred, target, 17), 0.0, 1e-12);
}

TEST(Metrics, ScaledCopyHasZeroNMpjpe) {
  const auto target = random_poses(3, 17, 3);
  const auto pred = transform(target, rotation({0, 1, 0}, 0), 1.37, {0, 0, 0});
  EXPECT_GT(mpjpe(pred, target, 17), 0.05);
  EXPECT_NEAR(n_mpjpe(pred, target, 17), 0.0, 1e-12);
  EXPECT_NEAR(p_mpjpe(pred, target, 17), 0.0, 1e-12);
  // A rotation is not undone by N-MPJPE.
  const auto rotated = transform(target, rotation({0, 1, 0}, 1.0), 1.0, {0, 0, 0});
  EXPECT_GT(n_mpjpe(rotated, target, 17), 0.01);
}

TEST(Metrics, ProcrustesRecoversTheTransformAndNeverReflects) {
  const auto target = random_poses(1, 17, 4);
  const auto r = rotation({0.3, -1, 2}, 2.1);
  // pred = (target - t) R_true^T / s  =>  target = s pred R_true^T... build pred from target
  // with the inverse transform, so the fit must return scale s, rotation (row-vector) R^T.
  const double s = 0.8;
  const std::array<double, 3> t{0.2, -0.1, 0.05};
  const auto pred = transform(target, r, s, t);
  const Similarity sim = procrustes_fit(pred, target, 17);
  EXPECT_NEAR(sim.scale, 1 / s, 1e-12);
  EXPECT_NEAR(det3x3(sim.rotation), 1.0, 1e-12);
  // Row-vector R of the fit is the transpose of the inverse rotation: R_fit = R.
  for (int i = 0; i < 9; ++i) EXPECT_NEAR(sim.rotation[i], r[i], 1e-12) << i;

  // A mirrored copy cannot be aligned by a rotation: the fix keeps det +1 and the error > 0,
  // and the fit is the best proper one (no better than aligning with the identity's mirror).
  std::vector<double> mirrored = target;
  for (size_t i = 0; i < mirrored.size(); i += 3) mirrored[i] = -mirrored[i];
  const Similarity m = procrustes_fit(mirrored, target, 17);
  EXPECT_NEAR(det3x3(m.rotation), 1.0, 1e-12);
  EXPECT_GT(p_mpjpe(mirrored, target, 17), 1e-3);
  EXPECT_LT(p_mpjpe(mirrored, target, 17), mpjpe(mirrored, target, 17));
}

TEST(Metrics, ReflectionFixMatchesBruteForceOnPlanarPoses) {
  // Points in the plane z = 0, mirrored in x: a rotation of pi about the y axis maps the mirror
  // back exactly (a planar set's reflection equals a rotation), so P-MPJPE must be 0.
  std::vector<double> target = random_poses(1, 17, 5);
  for (size_t i = 2; i < target.size(); i += 3) target[i] = 0;
  std::vector<double> mirrored = target;
  for (size_t i = 0; i < mirrored.size(); i += 3) mirrored[i] = -mirrored[i];
  EXPECT_NEAR(p_mpjpe(mirrored, target, 17), 0.0, 1e-12);
  EXPECT_NEAR(det3x3(procrustes_fit(mirrored, target, 17).rotation), 1.0, 1e-12);
}

TEST(Metrics, DegenerateAndInvalidInputs) {
  const auto target = random_poses(1, 17, 6);
  const std::vector<double> collapsed(51, 0.25);
  const double p = p_mpjpe(collapsed, target, 17);
  EXPECT_TRUE(std::isfinite(p));
  EXPECT_TRUE(std::isfinite(n_mpjpe(std::vector<double>(51, 0.0), target, 17)));
  EXPECT_THROW(mpjpe(std::vector<double>(50), std::vector<double>(50), 17), Error);
  EXPECT_THROW(mpjpe(std::vector<double>(51), std::vector<double>(102), 17), Error);
  EXPECT_THROW(p_mpjpe(std::vector<double>{}, std::vector<double>{}, 17), Error);
  EXPECT_THROW(parse_metric("pck"), Error);
  EXPECT_EQ(parse_metric("p_mpjpe"), Metric::kPMpjpe);
}

TEST(Aggregation, ActionGroupIsTheFirstWord) {
  EXPECT_EQ(action_group("Walking 1"), "Walking");
  EXPECT_EQ(action_group("Walking"), "Walking");
  EXPECT_EQ(action_group("WalkDog 2"), "WalkDog");
  EXPECT_EQ(action_group("Sitting Down 3"), "Sitting");
}

TEST(Aggregation, FrameWeightedWithinAnActionUnweightedAcross) {
  ErrorAggregator agg;
  Errors a;
  a.mpjpe = 10;
  a.p_mpjpe = 8;
  a.n_mpjpe = 9;
  a.mpjve = 1;
  a.frames = 100;
  a.velocity_frames = 100;
  Errors b = a;
  b.mpjpe = 40;
  b.mpjve = 4;
  b.frames = 300;
  b.velocity_frames = 300;
  Errors c = a;
  c.mpjpe = 100;
  c.frames = 5;
  c.velocity_frames = 5;
  agg.add("Walking", a);
  agg.add("Eating 2", c);
  agg.add("Walking 1", b);  // merged with "Walking"
  const auto actions = agg.actions();
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_EQ(actions[0].action, "Walking");  // first-seen order
  EXPECT_EQ(actions[1].action, "Eating");
  EXPECT_DOUBLE_EQ(actions[0].errors.mpjpe, (10.0 * 100 + 40.0 * 300) / 400);  // 32.5
  EXPECT_DOUBLE_EQ(actions[0].errors.mpjve, (1.0 * 100 + 4.0 * 300) / 400);
  EXPECT_DOUBLE_EQ(actions[0].errors.p_mpjpe, 8.0);
  EXPECT_EQ(actions[0].errors.frames, 400);
  EXPECT_DOUBLE_EQ(actions[1].errors.mpjpe, 100.0);
  const Errors mean = agg.mean();
  EXPECT_DOUBLE_EQ(mean.mpjpe, (32.5 + 100.0) / 2);  // not frame-weighted across actions
  EXPECT_EQ(mean.frames, 405);
  EXPECT_EQ(ErrorAggregator().mean().mpjpe, 0.0);
}

TEST(Aggregation, SequenceErrorsMatchTheSingleMetrics) {
  const auto target = random_poses(6, 17, 8);
  const auto pred = random_poses(6, 17, 9);
  const Errors e = sequence_errors(pred, target, 17);
  EXPECT_EQ(e.frames, 6);
  EXPECT_EQ(e.velocity_frames, 6);
  EXPECT_DOUBLE_EQ(e.mpjpe, mpjpe(pred, target, 17));
  EXPECT_DOUBLE_EQ(e.p_mpjpe, p_mpjpe(pred, target, 17));
  EXPECT_DOUBLE_EQ(e.n_mpjpe, n_mpjpe(pred, target, 17));
  EXPECT_DOUBLE_EQ(e.mpjve, mpjve(pred, target, 17));
  EXPECT_LE(e.p_mpjpe, e.n_mpjpe + 1e-12);  // similarity fits at least as well as scale alone
  EXPECT_LE(e.n_mpjpe, e.mpjpe + 1e-12);
  EXPECT_EQ(sequence_errors(std::vector<double>(pred.begin(), pred.begin() + 51),
                            std::vector<double>(target.begin(), target.begin() + 51), 17)
                .velocity_frames,
            0);
}

}  // namespace
}  // namespace v3d
