// The VideoPose3D checkpoint converter (scripts/convert_checkpoint.py) against v3d's own model:
//   - a torch-saved checkpoint of the PyTorch reference model (benchmarks/reference/
//     videopose3d_ref.py, random weights and BN state) converted with to-h5 loads through
//     restore_model (what `v3d infer` and `v3d eval` use: config_yaml, architecture check,
//     load_state_dict), and forward_eval equals PyTorch's eval-mode output on the same input:
//     this pins the layout (key names, (C_out, C_in, K) order, channel j*2 + f);
//   - a v3d checkpoint (a model after two AMSGrad steps, optimizer state included) converted
//     with to-bin loads into the PyTorch model with load_state_dict(strict=True) and gives v3d's
//     output.
// Both sides run Debian's /usr/bin/python3 with torch (scripts/setup installs python3-torch);
// without it the tests report SKIPPED with the reason. The Python-only round trip is the ctest
// `convert_checkpoint_roundtrip` (tests/trainer/torch_interop.py roundtrip).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "runtime/autograd.h"
#include "runtime/loss.h"
#include "runtime/optimizer.h"
#include "tests/test_util.h"
#include "trainer/checkpoint.h"
#include "trainer/model.h"
#include "trainer/restore.h"

namespace v3d::test {
namespace {

namespace fs = std::filesystem;

const std::string kSource = V3D_SOURCE_DIR;
const std::string kConverter = kSource + "/scripts/convert_checkpoint.py";
const std::string kInterop = kSource + "/tests/trainer/torch_interop.py";

// PyTorch's dilated conv and v3d's (BN folded) sum in different orders over up to C*K = 3072
// products per layer; relative to the output's largest magnitude, float32 rounding stays far
// below this.
constexpr double kTolerance = 1e-4;

// A per-test directory ("v3d-convert-XXXXXX" under $TMPDIR).
class ConvertDir : public test_util::TempDir {
 public:
  ConvertDir() : test_util::TempDir("v3d-convert") {}
};

bool torch_available() {
  static const bool ok =
      std::system("/usr/bin/python3 -c 'import torch, h5py, numpy' >/dev/null 2>&1") == 0;
  return ok;
}

// Runs /usr/bin/python3 with `args`; returns the exit status (output goes to the test log).
int python(const std::string& args) {
  const std::string cmd = std::string("/usr/bin/python3 ") + args + " 2>&1";
  return std::system(cmd.c_str());
}

std::vector<float> read_f32(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw std::runtime_error(path + ": cannot open");
  const auto bytes = static_cast<size_t>(f.tellg());
  std::vector<float> v(bytes / sizeof(float));
  f.seekg(0);
  f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(bytes));
  return v;
}

void write_f32(const std::string& path, const std::vector<float>& v) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(v.data()),
          static_cast<std::streamsize>(v.size() * sizeof(float)));
  if (!f) throw std::runtime_error(path + ": cannot write");
}

using test_util::relative_error;

struct TorchCase {
  std::string arch;
  int channels;
  int frames;
  bool causal;
};

void check_torch_to_v3d(const TorchCase& c) {
  if (!torch_available()) GTEST_SKIP() << "/usr/bin/python3 has no torch/h5py (scripts/setup)";
  ConvertDir dir;
  const std::string bin = dir.file("vp3d.bin"), h5 = dir.file("vp3d.h5");
  const std::string x_path = dir.file("x.f32"), y_path = dir.file("y.f32");
  const std::string flags = std::string(c.causal ? " --causal" : "");
  ASSERT_EQ(python(kInterop + " make-bin " + bin + " " + x_path + " " + y_path + " --arch " +
                   c.arch + " --channels " + std::to_string(c.channels) + " --frames " +
                   std::to_string(c.frames) + flags),
            0);
  ASSERT_EQ(python(kConverter + " to-h5 " + bin + " " + h5 + " --architecture " + c.arch + flags),
            0);

  const Checkpoint ckpt = load_checkpoint(h5);
  EXPECT_EQ(ckpt.architecture, c.arch);
  EXPECT_EQ(ckpt.epoch, 7);
  EXPECT_FLOAT_EQ(ckpt.lr, 5e-4f);
  EXPECT_FALSE(ckpt.optimizer.exp_avg.defined());
  EXPECT_EQ(ckpt.metadata.at("source"), "vp3d.bin");

  RestoredModel m = restore_model(h5);
  EXPECT_EQ(m.config.model.channels, c.channels);
  EXPECT_EQ(m.config.model.causal, c.causal);
  EXPECT_EQ(m.model->num_batches_tracked("expand_bn"),
            ckpt.find("expand_bn.num_batches_tracked")->to_vector_i32()[0]);
  const std::vector<float> x = read_f32(x_path), want = read_f32(y_path);
  const int64_t rf = m.model->receptive_field();
  ASSERT_EQ(static_cast<int64_t>(x.size()), 2 * c.frames * 17 * 2);
  ASSERT_EQ(static_cast<int64_t>(want.size()), 2 * (c.frames - rf + 1) * 17 * 3);
  const std::vector<float> got =
      m.model->forward_eval(Tensor::from_vector(x, {2, c.frames, 34})).to_vector();
  ASSERT_EQ(got.size(), want.size());
  EXPECT_LE(relative_error(got, want), kTolerance);
}

TEST(CheckpointConvert, TorchToV3d27Frames) { check_torch_to_v3d({"3,3,3", 64, 40, false}); }
TEST(CheckpointConvert, TorchToV3d27FramesCausal) { check_torch_to_v3d({"3,3,3", 64, 40, true}); }
TEST(CheckpointConvert, TorchToV3d243Frames) { check_torch_to_v3d({"3,3,3,3,3", 32, 250, false}); }

TEST(CheckpointConvert, V3dToTorch) {
  if (!torch_available()) GTEST_SKIP() << "/usr/bin/python3 has no torch/h5py (scripts/setup)";
  ConvertDir dir;
  TemporalModelConfig cfg;
  cfg.channels = 64;
  TemporalModel model(cfg, Device::cpu(), 3);
  // Two training steps: weights move, BN running statistics and counters leave their defaults,
  // the optimizer has state (which to-bin leaves out).
  AdamAmsgrad optimizer(model.parameters());
  PhiloxState rng{5, 0};
  std::vector<float> xs(static_cast<size_t>(8 * 27 * 34)), ts(static_cast<size_t>(8 * 17 * 3));
  for (size_t i = 0; i < xs.size(); ++i) xs[i] = static_cast<float>(std::sin(0.37 * i));
  for (size_t i = 0; i < ts.size(); ++i) ts[i] = static_cast<float>(0.1 * std::cos(0.11 * i));
  const Tensor x_train = Tensor::from_vector(xs, {8, 27, 34});
  const Tensor target = Tensor::from_vector(ts, {8, 1, 17, 3});
  for (int step = 0; step < 2; ++step) {
    model.parameters().zero_grad();
    const Var loss = ag::mpjpe(channels_to_poses(model.forward_train(x_train, rng), 17), target);
    loss.backward();
    optimizer.step();
  }
  Checkpoint ckpt;
  ckpt.tensors = model.state_dict();
  ckpt.architecture = "3,3,3";
  ckpt.epoch = 3;
  ckpt.lr = 9e-4f;
  ckpt.optimizer.steps = optimizer.steps();
  ckpt.optimizer.exp_avg = optimizer.exp_avg();
  ckpt.optimizer.exp_avg_sq = optimizer.exp_avg_sq();
  ckpt.optimizer.max_exp_avg_sq = optimizer.max_exp_avg_sq();
  ckpt.metadata["created_by"] = "checkpoint_convert_test";
  const std::string h5 = dir.file("v3d.h5"), bin = dir.file("v3d.bin");
  save_checkpoint(ckpt, h5);

  const int64_t frames = 40;
  std::vector<float> x(static_cast<size_t>(2 * frames * 34));
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(0.5 * std::sin(1.3 * i + 0.2));
  write_f32(dir.file("x.f32"), x);
  write_f32(dir.file("y.f32"),
            model.forward_eval(Tensor::from_vector(x, {2, frames, 34})).to_vector());

  ASSERT_EQ(python(kConverter + " to-bin " + h5 + " " + bin), 0);
  EXPECT_EQ(python(kInterop + " check-bin " + bin + " " + dir.file("x.f32") + " " +
                   dir.file("y.f32") + " --frames " + std::to_string(frames)),
            0);
}

}  // namespace
}  // namespace v3d::test
