// The Long-term Pose Bank (LTB) and the Alternative Symmetric Pose Fusion of the V3D-LSFM paper
// (section 3.2), in the exact reading of docs/long-term-bank.md. Three operations on contiguous
// buffers:
//
//   pose_similarity  S for N candidate poses against M reference poses (paper Eq. 2):
//                    s[n, m] = S(a_n, b_m).
//   pose_bank        Algorithm 1: each sequence's bank after its frames were offered in time order,
//                    optionally the bank after every frame (history).
//   pose_bank_fuse   the fused window of every frame as 2r + 1 sequence-local frame indices: the
//                    (T, 2r + 1) index map; and window_gather, which builds the fused 2D windows
//                    of chosen frames through that map.
//
// Poses. A pose is `joints` 2D points, (x, y) interleaved: pose p's joint j is at
// poses[(p * joints + j) * 2 + {0, 1}]. A pose with any non-finite coordinate is invalid: it never
// enters a bank or a fused window and its similarity to anything is -inf.
//
// Similarity (paper Eq. 2), A the candidate, B the reference:
//   S(A, B) = 1 - sum_j || A_j - c(A) + c(B) - B_j ||_2 / max(J * L(B), 1e-6)
//   c(P) = the mean of P's joints (center = kCentroid) or joint 0 (kRoot);
//   L(P) = the mean length of the bones (j, parents[j]) over the joints j with parents[j] >= 0.
// Evaluation order (so that every backend gets the same float): c(P) sums the joints in order in
// float and multiplies by 1/J rounded from double; each term is sqrtf(dx * dx + dy * dy) with
// dx = (A_jx - c(A)x) + (c(B)x - B_jx); terms and bone lengths are summed in joint order in float,
// a bone length being sqrtf(bx * bx + by * by) with bx = B_jx - B_{parents[j]}x;
// L(B) = (sum of bone lengths) * (1 / bones rounded from double), L = 0 for a skeleton without
// bones; denom = float(J) * L(B), replaced by 1e-6f when below it; then S = 1 - sum / denom.
// CUDA code must not contract these into FMAs (use __fmul_rn / __fadd_rn or equivalent).
//
// Sequences are packed along frames: `offsets` has num_seq + 1 entries, sequence k is global frames
// offsets[k] .. offsets[k + 1] - 1 (offsets[0] = 0, non-decreasing; an empty sequence is allowed).
// Frame indices stored in banks, histories and index maps are LOCAL to their sequence (0-based).
//
// Bank (Algorithm 1). Per sequence, `capacity` slots, each empty (-1) or holding a local source
// frame; AS_i = sum over the other occupied slots j, in slot order, of S(entry_i, entry_j), in
// float, recomputed after every change from the pairwise matrix P[i][j] = S(entry_i, entry_j).
// Candidate x from frame f, T = threshold:
//   1. x invalid: no change.   2. bank empty: x goes into slot 0.
//   3. m = max over occupied i of S(x, entry_i); m >= T (any S(x, entry_i) >= T): rejected.
//   4. not full: x goes into the first empty slot (slots fill 0, 1, 2, ... and never empty again);
//      full: the slot with the largest AS (ties: the smallest source frame) is overwritten by x.
// With accumulate = kOffered, AS instead accumulates over the frames offered: for every valid x,
// s_i = S(x, entry_i) for every occupied slot (all of them, not only up to the first >= T), then
// AS_i = AS_i + s_i for every occupied slot x does not take, and the slot x takes (if any) gets
// AS = 0; step 4's eviction and its tie rule are unchanged, no pairwise matrix is kept.
// Outputs per sequence k: bank_frames[k * capacity + i] (the slot's source frame or -1),
// bank_as[k * capacity + i] (AS_i, 0 for an empty slot), bank_size[k]. With `history` non-null,
// history[g * capacity + i] is slot i's source frame after global frame g was offered.
// The slot layout is part of the contract: every backend must produce identical slots.
//
// Fusion for the frame t of a sequence of length n, radius r, W = 2r + 1:
//   bank: the slots of row bank_row[g] of `banks` (g = the global frame; offline: the sequence's
//         final bank, online: history row g, the bank after frame t);
//   candidates: occupied slots whose source frame s lies outside [t - r, t + r] and whose
//         S(entry, x_t) >= fusion_threshold (none when x_t is invalid; an invalid entry is never
//         one); a slot value outside [0, n) counts as empty;
//   order: S descending, ties by the smaller source frame (then the smaller slot, which only
//         matters for a row holding one frame twice); keep k = min(count, max_insert) with
//         max_insert clamped to [0, 2r]; nl = ceil(k / 2) go left (ranks 0, 2, 4, ...),
//         nr = floor(k / 2) go right (ranks 1, 3, 5, ...);
//   window (slot w of index_map[g * W + w]), clamp(i) = min(max(i, 0), n - 1):
//         w <  r - nl:        clamp(t - (r - nl) + w)        local frames, shifted outward
//         r - nl <= w < r:    left candidate of rank 2 * (r - 1 - w)   (innermost = best)
//         w == r:             t
//         r < w <= r + nr:    right candidate of rank 2 * (w - r - 1) + 1
//         w >  r + nr:        clamp(t + (w - r - nr))
//   With no candidate this is the plain window clamp(t - r + w).
// Example r = 3, candidates a (best) then b: [t-2, t-1, a, t, b, t+1, t+2].
// That is placement kNextToCenter. The other placements keep the plain window and overwrite slots
// in place, nl on the left half (w < r), nr on the right half (w > r), the best candidate of a half
// in its innermost replaced slot (left ranks 0, 2, ... from the centre outward, right ranks 1,
// 3, ... likewise):
//   kOutermost:    left slots 0 .. nl - 1, right slots W - nr .. W - 1.
//                  Example: [a, t-2, t-1, t, t+1, t+2, b].
//   kLeastSimilar: on each half the nl (nr) slots w whose local frame L_w = clamp(t - r + w) has
//                  the smallest l_w = S(L_w, x_t), ties: the outer slot first.
// Causal windows (settings.causal, for causal models: the window ends at its frame, whose future
// half is absent): the centre slot is c = 2r instead of r, the plain window is clamp(t - 2r + w),
// candidates lie outside [t - 2r, t], and every candidate goes into the past half: nl = k, nr = 0,
// rank q taking the q-th replaced slot from the centre (next to the centre: slots 2r - k .. 2r - 1,
// rank q at 2r - 1 - q, the local frames clamp(t - (2r - k) + w) before them; outermost: slots
// 0 .. k - 1, rank q at k - 1 - q; least similar: the k past slots of least l_w, best innermost).
// The gate's l_w are those of the 2r past slots. Example r = 2, candidates a then b:
// [t-2, t-1, b, a, t]. A causal window reads the poses of frames 0 .. t only (online mode), so a
// stream can fuse each frame as it arrives (cpu::PoseBankStream).
// l_w (w != r) are the local similarities: S(L_w, x_t), -inf for an invalid L_w, and a NaN one
// counts as -inf. The gate (gate != kOff) computes, for a frame with any candidate, g = the
// minimum of l_w (kMin) or their float sum in slot order divided by float(2r) (kMean), and keeps
// the candidates only when g < gate_threshold (r = 0: no local frame, never fused anyway).
// `fused` (optional, (total) int32): 1 where the window differs from the plain one (k > 0: an
// inserted frame lies outside [t - r, t + r], so it never equals the plain window), else 0.
// Index data (offsets, parents, bank_row, window_gather's rows / row_base / map) is the caller's to
// validate where it is built on the host. The kernels check it as they read it: the CPU ones throw
// v3d::Error naming the op and the argument; the GPU ones never read out of bounds, raise a device
// error (kernels/device_error.h, codes PoseBankCheck) reported at the device's next
// synchronisation, and leave the affected outputs unspecified.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/common.h"
#include "kernels/device_error.h"

namespace v3d::kernels {

enum class PoseCenter : int { kCentroid = 0, kRoot = 1 };

// Limits every backend enforces (the CUDA bank keeps one sequence's state in shared memory).
constexpr int kPoseBankMaxJoints = 32;
constexpr int kPoseBankMaxCapacity = 256;

struct PoseSkeleton {
  int joints = 0;
  const int32_t* parents = nullptr;  // (joints), host memory on the CPU, device memory on a GPU
  PoseCenter center = PoseCenter::kCentroid;
};

// What AS_i accumulates (docs/long-term-bank.md, "Readings").
enum class PoseAccumulate : int {
  kEntries = 0,  // sum over the other occupied slots j of S(entry_i, entry_j)
  kOffered = 1,  // sum of S(x, entry_i) over the frames x offered since entry i entered
};

// Which window slots the fused poses take.
enum class PosePlacement : int {
  kNextToCenter = 0,  // next to the centre, the local frames shifted outward
  kLeastSimilar = 1,  // the local frames least similar to the centre, in place
  kOutermost = 2,     // the outermost local frames, in place
};

// The incoherence gate: fuse only when the local window's similarity to its centre is below
// gate_threshold, the similarity being the mean or the minimum over the local frames.
enum class PoseGate : int { kOff = 0, kMean = 1, kMin = 2 };

struct PoseBankSettings {
  int capacity = 80;
  float threshold = 0.7f;
  PoseAccumulate accumulate = PoseAccumulate::kEntries;
};

struct PoseFuseSettings {
  int radius = 13;  // r = (receptive field - 1) / 2
  float fusion_threshold = 0.7f;
  int max_insert = 13;  // clamped to [0, 2r]
  int capacity = 80;    // the row length of `banks`
  PosePlacement placement = PosePlacement::kNextToCenter;
  PoseGate gate = PoseGate::kOff;
  float gate_threshold = 0.7f;
  bool causal = false;  // causal windows (see above)
};

// The index checks every backend makes (device errors carry the code; the messages are
// pose_bank_check_message's): i, j, k and value as each one describes.
enum class PoseBankCheck : int {
  kParent = 1,    // parents[i] = value is not -1 or another joint in [0, j)
  kOffsetsStart,  // offsets[0] = value is not 0
  kOffsetsOrder,  // offsets[i] = value < offsets[i - 1] = j
  kOffsetsEnd,    // offsets end at value but poses has j frames
  kBankRow,       // bank_row[i] = value is not a row of banks (j rows)
  kGatherRow,     // rows[i] = value is not a row of index_map (j rows)
  kGatherFrame,   // row_base[i] + index_map[k, j] = value is not a frame of src
};
std::string pose_bank_check_message(const char* op, PoseBankCheck check, int64_t i, int64_t j,
                                    int64_t k, int64_t value);

// s (n, m) = S(a (n, J, 2), b (m, J, 2)).
struct PoseSimilarityArgs {
  int64_t n = 0, m = 0;
  PoseSkeleton skeleton;
  static constexpr bool kDeviceErrors = true;
  void validate(const char* op) const;
  double flops() const { return 12.0 * static_cast<double>(n * m * skeleton.joints); }
  double bytes() const { return 4.0 * static_cast<double>(n * m * (1 + 4 * skeleton.joints)); }
};

// Algorithm 1 over num_seq sequences packed into `total` frames.
struct PoseBankArgs {
  int64_t num_seq = 0, total = 0;
  PoseSkeleton skeleton;
  PoseBankSettings settings;
  static constexpr bool kDeviceErrors = true;
  void validate(const char* op) const;
  // Floats of device workspace the CUDA bank needs (one pairwise matrix per sequence).
  int64_t workspace_floats() const;
  double flops() const {
    return 12.0 * static_cast<double>(total * settings.capacity * skeleton.joints);
  }
  double bytes() const {
    return 4.0 * static_cast<double>(total * (skeleton.joints * 2 + settings.capacity));
  }
};

// The fused window of each of `total` frames; banks has bank_rows rows of settings.capacity.
struct PoseFuseArgs {
  int64_t num_seq = 0, total = 0, bank_rows = 0;
  PoseSkeleton skeleton;
  PoseFuseSettings settings;
  static constexpr bool kDeviceErrors = true;
  void validate(const char* op) const;
  int64_t window() const { return 2 * int64_t{settings.radius} + 1; }
  double flops() const {
    return 12.0 * static_cast<double>(total * settings.capacity * skeleton.joints);
  }
  double bytes() const {
    return 4.0 * static_cast<double>(total * (settings.capacity + window() + 1));
  }
};

// out (n, window, channels) from src (src_frames, channels) through index_map (map_rows, window).
struct WindowGatherArgs {
  int64_t n = 0, window = 1, channels = 0, src_frames = 0, map_rows = 0;
  static constexpr bool kDeviceErrors = true;
  void validate(const char* op) const;
  double flops() const { return 0.0; }
  double bytes() const { return 8.0 * static_cast<double>(n * window * channels); }
};

namespace cpu {
// a: (n, joints, 2), b: (m, joints, 2) -> s: (n, m), overwritten.
void pose_similarity(const PoseSimilarityArgs& args, const float* a, const float* b, float* s);

// poses: (total, joints, 2); offsets: (num_seq + 1) -> bank_frames, bank_as: (num_seq, capacity);
// bank_size: (num_seq); history: (total, capacity) or nullptr.
void pose_bank(const PoseBankArgs& args, const float* poses, const int32_t* offsets,
               int32_t* bank_frames, float* bank_as, int32_t* bank_size, int32_t* history);

// banks: (bank_rows, capacity) local source frames or -1; bank_row: (total) the row frame g uses
// -> index_map: (total, 2r + 1); fused: (total) or nullptr.
void pose_bank_fuse(const PoseFuseArgs& args, const float* poses, const int32_t* offsets,
                    const int32_t* banks, const int32_t* bank_row, int32_t* index_map,
                    int32_t* fused);

// src: (src_frames, channels) per-frame features (the network's 2D input rows); rows: (n) global
// frames; row_base: (n) the global index of each row's sequence start; index_map: (map_rows,
// window) -> out: (n, window, channels), out[k, w, :] = src[row_base[k] + index_map[rows[k], w],
// :].
void window_gather(const WindowGatherArgs& args, const float* src, const int32_t* index_map,
                   const int32_t* rows, const int32_t* row_base, float* out);

// One sequence's bank and causal fused windows as its frames arrive one at a time (`v3d
// stream`): push offers frame t (the frames pushed before it are 0 .. t - 1) to the bank, then
// fuses frame t's causal window with the bank after it, exactly pose_bank's step and
// pose_bank_fuse's map row of frame t in online mode (bank_row[t] = t over the history), with the
// same code. fuse.causal must be set and fuse.capacity equal bank.capacity.
class PoseBankStream {
 public:
  PoseBankStream(const PoseSkeleton& skeleton, const PoseBankSettings& bank,
                 const PoseFuseSettings& fuse);
  ~PoseBankStream();
  PoseBankStream(const PoseBankStream&) = delete;
  PoseBankStream& operator=(const PoseBankStream&) = delete;
  // poses: (t + 1, joints, 2), frames 0 .. t of the sequence (the bank's entries are read from
  // it); writes frame t's window to map (2r + 1 local frames) and returns the number of inserted
  // poses (fused when > 0).
  int push(const float* poses, int32_t* map);
  const std::vector<int32_t>& bank() const;  // (capacity) slots, -1 empty
  int bank_size() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};
}  // namespace cpu

// GPU launchers: the same pointers, then `error` (the device's error record, kDeviceErrorWords
// int32, or null to skip recording) for the ops that check indices, the workspace where the args
// have one, and the stream. The grids are sized from the args, so no launcher reads the device.
namespace launch {
template <GpuKind G>
void pose_similarity(const PoseSimilarityArgs& args, const float* a, const float* b, float* s,
                     int32_t* error, StreamHandle stream);
// One thread block per sequence. workspace: args.workspace_floats() floats.
template <GpuKind G>
void pose_bank(const PoseBankArgs& args, const float* poses, const int32_t* offsets,
               int32_t* bank_frames, float* bank_as, int32_t* bank_size, int32_t* history,
               int32_t* error, float* workspace, StreamHandle stream);
template <GpuKind G>
void pose_bank_fuse(const PoseFuseArgs& args, const float* poses, const int32_t* offsets,
                    const int32_t* banks, const int32_t* bank_row, int32_t* index_map,
                    int32_t* fused, int32_t* error, StreamHandle stream);
template <GpuKind G>
void window_gather(const WindowGatherArgs& args, const float* src, const int32_t* index_map,
                   const int32_t* rows, const int32_t* row_base, float* out, int32_t* error,
                   StreamHandle stream);
}  // namespace launch

}  // namespace v3d::kernels
