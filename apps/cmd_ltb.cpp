// v3d ltb: the long-term pose bank and the fused windows of 2D sequences, written to HDF5 for
// inspection and independent checking (trainer/ltb.h, docs/long-term-bank.md).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "apps/app_util.h"
#include "apps/commands.h"
#include "kernels/common.h"
#include "report/ltb_output.h"
#include "runtime/device.h"
#include "trainer/checkpoint.h"
#include "trainer/config.h"
#include "trainer/infer.h"
#include "trainer/ltb.h"
#include "trainer/restore.h"

namespace v3d::apps {

namespace {

struct LtbArgs {
  std::string blas;  // --blas
  std::string checkpoint, input, format, res = "1000x1002", out = "ltb.h5", device;
  std::vector<std::string> overrides;
  data::CocoJsonOptions coco;
  int camera = 0;
  int receptive_field = 0;
};

void run_ltb(const LtbArgs& a) {
  const std::string format = input_format(a.input, a.format);
  // The settings: the checkpoint's config (or the defaults) with --set applied.
  ExperimentConfig cfg;
  if (!a.checkpoint.empty()) {
    cfg = restore_model(a.checkpoint, with_device(a.overrides, a.device)).config;
  } else {
    cfg = parse_config("{}", "--set", with_device(a.overrides, a.device));
  }
  LtbOptions options = ltb_options(cfg.ltb);
  options.causal = cfg.model.causal;  // a causal model's windows end at their frame
  const int64_t rf = a.receptive_field != 0 ? a.receptive_field : cfg.model.receptive_field();
  if (rf < 1 || rf % 2 == 0)
    throw Error("--receptive-field: must be odd and >= 1, got " + std::to_string(rf));
  const std::vector<InferInput> inputs = read_inputs(
      a.input, format, a.camera, a.res, cfg.data.keypoints == Keypoints::kPseudoCoco, a.coco);
  int64_t frames = 0;
  for (const auto& in : inputs) frames += in.frames;
  std::printf(
      "Long-term bank over %lld frames (%zu sequences): capacity %d, threshold %.2f, "
      "fusion threshold %.2f, window %lld frames, %s, %s centre\n",
      static_cast<long long>(frames), inputs.size(), options.capacity,
      static_cast<double>(options.threshold), static_cast<double>(options.fusion_threshold),
      static_cast<long long>(rf), options.online ? "online" : "offline",
      options.center == kernels::PoseCenter::kRoot ? "root" : "centroid");
  std::fflush(stdout);
  const auto t0 = std::chrono::steady_clock::now();
  const LtbPlan plan = plan_ltb_for_inputs(inputs, (rf - 1) / 2, options, parse_device(cfg.device));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::vector<std::string> names;
  for (const auto& in : inputs) names.push_back(in.name);
  remove_stale_temporaries_beside(a.out);
  write_ltb_h5(a.out, names, plan, options);
  double bank_entries = 0;
  for (int32_t n : plan.bank_size) bank_entries += n;
  std::printf("%lld of %lld windows fused, %.1f bank entries per sequence, in %.3f s; wrote %s\n",
              static_cast<long long>(plan.fused_frames), static_cast<long long>(frames),
              bank_entries / static_cast<double>(std::max<size_t>(plan.bank_size.size(), 1)), secs,
              a.out.c_str());
}

}  // namespace

void add_ltb_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "ltb",
      "Build the long-term pose bank of 2D sequences and fuse their windows; write the bank "
      "after every frame, the final bank with its accumulated similarities and the (T, 2r+1) "
      "index map of the fused windows to HDF5 (docs/long-term-bank.md)");
  cmd->footer(
      "Inputs as `v3d infer` (a v3d pose file or COCO-style JSON). Settings come from the "
      "checkpoint's config when --checkpoint is given, else the defaults (ltb.capacity 80, "
      "ltb.threshold 0.7, ...), with --set ltb.<key>=<value> applied; the window is the model's "
      "receptive field unless --receptive-field is given.");
  auto args = std::make_shared<LtbArgs>();
  cmd->add_option("--input", args->input,
                  "2D keypoints: a v3d pose file (.h5), COCO JSON or a VideoPose3D custom npz")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--checkpoint", args->checkpoint,
                  "Checkpoint whose config gives the receptive field and ltb settings")
      ->check(CLI::ExistingFile);
  cmd->add_option("--set", args->overrides,
                  "Config override key.sub=value (repeatable), e.g. ltb.capacity=40");
  cmd->add_option("--receptive-field", args->receptive_field,
                  "Window length 2r+1 (default: from model.filter_widths, 27)");
  cmd->add_option(
      "--format", args->format,
      "h5, coco-json or vp3d-npz (default: coco-json for .json inputs, vp3d-npz for .npz, "
      "else h5)");
  cmd->add_option("--camera", args->camera, "Camera index of an HDF5 input")->capture_default_str();
  cmd->add_option("--res", args->res, "Image size WIDTHxHEIGHT of COCO JSON pixels")
      ->capture_default_str();
  add_coco_options(*cmd, args->coco);
  cmd->add_option("--out", args->out, "Output HDF5 file")->capture_default_str();
  add_device_option(*cmd, args->device);
  add_blas_option(*cmd, args->blas);
  cmd->callback([args] {
    apply_blas(args->blas);
    run_ltb(*args);
  });
}

}  // namespace v3d::apps
