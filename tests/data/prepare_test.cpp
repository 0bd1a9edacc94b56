// Tests of data/prepare.h: preparation (camera space, root-relative, normalisation, selection,
// subset/downsample with VideoPose3D's SHA-256 start).
#include <gtest/gtest.h>

#include <cmath>

#include "data/camera.h"
#include "data/prepare.h"
#include "kernels/common.h"
#include "tests/data/batches_test_util.h"

namespace v3d::data {
namespace {

using namespace test;  // NOLINT(google-build-using-namespace): the shared sequence helpers

// ------------------------------------------------------------------------------------------------
// Preparation and selection
// ------------------------------------------------------------------------------------------------

TEST(Prepare, SubsetAndDownsampleAsVideoPose3D) {
  // Values from Python: hashlib.sha256(str(len).encode()), as common/utils.py.
  EXPECT_EQ(deterministic_random(0, 901, "1000"), 411);
  SubsetRange r = subset_range(1000, 0.1, 1);
  EXPECT_EQ(r.start, 411);
  EXPECT_EQ(r.count, 100);
  EXPECT_EQ(r.step, 1);
  r = subset_range(1000, 0.25, 2);  // n = round(500 * 0.25) * 2 = 250 frames, every 2nd
  EXPECT_EQ(r.start, 343);
  EXPECT_EQ(r.count, 125);
  EXPECT_EQ(r.step, 2);
  r = subset_range(1383, 0.1, 1);  // round(138.3) = 138
  EXPECT_EQ(r.start, 403);
  EXPECT_EQ(r.count, 138);
  r = subset_range(10, 0.25, 1);  // round(2.5) = 2: Python rounds half to even
  EXPECT_EQ(r.count, 2);
  EXPECT_EQ(r.start, 0);
  r = subset_range(1001, 1.0, 2);  // [::2]
  EXPECT_EQ(r.start, 0);
  EXPECT_EQ(r.count, 501);
  EXPECT_EQ(r.step, 2);
  EXPECT_NE(error_of([] { subset_range(10, 0.0, 1); }).find("subset"), std::string::npos);
  EXPECT_NE(error_of([] { subset_range(10, 1.0, 0); }).find("downsample"), std::string::npos);
}

// A dataset with H36M cameras: S1 and S9, actions with and without stored 2D.
Dataset make_dataset() {
  Dataset d;
  d.skeleton = h36m();
  uint32_t state = 12345;
  auto rnd = [&] {  // [0, 1)
    state = state * 1664525u + 1013904223u;
    return static_cast<float>(state >> 8) / 16777216.0f;
  };
  for (const std::string subject : {"S1", "S9"}) {
    SubjectData sd;
    for (int k = 0; k < 4; ++k) sd.cameras[k] = h36m_camera(subject, k);
    for (const std::string action : {"Walking", "WalkDog", "Sitting", "SittingDown"}) {
      ActionData a;
      a.frames = 30;
      for (int64_t t = 0; t < a.frames; ++t) {
        const float root[3] = {0.02f * static_cast<float>(t) - 0.3f, 0.1f, 0.9f};
        for (int j = 0; j < kJ; ++j) {
          for (int c = 0; c < 3; ++c) {
            a.positions_3d.push_back(j == 0 ? root[c] : root[c] + 0.8f * rnd() - 0.4f);
          }
        }
      }
      // Camera 1 has stored 2D (5 extra video frames), the others are projected.
      std::vector<float> px;
      for (int64_t i = 0; i < (a.frames + 5) * kJ; ++i) {
        px.push_back(1000.0f * rnd());
        px.push_back(1000.0f * rnd());
      }
      a.positions_2d[1] = px;
      sd.actions[action] = a;
    }
    d.subjects[subject] = sd;
  }
  return d;
}

TEST(Prepare, CameraSpaceRootRelativeTargetsAndNormalised2D) {
  const Dataset d = make_dataset();
  PrepareSpec spec;
  spec.subjects = {"S1"};
  const auto seqs = prepare_sequences(d, spec);
  ASSERT_EQ(seqs.size(), 16u);  // 4 actions x 4 cameras
  for (const Sequence& s : seqs) {
    SCOPED_TRACE(s.subject + "/" + s.action + " camera " + std::to_string(s.camera));
    const ActionData& a = d.subjects.at("S1").actions.at(s.action);
    const Camera& cam = d.subjects.at("S1").cameras.at(s.camera);
    ASSERT_EQ(s.frames, 30);
    ASSERT_EQ(s.poses_3d.size(), static_cast<size_t>(30 * kJ * 3));
    ASSERT_EQ(s.poses_2d.size(), static_cast<size_t>(30 * kJ * 2));
    EXPECT_EQ(s.intrinsic, cam.intrinsic());
    const std::vector<float> camera_3d = world_to_camera(a.positions_3d, cam);
    for (int64_t t = 0; t < 30; ++t) {
      for (int j = 0; j < kJ; ++j) {
        for (int c = 0; c < 3; ++c) {
          const float got = s.poses_3d[static_cast<size_t>((t * kJ + j) * 3 + c)];
          if (j == 0) {
            EXPECT_EQ(got, 0.0f);
          } else {
            const float expect = camera_3d[static_cast<size_t>((t * kJ + j) * 3 + c)] -
                                 camera_3d[static_cast<size_t>(t * kJ * 3 + c)];
            EXPECT_NEAR(got, expect, 1e-6f);
            EXPECT_LT(std::fabs(got), 1.0f);  // metres, within the body
          }
        }
      }
    }
    const float ratio = static_cast<float>(cam.res_h) / static_cast<float>(cam.res_w);
    if (s.camera == 1) {
      // Stored pixels, truncated to the 30 mocap frames and normalised with the camera's size.
      const std::vector<float>& px = a.positions_2d.at(1);
      for (size_t i = 0; i < s.poses_2d.size(); i += 2) {
        EXPECT_NEAR(s.poses_2d[i], px[i] / cam.res_w * 2 - 1, 1e-6f);
        EXPECT_NEAR(s.poses_2d[i + 1], px[i + 1] / cam.res_w * 2 - ratio, 1e-6f);
        EXPECT_GE(s.poses_2d[i], -1.0f);
        EXPECT_LE(s.poses_2d[i], 1.0f);
        EXPECT_GE(s.poses_2d[i + 1], -ratio);
        EXPECT_LE(s.poses_2d[i + 1], ratio);
      }
    } else {
      // Ground-truth 2D: the projection of the absolute camera-space 3D.
      EXPECT_EQ(s.poses_2d, project_to_2d(camera_3d, cam));
      for (float v : s.poses_2d) EXPECT_LT(std::fabs(v), 1.2f);
    }
  }
}

TEST(Prepare, SplitsActionPrefixesSubsetAndErrors) {
  Dataset d = make_dataset();
  // Default split: training subjects only; S1 is the only one present here.
  PrepareSpec spec;
  spec.subjects = {"S9"};
  spec.actions = {"Sitting"};
  spec.cameras = {0, 2};
  auto seqs = prepare_sequences(d, spec);
  std::set<std::string> actions;
  for (const auto& s : seqs) actions.insert(s.action);
  EXPECT_EQ(actions, (std::set<std::string>{"Sitting", "SittingDown"}));
  EXPECT_EQ(seqs.size(), 4u);

  spec.actions = {"Walk"};
  spec.cameras = {};
  spec.subset = 0.5;
  spec.downsample = 2;
  seqs = prepare_sequences(d, spec);
  ASSERT_EQ(seqs.size(), 8u);
  const SubsetRange r = subset_range(30, 0.5, 2);
  for (const auto& s : seqs) {
    EXPECT_EQ(s.frames, r.count);
    EXPECT_TRUE(s.action == "Walking" || s.action == "WalkDog");
  }
  // The subset's frames are the range's: compare with the full preparation.
  spec.subset = 1.0;
  spec.downsample = 1;
  const auto full = prepare_sequences(d, spec);
  spec.subset = 0.5;
  spec.downsample = 2;
  const auto part = prepare_sequences(d, spec);
  for (int64_t i = 0; i < r.count; ++i) {
    const int64_t t = r.start + i * r.step;
    for (int v = 0; v < kJ * 3; ++v) {
      EXPECT_EQ(part[0].poses_3d[static_cast<size_t>(i * kJ * 3 + v)],
                full[0].poses_3d[static_cast<size_t>(t * kJ * 3 + v)]);
    }
  }

  EXPECT_EQ(default_train_subjects(), (std::vector<std::string>{"S1", "S5", "S6", "S7", "S8"}));
  EXPECT_EQ(default_test_subjects(), (std::vector<std::string>{"S9", "S11"}));
  EXPECT_NE(error_of([&] { prepare_sequences(d, PrepareSpec{}); }).find("S5"), std::string::npos);

  d.subjects["S9"].actions["Walking"].positions_3d[7] = std::nanf("");
  spec.subset = 1.0;
  spec.downsample = 1;
  const std::string e = error_of([&] { prepare_sequences(d, spec); });
  EXPECT_NE(e.find("S9/Walking"), std::string::npos) << e;
}

}  // namespace
}  // namespace v3d::data
