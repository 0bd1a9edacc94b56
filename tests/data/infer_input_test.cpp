// The readers of inference inputs (data/infer_input.h): COCO-style JSON frames sorted and gaps
// filled, and its errors naming the file and the field (the HDF5 reader is tested through a
// model in tests/trainer/infer_test.cpp).
#include "data/infer_input.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "kernels/common.h"
#include "tests/test_util.h"

namespace v3d::data {
namespace {

using test_util::coco_keypoints;
using test_util::expect_error;
using test_util::write_text;

TEST(Infer, CocoJsonSortsFramesAndFillsGaps) {
  const test_util::TempDir dir("v3d-infer-input");
  // Frames 5, 3, 6 out of order; 4 missing (repeats 3); a COCO "annotations" object with extras.
  write_text(dir.file("det.json"),
             "{\"annotations\": [{\"frame\": 5, \"score\": 0.9, \"keypoints\": " +
                 coco_keypoints(5) + "}, {\"image_id\": 3, \"keypoints\": " + coco_keypoints(3) +
                 "}, {\"image_id\": 99, \"frame\": 6, \"keypoints\": " + coco_keypoints(6) + "}]}");
  const auto inputs = read_infer_input_coco_json(dir.file("det.json"), 640, 480);
  ASSERT_EQ(inputs.size(), 1u);
  const InferInput& in = inputs[0];
  EXPECT_EQ(in.name, "det");
  EXPECT_EQ(in.keypoints, "coco17");
  EXPECT_EQ(in.first_frame, 3);
  EXPECT_EQ(in.frames, 4);  // 3, 4, 5, 6
  EXPECT_EQ(in.res_w, 640);
  EXPECT_EQ(in.res_h, 480);
  ASSERT_EQ(in.keypoints_px.size(), 4u * 17 * 2);
  const int want[4] = {3, 3, 5, 6};
  for (int t = 0; t < 4; ++t) {
    for (int j = 0; j < 17; ++j) {
      EXPECT_EQ(in.keypoints_px[static_cast<size_t>((t * 17 + j) * 2)],
                100.0f + want[t] * 10 + 3 * j);
      EXPECT_EQ(in.keypoints_px[static_cast<size_t>((t * 17 + j) * 2 + 1)],
                100.0f + want[t] * 10 + 3 * j + 1);
    }
  }
}

TEST(Infer, CocoJsonErrorsNameFileAndField) {
  const test_util::TempDir dir("v3d-infer-input");
  const std::string f = dir.file("bad.json");
  const auto read = [&] { read_infer_input_coco_json(f, 1000, 1002); };
  write_text(f, "[{\"frame\": 0, \"keypoints\": [1, 2");
  expect_error(read, {"bad.json", "invalid JSON"});
  write_text(f, "[{\"frame\": 0, \"keypoints\": " + coco_keypoints(0, 48) + "}]");
  expect_error(read, {"bad.json", "entry 0", "keypoints", "48", "51"});
  write_text(f, "[]");
  expect_error(read, {"bad.json", "no keypoint entries"});
  write_text(f, "");
  expect_error(read, {"bad.json", "invalid JSON"});
  write_text(f, "[{\"keypoints\": " + coco_keypoints(0) + "}]");
  expect_error(read, {"bad.json", "entry 0", "image_id"});
  write_text(f, std::string("[{\"frame\": 0, \"keypoints\": [null") +
                    coco_keypoints(0).substr(coco_keypoints(0).find(',')) + "}]");
  expect_error(read, {"bad.json", "\"keypoints\"[0]", "finite"});
  write_text(f, "[{\"frame\": 1, \"keypoints\": " + coco_keypoints(1) + "}, {\"frame\": 1, " +
                    "\"keypoints\": " + coco_keypoints(1) + "}]");
  expect_error(read, {"bad.json", "entry 1", "frame 1", "one person per frame"});
  write_text(f, "[{\"frame\": -2, \"keypoints\": " + coco_keypoints(0) + "}]");
  expect_error(read, {"bad.json", "\"frame\"", ">= 0"});
}

}  // namespace
}  // namespace v3d::data
