// The long-term bank entry points of `v3d ltb` and `v3d ltb-sweep`: the plan of inference inputs
// equals plan_ltb on their normalised keypoints, and the sweep's settings grid.
#include <gtest/gtest.h>

#include <span>
#include <vector>

#include "data/camera.h"
#include "data/synth.h"
#include "kernels/common.h"
#include "trainer/evaluate.h"
#include "trainer/infer.h"
#include "trainer/ltb.h"

namespace v3d {
namespace {

TEST(LtbInputs, PlanOfInputsIsPlanOfTheirNormalisedKeypoints) {
  std::vector<InferInput> inputs(2);
  for (int k = 0; k < 2; ++k) {
    InferInput& in = inputs[static_cast<size_t>(k)];
    in.name = "clip" + std::to_string(k);
    in.frames = 20 + 5 * k;
    in.joints = 17;
    in.res_w = 640;
    in.res_h = 480;
    for (int64_t i = 0; i < in.frames * 17 * 2; ++i)
      in.keypoints_px.push_back(static_cast<float>((i * 37 + k * 11) % 400) + 0.5f);
  }
  LtbOptions o;
  o.capacity = 6;
  o.threshold = 0.9f;
  const LtbPlan plan = plan_ltb_for_inputs(inputs, 4, o, Device::cpu());
  std::vector<std::vector<float>> norm;
  for (const auto& in : inputs)
    norm.push_back(data::normalize_screen_coordinates(in.keypoints_px, in.res_w, in.res_h));
  const std::vector<std::span<const float>> views(norm.begin(), norm.end());
  const LtbPlan want =
      plan_ltb(views, 17, ltb_parents(data::Skeleton::h36m17()), 4, o, Device::cpu(), true);
  EXPECT_EQ(plan.offsets, want.offsets);
  EXPECT_EQ(plan.history, want.history);
  EXPECT_EQ(plan.index_map, want.index_map);
  EXPECT_EQ(plan.fused, want.fused);
  inputs[1].keypoints = "coco17";
  EXPECT_THROW(plan_ltb_for_inputs(inputs, 4, o, Device::cpu()), Error);
}

TEST(LtbInputs, SweepSettingsGrid) {
  LtbOptions base;
  base.fusion_threshold = 0.65f;
  base.online = true;
  const auto s = ltb_sweep_settings(base, {20, 40}, {0.6, 0.8}, {});
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[1].capacity, 40);  // capacity varies fastest
  EXPECT_EQ(s[1].threshold, 0.6f);
  EXPECT_EQ(s[2].threshold, 0.8f);
  for (const auto& o : s) {
    EXPECT_EQ(o.fusion_threshold, 0.65f);
    EXPECT_TRUE(o.online);
  }
  EXPECT_EQ(ltb_sweep_settings(base, {20}, {0.7}, {0.5, 0.9}).size(), 2u);
  EXPECT_THROW(ltb_sweep_settings(base, {0}, {0.7}, {}), Error);
}

}  // namespace
}  // namespace v3d
