// `v3d study` (trainer/study.h): the study file, the runs, the bank choice on the validation split.
#include "trainer/study.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <optional>
#include <set>
#include <sstream>

#include "data/windows.h"
#include "kernels/common.h"
#include "trainer/checkpoint.h"
#include "trainer/progress.h"
#include "trainer/restore.h"
#include "trainer/train.h"

namespace fs = std::filesystem;

namespace v3d {

namespace {

std::string join(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : ", ") + i;
  return s;
}

// The study file's reader: every message starts with "FILE:LINE:" of the value concerned.
class StudyReader {
 public:
  explicit StudyReader(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void fail(const YAML::Node& at, const std::string& message) const {
    std::string where = path_;
    if (at.IsDefined() && !at.Mark().is_null()) where += ":" + std::to_string(at.Mark().line + 1);
    throw Error(where + ": " + message);
  }

  std::string scalar(const YAML::Node& node, const std::string& key) const {
    if (!node.IsScalar()) fail(node, "'" + key + "' must be a scalar");
    return node.Scalar();
  }

  std::vector<std::string> strings(const YAML::Node& node, const std::string& key) const {
    if (!node.IsSequence()) fail(node, "'" + key + "' must be a list");
    std::vector<std::string> out;
    for (const auto& item : node) out.push_back(scalar(item, key + " entry"));
    return out;
  }

  template <typename T>
  std::vector<T> numbers(const YAML::Node& node, const std::string& key, T min) const {
    std::vector<T> out;
    for (const std::string& s : strings(node, key)) {
      T v{};
      const char* b = s.data();
      const char* e = b + s.size();
      const auto [p, ec] = std::from_chars(b, e, v);
      if (b == e || ec != std::errc() || p != e || v < min)
        fail(node, "'" + key + "' entries must be integers >= " + std::to_string(min) + ", got '" +
                       s + "'");
      out.push_back(v);
    }
    return out;
  }

  template <typename T>
  void distinct_nonempty(const YAML::Node& node, const std::string& key,
                         const std::vector<T>& items) const {
    if (items.empty()) fail(node, "'" + key + "' must not be empty");
    for (size_t i = 0; i < items.size(); ++i) {
      if (std::count(items.begin(), items.end(), items[i]) > 1)
        fail(node, "'" + key + "' lists an entry twice");
    }
  }

 private:
  std::string path_;
};

const std::vector<std::string>& study_keys() {
  static const std::vector<std::string> keys = {"experiment",     "set",
                                                "modes",          "seeds",
                                                "test_intervals", "select_intervals",
                                                "select_limit",   "validation_subjects",
                                                "banks"};
  return keys;
}

std::vector<std::string> bank_keys() {
  std::vector<std::string> keys = {"preset"};
  for (const std::string& k : ltb_preset_keys()) keys.push_back(k);
  return keys;
}

// The first line where two configs' training keys differ ("" when none does). Keys that do not
// change what a run trains (where it runs, where it saves, what it is evaluated on) are ignored.
std::string training_difference(ExperimentConfig a, ExperimentConfig b) {
  for (ExperimentConfig* c : {&a, &b}) {
    c->device = "cpu";
    c->blas.clear();
    c->model.conv_backend = ops::ConvBackendChoice{};
    c->model.conv_tile = kernels::ConvTile{};
    c->train.checkpoint_dir.clear();
    c->train.checkpoint_every = 1;
    c->train.communicator = TrainConfig{}.communicator;
    c->train.bucket_mb = TrainConfig{}.bucket_mb;
    c->data.test_subjects = DataConfig{}.test_subjects;
    c->eval = EvalConfig{};
    c->ltb = LtbConfig{};
  }
  std::istringstream sa(to_yaml(a)), sb(to_yaml(b));
  std::string la, lb;
  while (true) {
    const bool ga = static_cast<bool>(std::getline(sa, la));
    const bool gb = static_cast<bool>(std::getline(sb, lb));
    if (!ga && !gb) return "";
    if (la != lb) return "'" + la + "' against the study's '" + lb + "'";
  }
}

// The latest epoch_<N>.h5 in `dir` with N <= `epochs` (N = 0, "" when none).
std::pair<int64_t, std::string> latest_checkpoint(const fs::path& dir) {
  std::pair<int64_t, std::string> best{0, ""};
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return best;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("epoch_", 0) != 0 || entry.path().extension() != ".h5") continue;
    const std::string digits = name.substr(6, name.size() - 6 - 3);
    int64_t n = 0;
    const auto [p, err] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (digits.empty() || err != std::errc() || p != digits.data() + digits.size()) continue;
    if (n > best.first) best = {n, entry.path().string()};
  }
  return best;
}

}  // namespace

std::string mode_slug(const std::string& mode) {
  std::string s;
  for (const char c : mode) {
    if (c == '/')
      s += '-';
    else if (c == '+' || c == ' ')
      s += '_';
    else
      s += c;
  }
  return s;
}

StudySpec load_study(const std::string& path, const std::vector<std::string>& overrides) {
  StudyReader r(path);
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw Error(path + ": cannot read the study file");
  } catch (const YAML::Exception& e) {
    throw Error(path + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  if (!root.IsMap()) r.fail(root, "a study must be a map of keys (" + join(study_keys()) + ")");
  std::set<std::string> seen;
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string key = it->first.IsScalar() ? it->first.Scalar() : "?";
    if (std::find(study_keys().begin(), study_keys().end(), key) == study_keys().end())
      r.fail(it->first, "unknown key '" + key + "'; valid keys of a study: " + join(study_keys()));
    if (!seen.insert(key).second) r.fail(it->first, "duplicate key '" + key + "'");
  }
  StudySpec spec;
  spec.path = path;
  if (!root["experiment"]) r.fail(root, "'experiment' (an experiment config file) is required");
  const fs::path experiment = r.scalar(root["experiment"], "experiment");
  spec.experiment =
      (experiment.is_absolute() ? experiment : fs::path(path).parent_path() / experiment)
          .lexically_normal()
          .string();
  if (root["set"]) spec.overrides = r.strings(root["set"], "set");
  spec.overrides.insert(spec.overrides.end(), overrides.begin(), overrides.end());
  try {
    spec.base = load_config(spec.experiment, spec.overrides);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }

  if (!root["modes"]) r.fail(root, "'modes' (the training modes, train.mode) is required");
  spec.modes = r.strings(root["modes"], "modes");
  r.distinct_nonempty(root["modes"], "modes", spec.modes);
  for (const std::string& m : spec.modes) {
    try {
      data::parse_resample_mode(m);
    } catch (const Error& e) {
      r.fail(root["modes"], std::string("modes: ") + e.what());
    }
  }
  if (!root["seeds"]) r.fail(root, "'seeds' (train.seed of each run) is required");
  spec.seeds = r.numbers<uint64_t>(root["seeds"], "seeds", 0);
  r.distinct_nonempty(root["seeds"], "seeds", spec.seeds);

  spec.test_intervals = spec.base.eval.test_intervals;
  if (root["test_intervals"]) {
    spec.test_intervals = r.numbers<int>(root["test_intervals"], "test_intervals", 1);
    r.distinct_nonempty(root["test_intervals"], "test_intervals", spec.test_intervals);
  }
  spec.select_intervals = spec.test_intervals;
  if (root["select_intervals"]) {
    spec.select_intervals = r.numbers<int>(root["select_intervals"], "select_intervals", 1);
    r.distinct_nonempty(root["select_intervals"], "select_intervals", spec.select_intervals);
    for (const int n : spec.select_intervals) {
      if (std::find(spec.test_intervals.begin(), spec.test_intervals.end(), n) ==
          spec.test_intervals.end())
        r.fail(root["select_intervals"],
               "select_intervals: " + std::to_string(n) + " is not one of the test_intervals");
    }
  }

  if (root["select_limit"]) {
    const std::string text = r.scalar(root["select_limit"], "select_limit");
    double v = 0;
    const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || p != text.data() + text.size() || !std::isfinite(v))
      r.fail(root["select_limit"], "'select_limit' must be a number (percent), got '" + text + "'");
    spec.select_limit = v;
  }

  const std::vector<std::string>& train = spec.base.data.train_subjects;
  if (!root["validation_subjects"])
    r.fail(root,
           "'validation_subjects' (training subjects held out to choose the bank) is "
           "required");
  spec.validation_subjects = r.strings(root["validation_subjects"], "validation_subjects");
  r.distinct_nonempty(root["validation_subjects"], "validation_subjects", spec.validation_subjects);
  for (const std::string& s : spec.validation_subjects) {
    if (std::find(train.begin(), train.end(), s) == train.end())
      r.fail(root["validation_subjects"],
             "validation subject '" + s +
                 "' is not a training subject (data.train_subjects: " + join(train) + ")");
  }
  if (spec.validation_subjects.size() >= train.size())
    r.fail(root["validation_subjects"],
           "validation_subjects holds out every training subject; keep at least one to train on");

  const YAML::Node banks = root["banks"];
  if (!banks) r.fail(root, "'banks' (the bank settings to choose from) is required");
  if (!banks.IsMap() || banks.size() == 0)
    r.fail(banks, "'banks' must be a non-empty map of named bank settings");
  const std::vector<std::string> valid = bank_keys();
  for (auto it = banks.begin(); it != banks.end(); ++it) {
    StudyBank bank;
    bank.name = r.scalar(it->first, "banks key");
    bank.where = path + ":" + std::to_string(it->first.Mark().line + 1);
    const YAML::Node keys = it->second;
    if (!keys.IsNull() && !keys.IsMap())
      r.fail(keys, "bank '" + bank.name + "' must be a map of ltb keys (" + join(valid) + ")");
    std::vector<std::string> rest;
    if (keys.IsMap()) {
      for (auto k = keys.begin(); k != keys.end(); ++k) {
        const std::string key = r.scalar(k->first, "bank key");
        if (std::find(valid.begin(), valid.end(), key) == valid.end())
          r.fail(k->first, "unknown key '" + key + "' in bank '" + bank.name +
                               "'; valid keys of a bank: " + join(valid));
        const std::string text = "ltb." + key + "=" + r.scalar(k->second, key);
        // The preset first: it resets the keys it names, the others override it.
        if (key == "preset")
          bank.overrides.push_back(text);
        else
          rest.push_back(text);
      }
    }
    bank.overrides.insert(bank.overrides.end(), rest.begin(), rest.end());
    std::vector<std::string> all = spec.overrides;
    all.insert(all.end(), bank.overrides.begin(), bank.overrides.end());
    try {
      bank.options = ltb_options(load_config(spec.experiment, all).ltb);
    } catch (const Error& e) {
      throw Error(bank.where + ": bank '" + bank.name + "': " + e.what());
    }
    for (const auto& b : spec.banks) {
      if (b.name == bank.name) r.fail(it->first, "bank '" + bank.name + "' is named twice");
    }
    spec.banks.push_back(std::move(bank));
  }
  return spec;
}

ExperimentConfig study_run_config(const StudySpec& spec, const std::string& mode, uint64_t seed,
                                  const std::string& dir) {
  ExperimentConfig c = spec.base;
  c.train.mode = mode;
  c.train.seed = seed;
  c.train.checkpoint_dir = dir;
  c.eval.test_intervals = spec.test_intervals;
  std::vector<std::string> train;
  for (const std::string& s : spec.base.data.train_subjects) {
    if (std::find(spec.validation_subjects.begin(), spec.validation_subjects.end(), s) ==
        spec.validation_subjects.end())
      train.push_back(s);
  }
  c.data.train_subjects = train;
  validate_config(c);
  return c;
}

SeedStats seed_stats(const std::vector<double>& values) {
  SeedStats s;
  s.n = static_cast<int64_t>(values.size());
  if (values.empty()) return s;
  for (const double v : values) s.mean += v;
  s.mean /= static_cast<double>(values.size());
  if (values.size() > 1) {
    double ss = 0;
    for (const double v : values) ss += (v - s.mean) * (v - s.mean);
    s.std = std::sqrt(ss / static_cast<double>(values.size() - 1));
  }
  return s;
}

size_t choose_bank(const std::vector<double>& figure, const std::vector<bool>& eligible) {
  V3D_CHECK(!figure.empty() && figure.size() == eligible.size(),
            "choose_bank: " << figure.size() << " figures, " << eligible.size() << " flags");
  const bool any = std::find(eligible.begin(), eligible.end(), true) != eligible.end();
  std::optional<size_t> best;
  for (size_t b = 0; b < figure.size(); ++b) {
    if (any && !eligible[b]) continue;
    if (!best || figure[b] < figure[*best]) best = b;
  }
  return *best;
}

StudyResult run_study(const StudySpec& spec, const StudyOptions& options) {
  const auto say = [&](const std::string& line) {
    if (options.on_message) options.on_message(line);
  };
  StudyResult result;
  result.spec = spec;

  // The plan: each run's config, where it stands, and its share of the work (epochs times the
  // windows per centre of its mode, plus one unit per evaluation).
  struct Planned {
    ExperimentConfig config;
    int64_t done_epochs = 0;
    std::string latest;
    int64_t weight = 1;
  };
  std::vector<Planned> plan;
  int64_t work = 0;
  for (const std::string& mode : spec.modes) {
    for (const uint64_t seed : spec.seeds) {
      const fs::path dir =
          fs::path(options.out_dir) / "runs" / mode_slug(mode) / ("seed" + std::to_string(seed));
      Planned p;
      p.config = study_run_config(spec, mode, seed, dir.string());
      const auto [n, latest] = latest_checkpoint(dir);
      if (!latest.empty()) {
        const std::string diff = training_difference(checkpoint_config(latest), p.config);
        if (!diff.empty())
          throw Error(latest + ": holds a run of another experiment (" + diff +
                      "); remove its folder or choose another --out");
        V3D_CHECK(n <= p.config.train.epochs,
                  latest << ": epoch " << n << " is past the study's " << p.config.train.epochs);
        p.done_epochs = n;
        p.latest = latest;
      }
      p.weight = data::parse_resample_mode(mode).copies;
      work += (p.config.train.epochs - p.done_epochs) * p.weight + 2;
      StudyRun run;
      run.mode = mode;
      run.seed = seed;
      run.dir = dir.string();
      result.runs.push_back(std::move(run));
      plan.push_back(std::move(p));
    }
  }

  std::optional<Progress> progress;
  if (!options.quiet) progress.emplace("study", work);
  int64_t done = 0;
  const auto advance = [&](int64_t units, const std::string& status) {
    done += units;
    if (progress) progress->update(done, status);
  };

  for (size_t i = 0; i < plan.size(); ++i) {
    Planned& p = plan[i];
    StudyRun& run = result.runs[i];
    const int64_t epochs = p.config.train.epochs;
    const std::string name = run.mode + " seed " + std::to_string(run.seed);
    if (p.done_epochs >= epochs) {
      run.checkpoint = p.latest;
      continue;
    }
    say(p.latest.empty() ? "training " + name
                         : "resuming " + name + " from epoch " + std::to_string(p.done_epochs));
    TrainOptions to;
    to.out_dir = run.dir;
    to.resume = p.latest;
    to.quiet = true;
    to.on_epoch = [&](const EpochLog& e) {
      advance(p.weight, "training " + name + ", epoch " + std::to_string(e.epoch) + "/" +
                            std::to_string(epochs));
    };
    const TrainResult tr = train(p.config, to);
    run.checkpoint = tr.checkpoint;
    run.epochs_trained = tr.epochs - p.done_epochs;
    result.epochs_trained += run.epochs_trained;
  }

  // Validation: every run on the held-out training subjects, plain and with every bank.
  ExperimentConfig val_config = spec.base;
  val_config.data.test_subjects = spec.validation_subjects;
  const std::vector<data::Sequence> val_seqs = load_test_sequences(val_config);
  const std::vector<data::Sequence> test_seqs = load_test_sequences(spec.base);
  std::vector<LtbOptions> settings;
  for (const StudyBank& b : spec.banks) settings.push_back(b.options);
  const auto options_of = [&](const RestoredModel& m) {
    EvalOptions o = eval_options(m.config);
    o.test_intervals = spec.test_intervals;
    o.ltb = LtbEval::kOff;
    return o;
  };
  const Device device = parse_device(spec.base.device);
  for (StudyRun& run : result.runs) {
    const RestoredModel m = restore_model(run.checkpoint, {}, device);
    result.receptive_field = m.model->receptive_field();
    result.parameters = m.model->parameter_count();
    run.validation = sweep_ltb(*m.model, val_seqs, options_of(m), settings);
    advance(1, "validating " + run.mode + " seed " + std::to_string(run.seed));
  }

  const size_t banks = spec.banks.size(), intervals = spec.test_intervals.size();
  result.validation_change.assign(banks, std::vector<double>(intervals, 0.0));
  result.validation_figure.assign(banks, 0.0);
  for (size_t b = 0; b < banks; ++b) {
    for (size_t i = 0; i < intervals; ++i) {
      double sum = 0;
      for (const StudyRun& run : result.runs) {
        const double plain = run.validation.plain.intervals[i].mean.mpjpe;
        const double with = run.validation.points[b].intervals[i].mean.mpjpe;
        sum += 100.0 * (with - plain) / plain;
      }
      result.validation_change[b][i] = sum / static_cast<double>(result.runs.size());
    }
    double fig = 0;
    for (const int n : spec.select_intervals) {
      const size_t i =
          static_cast<size_t>(std::find(spec.test_intervals.begin(), spec.test_intervals.end(), n) -
                              spec.test_intervals.begin());
      fig += result.validation_change[b][i];
    }
    result.validation_figure[b] = fig / static_cast<double>(spec.select_intervals.size());
    bool within = true;
    for (const double change : result.validation_change[b])
      within = within && !(change > spec.select_limit);  // NaN: no limit
    result.eligible.push_back(within);
  }
  result.chosen = choose_bank(result.validation_figure, result.eligible);
  say("chose bank '" + spec.banks[result.chosen].name + "' on the validation subjects");

  // Test: every run without and with the chosen bank, as `v3d eval --ltb both`.
  for (StudyRun& run : result.runs) {
    const RestoredModel m = restore_model(run.checkpoint, {}, device);
    EvalOptions o = options_of(m);
    o.ltb = LtbEval::kBoth;
    o.ltb_options = spec.banks[result.chosen].options;
    run.test = evaluate(*m.model, test_seqs, o);
    advance(1, "testing " + run.mode + " seed " + std::to_string(run.seed));
  }
  if (progress) progress->finish();
  return result;
}

}  // namespace v3d
