// Semi-supervised training, as VideoPose3D's run.py does it with `-sun` (the paper's
// back-projection, Pavllo et al. 2019, section 4): the subjects of data.train_subjects are
// labelled, those of train.semi_supervised.unlabelled_subjects are seen through their 2D
// keypoints and cameras only. Each training step takes a labelled batch and an unlabelled one:
//
//   pose        mpjpe(pose_model(x_lab), root-relative 3D targets), as supervised training;
//   trajectory  a second TemporalModel of the same architecture with one output joint predicts
//               the root's camera-space position; trained on the labelled batch with
//               weighted_mpjpe, weights 1 / z of the target root (always on, warm-up included);
//   projection  (after train.semi_supervised.warmup_epochs) the unlabelled batch's predicted
//               root-relative pose plus predicted trajectory, projected with the view's intrinsics
//               (project_to_2d, or the linear form), against the 2D input of the output frame:
//               mpjpe in normalised screen units, times projection_weight;
//   bone length (after the warm-up) mean over the bones of |mean bone length of the labelled
//               predictions - that of the unlabelled predictions| (both predicted), times
//               bone_length_weight.
//   total = pose + trajectory (+ projection) (+ bone length); one AMSGrad per model at the same lr.
//
// Differences from run.py: the two batches run through the pose model in two forwards rather than
// one on their concatenation (batch norm normalises each batch with its own statistics and
// updates its running statistics twice per step), and the projection's target is the 2D of the
// output frame, causal shift included (run.py's slice ignores it).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/prefetch.h"
#include "data/skeleton.h"
#include "data/windows.h"
#include "runtime/autograd.h"
#include "runtime/optimizer.h"
#include "runtime/tensor.h"
#include "trainer/config.h"
#include "trainer/model.h"

namespace v3d {

// A camera_targets batch's targets (data::BatchSpec), (B, 1, J + 4, 3), split into views:
struct CameraTargets {
  Tensor poses;      // (B, 1, J, 3) root-relative
  Tensor root;       // (B, 1, 1, 3) camera space
  Tensor intrinsic;  // (B, 9)
};
CameraTargets split_camera_targets(const Tensor& targets, int64_t joints);

// The 2D input of each window's output frame: inputs (B, RF, J, 2) -> (B, 1, J, 2), frame
// `frame` of the window (pad + causal_shift).
Tensor output_frame_2d(const Tensor& inputs, int64_t frame);

// weighted_mpjpe(pred, root) with w = 1 / root.z; pred and root (B, 1, 1, 3).
Var trajectory_loss(const Var& pred, const Tensor& root);
// mpjpe(project_2d(pose + trajectory), target): pose (B, 1, J, 3), trajectory (B, 1, 3),
// intrinsic (B, 9), target (B, 1, J, 2).
Var projection_loss(const Var& pose, const Var& trajectory, const Tensor& intrinsic,
                    const Tensor& target, bool linear);
// Mean over the bones (joints with a parent) of |mean_lab(len_b) - mean_unlab(len_b)|, the means
// over every sample of each batch; labelled, unlabelled (..., J, 3).
Var bone_length_loss(const Var& labelled, const Var& unlabelled, const std::vector<int>& parents);

// The losses of one step, for the logs (metres, or normalised screen units for projection).
struct SemiStepLosses {
  Tensor pose, trajectory, projection;  // projection undefined while warming up
};

// The semi-supervised part of `v3d train` (trainer/train.cpp): the trajectory model, its
// optimizer and the unlabelled batches.
class SemiSupervisedTrainer {
 public:
  // labelled: the labelled generator's spec (its pad, causal shift, batch size, flip, mode);
  // the unlabelled stream uses it with seed 4321 (VideoPose3D's).
  SemiSupervisedTrainer(const ExperimentConfig& config, const TemporalModelConfig& pose_model,
                        Device device, const data::BatchSpec& labelled,
                        const data::Skeleton& keypoints, const data::Skeleton& joints);

  TemporalModel& trajectory_model() { return *trajectory_model_; }

  // Per epoch: the lr and BN momentum of the pose model's.
  void start_epoch(float lr, float bn_momentum);
  // The step's total loss (to back-propagate) for a labelled batch at 0-based `epoch`; the pose
  // model's and the trajectory model's gradients must have been zeroed.
  Var step_loss(TemporalModel& pose_model, const data::DeviceBatch& batch, int64_t epoch,
                PhiloxState& dropout_rng, SemiStepLosses* losses);
  // The trajectory model's AMSGrad step (after the backward pass).
  void optimizer_step();

  // Writes `dir`/trajectory_model.h5 atomically: the trajectory model's state_dict, marked
  // metadata "model" = "trajectory" so restore_model refuses it as a pose model.
  std::string save(const std::string& dir, int64_t epoch, const std::string& config_yaml) const;

 private:
  SemiSupervisedConfig semi_;
  int64_t joints_ = 0, output_frame_ = 0;
  std::vector<int> parents_;
  std::unique_ptr<TemporalModel> trajectory_model_;
  std::unique_ptr<AdamAmsgrad> optimizer_;
  PhiloxState dropout_rng_;
  std::unique_ptr<data::Prefetcher> unlabelled_;
  data::DeviceBatch unlabelled_batch_;
};

}  // namespace v3d
