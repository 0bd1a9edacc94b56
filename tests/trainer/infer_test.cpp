// `v3d infer`'s library: infer_3d on HDF5 and COCO JSON inputs against predict_sequence through a
// saved checkpoint, edge padding of short inputs, many inputs at once (the readers alone:
// tests/data/infer_input_test.cpp; the writers: tests/report/infer_output_test.cpp).
#include "trainer/infer.h"
#include "tests/test_util.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <H5Cpp.h>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "data/batches.h"
#include "data/synth.h"
#include "kernels/common.h"
#include "trainer/checkpoint.h"
#include "trainer/predict.h"
#include "trainer/restore.h"

namespace v3d {
namespace {

namespace fs = std::filesystem;

// A per-test directory ("v3d-infer-XXXXXX" under $TMPDIR).
class TempDir : public test_util::TempDir {
 public:
  TempDir() : test_util::TempDir("v3d-infer") {}
};

using test_util::coco_keypoints;
using test_util::expect_error;
using test_util::write_text;

ExperimentConfig tiny_config() {
  ExperimentConfig c;
  c.model.filter_widths = {3, 3};  // 9 frames
  c.model.channels = 16;
  c.model.dropout = 0.0;
  return c;
}

// A tiny random model saved as a checkpoint with its config.
void save_tiny_checkpoint(const ExperimentConfig& c, const std::string& path, uint64_t seed) {
  TemporalModel model(temporal_model_config(c.model, 17, 2, 17), Device::cpu(), seed);
  Checkpoint ckpt;
  ckpt.tensors = model.state_dict();
  ckpt.architecture = "3,3";
  ckpt.config_yaml = to_yaml(c);
  save_checkpoint(ckpt, path);
}

data::Dataset tiny_dataset() {
  data::SynthOptions so;
  so.subjects = {"S1"};
  so.actions = {"Walking"};
  so.frames_per_action = 30;
  return data::synthesize(so);
}

void expect_near_all(const std::vector<float>& a, const std::vector<float>& b, float tol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_TRUE(std::isfinite(a[i])) << "index " << i;
    ASSERT_NEAR(a[i], b[i], tol) << "index " << i;
  }
}

TEST(Infer, H5InputThroughCheckpointEqualsPredictSequence) {
  TempDir dir;
  const data::Dataset ds = tiny_dataset();
  data::write_dataset(ds, dir.file("poses.h5"));
  const ExperimentConfig c = tiny_config();
  save_tiny_checkpoint(c, dir.file("model.ckpt"), 7);

  const std::vector<InferInput> inputs = data::read_infer_input_h5(dir.file("poses.h5"), 0);
  ASSERT_EQ(inputs.size(), 1u);
  const InferInput& in = inputs[0];
  EXPECT_EQ(in.name, "S1/Walking");
  EXPECT_EQ(in.frames, 30);
  EXPECT_EQ(in.joints, 17);
  EXPECT_EQ(in.keypoints, "h36m17");
  EXPECT_EQ(in.res_w, 1000);
  EXPECT_EQ(in.res_h, 1002);
  // The stored pixels come back (through normalise and back).
  expect_near_all(in.keypoints_px, ds.subjects.at("S1").actions.at("Walking").positions_2d.at(0),
                  1e-3f);

  RestoredModel m = restore_model(dir.file("model.ckpt"));
  EXPECT_EQ(m.model->receptive_field(), 9);
  EXPECT_EQ(m.keypoints->name, "h36m17");
  check_infer_layout(m, in, "poses.h5");

  data::PrepareSpec spec;
  spec.subjects = {"S1"};
  spec.cameras = {0};
  const auto seqs = data::prepare_sequences(ds, spec);
  ASSERT_EQ(seqs.size(), 1u);
  for (bool flip : {true, false}) {
    SCOPED_TRACE(flip ? "flip TTA" : "no flip");
    const std::vector<float> out = infer_3d(*m.model, in, flip);
    EXPECT_EQ(out.size(), 30u * 17 * 3);
    const std::vector<float> ref = predict_sequence(*m.model, seqs[0], data::Skeleton::h36m17(),
                                                    data::Skeleton::h36m17(), flip);
    expect_near_all(out, ref, 1e-5f);
  }

  // Without stored 2D the 3D is projected through the camera: the same pixels.
  data::Dataset no_2d = ds;
  no_2d.subjects["S1"].actions["Walking"].positions_2d.clear();
  data::write_dataset(no_2d, dir.file("3d_only.h5"));
  const auto projected = data::read_infer_input_h5(dir.file("3d_only.h5"), 0);
  ASSERT_EQ(projected.size(), 1u);
  expect_near_all(projected[0].keypoints_px, in.keypoints_px, 1e-2f);

  // Pseudo-COCO: COCO-17 layout, refused by this H36M-trained model.
  const auto coco = data::read_infer_input_h5(dir.file("poses.h5"), 0, true);
  EXPECT_EQ(coco[0].keypoints, "coco17");
  expect_error([&] { check_infer_layout(m, coco[0], "poses.h5"); },
               {"poses.h5", "pseudo_coco", "h36m17"});
  expect_error([&] { data::read_infer_input_h5(dir.file("poses.h5"), 7); },
               {"poses.h5", "camera 7"});
}

TEST(Infer, CocoModelAcceptsCocoJson) {
  TempDir dir;
  ExperimentConfig c = tiny_config();
  c.data.keypoints = Keypoints::kPseudoCoco;
  save_tiny_checkpoint(c, dir.file("coco.ckpt"), 3);
  write_text(dir.file("det.json"), "[{\"image_id\": 0, \"keypoints\": " + coco_keypoints(0) +
                                       "}, {\"image_id\": 1, " +
                                       "\"keypoints\": " + coco_keypoints(1) + "}]");
  RestoredModel m = restore_model(dir.file("coco.ckpt"));
  EXPECT_EQ(m.keypoints->name, "coco17");
  const auto inputs = data::read_infer_input_coco_json(dir.file("det.json"), 1000, 1002);
  check_infer_layout(m, inputs[0], "det.json");
  EXPECT_EQ(infer_3d(*m.model, inputs[0], true).size(), 2u * 17 * 3);
}

TEST(Infer, ShorterThanReceptiveFieldIsEdgePadded) {
  TemporalModelConfig mc;
  mc.filter_widths = {3, 3, 3};  // 27 frames
  mc.channels = 8;
  mc.dropout = 0.0f;
  TemporalModel model(mc, Device::cpu(), 5);
  InferInput in;
  in.name = "short";
  in.frames = 3;
  in.joints = 17;
  in.res_w = 1000;
  in.res_h = 1002;
  for (int i = 0; i < 3 * 17 * 2; ++i) in.keypoints_px.push_back(400.0f + 7.0f * (i % 23));
  for (bool flip : {true, false}) {
    const auto out = infer_3d(model, in, flip);
    ASSERT_EQ(out.size(), 3u * 17 * 3);
    for (float v : out) EXPECT_TRUE(std::isfinite(v));
  }
  in.frames = 1;
  in.keypoints_px.resize(17 * 2);
  EXPECT_EQ(infer_3d(model, in, true).size(), 17u * 3);

  in.keypoints_px[5] = NAN;
  expect_error([&] { infer_3d(model, in, true); }, {"short", "keypoint 2", "not finite"});
  in.frames = 0;
  in.keypoints_px.clear();
  expect_error([&] { infer_3d(model, in, true); }, {"short", "frames", ">= 1"});
}

// Many inputs at once (as `v3d infer` runs them) give each input's own result, with and without
// the long-term bank; a bad input among them is named.
TEST(Infer, ManyInputsAtOnceEqualOneByOne) {
  TemporalModelConfig mc;
  mc.filter_widths = {3, 3, 3};
  mc.channels = 8;
  mc.dropout = 0.0f;
  TemporalModel model(mc, Device::cpu(), 6);
  std::vector<InferInput> inputs;
  for (const int64_t frames : {int64_t{60}, int64_t{3}, int64_t{41}}) {
    InferInput in;
    in.name = "clip" + std::to_string(frames);
    in.frames = frames;
    in.joints = 17;
    in.res_w = 1000;
    in.res_h = 1002;
    for (int64_t i = 0; i < frames * 34; ++i)  // a periodic motion, so the bank fuses frames
      in.keypoints_px.push_back(static_cast<float>(
          500 + 80 * std::sin(0.4 * static_cast<double>(i / 34)) + 3 * (i % 34)));
    inputs.push_back(std::move(in));
  }
  LtbOptions ltb;
  ltb.threshold = 0.9f;
  ltb.fusion_threshold = 0.5f;
  const std::vector<const LtbOptions*> settings{nullptr, &ltb};
  for (const LtbOptions* o : settings) {
    LtbStats stats;
    const auto all = infer_3d(model, inputs, true, o, &stats);
    ASSERT_EQ(all.size(), inputs.size());
    if (o != nullptr) {
      EXPECT_GT(stats.fused_frames, 0) << "the test needs fused frames";
    }
    for (size_t k = 0; k < inputs.size(); ++k)
      expect_near_all(all[k], infer_3d(model, inputs[k], true, o), 1e-5f);
  }
  EXPECT_TRUE(infer_3d(model, std::vector<InferInput>{}, true).empty());
  inputs[1].keypoints_px[7] = NAN;
  expect_error([&] { infer_3d(model, inputs, true); }, {"clip3", "not finite"});
}

}  // namespace
}  // namespace v3d
