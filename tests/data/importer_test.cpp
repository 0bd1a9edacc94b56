// Tests of the importers (data/h36m_archive.h): the 3d-pose-baseline archive on tiny archive files
// written here with the HDF5 C++ API, and VideoPose3D's npz files written here with
// /usr/bin/python3 + numpy, converted through scripts/convert_npz.py; then h5 -> npz -> h5 is bit
// for bit.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <H5Cpp.h>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

#include "data/h36m_archive.h"
#include "data/infer_input.h"
#include "kernels/common.h"
#include "tests/data/data_test_util.h"

namespace v3d::data {
namespace {

namespace fs = std::filesystem;
using test::expect_error;
using test::expect_same_dataset;
using test::TempDir;

const std::string kScript = std::string(V3D_SOURCE_DIR) + "/scripts/convert_npz.py";

TEST(ImporterTest, CanonicalActionNames) {
  EXPECT_EQ(canonical_h36m_action("TakingPhoto"), "Photo");
  EXPECT_EQ(canonical_h36m_action("TakingPhoto 1"), "Photo 1");
  EXPECT_EQ(canonical_h36m_action("WalkingDog 1"), "WalkDog 1");
  EXPECT_EQ(canonical_h36m_action("Walking 1"), "Walking 1");
  EXPECT_EQ(canonical_h36m_action("Photo"), "Photo");
  EXPECT_TRUE(h36m_action_dropped("S11", "Directions"));
  EXPECT_FALSE(h36m_action_dropped("S11", "Directions 1"));
  EXPECT_FALSE(h36m_action_dropped("S1", "Directions"));
}

// ---------------------------------------------------------------------------------------------
// The 3d-pose-baseline archive.

// Millimetres of mocap joint j, coordinate c at frame n, in a take with `seed`: distinct for
// every (j, c, n), with fractions so that the mm -> m division rounds.
double archive_mm(int seed, int j, int c, int n) {
  return seed * 10000.0 + j * 97.3 + c * 1000.0 - n * 3.21 + 0.1;
}

// An archive file whose mocap joint j, coordinate c at frame n is mm(j, c, n) millimetres.
void write_archive_values(const fs::path& file, int frames,
                          const std::function<double(int, int, int)>& mm, hsize_t rows = 96,
                          const char* name = "3D_positions") {
  fs::create_directories(file.parent_path());
  std::vector<double> raw(rows * frames);  // (96, N): row j * 3 + c, column n
  for (hsize_t r = 0; r < rows; ++r) {
    for (int n = 0; n < frames; ++n) {
      raw[r * frames + n] = mm(static_cast<int>(r / 3), static_cast<int>(r % 3), n);
    }
  }
  H5::H5File f(file.string(), H5F_ACC_TRUNC);
  const hsize_t dims[2] = {rows, static_cast<hsize_t>(frames)};
  H5::DataSet ds = f.createDataSet(name, H5::PredType::IEEE_F64LE, H5::DataSpace(2, dims));
  ds.write(raw.data(), H5::PredType::NATIVE_DOUBLE);
}

void write_archive_file(const fs::path& file, int seed, int frames, hsize_t rows = 96,
                        const char* name = "3D_positions") {
  write_archive_values(
      file, frames, [seed](int j, int c, int n) { return archive_mm(seed, j, c, n); }, rows, name);
}

fs::path pose_dir(const std::string& root, const std::string& subject) {
  return fs::path(root) / subject / "MyPoses" / "3D_positions";
}

TEST(ImporterTest, ArchiveImport) {
  TempDir dir;
  const std::string root = dir.path() + "/h36m";
  write_archive_file(pose_dir(root, "S1") / "Directions 1.h5", 1, 5);
  write_archive_file(pose_dir(root, "S1") / "TakingPhoto.h5", 2, 3);
  write_archive_file(pose_dir(root, "S1") / "WalkingDog 1.h5", 3, 4);
  write_archive_file(pose_dir(root, "S11") / "Directions.h5", 4, 2);  // dropped
  write_archive_file(pose_dir(root, "S11") / "Directions 1.h5", 5, 6);
  std::ofstream(pose_dir(root, "S11") / "README.txt") << "not a take";
  fs::create_directories(fs::path(root) / "notes");  // no MyPoses: not a subject

  const Dataset d = import_h36m_archive(root);
  EXPECT_EQ(d.skeleton.name, "h36m17");
  EXPECT_EQ(d.fps, 50.0f);
  ASSERT_EQ(d.subjects.size(), 2u);
  const auto& s1 = d.subjects.at("S1").actions;
  ASSERT_EQ(s1.size(), 3u);
  EXPECT_EQ(s1.count("Directions 1"), 1u);
  EXPECT_EQ(s1.count("Photo"), 1u);
  EXPECT_EQ(s1.count("WalkDog 1"), 1u);
  const auto& s11 = d.subjects.at("S11").actions;
  ASSERT_EQ(s11.size(), 1u);
  ASSERT_EQ(s11.count("Directions 1"), 1u);

  // Values: (N, 17, 3) metres from the kept mocap joints, float64 division then float32.
  const ActionData& photo = s1.at("Photo");
  ASSERT_EQ(photo.frames, 3);
  ASSERT_EQ(photo.positions_3d.size(), 3u * 17 * 3);
  for (int n = 0; n < 3; ++n) {
    for (int j = 0; j < 17; ++j) {
      for (int c = 0; c < 3; ++c) {
        const float expected = static_cast<float>(archive_mm(2, kH36mKeptJoints[j], c, n) / 1000.0);
        ASSERT_EQ(photo.positions_3d[(n * 17 + j) * 3 + c], expected)
            << "frame " << n << " joint " << j << " coord " << c;
      }
    }
  }
  EXPECT_EQ(s11.at("Directions 1").frames, 6);
  EXPECT_TRUE(photo.positions_2d.empty());

  for (const std::string s : {"S1", "S11"}) {
    ASSERT_EQ(d.subjects.at(s).cameras.size(), 4u);
    for (int k = 0; k < 4; ++k) {
      const Camera& got = d.subjects.at(s).cameras.at(k);
      const Camera want = h36m_camera(s, k);
      EXPECT_EQ(got.id, want.id);
      EXPECT_EQ(got.translation, want.translation);
      EXPECT_EQ(got.orientation, want.orientation);
      EXPECT_TRUE(got.has_extrinsics);
    }
  }

  // And it goes through the store unchanged.
  const std::string file = dir.path() + "/h36m.h5";
  write_dataset(d, file);
  expect_same_dataset(d, read_dataset(file));
}

// The importer projects every keypoint through each attached camera and counts those that miss
// the image: a pose 1 m above the middle of the capture volume is in every view, one 100 m above
// it in none (behind a camera, or its ray clamped to the edge of the lens model and out).
TEST(ImporterTest, ArchiveCameraCoverage) {
  TempDir dir;
  const std::string root = dir.path() + "/h36m";
  // S1: frames 0 and 1 in the volume, 2 and 3 high above it; S9: all in the volume; S2: cameras
  // without extrinsics. Joints spread over a few centimetres, Z up.
  const auto mm = [](int high_from) {
    return [high_from](int j, int c, int n) {
      const double z = n >= high_from ? 100000.0 : 1000.0;
      return c == 2 ? z + j * 10.0 : (c == 0 ? j * 5.0 : -j * 3.0);
    };
  };
  write_archive_values(pose_dir(root, "S1") / "Walking 1.h5", 4, mm(2));
  write_archive_values(pose_dir(root, "S9") / "Walking 1.h5", 3, mm(3));
  write_archive_values(pose_dir(root, "S2") / "Walking 1.h5", 2, mm(2));
  std::vector<CameraCoverage> cov;
  const Dataset d = import_h36m_archive(root, &cov);
  ASSERT_EQ(cov.size(), 12u);
  for (size_t i = 0; i < cov.size(); ++i) {
    const CameraCoverage& c = cov[i];
    const std::string subject = i < 4 ? "S1" : (i < 8 ? "S2" : "S9");
    const int k = static_cast<int>(i % 4);
    const Camera want = h36m_camera(subject, k);
    EXPECT_EQ(c.subject, subject);
    EXPECT_EQ(c.index, k);
    EXPECT_EQ(c.id, want.id);
    EXPECT_EQ(c.res_w, want.res_w);
    EXPECT_EQ(c.res_h, want.res_h);
    EXPECT_EQ(c.extrinsics, subject != "S2");
    if (subject == "S2") {
      EXPECT_EQ(c.keypoints, 0);
      EXPECT_EQ(coverage_warning(c), "");
    } else if (subject == "S9") {
      EXPECT_EQ(c.keypoints, 3 * 17);
      EXPECT_EQ(c.outside, 0) << "camera " << k;
      EXPECT_EQ(coverage_warning(c), "");
    } else {
      EXPECT_EQ(c.keypoints, 4 * 17);
      EXPECT_EQ(c.outside, 2 * 17) << "camera " << k;
      EXPECT_DOUBLE_EQ(c.outside_fraction(), 0.5);
      EXPECT_EQ(coverage_warning(c),
                "S1 camera " + std::to_string(k) + " (" + want.id +
                    "): 50.0% of the projected 2D keypoints (34 of 68) fall outside its " +
                    std::to_string(want.res_w) + "x" + std::to_string(want.res_h) +
                    " image or behind it");
    }
  }
  // The same counts from the dataset; a warning, not an error: the 3D is imported as it is.
  EXPECT_EQ(camera_coverage(d).size(), cov.size());
  EXPECT_EQ(d.subjects.at("S1").actions.at("Walking 1").frames, 4);
}

TEST(ImporterTest, ArchiveBadInput) {
  TempDir dir;
  const std::string root = dir.path() + "/h36m";
  expect_error([&] { import_h36m_archive(root); }, {root, "not a directory"});
  fs::create_directories(root);
  expect_error([&] { import_h36m_archive(root); }, {root, "MyPoses/3D_positions"});

  const fs::path file = pose_dir(root, "S1") / "Walking.h5";
  write_archive_file(file, 1, 4, 95);
  expect_error([&] { import_h36m_archive(root); },
               {file.string(), "/3D_positions", "expected (96, N)", "got (95, 4)"});
  write_archive_file(file, 1, 4, 96, "positions");
  expect_error([&] { import_h36m_archive(root); },
               {file.string(), "/3D_positions", "missing dataset"});
  write_archive_file(file, 1, 0);
  expect_error([&] { import_h36m_archive(root); }, {file.string(), "0 frames"});
  std::ofstream(file) << "junk";
  expect_error([&] { import_h36m_archive(root); }, {file.string(), "not an HDF5 file"});

  write_archive_file(file, 1, 4);
  write_archive_file(pose_dir(root, "S1") / "TakingPhoto.h5", 1, 4);
  write_archive_file(pose_dir(root, "S1") / "Photo.h5", 1, 4);
  expect_error([&] { import_h36m_archive(root); }, {"Photo.h5", "also comes from"});
  fs::remove(pose_dir(root, "S1") / "Photo.h5");

  write_archive_file(pose_dir(root, "S99") / "Walking.h5", 1, 4);
  expect_error([&] { import_h36m_archive(root); }, {root + "/S99", "S99"});
}

// ---------------------------------------------------------------------------------------------
// VideoPose3D npz files through scripts/convert_npz.py.

// Runs a Python program with /usr/bin/python3; returns its exit status.
int run_python(const TempDir& dir, const std::string& program) {
  const std::string file = dir.path() + "/program.py";
  std::ofstream(file) << program;
  return std::system(("/usr/bin/python3 '" + file + "'").c_str());
}

bool numpy_available() {
  return std::system("/usr/bin/python3 -c 'import numpy, h5py' 2>/dev/null") == 0;
}

#define REQUIRE_NUMPY()                                                                  \
  if (!numpy_available())                                                                \
  GTEST_SKIP() << "/usr/bin/python3 lacks numpy or h5py (apt-get install python3-numpy " \
                  "python3-h5py, or scripts/setup)"

// A VideoPose3D-style pair: 3D (N, 32, 3) with values v(s, a, n, j, c) exact in float32, and 2D
// for 4 cameras, 3 frames longer than the mocap (VideoPose3D truncates), with H36M metadata.
const char* kMakeNpz = R"PY(
import numpy as np, sys
out = sys.argv[1] if len(sys.argv) > 1 else "."
def v3(s, a, n):
    i = np.arange(n * 32 * 3, dtype=np.float32).reshape(n, 32, 3)
    return (i * np.float32(0.125) + np.float32(s * 100 + a)).astype(np.float32)
def v2(s, a, k, n):
    i = np.arange(n * 17 * 2, dtype=np.float32).reshape(n, 17, 2)
    return (i * np.float32(0.5) + np.float32(s * 1000 + a * 10 + k)).astype(np.float32)
p3 = {"S1": {"Walking": v3(1, 0, 5), "TakingPhoto 1": v3(1, 1, 4), "WalkingDog": v3(1, 2, 3)},
      "S11": {"Directions": v3(11, 0, 2), "Directions 1": v3(11, 1, 6)}}
p2 = {"S1": {"Walking": [v2(1, 0, k, 8) for k in range(4)],
             "TakingPhoto 1": [v2(1, 1, k, 4) for k in range(4)]},
      "S11": {"Directions": [v2(11, 0, k, 2) for k in range(4)]}}
meta = {"num_joints": 17, "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
np.savez_compressed(out + "/data_3d_h36m.npz", positions_3d=p3)
np.savez_compressed(out + "/data_2d_h36m_gt.npz", positions_2d=p2, metadata=meta)
)PY";

TEST(ImporterTest, NpzImport) {
  REQUIRE_NUMPY();
  TempDir dir;
  ASSERT_EQ(run_python(dir, std::string("import os; os.chdir('") + dir.path() + "')\n" + kMakeNpz),
            0);
  const Dataset d = import_vp3d_npz(dir.path() + "/data_3d_h36m.npz",
                                    dir.path() + "/data_2d_h36m_gt.npz", kScript);
  EXPECT_EQ(d.skeleton.name, "h36m17");
  EXPECT_EQ(d.skeleton.joint_names, Skeleton::h36m17().joint_names);
  ASSERT_EQ(d.subjects.size(), 2u);
  const auto& s1 = d.subjects.at("S1").actions;
  ASSERT_EQ(s1.size(), 3u);
  ASSERT_EQ(s1.count("Photo 1"), 1u);
  ASSERT_EQ(s1.count("WalkDog"), 1u);
  const auto& s11 = d.subjects.at("S11").actions;
  ASSERT_EQ(s11.size(), 1u);  // "Directions" dropped, with its 2D
  EXPECT_EQ(s11.count("Directions 1"), 1u);

  const ActionData& walking = s1.at("Walking");
  ASSERT_EQ(walking.frames, 5);  // 2D truncated from 8 to the mocap length
  for (int n = 0; n < 5; ++n) {
    for (int j = 0; j < 17; ++j) {
      for (int c = 0; c < 3; ++c) {
        const float i = static_cast<float>((n * 32 + kH36mKeptJoints[j]) * 3 + c);
        ASSERT_EQ(walking.positions_3d[(n * 17 + j) * 3 + c], i * 0.125f + 100.0f)
            << n << " " << j << " " << c;
      }
    }
  }
  ASSERT_EQ(walking.positions_2d.size(), 4u);
  for (int k = 0; k < 4; ++k) {
    const auto& xy = walking.positions_2d.at(k);
    ASSERT_EQ(xy.size(), 5u * 17 * 2);
    for (size_t i = 0; i < xy.size(); ++i) {
      ASSERT_EQ(xy[i], static_cast<float>(i) * 0.5f + static_cast<float>(1000 + k))
          << k << " " << i;
    }
  }
  EXPECT_TRUE(s1.at("WalkDog").positions_2d.empty());
  for (const auto& [s, subject] : d.subjects) {
    ASSERT_EQ(subject.cameras.size(), 4u) << s;
    EXPECT_EQ(subject.cameras.at(2).id, h36m_camera(s, 2).id);
    EXPECT_EQ(subject.cameras.at(2).translation, h36m_camera(s, 2).translation);
  }
}

// h5 -> npz -> h5 keeps every bit: 3D, 2D of 4 cameras with confidence, a 2D-only take, fps.
TEST(ImporterTest, NpzRoundTripIsBitForBit) {
  REQUIRE_NUMPY();
  TempDir dir;
  Dataset d;
  d.skeleton = Skeleton::h36m17();
  d.fps = 50.0f;
  std::mt19937 rng(3);
  std::normal_distribution<float> g(0.0f, 2.0f);
  auto fill = [&](size_t n) {
    std::vector<float> v(n);
    for (auto& x : v) x = g(rng);
    return v;
  };
  for (const std::string s : {"S2", "S9"}) {
    ActionData a;
    a.frames = 41;
    a.positions_3d = fill(41 * 17 * 3);
    for (int k = 0; k < 4; ++k) {
      a.positions_2d[k] = fill(41 * 17 * 2);
      a.confidence_2d[k] = fill(41 * 17);
    }
    d.subjects[s].actions["Eating 2"] = a;
    ActionData only_3d;
    only_3d.frames = 4100;  // past one chunk
    only_3d.positions_3d = fill(4100 * 17 * 3);
    d.subjects[s].actions["Sitting"] = only_3d;
    ActionData only_2d;
    only_2d.frames = 7;
    only_2d.positions_2d[0] = fill(7 * 17 * 2);
    only_2d.positions_2d[1] = fill(7 * 17 * 2);
    d.subjects[s].actions["Unlabeled"] = only_2d;
  }
  attach_h36m_cameras(d);
  const std::string h5 = dir.path() + "/a.h5";
  write_dataset(d, h5);
  const std::string npz3 = dir.path() + "/a_3d.npz", npz2 = dir.path() + "/a_2d.npz";
  export_vp3d_npz(h5, npz3, npz2, kScript);
  ASSERT_TRUE(fs::exists(npz3));
  ASSERT_TRUE(fs::exists(npz2));
  // 17 joints, and the metadata says so.
  ASSERT_EQ(
      run_python(dir,
                 "import numpy as np\n"
                 "m = np.load('" +
                     npz3 +
                     "', allow_pickle=True)\n"
                     "p = m['positions_3d'].item(); md = m['metadata'].item()\n"
                     "assert p['S9']['Sitting'].shape == (4100, 17, 3), p['S9']['Sitting'].shape\n"
                     "assert md['num_joints'] == 17 and md['layout_name'] == 'h36m', md\n"
                     "m2 = np.load('" +
                     npz2 +
                     "', allow_pickle=True)\n"
                     "c = m2['positions_2d'].item()['S2']['Eating 2']\n"
                     "assert len(c) == 4 and c[0].shape == (41, 17, 3), c[0].shape\n"),
      0);
  const Dataset back = import_vp3d_npz(npz3, npz2, kScript);
  expect_same_dataset(d, back);
  const std::string h5b = dir.path() + "/b.h5";
  write_dataset(back, h5b);
  expect_same_dataset(d, read_dataset(h5b));
}

TEST(ImporterTest, NpzBadInput) {
  REQUIRE_NUMPY();
  TempDir dir;
  const std::string npz = dir.path() + "/bad_3d.npz";
  ASSERT_EQ(run_python(dir,
                       "import numpy as np\n"
                       "np.savez_compressed('" +
                           npz +
                           "', positions_3d={'S1': {'Walking': "
                           "np.zeros((4, 16, 3), np.float32)}})\n"),
            0);
  expect_error([&] { import_vp3d_npz(npz, "", kScript); },
               {"convert_npz.py: error:", npz, "positions_3d['S1']['Walking']", "got (4, 16, 3)"});
  ASSERT_EQ(run_python(dir,
                       "import numpy as np\n"
                       "a = np.zeros((4, 32, 3), np.float32); a[2, 5, 1] = np.nan\n"
                       "np.savez_compressed('" +
                           npz + "', positions_3d={'S1': {'W': a}})\n"),
            0);
  expect_error([&] { import_vp3d_npz(npz, "", kScript); },
               {npz, "positions_3d['S1']['W']", "NaN or Inf at frame 2, joint 5"});
  std::ofstream(npz) << "junk";
  expect_error([&] { import_vp3d_npz(npz, "", kScript); }, {npz, "cannot read as npz"});
  expect_error([&] { import_vp3d_npz(dir.path() + "/absent.npz", "", kScript); }, {"absent.npz"});
  // Nothing is left behind by failed conversions.
  for (const auto& e : fs::directory_iterator(fs::temp_directory_path())) {
    EXPECT_EQ(e.path().filename().string().rfind("v3d-npz-" + std::to_string(getpid()), 0),
              std::string::npos)
        << e.path();
  }
}

// VideoPose3D's detector files in their own layouts (told by num_joints and the sets of
// keypoints_symmetry): COCO-17 (detectron_pt_coco) and MPII-16 (stacked hourglass) are stored as
// they are with the root attribute keypoints_2d, and h5 -> npz writes that layout back.
TEST(ImporterTest, NpzDetectorLayouts) {
  REQUIRE_NUMPY();
  TempDir dir;
  const char* make = R"PY(
import numpy as np, sys
out = sys.argv[1] if len(sys.argv) > 1 else "."
def v2(n, j, k):
    return (np.arange(n * j * 3, dtype=np.float32).reshape(n, j, 3) * np.float32(0.25)
            + np.float32(k)).astype(np.float32)
p3 = {"S1": {"Walking": np.zeros((5, 32, 3), np.float32)}}
np.savez_compressed("data_3d_h36m.npz", positions_3d=p3)
coco = {"num_joints": 17, "keypoints_symmetry": [[1, 3, 5, 7, 9, 11, 13, 15],
                                                 [2, 4, 6, 8, 10, 12, 14, 16]]}
np.savez_compressed("coco.npz", positions_2d={"S1": {"Walking": [v2(6, 17, k) for k in range(4)]}},
                    metadata=coco)
# The stacked hourglass files' symmetry lists the sides in another order: the sets decide.
mpii = {"num_joints": 16, "keypoints_symmetry": [[3, 4, 5, 13, 14, 15], [2, 1, 0, 12, 11, 10]]}
np.savez_compressed("mpii.npz", positions_2d={"S1": {"Walking": [v2(5, 16, k) for k in range(4)]}},
                    metadata=mpii)
odd = {"num_joints": 16, "keypoints_symmetry": [[0, 1], [2, 3]]}
np.savez_compressed("odd.npz", positions_2d={"S1": {"Walking": [v2(5, 16, 0)]}}, metadata=odd)
)PY";
  ASSERT_EQ(run_python(dir, std::string("import os; os.chdir('") + dir.path() + "')\n" + make), 0);
  const std::string npz3 = dir.path() + "/data_3d_h36m.npz";
  for (const auto& [name, joints] :
       {std::pair{std::string("coco"), 17}, std::pair{std::string("mpii"), 16}}) {
    const Dataset d = import_vp3d_npz(npz3, dir.path() + "/" + name + ".npz", kScript);
    const std::string layout = name == "coco" ? "coco17" : "mpii16";
    EXPECT_EQ(d.keypoints_2d, layout);
    const ActionData& walking = d.subjects.at("S1").actions.at("Walking");
    ASSERT_EQ(walking.frames, 5);
    const auto& xy = walking.positions_2d.at(2);
    ASSERT_EQ(xy.size(), 5u * joints * 2);
    for (int n = 0; n < 5; ++n) {
      for (int j = 0; j < joints; ++j) {
        for (int c = 0; c < 2; ++c) {
          ASSERT_EQ(xy[(n * joints + j) * 2 + c],
                    static_cast<float>((n * joints + j) * 3 + c) * 0.25f + 2.0f);
        }
      }
    }
    EXPECT_EQ(walking.confidence_2d.at(2).size(), 5u * joints);
    // h5 -> npz -> h5 keeps the layout and the values.
    const std::string h5 = dir.path() + "/" + name + ".h5",
                      out2 = dir.path() + "/" + name + "_2d.npz";
    write_dataset(d, h5);
    export_vp3d_npz(h5, "", out2, kScript);
    const Dataset back = import_vp3d_npz(npz3, out2, kScript);
    EXPECT_EQ(back.keypoints_2d, layout);
    EXPECT_EQ(back.subjects.at("S1").actions.at("Walking").positions_2d.at(2), xy);
  }
  expect_error([&] { import_vp3d_npz(npz3, dir.path() + "/odd.npz", kScript); },
               {"odd.npz", "num_joints 16 with keypoints_symmetry", "none of the known layouts"});
}

// A Python without numpy/h5py gets a message naming the packages to install.
TEST(ImporterTest, NpzWithoutNumpyNamesThePackages) {
  TempDir dir;
  const std::string wrapper = dir.path() + "/python-without-site";
  std::ofstream(wrapper) << "#!/bin/sh\nexec /usr/bin/python3 -S \"$@\"\n";  // -S: no dist-packages
  fs::permissions(wrapper, fs::perms::owner_all);
  setenv("V3D_PYTHON", wrapper.c_str(), 1);
  expect_error([&] { import_vp3d_npz(dir.path() + "/x.npz", "", kScript); },
               {"python3-numpy python3-h5py"});
  setenv("V3D_PYTHON", (dir.path() + "/no-python").c_str(), 1);
  expect_error([&] { import_vp3d_npz(dir.path() + "/x.npz", "", kScript); },
               {"no-python not found", "python3-numpy"});
  unsetenv("V3D_PYTHON");
}

TEST(ImporterTest, FindsTheScript) {
  unsetenv("V3D_SCRIPTS_DIR");
  // This test binary lives in <build>/bin; the build tree's CMakeCache.txt names the sources.
  EXPECT_TRUE(fs::equivalent(find_convert_npz_script(), kScript));
  setenv("V3D_SCRIPTS_DIR", "/nonexistent", 1);
  expect_error([] { find_convert_npz_script(); }, {"V3D_SCRIPTS_DIR=/nonexistent"});
  unsetenv("V3D_SCRIPTS_DIR");
}

// VideoPose3D's custom-dataset 2D (prepare_data_2d_custom.py's layout): two videos of their own
// sizes, COCO-ordered, values exact in float32; then files with bad metadata.
const char* kMakeCustomNpz = R"PY(
import numpy as np, sys
out = sys.argv[1]
def kp(base, n):
    return (np.arange(n * 17 * 2, dtype=np.float32).reshape(n, 17, 2) * np.float32(0.25) +
            np.float32(base)).astype(np.float32)
coco = {"layout_name": "coco", "num_joints": 17,
        "keypoints_symmetry": [[1, 3, 5, 7, 9, 11, 13, 15], [2, 4, 6, 8, 10, 12, 14, 16]],
        "video_metadata": {"walk.mp4": {"w": 1920, "h": 1080}, "jump.mp4": {"w": 640, "h": 480}}}
p2 = {"walk.mp4": {"custom": [kp(100, 6)]}, "jump.mp4": {"custom": [kp(7, 3)]}}
np.savez_compressed(out + "/data_2d_custom_ok.npz", positions_2d=p2, metadata=coco)
no_h = dict(coco, video_metadata={"walk.mp4": {"w": 1920, "h": 1080}, "jump.mp4": {"w": 640}})
np.savez_compressed(out + "/data_2d_custom_no_h.npz", positions_2d=p2, metadata=no_h)
sixteen = dict(coco, num_joints=16)
np.savez_compressed(out + "/data_2d_custom_16.npz", positions_2d=p2, metadata=sixteen)
bad = {"walk.mp4": {"custom": [kp(100, 6)[:, :15]]}, "jump.mp4": {"custom": [kp(7, 3)]}}
np.savez_compressed(out + "/data_2d_custom_shape.npz", positions_2d=bad, metadata=coco)
)PY";

TEST(ImporterTest, CustomNpzInferInput) {
  REQUIRE_NUMPY();
  TempDir dir;
  ASSERT_EQ(run_python(dir, std::string("import sys; sys.argv = ['', '") + dir.path() + "']\n" +
                                kMakeCustomNpz),
            0);
  const auto inputs = read_infer_input_vp3d_npz(dir.path() + "/data_2d_custom_ok.npz", kScript);
  ASSERT_EQ(inputs.size(), 2u);  // in name order
  EXPECT_EQ(inputs[0].name, "jump.mp4");
  EXPECT_EQ(inputs[0].frames, 3);
  EXPECT_EQ(inputs[0].res_w, 640);
  EXPECT_EQ(inputs[0].res_h, 480);
  const InferInput& walk = inputs[1];
  EXPECT_EQ(walk.name, "walk.mp4");
  EXPECT_EQ(walk.keypoints, "coco17");
  EXPECT_EQ(walk.res_w, 1920);
  EXPECT_EQ(walk.res_h, 1080);
  ASSERT_EQ(walk.frames, 6);
  ASSERT_EQ(walk.keypoints_px.size(), 6u * 17 * 2);
  for (size_t i = 0; i < walk.keypoints_px.size(); ++i)
    ASSERT_EQ(walk.keypoints_px[i], static_cast<float>(i) * 0.25f + 100.0f) << i;

  const auto read = [&](const std::string& name) {
    return [&dir, name] { read_infer_input_vp3d_npz(dir.path() + "/" + name, kScript); };
  };
  expect_error(read("data_2d_custom_no_h.npz"),
               {"data_2d_custom_no_h.npz", "video_metadata['jump.mp4']", "'h'"});
  expect_error(read("data_2d_custom_16.npz"), {"data_2d_custom_16.npz", "num_joints 16"});
  expect_error(read("data_2d_custom_shape.npz"),
               {"data_2d_custom_shape.npz", "positions_2d['walk.mp4'][0]", "(6, 15, 2)"});
  expect_error(read("absent.npz"), {"absent.npz"});
}

}  // namespace
}  // namespace v3d::data
