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
// and the memory bandwidth bounds it. Only part of that is on the frame's path, though: block i's
// column at t sums W_k x_{t - (W_i - 1 - k) d_i} over its taps k, and every tap but the last reads
// an earlier frame. So once frame t is out, prepare_next adds frame t's products with those taps
// into the pending sums of the frames that will read it (t + d_i, ..., t + (W_i - 1) d_i; at the
// first frame also those of the padding before it), and the next frame multiplies only its last
// taps and the 1x1 convolutions (8.4 M floats of the 243-frame model's 16.9 M). A caller that
// waits for frames (the stream, the benchmark at a frame rate) runs prepare_next while it waits.
// A fused window's tree nodes are not plain columns and still take whole windows. The products
// read each block's last-tap weights and its earlier taps' weights as two contiguous arrays, in
// float32 or, with StreamOptions::bf16_weights, as bf16 (half the bytes). The GEMM library would
// also pack the whole weight matrix into its panel layout on every call (a second read and a write
// of the weights); a few rows therefore go through matrix-vector products over the folded tap-major
// weights instead: the same products, summed in another order. Where the CPU has AVX-512 they are
// tiles of 4 output channels by up to 4 rows, over weights packed for them (4 rows interleaved in
// chunks of 16, one stream of reads); elsewhere (or with StreamOptions::generic_products) a
// compiler-vectorised dot product per channel. The weights lie on 2 MB pages (a frame walks 17-34
// MB of them). The output channels are split between the threads of a SpinTeam, whose helpers
// poll for the next frame's products for StreamOptions::spin_ms before they sleep: a frame at
// 50 fps would otherwise wait for them to be woken (on a 2-vCPU VM: a p90 of 26 ms, RESULTS.md).
//
// CPU only (the point is a frame's latency on a CPU); one TrackStream per track, all sharing one
// StreamModel, used from one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "data/skeleton.h"
#include "kernels/pose_bank.h"
#include "runtime/huge_pages.h"
#include "runtime/spin_team.h"
#include "trainer/dilated.h"
#include "trainer/ltb.h"
#include "trainer/model.h"

namespace v3d {

struct StreamOptions {
  bool flip_tta = true;  // average in the mirrored input, as infer_3d does
  bool ltb = false;      // the online long-term bank, ltb_options' settings (always online)
  LtbOptions ltb_options;
  // The convolutions' weights rounded to bf16 (ties to even) and read as bf16: half the bytes per
  // frame, and a model that differs from the checkpoint's by that rounding (docs/cli.md).
  bool bf16_weights = false;
  // The portable products (the compiler's SIMD dot of one row at a time) even where the CPU has
  // AVX-512: for the tests, which run both forms, and for comparing their speed.
  bool generic_products = false;
  // The products' threads (0: OpenMP's count, omp_get_max_threads), and how long the helper
  // threads poll for the next frame's products before they sleep (SpinTeam): a core kept busy
  // while they poll, against the milliseconds a sleeping thread can take to wake.
  int threads = 0;
  double spin_ms = 50.0;
};

// The form of the stream's products on this CPU: "AVX-512 tiles", or "portable" (asked for with
// StreamOptions::generic_products, or a CPU without AVX-512).
const char* stream_products(bool generic_products);

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
  // Block i > 0 from its last tap's rows x (n, C; rows ldx floats apart) and pre (n, C), the sum
  // of its earlier taps' products (add_early_taps): y (n, C), as window gives on whole windows.
  void last_tap(size_t i, const float* x, int64_t ldx, const float* pre, int64_t n, float* y) const;
  // acc[k] (n, C) += the products of block i > 0's tap k with rows x (n, C), for its taps
  // k = 0 .. W_i - 2 (all but the last): one pass over those weights.
  void add_early_taps(size_t i, const float* x, int64_t n, float* const* acc) const;
  static constexpr int64_t kMatvecRows = 32;
  // The products' form (stream_products) and their threads.
  const char* products() const;
  int threads() const { return team_->size(); }

 private:
  // Row-major weights in float32 or bf16 (bf16_weights) for the matrix-vector products.
  class Rows {
   public:
    // Columns col0 .. col0 + cols of the (rows, ld) matrix w, in `segments` equal column blocks
    // (matvec_add); generic: the portable products even where the CPU has AVX-512.
    void assign(const float* w, int64_t rows, int64_t cols, int64_t ld, int64_t col0,
                int64_t segments, bool bf16, bool generic);
    // y (n, c_out) = ReLU(x (n, cols; rows ldx apart) W^T + pre + b) + residual (rows res_stride
    // apart), pre and residual optional: the convolution's epilogue.
    // The output rows are split between the team's threads (one thread for small products).
    void matvec(SpinTeam& team, const float* b, const float* x, int64_t ldx, int64_t n,
                int64_t c_out, const float* pre, const float* residual, int64_t res_stride,
                float* y) const;
    // ys[s] (n, c_out) += x (n, cols / segments) W_s^T for the column blocks W_s of W; segments
    // is 1 (ys[0] += x W^T) or that of assign.
    void matvec_add(SpinTeam& team, int64_t segments, const float* x, int64_t ldx, int64_t n,
                    int64_t c_out, float* const* ys) const;

   private:
    // Row-major, or packed for the AVX-512 tiles (stream.cpp); on huge pages (each frame reads
    // them all: 4 KB pages would cost a TLB miss every 4 KB).
    std::vector<float, HugePageAllocator<float>> f32;
    std::vector<uint16_t, HugePageAllocator<uint16_t>> h16;  // the same in bf16 (bf16_weights)
    int64_t cols_ = 0, segments_ = 1;
    bool avx512_ = false;  // the AVX-512 tiles (the CPU has them, and generic was not asked)
  };

  FoldedWeights folded_;
  DilatedBlocks blocks_;
  // Per conv: block 0's and the 1x1 convolutions' tap-major (C_out, K * C_in) weights; per block
  // i > 0: its first convolution's last tap (C, C) and its earlier taps (C, (W_i - 1) C).
  std::vector<Rows> full_, last_, early_;
  // The products' threads (StreamOptions::threads, spin_ms); products are one at a time.
  std::unique_ptr<SpinTeam> team_;
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
  // The work of the last frame pushed that only later frames need (see the file comment): call it
  // while waiting for the next frame, to keep it out of that frame's latency. push does it first
  // when it was not called; calling it twice does nothing.
  void prepare_next();
  int64_t frames() const { return frames_; }

 private:
  // Ring L (0: the input rows, L = i + 1: block i's output) at position e, copy cp.
  float* ring(size_t level, int64_t cp, int64_t e);
  // Block i's pending sums for frame e: (copies, C), the products of its taps but the last.
  float* pending(size_t i, int64_t e);
  void push_input(std::span<const float> pose);
  // The frame's column of every block into the rings and the head's input (copies, C); with a
  // fused window's map, also its tree of blocks, whose root replaces the last block's column.
  void columns(const std::vector<int32_t>* map, std::vector<float>& head_in, StreamStep& st);

  const StreamModel* m_;
  int64_t frames_ = 0, rf_ = 0;
  std::vector<int64_t> width_, dilation_, channels_;  // per level: C_L
  std::vector<std::vector<float>> rings_;             // (copies, RF, C_L) each
  std::vector<float> poses_;                          // (frames, J_in, 2), with the bank only
  std::vector<std::vector<float>> pending_;           // per block: (RF, copies, C)
  bool deferred_ = false;                             // prepare_next has work
  std::vector<float> scratch_x_, scratch_y_;          // a block's windows and outputs
  std::vector<float> scratch_last_;                   // a block's last-tap rows
  std::unique_ptr<kernels::cpu::PoseBankStream> bank_;
};

}  // namespace v3d
