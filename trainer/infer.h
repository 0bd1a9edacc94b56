// Inference (`v3d infer`): 2D keypoints in pixels -> 3D poses, camera space, metres,
// root-relative (root = 0), one pose per input frame.
//
//   readers   read_infer_input_h5 (a v3d pose file, docs/data-format.md: one input per
//             subject/action for one camera, its stored positions_2d or, where absent, the 3D
//             projected through that camera, as data::prepare_sequences does) and
//             read_infer_input_coco_json (a 2D detector's COCO-style keypoints, one person per
//             frame).
//   infer_3d  normalises the pixels with res_w/res_h (data::normalize_screen_coordinates) and runs
//             the whole sequence through the dilated model, edge-padded so it yields N frames
//             (trainer/predict.h, with optional flip TTA).
//   writers   write_infer_h5 (/<name>/positions_3d (N, J, 3) float32) and write_infer_csv
//             (name,frame,joint,x,y,z), both atomic (temporary file, then rename).
//
// Errors are one v3d::Error line naming the file and the field.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/skeleton.h"
#include "runtime/device.h"
#include "trainer/config.h"
#include "trainer/ltb.h"
#include "trainer/model.h"
#include "trainer/restore.h"

namespace v3d {

struct InferInput {
  std::string name;  // "S1/Walking" (HDF5 input) or the JSON file's stem; '/' nests HDF5 groups
  int64_t frames = 0;
  int joints = 0;
  std::vector<float> keypoints_px;   // (frames, joints, 2), pixels
  int res_w = 0, res_h = 0;          // the image size the pixels refer to
  std::string keypoints = "h36m17";  // layout of the keypoints: "h36m17" or "coco17"
  int64_t first_frame = 0;           // frame number of row 0 (COCO image_id/frame; 0 for HDF5)
};

struct InferResult {
  std::string name;
  int64_t frames = 0;
  int joints = 0;
  int64_t first_frame = 0;
  std::vector<float> positions_3d;  // (frames, joints, 3), camera space, metres, root-relative
};

// Throws naming `origin` and the field: empty name, frames < 1, joints < 1, a size that is not
// (frames, joints, 2), NaN/Inf keypoints, a non-positive resolution, an unknown layout.
void validate_infer_input(const InferInput& input, const std::string& origin);

// Every subject/action of a v3d pose file seen by camera `camera` (subjects without that camera
// are skipped), in subject and action name order; res_w/res_h are the camera's. pseudo_coco: the
// H36M-17 2D mapped to COCO-17 (data::to_pseudo_coco), for models trained on pseudo-COCO. Throws
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

// (frames, J_out, 3): camera-space, root-relative poses in metres, one per input frame, however
// short the input (edge padding). The input's layout must be the model's (J_in keypoints of
// input.keypoints); flip_tta averages in the prediction of the mirrored input.
// With `ltb` (trainer/ltb.h), frames whose window the long-term pose bank changes are re-predicted
// from their fused windows; stats (optional) counts them.
// `folded`: the model's folded weights when the caller folds once for many inputs.
std::vector<float> infer_3d(TemporalModel& model, const InferInput& input, bool flip_tta,
                            const LtbOptions* ltb = nullptr, LtbStats* stats = nullptr,
                            const TemporalModel::FoldedWeights* folded = nullptr);
// Many inputs at once, as `v3d infer` runs them: the inputs go through the model together
// (predict_sequences: one dilated pass per group of inputs) and, with `ltb`, through one bank
// launch and one batched evaluation of the fused windows. Each result equals infer_3d of that
// input alone up to float rounding (bit for bit for a single input).
std::vector<std::vector<float>> infer_3d(TemporalModel& model,
                                         const std::vector<InferInput>& inputs, bool flip_tta,
                                         const LtbOptions* ltb = nullptr, LtbStats* stats = nullptr,
                                         const TemporalModel::FoldedWeights* folded = nullptr);

// Throws one line naming `origin` when the input's layout is not the model's (COCO-17 input
// needs a checkpoint trained with data.keypoints: pseudo_coco, and the other way round).
void check_infer_layout(const RestoredModel& model, const InferInput& input,
                        const std::string& origin);

// /<name>/positions_3d (frames, joints, 3) float32 with attribute first_frame (int64); root
// attributes format "v3d-infer", version 1. Atomic; names must be distinct, non-empty, and have
// no empty, "." or ".." '/'-separated component.
void write_infer_h5(const std::string& path, const std::vector<InferResult>& results);
// Header "name,frame,joint,x,y,z", one row per joint and frame; frame = first_frame + row;
// names quoted as RFC 4180 when they hold a comma, quote or line break; values %.9g (exact
// float round trip). Atomic.
void write_infer_csv(const std::string& path, const std::vector<InferResult>& results);

}  // namespace v3d
