// What the cairo drawings of report/ share (plot.h's line plots, render.h's skeleton frames):
// owning handles, colours as 0xRRGGBB, the font, anchored text, and the atomic PNG output.
#pragma once

#include <cairo.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace v3d::report {

struct SurfaceDeleter {
  void operator()(cairo_surface_t* s) const { cairo_surface_destroy(s); }
};
struct ContextDeleter {
  void operator()(cairo_t* c) const { cairo_destroy(c); }
};
using Surface = std::unique_ptr<cairo_surface_t, SurfaceDeleter>;
using Context = std::unique_ptr<cairo_t, ContextDeleter>;

constexpr const char* kFont = "DejaVu Sans";

void set_rgb(cairo_t* cr, uint32_t rgb);
void select_font(cairo_t* cr, double size, bool bold = false);
double text_width(cairo_t* cr, const std::string& s);
// Draws `s` with its anchor at (x, y): ax, ay in [0, 1] pick the point of the text's box
// (0 = left/top, 1 = right/bottom); the box height is the font's ascent + descent.
void draw_text(cairo_t* cr, const std::string& s, double x, double y, double ax, double ay);

// An ARGB32 or RGB24 image surface's pixels as RGB bytes (3 a pixel, row-major).
std::vector<uint8_t> surface_rgb(cairo_surface_t* surface);

// The surface as a PNG file, encoded in memory and written atomically by one checked write
// (cairo's own file output reports a full disk only as "error while writing to output stream",
// without the system's reason). Errors read "<what>: cannot encode|write <path>: <reason>".
void write_png_atomically(cairo_surface_t* surface, const std::string& path,
                          const std::string& what);

}  // namespace v3d::report
