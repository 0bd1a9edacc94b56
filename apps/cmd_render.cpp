// v3d render: one sequence through a checkpoint's model, drawn as a video (MP4 or GIF) or a PNG
// contact sheet (report/render.h): the checkpoint's test sequences with their ground truth, or a
// 2D input file as `v3d infer` reads it.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "apps/app_util.h"
#include "apps/commands.h"
#include "data/dataset.h"
#include "data/prepare.h"
#include "kernels/common.h"
#include "report/render.h"
#include "runtime/temporal_conv.h"
#include "trainer/evaluate.h"
#include "trainer/infer.h"
#include "trainer/predict.h"
#include "trainer/progress.h"
#include "trainer/restore.h"

namespace v3d::apps {

namespace {

struct RenderArgs {
  std::string checkpoint, input, format, res = "1000x1002", sequence, out, device, frames, video;
  std::string size = "960x480";
  int camera = -1;
  bool no_flip = false;
  std::vector<std::string> overrides;
  std::vector<int64_t> sheet_frames;
  int columns = 4;
  double scale = 0.5;
  report::RenderOptions options;
  data::CocoJsonOptions coco;
};

// "A:B" (rows A to B-1), "A:" (to the last) or "" (every row).
void parse_frames(const std::string& text, report::RenderOptions& o) {
  if (text.empty()) return;
  const size_t colon = text.find(':');
  try {
    V3D_CHECK(colon != std::string::npos, "");
    size_t used = 0;
    o.begin = std::stoll(text.substr(0, colon), &used);
    V3D_CHECK(used == colon, "");
    const std::string end = text.substr(colon + 1);
    o.end = end.empty() ? -1 : std::stoll(end, &used);
    V3D_CHECK(end.empty() || used == end.size(), "");
  } catch (const std::exception&) {
    throw Error("--frames: '" + text + "' must be A:B or A: (rows of the sequence)");
  }
}

// The checkpoint's test sequence named `name` ("S9/Walking", optionally with --camera; the first
// test sequence when empty), predicted by the model.
report::RenderSequence test_sequence(const RenderArgs& a, RestoredModel& m) {
  const std::vector<data::Sequence> seqs = load_test_sequences(m.config);
  const data::Sequence* found = nullptr;
  std::string names;
  for (const auto& s : seqs) {
    const std::string name = s.subject + "/" + s.action;
    if (names.size() < 400) names += (names.empty() ? "" : ", ") + name;
    if ((a.sequence.empty() || name == a.sequence) && (a.camera < 0 || s.camera == a.camera)) {
      found = &s;
      break;
    }
  }
  if (found == nullptr) {
    throw Error("--sequence: no test sequence '" + a.sequence + "'" +
                (a.camera >= 0 ? " seen by camera " + std::to_string(a.camera) : "") +
                " in the checkpoint's data (test sequences: " + names + ")");
  }
  std::printf("Rendering %s/%s camera %d (%lld frames, ground truth in blue)\n",
              found->subject.c_str(), found->action.c_str(), found->camera,
              static_cast<long long>(found->frames));
  std::vector<float> pred = predict_sequence(*m.model, *found, *m.keypoints, *m.joints,
                                             !a.no_flip && m.config.eval.flip_tta);
  return report::render_sequence_of(*found, std::move(pred), *m.keypoints, *m.joints);
}

// The input of a 2D file named `a.sequence` (its name or track; the first when empty).
report::RenderSequence input_sequence(const RenderArgs& a, RestoredModel& m) {
  const std::string format = input_format(a.input, a.format);
  const std::vector<data::InferInput> inputs = read_inputs(
      a.input, format, a.camera < 0 ? 0 : a.camera, a.res, m.keypoints->name == "coco17", a.coco);
  const data::InferInput* found = nullptr;
  std::string names;
  for (const auto& in : inputs) {
    if (names.size() < 400) names += (names.empty() ? "" : ", ") + in.name;
    if (a.sequence.empty() || in.name == a.sequence || in.track == a.sequence) {
      found = &in;
      break;
    }
  }
  if (found == nullptr) {
    throw Error("--sequence: " + a.input + " has no input or track '" + a.sequence +
                "' (inputs: " + names + ")");
  }
  check_infer_layout(m, *found, a.input);
  std::printf("Rendering %s (%lld frames from frame %lld)\n", found->name.c_str(),
              static_cast<long long>(found->frames), static_cast<long long>(found->first_frame));
  report::RenderSequence r;
  r.title = found->name;
  r.frames = found->frames;
  r.first_frame = found->first_frame;
  r.keypoints_2d = found->keypoints_px;
  r.image_width = found->res_w;
  r.image_height = found->res_h;
  r.keypoints = m.keypoints;
  r.joints = m.joints;
  r.predicted_3d = infer_3d(*m.model, *found, !a.no_flip);
  r.video = a.video;
  // A v3d pose file's 3D is the ground truth: prepared as its 2D was (same camera, same frames).
  if (format == "h5") {
    const size_t slash = found->name.find('/');
    data::ReadFilter filter;
    filter.subjects = {found->name.substr(0, slash)};
    filter.actions = {found->name.substr(slash + 1)};
    const data::Dataset ds = data::read_dataset(a.input, filter);
    data::PrepareSpec spec;
    spec.subjects = filter.subjects;
    spec.actions = filter.actions;
    spec.cameras = {a.camera < 0 ? 0 : a.camera};
    spec.keypoints_2d = ds.keypoints_2d;
    for (const data::Sequence& seq : data::prepare_sequences(ds, spec)) {
      if (seq.action == filter.actions[0] && seq.frames == r.frames && !seq.poses_3d.empty()) {
        r.ground_truth_3d = seq.poses_3d;
      }
    }
    if (!r.ground_truth_3d.empty()) std::printf("Ground truth from %s, in blue\n", a.input.c_str());
  }
  return r;
}

// Eight rows spread evenly over the options' range.
std::vector<int64_t> default_sheet_rows(const report::RenderSequence& s,
                                        const report::RenderOptions& o) {
  const int64_t end = o.end < 0 ? s.frames : o.end;
  const int64_t n = std::min<int64_t>(8, end - o.begin);
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < n; ++i)
    rows.push_back(o.begin + i * (end - o.begin - 1) / std::max<int64_t>(n - 1, 1));
  return rows;
}

void run_render(RenderArgs a) {
  const auto [w, h] = parse_res(a.size);
  a.options.width = w;
  a.options.height = h;
  parse_frames(a.frames, a.options);
  const std::string ext = lower_extension(a.out);
  if (ext != ".mp4" && ext != ".gif" && ext != ".png") {
    throw Error("--out: " + a.out + ": the extension must be .mp4, .gif or .png (contact sheet)");
  }
  if (ext != ".png" && !report::video_supported()) {
    throw Error("--out: " + a.out +
                ": this build of v3d cannot write videos (FFmpeg's development files were not "
                "found when it was configured); a .png contact sheet works");
  }
  if (!a.video.empty() && a.input.empty()) {
    throw Error("--video: needs --input, the 2D keypoints of that video in its pixels");
  }
  remove_stale_temporaries_beside(a.out);
  RestoredModel m = restore_model(a.checkpoint, with_device(a.overrides, a.device), std::nullopt);
  const ops::ConvBackendGuard conv_backend(m.config.model.conv_backend);
  const ops::ConvTileGuard conv_tile(m.config.model.conv_tile);
  const report::RenderSequence seq = a.input.empty() ? test_sequence(a, m) : input_sequence(a, m);
  report::validate_render(seq, a.options);
  if (ext == ".png") {
    const std::vector<int64_t> rows =
        a.sheet_frames.empty() ? default_sheet_rows(seq, a.options) : a.sheet_frames;
    report::render_contact_sheet(seq, a.options, rows, a.columns, a.scale, a.out);
    std::printf("Wrote %s (%zu frames)\n", a.out.c_str(), rows.size());
    return;
  }
  const int64_t total = (a.options.end < 0 ? seq.frames : a.options.end) - a.options.begin;
  Progress progress("render frames", total);
  report::render_video(seq, a.options, a.out,
                       [&](int64_t done, int64_t) { progress.update(done); });
  progress.finish();
  std::printf("Wrote %s (%lld frames at %g fps, %dx%d)\n", a.out.c_str(),
              static_cast<long long>(total), a.options.fps, a.options.width, a.options.height);
}

}  // namespace

void add_render_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "render",
      "Draw a sequence lifted by a checkpoint: the 2D input on the left, the predicted 3D skeleton "
      "on the right (and the ground truth, with each frame's MPJPE, when the sequence has it), as "
      "an MP4 or GIF video or a PNG contact sheet of chosen frames");
  cmd->footer(
      "Without --input, the sequence is one of the checkpoint's test sequences (its config's data "
      "and data.test_subjects), named by --sequence SUBJECT/ACTION and --camera (default: the "
      "first). With --input, a 2D file as `v3d infer` reads it (--format, --res, --camera and the "
      "COCO tracking options alike), the input named by --sequence (its name or track id; "
      "default: the first). The 3D panel is camera space seen from --azimuth degrees around the "
      "vertical (0: the filming camera's view) and --elevation above the horizon.");
  auto args = std::make_shared<RenderArgs>();
  cmd->add_option("--checkpoint", args->checkpoint, "Checkpoint file (.h5) with its config")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", args->out, "Output: .mp4 (H.264), .gif, or .png (contact sheet)")
      ->required();
  cmd->add_option("--input", args->input, "2D keypoint file (as v3d infer); default: test data")
      ->check(CLI::ExistingFile);
  cmd->add_option("--format", args->format, "Format of --input: h5, coco-json or vp3d-npz");
  cmd->add_option("--video", args->video,
                  "The video of --input: its frame N is drawn under the keypoints of frame N")
      ->check(CLI::ExistingFile);
  cmd->add_option("--res", args->res, "Image size WIDTHxHEIGHT of COCO JSON pixels")
      ->capture_default_str();
  add_coco_options(*cmd, args->coco);
  cmd->add_option("--sequence", args->sequence,
                  "Which sequence: SUBJECT/ACTION of the test data, or an input's name or track");
  cmd->add_option("--camera", args->camera, "Camera index (test data or an HDF5 input)");
  cmd->add_option("--size", args->size, "Frame size WIDTHxHEIGHT in pixels (even numbers)")
      ->capture_default_str();
  cmd->add_option("--fps", args->options.fps, "Frames per second of a video")
      ->capture_default_str();
  cmd->add_option("--azimuth", args->options.azimuth, "3D view: degrees around the vertical")
      ->capture_default_str();
  cmd->add_option("--elevation", args->options.elevation, "3D view: degrees above the horizon")
      ->capture_default_str();
  cmd->add_option("--limit", args->options.limit,
                  "3D view: metres from the root to the panel's edge")
      ->capture_default_str();
  cmd->add_option("--frames", args->frames, "Rows A:B of the sequence (A: to the end)");
  cmd->add_option("--sheet-frames", args->sheet_frames,
                  "Rows of a .png contact sheet (default: 8 spread over --frames)")
      ->delimiter(',');
  cmd->add_option("--columns", args->columns, "Frames per row of a contact sheet")
      ->capture_default_str();
  cmd->add_option("--scale", args->scale, "Size of a contact sheet's frames against --size")
      ->capture_default_str();
  cmd->add_flag("--no-flip", args->no_flip, "Turn off test-time flip augmentation");
  cmd->add_option("--set", args->overrides, "Config override key.sub=value (repeatable)");
  add_device_option(*cmd, args->device);
  cmd->callback([args] { run_render(*args); });
}

}  // namespace v3d::apps
