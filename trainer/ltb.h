// Long-term Pose Bank inference (the exact reading is docs/long-term-bank.md):
//
//   plan_ltb          for a batch of 2D sequences, on the model's device: the banks
//                     (ops::pose_bank, one thread block per sequence on a GPU), the fused windows
//                     as a (T, 2r + 1) index map per sequence (ops::pose_bank_fuse) and which
//                     frames' windows changed. Offline mode fuses every window with the final bank;
//                     online mode fuses the window of frame t with the bank after frame t (history
//                     rows).
//   schedule_ltb_group  host-only index work for one group of sequences (one dilated pass): which
//                     nodes of each frame's tree of blocks are computed and which are taken from
//                     the dilated pass, in which batches, and every gather index, as plain data.
//   predict_with_ltb  the executor: the prediction of whole-sequence inference with the fused
//                     frames replaced. Per group, the dilated pass up to the last block
//                     (DilatedBlocks, trainer/dilated.h), then the schedule's batches: the windows'
//                     inputs gathered on the device (ops::window_gather) through index maps
//                     uploaded once per group, each block evaluated on them, the roots through the
//                     head, the flipped copy averaged in under flip TTA exactly as
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
#include "trainer/predict.h"

namespace v3d {

struct LtbOptions {
  int capacity = 80;
  float threshold = 0.7f;
  float fusion_threshold = 0.7f;
  int max_insert = -1;  // -1: the window radius r
  bool online = false;
  kernels::PoseCenter center = kernels::PoseCenter::kCentroid;
  kernels::PoseAccumulate accumulate = kernels::PoseAccumulate::kEntries;
  kernels::PosePlacement placement = kernels::PosePlacement::kNextToCenter;
  kernels::PoseGate gate = kernels::PoseGate::kOff;
  float gate_threshold = 0.7f;
  // Causal windows (the model's model.causal, set by the caller, not a config key): the window
  // ends at its frame and every fused pose goes into its past half (docs/long-term-bank.md).
  bool causal = false;
};

// The kernels' settings of the options: the bank's, and the fusion's for a window of radius r.
kernels::PoseBankSettings ltb_bank_settings(const LtbOptions& options);
kernels::PoseFuseSettings ltb_fuse_settings(const LtbOptions& options, int64_t radius);

// The config names of the readings (trainer/config.h: ltb.accumulate, ltb.placement, ltb.gate).
const char* ltb_accumulate_name(kernels::PoseAccumulate a);
const char* ltb_placement_name(kernels::PosePlacement p);
const char* ltb_gate_name(kernels::PoseGate g);

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
  bool causal = false;             // causal windows (LtbOptions::causal)
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

// The largest finite 2D coordinate the bank takes: the similarity squares coordinate differences
// in float, which overflow (and turn S into NaN) near 1.8e19; real coordinates, normalised or in
// pixels, are far below this.
constexpr float kLtbMaxCoordinate = 1e12f;

// sequences: each (frames_k, joints, 2) normalised 2D, frames_k >= 0; a non-finite coordinate
// makes its pose invalid (never banked or inserted), a finite one beyond kLtbMaxCoordinate is an
// error naming the sequence, frame and keypoint. Online mode always computes the history (its
// windows use it). Runs on `device`.
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

// Adds every count of b to a.
void add_stats(LtbStats& a, const LtbStats& b);

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

// The executor's work for one group of sequences (an EvalGroup: one dilated pass), worked out on
// the host before any block runs. Every frame the tree evaluates ("tree frame") gets the strided
// model's tree of blocks over its window (plan.index_map's row: the fused window, or the plain one
// for a frame the bank leaves alone): block i has W / rf_i nodes, node u covering window slots
// [u * rf_i, (u + 1) * rf_i). A node of a block before the last whose slots hold consecutive rows
// of the edge-padded sequence (r frames of padding before it, 2r for causal windows) is the
// dilated pass's output at the first of those rows and is reused; the others that a computed parent
// reads, and every root, are computed.
//
// Buffers (the executor allocates them as described): block i < L - 1 (L blocks) lives in one
// (copies * (block_rows[i] + room[i]), C) buffer: copy cp's dilated output row q at
// cp * block_rows[i] + q, then copy cp's nodes computed in the current batch from
// copies * block_rows[i] + cp * room[i]. Gather maps index these rows (block i >= 1: children in
// block i - 1's buffer) or, for block 0, the group's unpadded 2D rows (sequence q's frame t at
// frame_base[q] + t, one 2D tensor per copy).
struct LtbGather {
  int64_t row = 0;    // first row of the block's map (LtbGroupSchedule::maps[i])
  int64_t nodes = 0;  // rows of the map, one per node computed (0: nothing to compute)
  bool operator==(const LtbGather&) const = default;
};
struct LtbBatch {
  int64_t first = 0, n = 0;  // the group's tree frames [first, first + n): their roots
  // gathers[i][cp]: block i's nodes of copy cp (block 0: the same map rows for every copy).
  std::vector<std::vector<LtbGather>> gathers;
};
struct LtbGroupSchedule {
  EvalGroup group;  // the sequences [group.first, group.last) and their dilated pass
  // The dilated pass stops before the last block and every frame of the group is a tree frame
  // (the group has fused frames and the model two blocks or more). Otherwise the pass is whole and
  // the tree frames are the fused ones (a one-block model's), if any.
  bool split = false;
  std::vector<int32_t> tree_seq, tree_frame;  // per tree frame: sequence (in the group), frame
  std::vector<int64_t> frame_base;            // (sequences + 1): each sequence's first 2D row
  std::vector<int64_t> block_rows, room;      // per block before the last (when split)
  std::vector<std::vector<int32_t>> maps;     // per block: (rows, filter_widths[i]) indices
  int64_t max_nodes = 0;                      // the most nodes one gather reads
  std::vector<LtbBatch> batches;
  LtbStats stats;  // sequences, frames, fused frames, bank entries and the node counts
};

// The schedule of `group` (sequences of plan's offsets) for a model of `filter_widths` whose
// receptive field is plan.window, with `copies` (2 under flip TTA, else 1). Throws on invalid
// batching or a plan of another window.
LtbGroupSchedule schedule_ltb_group(const LtbPlan& plan, const EvalGroup& group,
                                    const std::vector<int64_t>& filter_widths, int64_t copies,
                                    const LtbBatching& batching = {});
// The groups predict_with_ltb runs: plan's sequences in eval_groups of batching.rows.
std::vector<EvalGroup> ltb_groups(const LtbPlan& plan, const LtbBatching& batching = {});

// Predictions of `sequences` (each (frames, J_out, 3), as predict_sequence returns them) with the
// frames that `plan` fuses re-evaluated on their fused windows, group by group as
// schedule_ltb_group lays out. The sequences of a group without fused frames get plain inference
// (predict_sequences), bit for bit. In a group with fused frames the last block of each frame is
// evaluated on its window, batched with the other windows, so frames the plan leaves alone equal
// plain inference to float rounding (a batched direct GEMM instead of the dilated pass's
// convolution; on the CPU its Winograd form). `plain` (optional) receives the plain predictions,
// exactly predict_sequences' (the dilated pass finished from the kept outputs); `folded`
// (optional) the model's folded weights when the caller already has them (else they are folded
// once here). The plan's windows must be causal exactly when the model is. Adds to *stats when
// given.
std::vector<std::vector<float>> predict_with_ltb(
    TemporalModel& model, const std::vector<const data::Sequence*>& sequences, const LtbPlan& plan,
    const data::Skeleton& keypoints, const data::Skeleton& joints, bool flip_tta,
    LtbStats* stats = nullptr, std::vector<std::vector<float>>* plain = nullptr,
    const TemporalModel::FoldedWeights* folded = nullptr, const LtbBatching& batching = {},
    const FramesDone& on_frames = {});

}  // namespace v3d
