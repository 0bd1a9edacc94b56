// `v3d infer` on a detector's COCO-style JSON of two crossing people, one of them missed for a
// frame: one output per track, named by the track and carrying its id, each equal to lifting that
// person's detections alone; bad input is one error line naming the file and the field.
#include <gtest/gtest.h>

#include <H5Cpp.h>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "data/h5_util.h"
#include "tests/apps/cli_run.h"
#include "tests/apps/tiny_model.h"
#include "tests/test_util.h"
#include "trainer/config.h"

namespace v3d::apps {
namespace {

using test_util::coco_person;
using test_util::TempDir;
using test_util::write_text;

// One JSON entry of person A (large, walking right) or B (small, walking left) at frame t.
std::string entry(char who, int t) {
  return "{\"frame\": " + std::to_string(t) + ", \"keypoints\": " +
         (who == 'A' ? coco_person(100 + 10 * t, 300, 30) : coco_person(300 - 10 * t, 310, 15)) +
         "}";
}

// `v3d infer` of `input` to CSV: name -> its x, y, z values in file order.
std::map<std::string, std::vector<float>> infer_csv(const TempDir& dir, const std::string& input) {
  const CliRun r = run({"infer", "--checkpoint", dir.file("coco.ckpt"), "--input", input, "--res",
                        "640x480", "--out", dir.file("out.csv")});
  EXPECT_EQ(r.status, 0) << r.err;
  std::map<std::string, std::vector<float>> out;
  std::ifstream f(dir.file("out.csv"));
  std::string line, name, v;
  std::getline(f, line);  // header
  while (std::getline(f, line)) {
    std::stringstream ss(line);
    std::getline(ss, name, ',');
    std::getline(ss, v, ',');  // frame
    std::getline(ss, v, ',');  // joint
    while (std::getline(ss, v, ',')) out[name].push_back(std::stof(v));
  }
  return out;
}

TEST(DetectorCli, CrossingPeopleGiveOneOutputPerTrack) {
  const TempDir dir("v3d-detector");
  save_tiny_model(dir.file("coco.ckpt"), false, Keypoints::kPseudoCoco);
  // They cross at frame 10; A is missed at frame 7.
  std::string both = "[", only_a = "[", only_b = "[";
  for (int t = 0; t < 20; ++t) {
    const std::string sep = t ? ", " : "";
    both += sep + (t == 7  ? entry('B', t)
                   : t % 2 ? entry('B', t) + ", " + entry('A', t)
                           : entry('A', t) + ", " + entry('B', t));
    if (t != 7) only_a += (only_a.size() > 1 ? ", " : "") + entry('A', t);
    only_b += sep + entry('B', t);
  }
  write_text(dir.file("people.json"), both + "]");
  write_text(dir.file("a.json"), only_a + "]");
  write_text(dir.file("b.json"), only_b + "]");

  const auto out = infer_csv(dir, dir.file("people.json"));
  ASSERT_EQ(out.size(), 2u);
  ASSERT_EQ(out.count("people/0"), 1u);
  ASSERT_EQ(out.count("people/1"), 1u);
  // Each track is lifted alone: the values of a file of that person only, up to the float
  // rounding of running both tracks through one pass (infer_3d of several inputs).
  EXPECT_EQ(out.at("people/0").size(), 20u * 17 * 3);  // frames 0..19, missed frame 7 filled
  EXPECT_LT(
      test_util::relative_error(out.at("people/0"), infer_csv(dir, dir.file("a.json")).at("a/0")),
      1e-5);
  EXPECT_LT(
      test_util::relative_error(out.at("people/1"), infer_csv(dir, dir.file("b.json")).at("b/0")),
      1e-5);

  // The HDF5 output: one dataset per track with its id and first frame.
  const CliRun r = run({"infer", "--checkpoint", dir.file("coco.ckpt"), "--input",
                        dir.file("people.json"), "--res", "640x480", "--out", dir.file("out.h5")});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("(2 sequences)"), std::string::npos) << r.out;
  H5::H5File f(dir.file("out.h5"), H5F_ACC_RDONLY);
  for (const std::string track : {"0", "1"}) {
    H5::DataSet ds = f.openDataSet("/people/" + track + "/positions_3d");
    EXPECT_EQ(data::h5::read_string_attr(ds.openAttribute("track")), track);
    hsize_t dims[3] = {};
    ds.getSpace().getSimpleExtentDims(dims);
    EXPECT_EQ(dims[0], 20u);
  }
}

TEST(DetectorCli, BadDetectorFilesGiveOneLineNamingTheField) {
  const TempDir dir("v3d-detector");
  save_tiny_model(dir.file("coco.ckpt"), false, Keypoints::kPseudoCoco);
  const auto infer = [&](const std::string& json, const std::vector<std::string>& extra = {}) {
    write_text(dir.file("bad.json"), json);
    std::vector<std::string> words = {
        "infer", "--checkpoint",    dir.file("coco.ckpt"), "--input", dir.file("bad.json"),
        "--out", dir.file("bad.h5")};
    words.insert(words.end(), extra.begin(), extra.end());
    return run(words);
  };
  expect_one_line_error(infer("[" + entry('A', 0) + ", {\"frame\": 1, \"track_id\": 2}]"),
                        "bad.json: entry 1 (frame 1): \"track_id\" present, but entry 0 has none");
  expect_one_line_error(infer("[{\"frame\": 0, \"track_id\": 1.5, \"keypoints\": []}]"),
                        "bad.json: entry 0 (frame 0): \"track_id\" must be an integer >= 0");
  const CliRun range = infer("[" + entry('A', 0) + "]", {"--track-iou", "2"});
  EXPECT_NE(range.status, 0);
  EXPECT_NE(range.err.find("--track-iou"), std::string::npos) << range.err;
  EXPECT_FALSE(std::ifstream(dir.file("bad.h5")).good());  // nothing written
}

}  // namespace
}  // namespace v3d::apps
