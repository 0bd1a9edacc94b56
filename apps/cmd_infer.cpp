// v3d infer: 2D keypoints (a v3d HDF5 pose file or a detector's COCO-style JSON) through a
// checkpoint's model to 3D poses (HDF5 or CSV): data/infer_input.h reads, trainer/infer.h infers,
// report/infer_output.h writes.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "apps/app_util.h"
#include "apps/commands.h"
#include "kernels/common.h"
#include "report/infer_output.h"
#include "runtime/device.h"
#include "runtime/temporal_conv.h"
#include "trainer/checkpoint.h"
#include "trainer/config.h"
#include "trainer/infer.h"

namespace v3d::apps {

namespace {

struct InferArgs {
  std::string blas;  // --blas
  std::string precision = "fp32";
  std::string checkpoint, input, format, res = "1000x1002", out, device;
  int camera = 0;
  bool no_flip = false;
  bool ltb = false;
  std::vector<std::string> overrides;
  data::CocoJsonOptions coco;
};

void run_infer(const InferArgs& a) {
  const std::string format = input_format(a.input, a.format);
  std::string out = a.out;
  if (out.empty()) {
    std::filesystem::path p = std::filesystem::path(a.input).filename();
    p.replace_extension(".3d.h5");
    out = p.string();
  }
  const std::string out_ext = lower_extension(out);
  const bool csv = out_ext == ".csv";
  if (!csv && out_ext != ".h5" && out_ext != ".hdf5")
    throw Error("--out: " + out + ": the extension must be .h5, .hdf5 or .csv");
  remove_stale_temporaries_beside(out);

  const RestoredModel m =
      restore_model(a.checkpoint, with_device(a.overrides, a.device), std::nullopt);
  const PrecisionScope precision(a.precision, *m.model);
  const ops::ConvBackendGuard conv_backend(m.config.model.conv_backend);
  const ops::ConvTileGuard conv_tile(m.config.model.conv_tile);
  const LtbOptions ltb = ltb_options(m.config.ltb);
  const bool use_ltb = a.ltb || m.config.ltb.enabled;
  const std::vector<InferInput> inputs =
      read_inputs(a.input, format, a.camera, a.res, m.keypoints->name == "coco17", a.coco);
  for (const auto& in : inputs) check_infer_layout(m, in, a.input);

  std::printf(
      "Receptive field: %lld frames; %s keypoints; flip TTA %s; long-term bank %s; precision %s\n",
      static_cast<long long>(m.model->receptive_field()), m.keypoints->name.c_str(),
      a.no_flip ? "off" : "on", use_ltb ? "on" : "off", precision.name().c_str());
  std::fflush(stdout);
  const auto t0 = std::chrono::steady_clock::now();
  LtbStats stats;
  const TemporalModel::FoldedWeights folded = m.model->fold_weights();  // once for every input
  // All inputs together: one dilated pass per group of inputs, one bank launch.
  const std::vector<InferResult> results = infer_results(
      inputs, infer_3d(*m.model, inputs, !a.no_flip, use_ltb ? &ltb : nullptr, &stats, &folded),
      m.joints->num_joints());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (csv) {
    write_infer_csv(out, results);
  } else {
    write_infer_h5(out, results);
  }
  int64_t frames = 0;
  for (const auto& r : results) frames += r.frames;
  std::printf("Inferred %lld frames (%zu sequences) in %.2f s; wrote %s\n",
              static_cast<long long>(frames), results.size(), secs, out.c_str());
  if (use_ltb)
    std::printf(
        "Long-term bank: %lld of %lld frames re-predicted from fused windows, %.1f bank "
        "entries per sequence\n",
        static_cast<long long>(stats.fused_frames), static_cast<long long>(stats.frames),
        static_cast<double>(stats.bank_entries) /
            static_cast<double>(std::max<int64_t>(stats.sequences, 1)));
}

}  // namespace

void add_infer_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "infer",
      "Lift 2D keypoints to 3D poses with a trained checkpoint: camera-space, root-relative "
      "poses in metres, one per input frame (whole-sequence model, edge-padded)");
  cmd->footer(
      "Inputs: --format h5 reads a v3d pose file (every subject/action seen by --camera: its "
      "stored 2D, or the 3D projected through that camera); --format coco-json reads a JSON "
      "array of {\"frame\" or \"image_id\": N, \"keypoints\": [x1, y1, score1, ... 17 COCO "
      "keypoints], optional \"track_id\"} objects, any number of people per frame, pixels of a "
      "--res image, and needs a checkpoint trained with data.keypoints: pseudo_coco. Without "
      "track_id, a file with several people in a frame is tracked by a greedy IoU tracker "
      "(--track-iou, --track-gap); each track is "
      "lifted separately, from its first frame to its last, keypoints scored below --min-score "
      "and missed frames interpolated linearly from the track's nearest valid frames; --format "
      "vp3d-npz reads VideoPose3D's custom-dataset data_2d_custom_<name>.npz (one sequence per "
      "video at its own size, through scripts/convert_npz.py). Outputs: "
      ".h5 (/<name>/positions_3d (N, 17, 3); a JSON track's name is <file stem>/<track id>) or "
      ".csv (name,frame,joint,x,y,z).");
  auto args = std::make_shared<InferArgs>();
  cmd->add_option("--checkpoint", args->checkpoint, "Checkpoint file (.h5) with its config")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--input", args->input,
                  "2D keypoints: a v3d pose file (.h5), COCO JSON or a VideoPose3D custom npz")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option(
      "--format", args->format,
      "h5, coco-json or vp3d-npz (default: coco-json for .json inputs, vp3d-npz for .npz, "
      "else h5)");
  cmd->add_option("--camera", args->camera, "Camera index of an HDF5 input")->capture_default_str();
  cmd->add_option("--res", args->res, "Image size WIDTHxHEIGHT of COCO JSON pixels")
      ->capture_default_str();
  add_coco_options(*cmd, args->coco);
  cmd->add_option("--out", args->out,
                  "Output file, .h5 or .csv (default: <input stem>.3d.h5 in the current "
                  "directory)");
  cmd->add_flag("--no-flip", args->no_flip, "Turn off test-time flip augmentation");
  cmd->add_flag("--ltb", args->ltb,
                "Fuse long-term poses into each window (the checkpoint config's ltb.* settings; "
                "docs/long-term-bank.md)");
  cmd->add_option("--set", args->overrides,
                  "Override of the checkpoint's config, key.sub=value (repeatable), e.g. "
                  "ltb.capacity=40 or ltb.mode=online");
  add_device_option(*cmd, args->device);
  add_blas_option(*cmd, args->blas);
  add_precision_option(*cmd, args->precision);
  cmd->callback([args] {
    apply_blas(args->blas);
    run_infer(*args);
  });
}

}  // namespace v3d::apps
