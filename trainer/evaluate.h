// Whole-sequence evaluation at test intervals "TD N", as VideoPose3D's run.py evaluate() plus the
// paper's test-interval protocol (docs/cli.md, `v3d eval`):
//
//   for each test interval N, each test sequence is split into its N phases (frames p, p+N, ...;
//   data::split_phases); the phases are predicted by whole-sequence inference (trainer/predict.h:
//   edge-padded to one pose per frame, batched into long dilated passes, optional flip TTA). The
//   four metrics of each phase are aggregated by ErrorAggregator (frame-weighted per action group,
//   unweighted mean over groups), in mm.
//
// The reports (Markdown, JSON, CSV, plots) are written by report/eval_report.h.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/batches.h"
#include "data/skeleton.h"
#include "trainer/config.h"
#include "trainer/ltb.h"
#include "trainer/metrics.h"
#include "trainer/model.h"
#include "trainer/predict.h"

namespace v3d {

class Communicator;

enum class LtbEval { kOff, kOn, kBoth };

struct EvalOptions {
  std::vector<int> test_intervals = {1, 3, 5, 7};  // each >= 1, distinct
  bool flip_tta = true;
  // Columns of the tables (all four are always computed and written to JSON).
  std::vector<Metric> metrics = {Metric::kMpjpe, Metric::kPMpjpe, Metric::kNMpjpe, Metric::kMpjve};
  // Layouts of the 2D input and the 3D output (their flip permutations are used by TTA).
  const data::Skeleton* keypoints = &data::Skeleton::h36m17();
  const data::Skeleton* joints = &data::Skeleton::h36m17();
  // Long-term pose bank (trainer/ltb.h): off, on (rows with the bank only) or both (each test
  // interval without and with, the paper's Tables 1 and 2). The plain prediction is computed once
  // either way; with the bank, all phases of one test interval share one bank launch.
  LtbEval ltb = LtbEval::kOff;
  LtbOptions ltb_options;
  // Data-parallel evaluation: rank r of W predicts phases r, r + W, ... of each test interval,
  // the predictions are gathered on every rank, and every rank aggregates all phases in order,
  // so each returns the single-process report (predictions may differ from one process's by
  // float rounding only: a GEMM's rounding may depend on how many rows it has). nullptr: alone.
  Communicator* comm = nullptr;
  // Progress (optional): called after each group of this rank's phases is predicted, with its
  // frame count and the test interval. A rank predicts about frames x intervals / ranks frames in
  // all (with the bank too: the plain predictions come out of the bank's pass).
  std::function<void(int64_t frames, int interval)> on_frames;
};

// "off", "on", "both"; throws naming the valid values.
LtbEval parse_ltb_eval(const std::string& text);
const char* ltb_eval_name(LtbEval mode);

// The eval section of an experiment config as options (skeletons from data.keypoints).
EvalOptions eval_options(const ExperimentConfig& config);

struct IntervalReport {
  int interval = 1;
  bool ltb = false;                   // with the long-term pose bank
  LtbStats ltb_stats;                 // when ltb: frames fused, bank sizes
  int64_t phases = 0;                 // sequences evaluated (phases of all test sequences)
  std::vector<ActionErrors> actions;  // mm, in first-seen order
  Errors mean;                        // mm, unweighted mean over actions
};

struct EvalReport {
  bool flip_tta = true;
  int64_t receptive_field = 0;
  int64_t sequences = 0;  // test sequences (before the phase split)
  int64_t frames = 0;     // their frames
  std::vector<Metric> metrics;
  // In EvalOptions order; with LtbEval::kBoth each interval's row without the bank, then with it.
  std::vector<IntervalReport> intervals;
  LtbEval ltb = LtbEval::kOff;
  LtbOptions ltb_options;
};

// Evaluates `model` (forward_eval, and with the bank the strided form in eval mode; its weights are
// not changed) on `test_sequences`, which need
// 3D targets, 2D of options.keypoints' layout and 3D of options.joints'. Throws v3d::Error on an
// empty sequence list, a sequence without 3D, a layout mismatch or invalid options.
EvalReport evaluate(TemporalModel& model, const std::vector<data::Sequence>& test_sequences,
                    const EvalOptions& options);

// A sweep of long-term bank settings (`v3d ltb-sweep`): every test interval's phases and plain
// predictions are computed once, then each setting's bank, fusion and fused predictions.
struct LtbSweepPoint {
  LtbOptions options;
  std::vector<IntervalReport> intervals;  // one row per test interval, ltb = true
};
struct LtbSweepReport {
  EvalReport plain;                   // the rows without the bank (same intervals)
  std::vector<LtbSweepPoint> points;  // in `settings` order
};
// on_setting (optional) is called after each setting with (done, total).
LtbSweepReport sweep_ltb(TemporalModel& model, const std::vector<data::Sequence>& test_sequences,
                         const EvalOptions& options, const std::vector<LtbOptions>& settings,
                         const std::function<void(int64_t, int64_t)>& on_setting = {});
// The settings of a sweep: `base` with every (threshold, fusion threshold, capacity) of the lists,
// in that nesting order (capacity fastest); an empty `fusion_thresholds` keeps base's. Throws on
// an out-of-range setting (validate_ltb_options).
std::vector<LtbOptions> ltb_sweep_settings(const LtbOptions& base,
                                           const std::vector<int>& capacities,
                                           const std::vector<double>& thresholds,
                                           const std::vector<double>& fusion_thresholds);

// The test subjects' sequences of an experiment's data source (data.source, test_subjects,
// actions, downsample, keypoints, ground_truth_2d; no subset, as VideoPose3D).
std::vector<data::Sequence> load_test_sequences(const ExperimentConfig& config);

}  // namespace v3d
