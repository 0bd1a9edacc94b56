// Test-interval evaluation (trainer/evaluate.h): the phases of each test interval through
// trainer/predict.h (and trainer/ltb.h with the bank), then the metrics.
#include "trainer/evaluate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <span>
#include <sstream>

#include "data/dataset.h"
#include "data/synth.h"
#include "kernels/common.h"
#include "runtime/autograd.h"
#include "trainer/restore.h"

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

std::string fmt(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

// VideoPose3D rounds P1-P3 to 0.1 mm and velocity to 0.01 mm.
int decimals(Metric m) { return m == Metric::kMpjve ? 2 : 1; }

nlohmann::json errors_json(const Errors& e) {
  return {{"mpjpe", e.mpjpe}, {"p_mpjpe", e.p_mpjpe}, {"n_mpjpe", e.n_mpjpe},
          {"mpjve", e.mpjve}, {"frames", e.frames},   {"velocity_frames", e.velocity_frames}};
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
  o.metrics.clear();
  for (const auto& name : config.eval.metrics) o.metrics.push_back(parse_metric(name));
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

std::vector<int32_t> check_ltb(const TemporalModel& model, const LtbOptions& o,
                               const data::Skeleton& kp) {
  validate_ltb_options(o);
  V3D_CHECK(!model.config().causal,
            "evaluate: the long-term bank fuses centred windows; the model is causal");
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

IntervalData interval_data(TemporalModel& model, const std::vector<data::Sequence>& test_sequences,
                           const EvalOptions& options, int n, bool predict,
                           const TemporalModel::FoldedWeights& folded) {
  IntervalData d;
  for (const auto& seq : test_sequences)
    for (data::Sequence& phase : data::split_phases(seq, n)) d.phases.push_back(std::move(phase));
  if (!predict) return d;
  std::vector<const data::Sequence*> ptrs;
  for (const auto& phase : d.phases) ptrs.push_back(&phase);
  d.plain = predict_sequences(model, ptrs, *options.keypoints, *options.joints, options.flip_tta,
                              &folded);
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
    const std::vector<int32_t>& parents, const EvalOptions& options, LtbStats* stats,
    std::vector<std::vector<float>>* plain, const TemporalModel::FoldedWeights& folded) {
  std::vector<std::span<const float>> views;
  std::vector<const data::Sequence*> ptrs;
  for (const auto& phase : phases) {
    views.emplace_back(phase.poses_2d);
    ptrs.push_back(&phase);
  }
  const LtbPlan plan = plan_ltb(views, options.keypoints->num_joints(), parents,
                                (model.receptive_field() - 1) / 2, ltb, model.device());
  return predict_with_ltb(model, ptrs, plan, *options.keypoints, *options.joints, options.flip_tta,
                          stats, plain, &folded);
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
  if (ltb_rows) parents = check_ltb(model, options.ltb_options, kp);
  const TemporalModel::FoldedWeights folded = model.fold_weights();  // once for every phase
  for (int n : options.test_intervals) {
    // With the bank, the plain predictions come out of the bank path (one dilated pass each).
    IntervalData d = interval_data(model, test_sequences, options, n, !ltb_rows, folded);
    std::vector<std::vector<float>> fused;
    LtbStats stats;
    if (ltb_rows)
      fused = ltb_predictions(model, d.phases, options.ltb_options, parents, options, &stats,
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
  for (const auto& o : settings) parents = check_ltb(model, o, kp);
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
                                         &stats, nullptr, folded);
      IntervalReport ir = interval_report(data[k], fused, true, options.test_intervals[k], jt);
      ir.ltb_stats = stats;
      out.points[i].intervals.push_back(std::move(ir));
    }
    if (on_setting) on_setting(static_cast<int64_t>(i) + 1, static_cast<int64_t>(settings.size()));
  }
  return out;
}

std::string sweep_to_markdown(const LtbSweepReport& report, const std::string& title) {
  std::ostringstream md;
  const EvalReport& p = report.plain;
  md << "# " << title << "\n\n";
  md << "Receptive field " << p.receptive_field << " frames; " << p.sequences << " test sequences, "
     << p.frames << " frames; test-time flip augmentation " << (p.flip_tta ? "on" : "off")
     << ". Mean over actions in mm; fused: the share of frames whose window the bank changed.\n\n";
  md << "| capacity | threshold | fusion threshold | max insert | mode |";
  for (const auto& ir : p.intervals)
    md << " TD " << ir.interval << " MPJPE | TD " << ir.interval << " P-MPJPE | TD " << ir.interval
       << " fused |";
  md << "\n|---:|---:|---:|---:|---|";
  for (size_t i = 0; i < p.intervals.size(); ++i) md << "---:|---:|---:|";
  md << "\n| w/o LTB | | | | |";
  for (const auto& ir : p.intervals)
    md << " " << fmt(ir.mean.mpjpe, 1) << " | " << fmt(ir.mean.p_mpjpe, 1) << " | |";
  md << "\n";
  for (const auto& pt : report.points) {
    const LtbOptions& o = pt.options;
    md << "| " << o.capacity << " | " << fmt(o.threshold, 2) << " | " << fmt(o.fusion_threshold, 2)
       << " | " << (o.max_insert < 0 ? std::string("r") : std::to_string(o.max_insert)) << " | "
       << (o.online ? "online" : "offline") << " |";
    for (const auto& ir : pt.intervals) {
      const double share = ir.ltb_stats.frames == 0
                               ? 0.0
                               : 100.0 * static_cast<double>(ir.ltb_stats.fused_frames) /
                                     static_cast<double>(ir.ltb_stats.frames);
      md << " " << fmt(ir.mean.mpjpe, 1) << " | " << fmt(ir.mean.p_mpjpe, 1) << " | "
         << fmt(share, 1) << "% |";
    }
    md << "\n";
  }
  return md.str();
}

std::string sweep_to_csv(const LtbSweepReport& report) {
  std::ostringstream csv;
  csv << "ltb,capacity,threshold,fusion_threshold,max_insert,mode,center,interval,mpjpe,p_mpjpe,"
         "n_mpjpe,mpjve,frames,fused_frames,bank_entries,phases\n";
  for (const auto& ir : report.plain.intervals)
    csv << "0,,,,,,," << ir.interval << "," << fmt(ir.mean.mpjpe, 4) << ","
        << fmt(ir.mean.p_mpjpe, 4) << "," << fmt(ir.mean.n_mpjpe, 4) << "," << fmt(ir.mean.mpjve, 4)
        << "," << ir.mean.frames << ",0,0," << ir.phases << "\n";
  for (const auto& pt : report.points) {
    const LtbOptions& o = pt.options;
    for (const auto& ir : pt.intervals)
      csv << "1," << o.capacity << "," << fmt(o.threshold, 4) << "," << fmt(o.fusion_threshold, 4)
          << "," << o.max_insert << "," << (o.online ? "online" : "offline") << ","
          << (o.center == kernels::PoseCenter::kRoot ? "root" : "centroid") << "," << ir.interval
          << "," << fmt(ir.mean.mpjpe, 4) << "," << fmt(ir.mean.p_mpjpe, 4) << ","
          << fmt(ir.mean.n_mpjpe, 4) << "," << fmt(ir.mean.mpjve, 4) << "," << ir.ltb_stats.frames
          << "," << ir.ltb_stats.fused_frames << "," << ir.ltb_stats.bank_entries << ","
          << ir.phases << "\n";
  }
  return csv.str();
}

std::vector<data::Sequence> load_test_sequences(const ExperimentConfig& config) {
  const DataConfig& d = config.data;
  data::Dataset dataset;
  if (const auto* synth = std::get_if<SyntheticSourceConfig>(&d.source)) {
    data::SynthOptions so;
    so.seed = synth->seed;
    so.frames_per_action = synth->frames;
    so.subjects = d.test_subjects;
    dataset = data::synthesize(so);
  } else {
    const auto& h5 = std::get<H5SourceConfig>(d.source);
    data::ReadFilter filter;
    filter.subjects = d.test_subjects;
    filter.actions = d.actions;
    filter.positions_2d = !d.ground_truth_2d;
    dataset = data::read_dataset(h5.path, filter);
  }
  data::PrepareSpec spec;
  spec.subjects = d.test_subjects;
  spec.actions = d.actions;
  spec.subset = 1.0;  // VideoPose3D subsets the training set only
  spec.downsample = d.downsample;
  spec.ground_truth_2d = d.ground_truth_2d;
  spec.pseudo_coco = d.keypoints == "pseudo_coco";
  return data::prepare_sequences(dataset, spec);
}

std::string to_markdown(const EvalReport& report, const std::string& title) {
  std::ostringstream md;
  const bool ltb = report.ltb != LtbEval::kOff;
  md << "# " << title << "\n\n";
  md << "Receptive field " << report.receptive_field << " frames; " << report.sequences
     << " test sequences, " << report.frames << " frames; test-time flip augmentation "
     << (report.flip_tta ? "on" : "off")
     << ". Errors in mm: frame-weighted within an action, unweighted mean over actions.\n\n";
  if (ltb) {
    const LtbOptions& o = report.ltb_options;
    md << "Long-term pose bank (LTB): capacity " << o.capacity << ", threshold "
       << fmt(o.threshold, 2) << ", fusion threshold " << fmt(o.fusion_threshold, 2)
       << ", max insert "
       << (o.max_insert < 0 ? (report.receptive_field - 1) / 2 : int64_t{o.max_insert}) << ", "
       << (o.online ? "online" : "offline") << ", "
       << (o.center == kernels::PoseCenter::kRoot ? "root" : "centroid") << " centre.";
    for (const auto& ir : report.intervals) {
      if (!ir.ltb || ir.ltb_stats.frames == 0) continue;
      md << " TD " << ir.interval << ": "
         << fmt(100.0 * static_cast<double>(ir.ltb_stats.fused_frames) /
                    static_cast<double>(ir.ltb_stats.frames),
                1)
         << "% of frames fused, "
         << fmt(static_cast<double>(ir.ltb_stats.bank_entries) /
                    static_cast<double>(std::max<int64_t>(ir.ltb_stats.sequences, 1)),
                1)
         << " bank entries per phase.";
    }
    md << "\n\n";
  }
  auto row_head = [ltb](const IntervalReport& ir) {
    std::string h = "| TD " + std::to_string(ir.interval) + " |";
    if (ltb) h += ir.ltb ? " w |" : " w/o |";
    return h;
  };
  md << "## Mean over actions\n\n| Test interval |" << (ltb ? " LTB |" : "");
  for (Metric m : report.metrics) md << " " << metric_title(m) << " |";
  md << "\n|---|" << (ltb ? "---|" : "");
  for (size_t i = 0; i < report.metrics.size(); ++i) md << "---:|";
  md << "\n";
  for (const auto& ir : report.intervals) {
    md << row_head(ir);
    for (Metric m : report.metrics) md << " " << fmt(ir.mean.get(m), decimals(m)) << " |";
    md << "\n";
  }
  // Per-action tables (with the bank: laid out like the paper's Tables 1 and 2): the action
  // groups of the first interval (every interval has the same).
  if (report.intervals.empty()) return md.str();
  const auto& groups = report.intervals.front().actions;
  for (Metric m : report.metrics) {
    md << "\n## " << metric_title(m) << " per action\n\n| Test interval |" << (ltb ? " LTB |" : "");
    for (const auto& a : groups) md << " " << a.action << " |";
    md << " Avg |\n|---|" << (ltb ? "---|" : "");
    for (size_t i = 0; i <= groups.size(); ++i) md << "---:|";
    md << "\n";
    for (const auto& ir : report.intervals) {
      md << row_head(ir);
      for (const auto& a : ir.actions) md << " " << fmt(a.errors.get(m), decimals(m)) << " |";
      md << " " << fmt(ir.mean.get(m), decimals(m)) << " |\n";
    }
  }
  return md.str();
}

std::string to_json(const EvalReport& report) {
  nlohmann::json j;
  j["unit"] = "mm";
  j["flip_tta"] = report.flip_tta;
  j["receptive_field"] = report.receptive_field;
  j["sequences"] = report.sequences;
  j["frames"] = report.frames;
  j["ltb"] = ltb_eval_name(report.ltb);
  if (report.ltb != LtbEval::kOff) {
    const LtbOptions& o = report.ltb_options;
    j["ltb_options"] = {{"capacity", o.capacity},
                        {"threshold", o.threshold},
                        {"fusion_threshold", o.fusion_threshold},
                        {"max_insert", o.max_insert},
                        {"mode", o.online ? "online" : "offline"},
                        {"center", o.center == kernels::PoseCenter::kRoot ? "root" : "centroid"}};
  }
  j["metrics"] = nlohmann::json::array();
  for (Metric m : report.metrics) j["metrics"].push_back(metric_name(m));
  j["intervals"] = nlohmann::json::array();
  for (const auto& ir : report.intervals) {
    nlohmann::json ji;
    ji["interval"] = ir.interval;
    ji["ltb"] = ir.ltb;
    if (ir.ltb) {
      ji["ltb_stats"] = {{"frames", ir.ltb_stats.frames},
                         {"fused_frames", ir.ltb_stats.fused_frames},
                         {"bank_entries", ir.ltb_stats.bank_entries},
                         {"sequences", ir.ltb_stats.sequences}};
    }
    ji["phases"] = ir.phases;
    ji["mean"] = errors_json(ir.mean);
    ji["actions"] = nlohmann::json::array();
    for (const auto& a : ir.actions) {
      nlohmann::json ja = errors_json(a.errors);
      ja["action"] = a.action;
      ji["actions"].push_back(ja);
    }
    j["intervals"].push_back(ji);
  }
  return j.dump(2) + "\n";
}

}  // namespace v3d
