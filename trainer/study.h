// `v3d study`: a grid of experiments (training modes x seeds) trained, evaluated at test intervals
// without and with long-term bank readings, with the bank reading chosen on a validation split of
// the training subjects (docs/config.md, "Study files"; docs/results.md).
//
//   spec      one YAML file (load_study): the experiment config every run starts from, overrides,
//             the training modes, seeds, test intervals, the bank settings to choose from and the
//             training subjects held out for validation.
//   runs      one per (mode, seed), trained on the training subjects minus the validation ones
//             into <out>/runs/<mode>/seed<S>/ (trainer/train.h); a run whose last checkpoint
//             exists is not trained again, one with an earlier checkpoint resumes from its latest.
//   choice    every run's last checkpoint is evaluated on the validation subjects without the
//             bank and with every bank setting (sweep_ltb); the setting with the lowest validation
//             figure (the relative change of MPJPE with the bank, mean over runs and the selection
//             intervals) among those within select_limit at every interval is chosen
//             (choose_bank). The test subjects play no part in it.
//   test      every run's checkpoint on the test subjects without and with the chosen setting:
//             the same evaluate() call as `v3d eval --ltb both` with that setting's `--set ltb.*`.
//
// The tables (report/study_report.h) aggregate the runs of a mode over the seeds.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "trainer/config.h"
#include "trainer/evaluate.h"

namespace v3d {

// A named bank setting: `ltb.<key>=<value>` overrides (the preset first when it is given).
struct StudyBank {
  std::string name;
  std::vector<std::string> overrides;  // "ltb.gate=min", ...
  LtbOptions options;                  // resolved on the study's experiment config
  std::string where;                   // "file:line", for messages
};

struct StudySpec {
  std::string path;        // the study file
  std::string experiment;  // the experiment config, resolved against the study file's folder
  std::vector<std::string> overrides;  // `set:` then the command line's --set
  std::vector<std::string> modes;      // train.mode of each run, distinct
  std::vector<uint64_t> seeds;         // train.seed of each run, distinct
  std::vector<int> test_intervals;     // default: the experiment's eval.test_intervals
  std::vector<int> select_intervals;   // the intervals the validation figure averages; default all
  // A setting whose validation change exceeds this many percent at some test interval is not
  // eligible (the bank's cost at TD 1, say); NaN: no limit.
  double select_limit = std::numeric_limits<double>::quiet_NaN();
  std::vector<std::string> validation_subjects;  // held out of training, choose the bank on them
  std::vector<StudyBank> banks;                  // >= 1
  ExperimentConfig base;  // the experiment with the overrides (before the per-run keys)
};

// Reads and checks a study file; `overrides` (the command line's --set) follow its `set:` list.
// Throws v3d::Error, one line starting with "FILE:LINE:", on an unknown key (naming the valid
// ones), a missing or ill-typed value, a mode the window generator does not know, a validation
// subject that is not a training subject (or all of them), a test interval not in
// test_intervals, or an invalid bank setting; the experiment's own errors are load_config's.
StudySpec load_study(const std::string& path, const std::vector<std::string>& overrides = {});

// The config of one run: the base with train.mode, train.seed, the training subjects minus the
// validation ones, eval.test_intervals and train.checkpoint_dir = `dir`.
ExperimentConfig study_run_config(const StudySpec& spec, const std::string& mode, uint64_t seed,
                                  const std::string& dir);
// "Sample3/5/7+Sequential" -> "Sample3-5-7_Sequential": a run's folder name.
std::string mode_slug(const std::string& mode);

struct StudyRun {
  std::string mode;
  uint64_t seed = 0;
  std::string dir, checkpoint;  // the run's folder and its last checkpoint
  int64_t epochs_trained = 0;   // by this call (0: it was complete)
  LtbSweepReport validation;    // validation subjects: plain, then one point per bank
  EvalReport test;              // test subjects, LtbEval::kBoth with the chosen bank
};

// Mean, sample standard deviation (0 for one value) and count.
struct SeedStats {
  double mean = 0, std = 0;
  int64_t n = 0;
};
SeedStats seed_stats(const std::vector<double>& values);

struct StudyResult {
  StudySpec spec;
  std::vector<StudyRun> runs;  // mode-major, seeds in order
  // validation_change[b][i]: bank b's MPJPE change with the bank at test_intervals[i], in
  // percent of the plain MPJPE, mean over runs; validation_figure[b]: its mean over the
  // select_intervals; eligible[b]: within select_limit at every interval; chosen: choose_bank.
  std::vector<std::vector<double>> validation_change;
  std::vector<double> validation_figure;
  std::vector<bool> eligible;
  size_t chosen = 0;
  int64_t receptive_field = 0, parameters = 0;
  int64_t epochs_trained = 0;  // by this call, over all runs
};

// The bank with the lowest figure among the eligible ones (the first on ties); when none is
// eligible, the lowest figure of all.
size_t choose_bank(const std::vector<double>& figure, const std::vector<bool>& eligible);

struct StudyOptions {
  std::string out_dir;  // runs go to <out_dir>/runs
  bool quiet = false;   // no progress line
  // Called with each line worth a log ("training Sequential seed 1 from epoch 4", ...).
  std::function<void(const std::string&)> on_message;
};

// Trains what is missing, evaluates every run, chooses the bank. Throws v3d::Error, one line, on
// a run folder whose checkpoint holds another experiment (a key that shapes training differs),
// and on every error of training and evaluation.
StudyResult run_study(const StudySpec& spec, const StudyOptions& options);

}  // namespace v3d
