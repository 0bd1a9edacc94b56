// Whole-sequence inference (trainer/infer.h).
#include "trainer/infer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "data/batches.h"
#include "data/camera.h"
#include "data/dataset.h"
#include "kernels/common.h"
#include "trainer/predict.h"

namespace v3d {

std::vector<float> infer_3d(TemporalModel& model, const InferInput& input, bool flip_tta,
                            const LtbOptions* ltb, LtbStats* stats,
                            const TemporalModel::FoldedWeights* folded) {
  return std::move(
      infer_3d(model, std::vector<InferInput>{input}, flip_tta, ltb, stats, folded).front());
}

std::vector<std::vector<float>> infer_3d(TemporalModel& model,
                                         const std::vector<InferInput>& inputs, bool flip_tta,
                                         const LtbOptions* ltb, LtbStats* stats,
                                         const TemporalModel::FoldedWeights* folded) {
  if (inputs.empty()) return {};
  for (const InferInput& in : inputs) validate_infer_input(in, "infer");
  const data::Skeleton& keypoints = data::Skeleton::by_name(inputs.front().keypoints);
  for (const InferInput& in : inputs)
    V3D_CHECK(in.keypoints == inputs.front().keypoints,
              "infer: " << in.name << " has " << in.keypoints << " keypoints, "
                        << inputs.front().name << " " << inputs.front().keypoints);
  const data::Skeleton& joints = data::Skeleton::h36m17();
  std::vector<data::Sequence> seqs(inputs.size());
  std::vector<const data::Sequence*> ptrs;
  std::vector<std::span<const float>> views;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const InferInput& in = inputs[k];
    data::Sequence& seq = seqs[k];
    seq.subject = in.name;
    seq.action = in.name;
    seq.frames = in.frames;
    seq.poses_2d = data::normalize_screen_coordinates(in.keypoints_px, in.res_w, in.res_h);
    ptrs.push_back(&seq);
    views.emplace_back(seq.poses_2d);
  }
  if (ltb == nullptr) return predict_sequences(model, ptrs, keypoints, joints, flip_tta, folded);
  LtbOptions windows = *ltb;
  windows.causal = model.config().causal;  // a causal model's window ends at its frame
  const LtbPlan plan = plan_ltb(views, keypoints.num_joints(), ltb_parents(keypoints),
                                (model.receptive_field() - 1) / 2, windows, model.device());
  return predict_with_ltb(model, ptrs, plan, keypoints, joints, flip_tta, stats, nullptr, folded);
}

void check_infer_layout(const RestoredModel& model, const InferInput& input,
                        const std::string& origin) {
  if (input.keypoints == model.keypoints->name) return;
  if (input.keypoints == "coco17")
    throw Error(origin +
                ": COCO-17 keypoints need a checkpoint trained on them (config "
                "data.keypoints: pseudo_coco or coco17); this checkpoint was trained on " +
                model.keypoints->name +
                " keypoints (data.keypoints: " + to_string(model.config.data.keypoints) + ")");
  throw Error(origin + ": the input's keypoints are " + input.keypoints +
              " but the checkpoint was trained on " + model.keypoints->name +
              " (data.keypoints: " + to_string(model.config.data.keypoints) + ")");
}

LtbPlan plan_ltb_for_inputs(const std::vector<InferInput>& inputs, int64_t radius,
                            const LtbOptions& options, Device device) {
  V3D_CHECK(!inputs.empty(), "ltb: no inputs");
  std::vector<std::vector<float>> poses;
  for (const InferInput& in : inputs) {
    validate_infer_input(in, "ltb");
    V3D_CHECK(in.keypoints == inputs.front().keypoints,
              "ltb: " << in.name << " has " << in.keypoints << " keypoints, " << inputs.front().name
                      << " " << inputs.front().keypoints);
    poses.push_back(data::normalize_screen_coordinates(in.keypoints_px, in.res_w, in.res_h));
  }
  std::vector<std::span<const float>> views(poses.begin(), poses.end());
  const data::Skeleton& keypoints = data::Skeleton::by_name(inputs.front().keypoints);
  return plan_ltb(views, keypoints.num_joints(), ltb_parents(keypoints), radius, options, device,
                  true);
}

}  // namespace v3d
