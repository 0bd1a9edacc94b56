// v3d export: a checkpoint's folded inference model as an ONNX file (report/onnx_export.h).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "apps/app_util.h"
#include "apps/commands.h"
#include "report/onnx_export.h"
#include "trainer/restore.h"

namespace v3d::apps {

namespace {

struct ExportArgs {
  std::string checkpoint, onnx, form = "sequence";
  std::vector<std::string> overrides;
};

void run_export(const ExportArgs& a) {
  remove_stale_temporaries_beside(a.onnx);
  const RestoredModel m = restore_model(a.checkpoint, a.overrides, Device::cpu());
  OnnxExport options;
  options.form = a.form == "window" ? OnnxForm::kWindow : OnnxForm::kSequence;
  options.joints_in = m.keypoints->num_joints();
  options.joints_out = m.joints->num_joints();
  options.producer_version = V3D_VERSION;
  const FoldedWeights folded = m.model->fold_weights(false);
  write_onnx(a.onnx, folded, options);
  const long long rf = static_cast<long long>(m.model->receptive_field());
  std::printf("Wrote %s: %s form, receptive field %lld frames%s, %d %s keypoints -> %d joints\n",
              a.onnx.c_str(), a.form.c_str(), rf, folded.causal ? " (causal)" : "",
              options.joints_in, m.keypoints->name.c_str(), options.joints_out);
  if (options.form == OnnxForm::kSequence)
    std::printf("  keypoints (T, %d, 2) -> poses_3d (T, %d, 3), edge-padded inside\n",
                options.joints_in, options.joints_out);
  else
    std::printf("  keypoints (T >= %lld, %d, 2) -> poses_3d (T - %lld, %d, 3)\n", rf,
                options.joints_in, rf - 1, options.joints_out);
}

}  // namespace

void add_export_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "export",
      "Write a checkpoint's inference model (batch norm folded into the convolutions, dilated "
      "form) as an ONNX file (opset 13) with a dynamic number of frames");
  cmd->footer(
      "Input \"keypoints\" (T, J, 2): 2D keypoints normalised as v3d infer does (x / w * 2 - 1, "
      "y / w * 2 - h / w for a w x h image). Output \"poses_3d\": camera-space, root-relative "
      "poses in metres. --form sequence edge-pads inside the graph as v3d infer does (T frames "
      "out; a causal checkpoint pads before the first frame only); --form window takes T >= RF "
      "frames and returns T - RF + 1 (T = RF: one window's frame). Flip test-time augmentation is "
      "not in the graph: it matches v3d infer --no-flip. docs/cli.md#onnx-export.");
  auto args = std::make_shared<ExportArgs>();
  cmd->add_option("--checkpoint", args->checkpoint, "Checkpoint file (.h5) with its config")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--onnx", args->onnx, "Output ONNX file")->required();
  cmd->add_option("--form", args->form, "sequence (whole sequences, edge-padded) or window")
      ->check(CLI::IsMember({"sequence", "window"}))
      ->capture_default_str();
  cmd->add_option("--set", args->overrides,
                  "Override of the checkpoint's config, key.sub=value (repeatable)");
  cmd->callback([args] { run_export(*args); });
}

}  // namespace v3d::apps
