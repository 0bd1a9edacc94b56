// v3d ltb-sweep: evaluates a checkpoint without the long-term bank and with every combination of
// the swept bank settings (trainer/evaluate.h sweep_ltb); writes a Markdown table, a CSV with
// every number and a plot of MPJPE against capacity.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "apps/app_util.h"
#include "apps/commands.h"
#include "data/atomic_file.h"
#include "kernels/common.h"
#include "report/eval_report.h"
#include "runtime/communicator.h"
#include "runtime/device.h"
#include "trainer/checkpoint.h"
#include "trainer/config.h"
#include "trainer/evaluate.h"
#include "trainer/model.h"
#include "trainer/progress.h"
#include "trainer/restore.h"

namespace v3d::apps {

namespace {

struct SweepArgs {
  std::string blas;  // --blas
  std::string checkpoint, out = "ltb_sweep", device;
  std::vector<std::string> overrides;
  std::vector<int> capacities = {20, 40, 80, 160};
  std::vector<double> thresholds = {0.6, 0.7, 0.8};
  std::vector<double> fusion_thresholds;  // default: ltb.fusion_threshold
  std::vector<int> intervals = {3, 5, 7};
};

void run_sweep(const SweepArgs& a) {
  const std::vector<std::string> overrides = with_device(a.overrides, a.device);
  const RestoredModel restored =
      restore_model(a.checkpoint, overrides, restore_device(a.checkpoint, overrides));
  const ExperimentConfig& cfg = restored.config;
  TemporalModel& model = *restored.model;
  EvalOptions opt = eval_options(cfg);
  opt.test_intervals = a.intervals;
  opt.ltb = LtbEval::kOff;
  const std::vector<LtbOptions> settings =
      ltb_sweep_settings(ltb_options(cfg.ltb), a.capacities, a.thresholds, a.fusion_thresholds);

  // Under mpirun or srun the phases are split across the ranks; rank 0 prints and writes.
  Communicator& comm = world();
  opt.comm = &comm;
  const std::vector<data::Sequence> seqs = load_test_sequences(cfg);
  if (!writes_files(comm)) {
    sweep_ltb(model, seqs, opt, settings);
    return;
  }
  int64_t frames = 0;
  for (const auto& s : seqs) frames += s.frames;
  std::printf(
      "Sweeping %zu long-term bank settings on %lld frames (%zu sequences), receptive "
      "field %lld\n",
      settings.size(), static_cast<long long>(frames), seqs.size(),
      static_cast<long long>(model.receptive_field()));
  std::fflush(stdout);
  Progress progress("ltb sweep", static_cast<int64_t>(settings.size()));
  const auto t0 = std::chrono::steady_clock::now();
  const LtbSweepReport report =
      sweep_ltb(model, seqs, opt, settings, [&](int64_t done, int64_t) { progress.update(done); });
  progress.finish();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  const std::string title =
      "Long-term bank sweep of " + std::filesystem::path(a.checkpoint).filename().string();
  std::printf("\n%s\n", sweep_to_markdown(report, title).c_str());
  data::remove_stale_temporaries_in(a.out);
  const std::vector<std::string> files = write_sweep_files(report, title, a.out);
  std::printf("Swept %zu settings in %.1f s; wrote %s, %s and %s\n", settings.size(), secs,
              files[0].c_str(), files[1].c_str(), files[2].c_str());
}

}  // namespace

void add_ltb_sweep_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "ltb-sweep",
      "Evaluate a checkpoint without the long-term pose bank and with every combination of bank "
      "capacities and thresholds; write a table (Markdown, CSV) and a plot of MPJPE against "
      "capacity");
  cmd->footer(
      "The test data is the checkpoint config's (the synthetic dataset by default); --set "
      "overrides it (e.g. --set data.test_subjects=S9, --set ltb.mode=online). Writes "
      "<out>/ltb_sweep.md, <out>/ltb_sweep.csv and <out>/ltb_sweep.png.");
  auto args = std::make_shared<SweepArgs>();
  cmd->add_option("--checkpoint", args->checkpoint, "Checkpoint file (.h5) with its config")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--capacity", args->capacities, "Comma-separated bank capacities")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--threshold", args->thresholds, "Comma-separated insertion thresholds")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--fusion-threshold", args->fusion_thresholds,
                  "Comma-separated fusion thresholds (default: ltb.fusion_threshold)")
      ->delimiter(',');
  cmd->add_option("--intervals", args->intervals, "Comma-separated test intervals N")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--set", args->overrides, "Config override key.sub=value (repeatable)");
  add_device_option(*cmd, args->device);
  add_blas_option(*cmd, args->blas);
  cmd->add_option("--out", args->out, "Output directory")->capture_default_str();
  cmd->callback([args] {
    apply_blas(args->blas);
    run_sweep(*args);
  });
}

}  // namespace v3d::apps
