// Training, evaluation and inference on a pose file whose 2D is a detector's keypoints in their own
// layout (root attribute keypoints_2d: COCO-17 or MPII-16, as VideoPose3D's detectron_pt_coco and
// stacked-hourglass files): data.keypoints must name that layout, the model reads those keypoints
// as stored, and a mismatch is one line naming both layouts.
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <tuple>
#include <vector>

#include "data/dataset.h"
#include "data/infer_input.h"
#include "data/prepare.h"
#include "data/skeleton.h"
#include "data/synth.h"
#include "kernels/common.h"
#include "tests/test_util.h"
#include "trainer/config.h"
#include "trainer/evaluate.h"
#include "trainer/restore.h"
#include "trainer/sequences.h"
#include "trainer/train.h"

namespace v3d {
namespace {

// MPII-16 keypoint -> the H36M-17 joint it is taken from (a "detector" that sees the mocap).
constexpr std::array<int, 16> kMpiiFromH36m = {3, 2,  1,  4,  5,  6,  0,  8,
                                               9, 10, 16, 15, 14, 11, 12, 13};

// S1 and S9, Walking and Boxing, 80 frames: the synthetic 2D rewritten in `layout`.
std::string write_detector_file(const test_util::TempDir& dir, const std::string& layout) {
  data::SynthOptions so;
  so.seed = 5;
  so.frames_per_action = 80;
  so.subjects = {"S1", "S9"};
  so.actions = {"Walking", "Boxing"};
  data::Dataset d = data::synthesize(so);
  d.keypoints_2d = layout;
  for (auto& [s, subject] : d.subjects) {
    for (auto& [a, action] : subject.actions) {
      for (auto& [k, xy] : action.positions_2d) {
        if (layout == "coco17") {
          xy = data::to_pseudo_coco(xy, action.frames, 2);
        } else {
          std::vector<float> mpii(static_cast<size_t>(action.frames) * 16 * 2);
          for (int64_t n = 0; n < action.frames; ++n) {
            for (int j = 0; j < 16; ++j) {
              for (int c = 0; c < 2; ++c) {
                mpii[(n * 16 + j) * 2 + c] = xy[(n * 17 + kMpiiFromH36m[j]) * 2 + c];
              }
            }
          }
          xy = std::move(mpii);
        }
      }
    }
  }
  const std::string path = dir.file(layout + ".h5");
  data::write_dataset(d, path);
  return path;
}

ExperimentConfig config_for(const std::string& path, Keypoints keypoints) {
  ExperimentConfig c;
  c.model.filter_widths = {3, 3};
  c.model.channels = 32;
  c.data.source = H5SourceConfig{path};
  c.data.train_subjects = {"S1"};
  c.data.test_subjects = {"S9"};
  c.data.keypoints = keypoints;
  c.train.epochs = 2;
  c.train.batch_size = 64;
  c.train.lr = 3e-3;
  c.device = "cpu";
  c.eval.test_intervals = {1};
  return c;
}

TEST(DetectorLayouts, FileKeepsTheLayoutAndPrepareReadsItAsStored) {
  const test_util::TempDir dir("v3d-layouts");
  const std::string path = write_detector_file(dir, "mpii16");
  const data::Dataset d = data::read_dataset(path);
  EXPECT_EQ(d.keypoints_2d, "mpii16");
  EXPECT_EQ(d.skeleton_2d().num_joints(), 16);
  EXPECT_EQ(d.subjects.at("S1").actions.at("Walking").positions_2d.at(0).size(), 80u * 16 * 2);
  data::PrepareSpec spec;
  spec.subjects = {"S9"};
  spec.keypoints_2d = "mpii16";
  const std::vector<data::Sequence> seqs = data::prepare_sequences(d, spec);
  ASSERT_EQ(seqs.size(), 8u);  // 2 actions x 4 cameras
  EXPECT_EQ(seqs[0].poses_2d.size(), 80u * 16 * 2);
  EXPECT_EQ(seqs[0].poses_3d.size(), 80u * 17 * 3);
  // Asked for the skeleton's own 2D, or to project it: one line naming the layouts.
  spec.keypoints_2d.clear();
  test_util::expect_error([&] { data::prepare_sequences(d, spec); },
                          {"the file's 2D keypoints are mpii16", "the model reads h36m17"});
  spec.keypoints_2d = "mpii16";
  spec.ground_truth_2d = true;
  test_util::expect_error([&] { data::prepare_sequences(d, spec); },
                          {"mpii16 keypoints", "can make from the 3D"});
  // An HDF5 input of v3d infer carries the layout.
  const std::vector<data::InferInput> inputs = data::read_infer_input_h5(path, 1);
  ASSERT_FALSE(inputs.empty());
  EXPECT_EQ(inputs[0].keypoints, "mpii16");
  EXPECT_EQ(inputs[0].joints, 16);
}

TEST(DetectorLayouts, TrainAndEvaluateOnMpiiAndCocoKeypoints) {
  for (const auto& [layout, keypoints, count] :
       {std::tuple{std::string("mpii16"), Keypoints::kMpii16, 16},
        std::tuple{std::string("coco17"), Keypoints::kCoco17, 17}}) {
    const test_util::TempDir dir("v3d-layouts-train");
    const std::string path = write_detector_file(dir, layout);
    const ExperimentConfig c = config_for(path, keypoints);
    TrainOptions o;
    o.out_dir = dir.file("run");
    o.quiet = true;
    const TrainResult r = train(c, o);
    ASSERT_EQ(r.epochs, 2) << layout;
    const RestoredModel m = restore_model(r.checkpoint);
    EXPECT_EQ(m.keypoints->name, layout);
    EXPECT_EQ(m.model->config().in_channels(), count * 2) << layout;
    const EvalReport report =
        evaluate(*m.model, load_test_sequences(m.config), eval_options(m.config));
    ASSERT_EQ(report.intervals.size(), 1u);
    EXPECT_GT(report.intervals[0].mean.mpjpe, 0.0) << layout;
    EXPECT_LT(report.intervals[0].mean.mpjpe, 1000.0) << layout;  // mm: a trained model's range
    // The same file with the skeleton's own layout asked for: one line naming both.
    test_util::expect_error([&] { train(config_for(path, Keypoints::kH36m17), o); },
                            {"the file's 2D keypoints are " + layout, "h36m17"});
  }
}

}  // namespace
}  // namespace v3d
