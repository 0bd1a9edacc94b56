// Tests of the checkpoint file (trainer/checkpoint.cpp): a bit-for-bit round trip of every field
// with tensors on the CPU and the emulated GPU, state_dict order, VideoPose3D's 27-frame key set,
// the layout h5py users rely on, atomic writes, and every bad-input case giving one line that
// names the file and the object path.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <H5Cpp.h>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>

#include "kernels/common.h"
#include "tests/runtime/test_util.h"
#include "tests/test_util.h"
#include "trainer/checkpoint.h"

// libhdf5's metadata checksum (H5private.h; exported, not in its public headers).
extern "C" uint32_t H5_checksum_metadata(const void* data, size_t len, uint32_t initval);

namespace v3d::test {
namespace {

namespace fs = std::filesystem;

// A per-test directory ("v3d-ckpt-XXXXXX" under $TMPDIR).
class TempDir : public test_util::TempDir {
 public:
  TempDir() : test_util::TempDir("v3d-ckpt") {}
};

using test_util::expect_error;
using test_util::write_text;

uint32_t bits(float f) {
  uint32_t u = 0;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

float from_bits(uint32_t u) {
  float f = 0;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Deterministic values that include the floats a lossy path would change: -0, a NaN with a
// payload, infinities, a denormal and the extremes.
std::vector<float> pattern(int64_t n, uint32_t salt) {
  const float specials[] = {-0.0f,
                            from_bits(0x7fc12345u),
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::denorm_min(),
                            std::numeric_limits<float>::max(),
                            std::numeric_limits<float>::lowest()};
  std::vector<float> v(static_cast<size_t>(n));
  uint32_t s = 0x9e3779b9u ^ salt;
  for (size_t i = 0; i < v.size(); ++i) {
    s = s * 1664525u + 1013904223u;
    v[i] = i < 7 && n >= 7 ? specials[i] : static_cast<float>(static_cast<int32_t>(s)) * 1e-9f;
  }
  return v;
}

Tensor f32_tensor(const Shape& shape, uint32_t salt, Device device = Device::cpu()) {
  return Tensor::from_vector(pattern(shape.numel(), salt), shape, device);
}

Tensor counter(int32_t value, Device device = Device::cpu()) {
  return Tensor::from_vector_i32({value}, Shape{}, device);
}

void expect_same_tensor(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_TRUE(a.defined()) << what;
  ASSERT_TRUE(b.defined()) << what;
  EXPECT_EQ(a.shape(), b.shape()) << what << ": " << a.str() << " vs " << b.str();
  ASSERT_EQ(a.dtype(), b.dtype()) << what;
  if (a.dtype() == DType::kF32) {
    const auto va = a.to_vector(), vb = b.to_vector();
    ASSERT_EQ(va.size(), vb.size()) << what;
    for (size_t i = 0; i < va.size(); ++i) {
      ASSERT_EQ(bits(va[i]), bits(vb[i])) << what << " element " << i;
    }
  } else {
    EXPECT_EQ(a.to_vector_i32(), b.to_vector_i32()) << what;
  }
}

// A small checkpoint with every field set, tensors on `device`.
Checkpoint sample(Device device = Device::cpu()) {
  Checkpoint c;
  // Deliberately not in name order (layers_conv.10 sorts before layers_conv.2).
  c.tensors = {{"expand_bn.weight", f32_tensor({8}, 1, device)},
               {"expand_bn.num_batches_tracked", counter(123456, device)},
               {"shrink.weight", f32_tensor({6, 8, 1}, 2, device)},
               {"layers_conv.2.weight", f32_tensor({8, 8, 3}, 3, device)},
               {"layers_conv.10.weight", f32_tensor({2, 2, 2, 2}, 4, device)},
               {"a.scalar", f32_tensor(Shape{}, 5, device)},
               {"empty", f32_tensor({0, 3}, 6, device)},
               {"int.vector", Tensor::from_vector_i32({-7, 0, 2147483647}, {3}, device)}};
  c.architecture = "3,3,3";
  c.config_yaml = "model:\n  filter_widths: [3, 3, 3]\n  channels: 8\nname: \"µ-test ✓\"\n";
  c.epoch = 41;
  c.lr = 0.001f * std::pow(0.95f, 41.0f);
  c.optimizer.steps = 987654321012LL;
  c.optimizer.exp_avg = f32_tensor({1000}, 7, device);
  c.optimizer.exp_avg_sq = f32_tensor({1000}, 8, device);
  c.optimizer.max_exp_avg_sq = f32_tensor({1000}, 9, device);
  c.generator_state =
      "v3d-window-generator 1\nnum_windows 10\nreceptive_field 27\nmode Sample 5\nepoch 3\n"
      "cursor 2\nrng 1 2 3\n";
  c.dropout_seed = 0xfedcba9876543210ull;
  c.dropout_offset = 0xffffffffffffffffull;
  c.metadata = {{"v3d_version", "0.1"}, {"source", "unit test ✓"}, {"empty", ""}};
  return c;
}

void expect_same_checkpoint(const Checkpoint& a, const Checkpoint& b) {
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    EXPECT_EQ(a.tensors[i].first, b.tensors[i].first) << "entry " << i;
    expect_same_tensor(a.tensors[i].second, b.tensors[i].second, a.tensors[i].first);
  }
  EXPECT_EQ(a.architecture, b.architecture);
  EXPECT_EQ(a.config_yaml, b.config_yaml);
  EXPECT_EQ(a.epoch, b.epoch);
  EXPECT_EQ(bits(a.lr), bits(b.lr));
  EXPECT_EQ(a.optimizer.steps, b.optimizer.steps);
  EXPECT_EQ(a.optimizer.exp_avg.defined(), b.optimizer.exp_avg.defined());
  if (a.optimizer.exp_avg.defined()) {
    expect_same_tensor(a.optimizer.exp_avg, b.optimizer.exp_avg, "exp_avg");
    expect_same_tensor(a.optimizer.exp_avg_sq, b.optimizer.exp_avg_sq, "exp_avg_sq");
    expect_same_tensor(a.optimizer.max_exp_avg_sq, b.optimizer.max_exp_avg_sq, "max_exp_avg_sq");
  }
  EXPECT_EQ(a.generator_state, b.generator_state);
  EXPECT_EQ(a.dropout_seed, b.dropout_seed);
  EXPECT_EQ(a.dropout_offset, b.dropout_offset);
  EXPECT_EQ(a.metadata, b.metadata);
}

void expect_on(const Checkpoint& c, Device device) {
  for (const auto& [key, t] : c.tensors) EXPECT_EQ(t.device(), device) << key;
  EXPECT_EQ(c.optimizer.exp_avg.device(), device);
  EXPECT_EQ(c.optimizer.exp_avg_sq.device(), device);
  EXPECT_EQ(c.optimizer.max_exp_avg_sq.device(), device);
}

// Opens a written file read-write for a test to damage.
void edit(const std::string& path, const std::function<void(H5::H5File&)>& fn) {
  H5::H5File file(path, H5F_ACC_RDWR);
  fn(file);
  file.close();
}

// VideoPose3D's 27-frame (3,3,3) state_dict in registration order (reference §1.3): 32 entries.
std::vector<std::pair<std::string, Shape>> videopose3d_27_keys(int64_t C) {
  std::vector<std::pair<std::string, Shape>> keys;
  auto bn = [&](const std::string& prefix) {
    for (const char* name : {"weight", "bias", "running_mean", "running_var"}) {
      keys.emplace_back(prefix + "." + name, Shape{C});
    }
    keys.emplace_back(prefix + ".num_batches_tracked", Shape{});
  };
  bn("expand_bn");
  keys.emplace_back("shrink.weight", Shape{51, C, 1});
  keys.emplace_back("shrink.bias", Shape{51});
  keys.emplace_back("expand_conv.weight", Shape{C, 34, 3});
  for (int k = 0; k < 2; ++k) {
    keys.emplace_back("layers_conv." + std::to_string(2 * k) + ".weight", Shape{C, C, 3});
    keys.emplace_back("layers_conv." + std::to_string(2 * k + 1) + ".weight", Shape{C, C, 1});
  }
  for (int m = 0; m < 4; ++m) bn("layers_bn." + std::to_string(m));
  return keys;
}

// ---------------------------------------------------------------------------------------------

TEST(Checkpoint, RoundTripCpuBitForBit) {
  TempDir dir;
  const Checkpoint c = sample();
  save_checkpoint(c, dir.file("a.ckpt"));
  const Checkpoint back = load_checkpoint(dir.file("a.ckpt"));
  expect_same_checkpoint(c, back);
  expect_on(back, Device::cpu());
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"a.ckpt"});
}

TEST(Checkpoint, FullDiskFailsCleanlyAndKeepsTheEarlierCheckpoint) {
  TempDir dir;
  const std::string path = dir.file("epoch_3.h5");
  save_checkpoint(sample(), path);
  const size_t size = test_util::read_text(path).size();
  Checkpoint next = sample();
  next.epoch += 1;
  test_util::expect_full_disk_keeps_file(path, size / 2, [&] { save_checkpoint(next, path); });
  expect_same_checkpoint(sample(), load_checkpoint(path));
}

// A checkpoint saved from a GPU device loads there and on the CPU, identical to the CPU's.
class CheckpointDevices : public test::DeviceTest {};

TEST_P(CheckpointDevices, RoundTripBothWays) {
  TempDir dir;
  const Checkpoint on_dev = sample(dev());
  save_checkpoint(on_dev, dir.file("dev.ckpt"));
  const Checkpoint to_dev = load_checkpoint(dir.file("dev.ckpt"), dev());
  expect_on(to_dev, dev());
  expect_same_checkpoint(sample(), to_dev);
  const Checkpoint to_cpu = load_checkpoint(dir.file("dev.ckpt"), Device::cpu());
  expect_on(to_cpu, Device::cpu());
  expect_same_checkpoint(sample(), to_cpu);
}

INSTANTIATE_TEST_SUITE_P(GpuDevices, CheckpointDevices,
                         ::testing::ValuesIn(test::gpu_device_params()), test::device_test_name);

TEST(Checkpoint, WeightsOnlyAndDefaults) {
  TempDir dir;
  Checkpoint c;  // no tensors, no optimizer, empty strings and metadata
  save_checkpoint(c, dir.file("empty.ckpt"));
  const Checkpoint back = load_checkpoint(dir.file("empty.ckpt"));
  expect_same_checkpoint(c, back);
  EXPECT_FALSE(back.optimizer.exp_avg.defined());
  EXPECT_EQ(back.optimizer.steps, 0);
}

TEST(Checkpoint, OverwritesAndFind) {
  TempDir dir;
  Checkpoint c = sample();
  save_checkpoint(c, dir.file("a.ckpt"));
  c.epoch = 42;
  c.tensors.resize(2);
  save_checkpoint(c, dir.file("a.ckpt"));
  const Checkpoint back = load_checkpoint(dir.file("a.ckpt"));
  expect_same_checkpoint(c, back);
  ASSERT_NE(back.find("expand_bn.num_batches_tracked"), nullptr);
  EXPECT_EQ(back.find("expand_bn.num_batches_tracked")->to_vector_i32(),
            std::vector<int32_t>{123456});
  EXPECT_EQ(back.find("shrink.weight"), nullptr);
}

TEST(Checkpoint, VideoPose3D27FrameKeySet) {
  TempDir dir;
  Checkpoint c;
  int64_t params = 0;
  uint32_t salt = 100;
  for (const auto& [key, shape] : videopose3d_27_keys(1024)) {
    if (key.find("num_batches_tracked") != std::string::npos) {
      c.tensors.emplace_back(key, counter(static_cast<int32_t>(salt)));
    } else {
      c.tensors.emplace_back(key, f32_tensor(shape, salt));
      if (key.find("running_") == std::string::npos) params += shape.numel();
    }
    ++salt;
  }
  ASSERT_EQ(c.tensors.size(), 32u);
  EXPECT_EQ(params, 8555571);  // the count for the 27-frame model
  c.architecture = "3,3,3";
  save_checkpoint(c, dir.file("vp3d.ckpt"));
  const Checkpoint back = load_checkpoint(dir.file("vp3d.ckpt"));
  expect_same_checkpoint(c, back);

  // The layout the converter and h5py users see: names with dots directly under /model, PyTorch's
  // shapes, float32 parameters and int64 0-d counters.
  H5::H5File file(dir.file("vp3d.ckpt"), H5F_ACC_RDONLY);
  H5::DataSet w = file.openDataSet("/model/layers_conv.0.weight");
  hsize_t dims[3] = {0, 0, 0};
  ASSERT_EQ(w.getSpace().getSimpleExtentNdims(), 3);
  w.getSpace().getSimpleExtentDims(dims);
  EXPECT_EQ(dims[0], 1024u);
  EXPECT_EQ(dims[1], 1024u);
  EXPECT_EQ(dims[2], 3u);
  EXPECT_EQ(w.getDataType(), H5::PredType::IEEE_F32LE);
  H5::DataSet n = file.openDataSet("/model/layers_bn.3.num_batches_tracked");
  EXPECT_EQ(n.getSpace().getSimpleExtentType(), H5S_SCALAR);
  EXPECT_EQ(n.getDataType(), H5::PredType::STD_I64LE);
}

TEST(Checkpoint, FileLayout) {
  TempDir dir;
  save_checkpoint(sample(), dir.file("a.ckpt"));
  H5::H5File file(dir.file("a.ckpt"), H5F_ACC_RDONLY);
  H5::Group root = file.openGroup("/");
  H5::StrType str(H5::PredType::C_S1, H5T_VARIABLE);
  std::string format;
  H5::Attribute fa = root.openAttribute("format");
  EXPECT_EQ(fa.getStrType().getCset(), H5T_CSET_UTF8);
  EXPECT_TRUE(fa.getStrType().isVariableStr());
  str.setCset(H5T_CSET_UTF8);
  fa.read(str, format);
  EXPECT_EQ(format, "v3d-checkpoint");
  int version = 0;
  root.openAttribute("version").read(H5::PredType::NATIVE_INT, &version);
  EXPECT_EQ(version, 1);
  EXPECT_EQ(root.openAttribute("epoch").getDataType(), H5::PredType::STD_I64LE);
  EXPECT_EQ(root.openAttribute("lr").getDataType(), H5::PredType::IEEE_F32LE);
  EXPECT_EQ(root.openAttribute("dropout_seed").getDataType(), H5::PredType::STD_U64LE);
  H5::Group opt = file.openGroup("/optimizer");
  EXPECT_EQ(opt.openAttribute("steps").getDataType(), H5::PredType::STD_I64LE);
  EXPECT_EQ(opt.openDataSet("max_exp_avg_sq").getSpace().getSimpleExtentNpoints(), 1000);
  EXPECT_TRUE(file.openGroup("/metadata").attrExists("source"));
}

// ---------------------------------------------------------------------------------------------
// Atomic writes

TEST(Checkpoint, FailedSaveLeavesExistingFileUntouched) {
  TempDir dir;
  const std::string path = dir.file("a.ckpt");
  save_checkpoint(sample(), path);
  const auto size = fs::file_size(path);
  const auto time = fs::last_write_time(path);

  Checkpoint bad = sample();
  bad.tensors.push_back({"shrink.weight", f32_tensor({1}, 0)});  // duplicate key
  expect_error([&] { save_checkpoint(bad, path); }, {path, "/model/shrink.weight", "duplicate"});
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"a.ckpt"});
  EXPECT_EQ(fs::file_size(path), size);
  EXPECT_EQ(fs::last_write_time(path), time);
  expect_same_checkpoint(sample(), load_checkpoint(path));
}

TEST(Checkpoint, FailedRenameRemovesTemporaryFile) {
  TempDir dir;
  // A non-empty directory in the way: the file is written, the rename fails.
  const std::string path = dir.file("taken");
  fs::create_directory(path);
  std::ofstream(path + "/keep") << "x";
  expect_error([&] { save_checkpoint(sample(), path); }, {path, "cannot rename"});
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"taken"});
  EXPECT_TRUE(fs::exists(path + "/keep"));
}

TEST(Checkpoint, FailedCreateLeavesNothing) {
  TempDir dir;
  const std::string path = dir.file("missing/dir/a.ckpt");
  expect_error([&] { save_checkpoint(sample(), path); }, {path, "cannot create"});
  EXPECT_TRUE(dir.entries().empty());
}

// ---------------------------------------------------------------------------------------------
// Bad checkpoints given to save: rejected before anything is written

TEST(Checkpoint, SaveRejectsBadInput) {
  TempDir dir;
  const std::string path = dir.file("a.ckpt");
  auto with = [](const std::function<void(Checkpoint&)>& change) {
    Checkpoint c = sample();
    change(c);
    return c;
  };
  struct Case {
    Checkpoint c;
    std::vector<std::string> parts;
  };
  const std::vector<Case> cases = {
      {with([](Checkpoint& c) {
         c.tensors.push_back({"x", Tensor()});
       }),
       {"/model/x", "undefined"}},
      {with([](Checkpoint& c) {
         c.tensors.push_back({"a/b", counter(1)});
       }),
       {"/model/a/b", "invalid key"}},
      {with([](Checkpoint& c) {
         c.tensors.push_back({"", counter(1)});
       }),
       {"invalid key"}},
      {with([](Checkpoint& c) {
         c.tensors.push_back({".", counter(1)});
       }),
       {"invalid key"}},
      {with([](Checkpoint& c) { c.optimizer.exp_avg_sq = Tensor(); }),
       {"/optimizer", "all be defined or none"}},
      {with([](Checkpoint& c) { c.optimizer.max_exp_avg_sq = f32_tensor({999}, 1); }),
       {"/optimizer/max_exp_avg_sq", "(999)"}},
      {with([](Checkpoint& c) {
         c.optimizer.exp_avg_sq = Tensor::from_vector_i32(std::vector<int32_t>(1000, 0), {1000});
       }),
       {"/optimizer/exp_avg_sq", "f32"}},
      {with([](Checkpoint& c) {
         c.optimizer = {};
         c.optimizer.steps = 5;
       }),
       {"/optimizer", "without state"}},
      {with([](Checkpoint& c) { c.config_yaml = std::string("a\0b", 3); }), {"config_yaml", "NUL"}},
      {with([](Checkpoint& c) { c.metadata[""] = "x"; }), {"/metadata", "empty"}},
  };
  for (const auto& k : cases) {
    SCOPED_TRACE(k.parts.front());
    std::vector<std::string> parts = k.parts;
    parts.push_back(path);
    expect_error([&] { save_checkpoint(k.c, path); }, parts);
    EXPECT_TRUE(dir.entries().empty());
  }
}

// ---------------------------------------------------------------------------------------------
// Bad files given to load

class CheckpointLoad : public ::testing::Test {
 protected:
  void SetUp() override { save_checkpoint(sample(), path_); }
  // Damages the file with `fn`, then expects load to fail naming the file and `parts`.
  void expect_load_error(const std::function<void(H5::H5File&)>& fn,
                         std::vector<std::string> parts) {
    edit(path_, fn);
    parts.push_back(path_);
    expect_error([&] { load_checkpoint(path_); }, parts);
  }
  // Replaces the file's bytes at `offset` from where `pattern` first is with `bytes`, then expects
  // load to fail with `parts`.
  void expect_patched_error(const std::string& pattern, ptrdiff_t offset, const std::string& bytes,
                            const std::vector<std::string>& parts) {
    std::string image = test_util::read_text(path_);
    const size_t at = image.find(pattern);
    ASSERT_NE(at, std::string::npos);
    image.replace(static_cast<size_t>(static_cast<ptrdiff_t>(at) + offset), bytes.size(), bytes);
    write_text(path_, image);
    expect_error([&] { load_checkpoint(path_); }, parts);
  }
  TempDir dir_;
  std::string path_ = dir_.file("a.ckpt");
};

TEST_F(CheckpointLoad, MissingFile) {
  expect_error([&] { load_checkpoint(dir_.file("nope.ckpt")); }, {"nope.ckpt", "no such file"});
}

TEST_F(CheckpointLoad, NotHdf5) {
  std::ofstream(path_, std::ios::trunc) << "epoch: 3\n";
  expect_error([&] { load_checkpoint(path_); }, {path_, "/: not an HDF5 file"});
}

TEST_F(CheckpointLoad, Truncated) {
  fs::resize_file(path_, fs::file_size(path_) / 2);
  expect_error([&] { load_checkpoint(path_); }, {path_, "/: cannot open", "truncated"});
}

TEST_F(CheckpointLoad, ForeignHdf5File) {
  H5::H5File(path_, H5F_ACC_TRUNC).close();
  expect_error([&] { load_checkpoint(path_); }, {path_, "missing attribute 'format'"});
}

TEST_F(CheckpointLoad, WrongFormat) {
  expect_load_error(
      [](H5::H5File& f) {
        H5::Group root = f.openGroup("/");
        root.removeAttr("format");
        H5::StrType t(H5::PredType::C_S1, H5T_VARIABLE);
        root.createAttribute("format", t, H5::DataSpace(H5S_SCALAR))
            .write(t, std::string("v3d-pose"));
      },
      {"/ attribute format", "\"v3d-pose\""});
}

TEST_F(CheckpointLoad, UnknownVersion) {
  expect_load_error(
      [](H5::H5File& f) {
        int v = 2;
        f.openGroup("/").openAttribute("version").write(H5::PredType::NATIVE_INT, &v);
      },
      {"/ attribute version", "unsupported format version 2", "update v3d"});
}

TEST_F(CheckpointLoad, MissingModelGroup) {
  expect_load_error([](H5::H5File& f) { f.unlink("/model"); }, {"/model", "missing group"});
}

TEST_F(CheckpointLoad, ModelIsADataset) {
  expect_load_error(
      [](H5::H5File& f) {
        f.unlink("/model");
        f.createDataSet("/model", H5::PredType::IEEE_F32LE, H5::DataSpace(H5S_SCALAR));
      },
      {"/model", "expected a group"});
}

TEST_F(CheckpointLoad, MissingRootAttribute) {
  expect_load_error([](H5::H5File& f) { f.openGroup("/").removeAttr("epoch"); },
                    {"/: missing attribute 'epoch'"});
}

TEST_F(CheckpointLoad, AttributeOfWrongType) {
  expect_load_error(
      [](H5::H5File& f) {
        H5::Group root = f.openGroup("/");
        root.removeAttr("lr");
        H5::StrType t(H5::PredType::C_S1, H5T_VARIABLE);
        root.createAttribute("lr", t, H5::DataSpace(H5S_SCALAR)).write(t, std::string("0.1"));
      },
      {"/ attribute lr", "expected a float"});
}

TEST_F(CheckpointLoad, TensorOfWrongType) {
  expect_load_error(
      [](H5::H5File& f) {
        f.unlink("/model/shrink.weight");
        H5::StrType t(H5::PredType::C_S1, H5T_VARIABLE);
        f.createDataSet("/model/shrink.weight", t, H5::DataSpace(H5S_SCALAR));
      },
      {"/model/shrink.weight", "expected float32 or integer"});
}

TEST_F(CheckpointLoad, Float64TensorRejected) {
  expect_load_error(
      [](H5::H5File& f) {
        f.unlink("/model/a.scalar");
        f.createDataSet("/model/a.scalar", H5::PredType::IEEE_F64LE, H5::DataSpace(H5S_SCALAR));
      },
      {"/model/a.scalar", "64-bit float"});
}

TEST_F(CheckpointLoad, TensorIsAGroup) {
  expect_load_error([](H5::H5File& f) { f.createGroup("/model/nested"); },
                    {"/model/nested", "expected a dataset, found a group"});
}

TEST_F(CheckpointLoad, TooManyDimensions) {
  expect_load_error(
      [](H5::H5File& f) {
        const hsize_t dims[5] = {1, 1, 1, 1, 2};
        f.createDataSet("/model/x5", H5::PredType::IEEE_F32LE, H5::DataSpace(5, dims));
      },
      {"/model/x5", "at most 4 dimensions", "(1, 1, 1, 1, 2)"});
}

TEST_F(CheckpointLoad, CounterOutOfInt32Range) {
  expect_load_error(
      [](H5::H5File& f) {
        const int64_t big = int64_t{1} << 40;
        f.openDataSet("/model/expand_bn.num_batches_tracked")
            .write(&big, H5::PredType::NATIVE_INT64);
      },
      {"/model/expand_bn.num_batches_tracked", "1099511627776", "int32"});
}

TEST_F(CheckpointLoad, MissingOptimizerDataset) {
  expect_load_error([](H5::H5File& f) { f.unlink("/optimizer/exp_avg_sq"); },
                    {"/optimizer/exp_avg_sq", "missing dataset"});
}

TEST_F(CheckpointLoad, MissingOptimizerSteps) {
  expect_load_error([](H5::H5File& f) { f.openGroup("/optimizer").removeAttr("steps"); },
                    {"/optimizer: missing attribute 'steps'"});
}

TEST_F(CheckpointLoad, OptimizerShapeMismatch) {
  expect_load_error(
      [](H5::H5File& f) {
        f.unlink("/optimizer/max_exp_avg_sq");
        const hsize_t n = 10;
        f.createDataSet("/optimizer/max_exp_avg_sq", H5::PredType::IEEE_F32LE,
                        H5::DataSpace(1, &n));
      },
      {"/optimizer/max_exp_avg_sq", "differs from exp_avg"});
}

TEST_F(CheckpointLoad, UnexpectedRootObject) {
  expect_load_error([](H5::H5File& f) { f.createGroup("/model_traj"); },
                    {"/model_traj", "unexpected object"});
}

TEST_F(CheckpointLoad, StringAttributeWithANullDataspaceIsNotAScalar) {
  expect_load_error(
      [](H5::H5File& f) {
        H5::Group root = f.openGroup("/");
        root.removeAttr("architecture");
        H5::StrType t(H5::PredType::C_S1, H5T_VARIABLE);
        root.createAttribute("architecture", t, H5::DataSpace(H5S_NULL));
      },
      {"/ attribute architecture", "expected a scalar"});
}

TEST_F(CheckpointLoad, DeclaredShapeBeyondTheLimitIsRefusedBeforeAllocating) {
  // Chunked and never written: a few bytes of file declaring 2^80 elements (and 2^40 squared
  // would wrap around 64 bits).
  for (const std::vector<hsize_t>& dims :
       {std::vector<hsize_t>{hsize_t{1} << 40, hsize_t{1} << 40}, std::vector<hsize_t>{1u << 31, 2},
        std::vector<hsize_t>{hsize_t{1} << 62}}) {
    SetUp();
    expect_load_error(
        [&](H5::H5File& f) {
          f.unlink("/model/shrink.weight");
          H5::DSetCreatPropList props;
          const std::vector<hsize_t> chunk(dims.size(), 1);
          props.setChunk(static_cast<int>(chunk.size()), chunk.data());
          f.createDataSet("/model/shrink.weight", H5::PredType::IEEE_F32LE,
                          H5::DataSpace(static_cast<int>(dims.size()), dims.data()), props);
        },
        {"/model/shrink.weight", "expected at most 2147483648 elements"});
  }
}

// libhdf5 1.10 allocates what a file's metadata declares before it reads it: an object header's
// continuation chunk (found by the pose-file fuzz target: 3.6 GB), a v2 B-tree's nodes and a
// fractal heap's blocks (the /model group's links, stored densely). The reader checks each
// against the file's size before libhdf5 loads it.
TEST_F(CheckpointLoad, MetadataPastTheEndIsRefusedBeforeLibhdf5AllocatesIt) {
  // More than 8 tensors: HDF5 stores the links of /model (creation order tracked) densely, in a
  // fractal heap whose root is one direct block (12 tensors) or an indirect block of them (40).
  for (const uint32_t extra : {4u, 32u}) {
    SCOPED_TRACE(std::to_string(extra) + " extra tensors");
    Checkpoint dense = sample();
    for (uint32_t i = 0; i < extra; ++i)
      dense.tensors.emplace_back("extra." + std::to_string(i), f32_tensor({2}, 10 + i));
    save_checkpoint(dense, path_);
    const std::string image = test_util::read_text(path_);
    const auto le = [](uint64_t v, int n) {
      std::string out;
      for (int i = 0; i < n; ++i) out += static_cast<char>(v >> (8 * i));
      return out;
    };
    const auto expect_refused = [&](std::string edited, const std::vector<std::string>& parts) {
      write_text(path_, edited);
      std::vector<std::string> all = parts;
      all.push_back(path_);
      all.push_back("runs past the end of the file (expected within its " +
                    std::to_string(image.size()) + " bytes; a corrupt file)");
      expect_error([&] { load_checkpoint(path_); }, all);
    };
    const std::vector<size_t> continuations = test_util::hdf5_continuations(image);
    ASSERT_FALSE(continuations.empty());
    for (const size_t at : continuations) {
      std::string edited = image;
      edited.replace(at + 8, 8, le(3'600'000'000u, 8));
      expect_refused(edited, {"continuation chunk ", " of 3600000000 bytes"});
    }
    // The v2 structures carry checksums (libhdf5 1.10's Jenkins lookup3, exported by it), so a
    // corrupt size in a file with valid checksums is what a crafted file holds.
    const auto with_checksum = [&](std::string edited, size_t at, size_t n) {
      const uint32_t sum = H5_checksum_metadata(edited.data() + at, n, 0);
      return edited.replace(at + n, 4, le(sum, 4));
    };
    const size_t tree = image.find("BTHD");
    ASSERT_NE(tree, std::string::npos);
    ASSERT_EQ(with_checksum(image, tree, 34), image);
    std::string edited = image;
    edited.replace(tree + 6, 4, le(3u << 30, 4));  // nodes of 3 GB
    expect_refused(with_checksum(edited, tree, 34),
                   {"/model: B-tree at byte " + std::to_string(tree), "of 3221225472 bytes"});
    const size_t heap = image.find("FRHP");
    ASSERT_NE(heap, std::string::npos);
    ASSERT_EQ(with_checksum(image, heap, 142), image);
    edited = image;
    edited.replace(heap + 112, 16, le(1u << 30, 8) + le(1u << 30, 8));  // blocks of 1 GB
    expect_refused(with_checksum(edited, heap, 142),
                   {"/model: fractal heap at byte " + std::to_string(heap),
                    extra == 4 ? "its root block of 1073741824 bytes"
                               : "its direct block of 1073741824 bytes"});
    write_text(path_, image);
    EXPECT_NO_THROW(load_checkpoint(path_));
  }
}

// libhdf5 1.10 decodes a group's link messages when it looks up a member, allocating the name
// length a message declares (up to 8 bytes of it) and copying that much out of the message.
TEST_F(CheckpointLoad, LinkNamesPastTheirMessageAreRefused) {
  const std::string image = test_util::read_text(path_);
  // /model's links (8 tensors: stored in its header): version 1, flags (creation order tracked,
  // a 1-byte name length), creation order (8), name length, name.
  const size_t name = image.find("shrink.weight");
  ASSERT_NE(name, std::string::npos);
  ASSERT_EQ(image[name - 1], 13);
  ASSERT_EQ(image[name - 11], 1);
  ASSERT_EQ(image[name - 10] & 0x07, 0x04);
  std::string edited = image;
  edited[name - 10] = static_cast<char>(edited[name - 10] | 0x03);  // an 8-byte name length
  write_text(path_, edited);
  expect_error([&] { load_checkpoint(path_); }, {path_, "/model", "a link name past its message"});
}

// Found by the checkpoint fuzz target: a variable-length string whose characters' type declares
// 1.3 GB per character (libhdf5 1.10 allocated 14 of them, 18.8 GB, to convert the 14-byte
// format attribute).
TEST_F(CheckpointLoad, StringCharactersOfMoreThanOneByteAreRefused) {
  // The attribute's name padded to 8 bytes, then its type: a variable-length string (class 9,
  // version 1, 16 bytes), whose base type, an unsigned 1-byte integer, gives its size 8 bytes on.
  expect_patched_error(std::string("format\0\0\x19\x01\x01\0\x10\0\0\0\x10\0\0\0\x01\0\0\0", 24),
                       20, std::string("\x01\0\0\x50", 4),
                       {path_ + ": / attribute format: variable-length strings of 1342177281-byte "
                                "characters (expected 1-byte characters, as h5py and v3d write)"});
}

// Found by the checkpoint fuzz target with ASan: a variable-length string attribute whose type
// declares 9 bytes per element (libhdf5 1.10 keeps that many of the message's data, then copies
// the 16 bytes of a reference out of it to read the string).
TEST_F(CheckpointLoad, VariableLengthTypesOfOtherThanAReferencesSizeAreRefused) {
  expect_patched_error(std::string("architecture\0\0\0\0\x19\x01\x01\0\x10\0\0\0", 24), 20, "\x09",
                       {path_ + ": /: corrupt object header at byte ",
                        " (a variable-length type of 9 bytes, not 16)"});
}

// An attribute name without its terminating NUL (libhdf5 1.10 copies it with strdup, past the
// message), checked with the enumeration below.
TEST_F(CheckpointLoad, AttributeNamesWithoutTheirNulAreRefused) {
  // The name of the last attribute: its size (15, with its NUL), 2 reserved bytes, the name
  // padded to 8 bytes.
  expect_patched_error(std::string("\x0f\0\x0c\0\x08\0dropout_offset\0\0", 22), 20, "xx",
                       {path_ + ": /: corrupt object header at byte ",
                        " (an attribute name without its terminating NUL)"});
}

// Found by the checkpoint fuzz target with ASan: the format attribute's type turned into an
// enumeration of 510 members (libhdf5 1.10 copies each member's name with strdup, past the
// message). Every datatype of an object header is checked against its message first.
TEST_F(CheckpointLoad, DatatypesPastTheirMessageAreRefused) {
  expect_patched_error(std::string("format\0\0\x19\x01\x01\0\x10\0\0\0", 16), 8,
                       std::string("\x18\xfe\x01\0", 4),  // class 8, version 1, 510 members
                       {path_ + ": /: object header at byte ",
                        ": an attribute's datatype past its message (a corrupt file)"});
}

// Found by the checkpoint fuzz target: a tensor's layout made compact with no data (libhdf5 1.10
// copies the elements out of a null pointer).
TEST_F(CheckpointLoad, CompactStorageShorterThanTheDataIsRefused) {
  edit(path_, [](H5::H5File& f) {
    f.unlink("/model/shrink.weight");
    H5::DSetCreatPropList props;
    props.setLayout(H5D_COMPACT);
    const hsize_t dims[3] = {6, 8, 1};
    const std::vector<float> values(48, 0.5f);
    f.createDataSet("/model/shrink.weight", H5::PredType::IEEE_F32LE, H5::DataSpace(3, dims), props)
        .write(values.data(), H5::PredType::NATIVE_FLOAT);
  });
  EXPECT_NO_THROW(load_checkpoint(path_));
  // The layout message: version 3, class 0 (compact), the data's size (48 float32), the data.
  expect_patched_error(std::string("\x03\x00\xc0\x00", 4), 2, std::string("\0", 1),
                       {path_ + ": /model/shrink.weight: its storage holds 0 bytes, less than its "
                                "48 elements need (a corrupt file)"});
}

TEST_F(CheckpointLoad, NegativeEpochOrStepsAndNonFiniteLr) {
  expect_load_error(
      [](H5::H5File& f) {
        const int64_t v = -1;
        f.openGroup("/").openAttribute("epoch").write(H5::PredType::NATIVE_INT64, &v);
      },
      {"/ attribute epoch", "-1 (expected >= 0)"});
  SetUp();
  expect_load_error(
      [](H5::H5File& f) {
        const float v = std::numeric_limits<float>::infinity();
        f.openGroup("/").openAttribute("lr").write(H5::PredType::NATIVE_FLOAT, &v);
      },
      {"/ attribute lr", "inf", "finite"});
  SetUp();
  expect_load_error(
      [](H5::H5File& f) {
        const int64_t v = -5;
        f.openGroup("/optimizer").openAttribute("steps").write(H5::PredType::NATIVE_INT64, &v);
      },
      {"/optimizer attribute steps", "-5"});
}

// load_checkpoint reads values bit for bit (the round trips above store NaN payloads);
// check_checkpoint_values is what a model may be restored from.
TEST(Checkpoint, ValuesAModelIsRestoredFrom) {
  Checkpoint c = sample();
  c.tensors = {{"layers_bn.0.running_var", Tensor::from_vector({1.0f, 0.0f, 2.0f}, {3})},
               {"layers_bn.0.num_batches_tracked", counter(3)}};
  c.optimizer.exp_avg = Tensor::from_vector({-1.0f, 0.5f}, {2});
  c.optimizer.exp_avg_sq = Tensor::from_vector({0.0f, 0.5f}, {2});
  c.optimizer.max_exp_avg_sq = Tensor::from_vector({0.0f, 0.5f}, {2});
  check_checkpoint_values(c, "a.ckpt");

  Checkpoint bad = c;
  bad.tensors[0].second = Tensor::from_vector({1.0f, -1e-30f, 2.0f}, {3});
  expect_error([&] { check_checkpoint_values(bad, "a.ckpt"); },
               {"a.ckpt: /model/layers_bn.0.running_var: element 1 is -1e-30",
                "(expected a variance >= 0)"});
  bad = c;
  bad.optimizer.max_exp_avg_sq = Tensor::from_vector({0.0f, -0.5f}, {2});
  expect_error([&] { check_checkpoint_values(bad, "a.ckpt"); },
               {"a.ckpt: /optimizer/max_exp_avg_sq: element 1 is -0.5"});
  bad = c;
  bad.optimizer.exp_avg = Tensor::from_vector({std::nanf(""), 0.5f}, {2});
  expect_error([&] { check_checkpoint_values(bad, "a.ckpt"); },
               {"a.ckpt: /optimizer/exp_avg: element 0 is nan (expected finite values)"});
  expect_error([&] { check_checkpoint_values(sample(), "a.ckpt"); },
               {"a.ckpt: /model/expand_bn.weight: element 1 is nan"});
}

TEST_F(CheckpointLoad, MissingMetadataGroup) {
  expect_load_error([](H5::H5File& f) { f.unlink("/metadata"); }, {"/metadata", "missing group"});
}

}  // namespace
}  // namespace v3d::test
