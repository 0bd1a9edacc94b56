// Line plots with cairo's image surface and toy text API (see plot.h for the layout).
#include "report/plot.h"

#include <cairo.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <memory>

#include "kernels/common.h"
#include "report/cairo_util.h"

namespace v3d {
namespace {

using report::ContextDeleter;
using report::draw_text;
using report::select_font;
using report::set_rgb;
using report::SurfaceDeleter;
using report::text_width;

// Tableau 10: distinguishable, and readable on white.
constexpr std::array<uint32_t, 10> kPalette = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
                                               0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf};

constexpr double kTitleSize = 16, kLabelSize = 13, kTickSize = 11, kLegendSize = 12;
constexpr double kMarkerRadius = 3.5, kLineWidth = 2;

// Heckbert's "nice numbers": 1, 2, 5 or 10 times a power of ten, rounded or covering x.
double nice_number(double x, bool round) {
  const double e = std::floor(std::log10(x));
  const double f = x / std::pow(10.0, e);
  double nf;
  if (round) {
    nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  } else {
    nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  }
  return nf * std::pow(10.0, e);
}

struct Axis {
  double lo = 0, hi = 1, step = 1;
  int decimals = 0;
  std::vector<double> ticks;
};

// Ticks covering [min, max]; a degenerate range is widened around its value.
Axis nice_axis(double min, double max, int target_ticks) {
  if (max - min <= 1e-12 * std::max(1.0, std::abs(max))) {
    const double pad = std::max(std::abs(max) * 0.1, 1.0);
    min -= pad;
    max += pad;
  }
  Axis a;
  const double range = nice_number(max - min, false);
  a.step = nice_number(range / (target_ticks - 1), true);
  a.lo = std::floor(min / a.step) * a.step;
  a.hi = std::ceil(max / a.step) * a.step;
  a.decimals = std::max(0, -static_cast<int>(std::floor(std::log10(a.step) + 1e-9)));
  const int n = static_cast<int>(std::lround((a.hi - a.lo) / a.step));
  for (int i = 0; i <= n; ++i) {
    double v = a.lo + i * a.step;
    if (std::abs(v) < a.step * 1e-9) v = 0;  // no "-0.0"
    a.ticks.push_back(v);
  }
  return a;
}

std::string format_tick(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

void draw_marker(cairo_t* cr, double x, double y) {
  cairo_new_sub_path(cr);
  cairo_arc(cr, x, y, kMarkerRadius, 0, 2 * M_PI);
  cairo_fill(cr);
}

void validate(const PlotSpec& spec) {
  V3D_CHECK(spec.width >= 200 && spec.width <= 10000 && spec.height >= 150 && spec.height <= 10000,
            "plot: size " << spec.width << "x" << spec.height
                          << " out of range [200, 10000] x [150, 10000]");
  V3D_CHECK(!spec.series.empty(), "plot '" << spec.title << "': no series");
  for (const Series& s : spec.series) {
    V3D_CHECK(!s.x.empty(), "plot '" << spec.title << "': series '" << s.label << "' is empty");
    V3D_CHECK(s.x.size() == s.y.size(), "plot '" << spec.title << "': series '" << s.label
                                                 << "' has " << s.x.size() << " x but "
                                                 << s.y.size() << " y values");
    for (size_t i = 0; i < s.x.size(); ++i) {
      V3D_CHECK(std::isfinite(s.x[i]) && std::isfinite(s.y[i]),
                "plot '" << spec.title << "': series '" << s.label << "' point " << i << " ("
                         << s.x[i] << ", " << s.y[i] << ") is not finite");
    }
  }
}

uint32_t color_of(const Series& s, size_t index) {
  return kPalette[(s.color >= 0 ? static_cast<size_t>(s.color) : index) % kPalette.size()];
}

void set_dash(cairo_t* cr, bool dashed) {
  static const double kDash[] = {7.0, 4.0};
  cairo_set_dash(cr, dashed ? kDash : nullptr, dashed ? 2 : 0, 0);
}

}  // namespace

uint32_t series_color(size_t index) { return kPalette[index % kPalette.size()]; }

void write_line_plot_png(const PlotSpec& spec, const std::string& path) {
  validate(spec);
  const double width = spec.width, height = spec.height;

  std::unique_ptr<cairo_surface_t, SurfaceDeleter> surface(
      cairo_image_surface_create(CAIRO_FORMAT_RGB24, spec.width, spec.height));
  V3D_CHECK(cairo_surface_status(surface.get()) == CAIRO_STATUS_SUCCESS,
            "plot: cannot create a "
                << spec.width << "x" << spec.height
                << " image: " << cairo_status_to_string(cairo_surface_status(surface.get())));
  std::unique_ptr<cairo_t, ContextDeleter> ctx(cairo_create(surface.get()));
  cairo_t* cr = ctx.get();

  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);

  // The left axis takes the series not marked right_axis (all of them when every one is).
  bool any_left = false, any_right = false;
  for (const Series& s : spec.series) (s.right_axis ? any_right : any_left) = true;
  const auto on_right = [&](const Series& s) { return s.right_axis && any_left; };
  double x_min = INFINITY, x_max = -INFINITY;
  double y_min[2] = {INFINITY, INFINITY}, y_max[2] = {-INFINITY, -INFINITY};
  for (const Series& s : spec.series) {
    const int side = on_right(s) ? 1 : 0;
    for (size_t i = 0; i < s.x.size(); ++i) {
      x_min = std::min(x_min, s.x[i]);
      x_max = std::max(x_max, s.x[i]);
      y_min[side] = std::min(y_min[side], s.y[i]);
      y_max[side] = std::max(y_max[side], s.y[i]);
    }
  }
  const bool two_axes = any_left && any_right;
  // 3% margins keep markers off the frame when the data ends on a tick.
  const double x_pad = 0.03 * (x_max - x_min);
  const Axis xa = nice_axis(x_min - x_pad, x_max + x_pad, 8);
  const auto y_axis = [&](int side) {
    const double pad = 0.03 * (y_max[side] - y_min[side]);
    return nice_axis(y_min[side] - pad, y_max[side] + pad, 6);
  };
  const Axis ya = y_axis(0);
  const Axis yb = two_axes ? y_axis(1) : ya;

  // The legend's size, needed for the right margin when it goes outside the plot area.
  bool any_label = false;
  for (const Series& s : spec.series) any_label = any_label || !s.label.empty();
  select_font(cr, kLegendSize);
  cairo_font_extents_t legend_fe;
  cairo_font_extents(cr, &legend_fe);
  const double row = legend_fe.ascent + legend_fe.descent + 4, sample = 28, pad = 8;
  double label_w = 0;
  for (const Series& s : spec.series) label_w = std::max(label_w, text_width(cr, s.label));
  const double lw = pad + sample + 6 + label_w + pad;
  const double lh = pad + row * static_cast<double>(spec.series.size()) + pad - 4;

  // Margins: the left one fits the widest y tick label and the rotated y label.
  select_font(cr, kTickSize);
  double y_tick_w = 0;
  for (double v : ya.ticks)
    y_tick_w = std::max(y_tick_w, text_width(cr, format_tick(v, ya.decimals)));
  const double left = 14 + kLabelSize + 10 + y_tick_w + 8;
  double y2_tick_w = 0;
  for (double v : yb.ticks)
    y2_tick_w = std::max(y2_tick_w, text_width(cr, format_tick(v, yb.decimals)));
  // The right-hand axis's ticks and rotated label, when there is one.
  const double axis2 = two_axes ? 8 + y2_tick_w + 10 + kLabelSize + 14 : 0;
  const double top = spec.title.empty() ? 20 : 20 + kTitleSize + 14;
  const double bottom = 8 + kTickSize + 12 + kLabelSize + 14;
  const double ph = height - top - bottom;

  // The legend goes in the corner of the plot area with no points under it (top right first);
  // when every corner has some, outside on the right.
  double right = two_axes ? axis2 : 24, pw = width - left - right;
  auto px = [&](double x) { return left + (x - xa.lo) / (xa.hi - xa.lo) * pw; };
  auto py = [&](double y) { return top + ph - (y - ya.lo) / (ya.hi - ya.lo) * ph; };
  auto py2 = [&](double y) { return top + ph - (y - yb.lo) / (yb.hi - yb.lo) * ph; };
  auto sy = [&](const Series& s, double y) { return on_right(s) ? py2(y) : py(y); };
  double lx = 0, ly = top;
  if (any_label) {
    const std::array<std::array<double, 2>, 4> corners = {{{left + pw - lw - 8, top + 8},
                                                           {left + 8, top + 8},
                                                           {left + pw - lw - 8, top + ph - lh - 8},
                                                           {left + 8, top + ph - lh - 8}}};
    bool inside = false;
    for (const auto& c : corners) {
      bool covers = false;
      for (const Series& s : spec.series) {
        for (size_t i = 0; i < s.x.size() && !covers; ++i) {
          const double x = px(s.x[i]), y = sy(s, s.y[i]);
          covers = x >= c[0] - 6 && x <= c[0] + lw + 6 && y >= c[1] - 6 && y <= c[1] + lh + 6;
        }
      }
      if (!covers) {
        lx = c[0];
        ly = c[1];
        inside = true;
        break;
      }
    }
    if (!inside && width - left - (right + lw + 8) < 100) {  // labels too long: cover points
      lx = corners[0][0];
      ly = corners[0][1];
    } else if (!inside) {
      right += lw + 8;
      pw = width - left - right;
      lx = left + pw + (two_axes ? axis2 : 16);
    }
  }

  // Grid, then the frame, then tick marks and labels.
  cairo_set_line_width(cr, 1);
  cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
  for (double v : xa.ticks) {
    const double x = std::round(px(v)) + 0.5;
    cairo_move_to(cr, x, top);
    cairo_line_to(cr, x, top + ph);
  }
  for (double v : ya.ticks) {
    const double y = std::round(py(v)) + 0.5;
    cairo_move_to(cr, left, y);
    cairo_line_to(cr, left + pw, y);
  }
  cairo_stroke(cr);

  cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
  cairo_rectangle(cr, std::round(left) + 0.5, std::round(top) + 0.5, std::round(pw),
                  std::round(ph));
  cairo_stroke(cr);
  select_font(cr, kTickSize);
  for (double v : xa.ticks) {
    const double x = std::round(px(v)) + 0.5;
    cairo_move_to(cr, x, top + ph);
    cairo_line_to(cr, x, top + ph + 5);
    cairo_stroke(cr);
    draw_text(cr, format_tick(v, xa.decimals), x, top + ph + 8, 0.5, 0);
  }
  for (double v : ya.ticks) {
    const double y = std::round(py(v)) + 0.5;
    cairo_move_to(cr, left - 5, y);
    cairo_line_to(cr, left, y);
    cairo_stroke(cr);
    draw_text(cr, format_tick(v, ya.decimals), left - 8, y, 1, 0.5);
  }
  if (two_axes) {
    for (double v : yb.ticks) {
      const double y = std::round(py2(v)) + 0.5;
      cairo_move_to(cr, left + pw, y);
      cairo_line_to(cr, left + pw + 5, y);
      cairo_stroke(cr);
      draw_text(cr, format_tick(v, yb.decimals), left + pw + 8, y, 0, 0.5);
    }
  }

  // Title and axis labels.
  cairo_set_source_rgb(cr, 0, 0, 0);
  if (!spec.title.empty()) {
    select_font(cr, kTitleSize, true);
    // Centred over the plot area when it fits in the image there; a long title beside a wide
    // legend moves right (or starts at the margin) rather than run off the left edge.
    const double tw = text_width(cr, spec.title), margin = 8;
    const double tx = std::max(margin, std::min(left + pw / 2 - tw / 2, width - margin - tw));
    draw_text(cr, spec.title, tx, 14, 0, 0);
  }
  select_font(cr, kLabelSize);
  draw_text(cr, spec.x_label, left + pw / 2, height - 10, 0.5, 1);
  cairo_save(cr);
  cairo_translate(cr, 12, top + ph / 2);
  cairo_rotate(cr, -M_PI / 2);
  draw_text(cr, spec.y_label, 0, 0, 0.5, 0);
  cairo_restore(cr);
  if (two_axes) {
    cairo_save(cr);
    cairo_translate(cr, left + pw + 8 + y2_tick_w + 10 + kLabelSize, top + ph / 2);
    cairo_rotate(cr, M_PI / 2);
    draw_text(cr, spec.y2_label, 0, 0, 0.5, 0);
    cairo_restore(cr);
  }

  // Series: lines, then markers on top, clipped to the plot area widened by a marker.
  cairo_save(cr);
  cairo_rectangle(cr, left - kMarkerRadius - 1, top - kMarkerRadius - 1, pw + 2 * kMarkerRadius + 2,
                  ph + 2 * kMarkerRadius + 2);
  cairo_clip(cr);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  cairo_set_line_width(cr, kLineWidth);
  for (size_t k = 0; k < spec.series.size(); ++k) {
    const Series& s = spec.series[k];
    set_rgb(cr, color_of(s, k));
    set_dash(cr, s.dashed);
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (i == 0) {
        cairo_move_to(cr, px(s.x[i]), sy(s, s.y[i]));
      } else {
        cairo_line_to(cr, px(s.x[i]), sy(s, s.y[i]));
      }
    }
    cairo_stroke(cr);
    set_dash(cr, false);
    for (size_t i = 0; i < s.x.size(); ++i) draw_marker(cr, px(s.x[i]), sy(s, s.y[i]));
  }
  cairo_restore(cr);

  if (any_label) {
    select_font(cr, kLegendSize);
    cairo_rectangle(cr, std::round(lx) + 0.5, std::round(ly) + 0.5, std::round(lw), std::round(lh));
    cairo_set_source_rgba(cr, 1, 1, 1, 0.9);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    for (size_t k = 0; k < spec.series.size(); ++k) {
      const double cy = ly + pad + row * static_cast<double>(k) + (row - 4) / 2;
      set_rgb(cr, color_of(spec.series[k], k));
      cairo_set_line_width(cr, kLineWidth);
      set_dash(cr, spec.series[k].dashed);
      cairo_move_to(cr, lx + pad, cy);
      cairo_line_to(cr, lx + pad + sample, cy);
      cairo_stroke(cr);
      set_dash(cr, false);
      draw_marker(cr, lx + pad + sample / 2, cy);
      cairo_set_source_rgb(cr, 0, 0, 0);
      draw_text(cr, spec.series[k].label, lx + pad + sample + 6, cy, 0, 0.5);
    }
  }

  report::write_png_atomically(surface.get(), path, "plot");
}

void plot_training_curve(const std::vector<EpochLog>& log, const std::string& path) {
  V3D_CHECK(!log.empty(), "plot_training_curve: no epochs to plot for " << path);
  PlotSpec spec;
  spec.title = "Training curve";
  spec.x_label = "epoch";
  spec.y_label = "train MPJPE (mm)";
  Series s;
  s.label = "train MPJPE";
  for (const EpochLog& e : log) {
    s.x.push_back(static_cast<double>(e.epoch));
    s.y.push_back(e.train_mpjpe_mm);
  }
  spec.series.push_back(std::move(s));
  write_line_plot_png(spec, path);
}

void plot_error_vs_interval(const EvalReport& report, const std::string& path,
                            const std::string& title) {
  V3D_CHECK(!report.intervals.empty() && !report.metrics.empty(),
            "plot_error_vs_interval: the report has " << report.intervals.size()
                                                      << " intervals and " << report.metrics.size()
                                                      << " metrics; need >= 1 of each");
  PlotSpec spec;
  spec.title = title.empty() ? "Error vs test interval" : title;
  if (report.flip_tta) spec.title += " (flip TTA)";
  spec.x_label = "test interval N (TD N)";
  spec.y_label = "error (mm)";
  spec.y2_label = "MPJVE (mm / frame)";
  // One colour per metric; with the long-term bank a dashed series per metric beside the solid one.
  for (size_t mi = 0; mi < report.metrics.size(); ++mi) {
    const Metric m = report.metrics[mi];
    for (const bool ltb : {false, true}) {
      Series s;
      s.label = metric_title(m);
      if (report.ltb == LtbEval::kBoth) s.label += ltb ? " (w LTB)" : " (w/o LTB)";
      if (report.ltb == LtbEval::kOn) s.label += " (LTB)";
      s.color = static_cast<int>(mi);
      s.dashed = ltb;
      s.right_axis = m == Metric::kMpjve;
      for (const IntervalReport& r : report.intervals) {
        if (r.ltb != ltb) continue;
        s.x.push_back(r.interval);
        s.y.push_back(r.mean.get(m));
      }
      if (!s.x.empty()) spec.series.push_back(std::move(s));
    }
  }
  write_line_plot_png(spec, path);
}

void plot_ltb_sweep(const LtbSweepReport& report, const std::string& path) {
  V3D_CHECK(!report.points.empty() && !report.plain.intervals.empty(),
            "plot_ltb_sweep: the sweep has " << report.points.size() << " settings and "
                                             << report.plain.intervals.size() << " intervals");
  auto mean_mpjpe = [](const std::vector<IntervalReport>& rows) {
    double s = 0;
    for (const auto& r : rows) s += r.mean.mpjpe;
    return s / static_cast<double>(rows.size());
  };
  PlotSpec spec;
  std::string tds;
  for (const auto& r : report.plain.intervals)
    tds += (tds.empty() ? "TD " : "/") + std::to_string(r.interval);
  spec.title = "Long-term bank sweep: MPJPE, mean over " + tds;
  spec.x_label = "bank capacity";
  spec.y_label = "MPJPE (mm)";
  // Series keyed by (threshold, fusion threshold) in first-seen order; x sorted by capacity.
  std::vector<std::pair<std::pair<float, float>, std::vector<std::pair<double, double>>>> groups;
  double lo = 1e300, hi = -1e300;
  for (const auto& pt : report.points) {
    const auto key = std::make_pair(pt.options.threshold, pt.options.fusion_threshold);
    auto it =
        std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == key; });
    if (it == groups.end()) {
      groups.push_back({key, {}});
      it = groups.end() - 1;
    }
    const double cap = pt.options.capacity;
    it->second.push_back({cap, mean_mpjpe(pt.intervals)});
    lo = std::min(lo, cap);
    hi = std::max(hi, cap);
  }
  for (auto& [key, pts] : groups) {
    std::sort(pts.begin(), pts.end());
    Series s;
    char label[96];
    std::snprintf(label, sizeof(label), "threshold %.2f, fusion %.2f",
                  static_cast<double>(key.first), static_cast<double>(key.second));
    s.label = label;
    for (const auto& [x, y] : pts) {
      s.x.push_back(x);
      s.y.push_back(y);
    }
    spec.series.push_back(std::move(s));
  }
  Series base;
  base.label = "w/o LTB";
  const double plain = mean_mpjpe(report.plain.intervals);
  base.x = {lo, hi};
  base.y = {plain, plain};
  spec.series.push_back(std::move(base));
  write_line_plot_png(spec, path);
}

}  // namespace v3d
