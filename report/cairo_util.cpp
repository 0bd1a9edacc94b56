#include "report/cairo_util.h"

#include "data/atomic_file.h"
#include "kernels/common.h"

namespace v3d::report {

void set_rgb(cairo_t* cr, uint32_t rgb) {
  cairo_set_source_rgb(cr, ((rgb >> 16) & 0xff) / 255.0, ((rgb >> 8) & 0xff) / 255.0,
                       (rgb & 0xff) / 255.0);
}

void select_font(cairo_t* cr, double size, bool bold) {
  cairo_select_font_face(cr, kFont, CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
}

double text_width(cairo_t* cr, const std::string& s) {
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  return e.x_advance;
}

void draw_text(cairo_t* cr, const std::string& s, double x, double y, double ax, double ay) {
  cairo_font_extents_t fe;
  cairo_font_extents(cr, &fe);
  const double w = text_width(cr, s);
  const double h = fe.ascent + fe.descent;
  cairo_move_to(cr, x - ax * w, y - ay * h + fe.ascent);
  cairo_show_text(cr, s.c_str());
}

std::vector<uint8_t> surface_rgb(cairo_surface_t* surface) {
  cairo_surface_flush(surface);
  const int w = cairo_image_surface_get_width(surface);
  const int h = cairo_image_surface_get_height(surface);
  const int stride = cairo_image_surface_get_stride(surface);
  const unsigned char* data = cairo_image_surface_get_data(surface);
  std::vector<uint8_t> rgb(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y) {
    // Native-endian 0xAARRGGBB words (cairo's ARGB32 and RGB24).
    const auto* row = reinterpret_cast<const uint32_t*>(data + static_cast<size_t>(y) * stride);
    for (int x = 0; x < w; ++x) {
      uint8_t* out = &rgb[(static_cast<size_t>(y) * w + x) * 3];
      out[0] = static_cast<uint8_t>(row[x] >> 16);
      out[1] = static_cast<uint8_t>(row[x] >> 8);
      out[2] = static_cast<uint8_t>(row[x]);
    }
  }
  return rgb;
}

void write_png_atomically(cairo_surface_t* surface, const std::string& path,
                          const std::string& what) {
  cairo_surface_flush(surface);
  std::string png;
  const cairo_status_t st = cairo_surface_write_to_png_stream(
      surface,
      [](void* closure, const unsigned char* data, unsigned int length) {
        static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
        return CAIRO_STATUS_SUCCESS;
      },
      &png);
  V3D_CHECK(st == CAIRO_STATUS_SUCCESS,
            what << ": cannot encode " << path << ": " << cairo_status_to_string(st));
  try {
    data::write_bytes_atomically(path, png.data(), png.size());
  } catch (const Error& e) {
    // "<what>: cannot write <path>: no space left (...)", as the drawing's other errors read.
    std::string why = e.what();
    if (why.rfind(path + ": ", 0) == 0) why = why.substr(path.size() + 2);
    throw Error(what + ": cannot write " + path + ": " + why);
  }
}

}  // namespace v3d::report
