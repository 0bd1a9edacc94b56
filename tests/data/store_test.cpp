// Tests of the HDF5 store (data/dataset.cpp): a bit-for-bit round trip of every field, the file
// layout other languages rely on (types, chunking, filters, attributes), read filters, every
// bad-input case giving one line that names the file and the object path, and atomic writes.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <H5Cpp.h>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <random>

#include "data/dataset.h"
#include "data/h5_util.h"
#include "kernels/common.h"
#include "tests/data/data_test_util.h"

namespace v3d::data::test {

namespace {

void expect_same_floats(const std::vector<float>& a, const std::vector<float>& b,
                        const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  EXPECT_TRUE(test_util::same_bits(a, b)) << what;
}

template <size_t N>
void expect_same_array(const std::array<float, N>& a, const std::array<float, N>& b,
                       const std::string& what) {
  EXPECT_EQ(std::memcmp(a.data(), b.data(), sizeof(a)), 0) << what;
}

template <class V>
void expect_same_per_camera(const std::map<int, V>& a, const std::map<int, V>& b,
                            const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (const auto& [k, v] : a) {
    ASSERT_EQ(b.count(k), 1u) << what << " camera " << k;
    expect_same_floats(v, b.at(k), what + " camera " + std::to_string(k));
  }
}

}  // namespace

void expect_same_dataset(const Dataset& a, const Dataset& b) {
  EXPECT_EQ(a.skeleton.name, b.skeleton.name);
  EXPECT_EQ(a.skeleton.joint_names, b.skeleton.joint_names);
  EXPECT_EQ(a.skeleton.parents, b.skeleton.parents);
  EXPECT_EQ(a.skeleton.joints_left, b.skeleton.joints_left);
  EXPECT_EQ(a.skeleton.joints_right, b.skeleton.joints_right);
  EXPECT_EQ(std::memcmp(&a.fps, &b.fps, sizeof(float)), 0) << a.fps << " vs " << b.fps;
  ASSERT_EQ(a.subjects.size(), b.subjects.size());
  for (const auto& [s, sa] : a.subjects) {
    ASSERT_EQ(b.subjects.count(s), 1u) << s;
    const SubjectData& sb = b.subjects.at(s);
    ASSERT_EQ(sa.cameras.size(), sb.cameras.size()) << s;
    for (const auto& [k, ca] : sa.cameras) {
      ASSERT_EQ(sb.cameras.count(k), 1u) << s << " camera " << k;
      const Camera& cb = sb.cameras.at(k);
      const std::string w = s + " camera " + std::to_string(k);
      EXPECT_EQ(ca.id, cb.id) << w;
      EXPECT_EQ(ca.res_w, cb.res_w) << w;
      EXPECT_EQ(ca.res_h, cb.res_h) << w;
      expect_same_array(ca.focal, cb.focal, w + " focal");
      expect_same_array(ca.center, cb.center, w + " center");
      expect_same_array(ca.radial, cb.radial, w + " radial");
      expect_same_array(ca.tangential, cb.tangential, w + " tangential");
      expect_same_array(ca.orientation, cb.orientation, w + " orientation");
      expect_same_array(ca.translation, cb.translation, w + " translation");
      EXPECT_EQ(ca.has_extrinsics, cb.has_extrinsics) << w;
    }
    ASSERT_EQ(sa.actions.size(), sb.actions.size()) << s;
    for (const auto& [name, aa] : sa.actions) {
      ASSERT_EQ(sb.actions.count(name), 1u) << s << " " << name;
      const ActionData& ab = sb.actions.at(name);
      const std::string w = s + "/" + name;
      EXPECT_EQ(aa.frames, ab.frames) << w;
      expect_same_floats(aa.positions_3d, ab.positions_3d, w + " positions_3d");
      expect_same_per_camera(aa.positions_2d, ab.positions_2d, w + " positions_2d");
      expect_same_per_camera(aa.confidence_2d, ab.confidence_2d, w + " confidence_2d");
    }
  }
}

}  // namespace v3d::data::test

namespace v3d::data {
namespace {

namespace fs = std::filesystem;
using test::expect_error;
using test::expect_same_dataset;
using test::TempDir;

// Two subjects, cameras with arbitrary values, and actions of every kind: 3D + 2D + confidence,
// 3D only, 2D only, and one longer than a chunk (4096 frames) so chunk boundaries are crossed.
Dataset sample_dataset() {
  Dataset d;
  d.skeleton = Skeleton::h36m17();
  d.fps = 50.0f;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-3.0f, 3.0f);
  auto fill = [&](size_t n) {
    std::vector<float> v(n);
    for (auto& x : v) x = u(rng);
    return v;
  };
  const int J = d.skeleton.num_joints();
  for (const std::string s : {"S1", "S9"}) {
    SubjectData& subject = d.subjects[s];
    for (int k = 0; k < 2; ++k) {
      Camera c;
      c.id = s + "-cam" + std::to_string(k);
      c.res_w = 1000 + k;
      c.res_h = 1002 - 2 * k;
      c.focal = {1145.0494384765625f + k, 1143.7811279296875f};
      c.center = {512.54150390625f, 515.4514770507812f - k};
      c.radial = {-0.20709891617298126f, 0.24777518212795258f, -0.0030751503072679043f};
      c.tangential = {-0.0009756988729350269f, -0.00142447161488235f};
      c.orientation = {0.1407056450843811f, -0.1500701755285263f, -0.755240797996521f,
                       0.6223280429840088f};
      c.translation = {1.8411070556640625f, 4.95528466796875f, 1.5634454345703125f};
      c.has_extrinsics = k == 0;
      subject.cameras[k] = c;
    }
    ActionData full;
    full.frames = 37;
    full.positions_3d = fill(37 * J * 3);
    full.positions_3d[5] = -0.0f;                                     // sign of zero survives
    full.positions_3d[6] = std::numeric_limits<float>::denorm_min();  // so do denormals
    full.positions_2d[0] = fill(37 * J * 2);
    full.positions_2d[1] = fill(37 * J * 2);
    full.confidence_2d[1] = fill(37 * J);
    subject.actions["Walking 1"] = full;

    ActionData only_3d;
    only_3d.frames = 1;
    only_3d.positions_3d = fill(J * 3);
    subject.actions["WalkDog"] = only_3d;

    ActionData only_2d;
    only_2d.frames = 12;
    only_2d.positions_2d[1] = fill(12 * J * 2);
    subject.actions["Unlabeled"] = only_2d;
  }
  ActionData long_one;
  long_one.frames = 4096 + 905;
  long_one.positions_3d = fill(static_cast<size_t>(long_one.frames) * J * 3);
  long_one.positions_2d[0] = fill(static_cast<size_t>(long_one.frames) * J * 2);
  d.subjects["S9"].actions["Sitting"] = long_one;
  return d;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override { file = dir.path() + "/data.h5"; }
  TempDir dir;
  std::string file;
};

TEST_F(StoreTest, RoundTripIsBitForBit) {
  const Dataset d = sample_dataset();
  write_dataset(d, file);
  expect_same_dataset(d, read_dataset(file));
}

TEST_F(StoreTest, RoundTripOfAnotherSkeletonAndFps) {
  Dataset d;
  d.skeleton = Skeleton::coco17();  // a keypoint layout: no parents
  d.fps = 59.94f;
  ActionData a;
  a.frames = 3;
  a.positions_2d[3] = std::vector<float>(3 * 17 * 2, 0.5f);
  d.subjects["Custom"].actions["Clip"] = a;
  write_dataset(d, file);
  expect_same_dataset(d, read_dataset(file));
}

// What docs/data-format.md promises to other languages.
TEST_F(StoreTest, FileLayoutMatchesTheDocumentation) {
  try {
    write_dataset(sample_dataset(), file);
    H5::H5File f(file, H5F_ACC_RDONLY);
    H5::Group root = f.openGroup("/");
    std::string format;
    H5::StrType utf8(H5::PredType::C_S1, H5T_VARIABLE);
    utf8.setCset(H5T_CSET_UTF8);  // HDF5 converts no strings between character sets
    root.openAttribute("format").read(utf8, format);
    EXPECT_EQ(format, "v3d-pose");
    int version = 0;
    root.openAttribute("version").read(H5::PredType::NATIVE_INT, &version);
    EXPECT_EQ(version, kFormatVersion);
    float fps = 0;
    root.openAttribute("fps").read(H5::PredType::NATIVE_FLOAT, &fps);
    EXPECT_EQ(fps, 50.0f);

    H5::DataSet ds = f.openDataSet("/subjects/S9/actions/Sitting/positions_3d");
    EXPECT_EQ(ds.getDataType(), H5::PredType::IEEE_F32LE);
    H5::DSetCreatPropList props = ds.getCreatePlist();
    ASSERT_EQ(props.getLayout(), H5D_CHUNKED);
    hsize_t chunk[3] = {};
    ASSERT_EQ(props.getChunk(3, chunk), 3);
    EXPECT_EQ(chunk[0], 4096u);
    EXPECT_EQ(chunk[1], 17u);
    EXPECT_EQ(chunk[2], 3u);
    ASSERT_EQ(props.getNfilters(), 2);
    unsigned flags = 0, level = 0;
    size_t nelmts = 1;
    char name[64];
    unsigned config = 0;
    EXPECT_EQ(props.getFilter(0, flags, nelmts, &level, sizeof(name), name, config),
              H5Z_FILTER_SHUFFLE);
    nelmts = 1;
    EXPECT_EQ(props.getFilter(1, flags, nelmts, &level, sizeof(name), name, config),
              H5Z_FILTER_DEFLATE);
    EXPECT_EQ(level, 4u);

    H5::Group cam = f.openGroup("/subjects/S1/cameras/0");
    for (const char* attr : {"id", "res_w", "res_h", "focal", "center", "radial", "tangential",
                             "orientation", "translation", "has_extrinsics"}) {
      EXPECT_TRUE(cam.attrExists(attr)) << attr;
    }
    EXPECT_TRUE(f.nameExists("/subjects/S1/actions/Walking 1/positions_2d/1"));
    EXPECT_TRUE(f.nameExists("/subjects/S1/actions/Walking 1/confidence_2d/1"));
    EXPECT_FALSE(f.nameExists("/subjects/S1/actions/WalkDog/positions_2d"));
  } catch (const H5::Exception& e) {
    FAIL() << e.getFuncName() << ": " << e.getDetailMsg();
  }
}

TEST_F(StoreTest, FilterSelectsSubjectsActionPrefixesAnd2D) {
  const Dataset d = sample_dataset();
  write_dataset(d, file);

  ReadFilter f;
  f.subjects = {"S9"};
  f.actions = {"Walk"};
  Dataset got = read_dataset(file, f);
  ASSERT_EQ(got.subjects.size(), 1u);
  const SubjectData& s9 = got.subjects.at("S9");
  EXPECT_EQ(s9.cameras.size(), 2u);
  ASSERT_EQ(s9.actions.size(), 2u);  // "Walking 1" and "WalkDog", not "Sitting" / "Unlabeled"
  EXPECT_EQ(s9.actions.at("Walking 1").positions_2d.size(), 2u);

  f.actions = {};
  f.positions_2d = false;
  got = read_dataset(file, f);
  const SubjectData& s9b = got.subjects.at("S9");
  EXPECT_EQ(s9b.actions.count("Unlabeled"), 0u);  // 2D-only: nothing left without 2D
  for (const auto& [name, a] : s9b.actions) {
    EXPECT_TRUE(a.positions_2d.empty()) << name;
    EXPECT_TRUE(a.confidence_2d.empty()) << name;
    EXPECT_EQ(a.positions_3d, d.subjects.at("S9").actions.at(name).positions_3d) << name;
  }

  ReadFilter unknown;
  unknown.subjects = {"S3"};
  expect_error([&] { read_dataset(file, unknown); }, {file, "/subjects/S3", "not in file"});
  ReadFilter typo;
  typo.actions = {"Walkng"};
  expect_error([&] { read_dataset(file, typo); }, {file, "Walkng"});
}

// ---------------------------------------------------------------------------------------------
// Bad input. Files are first written correctly, then damaged with the HDF5 API directly.

void replace_dataset(const std::string& file, const std::string& path,
                     const std::vector<hsize_t>& dims, const std::vector<float>& values,
                     const H5::DataType& type = H5::PredType::IEEE_F32LE) {
  H5::H5File f(file, H5F_ACC_RDWR);
  f.unlink(path);
  H5::DataSet ds =
      f.createDataSet(path, type, H5::DataSpace(static_cast<int>(dims.size()), dims.data()));
  if (!values.empty()) ds.write(values.data(), H5::PredType::NATIVE_FLOAT);
}

TEST_F(StoreTest, NotAnHdf5File) {
  std::ofstream(file) << "frame,joint,x,y,z\n";
  expect_error([&] { read_dataset(file); }, {file, "not an HDF5 file"});
  expect_error([&] { read_dataset(dir.path() + "/absent.h5"); },
               {dir.path() + "/absent.h5", "no such file"});
}

TEST_F(StoreTest, TruncatedFile) {
  write_dataset(sample_dataset(), file);
  fs::resize_file(file, fs::file_size(file) / 2);
  expect_error([&] { read_dataset(file); }, {file, "truncated"});
}

TEST_F(StoreTest, HdfFileOfAnotherKind) {
  { H5::H5File f(file, H5F_ACC_TRUNC); }
  expect_error([&] { read_dataset(file); }, {file, "'format'", "not a v3d-pose file"});
}

TEST_F(StoreTest, MissingDataset) {
  write_dataset(sample_dataset(), file);
  { H5::H5File(file, H5F_ACC_RDWR).unlink("/skeleton/parents"); }
  expect_error([&] { read_dataset(file); }, {file, "/skeleton/parents", "missing dataset"});
}

TEST_F(StoreTest, ActionWithNoPoses) {
  write_dataset(sample_dataset(), file);
  { H5::H5File(file, H5F_ACC_RDWR).unlink("/subjects/S1/actions/WalkDog/positions_3d"); }
  expect_error([&] { read_dataset(file); },
               {file, "/subjects/S1/actions/WalkDog", "neither positions_3d nor"});
}

TEST_F(StoreTest, WrongShape) {
  write_dataset(sample_dataset(), file);
  replace_dataset(file, "/subjects/S1/actions/WalkDog/positions_3d", {1, 17, 2},
                  std::vector<float>(34, 0.0f));
  expect_error([&] { read_dataset(file); }, {file, "/subjects/S1/actions/WalkDog/positions_3d",
                                             "expected (N, 17, 3), got (1, 17, 2)"});
}

TEST_F(StoreTest, WrongRank) {
  write_dataset(sample_dataset(), file);
  replace_dataset(file, "/subjects/S1/actions/WalkDog/positions_3d", {51}, {});
  expect_error([&] { read_dataset(file); },
               {file, "/subjects/S1/actions/WalkDog/positions_3d", "got (51,)"});
}

TEST_F(StoreTest, WrongType) {
  write_dataset(sample_dataset(), file);
  replace_dataset(file, "/subjects/S1/actions/WalkDog/positions_3d", {1, 17, 3}, {},
                  H5::PredType::STD_I32LE);
  expect_error([&] { read_dataset(file); },
               {file, "/subjects/S1/actions/WalkDog/positions_3d", "expected float32"});
}

TEST_F(StoreTest, NanAndInfValues) {
  const Dataset d = sample_dataset();
  write_dataset(d, file);
  std::vector<float> v = d.subjects.at("S1").actions.at("Walking 1").positions_2d.at(1);
  v[17 * 2 * 3 + 2 * 4 + 1] = std::numeric_limits<float>::quiet_NaN();  // frame 3, joint 4
  replace_dataset(file, "/subjects/S1/actions/Walking 1/positions_2d/1", {37, 17, 2}, v);
  expect_error([&] { read_dataset(file); }, {file, "/subjects/S1/actions/Walking 1/positions_2d/1",
                                             "NaN or Inf", "frame 3, joint 4"});

  write_dataset(d, file);
  v = d.subjects.at("S1").actions.at("WalkDog").positions_3d;
  v[0] = std::numeric_limits<float>::infinity();
  replace_dataset(file, "/subjects/S1/actions/WalkDog/positions_3d", {1, 17, 3}, v);
  expect_error([&] { read_dataset(file); },
               {file, "/subjects/S1/actions/WalkDog/positions_3d", "NaN or Inf"});
}

TEST_F(StoreTest, ActionWithZeroFrames) {
  write_dataset(sample_dataset(), file);
  replace_dataset(file, "/subjects/S1/actions/WalkDog/positions_3d", {0, 17, 3}, {});
  expect_error([&] { read_dataset(file); },
               {file, "/subjects/S1/actions/WalkDog/positions_3d", "0 frames"});
}

TEST_F(StoreTest, TwoDFrameCountDiffersFrom3D) {
  write_dataset(sample_dataset(), file);
  replace_dataset(file, "/subjects/S9/actions/Walking 1/positions_2d/0", {36, 17, 2},
                  std::vector<float>(36 * 17 * 2, 1.0f));
  expect_error([&] { read_dataset(file); }, {file, "/subjects/S9/actions/Walking 1/positions_2d/0",
                                             "expected 37 frames", "got 36"});
  // Even when 2D is not read, its shape is checked.
  ReadFilter no_2d;
  no_2d.positions_2d = false;
  expect_error([&] { read_dataset(file, no_2d); }, {file, "positions_2d/0", "got 36"});
}

TEST_F(StoreTest, UnknownVersion) {
  write_dataset(sample_dataset(), file);
  {
    H5::H5File f(file, H5F_ACC_RDWR);
    const int two = 2;
    f.openGroup("/").openAttribute("version").write(H5::PredType::NATIVE_INT, &two);
  }
  expect_error([&] { read_dataset(file); },
               {file, "/ attribute version", "unsupported format version 2"});
}

// keypoints_2d names a detector's layout the file's 2D is in: a known one, with its keypoint
// count in every 2D dataset.
TEST_F(StoreTest, KeypointsTwoDLayout) {
  write_dataset(sample_dataset(), file);
  {
    H5::H5File f(file, H5F_ACC_RDWR);
    H5::Group root = f.openGroup("/");
    data::h5::write_string_attr(root, "keypoints_2d", "openpose25");
  }
  expect_error([&] { read_dataset(file); },
               {file, "/ attribute keypoints_2d", "'openpose25'", "expected coco17 or mpii16"});
  {
    H5::H5File f(file, H5F_ACC_RDWR);
    H5::Group root = f.openGroup("/");
    root.removeAttr("keypoints_2d");
    data::h5::write_string_attr(root, "keypoints_2d", "mpii16");
  }
  // The sample's 2D has 17 keypoints, not MPII's 16.
  expect_error([&] { read_dataset(file); }, {file, "positions_2d", "16"});
}

TEST_F(StoreTest, UnexpectedObjectIsRejected) {
  write_dataset(sample_dataset(), file);
  { H5::H5File(file, H5F_ACC_RDWR).createGroup("/subjects/S1/actions/WalkDog/positions_2D"); }
  expect_error([&] { read_dataset(file); },
               {file, "/subjects/S1/actions/WalkDog/positions_2D", "unexpected object"});
}

TEST_F(StoreTest, BadCameraAttribute) {
  write_dataset(sample_dataset(), file);
  {
    H5::H5File f(file, H5F_ACC_RDWR);
    H5::Group cam = f.openGroup("/subjects/S9/cameras/1");
    cam.removeAttr("radial");
    const hsize_t two = 2;
    const float v[2] = {0, 0};
    cam.createAttribute("radial", H5::PredType::IEEE_F32LE, H5::DataSpace(1, &two))
        .write(H5::PredType::NATIVE_FLOAT, v);
  }
  expect_error([&] { read_dataset(file); },
               {file, "/subjects/S9/cameras/1 attribute radial", "expected 3 values, got 2"});
}

// ---------------------------------------------------------------------------------------------
// Validation on write and atomicity.

std::vector<std::string> temp_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().find(".tmp-") != std::string::npos) {
      out.push_back(e.path().string());
    }
  }
  return out;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST_F(StoreTest, WriteValidatesAndLeavesAnExistingFileUntouched) {
  write_dataset(sample_dataset(), file);
  const std::string before = read_bytes(file);

  Dataset bad = sample_dataset();
  bad.subjects["S1"].actions["WalkDog"].positions_3d[4] = std::nanf("");
  expect_error([&] { write_dataset(bad, file); },
               {file, "/subjects/S1/actions/WalkDog/positions_3d", "NaN or Inf"});
  EXPECT_EQ(read_bytes(file), before);
  EXPECT_TRUE(temp_files(dir.path()).empty());

  bad = sample_dataset();
  bad.subjects["S1"].actions["WalkDog"].frames = 2;  // sizes no longer agree
  expect_error([&] { write_dataset(bad, file); },
               {file, "/subjects/S1/actions/WalkDog/positions_3d", "expected (2, 17, 3)"});
  bad = sample_dataset();
  bad.subjects["S1"].actions["Empty"] = ActionData{};
  expect_error([&] { write_dataset(bad, file); }, {file, "/subjects/S1/actions/Empty", "0 frames"});
  bad = sample_dataset();
  bad.subjects["S1"].actions["a/b"] = bad.subjects["S1"].actions["WalkDog"];
  expect_error([&] { write_dataset(bad, file); }, {file, "invalid name 'a/b'"});
  bad = sample_dataset();
  bad.subjects["S1"].cameras[0].orientation = {2, 0, 0, 0};
  expect_error([&] { write_dataset(bad, file); },
               {file, "/subjects/S1/cameras/0/orientation", "unit"});
  EXPECT_EQ(read_bytes(file), before);
  EXPECT_TRUE(temp_files(dir.path()).empty());
}

TEST_F(StoreTest, FailedWriteLeavesNoFileAndNoTempFile) {
  // The destination is a non-empty directory: the temp file is written, the rename fails, and
  // the temp file must be removed.
  fs::create_directory(file);
  std::ofstream(file + "/keep") << "x";
  expect_error([&] { write_dataset(sample_dataset(), file); }, {file, "cannot rename"});
  EXPECT_TRUE(temp_files(dir.path()).empty());
  EXPECT_TRUE(fs::is_directory(file));

  const std::string nowhere = dir.path() + "/no/such/dir/data.h5";
  expect_error([&] { write_dataset(sample_dataset(), nowhere); }, {nowhere, "cannot create"});
  EXPECT_FALSE(fs::exists(dir.path() + "/no"));
}

}  // namespace
}  // namespace v3d::data
