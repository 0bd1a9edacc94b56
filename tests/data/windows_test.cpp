// Tests of data/windows.h: training windows (edge replication at strides 1/3/5/7, causal shift,
// short sequences), the paper's modes, flip, determinism and resumption.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <tuple>

#include "data/windows.h"
#include "kernels/common.h"
#include "tests/data/batches_test_util.h"

namespace v3d::data {
namespace {

using namespace test;  // NOLINT(google-build-using-namespace): the shared sequence helpers

// ------------------------------------------------------------------------------------------------
// Windows
// ------------------------------------------------------------------------------------------------

TEST(Window, FramesAtBothBordersForStrides1357) {
  std::vector<Sequence> seqs = {make_seq("S1", "Walking", 20)};
  BatchSpec spec;
  spec.pad = 3;  // RF 7
  WindowGenerator gen(seqs, h36m(), h36m(), spec);
  using V = std::vector<int64_t>;
  // Hand-computed: frames c + s*k for k = -3..3, clamped to [0, 19].
  EXPECT_EQ(gen.window_frames(20, 0, 1), (V{0, 0, 0, 0, 1, 2, 3}));
  EXPECT_EQ(gen.window_frames(20, 1, 1), (V{0, 0, 0, 1, 2, 3, 4}));
  EXPECT_EQ(gen.window_frames(20, 19, 1), (V{16, 17, 18, 19, 19, 19, 19}));
  EXPECT_EQ(gen.window_frames(20, 0, 3), (V{0, 0, 0, 0, 3, 6, 9}));
  EXPECT_EQ(gen.window_frames(20, 2, 3), (V{0, 0, 0, 2, 5, 8, 11}));
  EXPECT_EQ(gen.window_frames(20, 19, 3), (V{10, 13, 16, 19, 19, 19, 19}));
  EXPECT_EQ(gen.window_frames(20, 17, 3), (V{8, 11, 14, 17, 19, 19, 19}));
  EXPECT_EQ(gen.window_frames(20, 1, 5), (V{0, 0, 0, 1, 6, 11, 16}));
  EXPECT_EQ(gen.window_frames(20, 18, 5), (V{3, 8, 13, 18, 19, 19, 19}));
  EXPECT_EQ(gen.window_frames(20, 0, 7), (V{0, 0, 0, 0, 7, 14, 19}));
  EXPECT_EQ(gen.window_frames(20, 18, 7), (V{0, 4, 11, 18, 19, 19, 19}));
  EXPECT_EQ(gen.window_frames(20, 10, 7), (V{0, 0, 3, 10, 17, 19, 19}));
}

// Every gathered window of every stride, in unshuffled order, holds exactly window_frames' rows
// and the centre's 3D.
TEST(Window, GatheredBatchesMatchIndexLists) {
  for (int stride : {3, 5, 7}) {
    std::vector<Sequence> seqs = {make_seq("S1", "Walking", 20), make_seq("S5", "Eating", 9)};
    BatchSpec spec;
    spec.pad = 3;
    spec.flip = false;
    spec.shuffle = false;
    spec.batch_size = 10;
    spec.mode = "Sample" + std::to_string(stride) + "+Sequential";
    WindowGenerator gen(seqs, h36m(), h36m(), spec);
    ASSERT_EQ(gen.num_windows(), 2 * 29);
    gen.start_epoch();
    Batch b;
    int64_t i = 0;
    while (gen.next(b)) {
      ASSERT_LE(b.size, 10);
      for (int64_t k = 0; k < b.size; ++k, ++i) {
        const auto w = gen.window(i);
        EXPECT_EQ(w.stride, i < 29 ? 1 : stride) << "window " << i;
        const int64_t frames = seqs[static_cast<size_t>(w.sequence)].frames;
        const auto expect = gen.window_frames(frames, w.centre, w.stride);
        for (int64_t r = 0; r < 7; ++r) {
          EXPECT_EQ(decode_frame(&b.inputs_2d[static_cast<size_t>((k * 7 + r) * kJ * 2)]),
                    expect[static_cast<size_t>(r)])
              << "stride " << stride << " window " << i << " row " << r;
        }
        for (int j = 0; j < kJ; ++j) {
          EXPECT_EQ(b.targets_3d[static_cast<size_t>(k * kJ * 3 + j * 3)], v3(w.centre, j, 0));
        }
      }
    }
    EXPECT_EQ(i, gen.num_windows());
    EXPECT_EQ(b.size, 0);
  }
}

TEST(Window, CausalShiftEndsAtTheOutputFrame) {
  std::vector<Sequence> seqs = {make_seq("S1", "Walking", 20)};
  BatchSpec spec;
  spec.pad = 3;
  spec.causal_shift = 3;
  WindowGenerator gen(seqs, h36m(), h36m(), spec);
  using V = std::vector<int64_t>;
  EXPECT_EQ(gen.window_frames(20, 10, 1), (V{4, 5, 6, 7, 8, 9, 10}));
  EXPECT_EQ(gen.window_frames(20, 10, 2), (V{0, 0, 2, 4, 6, 8, 10}));
  EXPECT_EQ(gen.window_frames(20, 1, 5), (V{0, 0, 0, 0, 0, 0, 1}));
}

TEST(Window, SequenceShorterThanTheReceptiveFieldGivesEveryFrame) {
  std::vector<Sequence> seqs = {make_seq("S1", "Walking", 3)};
  BatchSpec spec;
  spec.pad = 13;  // RF 27 over 3 frames
  spec.flip = false;
  spec.shuffle = false;
  spec.mode = "Sample7+Sequential";
  WindowGenerator gen(seqs, h36m(), h36m(), spec);
  EXPECT_EQ(gen.num_windows(), 6);
  gen.start_epoch();
  Batch b;
  ASSERT_TRUE(gen.next(b));
  ASSERT_EQ(b.size, 6);
  for (int64_t k = 0; k < 6; ++k) {
    const int64_t c = k % 3, stride = k < 3 ? 1 : 7;
    for (int64_t r = 0; r < 27; ++r) {
      const int64_t t = decode_frame(&b.inputs_2d[static_cast<size_t>((k * 27 + r) * kJ * 2)]);
      // Only the centre row and its clamped neighbours exist: the rest replicate frame 0 or 2.
      const int64_t want = r < 13 ? (r == 12 && stride == 1 && c > 0 ? c - 1 : 0)
                                  : (r == 13 ? c : (r == 14 && stride == 1 && c < 2 ? c + 1 : 2));
      EXPECT_EQ(t, want) << "window " << k << " row " << r;
    }
  }
  EXPECT_FALSE(gen.next(b));
}

TEST(Window, EmptyAndNonFiniteSequencesAreNamedErrors) {
  std::vector<Sequence> empty = {make_seq("S1", "Walking", 0)};
  EXPECT_NE(
      error_of([&] { WindowGenerator g(empty, h36m(), h36m(), BatchSpec{}); }).find("S1/Walking"),
      std::string::npos);

  std::vector<Sequence> nan = {make_seq("S7", "Phoning 1", 12)};
  nan[0].poses_2d[5 * kJ * 2 + 3] = std::nanf("");
  const std::string e = error_of([&] { WindowGenerator g(nan, h36m(), h36m(), BatchSpec{}); });
  EXPECT_NE(e.find("S7/Phoning 1"), std::string::npos) << e;
  EXPECT_NE(e.find("poses_2d"), std::string::npos) << e;
  EXPECT_NE(e.find("frame 5"), std::string::npos) << e;

  std::vector<Sequence> inf = {make_seq("S8", "Eating", 12)};
  inf[0].poses_3d[2] = INFINITY;
  EXPECT_NE(
      error_of([&] { WindowGenerator g(inf, h36m(), h36m(), BatchSpec{}); }).find("S8/Eating"),
      std::string::npos);

  std::vector<Sequence> no_3d = {make_seq("S1", "Walking", 5)};
  no_3d[0].poses_3d.clear();
  EXPECT_NE(
      error_of([&] { WindowGenerator g(no_3d, h36m(), h36m(), BatchSpec{}); }).find("poses_3d"),
      std::string::npos);
}

// ------------------------------------------------------------------------------------------------
// Modes and epochs
// ------------------------------------------------------------------------------------------------

std::map<int, int64_t> stride_histogram(const WindowGenerator& gen) {
  std::map<int, int64_t> h;
  for (int64_t i = 0; i < gen.num_windows(); ++i) ++h[gen.window(i).stride];
  return h;
}

TEST(Batch, EpochSizeOfEachMode) {
  const std::vector<Sequence> seqs = {make_seq("S1", "Walking", 50), make_seq("S6", "Sitting", 31)};
  const int64_t frames = 81;
  auto make = [&](const std::string& mode, bool flip) {
    BatchSpec spec;
    spec.mode = mode;
    spec.flip = flip;
    spec.batch_size = 16;
    auto gen = std::make_unique<WindowGenerator>(seqs, h36m(), h36m(), spec);
    gen->start_epoch();
    return gen;
  };
  {
    auto g = make("Sequential", false);
    EXPECT_EQ(g->num_windows(), frames);
    EXPECT_EQ(g->num_batches(), 6);  // ceil(81 / 16)
    EXPECT_EQ(stride_histogram(*g), (std::map<int, int64_t>{{1, frames}}));
  }
  {
    auto g = make("Sequential", true);
    EXPECT_EQ(g->num_windows(), 2 * frames);
  }
  {
    auto g = make("Sequential x2", true);
    EXPECT_EQ(g->num_windows(), 4 * frames);
    EXPECT_EQ(stride_histogram(*g), (std::map<int, int64_t>{{1, 4 * frames}}));
  }
  {
    auto g = make("Sample5+Sequential", false);
    EXPECT_EQ(g->num_windows(), 2 * frames);
    EXPECT_EQ(stride_histogram(*g), (std::map<int, int64_t>{{1, frames}, {5, frames}}));
  }
  {
    auto g = make("Sample3/5/7+Sequential", true);
    EXPECT_EQ(g->num_windows(), 4 * frames);
    const auto h = stride_histogram(*g);
    EXPECT_EQ(h.at(1), 2 * frames);
    int64_t resampled = 0;
    for (const auto& [s, n] : h) {
      if (s == 1) continue;
      EXPECT_TRUE(s == 3 || s == 5 || s == 7) << "stride " << s;
      EXPECT_GT(n, 0);
      resampled += n;
    }
    EXPECT_EQ(resampled, 2 * frames);
    EXPECT_EQ(h.size(), 4u);  // 162 draws from {3, 5, 7}: all three appear
  }
  {
    // Additive: every stride, every centre, every flip.
    auto g = make("Sample3+Sample5+Sample7+Sequential", true);
    EXPECT_EQ(g->num_windows(), 8 * frames);
    EXPECT_EQ(stride_histogram(*g),
              (std::map<int, int64_t>{
                  {1, 2 * frames}, {3, 2 * frames}, {5, 2 * frames}, {7, 2 * frames}}));
    std::map<std::tuple<int64_t, int64_t, bool, int>, int> seen;
    for (int64_t i = 0; i < g->num_windows(); ++i) {
      const auto w = g->window(i);
      ++seen[{w.sequence, w.centre, w.flip, w.stride}];
    }
    EXPECT_EQ(static_cast<int64_t>(seen.size()), 8 * frames);
  }
  // Every (sequence, centre, flip) appears exactly once per copy.
  {
    auto g = make("Sample3/5/7+Sequential", true);
    std::map<std::tuple<int64_t, int64_t, bool, bool>, int> seen;
    for (int64_t i = 0; i < g->num_windows(); ++i) {
      const auto w = g->window(i);
      ++seen[{w.sequence, w.centre, w.flip, w.stride != 1}];
    }
    EXPECT_EQ(static_cast<int64_t>(seen.size()), 4 * frames);
    for (const auto& [key, n] : seen) EXPECT_EQ(n, 1);
  }
}

TEST(Batch, UnknownModeListsTheValidForms) {
  for (const char* bad :
       {"Sample+Sequential", "Sample1+Sequential", "Sequential x3", "sample5+sequential",
        "Sample3/5/+Sequential", "Sample5", "Sample3/3+Sequential", "",
        "Sample3+Sample3+Sequential", "Sample3+Sample5", "Sample3+Sequential+Sample5",
        "Sample1+Sample3+Sequential", "Sample3++Sequential", "Sample3+Sample5+Sequential+",
        "Sample3/5+Sample7+Sequential"}) {
    const std::string e = error_of([&] { parse_resample_mode(bad); });
    EXPECT_NE(e.find("Sample3/5/7+Sequential"), std::string::npos) << bad << ": " << e;
    EXPECT_NE(e.find("Sequential x2"), std::string::npos) << bad;
  }
  const ResampleMode m = parse_resample_mode("Sample3/5/7+Sequential");
  EXPECT_EQ(m.copies, 2);
  EXPECT_EQ(m.strides, (std::vector<int>{3, 5, 7}));
  EXPECT_FALSE(m.additive);
  const ResampleMode add = parse_resample_mode("Sample3+Sample5+Sample7+Sequential");
  EXPECT_EQ(add.copies, 4);
  EXPECT_EQ(add.strides, (std::vector<int>{3, 5, 7}));
  EXPECT_TRUE(add.additive);
  EXPECT_NE(error_of([&] {
              parse_resample_mode("Sample3+Sample3+Sequential");
            }).find("Sample3+Sample5+Sample7+Sequential"),
            std::string::npos);
  EXPECT_EQ(parse_resample_mode("Sample11+Sequential").strides, (std::vector<int>{11}));
}

TEST(Batch, FlipIsAnInvolutionThatSwapsExactlyTheSymmetricJoints) {
  const Sequence s = make_seq("S1", "Walking", 4);
  std::vector<float> p = s.poses_3d;
  flip_poses(p, 4, h36m(), 3);
  const std::vector<int> left = {4, 5, 6, 11, 12, 13}, right = {1, 2, 3, 14, 15, 16};
  for (int64_t t = 0; t < 4; ++t) {
    for (int j = 0; j < kJ; ++j) {
      int from = j;
      for (size_t i = 0; i < left.size(); ++i) {
        if (left[i] == j) from = right[i];
        if (right[i] == j) from = left[i];
      }
      const float* got = &p[static_cast<size_t>((t * kJ + j) * 3)];
      EXPECT_EQ(got[0], -v3(t, from, 0)) << "joint " << j;
      EXPECT_EQ(got[1], v3(t, from, 1));
      EXPECT_EQ(got[2], v3(t, from, 2));
    }
  }
  flip_poses(p, 4, h36m(), 3);
  EXPECT_EQ(p, s.poses_3d);
  std::vector<float> q = s.poses_2d;
  flip_poses(q, 4, h36m(), 2);
  EXPECT_NE(q, s.poses_2d);
  flip_poses(q, 4, h36m(), 2);
  EXPECT_EQ(q, s.poses_2d);
}

// A flipped window of the generator is the flip of its unflipped twin, in 2D and 3D.
TEST(Batch, FlippedWindowsAreFlipsOfTheirTwins) {
  const std::vector<Sequence> seqs = {make_seq("S1", "Walking", 12)};
  BatchSpec spec;
  spec.pad = 2;
  spec.shuffle = false;
  spec.batch_size = 1000;
  spec.mode = "Sample3+Sequential";
  WindowGenerator gen(seqs, h36m(), h36m(), spec);
  gen.start_epoch();
  Batch b;
  ASSERT_TRUE(gen.next(b));
  const int64_t half = gen.num_windows() / 2, rf = 5;
  for (int64_t i = 0; i < half; ++i) {
    const auto w = gen.window(i), wf = gen.window(i + half);
    ASSERT_FALSE(w.flip);
    ASSERT_TRUE(wf.flip);
    ASSERT_EQ(w.centre, wf.centre);
    ASSERT_EQ(w.stride, wf.stride);
    std::vector<float> in(b.inputs_2d.begin() + i * rf * kJ * 2,
                          b.inputs_2d.begin() + (i + 1) * rf * kJ * 2);
    std::vector<float> tg(b.targets_3d.begin() + i * kJ * 3,
                          b.targets_3d.begin() + (i + 1) * kJ * 3);
    flip_poses(in, rf, h36m(), 2);
    flip_poses(tg, 1, h36m(), 3);
    EXPECT_TRUE(std::equal(in.begin(), in.end(), b.inputs_2d.begin() + (i + half) * rf * kJ * 2))
        << "window " << i;
    EXPECT_TRUE(std::equal(tg.begin(), tg.end(), b.targets_3d.begin() + (i + half) * kJ * 3));
  }
}

TEST(Batch, CameraTargetsCarryTheRootAndTheIntrinsicsFlippedWithTheWindow) {
  Sequence seq = make_seq("S1", "Walking", 6);
  for (int64_t t = 0; t < seq.frames; ++t)
    for (int c = 0; c < 3; ++c) seq.trajectory.push_back(static_cast<float>(10 * t + c + 1));
  for (int i = 0; i < 9; ++i) seq.intrinsic[static_cast<size_t>(i)] = static_cast<float>(i + 1);
  BatchSpec spec;
  spec.pad = 1;
  spec.shuffle = false;
  spec.camera_targets = true;
  WindowGenerator gen({seq}, h36m(), h36m(), spec);
  EXPECT_EQ(gen.target_window_shape(), (std::array<int64_t, 3>{1, kJ + kCameraTargetRows, 3}));
  gen.start_epoch();
  Batch b;
  ASSERT_TRUE(gen.next(b));
  const int64_t row = (kJ + kCameraTargetRows) * 3;
  ASSERT_EQ(static_cast<int64_t>(b.targets_3d.size()), b.size * row);
  for (int64_t i = 0; i < b.size; ++i) {
    const auto w = gen.window(i);
    const float* extra = b.targets_3d.data() + i * row + kJ * 3;  // root (3), intrinsics (9)
    const float sign = w.flip ? -1.0f : 1.0f;
    EXPECT_EQ(extra[0], sign * static_cast<float>(10 * w.centre + 1)) << "window " << i;
    EXPECT_EQ(extra[1], static_cast<float>(10 * w.centre + 2));
    EXPECT_EQ(extra[2], static_cast<float>(10 * w.centre + 3));
    for (int k = 0; k < 9; ++k) {
      const bool negated = w.flip && (k == 2 || k == 7);  // cx and t0 (flip_intrinsic)
      EXPECT_EQ(extra[3 + k], (negated ? -1.0f : 1.0f) * static_cast<float>(k + 1));
    }
  }
  // A sequence without its trajectory cannot give camera targets.
  EXPECT_NE(error_of([&] {
              WindowGenerator(std::vector<Sequence>{make_seq("S1", "Walking", 6)}, h36m(), h36m(),
                              spec);
            }).find("trajectory"),
            std::string::npos);
}

std::vector<Batch> run_epoch(WindowGenerator& gen) {
  std::vector<Batch> out;
  Batch b;
  while (gen.next(b)) out.push_back(b);
  return out;
}

bool same(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].size != b[i].size || a[i].inputs_2d != b[i].inputs_2d ||
        a[i].targets_3d != b[i].targets_3d) {
      return false;
    }
  }
  return true;
}

TEST(Batch, SameSeedSameBatchesOtherSeedOtherOrder) {
  const std::vector<Sequence> seqs = {make_seq("S1", "Walking", 40),
                                      make_seq("S5", "Greeting", 23)};
  BatchSpec spec;
  spec.pad = 4;
  spec.batch_size = 17;
  spec.mode = "Sample3/5/7+Sequential";
  WindowGenerator a(seqs, h36m(), h36m(), spec), b(seqs, h36m(), h36m(), spec);
  spec.seed = 99;
  WindowGenerator c(seqs, h36m(), h36m(), spec);
  a.start_epoch();
  b.start_epoch();
  c.start_epoch();
  const auto ea = run_epoch(a), eb = run_epoch(b), ec = run_epoch(c);
  EXPECT_EQ(static_cast<int64_t>(ea.size()), a.num_batches());
  EXPECT_EQ(ea.back().size, a.num_windows() - (a.num_batches() - 1) * 17);  // the short last batch
  EXPECT_TRUE(same(ea, eb));
  EXPECT_FALSE(same(ea, ec));
  // The next epoch is another order.
  a.start_epoch();
  EXPECT_FALSE(same(ea, run_epoch(a)));
}

TEST(Batch, SaveAndLoadStateMidEpochResumesIdentically) {
  const std::vector<Sequence> seqs = {make_seq("S1", "Walking", 40),
                                      make_seq("S5", "Greeting", 23)};
  BatchSpec spec;
  spec.pad = 4;
  spec.batch_size = 13;
  spec.mode = "Sample3/5/7+Sequential";
  // Reference: three uninterrupted epochs.
  WindowGenerator ref(seqs, h36m(), h36m(), spec);
  std::vector<std::vector<Batch>> epochs;
  for (int e = 0; e < 3; ++e) {
    ref.start_epoch();
    epochs.push_back(run_epoch(ref));
  }
  // Interrupted in epoch 2 after 5 batches; resumed in a fresh generator.
  WindowGenerator first(seqs, h36m(), h36m(), spec);
  first.start_epoch();
  run_epoch(first);
  first.start_epoch();
  Batch b;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(first.next(b));
  const std::string state = first.save_state();

  spec.seed = 7;  // the state, not the spec's seed, decides
  WindowGenerator resumed(seqs, h36m(), h36m(), spec);
  resumed.load_state(state);
  EXPECT_EQ(resumed.epoch(), 2);
  EXPECT_EQ(resumed.batches_done(), 5);
  const auto rest = run_epoch(resumed);
  EXPECT_TRUE(same(rest, std::vector<Batch>(epochs[1].begin() + 5, epochs[1].end())));
  resumed.start_epoch();
  EXPECT_TRUE(same(run_epoch(resumed), epochs[2]));

  // A state from before any epoch restores the seed's stream.
  spec.seed = 1234;
  WindowGenerator fresh(seqs, h36m(), h36m(), spec);
  const std::string initial = fresh.save_state();
  WindowGenerator other(seqs, h36m(), h36m(),
                        BatchSpec{spec.batch_size, 4, 0, spec.mode, true, true, 555});
  other.load_state(initial);
  other.start_epoch();
  EXPECT_TRUE(same(run_epoch(other), epochs[0]));
}

TEST(Batch, LoadStateRejectsAnotherLayout) {
  const std::vector<Sequence> seqs = {make_seq("S1", "Walking", 40)};
  BatchSpec spec;
  WindowGenerator a(seqs, h36m(), h36m(), spec);
  spec.mode = "Sample5+Sequential";
  WindowGenerator b(seqs, h36m(), h36m(), spec);
  const std::string e = error_of([&] { b.load_state(a.save_state()); });
  EXPECT_NE(e.find("mode 'Sequential'"), std::string::npos) << e;
  EXPECT_NE(error_of([&] { b.load_state("garbage"); }).find("v3d-window-generator"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              Batch out;
              a.next(out);
            }).find("start_epoch"),
            std::string::npos);
}

}  // namespace
}  // namespace v3d::data
