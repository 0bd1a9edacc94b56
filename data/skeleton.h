// Skeletons: joint names, parents and the left/right symmetry used by flip augmentation.
//   h36m17: the 17 Human3.6M joints VideoPose3D keeps (from the 32 of the mocap), root = joint 0.
//   coco17: the 17 COCO keypoints a 2D detector outputs (no parents: keypoints, not a tree).
//   mpii16: the 16 MPII keypoints of VideoPose3D's stacked-hourglass 2D (data_2d_h36m_sh_*.npz),
//           in its order (no parents: keypoints).
// A "pseudo-COCO" 2D input is made from H36M data by mapping H36M joints to COCO keypoints
// (pseudo_coco_from_h36m), the paper's second test set; docs/data-format.md documents the map.
#pragma once

#include <string>
#include <vector>

namespace v3d::data {

struct Skeleton {
  std::string name;  // "h36m17", "coco17", "mpii16"
  std::vector<std::string> joint_names;
  std::vector<int> parents;       // -1 for the root; empty for keypoint layouts
  std::vector<int> joints_left;   // indices of left joints,
  std::vector<int> joints_right;  // and of their right counterparts, in the same order

  int num_joints() const { return static_cast<int>(joint_names.size()); }
  // perm[j] = the joint j is swapped with under a left/right mirror (j itself when central).
  std::vector<int> flip_permutation() const;
  // Throws v3d::Error when sizes disagree, a parent is out of range, or left/right overlap.
  void validate() const;

  static const Skeleton& h36m17();
  static const Skeleton& coco17();
  static const Skeleton& mpii16();
  // By name ("h36m17", "coco17", "mpii16"); throws listing the known names.
  static const Skeleton& by_name(const std::string& name);
};

// A tree over a layout's joints (parents, -1 for the root), for what needs bones: the skeleton's
// own parents, or for the keypoint layouts (no parents) COCO-17 rooted at the nose (eyes from the
// nose, ears from the eyes, shoulders from the nose, arms from the shoulders, hips from the
// shoulders, legs from the hips) and MPII-16 rooted at the pelvis (legs from the hips, thorax
// from the pelvis, neck and head from the thorax, arms from the shoulders on the thorax); 16
// bones each, as H36M-17. Throws for a layout without one.
std::vector<int> keypoint_tree(const Skeleton& skeleton);

// For each COCO-17 keypoint, how it is made from H36M-17 joints: the mean of `joints` (one joint
// for a direct correspondence, several for an estimate such as the eyes and ears from the head).
struct PseudoCocoSource {
  std::vector<int> h36m_joints;
  std::vector<float> weights;  // same length, summing to 1
};
const std::vector<PseudoCocoSource>& pseudo_coco_from_h36m();
// poses: (N, 17, F) H36M-17 -> (N, 17, F) COCO-17 through pseudo_coco_from_h36m(); F = 2 or 3.
std::vector<float> to_pseudo_coco(const std::vector<float>& h36m, int64_t frames, int features);

}  // namespace v3d::data
