// The synthetic motion generator: the built-in dataset of the main job and the tests.
//
// Procedural motion on the H36M-17 skeleton (Skeleton::h36m17()), in a z-up world in metres like
// Human3.6M's. For each subject and action:
//   body     per-subject bone lengths: human proportions (H36M mean bone lengths) times a global
//            scale in [0.94, 1.06] and a per-bone factor in [0.97, 1.03], left = right;
//   angles   joint angles as smooth functions of time t (seconds): an action pattern (gait cycle,
//            punches, swings, jacks, ...) plus slow seeded sinusoids, each passed through a smooth
//            (C-infinity) clamp to its joint limit, so knees and elbows bend one way only
//            (flexion in (0, 150) degrees) and every angle stays bounded;
//   pose     forward kinematics down the tree from a rest pose (one local rotation per bone);
//   placement  the lowest foot on the floor z = 0 (a C1 smooth minimum over the two feet keeps
//            the motion smooth when they swap: the lowest foot is at most 1.25 cm above the
//            floor, exactly on it while the other is 5 cm higher), plus a jump height >= 0 for
//            JumpingJacks; Walking and SkatingStride follow a turning path around the middle of
//            the subject's four real H36M cameras; the other actions keep the midpoint of the
//            feet at an anchor near that middle (feet planted, the pelvis moves over them).
// Slow actions: Walking, Waiting, Sitting. Fast actions (high joint angular velocities):
// JumpingJacks, Boxing, TennisSwing, SkatingStride, Dance.
//
// Output: a Dataset with positions_3d (frames, 17, 3) in world metres and, for each of the
// subject's 4 cameras (h36m_camera(subject, k)), positions_2d (frames, 17, 2) in pixels:
// image_coordinates(project_to_2d(world_to_camera(X))), VideoPose3D's ground-truth 2D.
//
// Determinism: every random quantity comes from std::mt19937_64 streams seeded from (seed,
// subject) for the body and (seed, subject, action) for the motion, with our own conversion to
// doubles (no std:: distributions, whose output is implementation-defined). Each subject and
// action is therefore the same whichever others are requested, and the motion is a function of
// time, not of the frame index: at twice the fps every second frame is bit for bit the same
// pose, and a longer sequence starts with the shorter one. Same seed, same build ->
// bit-identical output (and, through write_dataset, a byte-identical file).
// Cost: the default dataset (7 subjects x 8 actions x 600 frames) takes about 0.1 s to generate
// on one core and writes a 19 MB file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace v3d::data {

struct SynthOptions {
  uint64_t seed = 1;
  int64_t frames_per_action = 600;  // >= 1
  // Subjects with H36M camera extrinsics (h36m_subjects_with_extrinsics()); empty = all seven.
  // S1, S5, S6, S7, S8 make the default training split, S9 and S11 the test split.
  std::vector<std::string> subjects = {"S1", "S5", "S6", "S7", "S8", "S9", "S11"};
  // Names from synth_action_names(); empty = all eight.
  std::vector<std::string> actions = {"Walking", "Waiting",     "Sitting",       "JumpingJacks",
                                      "Boxing",  "TennisSwing", "SkatingStride", "Dance"};
  float fps = 50.0f;  // > 0
};

// Generates the dataset. Throws v3d::Error naming the offending value on an unknown subject or
// action, a duplicate, frames_per_action < 1 or a non-positive fps.
Dataset synthesize(const SynthOptions& options);

// All actions, slow ones first: Walking, Waiting, Sitting, JumpingJacks, Boxing, TennisSwing,
// SkatingStride, Dance.
const std::vector<std::string>& synth_action_names();
// The fast subset: JumpingJacks, Boxing, TennisSwing, SkatingStride, Dance.
const std::vector<std::string>& synth_fast_actions();

}  // namespace v3d::data
