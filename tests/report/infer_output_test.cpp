// `v3d infer`'s writers (report/infer_output.h): HDF5 and CSV read back, bad results refused
// before anything is written.
#include "report/infer_output.h"

#include <gtest/gtest.h>

#include <H5Cpp.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/common.h"
#include "tests/test_util.h"

namespace v3d {
namespace {

using test_util::read_text;

using test_util::expect_error;

std::vector<InferResult> two_results() {
  std::vector<InferResult> rs(2);
  rs[0].name = "S1/Walking";
  rs[0].frames = 2;
  rs[0].joints = 17;
  rs[1].name = "clip, \"take\" 2";
  rs[1].frames = 3;
  rs[1].joints = 17;
  rs[1].first_frame = 10;
  for (auto& r : rs) {
    for (int64_t i = 0; i < r.frames * r.joints * 3; ++i)
      r.positions_3d.push_back(0.1f * static_cast<float>(i) - 1.0f / 3.0f);
  }
  return rs;
}

TEST(Infer, ResultsTakeEachInputsNameAndFrames) {
  std::vector<data::InferInput> inputs(2);
  inputs[0].name = "a";
  inputs[0].frames = 2;
  inputs[1].name = "b";
  inputs[1].frames = 1;
  inputs[1].first_frame = 7;
  std::vector<std::vector<float>> poses = {std::vector<float>(2 * 17 * 3, 1.0f),
                                           std::vector<float>(17 * 3, 2.0f)};
  const std::vector<InferResult> rs = infer_results(inputs, poses, 17);
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[1].name, "b");
  EXPECT_EQ(rs[1].frames, 1);
  EXPECT_EQ(rs[1].joints, 17);
  EXPECT_EQ(rs[1].first_frame, 7);
  EXPECT_EQ(rs[0].positions_3d, poses[0]);
  poses.pop_back();
  EXPECT_THROW(infer_results(inputs, poses, 17), Error);
}

TEST(Infer, CsvRoundTrip) {
  const test_util::TempDir dir("v3d-infer-output");
  const auto rs = two_results();
  write_infer_csv(dir.file("out.csv"), rs);
  EXPECT_EQ(dir.regular_files(), 1u);  // no temporary left behind
  std::istringstream text(read_text(dir.file("out.csv")));
  std::string line;
  ASSERT_TRUE(std::getline(text, line));
  EXPECT_EQ(line, "name,frame,joint,x,y,z");
  size_t rows = 0;
  for (const auto& r : rs) {
    for (int64_t t = 0; t < r.frames; ++t) {
      for (int j = 0; j < r.joints; ++j, ++rows) {
        ASSERT_TRUE(std::getline(text, line));
        const std::string name = r.name == "S1/Walking" ? "S1/Walking" : "\"clip, \"\"take\"\" 2\"";
        ASSERT_EQ(line.rfind(name + ",", 0), 0u) << line;
        std::istringstream fields(line.substr(name.size() + 1));
        std::string frame, joint, x, y, z;
        std::getline(fields, frame, ',');
        std::getline(fields, joint, ',');
        std::getline(fields, x, ',');
        std::getline(fields, y, ',');
        std::getline(fields, z, ',');
        EXPECT_EQ(std::stoll(frame), r.first_frame + t);
        EXPECT_EQ(std::stoi(joint), j);
        const float* p = r.positions_3d.data() + (t * r.joints + j) * 3;
        EXPECT_EQ(std::stof(x), p[0]);
        EXPECT_EQ(std::stof(y), p[1]);
        EXPECT_EQ(std::stof(z), p[2]);
      }
    }
  }
  EXPECT_EQ(rows, 2u * 17 + 3u * 17);
  EXPECT_FALSE(std::getline(text, line));
}

TEST(Infer, H5RoundTrip) {
  const test_util::TempDir dir("v3d-infer-output");
  const auto rs = two_results();
  write_infer_h5(dir.file("out.h5"), rs);
  EXPECT_EQ(dir.regular_files(), 1u);
  H5::H5File file(dir.file("out.h5"), H5F_ACC_RDONLY);
  for (const auto& r : rs) {
    SCOPED_TRACE(r.name);
    H5::DataSet ds = file.openDataSet("/" + r.name + "/positions_3d");
    H5::DataSpace space = ds.getSpace();
    ASSERT_EQ(space.getSimpleExtentNdims(), 3);
    hsize_t dims[3];
    space.getSimpleExtentDims(dims);
    EXPECT_EQ(dims[0], static_cast<hsize_t>(r.frames));
    EXPECT_EQ(dims[1], 17u);
    EXPECT_EQ(dims[2], 3u);
    std::vector<float> back(r.positions_3d.size());
    ds.read(back.data(), H5::PredType::NATIVE_FLOAT);
    EXPECT_EQ(back, r.positions_3d);
    int64_t first = -1;
    ds.openAttribute("first_frame").read(H5::PredType::NATIVE_INT64, &first);
    EXPECT_EQ(first, r.first_frame);
  }
}

TEST(Infer, WritersRejectBadResults) {
  const test_util::TempDir dir("v3d-infer-output");
  auto rs = two_results();
  rs[1].name = rs[0].name;
  expect_error([&] { write_infer_h5(dir.file("a.h5"), rs); }, {"a.h5", "S1/Walking", "twice"});
  rs = two_results();
  rs[0].positions_3d.pop_back();
  expect_error([&] { write_infer_csv(dir.file("a.csv"), rs); }, {"a.csv", "positions_3d"});
  rs = two_results();
  rs[0].name = "S1//x";
  expect_error([&] { write_infer_h5(dir.file("a.h5"), rs); }, {"a.h5", "empty"});
  EXPECT_EQ(dir.regular_files(), 0u);
}

}  // namespace
}  // namespace v3d
