// Training windows from prepared sequences, as VideoPose3D's common/generators.py (ChunkedGenerator
// with one output frame per window), plus the paper's interval resampling (V3D-LSFM, "Data
// augmentation", Tables 3-4).
//
//   WindowGenerator     one window of RF = 2*pad+1 frames per output frame (VideoPose3D's 1f
//                       training), edge-replicated at the borders, gathered at stride 1 or at a
//                       resampling stride s (frames c + s*k), optionally flipped, shuffled from a
//                       seeded std::mt19937_64 whose state is saved in checkpoints.
//
// A batch is (B, RF, J_in, 2) inputs and (B, 1, J, 3) targets, i.e. already (B, RF, J_in*2)
// network rows; with BatchSpec::camera_targets the targets are (B, 1, J + 4, 3) (see there).
#pragma once

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "data/prepare.h"
#include "data/skeleton.h"

namespace v3d::data {

// The paper's training-data modes (Tables 3-4), by name:
//   "Sequential"                   every centre once at stride 1
//   "Sequential x2"                every centre twice at stride 1 (the control: 2x epoch, no
//                                  resampling)
//   "Sample<N>+Sequential"         every centre once at stride 1 and once at stride N (N >= 2)
//   "Sample<A>/<B>/...+Sequential" every centre once at stride 1 and once at a stride drawn
//                                  uniformly from {A, B, ...} each epoch ("Sample3/5/7+Sequential")
//   "Sample<A>+Sample<B>+...+Sequential"
//                                  additive: every centre once at stride 1 and once at each of
//                                  A, B, ... ("Sample3+Sample5+Sample7+Sequential": 4 windows
//                                  per centre, the other reading of the paper's "Sample3/5/7")
struct ResampleMode {
  std::string name;
  int copies = 1;  // windows per centre (and per flip) in an epoch
  // Random: the second copy's stride (one) or its choices (several). Additive: copy k >= 1 has
  // stride strides[k - 1].
  std::vector<int> strides;
  bool additive = false;
  bool resampled() const { return !strides.empty(); }
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
  // Camera targets for semi-supervised training: each target window is (1, J + 4, 3), the J
  // root-relative joints, then the root's camera-space position (Sequence::trajectory), then the
  // view's 9 intrinsics in three rows (Camera::intrinsic(); flip_intrinsic() for a flipped window,
  // whose root x is negated as the joints' are). Every sequence needs a trajectory.
  bool camera_targets = false;
  // Data-parallel sharding: every rank draws the same epoch order and takes part `shard` of
  // `shards` of each global batch of batch_size windows (contiguous, sizes differing by at most
  // one). With several shards, a global batch whose smallest part would hold fewer than two
  // windows (batch norm needs two) ends the epoch on every rank alike.
  int shard = 0;
  int shards = 1;
};

struct Batch {
  int64_t size = 0;
  std::vector<float> inputs_2d;   // (size, RF, J_in, 2)
  std::vector<float> targets_3d;  // (size, 1, J, 3), or (size, 1, J + 4, 3) (camera_targets)
};

// Rows of a camera_targets target window after the J joints: the root position, then the 9
// intrinsics.
inline constexpr int kCameraTargetRows = 4;

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
  // Windows of global batch `b` of the epoch over all shards (0 past the end).
  int64_t global_batch_size(int64_t b) const;
  // [*begin, *begin + *count) of global batch b's windows is this shard's part.
  void shard_range(int64_t b, int64_t* begin, int64_t* count) const;
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
  int64_t max_batch() const override {
    return (spec_.batch_size + spec_.shards - 1) / spec_.shards;
  }
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

}  // namespace v3d::data
