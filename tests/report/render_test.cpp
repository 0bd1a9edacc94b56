// report/render.h without video: the frame's drawing (skeleton pixels where the projections put
// them), the contact sheet and the checks of sequences and options.
#include "report/render.h"

#include <cairo.h>
#include <gtest/gtest.h>

#include <unistd.h>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "data/synth.h"
#include "kernels/common.h"
#include "report/cairo_util.h"
#include "tests/report/render_fixture.h"

namespace v3d::report {
namespace {

namespace fs = std::filesystem;

TEST(Render, ViewThreeDPutsTheRootAtThePanelsCentreAndRotatesByAzimuth) {
  RenderOptions o;
  const auto root = view_3d(o, {0, 0, 0});
  EXPECT_NEAR(root[0], o.width * 0.75, 1e-9);
  // Right in camera space is right on screen at azimuth 0, up (negative y) is up.
  EXPECT_GT(view_3d(o, {0.5f, 0, 0})[0], root[0]);
  EXPECT_LT(view_3d(o, {0, -0.5f, 0})[1], root[1]);
  // `limit` metres reach half the panel's smaller side from the root.
  o.elevation = 0;
  const double half = 0.5 * std::min(o.width / 2.0, o.height * (1 - 0.09));
  EXPECT_NEAR(view_3d(o, {1.0f, 0, 0})[0] - root[0], half, 1e-6);
  // At azimuth 90 depth becomes the screen's horizontal and x leaves it.
  o.azimuth = 90;
  EXPECT_NEAR(view_3d(o, {1.0f, 0, 0})[0], root[0], 1e-6);
  EXPECT_NEAR(std::abs(view_3d(o, {0, 0, 1.0f})[0] - root[0]), half, 1e-6);
}

TEST(Render, FrameHasTheSkeletonsPixelsWhereTheProjectionsPutThem) {
  const RenderSequence seq = test::synthetic_render_sequence();
  RenderOptions o;
  for (const int64_t row : {int64_t{0}, int64_t{37}}) {
    const std::vector<uint8_t> rgb = render_frame_rgb(seq, o, row);
    ASSERT_EQ(rgb.size(), static_cast<size_t>(o.width) * o.height * 3);
    const test::Image image{o.width, o.height, rgb};
    for (int j = 0; j < 17; ++j) {
      const size_t i3 = (static_cast<size_t>(row) * 17 + j) * 3;
      const size_t i2 = (static_cast<size_t>(row) * 17 + j) * 2;
      const auto p =
          view_3d(o, {seq.predicted_3d[i3], seq.predicted_3d[i3 + 1], seq.predicted_3d[i3 + 2]});
      EXPECT_TRUE(image.has_color_near(p, kPredictedColor, 1, 10)) << "predicted joint " << j;
      const auto g = view_3d(
          o, {seq.ground_truth_3d[i3], seq.ground_truth_3d[i3 + 1], seq.ground_truth_3d[i3 + 2]});
      EXPECT_TRUE(image.has_color_near(g, kGroundTruthColor, 1, 10)) << "true joint " << j;
      const auto k = view_2d(seq, o, seq.keypoints_2d[i2], seq.keypoints_2d[i2 + 1]);
      EXPECT_TRUE(image.has_color_near(k, kKeypointColor, 1, 10)) << "keypoint " << j;
    }
    // Far from every joint: the white background.
    EXPECT_TRUE(image.has_color_near({o.width * 0.99, o.height * 0.98}, 0xffffff, 0, 0));
  }
}

TEST(Render, ContactSheetHoldsTheChosenFramesInRowsOfColumns) {
  const RenderSequence seq = test::synthetic_render_sequence();
  RenderOptions o;
  const fs::path dir =
      fs::temp_directory_path() / ("v3d_render_sheet_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "sheet.png").string();
  const std::vector<int64_t> rows = {0, 10, 20, 30, 40};
  render_contact_sheet(seq, o, rows, 3, 0.5, path);
  cairo_surface_t* s = cairo_image_surface_create_from_png(path.c_str());
  ASSERT_EQ(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
  EXPECT_EQ(cairo_image_surface_get_width(s), 3 * o.width / 2);
  EXPECT_EQ(cairo_image_surface_get_height(s), 2 * o.height / 2);
  // The fifth frame (row 40) is the second of the second line: its predicted head there.
  const std::vector<uint8_t> rgb = surface_rgb(s);
  const test::Image sheet{cairo_image_surface_get_width(s), cairo_image_surface_get_height(s), rgb};
  const size_t head = (static_cast<size_t>(40) * 17 + 10) * 3;
  const auto p =
      view_3d(o, {seq.predicted_3d[head], seq.predicted_3d[head + 1], seq.predicted_3d[head + 2]});
  EXPECT_TRUE(sheet.has_color_near({o.width / 2.0 + p[0] / 2, o.height / 2.0 + p[1] / 2},
                                   kPredictedColor, 2, 40));
  cairo_surface_destroy(s);
  EXPECT_THROW(render_contact_sheet(seq, o, {0, 60}, 3, 0.5, path), Error);
  EXPECT_THROW(render_contact_sheet(seq, o, {}, 3, 0.5, path), Error);
  EXPECT_THROW(render_contact_sheet(seq, o, {0}, 3, 0.5, (dir / "sheet.jpg").string()), Error);
  fs::remove_all(dir);
}

TEST(Render, BadSequencesAndOptionsNameTheField) {
  const RenderSequence good = test::synthetic_render_sequence();
  const auto fails = [](const RenderSequence& s, const RenderOptions& o, const std::string& what) {
    try {
      validate_render(s, o);
      ADD_FAILURE() << "no error, expected one naming " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  RenderOptions o;
  RenderSequence s = good;
  s.predicted_3d[5] = std::nanf("");
  fails(s, o, "predicted_3d value 5 is not finite");
  s = good;
  s.keypoints_2d.pop_back();
  fails(s, o, "keypoints_2d");
  s = good;
  s.ground_truth_3d.resize(3);
  fails(s, o, "ground_truth_3d");
  o.width = 961;
  fails(good, o, "--size 961x480");
  o = {};
  o.fps = 0;
  fails(good, o, "--fps");
  o = {};
  o.begin = 50;
  o.end = 70;
  fails(good, o, "--frames 50:70");
  o = {};
  o.limit = -1;
  fails(good, o, "--limit");
  o = {};
  o.elevation = 120;
  fails(good, o, "--elevation");
  EXPECT_THROW(render_video(good, {}, "out.avi"), Error);
}

}  // namespace
}  // namespace v3d::report
