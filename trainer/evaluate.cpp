// Test-interval evaluation (trainer/evaluate.h). Each phase is one forward_eval call of batch 1
// (2 with TTA) over the whole phase: VideoPose3D's UnchunkedGenerator, one sequence at a time.
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

EvalOptions eval_options(const ExperimentConfig& config) {
  EvalOptions o;
  o.test_intervals = config.eval.test_intervals;
  o.flip_tta = config.eval.flip_tta;
  o.metrics.clear();
  for (const auto& name : config.eval.metrics) o.metrics.push_back(parse_metric(name));
  o.keypoints = config.data.keypoints == "pseudo_coco" ? &data::Skeleton::coco17()
                                                       : &data::Skeleton::h36m17();
  o.joints = &data::Skeleton::h36m17();
  return o;
}

std::vector<float> predict_sequence(TemporalModel& model, const data::Sequence& seq,
                                    const data::Skeleton& keypoints, const data::Skeleton& joints,
                                    bool flip_tta) {
  const TemporalModelConfig& mc = model.config();
  V3D_CHECK(mc.joints_in == keypoints.num_joints() && mc.features_in == 2 &&
                mc.joints_out == joints.num_joints(),
            "evaluate: the model takes "
                << mc.joints_in << " keypoints with " << mc.features_in << " features and predicts "
                << mc.joints_out << " joints; the data has " << keypoints.num_joints()
                << " keypoints (" << keypoints.name << ") and " << joints.num_joints()
                << " joints (" << joints.name << ")");
  const int64_t pad = (model.receptive_field() - 1) / 2;
  const int64_t causal_shift = mc.causal ? pad : 0;
  const data::EvalInput in =
      data::make_eval_input(seq, keypoints, joints, pad, causal_shift, flip_tta);
  const int64_t row = mc.in_channels();
  const Tensor x = Tensor::from_vector(in.inputs_2d, {in.batch, in.length, row}, model.device());
  // y: (batch, frames, J_out*3)
  const std::vector<float> y = model.forward_eval(x).to_vector();
  const int64_t jo = mc.joints_out, n = seq.frames * jo * 3;
  V3D_CHECK(static_cast<int64_t>(y.size()) == in.batch * n,
            "evaluate: the model returned " << y.size() << " values for " << in.batch << " x "
                                            << seq.frames << " frames");
  std::vector<float> pred(y.begin(), y.begin() + n);
  if (flip_tta) {
    // Un-flip the second prediction (x negated, joint j from its mirror) and average.
    const std::vector<int> perm = joints.flip_permutation();
    const float* flipped = y.data() + n;
    for (int64_t t = 0; t < seq.frames; ++t) {
      for (int64_t j = 0; j < jo; ++j) {
        const float* src = flipped + (t * jo + perm[static_cast<size_t>(j)]) * 3;
        float* dst = pred.data() + (t * jo + j) * 3;
        dst[0] = 0.5f * (dst[0] - src[0]);
        dst[1] = 0.5f * (dst[1] + src[1]);
        dst[2] = 0.5f * (dst[2] + src[2]);
      }
    }
  }
  return pred;
}

EvalReport evaluate(TemporalModel& model, const std::vector<data::Sequence>& test_sequences,
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
  const data::Skeleton& kp = *options.keypoints;
  const data::Skeleton& jt = *options.joints;
  for (const auto& seq : test_sequences) {
    V3D_CHECK(!seq.poses_3d.empty(), "evaluate: " << seq.subject << "/" << seq.action << " camera "
                                                  << seq.camera
                                                  << " has no 3D poses to evaluate against");
    data::validate_sequence(seq, kp.num_joints(), jt.num_joints(), true);
  }
  NoGradGuard no_grad;
  EvalReport report;
  report.flip_tta = options.flip_tta;
  report.receptive_field = model.receptive_field();
  report.sequences = static_cast<int64_t>(test_sequences.size());
  for (const auto& seq : test_sequences) report.frames += seq.frames;
  report.metrics = options.metrics;
  const int64_t joints = jt.num_joints();
  for (int n : options.test_intervals) {
    IntervalReport ir;
    ir.interval = n;
    ErrorAggregator agg;
    for (const auto& seq : test_sequences) {
      for (const data::Sequence& phase : data::split_phases(seq, n)) {
        const std::vector<float> pred = predict_sequence(model, phase, kp, jt, options.flip_tta);
        const std::vector<double> p(pred.begin(), pred.end());
        std::vector<double> t(phase.poses_3d.begin(), phase.poses_3d.end());
        // VideoPose3D zeroes the target's root before the metrics (prepare_sequences already
        // did; this keeps foreign sequences honest).
        for (int64_t f = 0; f < phase.frames; ++f)
          for (int c = 0; c < 3; ++c) t[static_cast<size_t>(f * joints * 3 + c)] = 0;
        agg.add(phase.action, sequence_errors(p, t, joints));
        ++ir.phases;
      }
    }
    for (auto a : agg.actions()) ir.actions.push_back({a.action, to_mm(a.errors)});
    ir.mean = to_mm(agg.mean());
    report.intervals.push_back(std::move(ir));
  }
  return report;
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
  md << "# " << title << "\n\n";
  md << "Receptive field " << report.receptive_field << " frames; " << report.sequences
     << " test sequences, " << report.frames << " frames; test-time flip augmentation "
     << (report.flip_tta ? "on" : "off")
     << ". Errors in mm: frame-weighted within an action, unweighted mean over actions.\n\n";
  md << "## Mean over actions\n\n| Test interval |";
  for (Metric m : report.metrics) md << " " << metric_title(m) << " |";
  md << "\n|---|";
  for (size_t i = 0; i < report.metrics.size(); ++i) md << "---:|";
  md << "\n";
  for (const auto& ir : report.intervals) {
    md << "| TD " << ir.interval << " |";
    for (Metric m : report.metrics) md << " " << fmt(ir.mean.get(m), decimals(m)) << " |";
    md << "\n";
  }
  // Per-action tables: the action groups of the first interval (every interval has the same).
  if (report.intervals.empty()) return md.str();
  const auto& groups = report.intervals.front().actions;
  for (Metric m : report.metrics) {
    md << "\n## " << metric_title(m) << " per action\n\n| Test interval |";
    for (const auto& a : groups) md << " " << a.action << " |";
    md << " Avg |\n|---|";
    for (size_t i = 0; i <= groups.size(); ++i) md << "---:|";
    md << "\n";
    for (const auto& ir : report.intervals) {
      md << "| TD " << ir.interval << " |";
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
  j["metrics"] = nlohmann::json::array();
  for (Metric m : report.metrics) j["metrics"].push_back(metric_name(m));
  j["intervals"] = nlohmann::json::array();
  for (const auto& ir : report.intervals) {
    nlohmann::json ji;
    ji["interval"] = ir.interval;
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
