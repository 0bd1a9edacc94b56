// v3d study: trains a grid of experiments (training modes x seeds) where it is missing, chooses the
// long-term bank setting on validation subjects and writes the paper's tables over the seeds
// (trainer/study.h, report/study_report.h).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "apps/app_util.h"
#include "apps/commands.h"
#include "report/study_report.h"
#include "trainer/study.h"

namespace v3d::apps {

namespace {

struct StudyArgs {
  std::string study, out, device, blas;
  std::vector<std::string> overrides;
  bool quiet = false;
};

void run_study_command(const StudyArgs& a) {
  const StudySpec spec = load_study(a.study, with_device(a.overrides, a.device));
  std::string out = a.out;
  if (out.empty()) out = std::filesystem::path(a.study).stem().string();
  std::printf("%s\n", apply_blas(a.blas, spec.base.blas).c_str());
  std::printf("Study %s: %zu modes x %zu seeds, %zu bank settings, test intervals", a.study.c_str(),
              spec.modes.size(), spec.seeds.size(), spec.banks.size());
  for (int n : spec.test_intervals) std::printf(" %d", n);
  std::printf("; runs in %s/runs\n", out.c_str());
  std::fflush(stdout);
  StudyOptions options;
  options.out_dir = out;
  options.quiet = a.quiet;
  options.on_message = [&](const std::string& line) {
    if (a.quiet) return;
    std::fprintf(stderr, "\n");  // past the progress line
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  };
  const StudyResult result = run_study(spec, options);
  std::printf("\n%s\n", study_to_markdown(result).c_str());
  const std::vector<std::string> files = write_study_files(result, out);
  std::printf("Trained %lld epochs; wrote", static_cast<long long>(result.epochs_trained));
  for (size_t i = 0; i < files.size(); ++i)
    std::printf("%s %s", i == 0 ? "" : (i + 1 == files.size() ? " and" : ","), files[i].c_str());
  std::printf("\n");
}

}  // namespace

void add_study_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "study",
      "Train a grid of experiments (training modes x seeds) where it is missing, choose the "
      "long-term bank setting on validation subjects, evaluate on the test subjects and write "
      "the paper's Tables 1-4 with the spread over seeds");
  cmd->footer(
      "The study file (docs/config.md, \"Study files\") names an experiment config, overrides, "
      "modes, seeds, test intervals, the training subjects held out for validation and the bank "
      "settings. Runs go to <out>/runs/<mode>/seed<S>/; a finished run is not trained again and a "
      "partial one resumes from its latest checkpoint. Writes <out>/study.md, study.csv, "
      "study.json, study_error_vs_interval.png and study_validation.png.\n"
      "Example:\n"
      "  v3d study configs/study_synthetic.yaml --out studies/synthetic");
  auto args = std::make_shared<StudyArgs>();
  cmd->add_option("study", args->study, "Study file (YAML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--set", args->overrides,
                  "Override a key of the study's experiment after its set: list (repeatable)");
  add_device_option(*cmd, args->device);
  add_blas_option(*cmd, args->blas);
  cmd->add_option("--out", args->out, "Output directory (default: the study file's name)");
  cmd->add_flag("--quiet,-q", args->quiet, "No progress line and no run lines");
  cmd->callback([args] { run_study_command(*args); });
}

}  // namespace v3d::apps
