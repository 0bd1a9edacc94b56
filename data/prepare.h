// From a Dataset to prepared sequences, as VideoPose3D's run.py (its data preparation: camera
// space, root-relative 3D, normalised 2D, subset and downsample).
//
//   prepare_sequences   one Sequence per subject/action/camera: 2D normalised by the camera's
//                       res_w (x in [-1, 1], y in [-h/w, h/w]), 3D in camera space, metres,
//                       root-relative with the root zeroed; subset and downsample as VideoPose3D.
//
// Layouts are float32, row-major, channels-last: 2D (frames, J_in, 2), 3D (frames, J, 3).
// data/windows.h cuts training windows from the sequences, data/eval_input.h evaluation inputs.
#pragma once

#include <array>
#include <cstdint>
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
  std::vector<float> poses_2d;    // (frames, J_in, 2), normalised screen units
  std::vector<float> poses_3d;    // (frames, J, 3), camera space, metres, root-relative, root = 0;
                                  // empty for 2D-only data (no training targets)
  std::vector<float> trajectory;  // (frames, 3), the root joint in camera space, metres (what
                                  // poses_3d is relative to); empty when poses_3d is
  std::array<float, 9> intrinsic{};  // Camera::intrinsic() of the view
};

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
  // The layout of the stored 2D to read: "" for the skeleton's, or the file's keypoints_2d
  // ("coco17", "mpii16": a detector's keypoints, used as stored; they cannot be projected from
  // the 3D, so every selected view must have them).
  std::string keypoints_2d;
};

// For each selected subject (spec order), action (name order) and camera (index order):
//   3D: world_to_camera, then root-relative with the root zeroed (the targets of every loss);
//   2D: the stored pixels normalised with the camera's res_w/res_h, truncated to the 3D length,
//       or, where the camera has none (or ground_truth_2d), project_to_2d of the camera-space 3D;
//       in a file whose 2D has its own layout (keypoints_2d), the stored pixels only, and
//       spec.keypoints_2d must name that layout.
// Throws one line naming the subject/action/camera on a missing subject, a camera without
// intrinsics for its 2D, 3D without extrinsics and no 2D, 2D shorter than the 3D, an empty
// selection result, NaN or Inf.
std::vector<Sequence> prepare_sequences(const Dataset& dataset, const PrepareSpec& spec);

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

}  // namespace v3d::data
