// Inference (`v3d infer`): 2D keypoints in pixels -> 3D poses, camera space, metres,
// root-relative (root = 0), one pose per input frame.
//
//   inputs    data/infer_input.h reads them (a v3d pose file or COCO-style JSON).
//   infer_3d  normalises the pixels with res_w/res_h (data::normalize_screen_coordinates) and runs
//             the whole sequence through the dilated model, edge-padded so it yields N frames
//             (trainer/predict.h, with optional flip TTA).
//   outputs   report/infer_output.h writes them (HDF5 or CSV).
//
// Errors are one v3d::Error line naming the file and the field.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/infer_input.h"
#include "data/skeleton.h"
#include "runtime/device.h"
#include "trainer/config.h"
#include "trainer/ltb.h"
#include "trainer/model.h"
#include "trainer/restore.h"

namespace v3d {

using data::InferInput;

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

// The long-term bank and the fused windows of the inputs (`v3d ltb`), with the bank's history:
// their pixels normalised as infer_3d does, one plan_ltb over all of them with the similarity's
// bones of their layout (all inputs must share one), radius r = (window - 1) / 2.
LtbPlan plan_ltb_for_inputs(const std::vector<InferInput>& inputs, int64_t radius,
                            const LtbOptions& options, Device device);

}  // namespace v3d
