// PNG line plots: the file is a PNG of the requested size, is not blank, shows one colour per
// series, replaces an existing file, and the invalid specs and paths fail with one-line errors.
#include "report/plot.h"

#include <cairo.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "kernels/common.h"

namespace v3d {
namespace {

namespace fs = std::filesystem;

struct SurfaceDeleter {
  void operator()(cairo_surface_t* s) const { cairo_surface_destroy(s); }
};
using Surface = std::unique_ptr<cairo_surface_t, SurfaceDeleter>;

class PlotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("v3d_plot_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

PlotSpec two_series_spec() {
  PlotSpec spec;
  spec.title = "Two series";
  spec.x_label = "epoch";
  spec.y_label = "MPJPE (mm)";
  spec.series.push_back({"train", {1, 2, 3, 4, 5}, {120.5, 80.2, 61.0, 55.3, 52.1}});
  spec.series.push_back({"valid", {1, 2, 3, 4, 5}, {130.0, 95.4, 75.0, 70.2, 69.9}});
  return spec;
}

Surface load_png(const std::string& file) {
  Surface s(cairo_image_surface_create_from_png(file.c_str()));
  EXPECT_EQ(cairo_surface_status(s.get()), CAIRO_STATUS_SUCCESS) << file;
  return s;
}

// Pixels as 0xRRGGBB (the alpha byte dropped).
std::vector<uint32_t> pixels(cairo_surface_t* s) {
  cairo_surface_flush(s);
  const int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
  const int stride = cairo_image_surface_get_stride(s);
  const unsigned char* data = cairo_image_surface_get_data(s);
  std::vector<uint32_t> out;
  out.reserve(static_cast<size_t>(w) * static_cast<size_t>(h));
  for (int y = 0; y < h; ++y) {
    const auto* row = reinterpret_cast<const uint32_t*>(data + static_cast<ptrdiff_t>(y) * stride);
    for (int x = 0; x < w; ++x) out.push_back(row[x] & 0xffffffu);
  }
  return out;
}

size_t count_color(const std::vector<uint32_t>& px, uint32_t rgb) {
  size_t n = 0;
  for (uint32_t p : px) n += p == rgb;
  return n;
}

// The message of the v3d::Error `f` throws, or "" (and a failure) when it throws nothing.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no v3d::Error thrown";
  return "";
}

void expect_one_line(const std::string& msg, const std::string& contains) {
  EXPECT_NE(msg.find(contains), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

TEST_F(PlotTest, WritesPngOfRequestedSize) {
  PlotSpec spec = two_series_spec();
  spec.width = 640;
  spec.height = 400;
  const std::string file = path("plot.png");
  write_line_plot_png(spec, file);

  std::ifstream in(file, std::ios::binary);
  ASSERT_TRUE(in.good());
  unsigned char sig[8] = {};
  in.read(reinterpret_cast<char*>(sig), 8);
  const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  EXPECT_EQ(std::memcmp(sig, png, 8), 0);

  Surface s = load_png(file);
  EXPECT_EQ(cairo_image_surface_get_width(s.get()), 640);
  EXPECT_EQ(cairo_image_surface_get_height(s.get()), 400);
  EXPECT_FALSE(fs::exists(file + ".tmp"));
}

// A title longer than the plot area beside a wide legend stays inside the image: no ink in the
// title band's first columns (where a clipped title would start), and some ink in the band.
TEST_F(PlotTest, LongTitleBesideAWideLegendIsNotClipped) {
  PlotSpec spec = two_series_spec();
  spec.width = 800;
  spec.height = 500;
  spec.title = "Study of a long name: test MPJPE, mean over seeds (dashed: bank with a long name)";
  spec.series[0].label = "Sample3+Sample5+Sample7+Sequential (w/o LTB), a wide legend entry";
  const std::string file = path("plot.png");
  write_line_plot_png(spec, file);
  Surface s = load_png(file);
  const std::vector<uint32_t> px = pixels(s.get());
  const size_t w = static_cast<size_t>(cairo_image_surface_get_width(s.get()));
  size_t edge_ink = 0, band_ink = 0;
  for (size_t y = 10; y < 40; ++y)
    for (size_t x = 0; x < w; ++x) {
      const bool ink = px[y * w + x] != 0xffffffu;
      band_ink += ink;
      edge_ink += ink && (x < 4 || x + 4 >= w);
    }
  EXPECT_EQ(edge_ink, 0u);
  EXPECT_GT(band_ink, 200u);
}

TEST_F(PlotTest, IsNotBlankAndShowsEachSeriesColour) {
  PlotSpec spec = two_series_spec();
  spec.series.push_back({"third", {1, 3, 5}, {100, 90, 85}});
  const std::string file = path("plot.png");
  write_line_plot_png(spec, file);
  Surface s = load_png(file);
  const std::vector<uint32_t> px = pixels(s.get());

  const std::set<uint32_t> distinct(px.begin(), px.end());
  EXPECT_GT(distinct.size(), 20u);  // white, text, grid, antialiasing, series colours
  const size_t white = count_color(px, 0xffffff);
  EXPECT_GT(white, px.size() / 2);  // mostly background
  EXPECT_LT(white, px.size());
  // Each series' line and markers show its exact palette colour in many pixels, and the
  // palette's colours are distinct.
  for (size_t k = 0; k < spec.series.size(); ++k) {
    EXPECT_GT(count_color(px, series_color(k)), 50u) << "series " << k;
    for (size_t j = 0; j < k; ++j) EXPECT_NE(series_color(j), series_color(k));
  }
  // A colour no series uses is absent: the counts above are not background noise.
  EXPECT_EQ(count_color(px, series_color(5)), 0u);
}

TEST_F(PlotTest, SinglePointAndConstantSeries) {
  PlotSpec spec;
  spec.title = "One point";
  spec.series.push_back({"a", {1}, {42}});
  spec.series.push_back({"b", {1, 2}, {0, 0}});
  const std::string file = path("one.png");
  write_line_plot_png(spec, file);
  Surface s = load_png(file);
  const std::vector<uint32_t> px = pixels(s.get());
  EXPECT_GT(count_color(px, series_color(0)), 10u);  // the marker
  EXPECT_GT(count_color(px, series_color(1)), 10u);
}

TEST_F(PlotTest, ReplacesExistingFile) {
  const std::string file = path("plot.png");
  std::ofstream(file) << "old";
  write_line_plot_png(two_series_spec(), file);
  Surface s = load_png(file);
  EXPECT_EQ(cairo_image_surface_get_width(s.get()), 800);
  EXPECT_EQ(cairo_image_surface_get_height(s.get()), 500);
}

TEST_F(PlotTest, InvalidSpecsThrowOneLine) {
  const std::string file = path("bad.png");
  PlotSpec none = two_series_spec();
  none.series.clear();
  expect_one_line(error_of([&] { write_line_plot_png(none, file); }), "no series");

  PlotSpec empty = two_series_spec();
  empty.series[1].x.clear();
  empty.series[1].y.clear();
  expect_one_line(error_of([&] { write_line_plot_png(empty, file); }), "'valid' is empty");

  PlotSpec sizes = two_series_spec();
  sizes.series[0].y.pop_back();
  expect_one_line(error_of([&] { write_line_plot_png(sizes, file); }), "5 x but 4 y");

  PlotSpec nan = two_series_spec();
  nan.series[0].y[2] = std::nan("");
  expect_one_line(error_of([&] { write_line_plot_png(nan, file); }), "not finite");
  PlotSpec inf = two_series_spec();
  inf.series[1].x[0] = std::numeric_limits<double>::infinity();
  expect_one_line(error_of([&] { write_line_plot_png(inf, file); }), "not finite");

  PlotSpec tiny = two_series_spec();
  tiny.width = 10;
  expect_one_line(error_of([&] { write_line_plot_png(tiny, file); }), "out of range");

  EXPECT_FALSE(fs::exists(file));
  EXPECT_FALSE(fs::exists(file + ".tmp"));
}

TEST_F(PlotTest, UnwritablePathThrowsOneLine) {
  const std::string file = path("no_such_dir/plot.png");
  expect_one_line(error_of([&] { write_line_plot_png(two_series_spec(), file); }),
                  "cannot write " + file);
  EXPECT_FALSE(fs::exists(file));
}

TEST_F(PlotTest, TrainingCurve) {
  std::vector<EpochLog> log;
  for (int e = 1; e <= 12; ++e) {
    EpochLog l;
    l.epoch = e;
    l.train_mpjpe_mm = 40 + 200 * std::exp(-0.4 * e);
    log.push_back(l);
  }
  const std::string file = path("training_curve.png");
  plot_training_curve(log, file);
  Surface s = load_png(file);
  EXPECT_GT(count_color(pixels(s.get()), series_color(0)), 50u);
  if (const char* keep = std::getenv("V3D_PLOT_TEST_KEEP")) {
    fs::copy_file(file, fs::path(keep) / "training_curve.png",
                  fs::copy_options::overwrite_existing);
  }

  expect_one_line(error_of([&] { plot_training_curve({}, file); }), "no epochs");
}

// The rows (first to last) holding a pixel of colour rgb, or {-1, -1}.
std::pair<int, int> rows_of(cairo_surface_t* s, uint32_t rgb) {
  const std::vector<uint32_t> px = pixels(s);
  const int w = cairo_image_surface_get_width(s);
  int first = -1, last = -1;
  for (size_t i = 0; i < px.size(); ++i) {
    if (px[i] != rgb) continue;
    const int y = static_cast<int>(i) / w;
    if (first < 0) first = y;
    last = y;
  }
  return {first, last};
}

// A series on the right-hand axis is scaled to its own range: values 100 times smaller than the
// left series' still span most of the plot's height (on the left axis they would be a flat line
// near its bottom).
TEST_F(PlotTest, RightAxisScalesItsOwnSeries) {
  PlotSpec spec;
  spec.title = "Two axes";
  spec.y_label = "mm";
  spec.y2_label = "mm / frame";
  // No labels: no legend, whose sample lines would add rows of the colours.
  spec.series.push_back({"", {1, 3, 5, 7}, {100, 110, 120, 130}});
  spec.series.push_back({"", {1, 3, 5, 7}, {0.5, 1.5, 2.5, 3.5}});
  spec.series[1].right_axis = true;
  const std::string file = path("axes.png");
  write_line_plot_png(spec, file);
  Surface s = load_png(file);
  const auto [top, bottom] = rows_of(s.get(), series_color(1));
  EXPECT_GT(bottom - top, 250) << top << ".." << bottom << " of 500 rows";

  spec.series[1].right_axis = false;  // the comparison: squashed on the left axis
  write_line_plot_png(spec, file);
  Surface flat = load_png(file);
  const auto [flat_top, flat_bottom] = rows_of(flat.get(), series_color(1));
  EXPECT_LT(flat_bottom - flat_top, 30);
}

// A dashed series draws fewer pixels than the same series solid; a series may take another's
// palette colour.
TEST_F(PlotTest, DashedSeriesAndSharedColours) {
  PlotSpec spec;
  spec.series.push_back({"solid", {0, 10}, {0, 10}});
  const std::string file = path("dash.png");
  write_line_plot_png(spec, file);
  const size_t solid = count_color(pixels(load_png(file).get()), series_color(0));
  spec.series[0].dashed = true;
  write_line_plot_png(spec, file);
  const size_t dashed = count_color(pixels(load_png(file).get()), series_color(0));
  EXPECT_LT(dashed, solid * 8 / 10) << dashed << " vs " << solid;
  EXPECT_GT(dashed, solid * 3 / 10) << dashed << " vs " << solid;

  spec.series.push_back({"same colour", {0, 10}, {10, 0}});
  spec.series[1].color = 0;
  write_line_plot_png(spec, file);
  const std::vector<uint32_t> px = pixels(load_png(file).get());
  EXPECT_GT(count_color(px, series_color(0)), dashed + 50);
  EXPECT_EQ(count_color(px, series_color(1)), 0u);
}

TEST_F(PlotTest, ErrorVsInterval) {
  EvalReport report;
  report.metrics = {Metric::kMpjpe, Metric::kPMpjpe, Metric::kNMpjpe, Metric::kMpjve};
  for (int n : {1, 3, 5, 7}) {
    IntervalReport r;
    r.interval = n;
    r.mean.mpjpe = 46.8 + 1.5 * n;
    r.mean.p_mpjpe = 36.5 + 1.1 * n;
    r.mean.n_mpjpe = 44.6 + 1.4 * n;
    r.mean.mpjve = 2.8 + 0.9 * n;
    report.intervals.push_back(r);
  }
  const std::string file = path("error_vs_interval.png");
  plot_error_vs_interval(report, file);
  Surface s = load_png(file);
  const std::vector<uint32_t> px = pixels(s.get());
  for (size_t k = 0; k < report.metrics.size(); ++k) {
    EXPECT_GT(count_color(px, series_color(k)), 50u) << metric_title(report.metrics[k]);
  }
  if (const char* keep = std::getenv("V3D_PLOT_TEST_KEEP")) {
    fs::copy_file(file, fs::path(keep) / "error_vs_interval.png",
                  fs::copy_options::overwrite_existing);
  }

  // With and without the bank: each metric keeps its colour (dashed with the bank), so the
  // palette's fifth colour never appears; MPJVE sits on its own axis.
  report.ltb = LtbEval::kBoth;
  const size_t rows = report.intervals.size();
  for (size_t i = 0; i < rows; ++i) {
    IntervalReport r = report.intervals[i];
    r.ltb = true;
    r.mean.mpjpe -= 1.0;
    report.intervals.push_back(r);
  }
  plot_error_vs_interval(report, file, "Evaluation of epoch_80.h5");
  const std::vector<uint32_t> both = pixels(load_png(file).get());
  for (size_t k = 0; k < report.metrics.size(); ++k)
    EXPECT_GT(count_color(both, series_color(k)), 50u);
  EXPECT_EQ(count_color(both, series_color(4)), 0u);
  if (const char* keep = std::getenv("V3D_PLOT_TEST_KEEP")) {
    fs::copy_file(file, fs::path(keep) / "error_vs_interval_ltb.png",
                  fs::copy_options::overwrite_existing);
  }

  EvalReport empty;
  expect_one_line(error_of([&] { plot_error_vs_interval(empty, file); }), "need >= 1 of each");
}

}  // namespace
}  // namespace v3d
