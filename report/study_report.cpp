// The study's reports (report/study_report.h).
#include "report/study_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "data/atomic_file.h"
#include "kernels/common.h"
#include "report/plot.h"

namespace v3d {

namespace {

constexpr Metric kTableMetrics[] = {Metric::kMpjpe, Metric::kPMpjpe, Metric::kMpjve};

std::string num(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

// Changes of a few tenths of a percent matter here (the bank's cost at TD 1): two decimals.
std::string signed_pct(double v) { return (v >= 0 ? "+" : "") + num(v, 2) + "%"; }

int decimals_of(Metric m) { return m == Metric::kMpjve ? 2 : 1; }

std::string cell(const SeedStats& s, int decimals) {
  if (s.n == 0) return "";
  std::string c = num(s.mean, decimals);
  if (s.n > 1) c += " ± " + num(s.std, decimals);
  return c + " (" + std::to_string(s.n) + ")";
}

std::string pct_cell(const SeedStats& s) {
  if (s.n == 0) return "";
  std::string c = signed_pct(s.mean);
  if (s.n > 1) c += " ± " + num(s.std, 2);
  return c + " (" + std::to_string(s.n) + ")";
}

std::string join(const std::vector<std::string>& items, const std::string& sep = ", ") {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : sep) + i;
  return s;
}

// The test row of interval index i without or with the bank (EvalReport::intervals holds, per
// interval, the row without the bank and then the row with it).
const IntervalReport& test_row(const StudyRun& run, size_t i, bool ltb) {
  return run.test.intervals.at(2 * i + (ltb ? 1 : 0));
}

std::vector<const StudyRun*> runs_of(const StudyResult& r, const std::string& mode) {
  std::vector<const StudyRun*> out;
  for (const auto& run : r.runs) {
    if (run.mode == mode) out.push_back(&run);
  }
  return out;
}

// The bank's MPJPE change (%) per seed of `mode` at interval index i.
SeedStats bank_change(const StudyResult& r, const std::string& mode, size_t i) {
  std::vector<double> v;
  for (const StudyRun* run : runs_of(r, mode)) {
    const double plain = test_row(*run, i, false).mean.mpjpe;
    v.push_back(100.0 * (test_row(*run, i, true).mean.mpjpe - plain) / plain);
  }
  return seed_stats(v);
}

std::string bank_reading(const StudyBank& b) {
  std::vector<std::string> keys;
  for (const std::string& o : b.overrides) keys.push_back(o.substr(4));  // without "ltb."
  return keys.empty() ? "the experiment's ltb section" : join(keys);
}

std::string tds(const std::vector<int>& intervals) {
  std::string s;
  for (int n : intervals) s += (s.empty() ? "TD " : "/") + std::to_string(n);
  return s;
}

// A table's head: the `lead` columns (left-aligned), then one right-aligned column per interval.
void interval_head(std::ostream& md, const std::vector<std::string>& lead,
                   const std::vector<int>& intervals) {
  md << "|";
  for (const auto& l : lead) md << " " << l << " |";
  for (int n : intervals) md << " TD " << n << " |";
  md << "\n|";
  for (size_t k = 0; k < lead.size(); ++k) md << "---|";
  for (size_t i = 0; i < intervals.size(); ++i) md << "---:|";
  md << "\n";
}

// A row: the `lead` cells, then value(i) for each interval index i.
template <typename F>
void interval_row(std::ostream& md, const std::vector<std::string>& lead, size_t intervals,
                  const F& value) {
  md << "|";
  for (const auto& l : lead) md << " " << l << " |";
  for (size_t i = 0; i < intervals; ++i) md << " " << value(i) << " |";
  md << "\n";
}

nlohmann::json errors_json(const Errors& e) {
  return {{"mpjpe", e.mpjpe}, {"p_mpjpe", e.p_mpjpe}, {"n_mpjpe", e.n_mpjpe}, {"mpjve", e.mpjve}};
}

nlohmann::json stats_json(const SeedStats& s) {
  return {{"mean", s.mean}, {"std", s.std}, {"n", s.n}};
}

}  // namespace

SeedStats study_cell(const StudyResult& result, const std::string& mode, size_t interval, bool ltb,
                     Metric metric) {
  std::vector<double> v;
  for (const StudyRun* run : runs_of(result, mode))
    v.push_back(test_row(*run, interval, ltb).mean.get(metric));
  return seed_stats(v);
}

std::string study_to_markdown(const StudyResult& r) {
  const StudySpec& s = r.spec;
  const ExperimentConfig& c = s.base;
  std::ostringstream md;
  std::vector<std::string> train, widths, seeds;
  for (const std::string& subject : c.data.train_subjects) {
    if (std::find(s.validation_subjects.begin(), s.validation_subjects.end(), subject) ==
        s.validation_subjects.end())
      train.push_back(subject);
  }
  for (int w : c.model.filter_widths) widths.push_back(std::to_string(w));
  for (uint64_t seed : s.seeds) seeds.push_back(std::to_string(seed));
  const StudyBank& chosen = s.banks[r.chosen];
  md << "# Study " << std::filesystem::path(s.path).filename().string() << "\n\n";
  md << "Experiment `" << s.experiment << "`"
     << (s.overrides.empty() ? "" : " with `" + join(s.overrides, "`, `") + "`")
     << ". Model: " << r.receptive_field << "-frame receptive field (filter widths "
     << join(widths, ",") << "), " << c.model.channels << " channels, " << r.parameters
     << " parameters; " << c.train.epochs << " epochs of batch " << c.train.batch_size
     << ". Trained on " << join(train) << " (validation subjects " << join(s.validation_subjects)
     << " held out of training), tested on " << join(c.data.test_subjects) << ". Seeds "
     << join(seeds) << "; " << r.epochs_trained << " epochs trained by this call.\n\n";
  md << "Errors in mm (MPJVE in mm per frame), mean over actions as VideoPose3D; a cell is mean "
        "± sample standard deviation over the seeds (n).\n\n";

  // The choice.
  md << "## Bank setting, chosen on the validation subjects\n\n";
  md << "Chosen: **" << chosen.name << "** (" << bank_reading(chosen) << "), validation figure "
     << signed_pct(r.validation_figure[r.chosen])
     << ": the change of MPJPE with the bank against without it on " << join(s.validation_subjects)
     << ", mean over the " << r.runs.size() << " runs and " << tds(s.select_intervals);
  if (!std::isnan(s.select_limit)) {
    md << ", lowest among the settings whose change stays within " << signed_pct(s.select_limit)
       << " at every test interval";
    if (std::find(r.eligible.begin(), r.eligible.end(), true) == r.eligible.end())
      md << " (none does: lowest of all)";
  }
  md << ". The test subjects take no part in the choice.\n\n";
  md << "| bank | reading |";
  for (int n : s.test_intervals) md << " TD " << n << " |";
  md << " figure | |\n|---|---|";
  for (size_t i = 0; i < s.test_intervals.size(); ++i) md << "---:|";
  md << "---:|---|\n";
  for (size_t b = 0; b < s.banks.size(); ++b) {
    md << "| " << s.banks[b].name << " | " << bank_reading(s.banks[b]) << " |";
    for (double v : r.validation_change[b]) md << " " << signed_pct(v) << " |";
    md << " " << signed_pct(r.validation_figure[b]) << " | "
       << (b == r.chosen ? "chosen" : (r.eligible[b] ? "" : "over the limit")) << " |\n";
  }
  md << "\n";

  // Tables 1 and 2.
  const std::pair<Metric, const char*> t12[] = {{Metric::kMpjpe, "Table 1"},
                                                {Metric::kPMpjpe, "Table 2"}};
  for (const auto& [m, name] : t12) {
    md << "## " << name << ": " << metric_title(m) << " without and with the bank (" << chosen.name
       << "), test subjects\n\n| Test interval | LTB |";
    for (const std::string& mode : s.modes) md << " " << mode << " |";
    md << "\n|---|---|";
    for (size_t k = 0; k < s.modes.size(); ++k) md << "---:|";
    md << "\n";
    for (size_t i = 0; i < s.test_intervals.size(); ++i) {
      for (const bool ltb : {false, true}) {
        md << "| TD " << s.test_intervals[i] << " | " << (ltb ? "w" : "w/o") << " |";
        for (const std::string& mode : s.modes)
          md << " " << cell(study_cell(r, mode, i, ltb, m), decimals_of(m)) << " |";
        md << "\n";
      }
    }
    md << "\n";
  }

  // Tables 3 and 4.
  for (const bool ltb : {false, true}) {
    md << "## Table " << (ltb ? 4 : 3) << ": training data x testing data, "
       << (ltb ? "with the bank (" + chosen.name + ")" : std::string("without the bank"))
       << ", test subjects\n\n";
    for (const Metric m : kTableMetrics) {
      md << "### " << metric_title(m) << (ltb ? " (w LTB)" : "") << "\n\n";
      interval_head(md, {"Training data"}, s.test_intervals);
      for (const std::string& mode : s.modes) {
        interval_row(md, {mode}, s.test_intervals.size(), [&](size_t i) {
          return cell(study_cell(r, mode, i, ltb, m), decimals_of(m));
        });
      }
      md << "\n";
    }
  }

  // Changes.
  md << "## Changes in MPJPE, test subjects\n\n### The bank (" << chosen.name
     << ") against without it, per seed\n\n";
  interval_head(md, {"Training data"}, s.test_intervals);
  for (const std::string& mode : s.modes) {
    interval_row(md, {mode}, s.test_intervals.size(),
                 [&](size_t i) { return pct_cell(bank_change(r, mode, i)); });
  }
  md << "\nFrames whose window the bank changed (mean over the runs):";
  for (size_t i = 0; i < s.test_intervals.size(); ++i) {
    double share = 0;
    for (const StudyRun& run : r.runs) {
      const LtbStats& st = test_row(run, i, true).ltb_stats;
      share += st.frames == 0
                   ? 0.0
                   : static_cast<double>(st.fused_frames) / static_cast<double>(st.frames);
    }
    md << (i == 0 ? " " : ", ") << "TD " << s.test_intervals[i] << " "
       << num(100.0 * share / static_cast<double>(r.runs.size()), 1) << "%";
  }
  md << ".\n\n";
  const std::string reference = "Sequential";
  if (std::find(s.modes.begin(), s.modes.end(), reference) != s.modes.end()) {
    md << "### Each training mode against Sequential (seed means), without and with the bank\n\n";
    interval_head(md, {"Training data", "LTB"}, s.test_intervals);
    for (const std::string& mode : s.modes) {
      if (mode == reference) continue;
      for (const bool ltb : {false, true}) {
        interval_row(md, {mode, ltb ? "w" : "w/o"}, s.test_intervals.size(), [&](size_t i) {
          const double base = study_cell(r, reference, i, ltb, Metric::kMpjpe).mean;
          const double v = study_cell(r, mode, i, ltb, Metric::kMpjpe).mean;
          return signed_pct(100.0 * (v - base) / base);
        });
      }
    }
    md << "\n";
  }
  return md.str();
}

std::string study_to_csv(const StudyResult& r) {
  std::ostringstream csv;
  csv << "split,mode,seed,bank,ltb,interval,mpjpe,p_mpjpe,n_mpjpe,mpjve,frames,fused_frames,"
         "checkpoint\n";
  const auto row = [&](const char* split, const StudyRun& run, const std::string& bank,
                       const IntervalReport& ir) {
    csv << split << "," << run.mode << "," << run.seed << "," << bank << "," << (ir.ltb ? 1 : 0)
        << "," << ir.interval << "," << num(ir.mean.mpjpe, 4) << "," << num(ir.mean.p_mpjpe, 4)
        << "," << num(ir.mean.n_mpjpe, 4) << "," << num(ir.mean.mpjve, 4) << "," << ir.mean.frames
        << "," << (ir.ltb ? ir.ltb_stats.fused_frames : 0) << "," << run.checkpoint << "\n";
  };
  for (const StudyRun& run : r.runs) {
    for (const auto& ir : run.validation.plain.intervals) row("validation", run, "", ir);
    for (size_t b = 0; b < run.validation.points.size(); ++b) {
      for (const auto& ir : run.validation.points[b].intervals)
        row("validation", run, r.spec.banks[b].name, ir);
    }
  }
  for (const StudyRun& run : r.runs) {
    for (const auto& ir : run.test.intervals)
      row("test", run, ir.ltb ? r.spec.banks[r.chosen].name : "", ir);
  }
  return csv.str();
}

std::string study_to_json(const StudyResult& r) {
  const StudySpec& s = r.spec;
  nlohmann::json j;
  j["unit"] = "mm";
  j["study"] = s.path;
  j["experiment"] = s.experiment;
  j["overrides"] = s.overrides;
  j["modes"] = s.modes;
  j["seeds"] = s.seeds;
  j["test_intervals"] = s.test_intervals;
  j["select_intervals"] = s.select_intervals;
  if (!std::isnan(s.select_limit)) j["select_limit_percent"] = s.select_limit;
  j["validation_subjects"] = s.validation_subjects;
  j["test_subjects"] = s.base.data.test_subjects;
  j["receptive_field"] = r.receptive_field;
  j["parameters"] = r.parameters;
  j["channels"] = s.base.model.channels;
  j["epochs"] = s.base.train.epochs;
  j["epochs_trained"] = r.epochs_trained;
  j["chosen"] = s.banks[r.chosen].name;
  j["banks"] = nlohmann::json::array();
  for (size_t b = 0; b < s.banks.size(); ++b) {
    j["banks"].push_back({{"name", s.banks[b].name},
                          {"overrides", s.banks[b].overrides},
                          {"validation_change_percent", r.validation_change[b]},
                          {"validation_figure_percent", r.validation_figure[b]},
                          {"eligible", static_cast<bool>(r.eligible[b])},
                          {"chosen", b == r.chosen}});
  }
  j["runs"] = nlohmann::json::array();
  for (const StudyRun& run : r.runs) {
    nlohmann::json jr = {{"mode", run.mode},
                         {"seed", run.seed},
                         {"checkpoint", run.checkpoint},
                         {"epochs_trained", run.epochs_trained}};
    nlohmann::json val_plain = nlohmann::json::array(), val_banks = nlohmann::json::object();
    for (const auto& ir : run.validation.plain.intervals) val_plain.push_back(errors_json(ir.mean));
    for (size_t b = 0; b < run.validation.points.size(); ++b) {
      nlohmann::json rows = nlohmann::json::array();
      for (const auto& ir : run.validation.points[b].intervals)
        rows.push_back(errors_json(ir.mean));
      val_banks[s.banks[b].name] = rows;
    }
    jr["validation"] = {{"plain", val_plain}, {"banks", val_banks}};
    nlohmann::json test_plain = nlohmann::json::array(), test_bank = nlohmann::json::array();
    for (size_t i = 0; i < s.test_intervals.size(); ++i) {
      test_plain.push_back(errors_json(test_row(run, i, false).mean));
      nlohmann::json w = errors_json(test_row(run, i, true).mean);
      w["fused_frames"] = test_row(run, i, true).ltb_stats.fused_frames;
      w["frames"] = test_row(run, i, true).ltb_stats.frames;
      test_bank.push_back(w);
    }
    jr["test"] = {{"plain", test_plain}, {"bank", test_bank}};
    j["runs"].push_back(jr);
  }
  // The tables' cells: tables[mode]["w/o" | "w"][metric][interval index] and the bank's change.
  nlohmann::json tables = nlohmann::json::object();
  for (const std::string& mode : s.modes) {
    nlohmann::json t;
    for (const bool ltb : {false, true}) {
      for (const Metric m : {Metric::kMpjpe, Metric::kPMpjpe, Metric::kNMpjpe, Metric::kMpjve}) {
        nlohmann::json cells = nlohmann::json::array();
        for (size_t i = 0; i < s.test_intervals.size(); ++i)
          cells.push_back(stats_json(study_cell(r, mode, i, ltb, m)));
        t[ltb ? "w" : "w/o"][metric_name(m)] = cells;
      }
    }
    nlohmann::json change = nlohmann::json::array();
    for (size_t i = 0; i < s.test_intervals.size(); ++i)
      change.push_back(stats_json(bank_change(r, mode, i)));
    t["bank_change_percent"] = change;
    tables[mode] = t;
  }
  j["tables"] = tables;
  return j.dump(2) + "\n";
}

std::vector<std::string> write_study_files(const StudyResult& r, const std::string& dir) {
  const std::filesystem::path out = dir;
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec) throw Error(out.string() + ": cannot create directory: " + ec.message());
  const std::vector<std::string> files = {
      (out / "study.md").string(), (out / "study.csv").string(), (out / "study.json").string(),
      (out / "study_error_vs_interval.png").string(), (out / "study_validation.png").string()};
  data::write_text_atomically(files[0], study_to_markdown(r));
  data::write_text_atomically(files[1], study_to_csv(r));
  data::write_text_atomically(files[2], study_to_json(r));
  const StudySpec& s = r.spec;
  const std::string name = std::filesystem::path(s.path).filename().string();

  PlotSpec test;
  test.title = name + ": test MPJPE, mean over seeds (dashed: bank " + s.banks[r.chosen].name + ")";
  test.x_label = "test interval N (TD N)";
  test.y_label = "MPJPE (mm)";
  for (size_t k = 0; k < s.modes.size(); ++k) {
    for (const bool ltb : {false, true}) {
      Series line;
      line.label = s.modes[k] + (ltb ? " (w LTB)" : " (w/o LTB)");
      line.color = static_cast<int>(k);
      line.dashed = ltb;
      for (size_t i = 0; i < s.test_intervals.size(); ++i) {
        line.x.push_back(s.test_intervals[i]);
        line.y.push_back(study_cell(r, s.modes[k], i, ltb, Metric::kMpjpe).mean);
      }
      test.series.push_back(std::move(line));
    }
  }
  write_line_plot_png(test, files[3]);

  PlotSpec val;
  val.title = name + ": MPJPE change with the bank on " + join(s.validation_subjects) +
              " (chosen: " + s.banks[r.chosen].name + ")";
  val.x_label = "test interval N (TD N)";
  val.y_label = "MPJPE change with the bank (%)";
  for (size_t b = 0; b < s.banks.size(); ++b) {
    Series line;
    line.label = s.banks[b].name;
    line.dashed = b != r.chosen;
    for (size_t i = 0; i < s.test_intervals.size(); ++i) {
      line.x.push_back(s.test_intervals[i]);
      line.y.push_back(r.validation_change[b][i]);
    }
    val.series.push_back(std::move(line));
  }
  write_line_plot_png(val, files[4]);
  return files;
}

}  // namespace v3d
