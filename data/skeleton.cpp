// Skeletons of data/skeleton.h and the pseudo-COCO map (VideoPose3D's common/h36m_dataset.py and
// common/skeleton.py; docs/data-format.md).
//
// h36m17 joint names are Martinez's H36M_NAMES for the 17 joints VideoPose3D keeps (the names the
// field uses; joint 9 "Neck/Nose" sits at the nose/chin, joint 10 "Head" near the crown), and
// coco17 names are COCO's own keypoint names. Each layout keeps its source's names so files and
// papers can be compared by name.
//
// ## Pseudo-COCO from H36M-17
//
// The paper's second test set feeds the model COCO-17 2D keypoints made from Human3.6M. Each COCO
// keypoint is a weighted sum of H36M-17 joints (PseudoCocoSource) whose weights sum to 1, so it
// moves with the body (it commutes with any affine map, e.g. screen normalisation, but not with
// perspective projection: pseudo-COCO 2D input is made from the projected H36M 2D joints):
//
// | COCO | keypoint       | H36M-17 source                                                  |
// |------|----------------|-----------------------------------------------------------------|
// | 0    | nose           | 9 Neck/Nose                                                     |
// | 1    | left_eye       | 0.7 Neck/Nose + 0.3 Head + 0.1 (LShoulder - RShoulder)          |
// | 2    | right_eye      | 0.7 Neck/Nose + 0.3 Head + 0.1 (RShoulder - LShoulder)          |
// | 3    | left_ear       | 0.8 Neck/Nose + 0.2 Head + 0.25 (LShoulder - RShoulder)         |
// | 4    | right_ear      | 0.8 Neck/Nose + 0.2 Head + 0.25 (RShoulder - LShoulder)         |
// | 5, 6 | l/r shoulder   | 11 LShoulder, 14 RShoulder                                      |
// | 7, 8 | l/r elbow      | 12 LElbow, 15 RElbow                                            |
// | 9, 10| l/r wrist      | 13 LWrist, 16 RWrist                                            |
// | 11,12| l/r hip        | 4 LHip, 1 RHip                                                  |
// | 13,14| l/r knee       | 5 LKnee, 2 RKnee                                                |
// | 15,16| l/r ankle      | 6 LFoot, 3 RFoot                                                |
//
// Why these weights. H36M has no eyes or ears, only the head's midline: Neck/Nose (about nose
// level) and Head (about 0.11-0.12 m above it, near the crown). Eyes sit a few centimetres above
// the nose (0.3 of the way up), ears a little lower (0.2 of the way up). Along the midline alone
// the left and right eye would coincide, which no detector produces and which erases the head's
// left/right cue, so a lateral offset along the shoulder line (LShoulder - RShoulder, about
// 0.30-0.34 m in H36M) is added: 0.1 of it is about 3 cm (half the distance between the eyes),
// 0.25 about 8 cm (half the head's width at the ears). The offset uses weights +a and -a, so the
// sum stays 1 (an affine, not convex, combination: some weights are negative). The map is
// mirror-symmetric: flipping H36M (left/right swap, x negated) then mapping equals mapping then
// flipping COCO. Setting the lateral coefficients to 0 gives the midline-only estimate.
#include <algorithm>

#include "data/skeleton.h"
#include "kernels/common.h"
#include "kernels/text.h"

namespace v3d::data {

namespace {

Skeleton make_h36m17() {
  Skeleton s;
  s.name = "h36m17";
  s.joint_names = {"Hip",    "RHip",   "RKnee",     "RFoot",     "LHip",  "LKnee",
                   "LFoot",  "Spine",  "Thorax",    "Neck/Nose", "Head",  "LShoulder",
                   "LElbow", "LWrist", "RShoulder", "RElbow",    "RWrist"};
  s.parents = {-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15};
  s.joints_left = {4, 5, 6, 11, 12, 13};
  s.joints_right = {1, 2, 3, 14, 15, 16};
  s.validate();
  return s;
}

Skeleton make_coco17() {
  Skeleton s;
  s.name = "coco17";
  s.joint_names = {"nose",          "left_eye",       "right_eye",  "left_ear",    "right_ear",
                   "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
                   "right_wrist",   "left_hip",       "right_hip",  "left_knee",   "right_knee",
                   "left_ankle",    "right_ankle"};
  // Keypoints, not a tree: no parents. Left = odd indices, as VideoPose3D's keypoints_symmetry.
  s.joints_left = {1, 3, 5, 7, 9, 11, 13, 15};
  s.joints_right = {2, 4, 6, 8, 10, 12, 14, 16};
  s.validate();
  return s;
}

Skeleton make_mpii16() {
  Skeleton s;
  s.name = "mpii16";
  s.joint_names = {"right_ankle",    "right_knee",    "right_hip",   "left_hip",
                   "left_knee",      "left_ankle",    "pelvis",      "thorax",
                   "upper_neck",     "head_top",      "right_wrist", "right_elbow",
                   "right_shoulder", "left_shoulder", "left_elbow",  "left_wrist"};
  // Keypoints, not a tree: no parents. VideoPose3D's keypoints_symmetry for this layout.
  s.joints_left = {3, 4, 5, 13, 14, 15};
  s.joints_right = {2, 1, 0, 12, 11, 10};
  s.validate();
  return s;
}

// H36M-17 indices used by the pseudo-COCO table.
constexpr int kNeckNose = 9, kHead = 10, kLShoulder = 11, kRShoulder = 14;

// Midline weight of Head (the rest goes to Neck/Nose) and lateral coefficient along the shoulder
// line; see the table at the top of this file.
constexpr float kEyeUp = 0.3f, kEyeSide = 0.1f;
constexpr float kEarUp = 0.2f, kEarSide = 0.25f;

PseudoCocoSource direct(int joint) { return {{joint}, {1.0f}}; }

// side = +1 for a left keypoint, -1 for a right one.
PseudoCocoSource head_estimate(float up, float lateral, int side) {
  return {{kNeckNose, kHead, kLShoulder, kRShoulder},
          {1.0f - up, up, side * lateral, -side * lateral}};
}

}  // namespace

std::vector<int> Skeleton::flip_permutation() const {
  validate();
  std::vector<int> perm(joint_names.size());
  for (size_t j = 0; j < perm.size(); ++j) perm[j] = static_cast<int>(j);
  for (size_t i = 0; i < joints_left.size(); ++i) {
    perm[joints_left[i]] = joints_right[i];
    perm[joints_right[i]] = joints_left[i];
  }
  return perm;
}

void Skeleton::validate() const {
  const int n = num_joints();
  V3D_REQUIRE(n > 0, "skeleton '" << name << "' has no joints");
  // Names identify joints across files and in messages: one name, one joint.
  for (int j = 0; j < n; ++j) {
    V3D_REQUIRE(!joint_names[j].empty(),
                "skeleton '" << name << "': joint " << j << " has an empty name");
    for (int i = 0; i < j; ++i) {
      V3D_REQUIRE(joint_names[i] != joint_names[j],
                  "skeleton '" << name << "': joints " << i << " and " << j << " share the name '"
                               << excerpt(joint_names[j]) << "' (names must be distinct)");
    }
  }
  V3D_REQUIRE(parents.empty() || static_cast<int>(parents.size()) == n,
              "skeleton '" << name << "': " << parents.size() << " parents for " << n << " joints");
  int roots = 0;
  // Every parent in range before any chain is walked: a walk from joint j reaches joints whose own
  // parents a check of j alone would not have looked at.
  for (int j = 0; j < static_cast<int>(parents.size()); ++j) {
    const int p = parents[j];
    V3D_REQUIRE(p >= -1 && p < n && p != j, "skeleton '" << name << "': parent " << p
                                                         << " of joint " << j
                                                         << " out of range (expected -1 for the "
                                                            "root or another joint in [0, "
                                                         << n << "))");
    roots += p == -1;
  }
  for (int j = 0; j < static_cast<int>(parents.size()); ++j) {
    // Walking up from j must reach the root within n steps, otherwise the parents form a cycle.
    int steps = 0;
    for (int a = j; a != -1; a = parents[a]) {
      V3D_REQUIRE(++steps <= n,
                  "skeleton '" << name << "': joint " << j << " is in a parent cycle");
    }
  }
  V3D_REQUIRE(parents.empty() || roots == 1,
              "skeleton '" << name << "': expected exactly one root (parent -1), found " << roots);
  V3D_REQUIRE(joints_left.size() == joints_right.size(),
              "skeleton '" << name << "': " << joints_left.size() << " left joints but "
                           << joints_right.size() << " right joints");
  std::vector<int> seen(n, 0);
  for (const auto* side : {&joints_left, &joints_right}) {
    for (int j : *side) {
      V3D_REQUIRE(j >= 0 && j < n, "skeleton '" << name << "': left/right joint " << j
                                                << " out of range [0, " << n << ")");
      V3D_REQUIRE(seen[j] == 0, "skeleton '"
                                    << name << "': joint " << j
                                    << " listed twice in left/right (they must not overlap)");
      seen[j] = 1;
    }
  }
}

const Skeleton& Skeleton::h36m17() {
  static const Skeleton s = make_h36m17();
  return s;
}

const Skeleton& Skeleton::coco17() {
  static const Skeleton s = make_coco17();
  return s;
}

const Skeleton& Skeleton::mpii16() {
  static const Skeleton s = make_mpii16();
  return s;
}

const Skeleton& Skeleton::by_name(const std::string& name) {
  if (name == "h36m17") return h36m17();
  if (name == "coco17") return coco17();
  if (name == "mpii16") return mpii16();
  V3D_CHECK(false, "unknown skeleton '" << name << "' (known: h36m17, coco17, mpii16)");
  return h36m17();
}

std::vector<int> keypoint_tree(const Skeleton& skeleton) {
  if (!skeleton.parents.empty()) return skeleton.parents;
  if (skeleton.name == "coco17") return {-1, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14};
  if (skeleton.name == "mpii16") return {1, 2, 6, 6, 3, 4, -1, 6, 7, 8, 11, 12, 7, 7, 13, 14};
  throw Error("the keypoint layout " + skeleton.name + " has no bone tree");
}

const std::vector<PseudoCocoSource>& pseudo_coco_from_h36m() {
  static const std::vector<PseudoCocoSource> kMap = {
      direct(kNeckNose),                    // 0 nose
      head_estimate(kEyeUp, kEyeSide, +1),  // 1 left_eye
      head_estimate(kEyeUp, kEyeSide, -1),  // 2 right_eye
      head_estimate(kEarUp, kEarSide, +1),  // 3 left_ear
      head_estimate(kEarUp, kEarSide, -1),  // 4 right_ear
      direct(11),                           // 5 left_shoulder
      direct(14),                           // 6 right_shoulder
      direct(12),                           // 7 left_elbow
      direct(15),                           // 8 right_elbow
      direct(13),                           // 9 left_wrist
      direct(16),                           // 10 right_wrist
      direct(4),                            // 11 left_hip
      direct(1),                            // 12 right_hip
      direct(5),                            // 13 left_knee
      direct(2),                            // 14 right_knee
      direct(6),                            // 15 left_ankle
      direct(3),                            // 16 right_ankle
  };
  return kMap;
}

std::vector<float> to_pseudo_coco(const std::vector<float>& h36m, int64_t frames, int features) {
  constexpr int kJoints = 17;
  V3D_CHECK(features == 2 || features == 3,
            "to_pseudo_coco: features must be 2 or 3, got " << features);
  V3D_CHECK(frames >= 0, "to_pseudo_coco: negative frame count " << frames);
  V3D_CHECK(h36m.size() == static_cast<size_t>(frames) * kJoints * features,
            "to_pseudo_coco: expected (" << frames << ", 17, " << features
                                         << ") = " << frames * kJoints * features << " floats, got "
                                         << h36m.size());
  const auto& map = pseudo_coco_from_h36m();
  std::vector<float> out(h36m.size());
  // h36m, out: (frames, 17, features). Direct joints are copied bit for bit (weight 1 sums of one
  // term); estimates are summed in double, rounded once.
  for (int64_t f = 0; f < frames; ++f) {
    const float* in = &h36m[static_cast<size_t>(f) * kJoints * features];
    float* o = &out[static_cast<size_t>(f) * kJoints * features];
    for (int k = 0; k < kJoints; ++k) {
      const PseudoCocoSource& src = map[k];
      for (int c = 0; c < features; ++c) {
        double acc = 0.0;
        for (size_t i = 0; i < src.h36m_joints.size(); ++i)
          acc += static_cast<double>(src.weights[i]) * in[src.h36m_joints[i] * features + c];
        o[k * features + c] = static_cast<float>(acc);
      }
    }
  }
  return out;
}

}  // namespace v3d::data
