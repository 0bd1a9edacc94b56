// `v3d export --onnx` (report/onnx_export.h): the graph's structure read back with protobuf, and
// the 27- and 243-frame models (centred and causal, sequence and window forms) run by onnxruntime
// from PyPI against v3d's own inference (infer_3d without flip, what v3d infer --no-flip computes)
// to 1e-5. onnxruntime lives in build/onnx-venv (scripts/onnx-venv, the ctest fixture onnx_venv);
// without it that test skips and prints why.
#include "report/onnx_export.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "data/camera.h"
#include "onnx.pb.h"
#include "tests/test_util.h"
#include "trainer/infer.h"
#include "trainer/model.h"

namespace v3d {
namespace {

using test_util::TempDir;

// A random model of `widths` with 16 channels whose batch norms have random statistics and
// affine parameters, so that folding them changes every weight and bias.
std::unique_ptr<TemporalModel> random_model(const std::vector<int>& widths, bool causal) {
  ExperimentConfig c;
  c.model.filter_widths = widths;
  c.model.channels = 16;
  c.model.dropout = 0.0;
  c.model.causal = causal;
  auto model =
      std::make_unique<TemporalModel>(temporal_model_config(c.model, 17, 2, 17), Device::cpu(), 7);
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-0.3f, 0.3f), var(0.5f, 1.5f);
  for (auto& [name, t] : model->state_dict()) {
    const bool bn = name.find("_bn") != std::string::npos;
    if (!bn || name.find("num_batches_tracked") != std::string::npos) continue;
    const bool is_var = name.find("running_var") != std::string::npos;
    const bool is_weight = name.find(".weight") != std::string::npos;
    std::vector<float> v(static_cast<size_t>(t.numel()));
    for (float& x : v) x = is_var ? var(rng) : is_weight ? 1.0f + u(rng) : u(rng);
    t.copy_from(Tensor::from_vector(v, t.shape()));
  }
  return model;
}

std::map<std::string, int> op_counts(const onnx::ModelProto& m) {
  std::map<std::string, int> n;
  for (const auto& node : m.graph().node()) ++n[node.op_type()];
  return n;
}

TEST(OnnxExport, GraphHasTheModelsLayersAndADynamicFrameCount) {
  const auto model = random_model({3, 3, 3}, false);
  const FoldedWeights folded = model->fold_weights(false);
  for (OnnxForm form : {OnnxForm::kSequence, OnnxForm::kWindow}) {
    OnnxExport options;
    options.form = form;
    onnx::ModelProto m;
    ASSERT_TRUE(m.ParseFromString(onnx_model(folded, options)));
    EXPECT_EQ(m.opset_import(0).version(), 13);
    const auto& in = m.graph().input(0);
    EXPECT_EQ(in.name(), "keypoints");
    EXPECT_EQ(in.type().tensor_type().shape().dim(0).dim_param(), "frames");
    EXPECT_EQ(in.type().tensor_type().shape().dim(1).dim_value(), 17);
    EXPECT_EQ(m.graph().output(0).name(), "poses_3d");
    std::map<std::string, int> n = op_counts(m);
    EXPECT_EQ(n["Conv"], 1 + 2 * 2 + 1);  // expand, two per block, head
    EXPECT_EQ(n["Relu"], 1 + 2 * 2);
    EXPECT_EQ(n["Slice"], 2);
    EXPECT_EQ(n["Add"], 2);
    EXPECT_EQ(n["Pad"], form == OnnxForm::kSequence ? 1 : 0);
  }
  OnnxExport wrong;
  wrong.joints_in = 16;
  test_util::expect_error([&] { onnx_model(folded, wrong); }, {"onnx export", "16 keypoints"});
}

// onnxruntime's output for `input` ((frames, 17, 2) normalised) through `model_path`.
std::vector<float> run_onnxruntime(const TempDir& dir, const std::string& model_path,
                                   const std::vector<float>& input, int64_t frames) {
  const std::string in = dir.file("in.f32"), out = dir.file("out.f32");
  std::ofstream(in, std::ios::binary)
      .write(reinterpret_cast<const char*>(input.data()),
             static_cast<std::streamsize>(input.size() * sizeof(float)));
  const std::string cmd = std::string(V3D_ONNX_VENV) + "/bin/python " + V3D_SOURCE_DIR +
                          "/tests/report/onnx_run.py '" + model_path + "' '" + in + "' " +
                          std::to_string(frames) + " 17 '" + out + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream f(out, std::ios::binary | std::ios::ate);
  std::vector<float> y(static_cast<size_t>(f.tellg()) / sizeof(float));
  f.seekg(0);
  f.read(reinterpret_cast<char*>(y.data()), static_cast<std::streamsize>(y.size() * sizeof(float)));
  return y;
}

// |a - b| <= 1e-5 (1 + |b|) element by element, for b's rows [first, first + rows) of 17 x 3.
void expect_close(const std::vector<float>& a, const std::vector<float>& b, int64_t first,
                  int64_t rows, const std::string& what) {
  ASSERT_EQ(static_cast<int64_t>(a.size()), rows * 17 * 3) << what;
  int bad = 0;
  for (size_t i = 0; i < a.size() && bad < 5; ++i) {
    const float want = b[static_cast<size_t>(first * 17 * 3) + i];
    if (!(std::fabs(a[i] - want) <= 1e-5f * (1.0f + std::fabs(want)))) {
      ADD_FAILURE() << what << ": element " << i << " (frame " << i / 51 << "): onnx " << a[i]
                    << ", v3d " << want;
      ++bad;
    }
  }
}

TEST(OnnxExport, OnnxruntimeMatchesInferenceOn27And243FrameModels) {
  const std::string python = std::string(V3D_ONNX_VENV) + "/bin/python";
  std::ifstream reason(std::string(V3D_ONNX_VENV) + ".unavailable");
  if (reason) {
    std::string why;
    std::getline(reason, why);
    GTEST_SKIP() << "onnxruntime unavailable: " << why;
  }
  if (!std::filesystem::exists(python))
    GTEST_SKIP() << "no " << python << " (run scripts/onnx-venv " << V3D_ONNX_VENV
                 << ", or ctest, whose fixture onnx_venv does)";
  const TempDir dir("v3d-onnx");
  // 300 frames of smooth motion in a 1000 x 1002 image.
  InferInput in;
  in.name = "walk";
  in.frames = 300;
  in.joints = 17;
  in.res_w = 1000;
  in.res_h = 1002;
  for (int64_t t = 0; t < in.frames; ++t)
    for (int j = 0; j < 17; ++j)
      for (int c = 0; c < 2; ++c)
        in.keypoints_px.push_back(
            static_cast<float>(500 + 40 * j * (c ? 0.5 : 1) + 60 * std::sin(0.07 * t + j + c)));
  const std::vector<float> normalised =
      data::normalize_screen_coordinates(in.keypoints_px, in.res_w, in.res_h);

  for (const std::vector<int>& widths : {std::vector<int>{3, 3, 3}, {3, 3, 3, 3, 3}}) {
    for (bool causal : {false, true}) {
      const auto model = random_model(widths, causal);
      const int64_t rf = model->receptive_field(), pad = (rf - 1) / 2;
      const std::string what = std::to_string(rf) + "-frame" + (causal ? " causal" : "");
      const std::vector<float> want = infer_3d(*model, in, false);
      const FoldedWeights folded = model->fold_weights(false);
      OnnxExport options;
      write_onnx(dir.file("sequence.onnx"), folded, options);
      expect_close(run_onnxruntime(dir, dir.file("sequence.onnx"), normalised, in.frames), want, 0,
                   in.frames, what + " sequence form");
      // The window form on the raw frames: row q is v3d's frame q + pad (centred) or q + RF - 1
      // (causal), the frames whose windows need no padding.
      options.form = OnnxForm::kWindow;
      write_onnx(dir.file("window.onnx"), folded, options);
      expect_close(run_onnxruntime(dir, dir.file("window.onnx"), normalised, in.frames), want,
                   causal ? 2 * pad : pad, in.frames - rf + 1, what + " window form");
    }
  }
}

}  // namespace
}  // namespace v3d
