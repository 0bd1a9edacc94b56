// Line plots written as PNG with cairo: the training curve at the end of `v3d train`, the
// error-vs-test-interval plot after `v3d eval` and MPJPE against bank capacity after
// `v3d ltb-sweep`.
//
//   layout    title on top, y label rotated on the left, x label below; both axes span "nice"
//             tick values (1, 2 or 5 times a power of ten, about six ticks) that cover the data,
//             with light grid lines at each tick.
//   series    one colour each from a fixed ten-colour palette (series_color; a series may name its
//             palette index, so that related series share a colour), a 2 px line through the
//             points in the given order, solid or dashed, and a filled circle at each point; a
//             legend (line, marker, label) in a corner of the plot area that covers no point (top
//             right first), else outside the plot area on the right.
//   2nd axis  series marked right_axis are scaled to their own y axis on the right, labelled
//             y2_label (for a quantity in other units or of another magnitude).
//   write     atomically (data/atomic_file.h), so a reader never sees a partial file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "trainer/evaluate.h"
#include "trainer/train.h"

namespace v3d {

struct Series {
  std::string label;
  std::vector<double> x, y;  // same size >= 1, finite
  int color = -1;            // palette index (series_color); -1: the series' own index
  bool dashed = false;
  bool right_axis = false;  // scaled to the right-hand y axis
};

struct PlotSpec {
  std::string title, x_label, y_label;
  std::string y2_label;           // the right-hand axis, drawn when a series uses it
  std::vector<Series> series;     // >= 1
  int width = 800, height = 500;  // pixels, in [200, 10000] x [150, 10000]
};

// Throws v3d::Error, one line, on no series, an empty series, x and y of different sizes, a
// non-finite value, a size out of range, or a path that cannot be written.
void write_line_plot_png(const PlotSpec& spec, const std::string& path);

// The colour of series `index` (cycling through the palette), as 0xRRGGBB.
uint32_t series_color(size_t index);

// Training MPJPE (mm) against epoch, one point per entry of `log`. Throws on an empty log.
void plot_training_curve(const std::vector<EpochLog>& log, const std::string& path);

// Each of report.metrics (mean over actions, mm) against the test interval N: one colour per
// metric, solid without the long-term bank and dashed with it, MPJVE (a velocity error, mm per
// frame) on its own right-hand axis. `title` names what was evaluated (e.g. the checkpoint).
// Throws on a report without intervals or metrics.
void plot_error_vs_interval(const EvalReport& report, const std::string& path,
                            const std::string& title = "");

// A long-term bank sweep: MPJPE (mean over actions and over the swept test intervals, mm) against
// the bank capacity, one series per (threshold, fusion threshold) and a flat "w/o LTB" series.
// Throws on a sweep without points.
void plot_ltb_sweep(const LtbSweepReport& report, const std::string& path);

}  // namespace v3d
