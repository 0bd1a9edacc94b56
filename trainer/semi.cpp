// Semi-supervised training (trainer/semi.h).
#include "trainer/semi.h"

#include <filesystem>
#include <utility>

#include "kernels/common.h"
#include "runtime/loss.h"
#include "runtime/ops.h"
#include "runtime/projection.h"
#include "runtime/time_slice.h"
#include "trainer/checkpoint.h"
#include "trainer/sequences.h"

namespace v3d {

namespace {

// VideoPose3D's seed of the unlabelled batch generator.
constexpr uint64_t kUnlabelledSeed = 4321;

// Rows [start, start + rows) of (B, R, C).
Tensor rows_of(const Tensor& x, int64_t start, int64_t rows) {
  return ops::time_slice(x, start, 1, rows);
}

}  // namespace

CameraTargets split_camera_targets(const Tensor& targets, int64_t joints) {
  const int64_t b = targets.size(0);
  V3D_CHECK(targets.ndim() == 4 && targets.size(2) == joints + data::kCameraTargetRows,
            "split_camera_targets: expected (B, 1, " << joints + data::kCameraTargetRows
                                                     << ", 3) targets, got " << targets.str());
  const Tensor rows = targets.view({b, joints + data::kCameraTargetRows, 3});
  CameraTargets t;
  t.poses = rows_of(rows, 0, joints).view({b, 1, joints, 3});
  t.root = rows_of(rows, joints, 1).view({b, 1, 1, 3});
  t.intrinsic = rows_of(rows, joints + 1, 3).view({b, 9});
  return t;
}

Tensor output_frame_2d(const Tensor& inputs, int64_t frame) {
  const int64_t b = inputs.size(0), rf = inputs.size(1), j = inputs.size(2);
  return rows_of(inputs.view({b, rf, j * 2}), frame, 1).view({b, 1, j, 2});
}

Var trajectory_loss(const Var& pred, const Tensor& root) {
  // w = 1 / z of the target root, computed on the host: B values per step.
  const std::vector<float> r = root.to_vector();
  std::vector<float> w(r.size() / 3);
  for (size_t i = 0; i < w.size(); ++i) w[i] = 1.0f / r[i * 3 + 2];
  return ag::mpjpe(pred, root,
                   Tensor::from_vector(w, {static_cast<int64_t>(w.size())}, root.device()));
}

Var projection_loss(const Var& pose, const Var& trajectory, const Tensor& intrinsic,
                    const Tensor& target, bool linear) {
  return ag::mpjpe(ag::project_2d(pose, trajectory, intrinsic, linear), target);
}

Var bone_length_loss(const Var& labelled, const Var& unlabelled, const std::vector<int>& parents) {
  const int64_t joints = static_cast<int64_t>(parents.size());
  int64_t bones = 0;
  for (int p : parents) bones += p >= 0 ? 1 : 0;
  V3D_CHECK(bones > 0, "bone_length_loss: the skeleton has no bones");
  // (1, J): the mean over the rows of (rows, J) lengths, as ones(1, rows) / rows @ lengths.
  const auto mean_lengths = [&](const Var& pose) {
    const Var len = ag::bone_lengths(pose, parents);
    const int64_t rows = len.value().numel() / joints;
    const Tensor avg =
        Tensor::full({1, rows}, 1.0f / static_cast<float>(rows), pose.value().device());
    return ag::matmul(Var(avg), ag::view(len, Shape{rows, joints}));
  };
  const Var d = ag::add(mean_lengths(labelled), ag::scale(mean_lengths(unlabelled), -1.0f));
  const Var abs = ag::add(ag::relu(d), ag::relu(ag::scale(d, -1.0f)));  // |d|; roots give 0
  return ag::scale(ag::sum(abs), 1.0f / static_cast<float>(bones));
}

SemiSupervisedTrainer::SemiSupervisedTrainer(const ExperimentConfig& config,
                                             const TemporalModelConfig& pose_model, Device device,
                                             const data::BatchSpec& labelled,
                                             const data::Skeleton& keypoints,
                                             const data::Skeleton& joints)
    : semi_(config.train.semi_supervised),
      joints_(joints.num_joints()),
      output_frame_(labelled.pad + labelled.causal_shift),
      parents_(joints.parents) {
  V3D_REQUIRE(keypoints.name == joints.name && keypoints.num_joints() == joints.num_joints(),
              "train.semi_supervised: the reprojection loss compares the projected "
                  << joints.name << " joints with the 2D input, which has the " << keypoints.name
                  << " layout (data.keypoints must match the 3D skeleton)");
  V3D_REQUIRE(static_cast<int64_t>(parents_.size()) == joints_,
              "train.semi_supervised: the skeleton '" << joints.name << "' has no parent table");
  TemporalModelConfig traj = pose_model;
  traj.joints_out = 1;
  trajectory_model_ =
      std::make_unique<TemporalModel>(traj, device, config.train.seed ^ 0x7472616a656374ull);
  AdamOptions adam;
  adam.lr = static_cast<float>(config.train.lr);
  optimizer_ = std::make_unique<AdamAmsgrad>(trajectory_model_->parameters(), adam);
  dropout_rng_ = PhiloxState{config.train.seed ^ 0x7472616a656374ull, 0};

  DataConfig unlabelled_data = config.data;
  unlabelled_data.train_subjects = semi_.unlabelled_subjects;
  unlabelled_data.subset = 1.0;  // VideoPose3D subsets the labelled subjects only
  LoadedSequences loaded = load_sequences(unlabelled_data, Split::kTrain);
  data::BatchSpec spec = labelled;
  spec.seed = kUnlabelledSeed;
  spec.camera_targets = true;
  unlabelled_ = std::make_unique<data::Prefetcher>(
      std::make_unique<data::WindowGenerator>(std::move(loaded.sequences), keypoints, joints, spec),
      device);
  unlabelled_->start_epoch();
}

void SemiSupervisedTrainer::start_epoch(float lr, float bn_momentum) {
  optimizer_->set_lr(lr);
  trajectory_model_->set_bn_momentum(bn_momentum);
}

Var SemiSupervisedTrainer::step_loss(TemporalModel& pose_model, const data::DeviceBatch& batch,
                                     int64_t epoch, PhiloxState& dropout_rng,
                                     SemiStepLosses* losses) {
  const CameraTargets lab = split_camera_targets(batch.targets_3d, joints_);
  const Var pose =
      channels_to_poses(pose_model.forward_train(batch.inputs_2d, dropout_rng), joints_);
  const Var pose_loss = ag::mpjpe(pose, lab.poses);
  const Var traj_loss = trajectory_loss(
      channels_to_poses(trajectory_model_->forward_train(batch.inputs_2d, dropout_rng_), 1),
      lab.root);
  Var total = ag::add(pose_loss, traj_loss);
  Tensor projection;
  const bool unsupervised =
      epoch >= semi_.warmup_epochs && (semi_.projection_weight > 0 || semi_.bone_length_weight > 0);
  if (unsupervised) {
    // The unlabelled stream is endless: an epoch of it ends wherever the labelled one does.
    if (!unlabelled_->next(unlabelled_batch_)) {
      unlabelled_->start_epoch();
      V3D_CHECK(unlabelled_->next(unlabelled_batch_), "the unlabelled generator has no batch");
    }
  }
  // Batch norm needs two windows; a last unlabelled batch of one is skipped.
  if (unsupervised && unlabelled_batch_.size >= 2) {
    const data::DeviceBatch& u = unlabelled_batch_;
    const CameraTargets cam = split_camera_targets(u.targets_3d, joints_);
    const Var upose =
        channels_to_poses(pose_model.forward_train(u.inputs_2d, dropout_rng), joints_);
    if (semi_.projection_weight > 0) {
      const Var utraj = trajectory_model_->forward_train(u.inputs_2d, dropout_rng_);  // (B, 1, 3)
      const Var proj =
          projection_loss(upose, utraj, cam.intrinsic, output_frame_2d(u.inputs_2d, output_frame_),
                          semi_.linear_projection);
      projection = proj.value();
      total = ag::add(total, ag::scale(proj, static_cast<float>(semi_.projection_weight)));
    }
    if (semi_.bone_length_weight > 0) {
      total = ag::add(total, ag::scale(bone_length_loss(pose, upose, parents_),
                                       static_cast<float>(semi_.bone_length_weight)));
    }
  }
  if (losses != nullptr) *losses = {pose_loss.value(), traj_loss.value(), projection};
  return total;
}

void SemiSupervisedTrainer::optimizer_step() { optimizer_->step(); }

std::string SemiSupervisedTrainer::save(const std::string& dir, int64_t epoch,
                                        const std::string& config_yaml) const {
  Checkpoint ckpt;
  ckpt.tensors = trajectory_model_->state_dict();
  std::string arch;
  for (int64_t w : trajectory_model_->config().filter_widths) {
    if (!arch.empty()) arch += ',';
    arch += std::to_string(w);
  }
  ckpt.architecture = arch;
  ckpt.config_yaml = config_yaml;
  ckpt.epoch = epoch;
  ckpt.lr = optimizer_->lr();
  ckpt.metadata["created_by"] = "v3d train";
  ckpt.metadata["model"] = kTrajectoryModelRole;
  const std::string path = (std::filesystem::path(dir) / "trajectory_model.h5").string();
  save_checkpoint(ckpt, path);  // atomic: a temporary file, then a rename
  return path;
}

}  // namespace v3d
