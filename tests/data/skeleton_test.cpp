// Tests of data/skeleton.h: the H36M-17 and COCO-17 layouts (reference videopose3d.md 3.2-3.3),
// validation, the flip permutation, and the pseudo-COCO map documented at the top of
// data/skeleton.cpp. Expected tables are written out here, not read from the implementation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "data/skeleton.h"
#include "kernels/common.h"
#include "tests/test_util.h"

namespace v3d::data {
namespace {

// Runs `f`, expecting a one-line v3d::Error containing `needle`.
template <typename F>
void expect_error(F&& f, const std::string& needle) {
  test_util::expect_error(f, {needle});
}

// Mirrors poses (frames, J, F): x negated, joints permuted by `perm`.
std::vector<float> mirror(const std::vector<float>& p, int joints, int features,
                          const std::vector<int>& perm) {
  std::vector<float> out(p.size());
  const size_t frames = p.size() / (static_cast<size_t>(joints) * features);
  for (size_t f = 0; f < frames; ++f)
    for (int j = 0; j < joints; ++j)
      for (int c = 0; c < features; ++c) {
        const float v = p[(f * joints + perm[j]) * features + c];
        out[(f * joints + j) * features + c] = c == 0 ? -v : v;
      }
  return out;
}

TEST(SkeletonTest, H36m17MatchesReference) {
  const Skeleton& s = Skeleton::h36m17();
  EXPECT_NO_THROW(s.validate());
  EXPECT_EQ(s.name, "h36m17");
  EXPECT_EQ(s.num_joints(), 17);
  EXPECT_EQ(s.parents, (std::vector<int>{-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15}));
  EXPECT_EQ(s.joints_left, (std::vector<int>{4, 5, 6, 11, 12, 13}));
  EXPECT_EQ(s.joints_right, (std::vector<int>{1, 2, 3, 14, 15, 16}));
  EXPECT_EQ(s.joint_names[0], "Hip");
  EXPECT_EQ(s.joint_names[8], "Thorax");
  EXPECT_EQ(s.joint_names[9], "Neck/Nose");
  EXPECT_EQ(s.joint_names[10], "Head");
  EXPECT_EQ(s.joint_names[16], "RWrist");
  // Left names start with L, right with R, and each pair names the same body part.
  for (size_t i = 0; i < s.joints_left.size(); ++i) {
    const std::string& l = s.joint_names[s.joints_left[i]];
    const std::string& r = s.joint_names[s.joints_right[i]];
    EXPECT_EQ(l[0], 'L') << l;
    EXPECT_EQ(r[0], 'R') << r;
    EXPECT_EQ(l.substr(1), r.substr(1));
  }
  // Every limb's parent is on the same side or central.
  for (int j : s.joints_left) EXPECT_NE(s.joint_names[s.parents[j]][0], 'R');
  for (int j : s.joints_right) EXPECT_NE(s.joint_names[s.parents[j]][0], 'L');
}

TEST(SkeletonTest, Coco17MatchesCocoOrder) {
  const Skeleton& s = Skeleton::coco17();
  EXPECT_NO_THROW(s.validate());
  EXPECT_EQ(s.name, "coco17");
  const std::vector<std::string> names = {
      "nose",           "left_eye",   "right_eye",   "left_ear",   "right_ear",   "left_shoulder",
      "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
      "right_hip",      "left_knee",  "right_knee",  "left_ankle", "right_ankle"};
  EXPECT_EQ(s.joint_names, names);
  EXPECT_TRUE(s.parents.empty());
  EXPECT_EQ(s.joints_left, (std::vector<int>{1, 3, 5, 7, 9, 11, 13, 15}));
  EXPECT_EQ(s.joints_right, (std::vector<int>{2, 4, 6, 8, 10, 12, 14, 16}));
  for (size_t i = 0; i < s.joints_left.size(); ++i) {
    EXPECT_EQ("left_" + names[s.joints_right[i]].substr(6), names[s.joints_left[i]]);
  }
}

TEST(SkeletonTest, FlipPermutationIsAnInvolutionSwappingLeftAndRight) {
  for (const Skeleton* s : {&Skeleton::h36m17(), &Skeleton::coco17()}) {
    const std::vector<int> perm = s->flip_permutation();
    ASSERT_EQ(static_cast<int>(perm.size()), s->num_joints());
    for (int j = 0; j < s->num_joints(); ++j) EXPECT_EQ(perm[perm[j]], j) << s->name << " " << j;
    for (size_t i = 0; i < s->joints_left.size(); ++i) {
      EXPECT_EQ(perm[s->joints_left[i]], s->joints_right[i]);
      EXPECT_EQ(perm[s->joints_right[i]], s->joints_left[i]);
    }
    int moved = 0;
    for (int j = 0; j < s->num_joints(); ++j) moved += perm[j] != j;
    EXPECT_EQ(moved, static_cast<int>(2 * s->joints_left.size())) << s->name;
  }
  // The central H36M joints stay.
  const std::vector<int> perm = Skeleton::h36m17().flip_permutation();
  for (int j : {0, 7, 8, 9, 10}) EXPECT_EQ(perm[j], j);
  EXPECT_EQ(Skeleton::coco17().flip_permutation()[0], 0);
}

TEST(SkeletonTest, ValidateRejectsBrokenSkeletons) {
  const Skeleton good = Skeleton::h36m17();
  Skeleton s = good;
  s.parents.pop_back();
  expect_error([&] { s.validate(); }, "16 parents for 17 joints");
  s = good;
  s.parents[5] = 17;
  expect_error([&] { s.validate(); }, "parent 17 of joint 5 out of range");
  s = good;
  s.parents[3] = 3;
  expect_error([&] { s.validate(); }, "of joint 3 out of range");
  s = good;
  s.parents[1] = 2;  // 1 -> 2 -> 1
  expect_error([&] { s.validate(); }, "cycle");
  s = good;
  s.parents[7] = -1;
  expect_error([&] { s.validate(); }, "exactly one root");
  s = good;
  s.joints_left.pop_back();
  expect_error([&] { s.validate(); }, "5 left joints but 6 right joints");
  s = good;
  s.joints_left[0] = 1;  // also a right joint
  expect_error([&] { s.validate(); }, "listed twice");
  s = good;
  s.joints_right[0] = 40;
  expect_error([&] { s.validate(); }, "out of range");
  s = good;
  s.joint_names.clear();
  s.parents.clear();
  s.joints_left.clear();
  s.joints_right.clear();
  expect_error([&] { s.validate(); }, "no joints");
}

TEST(SkeletonTest, ByName) {
  EXPECT_EQ(&Skeleton::by_name("h36m17"), &Skeleton::h36m17());
  EXPECT_EQ(&Skeleton::by_name("coco17"), &Skeleton::coco17());
  EXPECT_EQ(&Skeleton::by_name("mpii16"), &Skeleton::mpii16());
  expect_error([] { Skeleton::by_name("openpose25"); }, "known: h36m17, coco17, mpii16");
}

// MPII-16 in VideoPose3D's stacked-hourglass order: left and right sides pair up anatomically,
// and its bone tree (keypoint_tree) is rooted at the pelvis with 15 bones.
TEST(SkeletonTest, Mpii16) {
  const Skeleton& s = Skeleton::mpii16();
  EXPECT_EQ(s.num_joints(), 16);
  EXPECT_TRUE(s.parents.empty());
  const std::vector<int> perm = s.flip_permutation();
  EXPECT_EQ(perm[0], 5);    // right ankle <-> left ankle
  EXPECT_EQ(perm[2], 3);    // right hip <-> left hip
  EXPECT_EQ(perm[10], 15);  // right wrist <-> left wrist
  EXPECT_EQ(perm[9], 9);    // head top
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(s.joint_names[perm[j]].substr(0, 4) == "left",
              s.joint_names[j].substr(0, 5) == "right")
        << s.joint_names[j];
  }
  const std::vector<int> tree = keypoint_tree(s);
  ASSERT_EQ(tree.size(), 16u);
  EXPECT_EQ(std::count(tree.begin(), tree.end(), -1), 1);
  EXPECT_EQ(tree[6], -1);  // the pelvis
  EXPECT_EQ(keypoint_tree(Skeleton::h36m17()), Skeleton::h36m17().parents);
  EXPECT_EQ(keypoint_tree(Skeleton::coco17()).size(), 17u);
}

TEST(SkeletonPseudoCocoTest, TableShapeAndWeights) {
  const auto& map = pseudo_coco_from_h36m();
  ASSERT_EQ(map.size(), 17u);
  // Direct correspondences, COCO index -> H36M-17 index (reference 3.2 and 3.3 tables).
  const std::vector<std::pair<int, int>> direct = {{0, 9},  {5, 11},  {6, 14}, {7, 12}, {8, 15},
                                                   {9, 13}, {10, 16}, {11, 4}, {12, 1}, {13, 5},
                                                   {14, 2}, {15, 6},  {16, 3}};
  for (const auto& [coco, h36m] : direct) {
    EXPECT_EQ(map[coco].h36m_joints, std::vector<int>{h36m}) << "coco " << coco;
    EXPECT_EQ(map[coco].weights, std::vector<float>{1.0f}) << "coco " << coco;
  }
  for (int k = 0; k < 17; ++k) {
    ASSERT_EQ(map[k].h36m_joints.size(), map[k].weights.size()) << k;
    double sum = 0;
    for (float w : map[k].weights) sum += w;
    EXPECT_NEAR(sum, 1.0, 1e-6) << "coco " << k;
    for (int j : map[k].h36m_joints) {
      EXPECT_GE(j, 0);
      EXPECT_LT(j, 17);
    }
  }
  // Eyes and ears come from the head (Neck/Nose 9, Head 10) and the shoulder line (11, 14) only.
  for (int k = 1; k <= 4; ++k)
    for (int j : map[k].h36m_joints) EXPECT_TRUE(j == 9 || j == 10 || j == 11 || j == 14) << k;
}

TEST(SkeletonPseudoCocoTest, KnownPose) {
  // A standing pose, x toward the subject's left, z up, metres; unused joints hold distinct
  // values so a wrong index shows.
  std::vector<float> h36m(17 * 3);
  for (int j = 0; j < 17; ++j) {
    h36m[3 * j] = 0.01f * j;
    h36m[3 * j + 1] = 0.02f * j;
    h36m[3 * j + 2] = 0.03f * j;
  }
  auto set = [&](int j, float x, float y, float z) {
    h36m[3 * j] = x;
    h36m[3 * j + 1] = y;
    h36m[3 * j + 2] = z;
  };
  set(9, 0.0f, 0.0f, 1.60f);     // Neck/Nose
  set(10, 0.0f, 0.0f, 1.72f);    // Head
  set(11, 0.17f, 0.0f, 1.45f);   // LShoulder
  set(14, -0.17f, 0.0f, 1.45f);  // RShoulder
  const std::vector<float> coco = to_pseudo_coco(h36m, 1, 3);
  ASSERT_EQ(coco.size(), h36m.size());
  auto at = [&](int k, int c) { return coco[3 * k + c]; };
  // Eyes: 0.3 of the way from nose to head (1.636 m), +-0.1 x 0.34 m shoulder width sideways.
  EXPECT_NEAR(at(1, 0), 0.034, 1e-6);
  EXPECT_NEAR(at(1, 2), 1.636, 1e-6);
  EXPECT_NEAR(at(2, 0), -0.034, 1e-6);
  EXPECT_NEAR(at(2, 2), 1.636, 1e-6);
  // Ears: 0.2 of the way up (1.624 m), +-0.25 x 0.34 m sideways.
  EXPECT_NEAR(at(3, 0), 0.085, 1e-6);
  EXPECT_NEAR(at(3, 2), 1.624, 1e-6);
  EXPECT_NEAR(at(4, 0), -0.085, 1e-6);
  EXPECT_NEAR(at(4, 2), 1.624, 1e-6);
  for (int k = 1; k <= 4; ++k) EXPECT_NEAR(at(k, 1), 0.0, 1e-7);
  // Direct keypoints are copied bit for bit.
  const int src[17] = {9, -1, -1, -1, -1, 11, 14, 12, 15, 13, 16, 4, 1, 5, 2, 6, 3};
  for (int k = 0; k < 17; ++k) {
    if (src[k] < 0) continue;
    for (int c = 0; c < 3; ++c) EXPECT_EQ(at(k, c), h36m[3 * src[k] + c]) << k << " " << c;
  }
}

TEST(SkeletonPseudoCocoTest, CommutesWithFlipAndTranslation) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const int frames = 4;
  for (int features : {2, 3}) {
    std::vector<float> h36m(static_cast<size_t>(frames) * 17 * features);
    for (float& v : h36m) v = u(rng);
    // Mirror then map == map then mirror (each with its own layout's left/right lists).
    const auto a = to_pseudo_coco(mirror(h36m, 17, features, Skeleton::h36m17().flip_permutation()),
                                  frames, features);
    const auto b = mirror(to_pseudo_coco(h36m, frames, features), 17, features,
                          Skeleton::coco17().flip_permutation());
    for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-6) << features << " " << i;
    // Weights summing to 1: a shift of every joint shifts every keypoint.
    std::vector<float> shifted = h36m;
    for (size_t i = 0; i < shifted.size(); ++i) shifted[i] += (i % features == 0) ? 0.5f : -0.25f;
    const auto base = to_pseudo_coco(h36m, frames, features);
    const auto moved = to_pseudo_coco(shifted, frames, features);
    for (size_t i = 0; i < base.size(); ++i)
      ASSERT_NEAR(moved[i] - base[i], (i % features == 0) ? 0.5 : -0.25, 1e-6) << i;
  }
}

TEST(SkeletonPseudoCocoTest, BadInput) {
  expect_error([] { to_pseudo_coco(std::vector<float>(17 * 4), 1, 4); }, "features must be 2 or 3");
  expect_error([] { to_pseudo_coco(std::vector<float>(17 * 2 + 1), 1, 2); }, "to_pseudo_coco");
  EXPECT_TRUE(to_pseudo_coco({}, 0, 2).empty());
}

}  // namespace
}  // namespace v3d::data
