// Whole-sequence inference (trainer/predict.h).
#include "trainer/predict.h"

#include <algorithm>

#include "kernels/common.h"

namespace v3d {

void average_flipped(const float* a, const float* flipped, int64_t frames,
                     const std::vector<int>& perm, float* out) {
  const int64_t joints = static_cast<int64_t>(perm.size());
  for (int64_t t = 0; t < frames; ++t) {
    for (int64_t j = 0; j < joints; ++j) {
      const float* m = flipped + (t * joints + perm[static_cast<size_t>(j)]) * 3;
      const float* x = a + (t * joints + j) * 3;
      float* dst = out + (t * joints + j) * 3;
      dst[0] = 0.5f * (x[0] - m[0]);
      dst[1] = 0.5f * (x[1] + m[1]);
      dst[2] = 0.5f * (x[2] + m[2]);
    }
  }
}

namespace {

// sequence_input's rows on the host.
data::EvalInput host_input(const TemporalModel& model, const data::Sequence& seq,
                           const data::Skeleton& keypoints, const data::Skeleton& joints,
                           bool flip_tta) {
  const TemporalModelConfig& mc = model.config();
  V3D_CHECK(mc.joints_in == keypoints.num_joints() && mc.features_in == 2 &&
                mc.joints_out == joints.num_joints(),
            "evaluate: the model takes "
                << mc.joints_in << " keypoints with " << mc.features_in << " features and predicts "
                << mc.joints_out << " joints; the data has " << keypoints.num_joints()
                << " keypoints (" << keypoints.name << ") and " << joints.num_joints()
                << " joints (" << joints.name << ")");
  const int64_t pad = (model.receptive_field() - 1) / 2;
  const int64_t causal_shift = mc.causal ? pad : 0;
  return data::make_eval_input(seq, keypoints, joints, pad, causal_shift, flip_tta);
}

}  // namespace

Tensor sequence_input(const TemporalModel& model, const data::Sequence& seq,
                      const data::Skeleton& keypoints, const data::Skeleton& joints,
                      bool flip_tta) {
  const data::EvalInput in = host_input(model, seq, keypoints, joints, flip_tta);
  return Tensor::from_vector(in.inputs_2d, {in.batch, in.length, model.config().in_channels()},
                             model.device());
}

std::vector<float> predict_sequence(TemporalModel& model, const data::Sequence& seq,
                                    const data::Skeleton& keypoints, const data::Skeleton& joints,
                                    bool flip_tta, const TemporalModel::FoldedWeights* folded) {
  const Tensor x = sequence_input(model, seq, keypoints, joints, flip_tta);
  const int64_t batch = x.size(0);
  // y: (batch, frames, J_out*3)
  return sequence_prediction(model.forward_eval(x, folded).to_vector(), batch, seq.frames, joints,
                             flip_tta);
}

std::vector<float> sequence_prediction(const std::vector<float>& y, int64_t batch, int64_t frames,
                                       const data::Skeleton& joints, bool flip_tta) {
  const int64_t jo = joints.num_joints(), n = frames * jo * 3;
  V3D_CHECK(batch == (flip_tta ? 2 : 1) && static_cast<int64_t>(y.size()) == batch * n,
            "evaluate: the model returned " << y.size() << " values for " << batch << " x "
                                            << frames << " frames");
  std::vector<float> pred(y.begin(), y.begin() + n);
  // Un-flip the second prediction (x negated, joint j from its mirror) and average.
  if (flip_tta)
    average_flipped(pred.data(), y.data() + n, frames, joints.flip_permutation(), pred.data());
  return pred;
}

std::vector<EvalGroup> eval_groups(const std::vector<int64_t>& frames, int64_t pad,
                                   int64_t max_rows) {
  V3D_CHECK(max_rows >= 1, "evaluate: groups of " << max_rows << " rows");
  std::vector<EvalGroup> groups;
  for (size_t k = 0; k < frames.size(); ++k) {
    const int64_t rows = frames[k] + 2 * pad;
    if (groups.empty() || groups.back().rows + rows > max_rows) {
      EvalGroup g;
      g.first = k;
      groups.push_back(g);
    }
    EvalGroup& g = groups.back();
    g.start.push_back(g.rows);
    g.rows += rows;
    g.last = k + 1;
  }
  return groups;
}

std::vector<EvalGroup> eval_groups(const std::vector<const data::Sequence*>& sequences, int64_t pad,
                                   int64_t max_rows) {
  std::vector<int64_t> frames;
  frames.reserve(sequences.size());
  for (const data::Sequence* s : sequences) frames.push_back(s->frames);
  return eval_groups(frames, pad, max_rows);
}

Tensor group_input(const TemporalModel& model, const std::vector<const data::Sequence*>& sequences,
                   const EvalGroup& group, const data::Skeleton& keypoints,
                   const data::Skeleton& joints, bool flip_tta) {
  if (group.last - group.first == 1)
    return sequence_input(model, *sequences[group.first], keypoints, joints, flip_tta);
  const int64_t copies = flip_tta ? 2 : 1, row = model.config().in_channels();
  std::vector<float> rows(static_cast<size_t>(copies * group.rows * row));
  for (size_t k = group.first; k < group.last; ++k) {
    const data::EvalInput in = host_input(model, *sequences[k], keypoints, joints, flip_tta);
    const std::vector<float>& v = in.inputs_2d;
    const int64_t length = in.length, start = group.start[k - group.first];
    for (int64_t cp = 0; cp < copies; ++cp)
      std::copy(v.begin() + cp * length * row, v.begin() + (cp + 1) * length * row,
                rows.begin() + (cp * group.rows + start) * row);
  }
  return Tensor::from_vector(rows, {copies, group.rows, row}, model.device());
}

std::vector<float> group_prediction(const std::vector<float>& y, int64_t copies,
                                    const EvalGroup& group, size_t k, int64_t frames,
                                    const data::Skeleton& joints, bool flip_tta,
                                    int64_t receptive_field) {
  const int64_t out_row = joints.num_joints() * 3, out_rows = group.rows - receptive_field + 1;
  V3D_CHECK(static_cast<int64_t>(y.size()) == copies * out_rows * out_row,
            "evaluate: the model returned " << y.size() << " values for " << copies << " x "
                                            << out_rows << " rows");
  const int64_t start = group.start[k - group.first];
  std::vector<float> mine(static_cast<size_t>(copies * frames * out_row));
  for (int64_t cp = 0; cp < copies; ++cp)
    std::copy(y.begin() + (cp * out_rows + start) * out_row,
              y.begin() + (cp * out_rows + start + frames) * out_row,
              mine.begin() + cp * frames * out_row);
  return sequence_prediction(mine, copies, frames, joints, flip_tta);
}

std::vector<std::vector<float>> predict_sequences(
    TemporalModel& model, const std::vector<const data::Sequence*>& sequences,
    const data::Skeleton& keypoints, const data::Skeleton& joints, bool flip_tta,
    const TemporalModel::FoldedWeights* folded, int64_t max_rows, const FramesDone& on_frames) {
  const int64_t rf = model.receptive_field(), copies = flip_tta ? 2 : 1;
  std::vector<std::vector<float>> out;
  out.reserve(sequences.size());
  for (const EvalGroup& g : eval_groups(sequences, (rf - 1) / 2, max_rows)) {
    const std::vector<float> y =
        model.forward_eval(group_input(model, sequences, g, keypoints, joints, flip_tta), folded)
            .to_vector();
    int64_t frames = 0;
    for (size_t k = g.first; k < g.last; ++k) {
      out.push_back(group_prediction(y, copies, g, k, sequences[k]->frames, joints, flip_tta, rf));
      frames += sequences[k]->frames;
    }
    if (on_frames) on_frames(frames);
  }
  return out;
}

}  // namespace v3d
