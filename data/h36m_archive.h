// Importers of the Human3.6M files the field already uses, into the v3d store (data/dataset.h):
//   - the 3d-pose-baseline archive (Martinez et al.): <root>/<S>/MyPoses/3D_positions/<A>.h5, each
//     with dataset 3D_positions (96, N) in millimetres, 32 joints x 3 (row j*3 + c, column frame),
//     read in C++;
//   - VideoPose3D's npz files (pickled dicts), through scripts/convert_npz.py (numpy + h5py), which
//     writes positions only: the C++ side attaches the shipped H36M cameras and skeleton.
// Both follow VideoPose3D's data/prepare_data_h36m.py and common/h36m_dataset.py:
// the 17 kept joints, millimetres -> metres in float64 then float32, TakingPhoto -> Photo,
// WalkingDog -> WalkDog, S11 "Directions" dropped ("Directions 1" kept), fps 50.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace v3d::data {

// The 17 of the 32 mocap joints VideoPose3D keeps, in h36m17 order.
inline constexpr std::array<int, 17> kH36mKeptJoints = {0,  1,  2,  3,  6,  7,  8,  12, 13,
                                                        14, 15, 17, 18, 19, 25, 26, 27};

// VideoPose3D's canonical action name: every "TakingPhoto" -> "Photo", "WalkingDog" -> "WalkDog";
// sub-action suffixes such as " 1" are kept ("TakingPhoto 1" -> "Photo 1").
std::string canonical_h36m_action(const std::string& name);
// True for the take VideoPose3D drops: S11 "Directions" (a corrupted video).
bool h36m_action_dropped(const std::string& subject, const std::string& canonical_action);

// Sets cameras 0..3 of every subject to h36m_camera(subject, k) (S2, S3, S4: intrinsics only).
// Throws v3d::Error naming the subject when it is not a Human3.6M subject.
void attach_h36m_cameras(Dataset& dataset);

// How one attached camera sees a subject's 3D poses: every keypoint of every action projected
// through it (world_to_camera, project_to_2d, image_coordinates).
struct CameraCoverage {
  std::string subject;
  int index = 0;             // 0..3
  std::string id;            // "54138969"
  bool extrinsics = false;   // without them (S2, S3, S4) nothing is projected
  int res_w = 0, res_h = 0;  // pixels
  int64_t keypoints = 0;     // projected
  int64_t outside = 0;       // behind the camera (z <= 0) or outside [0, res_w] x [0, res_h]
  double outside_fraction() const {
    return keypoints == 0 ? 0.0 : static_cast<double>(outside) / static_cast<double>(keypoints);
  }
};

// One entry per subject and attached camera, in subject then camera order.
std::vector<CameraCoverage> camera_coverage(const Dataset& dataset);

// The warning line for a camera some of whose projected keypoints miss the image ("" when none
// does): the subject, the camera and the fraction, e.g. "S1 camera 0 (54138969): 12.5% of the
// projected 2D keypoints (200 of 1600) fall outside its 1000x1002 image or behind it".
std::string coverage_warning(const CameraCoverage& coverage);

// Reads the 3d-pose-baseline archive extracted at `root_dir` (the folder holding S1, S5, ...; every
// sub-folder with MyPoses/3D_positions is a subject). Returns a validated dataset: skeleton h36m17,
// fps 50, world positions in metres, the shipped cameras, no 2D. Errors name the file and dataset.
// `coverage` (optional) receives camera_coverage() of the result: keypoints projected out of an
// image are a warning for the caller to print, not an error (docs/data-format.md).
Dataset import_h36m_archive(const std::string& root_dir,
                            std::vector<CameraCoverage>* coverage = nullptr);

// scripts/convert_npz.py: $V3D_SCRIPTS_DIR/convert_npz.py when set, else the scripts/ folder of
// the checkout this executable was built from (found by walking up from /proc/self/exe to a
// scripts/convert_npz.py, or to a build tree's CMakeCache.txt naming the source directory).
std::string find_convert_npz_script();

// Runs `convert_npz.py args...` with the Python of $V3D_PYTHON (default /usr/bin/python3);
// throws the script's one-line error when it fails. `script` empty = find_convert_npz_script().
void run_convert_npz(const std::vector<std::string>& args, const std::string& script = "");

// VideoPose3D npz files -> dataset: runs `convert_npz.py to-h5` with the Python of $V3D_PYTHON
// (default /usr/bin/python3) into a temporary file, reads it, replaces its skeleton by
// Skeleton::h36m17() (after checking parents and symmetry agree) and attaches the H36M cameras.
// `npz_2d` may be empty. `script` empty = find_convert_npz_script().
Dataset import_vp3d_npz(const std::string& npz_3d, const std::string& npz_2d,
                        const std::string& script = "");
// A v3d file -> VideoPose3D npz files (`convert_npz.py to-npz`); either output may be empty.
void export_vp3d_npz(const std::string& h5, const std::string& out_3d, const std::string& out_2d,
                     const std::string& script = "");

}  // namespace v3d::data
