// Skeleton frames drawn with cairo (report/cairo_util.h); videos through report/video.h when this
// build has FFmpeg (V3D_HAVE_FFMPEG).
#include "report/render.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>

#include "data/atomic_file.h"
#include "kernels/common.h"
#include "report/cairo_util.h"
#ifdef V3D_HAVE_FFMPEG
#include "report/video.h"
#endif

namespace v3d::report {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kHeader = 0.09;  // share of the height above the panels' drawing area

void check_values(const std::vector<float>& v, size_t want, const char* field) {
  V3D_CHECK(v.size() == want,
            "render: " << field << " has " << v.size() << " values, expected " << want);
  for (size_t i = 0; i < v.size(); ++i) {
    V3D_CHECK(std::isfinite(v[i]), "render: " << field << " value " << i << " is not finite");
  }
}

// The 2D coordinates' box: the image when its size is known, else the keypoints' extent.
struct Box {
  double x0 = 0, y0 = 0, x1 = 1, y1 = 1;
};

Box box_2d(const RenderSequence& seq) {
  if (seq.image_width > 0 && seq.image_height > 0)
    return {0, 0, 1.0 * seq.image_width, 1.0 * seq.image_height};
  Box b{std::numeric_limits<double>::max(), std::numeric_limits<double>::max(),
        std::numeric_limits<double>::lowest(), std::numeric_limits<double>::lowest()};
  for (size_t i = 0; i + 1 < seq.keypoints_2d.size(); i += 2) {
    b.x0 = std::min<double>(b.x0, seq.keypoints_2d[i]);
    b.x1 = std::max<double>(b.x1, seq.keypoints_2d[i]);
    b.y0 = std::min<double>(b.y0, seq.keypoints_2d[i + 1]);
    b.y1 = std::max<double>(b.y1, seq.keypoints_2d[i + 1]);
  }
  const double pad = 0.05 * std::max({b.x1 - b.x0, b.y1 - b.y0, 1e-6});
  return {b.x0 - pad, b.y0 - pad, b.x1 + pad, b.y1 + pad};
}

std::array<double, 2> map_2d(const Box& box, const RenderOptions& o, double x, double y) {
  const double pw = o.width / 2.0, top = kHeader * o.height, ph = o.height - top;
  const double margin = 0.04 * std::min(pw, ph);
  const double scale =
      std::min((pw - 2 * margin) / (box.x1 - box.x0), (ph - 2 * margin) / (box.y1 - box.y0));
  const double cx = pw / 2, cy = top + ph / 2;
  return {cx + (x - (box.x0 + box.x1) / 2) * scale, cy + (y - (box.y0 + box.y1) / 2) * scale};
}

double line_width(const RenderOptions& o) { return std::max(1.5, o.height / 200.0); }

void draw_dot(cairo_t* cr, const std::array<double, 2>& p, double r) {
  cairo_new_sub_path(cr);
  cairo_arc(cr, p[0], p[1], r, 0, 2 * kPi);
  cairo_fill(cr);
}

// The lines drawn between keypoints: each joint to its parent, or for COCO's keypoints (no tree)
// the limbs COCO's own visualisation draws.
std::vector<std::array<int, 2>> bones(const data::Skeleton& s) {
  std::vector<std::array<int, 2>> out;
  for (size_t j = 0; j < s.parents.size(); ++j) {
    if (s.parents[j] >= 0) out.push_back({static_cast<int>(j), s.parents[j]});
  }
  if (s.parents.empty() && s.name == "coco17") {
    out = {{0, 1},  {0, 2},  {1, 3},  {2, 4},   {5, 6},   {5, 7},   {7, 9},   {6, 8},
           {8, 10}, {5, 11}, {6, 12}, {11, 12}, {11, 13}, {13, 15}, {12, 14}, {14, 16}};
  } else if (s.parents.empty() && s.name == "mpii16") {
    const std::vector<int> tree = data::keypoint_tree(s);
    for (size_t j = 0; j < tree.size(); ++j) {
      if (tree[j] >= 0) out.push_back({static_cast<int>(j), tree[j]});
    }
  }
  return out;
}

// Bones and a dot per joint, through `at(joint)`.
template <class At>
void draw_skeleton(cairo_t* cr, const data::Skeleton& s, uint32_t color, double width, At at) {
  set_rgb(cr, color);
  cairo_set_line_width(cr, width);
  cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
  for (const auto& [j, k] : bones(s)) {
    const auto a = at(j), b = at(k);
    cairo_move_to(cr, a[0], a[1]);
    cairo_line_to(cr, b[0], b[1]);
  }
  cairo_stroke(cr);
  for (int j = 0; j < s.num_joints(); ++j) draw_dot(cr, at(j), width * 1.2);
}

double frame_mpjpe_mm(const RenderSequence& seq, int64_t row) {
  const int j = seq.joints->num_joints();
  double sum = 0;
  for (int k = 0; k < j; ++k) {
    const size_t i = (static_cast<size_t>(row) * j + k) * 3;
    const double dx = seq.predicted_3d[i] - seq.ground_truth_3d[i];
    const double dy = seq.predicted_3d[i + 1] - seq.ground_truth_3d[i + 1];
    const double dz = seq.predicted_3d[i + 2] - seq.ground_truth_3d[i + 2];
    sum += std::sqrt(dx * dx + dy * dy + dz * dz);
  }
  return 1000.0 * sum / j;
}

// The video under the 2D panel: frame first_frame + row as a cairo surface over its pixels.
class Background {
 public:
  explicit Background(const RenderSequence& seq) : seq_(seq) {
#ifdef V3D_HAVE_FFMPEG
    if (!seq.video.empty()) reader_ = std::make_unique<VideoReader>(seq.video);
#endif
  }
  // Null without a video.
  cairo_surface_t* frame(int64_t row) {
#ifdef V3D_HAVE_FFMPEG
    if (reader_ == nullptr) return nullptr;
    const int64_t index = seq_.first_frame + row;
    V3D_CHECK(reader_->read(index, pixels_), seq_.video << ": the video ends before frame " << index
                                                        << ", which " << seq_.title << " needs");
    surface_.reset(cairo_image_surface_create_for_data(
        reinterpret_cast<unsigned char*>(pixels_.data()), CAIRO_FORMAT_RGB24, reader_->width(),
        reader_->height(), reader_->width() * 4));
    V3D_CHECK(cairo_surface_status(surface_.get()) == CAIRO_STATUS_SUCCESS,
              seq_.video << ": cannot draw a " << reader_->width() << "x" << reader_->height()
                         << " frame");
    return surface_.get();
#else
    (void)row;
    return nullptr;
#endif
  }

 private:
  const RenderSequence& seq_;
#ifdef V3D_HAVE_FFMPEG
  std::unique_ptr<VideoReader> reader_;
#endif
  std::vector<uint32_t> pixels_;
  Surface surface_;
};

// Row `row` drawn into cr over (0, 0, width, height), over `video` (may be null) in the 2D panel.
void draw_frame(cairo_t* cr, const RenderSequence& seq, const RenderOptions& o, const Box& box,
                int64_t row, cairo_surface_t* video) {
  const double w = o.width, h = o.height, lw = line_width(o);
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_rectangle(cr, 0, 0, w, h);
  cairo_fill(cr);
  cairo_set_source_rgb(cr, 0.8, 0.8, 0.8);
  cairo_set_line_width(cr, 1);
  cairo_move_to(cr, w / 2, 0);
  cairo_line_to(cr, w / 2, h);
  cairo_stroke(cr);

  // Header: title and frame on the left, the legend and the frame's error on the right.
  const double text = std::max(9.0, h / 32);
  const double ty = kHeader * h / 2;
  select_font(cr, text, true);
  cairo_set_source_rgb(cr, 0, 0, 0);
  draw_text(cr, seq.title, 8, ty, 0, 0.5);
  select_font(cr, text);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "frame %lld", static_cast<long long>(seq.first_frame + row));
  draw_text(cr, buf, w / 2 - 8, ty, 1, 0.5);
  const bool gt = !seq.ground_truth_3d.empty();
  double x = w / 2 + 8;
  set_rgb(cr, kPredictedColor);
  draw_text(cr, "predicted", x, ty, 0, 0.5);
  x += text_width(cr, "predicted") + 12;
  if (gt) {
    set_rgb(cr, kGroundTruthColor);
    draw_text(cr, "ground truth", x, ty, 0, 0.5);
    std::snprintf(buf, sizeof(buf), "MPJPE %.1f mm", frame_mpjpe_mm(seq, row));
    cairo_set_source_rgb(cr, 0, 0, 0);
    draw_text(cr, buf, w - 8, ty, 1, 0.5);
  }

  // 2D panel.
  cairo_save(cr);
  cairo_rectangle(cr, 0, kHeader * h, w / 2, h - kHeader * h);
  cairo_clip(cr);
  if (video != nullptr) {
    const auto o0 = map_2d(box, o, 0, 0);
    const auto o1 = map_2d(box, o, seq.image_width, seq.image_height);
    cairo_save(cr);
    cairo_translate(cr, o0[0], o0[1]);
    cairo_scale(cr, (o1[0] - o0[0]) / cairo_image_surface_get_width(video),
                (o1[1] - o0[1]) / cairo_image_surface_get_height(video));
    cairo_set_source_surface(cr, video, 0, 0);
    cairo_paint_with_alpha(cr, 0.6);
    cairo_restore(cr);
  }
  const int kj = seq.keypoints->num_joints();
  const float* k2 = seq.keypoints_2d.data() + static_cast<size_t>(row) * kj * 2;
  draw_skeleton(cr, *seq.keypoints, kKeypointColor, lw,
                [&](int j) { return map_2d(box, o, k2[2 * j], k2[2 * j + 1]); });
  cairo_restore(cr);

  // 3D panel: ground truth under the prediction.
  cairo_save(cr);
  cairo_rectangle(cr, w / 2, kHeader * h, w / 2, h - kHeader * h);
  cairo_clip(cr);
  const int jj = seq.joints->num_joints();
  const auto at_3d = [&](const std::vector<float>& poses) {
    const float* p = poses.data() + static_cast<size_t>(row) * jj * 3;
    return [&o, p](int j) { return view_3d(o, {p[3 * j], p[3 * j + 1], p[3 * j + 2]}); };
  };
  if (gt) draw_skeleton(cr, *seq.joints, kGroundTruthColor, lw, at_3d(seq.ground_truth_3d));
  draw_skeleton(cr, *seq.joints, kPredictedColor, lw, at_3d(seq.predicted_3d));
  cairo_restore(cr);
}

// A width x height image surface with row `row` drawn.
Surface frame_surface(const RenderSequence& seq, const RenderOptions& o, const Box& box,
                      int64_t row, Background& background) {
  Surface surface(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, o.width, o.height));
  V3D_CHECK(cairo_surface_status(surface.get()) == CAIRO_STATUS_SUCCESS,
            "render: cannot allocate a " << o.width << "x" << o.height << " image");
  const Context cr(cairo_create(surface.get()));
  draw_frame(cr.get(), seq, o, box, row, background.frame(row));
  cairo_surface_flush(surface.get());
  return surface;
}

int64_t end_row(const RenderSequence& seq, const RenderOptions& o) {
  return o.end < 0 ? seq.frames : o.end;
}

std::string lower_extension(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

}  // namespace

void validate_render(const RenderSequence& seq, const RenderOptions& o) {
  V3D_CHECK(seq.keypoints != nullptr && seq.joints != nullptr, "render: no skeleton");
  V3D_CHECK(seq.frames >= 1, "render: the sequence has no frames");
  const size_t n = static_cast<size_t>(seq.frames);
  check_values(seq.keypoints_2d, n * seq.keypoints->num_joints() * 2, "keypoints_2d");
  check_values(seq.predicted_3d, n * seq.joints->num_joints() * 3, "predicted_3d");
  if (!seq.ground_truth_3d.empty()) {
    check_values(seq.ground_truth_3d, n * seq.joints->num_joints() * 3, "ground_truth_3d");
  }
  V3D_CHECK(seq.image_width >= 0 && seq.image_height >= 0, "render: negative image size");
  if (!seq.video.empty()) {
    V3D_CHECK(
        seq.image_width > 0 && seq.image_height > 0,
        "render: --video " << seq.video
                           << " needs 2D keypoints in pixels of a known image size (--input)");
    V3D_CHECK(video_supported(), "render: --video " << seq.video
                                                    << ": this build of v3d cannot read videos "
                                                       "(FFmpeg's development files were not "
                                                       "found when it was configured)");
  }
  V3D_CHECK(
      o.width >= 64 && o.width <= 8192 && o.height >= 64 && o.height <= 8192 && o.width % 2 == 0 &&
          o.height % 2 == 0,
      "render: --size " << o.width << "x" << o.height << " must be even numbers in [64, 8192]");
  V3D_CHECK(std::isfinite(o.fps) && o.fps > 0 && o.fps <= 1000,
            "render: --fps " << o.fps << " must be in (0, 1000]");
  V3D_CHECK(std::isfinite(o.azimuth), "render: --azimuth must be finite");
  V3D_CHECK(std::isfinite(o.elevation) && std::abs(o.elevation) <= 90,
            "render: --elevation " << o.elevation << " must be in [-90, 90]");
  V3D_CHECK(std::isfinite(o.limit) && o.limit > 0,
            "render: --limit " << o.limit << " must be positive");
  const int64_t end = end_row(seq, o);
  V3D_CHECK(o.begin >= 0 && o.begin < end && end <= seq.frames,
            "render: --frames " << o.begin << ":" << end << " is not a non-empty range of the "
                                << seq.frames << " frames");
}

RenderSequence render_sequence_of(const data::Sequence& seq, std::vector<float> predicted_3d,
                                  const data::Skeleton& keypoints, const data::Skeleton& joints) {
  RenderSequence r;
  r.title = seq.subject + "/" + seq.action + " camera " + std::to_string(seq.camera);
  r.frames = seq.frames;
  r.keypoints_2d = seq.poses_2d;
  r.keypoints = &keypoints;
  r.predicted_3d = std::move(predicted_3d);
  r.ground_truth_3d = seq.poses_3d;
  r.joints = &joints;
  return r;
}

double render_mpjpe_mm(const RenderSequence& seq) {
  validate_render(seq, RenderOptions{});
  V3D_CHECK(!seq.ground_truth_3d.empty(), "render: " << seq.title << " has no ground truth");
  double sum = 0;
  for (int64_t row = 0; row < seq.frames; ++row) sum += frame_mpjpe_mm(seq, row);
  return sum / static_cast<double>(seq.frames);
}

std::array<double, 2> view_3d(const RenderOptions& o, const std::array<float, 3>& p) {
  const double az = o.azimuth * kPi / 180, el = o.elevation * kPi / 180;
  const double across = p[0] * std::cos(az) - p[2] * std::sin(az);
  const double depth = p[0] * std::sin(az) + p[2] * std::cos(az);
  const double up = -p[1] * std::cos(el) + depth * std::sin(el);
  const double pw = o.width / 2.0, top = kHeader * o.height, ph = o.height - top;
  const double scale = 0.5 * std::min(pw, ph) / o.limit;
  return {pw + pw / 2 + across * scale, top + ph / 2 - up * scale};
}

std::array<double, 2> view_2d(const RenderSequence& seq, const RenderOptions& o, float x, float y) {
  return map_2d(box_2d(seq), o, x, y);
}

std::vector<uint8_t> render_frame_rgb(const RenderSequence& seq, const RenderOptions& o,
                                      int64_t row) {
  validate_render(seq, o);
  V3D_CHECK(row >= 0 && row < seq.frames, "render: row " << row << " out of range");
  Background background(seq);
  const Surface s = frame_surface(seq, o, box_2d(seq), row, background);
  return surface_rgb(s.get());
}

bool video_supported() {
#ifdef V3D_HAVE_FFMPEG
  return true;
#else
  return false;
#endif
}

void render_video(const RenderSequence& seq, const RenderOptions& o, const std::string& path,
                  const std::function<void(int64_t done, int64_t total)>& on_frame) {
  const std::string ext = lower_extension(path);
  V3D_CHECK(ext == ".mp4" || ext == ".gif",
            path << ": a video's extension must be .mp4 or .gif, got '" << ext << "'");
  validate_render(seq, o);
#ifdef V3D_HAVE_FFMPEG
  const Box box = box_2d(seq);
  const int64_t end = end_row(seq, o);
  data::write_atomically(path, [&](const std::string& file) {
    VideoWriter video(path, file, ext == ".gif" ? VideoFormat::kGif : VideoFormat::kMp4, o.width,
                      o.height, o.fps);
    Background background(seq);
    for (int64_t row = o.begin; row < end; ++row) {
      const Surface s = frame_surface(seq, o, box, row, background);
      video.add_frame(cairo_image_surface_get_data(s.get()),
                      cairo_image_surface_get_stride(s.get()));
      if (on_frame) on_frame(row - o.begin + 1, end - o.begin);
    }
    video.finish();
  });
#else
  (void)on_frame;
  throw Error(path +
              ": this build of v3d cannot write videos (FFmpeg's development files were "
              "not found when it was configured; scripts/setup installs them)");
#endif
}

void render_contact_sheet(const RenderSequence& seq, const RenderOptions& o,
                          const std::vector<int64_t>& rows, int columns, double scale,
                          const std::string& path) {
  validate_render(seq, o);
  V3D_CHECK(lower_extension(path) == ".png", path << ": a contact sheet is a .png file");
  V3D_CHECK(!rows.empty(), path << ": no frames chosen for the contact sheet");
  for (const int64_t r : rows) {
    V3D_CHECK(r >= 0 && r < seq.frames,
              path << ": frame row " << r << " is outside the sequence's " << seq.frames);
  }
  V3D_CHECK(columns >= 1, path << ": columns " << columns << " must be >= 1");
  V3D_CHECK(std::isfinite(scale) && scale > 0 && scale <= 4,
            path << ": scale " << scale << " must be in (0, 4]");
  const int cols = std::min<int>(columns, static_cast<int>(rows.size()));
  const int lines = static_cast<int>((rows.size() + cols - 1) / cols);
  const int cw = static_cast<int>(std::lround(o.width * scale));
  const int ch = static_cast<int>(std::lround(o.height * scale));
  V3D_CHECK(static_cast<int64_t>(cw) * cols <= 32767 && static_cast<int64_t>(ch) * lines <= 32767,
            path << ": the sheet would be " << cw * cols << "x" << ch * lines
                 << " pixels, more than cairo's 32767");
  const Surface sheet(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, cw * cols, ch * lines));
  V3D_CHECK(cairo_surface_status(sheet.get()) == CAIRO_STATUS_SUCCESS,
            path << ": cannot allocate the sheet");
  const Context cr(cairo_create(sheet.get()));
  cairo_set_source_rgb(cr.get(), 1, 1, 1);
  cairo_paint(cr.get());
  const Box box = box_2d(seq);
  Background background(seq);
  for (size_t i = 0; i < rows.size(); ++i) {
    cairo_save(cr.get());
    cairo_translate(cr.get(), static_cast<double>(i % cols) * cw,
                    static_cast<double>(i / cols) * ch);
    cairo_scale(cr.get(), scale, scale);
    draw_frame(cr.get(), seq, o, box, rows[i], background.frame(rows[i]));
    cairo_restore(cr.get());
  }
  write_png_atomically(sheet.get(), path, "render");
}

}  // namespace v3d::report
