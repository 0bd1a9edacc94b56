// Tests of data/eval_input.h: TD N phases and unchunked evaluation input.
#include <gtest/gtest.h>

#include "data/eval_input.h"
#include "kernels/common.h"
#include "tests/data/batches_test_util.h"

namespace v3d::data {
namespace {

using namespace test;  // NOLINT(google-build-using-namespace): the shared sequence helpers

// ------------------------------------------------------------------------------------------------
// TD N phases and unchunked evaluation
// ------------------------------------------------------------------------------------------------

TEST(Phase, SplitsIntoNPhaseSequences) {
  const Sequence s = make_seq("S9", "Walking", 10);
  const auto phases = split_phases(s, 3);
  ASSERT_EQ(phases.size(), 3u);
  const std::vector<int64_t> lengths = {4, 3, 3};
  for (int p = 0; p < 3; ++p) {
    const Sequence& q = phases[static_cast<size_t>(p)];
    EXPECT_EQ(q.frames, lengths[static_cast<size_t>(p)]);
    EXPECT_EQ(q.subject, "S9");
    EXPECT_EQ(q.action, "Walking");
    ASSERT_EQ(q.poses_2d.size(), static_cast<size_t>(q.frames * kJ * 2));
    ASSERT_EQ(q.poses_3d.size(), static_cast<size_t>(q.frames * kJ * 3));
    for (int64_t i = 0; i < q.frames; ++i) {
      EXPECT_EQ(decode_frame(&q.poses_2d[static_cast<size_t>(i * kJ * 2)]), p + 3 * i);
      EXPECT_EQ(q.poses_3d[static_cast<size_t>(i * kJ * 3 + 4)], v3(p + 3 * i, 1, 1));
    }
  }
  const auto one = split_phases(s, 1);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].frames, 10);
  EXPECT_EQ(one[0].poses_2d, s.poses_2d);
  EXPECT_EQ(one[0].poses_3d, s.poses_3d);
  // More phases than frames: the empty ones are left out.
  EXPECT_EQ(split_phases(make_seq("S9", "Walking", 2), 5).size(), 2u);
  EXPECT_NE(error_of([&] { split_phases(s, 0); }).find("interval"), std::string::npos);
}

TEST(Phase, UnchunkedInputIsEdgePadded) {
  const Sequence s = make_seq("S9", "Walking", 5);
  auto rows = [](const EvalInput& e, int64_t b) {
    std::vector<int64_t> t;
    for (int64_t i = 0; i < e.length; ++i) {
      t.push_back(decode_frame(&e.inputs_2d[static_cast<size_t>((b * e.length + i) * kJ * 2)]));
    }
    return t;
  };
  const EvalInput e = make_eval_input(s, h36m(), h36m(), 2, 0, false);
  EXPECT_EQ(e.batch, 1);
  EXPECT_EQ(e.length, 9);
  EXPECT_EQ(rows(e, 0), (std::vector<int64_t>{0, 0, 0, 1, 2, 3, 4, 4, 4}));
  EXPECT_EQ(e.targets_3d, s.poses_3d);
  const EvalInput c = make_eval_input(s, h36m(), h36m(), 2, 2, true);
  EXPECT_EQ(c.batch, 2);
  EXPECT_EQ(rows(c, 0), (std::vector<int64_t>{0, 0, 0, 0, 0, 1, 2, 3, 4}));
  std::vector<float> flipped(c.inputs_2d.begin() + c.length * kJ * 2, c.inputs_2d.end());
  flip_poses(flipped, c.length, h36m(), 2);
  EXPECT_TRUE(std::equal(flipped.begin(), flipped.end(), c.inputs_2d.begin()));
}

}  // namespace
}  // namespace v3d::data
