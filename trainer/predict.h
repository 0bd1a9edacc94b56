// Whole-sequence inference with the dilated model (VideoPose3D's UnchunkedGenerator and its
// evaluate()): each sequence edge-padded so it yields one pose per frame, with optional flip
// test-time augmentation, and many sequences batched into one dilated pass. Evaluation
// (trainer/evaluate.h), inference (trainer/infer.h) and the long-term bank (trainer/ltb.h) all
// predict through this file.
//
//   flip TTA   the batch also holds the mirrored input (x negated, left/right keypoints swapped);
//              its prediction is mirrored back and averaged with the original's (average_flipped).
//   groups     consecutive sequences are edge-padded one by one and concatenated along time, at
//              most kEvalGroupRows padded frames per pass; output row start[k] + t of the pass is
//              frame t of the group's k-th sequence (the rows in between see two sequences and are
//              dropped). Many short sequences (the phases of test intervals TD 3 and up) thus make
//              a few long GEMMs instead of many short ones whose weight packing dominates.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "data/batches.h"
#include "data/skeleton.h"
#include "runtime/tensor.h"
#include "trainer/model.h"

namespace v3d {

// Padded input frames per dilated pass when many sequences are predicted together (a
// 1024-channel block output is then 64 MB per copy).
constexpr int64_t kEvalGroupRows = 16384;

// The flip-TTA average of `frames` poses of perm.size() joints (x, y, z each): out = (a +
// mirror(flipped)) / 2, where mirror negates x and takes joint j from joint perm[j]
// (Skeleton::flip_permutation). out may be a.
void average_flipped(const float* a, const float* flipped, int64_t frames,
                     const std::vector<int>& perm, float* out);

// The model's input for one phase (or whole sequence): (1, or 2 with the flipped copy, frames + 2
// pad, J_in * 2) edge-padded rows on the model's device, pad = (receptive field - 1) / 2 (causal
// models pad the past only). Throws when the skeletons do not match the model.
Tensor sequence_input(const TemporalModel& model, const data::Sequence& seq,
                      const data::Skeleton& keypoints, const data::Skeleton& joints, bool flip_tta);

// The prediction from the model's output y ((batch, frames, J_out * 3) as a flat vector; batch 2
// under flip TTA, the flipped copy second): the first copy, with the un-flipped second averaged
// in under flip TTA.
std::vector<float> sequence_prediction(const std::vector<float>& y, int64_t batch, int64_t frames,
                                       const data::Skeleton& joints, bool flip_tta);

// One phase (or whole sequence) through the model: the (frames, J_out, 3) prediction, with the
// flipped copy averaged in when flip_tta. `folded`: the model's folded weights, when the caller
// folds once for many sequences.
std::vector<float> predict_sequence(TemporalModel& model, const data::Sequence& seq,
                                    const data::Skeleton& keypoints, const data::Skeleton& joints,
                                    bool flip_tta,
                                    const TemporalModel::FoldedWeights* folded = nullptr);

// A group of consecutive sequences that go through one dilated pass.
struct EvalGroup {
  size_t first = 0, last = 0;  // sequences [first, last)
  std::vector<int64_t> start;  // (last - first): row of each sequence's first padded frame
  int64_t rows = 0;            // padded frames in all
};
// Consecutive sequences of `frames` frames each (padded by `pad` on both sides) in groups of at
// most max_rows padded frames (at least one sequence each).
std::vector<EvalGroup> eval_groups(const std::vector<int64_t>& frames, int64_t pad,
                                   int64_t max_rows = kEvalGroupRows);
std::vector<EvalGroup> eval_groups(const std::vector<const data::Sequence*>& sequences, int64_t pad,
                                   int64_t max_rows = kEvalGroupRows);
// The group's input: (1, or 2 with the flipped copy, rows, J_in * 2) on the model's device.
Tensor group_input(const TemporalModel& model, const std::vector<const data::Sequence*>& sequences,
                   const EvalGroup& group, const data::Skeleton& keypoints,
                   const data::Skeleton& joints, bool flip_tta);
// Sequence k of the group from the pass's output y ((copies, rows - RF + 1, J_out * 3), flat), as
// predict_sequence returns it.
std::vector<float> group_prediction(const std::vector<float>& y, int64_t copies,
                                    const EvalGroup& group, size_t k, int64_t frames,
                                    const data::Skeleton& joints, bool flip_tta,
                                    int64_t receptive_field);
// Called after each group of sequences with the number of frames the group predicted (progress).
using FramesDone = std::function<void(int64_t frames)>;

// Every sequence through the model in groups: equal to predict_sequence one by one up to float
// rounding (bit for bit for a group of one sequence).
std::vector<std::vector<float>> predict_sequences(
    TemporalModel& model, const std::vector<const data::Sequence*>& sequences,
    const data::Skeleton& keypoints, const data::Skeleton& joints, bool flip_tta,
    const TemporalModel::FoldedWeights* folded = nullptr, int64_t max_rows = kEvalGroupRows,
    const FramesDone& on_frames = {});

}  // namespace v3d
