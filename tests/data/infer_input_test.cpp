// The readers of inference inputs (data/infer_input.h): COCO-style JSON frames sorted, gaps
// filled, several people tracked into one input each, and its errors naming the file and the field
// (the HDF5 reader is tested through a model in tests/trainer/infer_test.cpp).
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
using test_util::coco_person;
using test_util::expect_error;
using test_util::write_text;

TEST(Infer, CocoJsonSortsFramesAndFillsGaps) {
  const test_util::TempDir dir("v3d-infer-input");
  // Frames 5, 3, 6 out of order; 4 missing (interpolated between 3 and 5); a COCO "annotations"
  // object with extras.
  write_text(dir.file("det.json"),
             "{\"annotations\": [{\"frame\": 5, \"score\": 0.9, \"keypoints\": " +
                 coco_keypoints(5) + "}, {\"image_id\": 3, \"keypoints\": " + coco_keypoints(3) +
                 "}, {\"image_id\": 99, \"frame\": 6, \"keypoints\": " + coco_keypoints(6) + "}]}");
  const auto inputs = read_infer_input_coco_json(dir.file("det.json"), 640, 480);
  ASSERT_EQ(inputs.size(), 1u);
  const InferInput& in = inputs[0];
  EXPECT_EQ(in.name, "det/0");
  EXPECT_EQ(in.track, "0");
  EXPECT_EQ(in.keypoints, "coco17");
  EXPECT_EQ(in.first_frame, 3);
  EXPECT_EQ(in.frames, 4);  // 3, 4, 5, 6
  EXPECT_EQ(in.res_w, 640);
  EXPECT_EQ(in.res_h, 480);
  ASSERT_EQ(in.keypoints_px.size(), 4u * 17 * 2);
  // coco_keypoints(f): x of keypoint j = 100 + 10 f + 3 j, y = that + 1; frame 4 = (3 + 5) / 2.
  const int want[4] = {3, 4, 5, 6};
  for (int t = 0; t < 4; ++t) {
    for (int j = 0; j < 17; ++j) {
      EXPECT_EQ(in.keypoints_px[static_cast<size_t>((t * 17 + j) * 2)],
                100.0f + want[t] * 10 + 3 * j);
      EXPECT_EQ(in.keypoints_px[static_cast<size_t>((t * 17 + j) * 2 + 1)],
                100.0f + want[t] * 10 + 3 * j + 1);
    }
  }
}

TEST(Infer, CocoJsonCrossingPeopleGiveOneInputPerTrack) {
  const test_util::TempDir dir("v3d-infer-input");
  // A (s = 30) walks right from x = 100, B (s = 15) walks left from x = 300, crossing at frame 10.
  // A is not detected at frame 7; B's keypoint 3 scores 0.1 at frame 5; B's y wobbles.
  std::string json = "[";
  for (int t = 0; t < 20; ++t) {
    const std::string a = "{\"frame\": " + std::to_string(t) +
                          ", \"keypoints\": " + coco_person(100 + 10 * t, 300, 30) + "}";
    const std::string b = "{\"image_id\": " + std::to_string(t) + ", \"keypoints\": " +
                          coco_person(300 - 10 * t, 320 + 4 * (t % 2), 15, t == 5 ? 3 : -1) + "}";
    if (t > 0) json += ", ";
    json += t == 7 ? b : t % 2 ? b + ", " + a : a + ", " + b;
  }
  write_text(dir.file("cross.json"), json + "]");
  const auto inputs = read_infer_input_coco_json(dir.file("cross.json"), 640, 480);
  ASSERT_EQ(inputs.size(), 2u);
  const InferInput& a = inputs[0];  // first in frame 0's entries
  const InferInput& b = inputs[1];
  EXPECT_EQ(a.name, "cross/0");
  EXPECT_EQ(b.name, "cross/1");
  for (const InferInput* in : {&a, &b}) {
    EXPECT_EQ(in->first_frame, 0);
    ASSERT_EQ(in->frames, 20);
  }
  const auto at = [](const InferInput& in, int t, int j, int c) {
    return in.keypoints_px[static_cast<size_t>((t * 17 + j) * 2 + c)];
  };
  for (int t = 0; t < 20; ++t) {
    // Every keypoint of A where it was detected, and at frame 7 halfway between 6 and 8.
    EXPECT_FLOAT_EQ(at(a, t, 0, 0), 100.0f + 10 * t - 60) << t;
    EXPECT_FLOAT_EQ(at(b, t, 0, 0), 300.0f - 10 * t - 30) << t;
  }
  // A's keypoint 16 at the missed frame 7: x = 100 + 10 t + (16 % 5 - 2) 30 and
  // y = 300 + (16 / 5 - 1.5) 60 give (130, 390) at frame 6 and (150, 390) at frame 8, so (140,
  // 390).
  EXPECT_FLOAT_EQ(at(a, 7, 16, 0), 140.0f);
  EXPECT_FLOAT_EQ(at(a, 7, 16, 1), 390.0f);
  // B's keypoint 3 at frame 5 (score 0.1): frames 4 and 6 have x = 300 - 10 t + 15 = 275, 255 and
  // y = 320 + 0 - 45 = 275 at both, so (265, 275), not the detected (999, 999) nor frame 5's y
  // wobble (279).
  EXPECT_FLOAT_EQ(at(b, 5, 3, 0), 265.0f);
  EXPECT_FLOAT_EQ(at(b, 5, 3, 1), 275.0f);

  // The same people with track ids: the ids name the outputs, the tracker is not used.
  std::string with_ids = "[";
  for (int t = 0; t < 6; ++t) {
    if (t > 0) with_ids += ", ";
    with_ids += "{\"frame\": " + std::to_string(t) +
                ", \"track_id\": \"walker\", \"keypoints\": " + coco_person(100 + 10 * t, 300, 30) +
                "}, {\"frame\": " + std::to_string(t + 2) +
                ", \"track_id\": 7, \"keypoints\": " + coco_person(300, 300, 30) + "}";
  }
  write_text(dir.file("ids.json"), with_ids + "]");
  const auto tracked = read_infer_input_coco_json(dir.file("ids.json"), 640, 480);
  ASSERT_EQ(tracked.size(), 2u);
  EXPECT_EQ(tracked[0].name, "ids/walker");
  EXPECT_EQ(tracked[0].first_frame, 0);
  EXPECT_EQ(tracked[1].name, "ids/7");
  EXPECT_EQ(tracked[1].track, "7");
  EXPECT_EQ(tracked[1].first_frame, 2);
  EXPECT_EQ(tracked[1].frames, 6);
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
  write_text(f, "[{\"frame\": 1, \"track_id\": 4, \"keypoints\": " + coco_keypoints(1) +
                    "}, {\"frame\": 1, \"track_id\": 4, \"keypoints\": " + coco_keypoints(1) +
                    "}]");
  expect_error(read, {"bad.json", "entry 1", "frame 1", "a second entry of track 4"});
  write_text(f, "[{\"frame\": 1, \"track_id\": 4, \"keypoints\": " + coco_keypoints(1) +
                    "}, {\"frame\": 2, \"keypoints\": " + coco_keypoints(1) + "}]");
  expect_error(read, {"bad.json", "entry 1", "\"track_id\" missing", "every entry or none"});
  write_text(f,
             "[{\"frame\": 1, \"track_id\": \"a/b\", \"keypoints\": " + coco_keypoints(1) + "}]");
  expect_error(read, {"bad.json", "entry 0", "\"track_id\"", "without '/'"});
  write_text(f, "[{\"frame\": 1, \"track_id\": -3, \"keypoints\": " + coco_keypoints(1) + "}]");
  expect_error(read, {"bad.json", "entry 0", "\"track_id\"", "-3"});
  // The score of keypoint 0 (element 2) a string: the elements from the fourth on kept.
  const std::string kp = coco_keypoints(0);
  const size_t third_comma = kp.find(',', kp.find(',', kp.find(',') + 1) + 1);
  write_text(f, "[{\"frame\": 0, \"keypoints\": [1, 2, \"high\"" + kp.substr(third_comma) + "}]");
  expect_error(read, {"bad.json", "entry 0", "\"keypoints\"[2]", "score", "finite"});
  write_text(f, "[{\"frame\": -2, \"keypoints\": " + coco_keypoints(0) + "}]");
  expect_error(read, {"bad.json", "\"frame\"", ">= 0"});
}

}  // namespace
}  // namespace v3d::data
