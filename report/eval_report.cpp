// Evaluation and sweep reports (report/eval_report.h).
#include "report/eval_report.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>

#include "data/atomic_file.h"
#include "kernels/common.h"
#include "report/plot.h"

namespace v3d {

namespace {

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

// `dir` created when missing; "<dir>: cannot create directory: ..." otherwise.
std::filesystem::path output_dir(const std::string& dir) {
  const std::filesystem::path out = dir;
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec) throw Error(out.string() + ": cannot create directory: " + ec.message());
  return out;
}

}  // namespace

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
       << (o.center == kernels::PoseCenter::kRoot ? "root" : "centroid") << " centre, AS over "
       << ltb_accumulate_name(o.accumulate) << ", placement " << ltb_placement_name(o.placement)
       << ", gate " << ltb_gate_name(o.gate);
    if (o.gate != kernels::PoseGate::kOff) md << " < " << fmt(o.gate_threshold, 2);
    md << ".";
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
                        {"center", o.center == kernels::PoseCenter::kRoot ? "root" : "centroid"},
                        {"accumulate", ltb_accumulate_name(o.accumulate)},
                        {"placement", ltb_placement_name(o.placement)},
                        {"gate", ltb_gate_name(o.gate)},
                        {"gate_threshold", o.gate_threshold}};
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

std::vector<std::string> write_eval_files(const EvalReport& report, const std::string& title,
                                          const std::string& dir) {
  const std::filesystem::path out = output_dir(dir);
  const std::vector<std::string> files = {(out / "eval.md").string(), (out / "eval.json").string(),
                                          (out / "error_vs_interval.png").string()};
  data::write_text_atomically(files[0], to_markdown(report, title));
  data::write_text_atomically(files[1], to_json(report));
  plot_error_vs_interval(report, files[2], title);
  return files;
}

std::vector<std::string> write_sweep_files(const LtbSweepReport& report, const std::string& title,
                                           const std::string& dir) {
  const std::filesystem::path out = output_dir(dir);
  const std::vector<std::string> files = {(out / "ltb_sweep.md").string(),
                                          (out / "ltb_sweep.csv").string(),
                                          (out / "ltb_sweep.png").string()};
  data::write_text_atomically(files[0], sweep_to_markdown(report, title));
  data::write_text_atomically(files[1], sweep_to_csv(report));
  plot_ltb_sweep(report, files[2]);
  return files;
}

}  // namespace v3d
