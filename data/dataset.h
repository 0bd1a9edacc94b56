// The in-memory dataset and its HDF5 file (layout: docs/data-format.md).
//   /skeleton                                    layout name, joint names, parents, left, right
//   /subjects/<S>/cameras/<k>                    intrinsics, extrinsics, id
//   /subjects/<S>/actions/<A>/positions_3d       (N, J, 3) float32, world, metres
//   /subjects/<S>/actions/<A>/positions_2d/<k>   (N, K, 2) float32, pixels, camera k (optional)
//   /subjects/<S>/actions/<A>/confidence_2d/<k>  (N, K) float32 (optional)
// Root attributes: format "v3d-pose", version, fps, and keypoints_2d (optional: the layout of the
// 2D, "coco17" or "mpii16", when it is not the skeleton's; K its keypoints, else K = J).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "data/camera.h"
#include "data/skeleton.h"

namespace v3d::data {

inline constexpr int kFormatVersion = 1;

// Size limits of a pose file, checked in 64-bit arithmetic before anything is allocated (a file of
// a few KB can declare any size; docs/data-format.md): frames of one action (or of one inference
// input), and joints of a skeleton. Together they bound one dataset to 3 * 10^10 floats.
inline constexpr int64_t kMaxFrames = 10'000'000;  // 55 hours at 50 fps
inline constexpr int kMaxJoints = 1000;

struct ActionData {
  int64_t frames = 0;
  std::vector<float> positions_3d;                  // (frames, J, 3), may be empty (2D only)
  std::map<int, std::vector<float>> positions_2d;   // camera index -> (frames, J, 2) pixels
  std::map<int, std::vector<float>> confidence_2d;  // camera index -> (frames, J)
};

struct SubjectData {
  std::map<int, Camera> cameras;              // camera index -> camera
  std::map<std::string, ActionData> actions;  // action name -> data
};

struct Dataset {
  Skeleton skeleton;
  float fps = 50.0f;
  // The layout of positions_2d and confidence_2d when it is not the skeleton's (a detector's
  // COCO-17 or MPII-16 keypoints of a Human3.6M take); "" when it is.
  std::string keypoints_2d;
  // The skeleton the 2D is in: Skeleton::by_name(keypoints_2d), or `skeleton`.
  const Skeleton& skeleton_2d() const;
  std::map<std::string, SubjectData> subjects;  // "S1" -> ...

  // Throws v3d::Error naming the subject, action and field on inconsistent sizes, NaN or Inf.
  void validate() const;
};

// Which parts of a file to read (empty = everything).
struct ReadFilter {
  std::vector<std::string> subjects;
  std::vector<std::string> actions;  // prefixes, as VideoPose3D's action filter
  bool positions_2d = true;
};

// Writes atomically: to `path` + ".tmp-<pid>", then renames; chunked, deflate-compressed datasets.
void write_dataset(const Dataset& dataset, const std::string& path);
// Throws v3d::Error with one line naming the file and the dataset path on a missing dataset, a
// wrong shape, NaN/Inf values, an unsupported version, a truncated or non-HDF5 file.
Dataset read_dataset(const std::string& path, const ReadFilter& filter = {});

}  // namespace v3d::data
