// Inputs of inference (`v3d infer`, `v3d ltb`): 2D keypoints in pixels, one sequence each.
//
//   read_infer_input_h5         a v3d pose file (docs/data-format.md): one input per
//                               subject/action for one camera, its stored positions_2d or, where
//                               absent, the 3D projected through that camera, as
//                               prepare_sequences does;
//   read_infer_input_coco_json  a 2D detector's COCO-style keypoints, any number of people per
//                               frame: one input per person track (data/keypoint_tracks.h);
//   read_infer_input_vp3d_npz   VideoPose3D's custom-dataset 2D file, one input per video.
//
// Errors are one v3d::Error line naming the file and the field.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "data/keypoint_tracks.h"

namespace v3d::data {

struct InferInput {
  std::string name;   // "S1/Walking" (HDF5 input) or "<JSON file's stem>/<track>"; '/' nests
                      // HDF5 groups
  std::string track;  // the person track of a JSON input ("" for HDF5 input)
  int64_t frames = 0;
  int joints = 0;
  std::vector<float> keypoints_px;   // (frames, joints, 2), pixels
  int res_w = 0, res_h = 0;          // the image size the pixels refer to
  std::string keypoints = "h36m17";  // layout of the keypoints: "h36m17" or "coco17"
  int64_t first_frame = 0;           // frame number of row 0 (COCO image_id/frame; 0 for HDF5)
};

// Throws naming `origin` and the field: empty name, frames < 1, joints < 1, a size that is not
// (frames, joints, 2), NaN/Inf keypoints, a non-positive resolution, an unknown layout.
void validate_infer_input(const InferInput& input, const std::string& origin);

// Every subject/action of a v3d pose file seen by camera `camera` (subjects without that camera
// are skipped), in subject and action name order; res_w/res_h are the camera's. pseudo_coco: the
// H36M-17 2D mapped to COCO-17 (to_pseudo_coco), for models trained on pseudo-COCO. Throws
// when no subject has the camera or nothing is left to read.
std::vector<InferInput> read_infer_input_h5(const std::string& path, int camera,
                                            bool pseudo_coco = false);

// COCO-style keypoints of any number of people per frame (docs/cli.md, `v3d infer`): a JSON
// array of objects, or an object whose "annotations" member is that array. Each object is one
// person in one frame:
//   "frame" or "image_id"  integer >= 0, the frame number ("frame" wins when both are present);
//   "keypoints"            51 numbers: x, y, score for the 17 COCO keypoints in COCO order
//                          (pixels; the score is COCO's visibility or the detector's confidence);
//   "track_id"             optional: an integer >= 0 or a string of 1 to kMaxTrackChars
//                          characters without '/' (not "." or ".."), the person; either every
//                          object has one or none has;
// other members are ignored. Objects may come in any order. Without track ids, a file with at
// most one object in every frame is one track, "0"; otherwise assign_tracks (options.min_iou,
// max_gap, min_score) makes the tracks, numbered 0, 1, ... by first appearance.
// One input per track, in order of first appearance: name "<file stem>/<track>", track the id,
// from its first frame to its last (first_frame), filled by fill_track (options.min_score).
// A wrong keypoint count, a non-number, a missing field, a track id on some objects only, two
// objects of one track in one frame, more than kMaxPeoplePerFrame objects in one frame, tracks
// spanning more than kMaxFrames frames together, invalid JSON or no object at all are errors naming
// the file, the entry and the field. Layout "coco17".
constexpr size_t kMaxTrackChars = 256;
constexpr int kMaxPeoplePerFrame = 1000;
struct CocoJsonOptions {
  TrackerOptions tracker;  // its min_score is also fill_track's
};
std::vector<InferInput> read_infer_input_coco_json(const std::string& path, int res_w, int res_h,
                                                   const CocoJsonOptions& options = {});

// VideoPose3D's custom-dataset 2D file (data_2d_custom_<name>.npz: positions_2d[video] =
// {"custom": [(N, 17, 2) pixels]} and metadata with layout_name "coco" or "h36m", num_joints,
// keypoints_symmetry and video_metadata[video] = {w, h}), read through `convert_npz.py custom-2d`
// (data/h36m_archive.h's run_convert_npz; needs Python with numpy). One input per video (and
// array, "<video>/<k>" when a video has several), named by the video, in name order, with the
// video's size and the file's layout (coco17 or h36m17). Errors name the file and the field.
std::vector<InferInput> read_infer_input_vp3d_npz(const std::string& path,
                                                  const std::string& script = "");

// One frame of `v3d stream`'s input: one JSON object per line (docs/cli.md),
//   "track"      a string of 1 to kMaxTrackChars characters or an integer >= 0: the track id;
//   "keypoints"  joints * 2 numbers (x, y per keypoint, pixels) or joints * 3 (x, y, score as in
//                COCO; the score is ignored), in the model's keypoint order;
//   "scores"     optional: joints finite numbers (detector confidences, checked, not used);
// other members are ignored. Throws one line (no file name: the caller names the line).
struct StreamFrame {
  std::string track;                // the id as JSON text: "\"cam0\"" or "7"
  std::vector<float> keypoints_px;  // (joints, 2) pixels
};
StreamFrame parse_stream_frame(std::string_view line, int joints);

}  // namespace v3d::data
