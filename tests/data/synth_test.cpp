// Tests of the synthetic motion generator (data/synth.h): determinism, anatomy (bone lengths,
// joint limits, floor contact), motion (fast vs slow, smoothness, time-based), cameras and 2D
// projection, bad options, and the HDF5 round trip. Physical properties are measured from the
// generated 3D positions only, never from the generator's internals.
#include <gtest/gtest.h>

#include <unistd.h>
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "data/synth.h"
#include "kernels/common.h"
#include "tests/data/data_test_util.h"

namespace v3d::data {
namespace {

using test::expect_same_dataset;

constexpr int J = 17;
constexpr int kRHip = 1, kRKnee = 2, kRFoot = 3, kLHip = 4, kLKnee = 5, kLFoot = 6;
constexpr int kLShoulder = 11, kLElbow = 12, kLWrist = 13, kRShoulder = 14, kRElbow = 15,
              kRWrist = 16;

using V = std::array<double, 3>;

// positions: (frames, 17, 3)
V joint(const std::vector<float>& p, int64_t frame, int j) {
  const float* q = p.data() + (frame * J + j) * 3;
  return {q[0], q[1], q[2]};
}
V sub(const V& a, const V& b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }
double dot(const V& a, const V& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
double norm(const V& a) { return std::sqrt(dot(a, a)); }
V cross(const V& a, const V& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
double angle_deg(const V& a, const V& b) {
  const double c = dot(a, b) / (norm(a) * norm(b));
  return std::acos(std::clamp(c, -1.0, 1.0)) * 180.0 / M_PI;
}

// The seed of the tests' datasets: 1 (the default), or V3D_SYNTH_SEED to check other seeds.
uint64_t test_seed() {
  static const uint64_t seed = [] {
    const char* env = std::getenv("V3D_SYNTH_SEED");
    const uint64_t s = env ? std::strtoull(env, nullptr, 10) : 1;
    std::printf("[synth] seed %llu (override with V3D_SYNTH_SEED)\n",
                static_cast<unsigned long long>(s));
    return s;
  }();
  return seed;
}

// The default dataset (7 subjects x 8 actions x 600 frames), generated once for the suite.
const Dataset& default_dataset() {
  static const Dataset d = [] {
    SynthOptions o;
    o.seed = test_seed();
    const auto t0 = std::chrono::steady_clock::now();
    Dataset out = synthesize(o);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("[synth] default dataset generated in %.3f s\n", s);
    return out;
  }();
  return d;
}

bool is_fast(const std::string& action) {
  const auto& f = synth_fast_actions();
  return std::find(f.begin(), f.end(), action) != f.end();
}

// Mean angular speed of the 16 bones (deg/s): how fast the skeleton's parts rotate, which is
// what interval resampling and the long-term bank are about; root translation does not count.
double mean_bone_angular_speed(const ActionData& a, float fps) {
  const auto& parents = Skeleton::h36m17().parents;
  double sum = 0;
  int64_t n = 0;
  for (int64_t i = 0; i + 1 < a.frames; ++i)
    for (int j = 1; j < J; ++j) {
      const V b0 = sub(joint(a.positions_3d, i, j), joint(a.positions_3d, i, parents[j]));
      const V b1 = sub(joint(a.positions_3d, i + 1, j), joint(a.positions_3d, i + 1, parents[j]));
      sum += angle_deg(b0, b1) * fps;
      ++n;
    }
  return sum / static_cast<double>(n);
}

// Max |second difference| over all joints and coordinates, metres per frame^2.
double max_second_difference(const ActionData& a) {
  double m = 0;
  const auto& p = a.positions_3d;
  for (int64_t i = 1; i + 1 < a.frames; ++i)
    for (int k = 0; k < J * 3; ++k) {
      const double d2 =
          double(p[(i + 1) * J * 3 + k]) - 2.0 * p[i * J * 3 + k] + double(p[(i - 1) * J * 3 + k]);
      m = std::max(m, std::abs(d2));
    }
  return m;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(SynthTest, ActionLists) {
  ASSERT_EQ(synth_action_names().size(), 8u);
  ASSERT_EQ(synth_fast_actions().size(), 5u);
  for (const auto& f : synth_fast_actions())
    EXPECT_NE(std::find(synth_action_names().begin(), synth_action_names().end(), f),
              synth_action_names().end())
        << f;
  for (const char* slow : {"Walking", "Waiting", "Sitting"}) EXPECT_FALSE(is_fast(slow));
}

TEST(SynthTest, EverySubjectActionCameraPresent) {
  const Dataset& d = default_dataset();
  EXPECT_EQ(d.skeleton.name, "h36m17");
  EXPECT_EQ(d.fps, 50.0f);
  const std::vector<std::string> subjects = {"S1", "S5", "S6", "S7", "S8", "S9", "S11"};
  ASSERT_EQ(d.subjects.size(), subjects.size());
  for (const auto& s : subjects) {
    ASSERT_TRUE(d.subjects.count(s)) << s;
    const SubjectData& sd = d.subjects.at(s);
    ASSERT_EQ(sd.cameras.size(), 4u) << s;
    for (int k = 0; k < 4; ++k) {
      ASSERT_TRUE(sd.cameras.count(k)) << s << " camera " << k;
      const Camera ref = h36m_camera(s, k);
      EXPECT_EQ(sd.cameras.at(k).id, ref.id);
      EXPECT_EQ(sd.cameras.at(k).translation, ref.translation);
      EXPECT_EQ(sd.cameras.at(k).orientation, ref.orientation);
    }
    ASSERT_EQ(sd.actions.size(), synth_action_names().size()) << s;
    for (const auto& a : synth_action_names()) {
      ASSERT_TRUE(sd.actions.count(a)) << s << "/" << a;
      const ActionData& ad = sd.actions.at(a);
      EXPECT_EQ(ad.frames, 600);
      EXPECT_EQ(ad.positions_3d.size(), 600u * J * 3);
      ASSERT_EQ(ad.positions_2d.size(), 4u);
      for (const auto& [k, p2] : ad.positions_2d) EXPECT_EQ(p2.size(), 600u * J * 2) << k;
      EXPECT_TRUE(ad.confidence_2d.empty());
    }
  }
}

TEST(SynthTest, NoNanAndValidates) {
  const Dataset& d = default_dataset();
  for (const auto& [s, sd] : d.subjects)
    for (const auto& [a, ad] : sd.actions) {
      for (float v : ad.positions_3d) ASSERT_TRUE(std::isfinite(v)) << s << "/" << a;
      for (const auto& [k, p2] : ad.positions_2d)
        for (float v : p2) ASSERT_TRUE(std::isfinite(v)) << s << "/" << a << " cam " << k;
    }
  EXPECT_NO_THROW(d.validate());
}

TEST(SynthTest, DeterministicFromSeed) {
  SynthOptions o;
  o.frames_per_action = 120;
  o.subjects = {"S1", "S9"};
  const Dataset a = synthesize(o), b = synthesize(o);
  expect_same_dataset(a, b);

  o.seed = 2;
  const Dataset c = synthesize(o);
  for (const auto& [s, sd] : a.subjects)
    for (const auto& [action, ad] : sd.actions)
      EXPECT_FALSE(same_bits(ad.positions_3d, c.subjects.at(s).actions.at(action).positions_3d))
          << s << "/" << action;
}

// A subject's motion does not depend on which other subjects or actions are requested.
TEST(SynthTest, SelectionDoesNotChangeMotion) {
  SynthOptions all;
  all.frames_per_action = 80;
  SynthOptions one = all;
  one.subjects = {"S9"};
  one.actions = {"Boxing"};
  const Dataset a = synthesize(all), b = synthesize(one);
  ASSERT_EQ(b.subjects.size(), 1u);
  ASSERT_EQ(b.subjects.at("S9").actions.size(), 1u);
  EXPECT_TRUE(same_bits(a.subjects.at("S9").actions.at("Boxing").positions_3d,
                        b.subjects.at("S9").actions.at("Boxing").positions_3d));
}

TEST(SynthTest, BoneLengthsConstantPerSubjectAndDistinctAcrossSubjects) {
  const Dataset& d = default_dataset();
  const auto& parents = Skeleton::h36m17().parents;
  std::map<std::string, std::vector<double>> lengths;  // subject -> 16 bone lengths
  for (const auto& [s, sd] : d.subjects) {
    std::vector<double>& ref = lengths[s];
    for (const auto& [a, ad] : sd.actions)
      for (int64_t i = 0; i < ad.frames; ++i)
        for (int j = 1; j < J; ++j) {
          const double len =
              norm(sub(joint(ad.positions_3d, i, j), joint(ad.positions_3d, i, parents[j])));
          if (ref.size() < static_cast<size_t>(j)) ref.push_back(len);
          ASSERT_NEAR(len, ref[j - 1], 1e-4 * ref[j - 1])
              << s << "/" << a << " frame " << i << " bone " << parents[j] << "-" << j;
        }
    // Plausible adult proportions: thigh and shin 0.38-0.52 m, upper arm 0.23-0.33 m.
    EXPECT_GT(ref[kRKnee - 1], 0.38) << s;
    EXPECT_LT(ref[kRKnee - 1], 0.52) << s;
    EXPECT_GT(ref[kRFoot - 1], 0.38) << s;
    EXPECT_LT(ref[kRFoot - 1], 0.52) << s;
    EXPECT_GT(ref[kRElbow - 1], 0.23) << s;
    EXPECT_LT(ref[kRElbow - 1], 0.33) << s;
    // Left and right limbs are equally long.
    EXPECT_NEAR(ref[kRKnee - 1], ref[kLKnee - 1], 1e-4) << s;
    EXPECT_NEAR(ref[kRWrist - 1], ref[kLWrist - 1], 1e-4) << s;
  }
  for (auto a = lengths.begin(); a != lengths.end(); ++a)
    for (auto b = std::next(a); b != lengths.end(); ++b) {
      double max_rel = 0;
      for (size_t k = 0; k < a->second.size(); ++k)
        max_rel = std::max(max_rel, std::abs(a->second[k] / b->second[k] - 1.0));
      EXPECT_GT(max_rel, 0.005) << a->first << " and " << b->first << " have the same body";
    }
}

TEST(SynthTest, FeetOnTheFloor) {
  const Dataset& d = default_dataset();
  for (const auto& [s, sd] : d.subjects)
    for (const auto& [a, ad] : sd.actions) {
      int64_t near_floor = 0;
      double highest = 0;
      for (int64_t i = 0; i < ad.frames; ++i) {
        const double zr = joint(ad.positions_3d, i, kRFoot)[2];
        const double zl = joint(ad.positions_3d, i, kLFoot)[2];
        const double low = std::min(zr, zl);
        ASSERT_GE(low, -0.01) << s << "/" << a << " frame " << i << ": a foot below the floor";
        if (low <= 0.02) ++near_floor;
        highest = std::max(highest, low);
        // Nothing else goes through the floor either.
        for (int j = 0; j < J; ++j)
          ASSERT_GE(joint(ad.positions_3d, i, j)[2], -0.05) << s << "/" << a << " joint " << j;
      }
      const double fraction = double(near_floor) / double(ad.frames);
      if (a == "JumpingJacks") {
        EXPECT_GT(highest, 0.05) << s << "/" << a << ": never leaves the floor";
        EXPECT_GT(fraction, 0.2) << s << "/" << a << ": never lands";
      } else {
        EXPECT_GE(fraction, 0.95) << s << "/" << a << ": feet off the floor too often";
      }
    }
}

TEST(SynthTest, JointLimitsRespected) {
  const Dataset& d = default_dataset();
  for (const auto& [s, sd] : d.subjects)
    for (const auto& [a, ad] : sd.actions)
      for (int64_t i = 0; i < ad.frames; ++i) {
        const auto P = [&](int j) { return joint(ad.positions_3d, i, j); };
        const V hip_axis = sub(P(kRHip), P(kLHip));  // towards the performer's right
        for (const auto& [h, k, f] : {std::array<int, 3>{kRHip, kRKnee, kRFoot},
                                      std::array<int, 3>{kLHip, kLKnee, kLFoot}}) {
          const V thigh = sub(P(k), P(h)), shin = sub(P(f), P(k));
          const double flexion = angle_deg(thigh, shin);
          ASSERT_LE(flexion, 160.0) << s << "/" << a << " frame " << i << " knee " << k;
          // Knees bend one way: the shin swings backwards, so thigh x shin points to the left.
          if (flexion > 5.0) {
            ASSERT_LT(dot(cross(thigh, shin), hip_axis), 0.0)
                << s << "/" << a << " frame " << i << " knee " << k << " bends forwards";
          }
        }
        for (const auto& [sh, e, w] : {std::array<int, 3>{kLShoulder, kLElbow, kLWrist},
                                       std::array<int, 3>{kRShoulder, kRElbow, kRWrist}}) {
          const double flexion = angle_deg(sub(P(e), P(sh)), sub(P(w), P(e)));
          ASSERT_LE(flexion, 160.0) << s << "/" << a << " frame " << i << " elbow " << e;
        }
        // The torso stays upright enough: thorax above the pelvis, head above the thorax.
        ASSERT_GT(P(8)[2], P(0)[2]) << s << "/" << a << " frame " << i;
        ASSERT_GT(P(10)[2], P(8)[2]) << s << "/" << a << " frame " << i;
      }
}

TEST(SynthTest, FastActionsMoveFasterThanSlowOnes) {
  const Dataset& d = default_dataset();
  for (const auto& [s, sd] : d.subjects) {
    double slow_max = 0, fast_min = 1e9;
    std::string report;
    for (const auto& [a, ad] : sd.actions) {
      const double w = mean_bone_angular_speed(ad, d.fps);
      report += " " + a + "=" + std::to_string(static_cast<int>(w));
      if (is_fast(a))
        fast_min = std::min(fast_min, w);
      else
        slow_max = std::max(slow_max, w);
    }
    if (s == "S1") std::printf("[synth] S1 mean bone angular speed (deg/s):%s\n", report.c_str());
    EXPECT_GT(fast_min, 1.5 * slow_max) << s << ":" << report;
  }
}

TEST(SynthTest, WalkingAndSkatingTravelAndTurn) {
  const Dataset& d = default_dataset();
  for (const auto& [s, sd] : d.subjects)
    for (const char* a : {"Walking", "SkatingStride"}) {
      const ActionData& ad = sd.actions.at(a);
      double path = 0;
      for (int64_t i = 0; i + 1 < ad.frames; ++i) {
        V step = sub(joint(ad.positions_3d, i + 1, 0), joint(ad.positions_3d, i, 0));
        step[2] = 0;
        path += norm(step);
      }
      const double speed = path / ((ad.frames - 1) / double(d.fps));
      EXPECT_GT(speed, 0.5) << s << "/" << a;
      EXPECT_LT(speed, 3.5) << s << "/" << a;
      // Turning: the facing direction (across the hips) changes by more than 90 degrees.
      const V h0 = sub(joint(ad.positions_3d, 0, kRHip), joint(ad.positions_3d, 0, kLHip));
      double max_turn = 0;
      for (int64_t i = 0; i < ad.frames; ++i) {
        V h = sub(joint(ad.positions_3d, i, kRHip), joint(ad.positions_3d, i, kLHip));
        h[2] = 0;
        max_turn = std::max(max_turn, angle_deg({h0[0], h0[1], 0}, h));
      }
      EXPECT_GT(max_turn, 90.0) << s << "/" << a;
    }
}

// Motion is a function of time: the same instant at another fps is the same pose. It is C1:
// sampled at twice the rate, its second differences shrink about 4x (a velocity jump would only
// halve them, a position jump leave them unchanged). The rates are 100 and 200 fps because the
// sharpest features (punch onsets, foot landings) last a few tens of ms, which 50 fps
// under-resolves (the ratio there is about 0.3).
// The acceleration bound is physical: hands in punches and racket swings peak at a few hundred
// m/s^2, not more than 60 g.
TEST(SynthTest, SmoothAndAFunctionOfTime) {
  SynthOptions o50;
  o50.seed = test_seed();
  o50.subjects = {"S1", "S11"};
  o50.frames_per_action = 300;
  SynthOptions o100 = o50, o200 = o50;
  o100.fps = 100;
  o100.frames_per_action = 600;
  o200.fps = 200;
  o200.frames_per_action = 1200;
  const Dataset d50 = synthesize(o50), d100 = synthesize(o100), d200 = synthesize(o200);
  double worst_ratio = 0;
  for (const auto& [s, sd] : d50.subjects)
    for (const auto& [a, ad] : sd.actions) {
      const ActionData& a100 = d100.subjects.at(s).actions.at(a);
      const ActionData& a200 = d200.subjects.at(s).actions.at(a);
      // Same instants, same poses: frame i at 50 fps is frame 2i at 100 fps.
      for (int64_t i = 0; i < ad.frames; i += 37)
        for (int k = 0; k < J * 3; ++k)
          ASSERT_EQ(ad.positions_3d[i * J * 3 + k], a100.positions_3d[2 * i * J * 3 + k])
              << s << "/" << a << " frame " << i;
      const double acc50 = max_second_difference(ad) * 50.0 * 50.0;  // m/s^2
      const double ratio = max_second_difference(a200) / max_second_difference(a100);
      worst_ratio = std::max(worst_ratio, ratio);
      EXPECT_LT(acc50, 600.0) << s << "/" << a << ": max acceleration " << acc50 << " m/s^2";
      EXPECT_LT(ratio, 0.33) << s << "/" << a << ": not C1 (second-difference ratio " << ratio
                             << ", C1 gives about 0.25)";
    }
  std::printf("[synth] worst second-difference ratio 200/100 fps: %.3f\n", worst_ratio);
}

TEST(SynthTest, TwoDIsTheProjectionOfThreeD) {
  const Dataset& d = default_dataset();
  for (const auto& [s, sd] : d.subjects)
    for (const auto& [a, ad] : sd.actions)
      for (const auto& [k, cam] : sd.cameras) {
        const std::vector<float> expected = image_coordinates(
            project_to_2d(world_to_camera(ad.positions_3d, cam), cam), cam.res_w, cam.res_h);
        ASSERT_TRUE(same_bits(ad.positions_2d.at(k), expected)) << s << "/" << a << " cam " << k;
        // In front of the camera in every frame.
        const std::vector<float> xyz = world_to_camera(ad.positions_3d, cam);
        for (size_t n = 0; n < xyz.size() / 3; ++n)
          ASSERT_GT(xyz[n * 3 + 2], 1.0f) << s << "/" << a << " cam " << k;
      }
}

TEST(SynthTest, PerformerInsideEveryImage) {
  const Dataset& d = default_dataset();
  int64_t inside_all = 0, total = 0;
  for (const auto& [s, sd] : d.subjects)
    for (const auto& [a, ad] : sd.actions)
      for (const auto& [k, p2] : ad.positions_2d) {
        const Camera& cam = sd.cameras.at(k);
        int64_t inside = 0;
        for (int64_t i = 0; i < ad.frames; ++i) {
          bool ok = true;
          for (int j = 0; j < J; ++j) {
            const float u = p2[(i * J + j) * 2], v = p2[(i * J + j) * 2 + 1];
            ok = ok && u >= 0 && u < cam.res_w && v >= 0 && v < cam.res_h;
          }
          inside += ok;
        }
        EXPECT_GE(double(inside) / ad.frames, 0.9) << s << "/" << a << " cam " << k;
        inside_all += inside;
        total += ad.frames;
      }
  std::printf("[synth] frames with every joint inside the image: %.2f%%\n",
              100.0 * inside_all / total);
  EXPECT_GE(double(inside_all) / total, 0.98);
}

TEST(SynthTest, BadOptionsThrowNamingTheValue) {
  const auto expect_error = [](const SynthOptions& o, const std::string& needle) {
    try {
      synthesize(o);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  SynthOptions o;
  o.frames_per_action = 0;
  expect_error(o, "frames");
  o = SynthOptions{};
  o.fps = 0;
  expect_error(o, "fps");
  o = SynthOptions{};
  o.actions = {"Walking", "Flying"};
  expect_error(o, "Flying");
  o = SynthOptions{};
  o.subjects = {"S2"};  // a real H36M subject, but without camera extrinsics
  expect_error(o, "S2");
  o = SynthOptions{};
  o.subjects = {"S1", "S1"};
  expect_error(o, "duplicate");
}

TEST(SynthTest, OneFrameWorks) {
  SynthOptions o;
  o.frames_per_action = 1;
  o.subjects = {"S5"};
  const Dataset d = synthesize(o);
  for (const auto& [a, ad] : d.subjects.at("S5").actions) {
    EXPECT_EQ(ad.frames, 1) << a;
    EXPECT_EQ(ad.positions_3d.size(), size_t{J * 3}) << a;
  }
}

TEST(SynthTest, WriteReadRoundTripIsBitIdentical) {
  const Dataset& d = default_dataset();
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("v3d_synth_test_" + std::to_string(::getpid()) + ".h5"))
                               .string();
  const auto t0 = std::chrono::steady_clock::now();
  write_dataset(d, path);
  const double write_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[synth] default dataset: %.1f MB written in %.2f s\n",
              std::filesystem::file_size(path) / 1e6, write_s);
  const Dataset back = read_dataset(path);
  std::filesystem::remove(path);
  expect_same_dataset(d, back);
}

}  // namespace
}  // namespace v3d::data
