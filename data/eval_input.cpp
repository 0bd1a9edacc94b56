// TD N phases and unchunked evaluation input (data/eval_input.h).
#include "data/eval_input.h"

#include <algorithm>

#include "data/frame_util.h"
#include "kernels/common.h"

namespace v3d::data {

using detail::copy_frame;
using detail::sequence_name;
using detail::take_rows;

std::vector<Sequence> split_phases(const Sequence& seq, int n) {
  V3D_CHECK(n >= 1, "split_phases: interval must be >= 1, got " << n);
  V3D_CHECK(seq.frames > 0, "split_phases: sequence " << sequence_name(seq) << " is empty");
  const int64_t row_2d = static_cast<int64_t>(seq.poses_2d.size()) / seq.frames;
  const int64_t row_3d = static_cast<int64_t>(seq.poses_3d.size()) / seq.frames;
  std::vector<Sequence> out;
  for (int p = 0; p < n && p < seq.frames; ++p) {
    const SubsetRange r{p, (seq.frames - p + n - 1) / n, n};
    Sequence s;
    s.subject = seq.subject;
    s.action = seq.action;
    s.camera = seq.camera;
    s.intrinsic = seq.intrinsic;
    s.frames = r.count;
    s.poses_2d = take_rows(seq.poses_2d, row_2d, r);
    if (!seq.poses_3d.empty()) s.poses_3d = take_rows(seq.poses_3d, row_3d, r);
    if (!seq.trajectory.empty()) s.trajectory = take_rows(seq.trajectory, 3, r);
    out.push_back(std::move(s));
  }
  return out;
}

EvalInput make_eval_input(const Sequence& seq, const Skeleton& keypoints, const Skeleton& joints,
                          int64_t pad, int64_t causal_shift, bool flip) {
  V3D_CHECK(pad >= 0 && causal_shift >= -pad && causal_shift <= pad,
            "make_eval_input: pad " << pad << ", causal_shift " << causal_shift
                                    << " (need pad >= 0, |causal_shift| <= pad)");
  validate_sequence(seq, keypoints.num_joints(), joints.num_joints(), false);
  const int kp = keypoints.num_joints();
  const int64_t row = int64_t{kp} * 2, left = pad + causal_shift;
  EvalInput e;
  e.batch = flip ? 2 : 1;
  e.length = seq.frames + 2 * pad;
  e.inputs_2d.resize(static_cast<size_t>(e.batch * e.length * row));
  const std::vector<int> perm = flip ? keypoints.flip_permutation() : std::vector<int>{};
  for (int64_t b = 0; b < e.batch; ++b) {
    for (int64_t t = 0; t < e.length; ++t) {
      const int64_t src = std::clamp<int64_t>(t - left, 0, seq.frames - 1);
      copy_frame(e.inputs_2d.data() + (b * e.length + t) * row, seq.poses_2d.data() + src * row, kp,
                 2, b == 1 ? perm.data() : nullptr);
    }
  }
  e.targets_3d = seq.poses_3d;
  return e;
}

}  // namespace v3d::data
