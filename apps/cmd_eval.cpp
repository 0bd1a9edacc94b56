// v3d eval: evaluates a checkpoint on the test subjects of its experiment at the configured test
// intervals (trainer/evaluate.h) and writes the tables as Markdown and every number as JSON.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "apps/app_util.h"
#include "data/atomic_file.h"
#include "kernels/common.h"
#include "report/eval_report.h"
#include "report/render.h"
#include "runtime/communicator.h"
#include "runtime/device.h"
#include "trainer/checkpoint.h"
#include "trainer/config.h"
#include "trainer/evaluate.h"
#include "trainer/model.h"
#include "trainer/predict.h"
#include "trainer/progress.h"
#include "trainer/restore.h"

namespace v3d::apps {

namespace {

struct EvalArgs {
  std::string blas;  // --blas
  std::string precision = "fp32";
  std::string checkpoint, config, out, device, ltb;
  std::vector<std::string> overrides;
  std::vector<int> intervals;
  int render = 0;  // --render N
  std::string render_format = "mp4";
};

// --render N: the N test sequences with the largest MPJPE (whole sequences, TD 1, the config's
// flip TTA), each as <out>/render/<subject>_<action>_camera<k>.<format>.
void render_worst(TemporalModel& model, const std::vector<data::Sequence>& seqs,
                  const EvalOptions& opt, const EvalArgs& a, const std::string& out) {
  std::vector<const data::Sequence*> ptrs;
  for (const auto& s : seqs) ptrs.push_back(&s);
  std::vector<std::vector<float>> preds =
      predict_sequences(model, ptrs, *opt.keypoints, *opt.joints, opt.flip_tta);
  std::vector<std::pair<double, report::RenderSequence>> ranked;
  for (size_t i = 0; i < seqs.size(); ++i) {
    report::RenderSequence r =
        report::render_sequence_of(seqs[i], std::move(preds[i]), *opt.keypoints, *opt.joints);
    const double mpjpe = report::render_mpjpe_mm(r);
    ranked.emplace_back(mpjpe, std::move(r));
  }
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& x, const auto& y) { return x.first > y.first; });
  const std::filesystem::path dir = std::filesystem::path(out) / "render";
  std::filesystem::create_directories(dir);
  const size_t n = std::min<size_t>(static_cast<size_t>(a.render), ranked.size());
  for (size_t i = 0; i < n; ++i) {
    std::string name = ranked[i].second.title;
    for (char& c : name) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') c = '_';
    }
    const std::string path = (dir / (name + "." + a.render_format)).string();
    report::render_video(ranked[i].second, report::RenderOptions{}, path);
    std::printf("Rendered %s (MPJPE %.1f mm, rank %zu of %zu): %s\n",
                ranked[i].second.title.c_str(), ranked[i].first, i + 1, ranked.size(),
                path.c_str());
    std::fflush(stdout);
  }
}

void run_eval(const EvalArgs& a) {
  if (a.render > 0 && !report::video_supported()) {
    throw Error(
        "--render: this build of v3d cannot write videos (FFmpeg's development files "
        "were not found when it was configured)");
  }
  // --intervals and --device are shorthands for --set, applied last so they win.
  std::vector<std::string> overrides = with_device(a.overrides, a.device);
  if (!a.intervals.empty()) {
    std::string list;
    for (int n : a.intervals) list += (list.empty() ? "" : ",") + std::to_string(n);
    overrides.push_back("eval.test_intervals=" + list);
  }
  const RestoredModel restored = restore_model(
      a.checkpoint, overrides, restore_device(a.checkpoint, overrides, a.config), a.config);
  const ExperimentConfig& cfg = restored.config;
  TemporalModel& model = *restored.model;

  const PrecisionScope precision(a.precision, model);
  EvalOptions opt = eval_options(cfg);
  if (!a.ltb.empty()) opt.ltb = parse_ltb_eval(a.ltb);
  // Under mpirun or srun the phases are split across the ranks; rank 0 prints and writes.
  Communicator& comm = world();
  opt.comm = &comm;
  const std::vector<data::Sequence> seqs = load_test_sequences(cfg);
  if (!writes_files(comm)) {
    evaluate(model, seqs, opt);
    return;
  }
  int64_t frames = 0;
  for (const auto& s : seqs) frames += s.frames;
  std::printf("Receptive field: %lld frames\n", static_cast<long long>(model.receptive_field()));
  if (!precision.summary().empty()) std::printf("Precision: %s\n", precision.summary().c_str());
  std::printf("Trainable parameter count: %lld\n", static_cast<long long>(model.parameter_count()));
  std::printf("This model was trained for %lld epochs\n", static_cast<long long>(restored.epoch));
  std::printf("Testing on %lld frames (%zu sequences)\n", static_cast<long long>(frames),
              seqs.size());
  std::fflush(stdout);
  // Phases shorter than the receptive field are predicted mostly from edge padding: say so.
  for (const int n : opt.test_intervals) {
    int64_t short_phases = 0, phases = 0;
    for (const auto& s : seqs) {
      for (int p = 0; p < n && p < s.frames; ++p) {
        ++phases;
        short_phases += (s.frames - p + n - 1) / n < model.receptive_field();
      }
    }
    if (short_phases > 0) {
      std::fprintf(stderr,
                   "v3d eval: warning: at TD %d, %lld of %lld phases are shorter than the "
                   "receptive field (%lld frames): their windows are mostly edge padding\n",
                   n, static_cast<long long>(short_phases), static_cast<long long>(phases),
                   static_cast<long long>(model.receptive_field()));
    }
  }

  // Progress with ETA on stderr: this rank's share of frames x intervals, counted group by group.
  const int64_t ranks = comm.world_size();
  const int64_t work =
      (frames * static_cast<int64_t>(opt.test_intervals.size()) + ranks - 1) / ranks;
  Progress progress("eval frames", work);
  int64_t done = 0;
  opt.on_frames = [&](int64_t n, int interval) {
    done = std::min(work, done + n);
    progress.update(done, "TD " + std::to_string(interval));
  };
  const auto t0 = std::chrono::steady_clock::now();
  const EvalReport report = evaluate(model, seqs, opt);
  progress.finish();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  const std::string title =
      "Evaluation of " + std::filesystem::path(a.checkpoint).filename().string() +
      (precision.name() == "fp32" ? "" : " (--precision " + precision.name() + ")");
  std::printf("\n%s\n", to_markdown(report, title).c_str());

  std::string out = a.out;
  if (out.empty()) out = std::filesystem::path(a.checkpoint).parent_path().string();
  if (out.empty()) out = ".";
  data::remove_stale_temporaries_in(out);
  const std::vector<std::string> files = write_eval_files(report, title, out);
  std::printf("Evaluated %lld frames x %zu intervals in %.1f s; wrote %s, %s and %s\n",
              static_cast<long long>(frames), opt.test_intervals.size(), secs, files[0].c_str(),
              files[1].c_str(), files[2].c_str());
  if (a.render > 0) render_worst(model, seqs, opt, a, out);
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "eval",
      "Evaluate a checkpoint on the test subjects: MPJPE, P-MPJPE, N-MPJPE and MPJVE per action "
      "and averaged as VideoPose3D (frame-weighted within an action, unweighted mean over "
      "actions), at test intervals TD N (each sequence split into its N phases)");
  cmd->footer(
      "The experiment config is the one stored in the checkpoint unless --config is given; "
      "--set overrides either (e.g. --set eval.flip_tta=false, --set data.test_subjects=S9). "
      "Writes <out>/eval.md (the tables, also printed) and <out>/eval.json (every number, mm).");
  auto args = std::make_shared<EvalArgs>();
  cmd->add_option("--checkpoint", args->checkpoint, "Checkpoint file (.h5) to evaluate")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--config", args->config,
                  "Experiment YAML to use instead of the checkpoint's stored config")
      ->check(CLI::ExistingFile);
  cmd->add_option("--set", args->overrides, "Config override key.sub=value (repeatable)");
  cmd->add_option("--intervals", args->intervals,
                  "Comma-separated test intervals N (default: eval.test_intervals, 1,3,5,7)")
      ->delimiter(',');
  add_device_option(*cmd, args->device);
  add_blas_option(*cmd, args->blas);
  add_precision_option(*cmd, args->precision);
  cmd->add_option("--ltb", args->ltb,
                  "Long-term pose bank: off, on or both (rows without and with the bank, the "
                  "paper's Tables 1 and 2); default: on when ltb.enabled. Settings: --set ltb.*")
      ->check(CLI::IsMember({"off", "on", "both"}));
  cmd->add_option("--out", args->out,
                  "Directory for eval.md and eval.json (default: the checkpoint's directory)");
  cmd->add_option("--render", args->render,
                  "Also render the N test sequences with the largest MPJPE (TD 1) as videos in "
                  "<out>/render/ (v3d render's drawing)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--render-format", args->render_format, "Video format of --render: mp4 or gif")
      ->check(CLI::IsMember({"mp4", "gif"}))
      ->capture_default_str();
  cmd->callback([args] {
    apply_blas(args->blas);
    run_eval(*args);
  });
}

}  // namespace v3d::apps
