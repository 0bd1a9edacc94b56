// Test-interval evaluation (trainer/evaluate.h): the phases of each test interval through
// trainer/predict.h (and trainer/ltb.h with the bank), then the metrics.
#include "trainer/evaluate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <span>
#include <sstream>

#include "kernels/common.h"
#include "runtime/autograd.h"
#include "runtime/communicator.h"
#include "trainer/restore.h"
#include "trainer/sequences.h"

namespace v3d {

namespace {

constexpr double kMm = 1000.0;  // poses are metres, reports millimetres

Errors to_mm(Errors e) {
  e.mpjpe *= kMm;
  e.p_mpjpe *= kMm;
  e.n_mpjpe *= kMm;
  e.mpjve *= kMm;
  return e;
}

}  // namespace

LtbEval parse_ltb_eval(const std::string& text) {
  if (text == "off") return LtbEval::kOff;
  if (text == "on") return LtbEval::kOn;
  if (text == "both") return LtbEval::kBoth;
  throw Error("--ltb: unknown value '" + text + "' (valid: off, on, both)");
}

const char* ltb_eval_name(LtbEval mode) {
  switch (mode) {
    case LtbEval::kOff:
      return "off";
    case LtbEval::kOn:
      return "on";
    case LtbEval::kBoth:
      return "both";
  }
  return "?";
}

EvalOptions eval_options(const ExperimentConfig& config) {
  EvalOptions o;
  o.test_intervals = config.eval.test_intervals;
  o.flip_tta = config.eval.flip_tta;
  o.metrics = config.eval.metrics;
  const ModelLayout layout = model_layout(config);
  o.keypoints = layout.keypoints;
  o.joints = layout.joints;
  o.ltb = config.ltb.enabled ? LtbEval::kOn : LtbEval::kOff;
  o.ltb_options = ltb_options(config.ltb);
  return o;
}

namespace {

void check_eval_inputs(const std::vector<data::Sequence>& test_sequences,
                       const EvalOptions& options) {
  V3D_CHECK(!test_sequences.empty(), "evaluate: no test sequences");
  V3D_CHECK(!options.test_intervals.empty(), "evaluate: no test intervals");
  V3D_CHECK(options.keypoints != nullptr && options.joints != nullptr,
            "evaluate: keypoint and joint skeletons are required");
  for (size_t i = 0; i < options.test_intervals.size(); ++i) {
    const int n = options.test_intervals[i];
    V3D_CHECK(n >= 1, "evaluate: test interval " << n << " must be >= 1");
    V3D_CHECK(std::count(options.test_intervals.begin(), options.test_intervals.end(), n) == 1,
              "evaluate: test interval " << n << " given twice");
  }
  for (const auto& seq : test_sequences) {
    V3D_CHECK(!seq.poses_3d.empty(), "evaluate: " << seq.subject << "/" << seq.action << " camera "
                                                  << seq.camera
                                                  << " has no 3D poses to evaluate against");
    data::validate_sequence(seq, options.keypoints->num_joints(), options.joints->num_joints(),
                            true);
  }
}

std::vector<int32_t> check_ltb(const LtbOptions& o, const data::Skeleton& kp) {
  validate_ltb_options(o);
  return ltb_parents(kp);
}

EvalReport empty_report(const TemporalModel& model,
                        const std::vector<data::Sequence>& test_sequences,
                        const EvalOptions& options) {
  EvalReport report;
  report.flip_tta = options.flip_tta;
  report.receptive_field = model.receptive_field();
  report.sequences = static_cast<int64_t>(test_sequences.size());
  for (const auto& seq : test_sequences) report.frames += seq.frames;
  report.metrics = options.metrics;
  return report;
}

// One test interval's phases and their whole-sequence predictions.
struct IntervalData {
  std::vector<data::Sequence> phases;
  std::vector<std::vector<float>> plain;
};

// The phases this rank predicts: i % W == r (all of them alone).
std::vector<size_t> my_phases(const Communicator* comm, size_t count) {
  std::vector<size_t> mine;
  const size_t ranks = comm != nullptr ? static_cast<size_t>(comm->world_size()) : 1;
  const size_t rank = comm != nullptr ? static_cast<size_t>(comm->rank()) : 0;
  for (size_t i = rank; i < count; i += ranks) mine.push_back(i);
  return mine;
}

// Every rank's per-phase results (mine[k] holds phase indices[k]'s) in phase order, on every
// rank. Alone, results are placed as they are.
std::vector<std::vector<float>> gather_phases(Communicator* comm, size_t count,
                                              const std::vector<size_t>& indices,
                                              std::vector<std::vector<float>> mine) {
  std::vector<std::vector<float>> all(count);
  if (comm == nullptr || comm->world_size() == 1) {
    for (size_t k = 0; k < indices.size(); ++k) all[indices[k]] = std::move(mine[k]);
    return all;
  }
  std::string packed;
  for (size_t k = 0; k < indices.size(); ++k) {
    const uint64_t head[2] = {indices[k], mine[k].size()};
    packed.append(reinterpret_cast<const char*>(head), sizeof(head));
    packed.append(reinterpret_cast<const char*>(mine[k].data()), mine[k].size() * sizeof(float));
  }
  for (const std::string& part : comm->all_gather(packed)) {
    size_t at = 0;
    while (at < part.size()) {
      uint64_t head[2];
      std::memcpy(head, part.data() + at, sizeof(head));
      at += sizeof(head);
      V3D_CHECK(head[0] < count, "evaluate: a rank sent phase " << head[0] << " of " << count);
      std::vector<float>& v = all[head[0]];
      v.resize(head[1]);
      std::memcpy(v.data(), part.data() + at, head[1] * sizeof(float));
      at += head[1] * sizeof(float);
    }
  }
  return all;
}

// The bank statistics of every rank, added in rank order.
LtbStats gather_stats(Communicator* comm, const LtbStats& mine) {
  if (comm == nullptr || comm->world_size() == 1) return mine;
  std::string packed(sizeof(LtbStats), '\0');
  std::memcpy(packed.data(), &mine, sizeof(LtbStats));
  LtbStats total;
  for (const std::string& part : comm->all_gather(packed)) {
    LtbStats s;
    std::memcpy(&s, part.data(), sizeof(LtbStats));
    add_stats(total, s);
  }
  return total;
}

// The progress callback of one test interval's predictions (empty when none was asked for).
FramesDone frames_done(const EvalOptions& options, int interval) {
  if (!options.on_frames) return {};
  return [&options, interval](int64_t frames) { options.on_frames(frames, interval); };
}

IntervalData interval_data(TemporalModel& model, const std::vector<data::Sequence>& test_sequences,
                           const EvalOptions& options, int n, bool predict,
                           const TemporalModel::FoldedWeights& folded) {
  IntervalData d;
  for (const auto& seq : test_sequences)
    for (data::Sequence& phase : data::split_phases(seq, n)) d.phases.push_back(std::move(phase));
  if (!predict) return d;
  const std::vector<size_t> mine = my_phases(options.comm, d.phases.size());
  std::vector<const data::Sequence*> ptrs;
  for (const size_t i : mine) ptrs.push_back(&d.phases[i]);
  std::vector<std::vector<float>> predicted;
  if (!ptrs.empty()) {
    predicted =
        predict_sequences(model, ptrs, *options.keypoints, *options.joints, options.flip_tta,
                          &folded, kEvalGroupRows, frames_done(options, n));
  }
  d.plain = gather_phases(options.comm, d.phases.size(), mine, std::move(predicted));
  return d;
}

IntervalReport interval_report(const IntervalData& d, const std::vector<std::vector<float>>& pred,
                               bool ltb, int n, const data::Skeleton& jt) {
  const int64_t joints = jt.num_joints();
  IntervalReport ir;
  ir.interval = n;
  ir.ltb = ltb;
  ErrorAggregator agg;
  for (size_t i = 0; i < d.phases.size(); ++i) {
    const data::Sequence& phase = d.phases[i];
    const std::vector<double> p(pred[i].begin(), pred[i].end());
    std::vector<double> t(phase.poses_3d.begin(), phase.poses_3d.end());
    // VideoPose3D zeroes the target's root before the metrics (prepare_sequences already did;
    // this keeps foreign sequences honest).
    for (int64_t f = 0; f < phase.frames; ++f)
      for (int c = 0; c < 3; ++c) t[static_cast<size_t>(f * joints * 3 + c)] = 0;
    agg.add(phase.action, sequence_errors(p, t, joints));
  }
  ir.phases = static_cast<int64_t>(d.phases.size());
  for (auto a : agg.actions()) ir.actions.push_back({a.action, to_mm(a.errors)});
  ir.mean = to_mm(agg.mean());
  return ir;
}

// The predictions with the bank: one plan (one bank launch) over all phases of the interval;
// `plain` (optional) receives the plain predictions the bank path computes on the way.
std::vector<std::vector<float>> ltb_predictions(
    TemporalModel& model, const std::vector<data::Sequence>& phases, const LtbOptions& ltb,
    const std::vector<int32_t>& parents, const EvalOptions& options, int interval, LtbStats* stats,
    std::vector<std::vector<float>>* plain, const TemporalModel::FoldedWeights& folded) {
  // This rank's phases (each phase's bank is its own, so a subset plans the same banks).
  const std::vector<size_t> mine = my_phases(options.comm, phases.size());
  std::vector<std::span<const float>> views;
  std::vector<const data::Sequence*> ptrs;
  for (const size_t i : mine) {
    views.emplace_back(phases[i].poses_2d);
    ptrs.push_back(&phases[i]);
  }
  LtbStats my_stats;
  std::vector<std::vector<float>> my_plain, fused;
  if (!ptrs.empty()) {  // more ranks than phases leaves some without work
    LtbOptions windows = ltb;
    windows.causal = model.config().causal;  // a causal model's window ends at its frame
    const LtbPlan plan = plan_ltb(views, options.keypoints->num_joints(), parents,
                                  (model.receptive_field() - 1) / 2, windows, model.device());
    fused = predict_with_ltb(model, ptrs, plan, *options.keypoints, *options.joints,
                             options.flip_tta, &my_stats, plain != nullptr ? &my_plain : nullptr,
                             &folded, {}, frames_done(options, interval));
  }
  if (stats != nullptr) *stats = gather_stats(options.comm, my_stats);
  if (plain != nullptr)
    *plain = gather_phases(options.comm, phases.size(), mine, std::move(my_plain));
  return gather_phases(options.comm, phases.size(), mine, std::move(fused));
}

}  // namespace

EvalReport evaluate(TemporalModel& model, const std::vector<data::Sequence>& test_sequences,
                    const EvalOptions& options) {
  check_eval_inputs(test_sequences, options);
  const data::Skeleton& kp = *options.keypoints;
  const data::Skeleton& jt = *options.joints;
  NoGradGuard no_grad;
  EvalReport report = empty_report(model, test_sequences, options);
  report.ltb = options.ltb;
  report.ltb_options = options.ltb_options;
  const bool plain_rows = options.ltb != LtbEval::kOn;
  const bool ltb_rows = options.ltb != LtbEval::kOff;
  std::vector<int32_t> parents;
  if (ltb_rows) parents = check_ltb(options.ltb_options, kp);
  const TemporalModel::FoldedWeights folded = model.fold_weights();  // once for every phase
  for (int n : options.test_intervals) {
    // With the bank, the plain predictions come out of the bank path (one dilated pass each).
    IntervalData d = interval_data(model, test_sequences, options, n, !ltb_rows, folded);
    std::vector<std::vector<float>> fused;
    LtbStats stats;
    if (ltb_rows)
      fused = ltb_predictions(model, d.phases, options.ltb_options, parents, options, n, &stats,
                              &d.plain, folded);
    if (plain_rows) report.intervals.push_back(interval_report(d, d.plain, false, n, jt));
    if (ltb_rows) {
      IntervalReport ir = interval_report(d, fused, true, n, jt);
      ir.ltb_stats = stats;
      report.intervals.push_back(std::move(ir));
    }
  }
  return report;
}

LtbSweepReport sweep_ltb(TemporalModel& model, const std::vector<data::Sequence>& test_sequences,
                         const EvalOptions& options, const std::vector<LtbOptions>& settings,
                         const std::function<void(int64_t, int64_t)>& on_setting) {
  V3D_CHECK(!settings.empty(), "ltb sweep: no settings");
  EvalOptions plain_opt = options;
  plain_opt.ltb = LtbEval::kOff;
  check_eval_inputs(test_sequences, plain_opt);
  const data::Skeleton& kp = *options.keypoints;
  const data::Skeleton& jt = *options.joints;
  std::vector<int32_t> parents;
  for (const auto& o : settings) parents = check_ltb(o, kp);
  NoGradGuard no_grad;
  LtbSweepReport out;
  out.plain = empty_report(model, test_sequences, plain_opt);
  const TemporalModel::FoldedWeights folded = model.fold_weights();  // once for every phase
  out.points.resize(settings.size());
  for (size_t i = 0; i < settings.size(); ++i) out.points[i].options = settings[i];
  std::vector<IntervalData> data;
  for (int n : options.test_intervals) {
    data.push_back(interval_data(model, test_sequences, options, n, true, folded));
    out.plain.intervals.push_back(interval_report(data.back(), data.back().plain, false, n, jt));
  }
  for (size_t i = 0; i < settings.size(); ++i) {
    for (size_t k = 0; k < data.size(); ++k) {
      LtbStats stats;
      const auto fused = ltb_predictions(model, data[k].phases, settings[i], parents, options,
                                         options.test_intervals[k], &stats, nullptr, folded);
      IntervalReport ir = interval_report(data[k], fused, true, options.test_intervals[k], jt);
      ir.ltb_stats = stats;
      out.points[i].intervals.push_back(std::move(ir));
    }
    if (on_setting) on_setting(static_cast<int64_t>(i) + 1, static_cast<int64_t>(settings.size()));
  }
  return out;
}

std::vector<LtbOptions> ltb_sweep_settings(const LtbOptions& base,
                                           const std::vector<int>& capacities,
                                           const std::vector<double>& thresholds,
                                           const std::vector<double>& fusion_thresholds) {
  std::vector<double> fusion = fusion_thresholds;
  if (fusion.empty()) fusion.push_back(base.fusion_threshold);
  std::vector<LtbOptions> settings;
  for (double th : thresholds)
    for (double ft : fusion)
      for (int cap : capacities) {
        LtbOptions o = base;
        o.capacity = cap;
        o.threshold = static_cast<float>(th);
        o.fusion_threshold = static_cast<float>(ft);
        validate_ltb_options(o);
        settings.push_back(o);
      }
  return settings;
}

std::vector<data::Sequence> load_test_sequences(const ExperimentConfig& config) {
  return load_sequences(config.data, Split::kTest).sequences;
}

}  // namespace v3d
