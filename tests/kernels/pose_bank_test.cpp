// The Long-term Pose Bank on hand-made inputs whose answers are worked out here, from
// docs/long-term-bank.md, never by calling an implementation. Every test runs on
// each device (cpu, emu, and cuda when present) through runtime/pose_bank.h.
//
// Most poses have two joints with one bone (parents {-1, 0}): joint 0 at a dyadic translation,
// joint 1 = joint 0 + v. With the centroid, A_j - c(A) = -+v_A / 2, so
//   S(A, B) = 1 - |v_A - v_B| / (2 |v_B|),
// and for the unit vectors a = (1, 0), b = (0, 1), c = (-1, 0), d = (0, -1):
//   S = s90 = 1 - sqrt(2) / 2 at 90 degrees, 0 at 180 degrees, S(a', a) = 0.875 for a' = (1, 1/4).
// Dyadic values keep every centre and difference exact in float, so the float results are known
// exactly: s90 = 1 - (sqrtf(0.5) + sqrtf(0.5)) / 2 in the contract's order.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "runtime/pose_bank.h"
#include "runtime/stream.h"
#include "tests/runtime/test_util.h"

namespace v3d {
namespace {

using kernels::PoseCenter;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
const std::vector<int32_t> kOneBone = {-1, 0};

struct V {
  float x, y;
};
const V a{1, 0}, b{0, 1}, c{-1, 0}, d{0, -1}, a_near{1, 0.25f}, nan_pose{kNaN, 0};

// The float the contract's order gives for two unit vectors at 90 degrees.
float s90() { return 1.0f - (std::sqrt(0.5f) + std::sqrt(0.5f)) / 2.0f; }

// S(A, B) of two two-joint poses with bone vectors va, vb (dyadic), in the contract's order: both
// centred differences are -+(vb - va) / 2, the denominator is 2 |vb|.
float s2(V va, V vb) {
  const float dx = -va.x * 0.5f + vb.x * 0.5f, dy = -va.y * 0.5f + vb.y * 0.5f;
  const float term = std::sqrt(dx * dx + dy * dy);
  return 1.0f - (term + term) / (2.0f * std::sqrt(vb.x * vb.x + vb.y * vb.y));
}

// (n, 2, 2) poses: frame f's joint 0 at (f / 2, -f / 4), joint 1 = joint 0 + v[f].
std::vector<float> two_joint_poses(const std::vector<V>& v) {
  std::vector<float> p;
  for (size_t f = 0; f < v.size(); ++f) {
    const float tx = 0.5f * static_cast<float>(f), ty = -0.25f * static_cast<float>(f);
    p.insert(p.end(), {tx, ty, tx + v[f].x, ty + v[f].y});
  }
  return p;
}

std::vector<int32_t> iota_i32(int32_t n) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = i;
  return v;
}

class PoseBankTest : public test::DeviceTest {
 protected:
  // The result of a call once the device finished it: a GPU reports index errors it found then.
  template <class T>
  T checked(T result) const {
    synchronize(dev());
    return result;
  }
  Tensor f32(const std::vector<float>& v, const Shape& s) const {
    return Tensor::from_vector(v, s, dev());
  }
  Tensor i32(const std::vector<int32_t>& v) const {
    return Tensor::from_vector_i32(v, {static_cast<int64_t>(v.size())}, dev());
  }
  Tensor poses(const std::vector<float>& p, int64_t joints) const {
    return f32(p, {static_cast<int64_t>(p.size()) / (joints * 2), joints, 2});
  }
  // S(a_i, b_k) of single poses.
  float sim(const std::vector<float>& pa, const std::vector<float>& pb,
            const std::vector<int32_t>& parents, PoseCenter center = PoseCenter::kCentroid) const {
    const int64_t j = static_cast<int64_t>(parents.size());
    return ops::pose_similarity(poses(pa, j), poses(pb, j), i32(parents), center).item();
  }
  ops::PoseBankOutput bank(
      const std::vector<V>& v, const std::vector<int32_t>& offsets, int capacity, float threshold,
      kernels::PoseAccumulate accumulate = kernels::PoseAccumulate::kEntries) const {
    kernels::PoseBankSettings st;
    st.capacity = capacity;
    st.threshold = threshold;
    st.accumulate = accumulate;
    return ops::pose_bank(poses(two_joint_poses(v), 2), i32(offsets), i32(kOneBone),
                          PoseCenter::kCentroid, st, true);
  }
  // The index map of two-joint poses with the given banks; bank_row defaults to each frame's
  // sequence (offline).
  std::vector<int32_t> fuse(const std::vector<V>& v, const std::vector<int32_t>& offsets,
                            const std::vector<int32_t>& banks, int capacity, int radius,
                            int max_insert, float threshold, std::vector<int32_t> bank_row = {},
                            std::vector<int32_t>* fused = nullptr) const {
    kernels::PoseFuseSettings st;
    st.radius = radius;
    st.max_insert = max_insert;
    st.fusion_threshold = threshold;
    st.capacity = capacity;
    return fuse_with(v, offsets, banks, st, std::move(bank_row), fused);
  }
  // The same with every setting given (placement, gate).
  std::vector<int32_t> fuse_with(const std::vector<V>& v, const std::vector<int32_t>& offsets,
                                 const std::vector<int32_t>& banks,
                                 const kernels::PoseFuseSettings& st,
                                 std::vector<int32_t> bank_row = {},
                                 std::vector<int32_t>* fused = nullptr) const {
    const int capacity = st.capacity;
    if (bank_row.empty())
      for (size_t k = 0; k + 1 < offsets.size(); ++k)
        for (int32_t g = offsets[k]; g < offsets[k + 1]; ++g)
          bank_row.push_back(static_cast<int32_t>(k));
    const int64_t rows = static_cast<int64_t>(banks.size()) / capacity;
    const Tensor flags = Tensor::zeros({offsets.back()}, DType::kI32, dev());
    const Tensor map = ops::pose_bank_fuse(
        poses(two_joint_poses(v), 2), i32(offsets), i32(kOneBone), PoseCenter::kCentroid, st,
        Tensor::from_vector_i32(banks, {rows, capacity}, dev()), i32(bank_row), flags);
    if (fused != nullptr) *fused = flags.to_vector_i32();
    return map.to_vector_i32();
  }
};

// ---- similarity --------------------------------------------------------------------------------

TEST_P(PoseBankTest, IdenticalPosesGiveExactlyOne) {
  // Any pose: every centred difference is x + (-x) = 0.
  const std::vector<float> p = {0.3f, -1.7f, 2.9f, 0.1f, -0.6f, 5.5f};
  EXPECT_EQ(sim(p, p, {-1, 0, 1}), 1.0f);
  EXPECT_EQ(sim(p, p, {-1, 0, 1}, PoseCenter::kRoot), 1.0f);
}

TEST_P(PoseBankTest, WorkedValueAsymmetryAndInvariance) {
  // v_A = (2, 0), v_B = (0, 1): |v_A - v_B| = sqrt(5); S(A, B) = 1 - sqrt(5) / 2,
  // S(B, A) = 1 - sqrt(5) / 4: B is the reference whose bone length normalises.
  const std::vector<float> pa = {0, 0, 2, 0}, pb = {0, 0, 0, 1};
  EXPECT_NEAR(sim(pa, pb, kOneBone), 1.0 - std::sqrt(5.0) / 2.0, 1e-6);
  EXPECT_NEAR(sim(pb, pa, kOneBone), 1.0 - std::sqrt(5.0) / 4.0, 1e-6);
  EXPECT_LT(sim(pa, pb, kOneBone), 0.0f);  // S can be negative
  // A common translation of both, a different translation of each, and a common scale by 2
  // (all exact in float) leave S unchanged bit for bit.
  const float s = sim(pa, pb, kOneBone);
  EXPECT_EQ(sim({3.5f, -1, 5.5f, -1}, {-2, 4, -2, 5}, kOneBone), s);
  EXPECT_EQ(sim({0, 0, 4, 0}, {0, 0, 0, 2}, kOneBone), s);
  EXPECT_EQ(sim({8, 8, 12, 8}, {1, 1, 1, 3}, kOneBone), s);
}

TEST_P(PoseBankTest, RootCentreDiffersFromCentroid) {
  // J = 4, every joint a child of joint 0. A: joints 1-3 at (4, 0); B: joints 1-3 at (0, 4).
  // L(B) = 4, J L(B) = 16.
  // centroid: c(A) = (3, 0), c(B) = (0, 3); differences (-3, 3) and 3 x (1, -1): sum 6 sqrt(2).
  // root:     differences (0, 0) and 3 x (4, -4): sum 12 sqrt(2).
  const std::vector<int32_t> star = {-1, 0, 0, 0};
  const std::vector<float> pa = {0, 0, 4, 0, 4, 0, 4, 0}, pb = {0, 0, 0, 4, 0, 4, 0, 4};
  EXPECT_NEAR(sim(pa, pb, star), 1.0 - 6.0 * std::sqrt(2.0) / 16.0, 1e-6);
  EXPECT_NEAR(sim(pa, pb, star, PoseCenter::kRoot), 1.0 - 12.0 * std::sqrt(2.0) / 16.0, 1e-6);
}

TEST_P(PoseBankTest, DenominatorFloorOfOneMillionth) {
  // B collapsed to a point: L(B) = 0, the denominator is 1e-6; |A_j - c(A)| = 1/2 twice.
  const std::vector<float> point = {5, 5, 5, 5}, pa = {0, 0, 1, 0};
  EXPECT_NEAR(sim(pa, point, kOneBone), 1.0 - 1.0 / 1e-6, 0.5);
  EXPECT_EQ(sim(point, point, kOneBone), 1.0f);  // 0 / 1e-6
  EXPECT_EQ(sim(point, pa, kOneBone), 0.5f);     // the reference pa has J L = 2
  // No bone at all in the skeleton: L = 0 too.
  EXPECT_NEAR(sim(pa, {0, 0, 0, 1}, {-1, -1}), 1.0 - std::sqrt(2.0) / 1e-6, 2.0);
}

TEST_P(PoseBankTest, InvalidPosesAreMinusInfinity) {
  const std::vector<float> good = {0, 0, 1, 0};
  for (const float bad : {kNaN, kInf, -kInf}) {
    const std::vector<float> p = {0, 0, bad, 0};
    EXPECT_EQ(sim(p, good, kOneBone), -kInf);
    EXPECT_EQ(sim(good, p, kOneBone), -kInf);
    EXPECT_EQ(sim(p, p, kOneBone), -kInf);
  }
  // N x M layout: s[n, m] = S(a_n, b_m).
  const Tensor s = ops::pose_similarity(poses({0, 0, 1, 0, 0, 0, 0, 1}, 2),
                                        poses({0, 0, 0, 1, 0, 0, kNaN, 1, 0, 0, 1, 0}, 2),
                                        i32(kOneBone), PoseCenter::kCentroid);
  ASSERT_EQ(s.shape(), Shape({2, 3}));
  EXPECT_EQ(s.to_vector(), (std::vector<float>{s90(), -kInf, 1.0f, 1.0f, -kInf, s90()}));
}

// ---- the bank --------------------------------------------------------------------------------

TEST_P(PoseBankTest, CapacityTwoHistoryWithTieRule) {
  // T = 0.7, capacity 2. With |v| = 1 for every entry S is symmetric bit for bit, so the two
  // entries always have equal AS and every eviction is decided by the tie rule.
  //   f0 a:       empty bank -> slot 0                                   [0, -1]
  //   f1 a_near:  S(a_near, a) = 0.875 >= 0.7 -> rejected                 [0, -1]
  //   f2 NaN:     invalid -> no change                                    [0, -1]
  //   f3 b:       S(b, a) = s90 < 0.7 -> appended                         [0, 3]
  //   f4 c:       S = 0, s90; full, AS tie -> smallest frame 0 (slot 0)   [4, 3]
  //   f5 d:       S = s90, 0; full, AS tie -> smallest frame 3 (SLOT 1)   [4, 5]
  //   f6 c again: S(c, c) = 1 -> rejected                                 [4, 5]
  const auto out = bank({a, a_near, nan_pose, b, c, d, c}, {0, 7}, 2, 0.7f);
  EXPECT_EQ(out.history.to_vector_i32(),
            (std::vector<int32_t>{0, -1, 0, -1, 0, -1, 0, 3, 4, 3, 4, 5, 4, 5}));
  EXPECT_EQ(out.frames.to_vector_i32(), (std::vector<int32_t>{4, 5}));
  EXPECT_EQ(out.size.to_vector_i32(), (std::vector<int32_t>{2}));
  EXPECT_EQ(out.as.to_vector(), (std::vector<float>{s90(), s90()}));
}

TEST_P(PoseBankTest, CapacityThreeEvictsTheLargestAs) {
  // T = 0.7, capacity 3.
  //   f0 a, f1 b, f2 c: appended                  [0, 1, 2]; AS = [s90 + 0, s90 + s90, 0 + s90]
  //   f3 d: S = s90, 0, s90; full -> largest AS is b (slot 1)  [0, 3, 2]
  //         AS = [s90 + 0, s90 + s90, 0 + s90] (d sits at 90 degrees to a and c)
  //   f4 +Inf pose: invalid, no change
  //   f5 b: S = s90, 0, s90; full -> largest AS is d (slot 1)  [0, 5, 2]
  //   f6 a_near: S(a_near, a) = 0.875 -> rejected
  const V inf_pose{kInf, 0};
  const auto out = bank({a, b, c, d, inf_pose, b, a_near}, {0, 7}, 3, 0.7f);
  EXPECT_EQ(out.history.to_vector_i32(), (std::vector<int32_t>{0, -1, -1, 0, 1, -1, 0, 1, 2, 0, 3,
                                                               2, 0,  3,  2, 0, 5,  2, 0, 5, 2}));
  EXPECT_EQ(out.frames.to_vector_i32(), (std::vector<int32_t>{0, 5, 2}));
  EXPECT_EQ(out.as.to_vector(), (std::vector<float>{s90() + 0.0f, s90() + s90(), 0.0f + s90()}));
  EXPECT_EQ(out.size.to_vector_i32(), (std::vector<int32_t>{3}));
}

TEST_P(PoseBankTest, EmptyInvalidAndSingleFrameSequences) {
  // Sequences: [], [NaN, NaN], [b], [a, b] (capacity 3, T = 0.7). Frames are local.
  const auto out = bank({nan_pose, nan_pose, b, a, b}, {0, 0, 2, 3, 5}, 3, 0.7f);
  EXPECT_EQ(out.frames.to_vector_i32(),
            (std::vector<int32_t>{-1, -1, -1, -1, -1, -1, 0, -1, -1, 0, 1, -1}));
  EXPECT_EQ(out.size.to_vector_i32(), (std::vector<int32_t>{0, 0, 1, 2}));
  EXPECT_EQ(out.as.to_vector(), (std::vector<float>{0, 0, 0, 0, 0, 0, 0, 0, 0, s90(), s90(), 0}));
  EXPECT_EQ(out.history.to_vector_i32(),
            (std::vector<int32_t>{-1, -1, -1, -1, -1, -1, 0, -1, -1, 0, -1, -1, 0, 1, -1}));
  // No sequence at all.
  kernels::PoseBankSettings st;
  const auto none =
      ops::pose_bank(poses({}, 2), i32({0}), i32(kOneBone), PoseCenter::kCentroid, st, false);
  EXPECT_EQ(none.frames.numel(), 0);
  EXPECT_FALSE(none.history.defined());
}

TEST_P(PoseBankTest, AccumulatedOverOfferedFrames) {
  // accumulate = offered, T = 0.7, capacity 2; b_near = (1/4, 1).
  //   f0 a:       empty bank -> slot 0                             [0, -1]  AS [0]
  //   f1 b:       S(b, a) = s90 -> appended; a adds s90            [0, 1]   AS [s90, 0]
  //   f2 b_near:  S(b_near, a) = 0.375, S(b_near, b) = 0.875 >= T: rejected, both added
  //                                                                [0, 1]   AS [s90 + 0.375, 0.875]
  //   f3 c:       S(c, a) = 0, S(c, b) = s90: full, the largest AS is b's (slot 1)
  //                                                                [0, 3]   AS [.. + 0, 0]
  //   f4 NaN:     no change
  //   f5 a_near:  S(a_near, a) = 0.875 >= T in slot 0; slot 1 still adds S(a_near, c)
  //                                                                [0, 3]
  // Entries' AS (the default) are symmetric here, so f3 evicts by the tie rule (frame 0) and f5
  // (S(a_near, c) and S(a_near, b) = 0.375 below T) evicts frame 1 by the tie rule: [3, 5].
  const V b_near{0.25f, 1};
  const std::vector<V> v = {a, b, b_near, c, nan_pose, a_near};
  EXPECT_EQ(s2(b_near, a), 0.375f);
  EXPECT_EQ(s2(b_near, b), 0.875f);
  const auto out = bank(v, {0, 6}, 2, 0.7f, kernels::PoseAccumulate::kOffered);
  EXPECT_EQ(out.history.to_vector_i32(),
            (std::vector<int32_t>{0, -1, 0, 1, 0, 1, 0, 3, 0, 3, 0, 3}));
  EXPECT_EQ(out.frames.to_vector_i32(), (std::vector<int32_t>{0, 3}));
  EXPECT_EQ(out.as.to_vector(),
            (std::vector<float>{((s90() + 0.375f) + 0.0f) + 0.875f, 0.0f + s2(a_near, c)}));
  EXPECT_EQ(out.size.to_vector_i32(), (std::vector<int32_t>{2}));
  const auto entries = bank(v, {0, 6}, 2, 0.7f);
  EXPECT_EQ(entries.frames.to_vector_i32(), (std::vector<int32_t>{3, 5}));
}

// ---- fusion ------------------------------------------------------------------------------------

// Sequence 1 (20 frames) of the fusion tests: valid poses at frames 0 (b), 2 (a), 9 (a), 10 (a),
// 14 (c), 17 (a_near); NaN elsewhere. Its bank (capacity 8): frames 0, 2, 5 (NaN), 9, 14, 17.
std::vector<V> fusion_sequence() {
  std::vector<V> v(20, nan_pose);
  v[0] = b;
  v[2] = a;
  v[9] = a;
  v[10] = a;
  v[14] = c;
  v[17] = a_near;
  return v;
}
const std::vector<int32_t> kFusionBank = {0, 2, 5, 9, 14, 17, -1, -1};

// The plain window of frame t in a sequence of n frames: clamp(t - r + w).
std::vector<int32_t> plain(int32_t t, int32_t n, int32_t r) {
  std::vector<int32_t> w;
  for (int32_t i = t - r; i <= t + r; ++i) w.push_back(std::min(std::max(i, 0), n - 1));
  return w;
}

std::vector<int32_t> map_row(const std::vector<int32_t>& map, int64_t g, int window) {
  return {map.begin() + g * window, map.begin() + (g + 1) * window};
}

TEST_P(PoseBankTest, FusionMapOfEveryFrame) {
  // r = 3, max_insert 3, fusion threshold 0.7. Candidates are S(entry, x_t) >= 0.7 outside
  // [t - 3, t + 3]:
  //   t = 10 (a): 2 (S = 1) and 17 (S(a_near, a) = 0.875); 9 lies inside; 0 (s90), 14 (0) too low;
  //               5 is NaN -> the doc example [t-2, t-1, a, t, b, t+1, t+2] = [8, 9, 2, 10, 17, 11,
  //               12]
  //   t = 9 (a):  2 and 17 -> [7, 8, 2, 9, 17, 10, 11]
  //   t = 2 (a):  9 (S = 1) and 17 (0.875); 0 inside -> [0, 1, 9, 2, 17, 3, 4] (clamped at 0)
  //   t = 17 (a_near, |v| = sqrt(17) / 4): 2 and 9 have the same S = 1 - (1/4) / (sqrt(17) / 2)
  //               = 0.879 >= 0.7: a tie, the smaller frame first -> [15, 16, 2, 17, 9, 18, 19]
  //   t = 0 (b):  9 (s90), 14 (s90), 17 (0.375): none -> plain;  t = 14 (c): 0 (s90), 2, 9 (0) ->
  //               plain; NaN centres -> plain.
  // Sequence 0 (2 frames, shorter than the window) has an empty bank: plain, clamped.
  std::vector<V> v = {a, a};
  const std::vector<V> seq = fusion_sequence();
  v.insert(v.end(), seq.begin(), seq.end());
  std::vector<int32_t> banks(8, -1);
  banks.insert(banks.end(), kFusionBank.begin(), kFusionBank.end());
  std::vector<int32_t> fused;
  const std::vector<int32_t> map = fuse(v, {0, 2, 22}, banks, 8, 3, 3, 0.7f, {}, &fused);
  ASSERT_EQ(map.size(), 22u * 7u);
  EXPECT_EQ(map_row(map, 0, 7), (std::vector<int32_t>{0, 0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(map_row(map, 1, 7), (std::vector<int32_t>{0, 0, 0, 1, 1, 1, 1}));
  for (int32_t t = 0; t < 20; ++t) {
    std::vector<int32_t> want = plain(t, 20, 3);
    if (t == 10) want = {8, 9, 2, 10, 17, 11, 12};
    if (t == 9) want = {7, 8, 2, 9, 17, 10, 11};
    if (t == 2) want = {0, 1, 9, 2, 17, 3, 4};
    if (t == 17) want = {15, 16, 2, 17, 9, 18, 19};
    EXPECT_EQ(map_row(map, 2 + t, 7), want) << "frame " << t;
    EXPECT_EQ(fused[static_cast<size_t>(2 + t)], (t == 2 || t == 9 || t == 10 || t == 17) ? 1 : 0)
        << "frame " << t;
  }
  EXPECT_EQ(fused[0], 0);
  EXPECT_EQ(fused[1], 0);
}

TEST_P(PoseBankTest, FusionLimitsAndThreshold) {
  const std::vector<V> v = fusion_sequence();
  const auto row10 = [&](int r, int max_insert, float threshold) {
    return map_row(fuse(v, {0, 20}, kFusionBank, 8, r, max_insert, threshold), 10, 2 * r + 1);
  };
  // max_insert 1: only a = 2 goes left, the right half is plain.
  EXPECT_EQ(row10(3, 1, 0.7f), (std::vector<int32_t>{8, 9, 2, 10, 11, 12, 13}));
  // max_insert 0 (and negative): plain.
  EXPECT_EQ(row10(3, 0, 0.7f), plain(10, 20, 3));
  EXPECT_EQ(row10(3, -5, 0.7f), plain(10, 20, 3));
  // The threshold is inclusive: 0.875 keeps 17, just above drops it.
  EXPECT_EQ(row10(3, 3, 0.875f), (std::vector<int32_t>{8, 9, 2, 10, 17, 11, 12}));
  EXPECT_EQ(row10(3, 3, 0.876f), (std::vector<int32_t>{8, 9, 2, 10, 11, 12, 13}));
  // Threshold -1: candidates 2 (1), 17 (0.875), 0 (s90), 14 (0); max_insert 100 is clamped to 2r:
  // all four, left ranks 0, 2 (2, 0), right ranks 1, 3 (17, 14):
  // [t-1, 0, 2, t, 17, 14, t+1].
  EXPECT_EQ(row10(3, 100, -1.0f), (std::vector<int32_t>{9, 0, 2, 10, 17, 14, 11}));
  // r = 1, max_insert 2 (= 2r): the window [9, 11] holds 9; candidates with threshold -1 are
  // 2, 17, 0, 14 -> keep two: [2, 10, 17].
  EXPECT_EQ(row10(1, 2, -1.0f), (std::vector<int32_t>{2, 10, 17}));
  // r = 0: a single frame, never fused.
  EXPECT_EQ(row10(0, 5, -1.0f), (std::vector<int32_t>{10}));
  // A wider window (r = 8, [2, 18]) holds 2, 9, 14 and 17: only 0 remains, below 0.7 -> plain.
  EXPECT_EQ(row10(8, 8, 0.7f), plain(10, 20, 8));
}

TEST_P(PoseBankTest, FusionNeedsAValidCentreAndValidEntries) {
  // Frame 10's centre is NaN: plain, even with a bank full of candidates.
  std::vector<V> v = fusion_sequence();
  v[10] = nan_pose;
  EXPECT_EQ(map_row(fuse(v, {0, 20}, kFusionBank, 8, 3, 3, -1e30f), 10, 7), plain(10, 20, 3));
  // Only NaN entries and entries outside the sequence (21, -1) in the bank: plain at frame 9.
  EXPECT_EQ(map_row(fuse(fusion_sequence(), {0, 20}, {5, 6, 21, -1}, 4, 3, 3, -1e30f), 9, 7),
            plain(9, 20, 3));
}

TEST_P(PoseBankTest, OnlineFusionSeesTheBankAfterEachFrame) {
  // Frames: 0 a, 1-10 NaN, 11 a_near. Bank threshold 0.9: a_near (S = 0.875) enters at frame 11.
  // Offline (the final bank {0, 11}), frame 0 takes 11 (S(a_near, a) = 0.875 >= 0.7); online,
  // frame 0 sees only {0}, inside its window: plain. Frame 11 takes 0 either way.
  std::vector<V> v(12, nan_pose);
  v[0] = a;
  v[11] = a_near;
  const auto b12 = bank(v, {0, 12}, 4, 0.9f);
  EXPECT_EQ(b12.frames.to_vector_i32(), (std::vector<int32_t>{0, 11, -1, -1}));
  const std::vector<int32_t> offline = fuse(v, {0, 12}, b12.frames.to_vector_i32(), 4, 3, 3, 0.7f);
  const std::vector<int32_t> online =
      fuse(v, {0, 12}, b12.history.to_vector_i32(), 4, 3, 3, 0.7f, iota_i32(12));
  EXPECT_EQ(map_row(offline, 0, 7), (std::vector<int32_t>{0, 0, 11, 0, 1, 2, 3}));
  EXPECT_EQ(map_row(online, 0, 7), plain(0, 12, 3));
  const std::vector<int32_t> at11 = {9, 10, 0, 11, 11, 11, 11};
  EXPECT_EQ(map_row(offline, 11, 7), at11);
  EXPECT_EQ(map_row(online, 11, 7), at11);
}

// The placement and gate tests' sequence (14 frames, all valid): the centre t = 6 is a, r = 2, so
// its plain window is [4, 5, 6, 7, 8] = [a, a_near, a, b, a] with local similarities
// l = S(L_w, a) = [1, 0.875, -, s90, 1]. The bank {0 (a), 11 (a_near), 13 (a)} lies outside it;
// its candidates by S(entry, a) descending, ties by the smaller frame: 0 (1), 13 (1), 11 (0.875).
std::vector<V> placement_sequence() { return {a, b, c, d, a, a_near, a, b, a, c, d, a_near, b, a}; }
const std::vector<int32_t> kPlacementBank = {0, 11, 13, -1};

kernels::PoseFuseSettings rules(int max_insert, kernels::PosePlacement placement,
                                kernels::PoseGate gate = kernels::PoseGate::kOff,
                                float gate_threshold = 0.7f) {
  kernels::PoseFuseSettings st;
  st.radius = 2;
  st.max_insert = max_insert;
  st.fusion_threshold = 0.7f;
  st.capacity = 4;
  st.placement = placement;
  st.gate = gate;
  st.gate_threshold = gate_threshold;
  return st;
}

TEST_P(PoseBankTest, FusionPlacements) {
  using P = kernels::PosePlacement;
  const std::vector<V> v = placement_sequence();
  const auto row6 = [&](const kernels::PoseFuseSettings& st) {
    std::vector<int32_t> fused;
    const std::vector<int32_t> map = fuse_with(v, {0, 14}, kPlacementBank, st, {}, &fused);
    EXPECT_EQ(fused[6], 1);
    return map_row(map, 6, 5);
  };
  // Two poses: 0 goes left (rank 0), 13 right (rank 1).
  //   next to the centre: [t-1, 0, t, 13, t+1]
  //   outermost:          [0, t-2, t-1, ..]: slots 0 and 4 -> [0, 5, 6, 7, 13]
  //   least similar:      left l = [1, 0.875] -> slot 1; right l = [s90, 1] -> slot 3
  EXPECT_EQ(row6(rules(2, P::kNextToCenter)), (std::vector<int32_t>{5, 0, 6, 13, 7}));
  EXPECT_EQ(row6(rules(2, P::kOutermost)), (std::vector<int32_t>{0, 5, 6, 7, 13}));
  EXPECT_EQ(row6(rules(2, P::kLeastSimilar)), (std::vector<int32_t>{4, 0, 6, 13, 8}));
  // Three: 11 (rank 2) goes left too, outside 0: the best of a half is innermost.
  //   next to the centre: [11, 0, t, 13, t+1]
  //   outermost:          left slots 0, 1 (0 innermost) -> [11, 0, 6, 7, 13]
  //   least similar:      both left slots -> [11, 0, 6, 13, 8]
  EXPECT_EQ(row6(rules(3, P::kNextToCenter)), (std::vector<int32_t>{11, 0, 6, 13, 7}));
  EXPECT_EQ(row6(rules(3, P::kOutermost)), (std::vector<int32_t>{11, 0, 6, 7, 13}));
  EXPECT_EQ(row6(rules(3, P::kLeastSimilar)), (std::vector<int32_t>{11, 0, 6, 13, 8}));
  // Ties in l: with frame 8 = b too, the right half's l = [s90, s90]: the outer slot (4) first.
  std::vector<V> tie = v;
  tie[8] = b;
  std::vector<int32_t> fused;
  const std::vector<int32_t> map =
      fuse_with(tie, {0, 14}, kPlacementBank, rules(2, P::kLeastSimilar), {}, &fused);
  EXPECT_EQ(map_row(map, 6, 5), (std::vector<int32_t>{4, 0, 6, 7, 13}));
  // An invalid local frame has l = -inf: with frame 4 NaN the left half replaces slot 0.
  std::vector<V> hole = v;
  hole[4] = nan_pose;
  EXPECT_EQ(map_row(fuse_with(hole, {0, 14}, kPlacementBank, rules(2, P::kLeastSimilar)), 6, 5),
            (std::vector<int32_t>{0, 5, 6, 13, 8}));
  // Frames without candidates stay plain under every placement (frame 1, b: 0, 11 and 13 have
  // S(., b) = s90, 0.375 and s90, all below 0.7).
  for (const P p : {P::kNextToCenter, P::kOutermost, P::kLeastSimilar})
    EXPECT_EQ(map_row(fuse_with(v, {0, 14}, kPlacementBank, rules(2, p)), 1, 5), plain(1, 14, 2));
}

TEST_P(PoseBankTest, FusionIncoherenceGate) {
  using P = kernels::PosePlacement;
  using G = kernels::PoseGate;
  const std::vector<V> v = placement_sequence();
  const std::vector<int32_t> fused_row = {5, 0, 6, 13, 7}, plain_row = plain(6, 14, 2);
  const auto row6 = [&](G gate, float threshold, int32_t want_fused) {
    std::vector<int32_t> fused;
    const std::vector<int32_t> map = fuse_with(
        v, {0, 14}, kPlacementBank, rules(2, P::kNextToCenter, gate, threshold), {}, &fused);
    EXPECT_EQ(fused[6], want_fused);
    return map_row(map, 6, 5);
  };
  // min l = s90 (frame 7): fused below any threshold above it, plain at or below it.
  EXPECT_EQ(row6(G::kMin, 0.5f, 1), fused_row);
  EXPECT_EQ(row6(G::kMin, std::nextafter(s90(), 1.0f), 1), fused_row);
  EXPECT_EQ(row6(G::kMin, s90(), 0), plain_row);
  EXPECT_EQ(row6(G::kMin, 0.25f, 0), plain_row);
  // mean l = (((1 + 0.875) + s90) + 1) / 4 in slot order: the threshold is strict.
  const float mean = (((1.0f + 0.875f) + s90()) + 1.0f) / 4.0f;
  EXPECT_EQ(row6(G::kMean, std::nextafter(mean, 1.0f), 1), fused_row);
  EXPECT_EQ(row6(G::kMean, mean, 0), plain_row);
  EXPECT_EQ(row6(G::kMean, 0.5f, 0), plain_row);  // the min gate would fuse here
  // Off: fused whatever the threshold.
  EXPECT_EQ(row6(G::kOff, -1e30f, 1), fused_row);
  // An invalid local frame makes the window incoherent (l = -inf) under both statistics: the
  // fusion sequence's frame 10 (frames 7, 8, 11, 12, 13 NaN) fuses even below -1e30.
  for (const G gate : {G::kMin, G::kMean}) {
    kernels::PoseFuseSettings st;
    st.radius = 3;
    st.max_insert = 3;
    st.capacity = 8;
    st.gate = gate;
    st.gate_threshold = -1e30f;
    EXPECT_EQ(map_row(fuse_with(fusion_sequence(), {0, 20}, kFusionBank, st), 10, 7),
              (std::vector<int32_t>{8, 9, 2, 10, 17, 11, 12}));
  }
  // The gate combines with a placement: least similar, gate min 0.5 -> [4, 0, 6, 13, 8].
  EXPECT_EQ(
      map_row(fuse_with(v, {0, 14}, kPlacementBank, rules(2, P::kLeastSimilar, G::kMin, 0.5f)), 6,
              5),
      (std::vector<int32_t>{4, 0, 6, 13, 8}));
  EXPECT_EQ(
      map_row(fuse_with(v, {0, 14}, kPlacementBank, rules(2, P::kLeastSimilar, G::kMin, 0.25f)), 6,
              5),
      plain_row);
}

// Causal windows (causal models): the placement sequence's frame 6 (a), r = 2, has the window
// [2, 3, 4, 5, 6] = [c, d, a, a_near, a] with past similarities l = S(L_w, a) = [0, s90, 1,
// 0.875]. The bank {0, 11, 13} lies outside it; candidates 0 (1), 13 (1), 11 (0.875), all into
// the past half, rank q the q-th replaced slot from the centre.
TEST_P(PoseBankTest, CausalWindowsFuseIntoThePastHalf) {
  using P = kernels::PosePlacement;
  using G = kernels::PoseGate;
  const std::vector<V> v = placement_sequence();
  const auto row6 = [&](kernels::PoseFuseSettings st, int32_t want_fused = 1) {
    st.causal = true;
    std::vector<int32_t> fused;
    const std::vector<int32_t> map = fuse_with(v, {0, 14}, kPlacementBank, st, {}, &fused);
    EXPECT_EQ(fused[6], want_fused);
    return map_row(map, 6, 5);
  };
  const std::vector<int32_t> plain_row = {2, 3, 4, 5, 6};
  //   next to the centre: 0 beside t, 13 before it, the local frames shifted into the past:
  //                       [t-2, t-1, 13, 0, t]; three: [t-1, 11, 13, 0, t]
  EXPECT_EQ(row6(rules(2, P::kNextToCenter)), (std::vector<int32_t>{4, 5, 13, 0, 6}));
  EXPECT_EQ(row6(rules(3, P::kNextToCenter)), (std::vector<int32_t>{5, 11, 13, 0, 6}));
  //   outermost: slots 0 .. k - 1, the best innermost: [13, 0, 4, 5, 6], [11, 13, 0, 5, 6]
  EXPECT_EQ(row6(rules(2, P::kOutermost)), (std::vector<int32_t>{13, 0, 4, 5, 6}));
  EXPECT_EQ(row6(rules(3, P::kOutermost)), (std::vector<int32_t>{11, 13, 0, 5, 6}));
  //   least similar: l = [0, s90, 1, 0.875] -> slots 0, 1 (then 3), the best innermost
  EXPECT_EQ(row6(rules(2, P::kLeastSimilar)), (std::vector<int32_t>{13, 0, 4, 5, 6}));
  EXPECT_EQ(row6(rules(3, P::kLeastSimilar)), (std::vector<int32_t>{11, 13, 4, 0, 6}));
  // max_insert 4 = 2r takes every candidate (three): [5, 11, 13, 0, 6].
  EXPECT_EQ(row6(rules(100, P::kNextToCenter)), (std::vector<int32_t>{5, 11, 13, 0, 6}));
  // The gate sees the 2r past slots: min l = 0 (frame 2), mean (((0 + s90) + 1) + 0.875) / 4.
  EXPECT_EQ(row6(rules(2, P::kNextToCenter, G::kMin, std::nextafter(0.0f, 1.0f))),
            (std::vector<int32_t>{4, 5, 13, 0, 6}));
  EXPECT_EQ(row6(rules(2, P::kNextToCenter, G::kMin, 0.0f), 0), plain_row);
  const float mean = (((0.0f + s90()) + 1.0f) + 0.875f) / 4.0f;
  EXPECT_EQ(row6(rules(2, P::kNextToCenter, G::kMean, std::nextafter(mean, 1.0f))),
            (std::vector<int32_t>{4, 5, 13, 0, 6}));
  EXPECT_EQ(row6(rules(2, P::kNextToCenter, G::kMean, mean), 0), plain_row);
  // The first frame: frame 0 (a), its window [0, 0, 0, 0, 0] padded at the start, with the
  // bank's later 11 and 13 (offline) -> [0, 0, 11, 13, 0]: 13 (S = 1) beside t, 11 (0.875)
  // before it.
  EXPECT_EQ(map_row(fuse_with(v, {0, 14}, kPlacementBank,
                              [] {
                                kernels::PoseFuseSettings st = rules(2, P::kNextToCenter);
                                st.causal = true;
                                return st;
                              }()),
                    0, 5),
            (std::vector<int32_t>{0, 0, 11, 13, 0}));
}

// The streaming bank (CPU): each push is the batch ops' online history row and causal map row of
// that frame, frame by frame.
TEST(PoseBankStream, EqualsTheBatchOpsInOnlineMode) {
  std::vector<V> v;
  for (int k = 0; k < 6; ++k) {
    const std::vector<V> p = placement_sequence();
    v.insert(v.end(), p.begin(), p.end());
  }
  v[17] = nan_pose;
  const int32_t n = static_cast<int32_t>(v.size());
  const std::vector<float> poses = two_joint_poses(v);
  for (const auto placement :
       {kernels::PosePlacement::kNextToCenter, kernels::PosePlacement::kLeastSimilar}) {
    kernels::PoseBankSettings bs;
    bs.capacity = 5;
    bs.threshold = 0.9f;
    kernels::PoseFuseSettings fs = rules(3, placement);
    fs.radius = 3;
    fs.capacity = 5;
    fs.causal = true;
    const Tensor p = Tensor::from_vector(poses, {n, 2, 2});
    const Tensor offsets = Tensor::from_vector_i32({0, n}, {2});
    const Tensor parents = Tensor::from_vector_i32(kOneBone, {2});
    const ops::PoseBankOutput bank =
        ops::pose_bank(p, offsets, parents, PoseCenter::kCentroid, bs, true);
    std::vector<int32_t> rows(static_cast<size_t>(n));
    for (int32_t g = 0; g < n; ++g) rows[static_cast<size_t>(g)] = g;
    const Tensor fused = Tensor::zeros({n}, DType::kI32);
    const std::vector<int32_t> map =
        ops::pose_bank_fuse(p, offsets, parents, PoseCenter::kCentroid, fs, bank.history,
                            Tensor::from_vector_i32(rows, {n}), fused)
            .to_vector_i32();
    const std::vector<int32_t> history = bank.history.to_vector_i32(),
                               flags = fused.to_vector_i32();
    kernels::cpu::PoseBankStream stream({2, kOneBone.data(), PoseCenter::kCentroid}, bs, fs);
    int64_t any = 0;
    for (int32_t t = 0; t < n; ++t) {
      std::vector<int32_t> row(7);
      const int k = stream.push(poses.data(), row.data());
      EXPECT_EQ(row, map_row(map, t, 7)) << "frame " << t;
      EXPECT_EQ(k > 0 ? 1 : 0, flags[static_cast<size_t>(t)]) << "frame " << t;
      EXPECT_EQ(stream.bank(),
                std::vector<int32_t>(history.begin() + t * 5, history.begin() + (t + 1) * 5))
          << "frame " << t;
      any += k > 0;
    }
    EXPECT_GT(any, 0) << "the test needs fused frames";
  }
  kernels::PoseFuseSettings centred = rules(3, kernels::PosePlacement::kNextToCenter);
  EXPECT_THROW(kernels::cpu::PoseBankStream({2, kOneBone.data(), PoseCenter::kCentroid},
                                            kernels::PoseBankSettings{4, 0.9f}, centred),
               Error);
}

// ---- gather and errors -----------------------------------------------------------------------

TEST_P(PoseBankTest, WindowGather) {
  // src: 6 frames x 2 channels, frame f = (10 f, 10 f + 1); map rows of W = 3.
  std::vector<float> src;
  for (int f = 0; f < 6; ++f) src.insert(src.end(), {10.0f * f, 10.0f * f + 1});
  const Tensor map = Tensor::from_vector_i32({0, 0, 1, 2, 0, 1}, {2, 3}, dev());
  // out[k, w] = src[row_base[k] + map[rows[k], w]]: (rows, bases) = (1, 3), (0, 4).
  const Tensor out = ops::window_gather(f32(src, {6, 2}), map, i32({1, 0}), i32({3, 4}));
  ASSERT_EQ(out.shape(), Shape({2, 3, 2}));
  EXPECT_EQ(out.to_vector(), (std::vector<float>{50, 51, 30, 31, 40, 41, 40, 41, 40, 41, 50, 51}));
  // Bad indices: thrown by the CPU call, by the next synchronisation on a GPU
  // (kernels/pose_bank.h).
  EXPECT_V3D_ERROR(checked(ops::window_gather(f32(src, {6, 2}), map, i32({1}), i32({5}))),
                   "window_gather", "row_base[0] + index_map[1, 0] = 7");
  EXPECT_V3D_ERROR(checked(ops::window_gather(f32(src, {6, 2}), map, i32({2}), i32({0}))),
                   "window_gather", "rows[0] = 2");
}

TEST_P(PoseBankTest, DeviceErrorsAreReportedOnceAndNameTheOp) {
  // A bad bank row, then a good call: the error belongs to the first call only, and the record is
  // clear again after it was reported.
  const Tensor p = poses(two_joint_poses({a, b, c}), 2);
  kernels::PoseFuseSettings fs;
  fs.capacity = 2;
  const Tensor banks = Tensor::from_vector_i32({0, 1}, {1, 2}, dev());
  EXPECT_V3D_ERROR(checked(ops::pose_bank_fuse(p, i32({0, 3}), i32(kOneBone), PoseCenter::kCentroid,
                                               fs, banks, i32({0, 0, 5}))),
                   "pose_bank_fuse", "bank_row[2] = 5");
  const Tensor map = ops::pose_bank_fuse(p, i32({0, 3}), i32(kOneBone), PoseCenter::kCentroid, fs,
                                         banks, i32({0, 0, 0}));
  EXPECT_EQ(map.shape(), Shape({3, 2 * fs.radius + 1}));
  EXPECT_NO_THROW(synchronize(dev()));
}

TEST_P(PoseBankTest, DeviceErrorsAtTheOpWithSyncAfterOps) {
  // With V3D_SYNC_OPS=1 the op that raised the error throws it itself.
  const bool saved = kernels::sync_after_ops();
  kernels::set_sync_after_ops(true);
  std::vector<float> src(12, 1.0f);
  const Tensor map = Tensor::from_vector_i32({0, 0, 1, 2, 0, 1}, {2, 3}, dev());
  EXPECT_V3D_ERROR(ops::window_gather(f32(src, {6, 2}), map, i32({1}), i32({5})), "window_gather",
                   "row_base[0] + index_map[1, 0] = 7");
  kernels::set_sync_after_ops(saved);
  EXPECT_NO_THROW(synchronize(dev()));
}

TEST_P(PoseBankTest, ArgumentErrorsNameOpAndArgument) {
  const Tensor p = poses(two_joint_poses({a, b, c}), 2);
  kernels::PoseBankSettings st;
  EXPECT_V3D_ERROR(
      checked(ops::pose_bank(p, i32({0, 2}), i32(kOneBone), PoseCenter::kCentroid, st, false)),
      "pose_bank", "offsets end at 2", "3 frames");
  EXPECT_V3D_ERROR(checked(ops::pose_bank(p, i32({0, 2, 1, 3}), i32(kOneBone),
                                          PoseCenter::kCentroid, st, false)),
                   "pose_bank", "non-decreasing");
  EXPECT_V3D_ERROR(
      checked(ops::pose_bank(p, i32({0, 3}), i32({-1, 1}), PoseCenter::kCentroid, st, false)),
      "pose_bank", "parents[1] = 1");
  st.capacity = 257;
  EXPECT_V3D_ERROR(ops::pose_bank(p, i32({0, 3}), i32(kOneBone), PoseCenter::kCentroid, st, false),
                   "pose_bank", "capacity", "257");
  kernels::PoseFuseSettings fs;
  fs.capacity = 2;
  const Tensor banks = Tensor::from_vector_i32({0, 1}, {1, 2}, dev());
  EXPECT_V3D_ERROR(checked(ops::pose_bank_fuse(p, i32({0, 3}), i32(kOneBone), PoseCenter::kCentroid,
                                               fs, banks, i32({0, 1, 0}))),
                   "pose_bank_fuse", "bank_row[1] = 1");
  fs.capacity = 3;
  EXPECT_V3D_ERROR(ops::pose_bank_fuse(p, i32({0, 3}), i32(kOneBone), PoseCenter::kCentroid, fs,
                                       banks, i32({0, 0, 0})),
                   "pose_bank_fuse", "banks");
  EXPECT_V3D_ERROR(
      ops::pose_similarity(p, poses({0, 0, 0, 0, 0, 0}, 3), i32(kOneBone), PoseCenter::kCentroid),
      "pose_similarity", "joints");
}

INSTANTIATE_TEST_SUITE_P(Devices, PoseBankTest, ::testing::ValuesIn(test::device_params()),
                         test::device_test_name);

}  // namespace
}  // namespace v3d
