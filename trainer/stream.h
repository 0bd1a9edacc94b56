// Incremental causal inference (`v3d stream`): a causal model (model.causal) run one frame at a
// time, as fast WaveNet generation does. Each block keeps a ring of its last RF outputs (RF the
// receptive field), so a new frame costs one output column per block: block i's taps at t,
// t - d_i, ..., t - (W_i - 1) d_i are gathered from block i - 1's ring and evaluated as
// DilatedBlocks::window evaluates a window (the residual is the last tap; StreamModel::window).
// The first frame fills every ring as the
// batch path's edge padding does (RF - 1 copies of frame 0 before it: a constant input, so every
// block's output at the padded positions is that of the constant input).
//
// With the online long-term bank, each track's bank takes frame t as it arrives and frame t's
// causal window is fused with the bank after it (kernels::cpu::PoseBankStream: the same code as
// pose_bank and pose_bank_fuse in online mode). A fused window is evaluated as the strided tree
// of blocks over it: a node whose slots hold the frames of block i's output at a position still in
// its ring is taken from the ring, the others (and the root) are computed, in the same pass over
// each block's weights as the frame's plain columns (the rings need those for later frames).
//
// Equality with batch causal inference (`v3d infer` on the same frames, trainer/infer.h): the
// same operations on the same values in exact arithmetic; float32 results differ only by the
// order of the sums in each convolution (the batch pass's GEMM over many rows, on the CPU its
// Winograd F(4,3) form, against matrix-vector products here), docs/cli.md states the bound.
//
// Speed: a frame's columns are products of 1 or 2 rows (flip TTA) with each block's weights, so
// a frame reads every weight once (16.9 M floats, 68 MB, for the 243-frame 1024-channel model)
// and the memory bandwidth bounds it. The GEMM library would also pack the whole weight matrix
// into its panel layout on every call (a second read and a write of the weights); a few rows
// therefore go through matrix-vector products over the folded tap-major weights instead (OpenMP
// over the output channels, each a SIMD dot product): the same products, summed in another order.
//
// CPU only (the point is a frame's latency on a CPU); one TrackStream per track, all sharing one
// StreamModel.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "data/skeleton.h"
#include "kernels/pose_bank.h"
#include "trainer/dilated.h"
#include "trainer/ltb.h"
#include "trainer/model.h"

namespace v3d {

struct StreamOptions {
  bool flip_tta = true;  // average in the mirrored input, as infer_3d does
  bool ltb = false;      // the online long-term bank, ltb_options' settings (always online)
  LtbOptions ltb_options;
};

// The model's folded weights and what every track shares. The model must be causal, on the CPU;
// it must outlive nothing here (the weights are folded into this object).
class StreamModel {
 public:
  StreamModel(const TemporalModel& model, const data::Skeleton& keypoints,
              const data::Skeleton& joints, const StreamOptions& options);
  StreamModel(const StreamModel&) = delete;
  StreamModel& operator=(const StreamModel&) = delete;

  const DilatedBlocks& blocks() const { return blocks_; }
  const StreamOptions& options() const { return options_; }
  int64_t receptive_field() const { return blocks_.receptive_field(); }
  int64_t radius() const { return (receptive_field() - 1) / 2; }
  int keypoints() const { return keypoints_->num_joints(); }
  int joints() const { return joints_->num_joints(); }
  int64_t copies() const { return options_.flip_tta ? 2 : 1; }
  const std::vector<int>& keypoint_flip() const { return keypoint_flip_; }
  const std::vector<int>& joint_flip() const { return joint_flip_; }
  const std::vector<int32_t>& ltb_parents() const { return ltb_parents_; }
  kernels::PoseBankSettings bank_settings() const;
  kernels::PoseFuseSettings fuse_settings() const;
  // Block i on n gathered windows (n, W_i, C_i) -> y (n, C): DilatedBlocks::window, or for a few
  // windows (n <= kMatvecRows) matrix-vector products straight over the folded weights (see the
  // file comment).
  void window(size_t i, const float* x, int64_t n, float* y) const;
  static constexpr int64_t kMatvecRows = 32;

 private:
  FoldedWeights folded_;
  DilatedBlocks blocks_;
  const data::Skeleton* keypoints_;
  const data::Skeleton* joints_;
  StreamOptions options_;
  std::vector<int> keypoint_flip_, joint_flip_;
  std::vector<int32_t> ltb_parents_;
};

// What the last push did.
struct StreamStep {
  int64_t frame = 0;     // the frame's index in its track (0-based)
  bool fused = false;    // its window was fused with bank poses
  int64_t computed = 0;  // block nodes evaluated (one per block when not fused)
  int64_t reused = 0;    // tree nodes taken from the rings (fused windows)
  int bank_size = 0;     // the bank's entries after the frame
};

// One track: the rings of every block, the bank, and (with the bank) the track's 2D poses.
class TrackStream {
 public:
  explicit TrackStream(const StreamModel& model);
  ~TrackStream();
  TrackStream(const TrackStream&) = delete;
  TrackStream& operator=(const TrackStream&) = delete;

  // pose: (J_in, 2) normalised 2D of the next frame -> (J_out, 3), the 3D pose that
  // infer_3d gives this frame of the sequence pushed so far (up to float rounding, see above).
  // A coordinate that is not finite or beyond kLtbMaxCoordinate in magnitude throws one line and
  // leaves the track as it was.
  std::vector<float> push(std::span<const float> pose, StreamStep* step = nullptr);
  int64_t frames() const { return frames_; }

 private:
  // Ring L (0: the input rows, L = i + 1: block i's output) at position e, copy cp.
  float* ring(size_t level, int64_t cp, int64_t e);
  void push_input(std::span<const float> pose);
  // The frame's column of every block into the rings and the head's input (copies, C); with a
  // fused window's map, also its tree of blocks, whose root replaces the last block's column.
  void columns(const std::vector<int32_t>* map, std::vector<float>& head_in, StreamStep& st);

  const StreamModel* m_;
  int64_t frames_ = 0, rf_ = 0;
  std::vector<int64_t> width_, dilation_, channels_;  // per level: C_L
  std::vector<std::vector<float>> rings_;             // (copies, RF, C_L) each
  std::vector<float> poses_;                          // (frames, J_in, 2), with the bank only
  std::vector<float> scratch_x_, scratch_y_;          // a block's windows and outputs
  std::unique_ptr<kernels::cpu::PoseBankStream> bank_;
};

}  // namespace v3d
