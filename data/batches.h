// From a Dataset to training batches and evaluation inputs, as VideoPose3D's run.py and
// common/generators.py (../shared/reference/videopose3d.md 2.2-2.4), plus the paper's interval
// resampling (V3D-LSFM, "Data augmentation", Tables 3-4).
//
//   prepare_sequences   one Sequence per subject/action/camera: 2D normalised by the camera's
//                       res_w (x in [-1, 1], y in [-h/w, h/w]), 3D in camera space, metres,
//                       root-relative with the root zeroed; subset and downsample as VideoPose3D.
//   WindowGenerator     one window of RF = 2*pad+1 frames per output frame (VideoPose3D's 1f
//                       training), edge-replicated at the borders, gathered at stride 1 or at a
//                       resampling stride s (frames c + s*k), optionally flipped, shuffled from a
//                       seeded std::mt19937_64 whose state is saved in checkpoints.
//   split_phases        "TD N": a test sequence as its N phase sequences (frames p, p+N, ...).
//   make_eval_input     a whole sequence, edge-padded, for unchunked evaluation (+ flipped copy).
//
// Layouts are float32, row-major, channels-last: 2D (frames, J_in, 2), 3D (frames, J, 3); a batch
// is (B, RF, J_in, 2) inputs and (B, 1, J, 3) targets, i.e. already (B, RF, J_in*2) network rows.
#pragma once

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/skeleton.h"

namespace v3d::data {

// One camera view of one take.
struct Sequence {
  std::string subject, action;
  int camera = 0;
  int64_t frames = 0;
  std::vector<float> poses_2d;  // (frames, J_in, 2), normalised screen units
  std::vector<float> poses_3d;  // (frames, J, 3), camera space, metres, root-relative, root = 0;
                                // empty for 2D-only data (no training targets)
  std::array<float, 9> intrinsic{};  // Camera::intrinsic() of the view
};

// ---------------------------------------------------------------------------------------------
// Selection and preparation
// ---------------------------------------------------------------------------------------------

// VideoPose3D's defaults: train S1, S5, S6, S7, S8; test S9, S11.
const std::vector<std::string>& default_train_subjects();
const std::vector<std::string>& default_test_subjects();

struct PrepareSpec {
  std::vector<std::string> subjects = default_train_subjects();  // in this order; must exist
  std::vector<std::string> actions;  // prefixes (VideoPose3D's startswith filter); empty = all
  std::vector<int> cameras;          // camera indices; empty = every camera of the subject
  // Fraction of each sequence kept as one contiguous chunk whose start depends only on the length
  // (deterministic_random); VideoPose3D applies it to the training set only.
  double subset = 1.0;
  int downsample = 1;            // keep every downsample-th frame
  bool ground_truth_2d = false;  // project the 3D even where 2D is stored (VideoPose3D's -k gt)
  bool pseudo_coco = false;      // 2D as COCO-17 made from H36M-17 (the paper's second test set)
};

// For each selected subject (spec order), action (name order) and camera (index order):
//   3D: world_to_camera, then root-relative with the root zeroed (the targets of every loss);
//   2D: the stored pixels normalised with the camera's res_w/res_h, truncated to the 3D length,
//       or, where the camera has none (or ground_truth_2d), project_to_2d of the camera-space 3D.
// Throws one line naming the subject/action/camera on a missing subject, a camera without
// intrinsics for its 2D, 3D without extrinsics and no 2D, 2D shorter than the 3D, an empty
// selection result, NaN or Inf.
std::vector<Sequence> prepare_sequences(const Dataset& dataset, const PrepareSpec& spec);

// SHA-256 of `data` (FIPS 180-4).
std::array<uint8_t, 32> sha256(const std::string& data);
// VideoPose3D's deterministic_random: the first 4 bytes of sha256(data) as a little-endian
// uint32, divided by 2^32-1, scaled to [min_value, max_value) and floored.
int64_t deterministic_random(int64_t min_value, int64_t max_value, const std::string& data);
// [start, start + kept) of a sequence of `frames` frames under subset/downsample, and the stride:
// VideoPose3D's n = round(frames // ds * subset) * ds (round half to even, as Python) and
// start = deterministic_random(0, frames - n + 1, str(frames)); subset = 1 gives [0, frames).
struct SubsetRange {
  int64_t start = 0, count = 0, step = 1;
};
SubsetRange subset_range(int64_t frames, double subset, int downsample);

// Throws one line naming the subject/action when `seq` is empty, its arrays do not match its
// frame count and the layouts (J_in keypoints, J joints), or hold NaN/Inf; need_3d: 3D required.
void validate_sequence(const Sequence& seq, int keypoints, int joints, bool need_3d);

// Horizontal flip of (frames, J, features) poses in place: x *= -1, then joint j takes the
// values of skeleton.flip_permutation()[j]. An involution.
void flip_poses(std::vector<float>& poses, int64_t frames, const Skeleton& skeleton, int features);

// ---------------------------------------------------------------------------------------------
// Training windows
// ---------------------------------------------------------------------------------------------

// The paper's training-data modes (Tables 3-4), by name:
//   "Sequential"                   every centre once at stride 1
//   "Sequential x2"                every centre twice at stride 1 (the control: 2x epoch, no
//                                  resampling)
//   "Sample<N>+Sequential"         every centre once at stride 1 and once at stride N (N >= 2)
//   "Sample<A>/<B>/...+Sequential" every centre once at stride 1 and once at a stride drawn
//                                  uniformly from {A, B, ...} each epoch ("Sample3/5/7+Sequential")
struct ResampleMode {
  std::string name;
  int copies = 1;            // windows per centre (and per flip) in an epoch
  std::vector<int> strides;  // the second copy's stride (one) or its choices (several)
  bool resampled() const { return copies == 2 && !strides.empty(); }
};
// Throws listing the valid forms for anything else.
ResampleMode parse_resample_mode(const std::string& name);

struct BatchSpec {
  int64_t batch_size = 1024;  // windows per batch (= output frames); the last batch may be short
  int64_t pad = 13;           // RF = 2*pad + 1 (27 frames)
  int64_t causal_shift = 0;   // pad for a causal model: the window ends at its output frame
  std::string mode = "Sequential";
  bool flip = true;     // every window again, flipped (VideoPose3D's train-time augmentation)
  bool shuffle = true;  // permute the epoch's windows
  uint64_t seed = 1234;
};

struct Batch {
  int64_t size = 0;
  std::vector<float> inputs_2d;   // (size, RF, J_in, 2)
  std::vector<float> targets_3d;  // (size, 1, J, 3)
};

// What a prefetcher needs from a producer of batches. fill_next and start_epoch run on the
// prefetcher's thread; save_state_at may be called concurrently with them and must read only
// what start_epoch and load_state change.
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual int64_t max_batch() const = 0;
  virtual std::array<int64_t, 3> input_window_shape() const = 0;   // (RF, J_in, 2)
  virtual std::array<int64_t, 3> target_window_shape() const = 0;  // (1, J, 3)
  virtual int64_t num_batches() const = 0;                         // per epoch
  virtual void start_epoch() = 0;
  // Writes the next batch of the epoch (at most max_batch windows) and returns its size; 0 at
  // the end of the epoch. inputs: (max_batch, RF, J_in, 2), targets: (max_batch, 1, J, 3).
  virtual int64_t fill_next(float* inputs_2d, float* targets_3d) = 0;
  virtual int64_t batches_done() const = 0;  // batches handed out in the current epoch
  // The state this source would save after handing out `batches` batches of its current epoch.
  virtual std::string save_state_at(int64_t batches) const = 0;
  virtual void load_state(const std::string& state) = 0;
};

// Samples: for each sequence and centre frame c, `copies` windows per flip; window k of a sample at
// stride s holds 2D frame clamp(c + s*(k - pad - causal_shift), 0, frames-1), k = 0..RF-1 (edge
// replication, so sequences shorter than RF still give one window per frame), and its target is
// the 3D of frame c. Epoch order: samples indexed (flip, copy, global frame), permuted by a
// Fisher-Yates shuffle whose uniform draws are rejection-sampled from std::mt19937_64 (so the
// order is the same on every standard library); "Sample3/5/7" strides are drawn first, one per
// resampled window, from the same generator.
//
// State (save_state/load_state): the generator state at the start of the current epoch, the
// epoch count and the batch cursor; loading replays the epoch's draws and shuffle, so a resumed
// epoch yields the same batches. Loading checks the seed-independent layout (window count, RF,
// mode) and throws naming the mismatch.
class WindowGenerator final : public BatchSource {
 public:
  // Takes the sequences by value: std::move them in to avoid a copy. Every sequence needs 3D.
  WindowGenerator(std::vector<Sequence> sequences, const Skeleton& keypoints,
                  const Skeleton& joints, BatchSpec spec);

  const BatchSpec& spec() const { return spec_; }
  const ResampleMode& mode() const { return mode_; }
  int64_t receptive_field() const { return 2 * spec_.pad + 1; }
  int64_t num_frames() const { return total_frames_; }  // centre frames over all sequences
  int64_t num_windows() const { return num_windows_; }  // per epoch
  int64_t num_batches() const override;
  int64_t epoch() const { return epoch_; }  // start_epoch calls so far
  const std::vector<Sequence>& sequences() const { return sequences_; }

  // Draws the epoch's strides and order; the first call starts epoch 1.
  void start_epoch() override;
  // The next batch of the epoch into `out` (resized); false at the end of the epoch. Throws before
  // the first start_epoch.
  bool next(Batch& out);

  std::string save_state() const { return save_state_at(cursor_); }
  void load_state(const std::string& state) override;

  // Window i of the epoch's order (0 <= i < num_windows): sequence, centre, stride, flip.
  struct Window {
    int64_t sequence = 0, centre = 0;
    int stride = 1;
    bool flip = false;
  };
  Window window(int64_t i) const;
  // The 2D frame indices of a window of `frames` frames at centre/stride (edge replication).
  std::vector<int64_t> window_frames(int64_t frames, int64_t centre, int stride) const;

  // BatchSource
  int64_t max_batch() const override { return spec_.batch_size; }
  std::array<int64_t, 3> input_window_shape() const override;
  std::array<int64_t, 3> target_window_shape() const override;
  int64_t fill_next(float* inputs_2d, float* targets_3d) override;
  int64_t batches_done() const override { return cursor_; }
  std::string save_state_at(int64_t batches) const override;

 private:
  void draw_epoch();  // strides and order from rng_, which starts at epoch_start_state_
  void gather(const Window& w, float* input, float* target) const;

  std::vector<Sequence> sequences_;
  std::vector<int64_t> offsets_;  // offsets_[s] = first global frame of sequence s; back = total
  int keypoints_ = 0, joints_ = 0;
  std::vector<int> flip_2d_, flip_3d_;
  BatchSpec spec_;
  ResampleMode mode_;
  int64_t total_frames_ = 0, num_windows_ = 0;
  int flips_ = 1;

  std::mt19937_64 rng_;
  std::string epoch_start_state_;  // rng_ before the current epoch's draws
  int64_t epoch_ = 0;
  int64_t cursor_ = 0;           // batches handed out in the epoch
  std::vector<uint32_t> order_;  // the epoch's permutation of window indices
  std::vector<uint8_t> drawn_;   // (flips, total_frames) strides of the resampled copy
};

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

// "TD N": phase p = frames p, p+N, p+2N, ... of `seq` (p = 0..N-1), each a Sequence of its own
// with ceil((frames - p) / N) frames (phases with no frame, when frames < N, are left out).
// N = 1 returns the sequence unchanged.
std::vector<Sequence> split_phases(const Sequence& seq, int n);

// VideoPose3D's UnchunkedGenerator input for one sequence: the 2D edge-padded by
// (pad + causal_shift, pad - causal_shift) frames, so a valid-convolution model outputs exactly
// `frames` frames; with flip, a second, flipped copy (test-time augmentation).
struct EvalInput {
  int64_t batch = 1;              // 1, or 2 with the flipped copy
  int64_t length = 0;             // frames + 2*pad
  std::vector<float> inputs_2d;   // (batch, length, J_in, 2)
  std::vector<float> targets_3d;  // (frames, J, 3), unflipped (empty for 2D-only sequences)
};
EvalInput make_eval_input(const Sequence& seq, const Skeleton& keypoints, const Skeleton& joints,
                          int64_t pad, int64_t causal_shift, bool flip);

}  // namespace v3d::data
