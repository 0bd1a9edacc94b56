// The supervised training loop: VideoPose3D's recipe (VideoPose3D run.py: the training loop, its
// learning-rate decay and batch-norm momentum schedule) on an experiment config (trainer/config.h).
//
//   data      the training split of load_sequences (trainer/sequences.h: training subjects and
//             actions, subset, downsample, ground-truth 2D, keypoints), one window per output frame
//             from data::WindowGenerator (pad = the model's, mode, flip, shuffle seeded by
//             train.seed), prefetched.
//   model     TemporalModel (strided form) on the config's device, initialised from train.seed.
//   step      loss = mpjpe(model(x), target) in metres; zero_grad, backward, AMSGrad step.
//   semi      with train.semi_supervised.enabled, trainer/semi.h adds the trajectory model and
//             the unlabelled subjects' losses to each step (docs/training.md); one process, no
//             resume.
//   epoch k   (0-based) lr_k = lr * lr_decay^k, and BN momentum start * (end/start)^(k/E) with
//             E = train.epochs (VideoPose3D: 0.1 * 100^(-k/E) for the defaults). Both are functions
//             of k alone, so a resumed run recomputes them (VideoPose3D's resume quirk, which keeps
//             0.1 for the first resumed epoch, is deliberately not reproduced).
//   logs      one line per epoch in <out>/train_log.jsonl and <out>/train_log.csv.
//   saves     <out>/epoch_<N>.h5 (trainer/checkpoint.h) every train.checkpoint_every epochs and
//             after the last: model state_dict, AMSGrad state, next lr, epoch, the generator's
//             state, the dropout Philox state and the resolved config.
//
// Resume: on the CPU, training E1 epochs, saving, and resuming to E2 gives the same bytes as
// training E2 epochs in one go: the lr is kept as the float32 the checkpoint stores, the momentum
// depends on the epoch only, and every random stream (generator, dropout) is restored.
//
// Data parallel (docs/distributed.md), with W ranks: every rank draws the same epoch order and
// trains on its part of each global batch of train.batch_size windows (data::BatchSpec's
// sharding); after the backward pass each rank's gradient is weighted by its share of the global
// batch and all-reduced (rank-order sum), so every replica takes the same optimizer step; batch
// norm uses each rank's own batch statistics, and the running statistics are rank 0's (broadcast
// at the end of every epoch). The initial weights are rank 0's. Rank 0 alone prints, logs and
// saves; logged losses and samples are over all ranks. The generator state is global, so a
// checkpoint resumes with any number of ranks. Rank r > 0 draws dropout from its own stream.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "trainer/config.h"

namespace v3d {

class Communicator;
struct EpochLog;

struct TrainOptions {
  std::string out_dir;  // checkpoints and logs; empty = config.train.checkpoint_dir
  std::string resume;   // a checkpoint to continue from; empty = start from scratch
  // Stop once this many epochs (in all, counting those of a resumed checkpoint) are complete; the
  // lr and momentum schedules still follow config.train.epochs. -1 = config.train.epochs.
  int64_t max_epochs = -1;
  bool quiet = false;  // no progress line on stderr, no epoch lines on stdout
  // The data-parallel world this process is a rank of; nullptr = world() (runtime/communicator.h:
  // single-process unless a launcher such as mpirun started several ranks).
  Communicator* comm = nullptr;
  // Called on the writing rank after each epoch is logged (and saved, when it is a checkpoint
  // epoch), with its log line: `v3d study` counts its progress with it.
  std::function<void(const EpochLog&)> on_epoch;
};

struct EpochLog {
  int64_t epoch = 0;              // 1-based
  double train_mpjpe_mm = 0;      // frame-weighted mean of the batch losses, millimetres
  int64_t samples = 0;            // windows trained on
  double seconds = 0;             // wall time of the epoch
  double samples_per_second = 0;  // samples / seconds
  float lr = 0;                   // the epoch's learning rate
  float bn_momentum = 0;          // the epoch's BN momentum
};

struct TrainResult {
  int64_t epochs = 0;         // epochs complete at the end (including resumed ones)
  std::vector<EpochLog> log;  // the epochs trained by this call
  std::string checkpoint;     // the last checkpoint written (or the resumed one, if none)
  // FNV-1a of the final weights' and BN statistics' bits: equal on every data-parallel replica.
  uint64_t weights_checksum = 0;
};

// Trains as described above. Throws v3d::Error, one line, on an invalid config, unreadable data,
// an empty selection, an unusable output directory, or a checkpoint that does not match the
// config (architecture, data layout) or has no optimizer or generator state.
TrainResult train(const ExperimentConfig& config, const TrainOptions& options);

// The BN momentum of 0-based epoch `epoch` of `epochs` (VideoPose3D run.py's decay).
float bn_momentum_at(const BnMomentumConfig& momentum, int64_t epoch, int64_t epochs);

// The resolved config stored in a checkpoint, with `overrides` applied (for `--resume` without
// `--config`).
ExperimentConfig checkpoint_config(const std::string& path,
                                   const std::vector<std::string>& overrides = {});

}  // namespace v3d
