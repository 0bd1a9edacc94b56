// Animations and stills of a lifted sequence (`v3d render`, `v3d eval --render N`): each frame
// is one image, the 2D input on the left and the 3D skeleton on the right.
//
//   2D panel  the keypoints of the frame (bones where the layout has parents, COCO's limbs for its
//             keypoints, a dot per keypoint),
//             in the image box (0..width, 0..height) when the input's image size is known, else in
//             the box of all the sequence's keypoints; y points down, as in the image. With a
//             video, its frame under them, faded (60% opacity over white).
//   3D panel  the predicted pose (red) and, when the sequence has it, the ground truth (blue), in
//             camera space (x right, y down, z forward), root-relative, seen orthographically from
//             `azimuth` degrees around the vertical axis (0: from the camera that filmed the 2D)
//             and `elevation` degrees above the horizon; `limit` metres from the root fill half
//             the panel.
//   text      the sequence's title, the frame number (first_frame + row) and, with ground truth,
//             the frame's MPJPE in mm.
//
// Videos: MP4 (H.264, yuv420p) or GIF (RGB 3-3-2 palette), by the file's extension, through
// FFmpeg's libraries (report/video.h; absent from a build without them: video_supported()).
// Stills: a PNG contact sheet of chosen frames, `columns` frames per row. Every file is written
// atomically (data/atomic_file.h); errors are one v3d::Error line naming the file or the option.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/prepare.h"
#include "data/skeleton.h"

namespace v3d::report {

struct RenderSequence {
  std::string title;
  int64_t frames = 0;
  int64_t first_frame = 0;                // the frame number of row 0
  std::vector<float> keypoints_2d;        // (frames, keypoints->num_joints(), 2)
  int image_width = 0, image_height = 0;  // the 2D's image size in pixels; 0: unknown
  const data::Skeleton* keypoints = &data::Skeleton::h36m17();
  std::vector<float> predicted_3d;     // (frames, joints->num_joints(), 3), metres
  std::vector<float> ground_truth_3d;  // the same shape, or empty
  const data::Skeleton* joints = &data::Skeleton::h36m17();
  // A video whose frame first_frame + row (0 = its first) is drawn under row's 2D keypoints,
  // scaled to the image size (which must be known); "" for none. Needs video_supported().
  std::string video;
};

// A prepared sequence (normalised 2D, camera-space root-relative 3D as ground truth when it has
// 3D) with its prediction; titled "<subject>/<action> camera <k>".
RenderSequence render_sequence_of(const data::Sequence& seq, std::vector<float> predicted_3d,
                                  const data::Skeleton& keypoints, const data::Skeleton& joints);

// The mean over frames and joints of the distance between prediction and ground truth, in mm
// (the sequence's MPJPE, as the frames' text shows it per frame); throws without ground truth.
double render_mpjpe_mm(const RenderSequence& seq);

struct RenderOptions {
  int width = 960, height = 480;  // pixels of a frame, both even, in [64, 8192]
  double fps = 50;                // frames per second of a video, in (0, 1000]
  double azimuth = 0;             // degrees around the vertical axis
  double elevation = 15;          // degrees above the horizon, in [-90, 90]
  double limit = 1.0;             // metres from the root to the panel's edge, > 0
  int64_t begin = 0, end = -1;    // rows [begin, end) of the sequence; end -1: to the last
};

// Throws naming the field: a shape that does not match frames and the skeletons, non-finite
// values, frames < 1, options out of range, an empty frame range.
void validate_render(const RenderSequence& seq, const RenderOptions& options);

// Where the 3D panel draws point p (camera space, metres, relative to the root), in pixels of the
// frame. The panel is the right half; its centre is the root.
std::array<double, 2> view_3d(const RenderOptions& options, const std::array<float, 3>& p);
// Where the 2D panel draws keypoint (x, y) of `seq` (the left half).
std::array<double, 2> view_2d(const RenderSequence& seq, const RenderOptions& options, float x,
                              float y);

// Row `row` of the sequence as a width x height RGB image (row-major, 3 bytes a pixel).
std::vector<uint8_t> render_frame_rgb(const RenderSequence& seq, const RenderOptions& options,
                                      int64_t row);

// The rows [begin, end) as a video; the format from the extension (.mp4 or .gif).
// `on_frame` (optional) is called after each frame with the count done (progress).
void render_video(const RenderSequence& seq, const RenderOptions& options, const std::string& path,
                  const std::function<void(int64_t done, int64_t total)>& on_frame = {});
// Whether this build can write videos (FFmpeg's libraries were found when it was configured).
bool video_supported();

// The given rows side by side, `columns` per row of the sheet, each frame at options' size
// scaled by `scale`, as a PNG.
void render_contact_sheet(const RenderSequence& seq, const RenderOptions& options,
                          const std::vector<int64_t>& rows, int columns, double scale,
                          const std::string& path);

// Colours of the drawing (0xRRGGBB), for tests that look for the skeleton's pixels.
constexpr uint32_t kPredictedColor = 0xd62728;
constexpr uint32_t kGroundTruthColor = 0x1f77b4;
constexpr uint32_t kKeypointColor = 0x2ca02c;

}  // namespace v3d::report
