// Long-term Pose Bank inference (issue 6; the exact reading is docs/long-term-bank.md):
//
//   plan_ltb          for a batch of 2D sequences, on the model's device: the banks
//                     (ops::pose_bank, one thread block per sequence on a GPU), the fused windows
//                     as a (T, 2r + 1) index map per sequence (ops::pose_bank_fuse) and which
//                     frames' windows changed. Offline mode fuses every window with the final bank;
//                     online mode fuses the window of frame t with the bank after frame t (history
//                     rows).
//   predict_with_ltb  the prediction of whole-sequence inference with the fused frames replaced:
//                     the dilated pass up to the last block, then every frame's last block (and,
//                     for the fused windows, the blocks that see an inserted pose) evaluated in
//                     large batches, the windows' inputs gathered on the device
//                     (ops::window_gather), reusing every block of the dilated pass whose input is
//                     unchanged, with the flipped copy averaged in under flip TTA exactly as
//                     predict_sequence does.
//
// The similarity's bone lengths come from ltb_parents(keypoints): H36M-17's own tree, and for
// COCO-17 keypoints (no tree of their own) the fixed tree documented in docs/long-term-bank.md.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "data/batches.h"
#include "data/skeleton.h"
#include "kernels/pose_bank.h"
#include "runtime/device.h"
#include "trainer/config.h"
#include "trainer/model.h"

namespace v3d {

struct LtbOptions {
  int capacity = 80;
  float threshold = 0.7f;
  float fusion_threshold = 0.7f;
  int max_insert = -1;  // -1: the window radius r
  bool online = false;
  kernels::PoseCenter center = kernels::PoseCenter::kCentroid;
};

// The ltb section of a config as options (validated by the config reader).
LtbOptions ltb_options(const LtbConfig& config);
// Throws v3d::Error naming the field on an out-of-range option, with the config's ranges
// (validate_config: capacity outside [1, kPoseBankMaxCapacity], a non-finite threshold,
// max_insert < -1).
void validate_ltb_options(const LtbOptions& options);

// Parent of each keypoint for the similarity's mean bone length (-1 for the root).
std::vector<int32_t> ltb_parents(const data::Skeleton& keypoints);

// The bank and the fused windows of a batch of sequences.
struct LtbPlan {
  int64_t radius = 0, window = 1;  // r and 2r + 1
  int capacity = 0;
  std::vector<int32_t> offsets;      // (num_seq + 1): sequence k is frames offsets[k] ..
  std::vector<int32_t> bank_frames;  // (num_seq, capacity): final banks, -1 = empty slot
  std::vector<float> bank_as;        // (num_seq, capacity)
  std::vector<int32_t> bank_size;    // (num_seq)
  std::vector<int32_t> history;      // (total, capacity): after each frame (with_history only)
  std::vector<int32_t> index_map;    // (total, window): local frame indices
  std::vector<int32_t> fused;        // (total): 1 where the window differs from the plain one
  int64_t fused_frames = 0;
};

// sequences: each (frames_k, joints, 2) normalised 2D, frames_k >= 0. Online mode always
// computes the history (its windows use it). Runs on `device`.
LtbPlan plan_ltb(const std::vector<std::span<const float>>& sequences, int joints,
                 const std::vector<int32_t>& parents, int64_t radius, const LtbOptions& options,
                 Device device, bool with_history = false);

struct LtbStats {
  int64_t frames = 0;        // frames predicted
  int64_t fused_frames = 0;  // of which re-predicted from a fused window
  int64_t bank_entries = 0;  // sum over sequences of the final bank size
  int64_t sequences = 0;
  int64_t blocks_computed = 0;  // tree nodes (blocks at one position) evaluated for fused windows
  int64_t blocks_reused = 0;    // and nodes taken from the dilated pass instead
  int64_t plain_blocks = 0;     // nodes evaluated for frames that are not fused (their last
                                // block, batched with the fused windows)
};

// How predict_with_ltb batches its work: memory against GEMM size. The result does not depend on
// it beyond float rounding (a GEMM's rounding may depend on its row count).
struct LtbBatching {
  int64_t frames = 2048;  // windows per batch of block evaluations (a block's GEMM has this many
                          // rows or more, so packing its 3 C^2 weights is paid once per batch)
  int64_t nodes = 65536;  // computed nodes per batch, all blocks together (they stay on the
                          // device until the batch is done: nodes * C floats per copy); a window
                          // whose own nodes exceed it still makes a batch
  int64_t rows = kEvalGroupRows;  // padded input frames per dilated pass: the sequences go
                                  // through the model in groups (predict_sequences), and a
                                  // group's windows are batched together
};

// Predictions of `sequences` (each (frames, J_out, 3), as predict_sequence returns them) with the
// frames that `plan` fuses re-evaluated on their fused windows. A sequence without fused frames is
// plain inference (predict_sequence), bit for bit. A sequence with fused frames goes through the
// dilated model up to its last block (TemporalModel::forward_blocks), keeping every block's
// output; then the last block of each of its frames is evaluated as a node of the strided
// model's tree of blocks over the frame's window (the plain one or the fused one), batched with
// the other sequences' windows (TemporalModel::eval_block): a node whose input rows are
// consecutive rows of the (edge-padded) sequence takes the dilated pass's output at that
// position, and only the nodes that see an inserted pose, and the roots, are computed. Frames
// the plan leaves alone thus equal plain inference to float rounding (a batched direct GEMM
// instead of the dilated pass's convolution; on the CPU its Winograd form). `plain` (optional)
// receives the plain predictions, exactly predict_sequence's (the dilated pass finished from the
// kept outputs, TemporalModel::finish_eval); `folded` (optional) the model's folded weights when
// the caller already has them (else they are folded once here). The model must not be causal
// (the fused window is centred). Adds to *stats when given.
std::vector<std::vector<float>> predict_with_ltb(
    TemporalModel& model, const std::vector<const data::Sequence*>& sequences, const LtbPlan& plan,
    const data::Skeleton& keypoints, const data::Skeleton& joints, bool flip_tta,
    LtbStats* stats = nullptr, std::vector<std::vector<float>>* plain = nullptr,
    const TemporalModel::FoldedWeights* folded = nullptr, const LtbBatching& batching = {});

}  // namespace v3d
