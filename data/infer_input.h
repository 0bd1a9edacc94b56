// Inputs of inference (`v3d infer`, `v3d ltb`): 2D keypoints in pixels, one sequence each.
//
//   read_infer_input_h5         a v3d pose file (docs/data-format.md): one input per
//                               subject/action for one camera, its stored positions_2d or, where
//                               absent, the 3D projected through that camera, as
//                               prepare_sequences does;
//   read_infer_input_coco_json  a 2D detector's COCO-style keypoints, one person per frame.
//
// Errors are one v3d::Error line naming the file and the field.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace v3d::data {

struct InferInput {
  std::string name;  // "S1/Walking" (HDF5 input) or the JSON file's stem; '/' nests HDF5 groups
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

// COCO-style keypoints of one person per frame (docs/cli.md, `v3d infer`): a JSON array of
// objects, or an object whose "annotations" member is that array. Each object has
//   "frame" or "image_id"  integer >= 0, the frame number ("frame" wins when both are present);
//   "keypoints"            51 numbers: x, y, v for the 17 COCO keypoints in COCO order (pixels;
//                          v, the visibility or score, is ignored);
// other members are ignored. Objects may come in any order; the output runs from the smallest
// frame number to the largest (first_frame = the smallest), a missing frame repeating the
// nearest previous one. Two objects for one frame, a wrong keypoint count, a non-number, a
// missing field, invalid JSON or no object at all are errors naming the file, the entry and the
// field. The name is the file's stem; layout "coco17".
std::vector<InferInput> read_infer_input_coco_json(const std::string& path, int res_w, int res_h);

// One frame of `v3d stream`'s input: one JSON object per line (docs/cli.md),
//   "track"      a string of 1 to kMaxTrackChars characters or an integer >= 0: the track id;
//   "keypoints"  joints * 2 numbers (x, y per keypoint, pixels) or joints * 3 (x, y, score as in
//                COCO; the score is ignored), in the model's keypoint order;
//   "scores"     optional: joints finite numbers (detector confidences, checked, not used);
// other members are ignored. Throws one line (no file name: the caller names the line).
constexpr size_t kMaxTrackChars = 256;
struct StreamFrame {
  std::string track;                // the id as JSON text: "\"cam0\"" or "7"
  std::vector<float> keypoints_px;  // (joints, 2) pixels
};
StreamFrame parse_stream_frame(std::string_view line, int joints);

}  // namespace v3d::data
