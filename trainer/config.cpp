// Reading works on a yaml-cpp tree: the file is parsed, each --set override is written into the
// tree (creating sections as needed), then the tree is read section by section. A Section records
// the keys it is asked for, so the keys it reports as valid are exactly the keys it reads. Every
// error names its origin: the --set argument that last touched the key, else file:line.
#include "trainer/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "data/batches.h"
#include "kernels/common.h"
#include "kernels/pose_bank.h"
#include "runtime/device.h"

namespace v3d {
namespace {

const std::vector<std::string> kKeypoints = {"h36m17", "pseudo_coco"};
const std::vector<std::string> kMetrics = {"mpjpe", "p_mpjpe", "n_mpjpe", "mpjve"};
const std::vector<std::string> kLtbModes = {"offline", "online"};
const std::vector<std::string> kLtbCenters = {"centroid", "root"};

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string child_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

// Whether `a` equals `b` or one is a section of the other ("data" and "data.source.type").
bool path_related(const std::string& a, const std::string& b) {
  const std::string& shorter = a.size() < b.size() ? a : b;
  const std::string& longer = a.size() < b.size() ? b : a;
  return longer.compare(0, shorter.size(), shorter) == 0 &&
         (longer.size() == shorter.size() || longer[shorter.size()] == '.');
}

// The message of a v3d::Error without V3D_CHECK's " [check ... failed at file:line]" suffix,
// which says nothing to a user whose config holds a bad value.
std::string user_message(const Error& e) {
  std::string m = e.what();
  const size_t at = m.find(" [check `");
  return at == std::string::npos ? m : m.substr(0, at);
}

struct Override {
  std::string key;   // "train.lr"
  std::string text;  // "train.lr=5e-4"
};

class Context {
 public:
  explicit Context(std::string origin) : origin_(std::move(origin)) {}

  void add_override(Override o) { overrides_.push_back(std::move(o)); }
  void mark(const std::string& key, const YAML::Mark& m) {
    if (!m.is_null()) marks_[key] = m;
  }
  // Where the value of `key` came from: the last --set touching it, else the file and line.
  std::string where(const std::string& key) const {
    for (auto it = overrides_.rbegin(); it != overrides_.rend(); ++it) {
      if (path_related(it->key, key)) return "--set " + it->text;
    }
    std::string best = origin_;
    // The key itself, else its nearest section that the file holds.
    for (std::string k = key; !k.empty();) {
      auto m = marks_.find(k);
      if (m != marks_.end()) return origin_ + ":" + std::to_string(m->second.line + 1);
      const size_t dot = k.rfind('.');
      k = dot == std::string::npos ? std::string() : k.substr(0, dot);
    }
    return best;
  }
  [[noreturn]] void fail(const std::string& key, const std::string& message) const {
    throw Error(where(key) + ": " + message);
  }
  const std::string& origin() const { return origin_; }

 private:
  std::string origin_;
  std::vector<Override> overrides_;
  std::map<std::string, YAML::Mark> marks_;
};

const char* kind_name(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return "nothing (null)";
  if (n.IsMap()) return "a map";
  if (n.IsSequence()) return "a list";
  return "a scalar";
}

// One map of keys. get() registers a key as valid; finish() rejects every key not asked for.
class Section {
 public:
  Section(Context& ctx, const YAML::Node& node, std::string path)
      : ctx_(ctx), path_(std::move(path)) {
    if (!node.IsDefined() || node.IsNull()) return;  // "ltb:" with nothing: all defaults
    if (!node.IsMap()) {
      ctx_.fail(path_, (path_.empty() ? std::string("the config") : "'" + path_ + "'") +
                           " must be a map of keys, got " + kind_name(node));
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar()) {
        ctx_.fail(path_, "a key in '" + path_ + "' is " + kind_name(it->first) +
                             "; keys must be plain names");
      }
      const std::string key = it->first.Scalar();
      const std::string full = child_path(path_, key);
      for (const auto& e : entries_) {
        if (e.first == key) ctx_.fail(full, "duplicate key '" + full + "'");
      }
      ctx_.mark(full, it->first.Mark());
      entries_.emplace_back(key, it->second);
    }
  }

  // The value at `key`, or an undefined node when the section leaves it out.
  YAML::Node get(const std::string& key) {
    valid_.push_back(key);
    for (const auto& e : entries_) {
      if (e.first == key) return e.second;
    }
    return YAML::Node(YAML::NodeType::Undefined);
  }

  void finish(const std::string& what = "") const {
    for (const auto& e : entries_) {
      if (std::find(valid_.begin(), valid_.end(), e.first) != valid_.end()) continue;
      const std::string full = child_path(path_, e.first);
      const std::string scope =
          path_.empty() ? std::string("the top level") : "section '" + path_ + "'" + what;
      ctx_.fail(full, "unknown key '" + full + "'; valid keys of " + scope + ": " + join(valid_));
    }
  }

  Context& context() const { return ctx_; }
  std::string key_path(const std::string& key) const { return child_path(path_, key); }

 private:
  Context& ctx_;
  std::string path_;
  std::vector<std::pair<std::string, YAML::Node>> entries_;
  std::vector<std::string> valid_;
};

// ---------------------------------------------------------------------------------------------
// Scalars
// ---------------------------------------------------------------------------------------------

bool parse_scalar(const std::string& s, int64_t& out) {
  const char* b = s.data();
  const char* e = b + s.size();
  if (b != e && *b == '+') ++b;
  auto [p, ec] = std::from_chars(b, e, out);
  return b != e && ec == std::errc() && p == e;
}

bool parse_scalar(const std::string& s, uint64_t& out) {
  const char* b = s.data();
  const char* e = b + s.size();
  if (b != e && *b == '+') ++b;
  auto [p, ec] = std::from_chars(b, e, out);
  return b != e && ec == std::errc() && p == e;
}

bool parse_scalar(const std::string& s, int& out) {
  int64_t v = 0;
  if (!parse_scalar(s, v) || v < std::numeric_limits<int>::min() ||
      v > std::numeric_limits<int>::max()) {
    return false;
  }
  out = static_cast<int>(v);
  return true;
}

bool parse_scalar(const std::string& s, double& out) {
  if (s.empty() || std::isspace(static_cast<unsigned char>(s[0]))) return false;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || errno == ERANGE || !std::isfinite(v)) return false;
  out = v;
  return true;
}

bool parse_scalar(const std::string& s, bool& out) {
  if (s == "true") {
    out = true;
    return true;
  }
  if (s == "false") {
    out = false;
    return true;
  }
  return false;
}

bool parse_scalar(const std::string& s, std::string& out) {
  out = s;
  return true;
}

template <class T>
const char* type_name() {
  if constexpr (std::is_same_v<T, bool>) {
    return "a boolean (true or false)";
  } else if constexpr (std::is_same_v<T, int>) {
    return "an integer";
  } else if constexpr (std::is_same_v<T, int64_t>) {
    return "an integer";
  } else if constexpr (std::is_same_v<T, uint64_t>) {
    return "a non-negative integer";
  } else if constexpr (std::is_same_v<T, double>) {
    return "a finite number";
  } else {
    return "a string";
  }
}

template <class T>
void read_scalar(Context& ctx, const YAML::Node& node, const std::string& key, T& out) {
  if (!node.IsScalar()) {
    ctx.fail(key, "'" + key + "' must be " + type_name<T>() + ", got " + kind_name(node));
  }
  if (!parse_scalar(node.Scalar(), out)) {
    ctx.fail(key, "'" + key + "' must be " + type_name<T>() + ", got '" + node.Scalar() + "'");
  }
}

// A key left out keeps `out` (its default).
template <class T>
void read(Section& s, const std::string& key, T& out) {
  const YAML::Node node = s.get(key);
  if (node.IsDefined()) read_scalar(s.context(), node, s.key_path(key), out);
}

// Lists: a YAML sequence of scalars, or one scalar of comma-separated items ("3,3,3"; "" = []).
template <class T>
void read(Section& s, const std::string& key, std::vector<T>& out) {
  const YAML::Node node = s.get(key);
  if (!node.IsDefined()) return;
  Context& ctx = s.context();
  const std::string full = s.key_path(key);
  std::vector<T> items;
  if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i) {
      T v{};
      read_scalar(ctx, node[i], full + "[" + std::to_string(i) + "]", v);
      items.push_back(v);
    }
  } else if (node.IsScalar()) {
    const std::string text = node.Scalar();
    size_t start = 0;
    while (!text.empty() && start <= text.size()) {
      size_t comma = text.find(',', start);
      if (comma == std::string::npos) comma = text.size();
      std::string item = text.substr(start, comma - start);
      const size_t b = item.find_first_not_of(" \t");
      const size_t e = item.find_last_not_of(" \t");
      item = b == std::string::npos ? std::string() : item.substr(b, e - b + 1);
      T v{};
      if (!parse_scalar(item, v)) {
        ctx.fail(full, "'" + full + "' must be a list of " + type_name<T>() + " values, got '" +
                           text + "'");
      }
      items.push_back(v);
      start = comma + 1;
    }
  } else {
    ctx.fail(full, "'" + full + "' must be a list of " + type_name<T>() + " values, got " +
                       kind_name(node));
  }
  out = std::move(items);
}

// ---------------------------------------------------------------------------------------------
// Sections
// ---------------------------------------------------------------------------------------------

void read_model(Section& s, ModelConfig& m) {
  read(s, "filter_widths", m.filter_widths);
  read(s, "channels", m.channels);
  read(s, "dropout", m.dropout);
  read(s, "causal", m.causal);
  s.finish();
}

void read_source(Context& ctx, const YAML::Node& node, DataSourceConfig& out) {
  Section s(ctx, node, "data.source");
  std::string type = source_type(out);
  read(s, "type", type);
  if (type == SyntheticSourceConfig::kType) {
    SyntheticSourceConfig c;
    if (auto* p = std::get_if<SyntheticSourceConfig>(&out)) c = *p;
    read(s, "seed", c.seed);
    read(s, "frames", c.frames);
    out = c;
  } else if (type == H5SourceConfig::kType) {
    H5SourceConfig c;
    if (auto* p = std::get_if<H5SourceConfig>(&out)) c = *p;
    read(s, "path", c.path);
    out = c;
  } else {
    ctx.fail("data.source.type", "unknown data.source type '" + type +
                                     "'; valid types: " + join(config_types("data.source")));
  }
  s.finish(" (type " + type + ")");
}

void read_data(Section& s, DataConfig& d) {
  read_source(s.context(), s.get("source"), d.source);
  read(s, "train_subjects", d.train_subjects);
  read(s, "test_subjects", d.test_subjects);
  read(s, "actions", d.actions);
  read(s, "subset", d.subset);
  read(s, "downsample", d.downsample);
  read(s, "keypoints", d.keypoints);
  read(s, "ground_truth_2d", d.ground_truth_2d);
  s.finish();
}

void read_train(Section& s, TrainConfig& t) {
  read(s, "epochs", t.epochs);
  read(s, "batch_size", t.batch_size);
  read(s, "lr", t.lr);
  read(s, "lr_decay", t.lr_decay);
  {
    Section bn(s.context(), s.get("bn_momentum"), "train.bn_momentum");
    read(bn, "start", t.bn_momentum.start);
    read(bn, "end", t.bn_momentum.end);
    bn.finish();
  }
  read(s, "flip", t.flip);
  read(s, "mode", t.mode);
  read(s, "seed", t.seed);
  read(s, "device", t.device);
  read(s, "checkpoint_dir", t.checkpoint_dir);
  read(s, "checkpoint_every", t.checkpoint_every);
  s.finish();
}

void read_eval(Section& s, EvalConfig& e) {
  read(s, "test_intervals", e.test_intervals);
  read(s, "flip_tta", e.flip_tta);
  read(s, "metrics", e.metrics);
  s.finish();
}

void read_ltb(Section& s, LtbConfig& l) {
  read(s, "enabled", l.enabled);
  read(s, "capacity", l.capacity);
  read(s, "threshold", l.threshold);
  read(s, "fusion_threshold", l.fusion_threshold);
  read(s, "max_insert", l.max_insert);
  read(s, "mode", l.mode);
  read(s, "center", l.center);
  s.finish();
}

ExperimentConfig read_config(Context& ctx, const YAML::Node& root) {
  ExperimentConfig c;
  Section top(ctx, root, "");
  {
    Section s(ctx, top.get("model"), "model");
    read_model(s, c.model);
  }
  {
    Section s(ctx, top.get("data"), "data");
    read_data(s, c.data);
  }
  {
    Section s(ctx, top.get("train"), "train");
    read_train(s, c.train);
  }
  {
    Section s(ctx, top.get("eval"), "eval");
    read_eval(s, c.eval);
  }
  {
    Section s(ctx, top.get("ltb"), "ltb");
    read_ltb(s, c.ltb);
  }
  top.finish();
  return c;
}

// ---------------------------------------------------------------------------------------------
// Overrides
// ---------------------------------------------------------------------------------------------

void apply_override(Context& ctx, YAML::Node& root, const std::string& text) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw Error("--set " + text + ": expected key.sub=value (e.g. train.lr=5e-4)");
  }
  const std::string key = text.substr(0, eq);
  const std::string value = text.substr(eq + 1);
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    const size_t dot = key.find('.', start);
    parts.push_back(key.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  for (const std::string& p : parts) {
    if (p.empty()) throw Error("--set " + text + ": empty component in key '" + key + "'");
  }

  YAML::Node v;
  if (!value.empty() && (value[0] == '[' || value[0] == '{')) {
    try {
      v = YAML::Load(value);
    } catch (const YAML::Exception& e) {
      throw Error("--set " + text + ": cannot parse the value as YAML: " + e.msg);
    }
  } else {
    v = YAML::Node(value);
  }

  ctx.add_override({key, text});
  YAML::Node cur;
  cur.reset(root);
  std::string path;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    path = child_path(path, parts[i]);
    YAML::Node next = cur[parts[i]];
    if (!next.IsDefined() || next.IsNull()) {
      cur[parts[i]] = YAML::Node(YAML::NodeType::Map);
      next.reset(cur[parts[i]]);
    } else if (!next.IsMap()) {
      ctx.fail(path, "'" + path + "' is not a section (it holds " + kind_name(next) + "), so '" +
                         key + "' cannot be set");
    }
    cur.reset(next);
  }
  cur[parts.back()] = v;
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

using Where = std::function<std::string(const std::string&)>;

struct Checker {
  Where where;
  [[noreturn]] void fail(const std::string& key, const std::string& message) const {
    throw Error(where(key) + ": '" + key + "' " + message);
  }
  void check(bool ok, const std::string& key, const std::string& message) const {
    if (!ok) fail(key, message);
  }
  template <class T>
  void distinct(const std::vector<T>& items, const std::string& key) const {
    for (size_t i = 0; i < items.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        std::ostringstream os;
        os << items[i];
        check(!(items[i] == items[j]), key, "lists '" + os.str() + "' twice");
      }
    }
  }
  void one_of(const std::string& value, const std::vector<std::string>& valid,
              const std::string& key) const {
    check(std::find(valid.begin(), valid.end(), value) != valid.end(), key,
          "is '" + value + "'; valid values: " + join(valid));
  }
  void names(const std::vector<std::string>& items, const std::string& key) const {
    check(!items.empty(), key, "must list at least one subject");
    for (const std::string& s : items) check(!s.empty(), key, "holds an empty name");
    distinct(items, key);
  }
};

std::string num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

void validate(const ExperimentConfig& c, const Where& where) {
  const Checker k{where};
  const ModelConfig& m = c.model;
  k.check(!m.filter_widths.empty(), "model.filter_widths", "must hold at least one width");
  int64_t rf = 1;
  for (int w : m.filter_widths) {
    k.check(w >= 1 && w % 2 == 1, "model.filter_widths",
            "must hold odd widths >= 1, got " + std::to_string(w));
    rf *= w;
    k.check(rf <= (int64_t{1} << 20), "model.filter_widths",
            "gives a receptive field above 2^20 frames");
  }
  k.check(m.channels >= 1, "model.channels", "must be >= 1, got " + std::to_string(m.channels));
  k.check(m.dropout >= 0.0 && m.dropout < 1.0, "model.dropout",
          "must be in [0, 1), got " + num(m.dropout));

  const DataConfig& d = c.data;
  if (const auto* syn = std::get_if<SyntheticSourceConfig>(&d.source)) {
    k.check(syn->frames >= 1, "data.source.frames",
            "must be >= 1, got " + std::to_string(syn->frames));
  } else if (const auto* h5 = std::get_if<H5SourceConfig>(&d.source)) {
    k.check(!h5->path.empty(), "data.source.path", "must name an HDF5 dataset file");
  }
  k.names(d.train_subjects, "data.train_subjects");
  k.names(d.test_subjects, "data.test_subjects");
  for (const std::string& a : d.actions) k.check(!a.empty(), "data.actions", "holds an empty name");
  k.check(d.subset > 0.0 && d.subset <= 1.0, "data.subset",
          "must be in (0, 1], got " + num(d.subset));
  k.check(d.downsample >= 1, "data.downsample",
          "must be >= 1, got " + std::to_string(d.downsample));
  k.one_of(d.keypoints, kKeypoints, "data.keypoints");

  const TrainConfig& t = c.train;
  k.check(t.epochs >= 1, "train.epochs", "must be >= 1, got " + std::to_string(t.epochs));
  k.check(t.batch_size >= 1, "train.batch_size",
          "must be >= 1, got " + std::to_string(t.batch_size));
  k.check(t.lr > 0.0, "train.lr", "must be > 0, got " + num(t.lr));
  k.check(t.lr_decay > 0.0 && t.lr_decay <= 1.0, "train.lr_decay",
          "must be in (0, 1], got " + num(t.lr_decay));
  k.check(t.bn_momentum.start > 0.0 && t.bn_momentum.start <= 1.0, "train.bn_momentum.start",
          "must be in (0, 1], got " + num(t.bn_momentum.start));
  k.check(t.bn_momentum.end > 0.0 && t.bn_momentum.end <= 1.0, "train.bn_momentum.end",
          "must be in (0, 1], got " + num(t.bn_momentum.end));
  try {
    data::parse_resample_mode(t.mode);
  } catch (const Error& e) {
    k.fail("train.mode", "is invalid: " + user_message(e));
  }
  try {
    parse_device(t.device);
  } catch (const Error& e) {
    k.fail("train.device", "is invalid: " + user_message(e));
  }
  k.check(t.checkpoint_every >= 1, "train.checkpoint_every",
          "must be >= 1, got " + std::to_string(t.checkpoint_every));

  const EvalConfig& e = c.eval;
  k.check(!e.test_intervals.empty(), "eval.test_intervals", "must hold at least one interval");
  for (int n : e.test_intervals) {
    k.check(n >= 1, "eval.test_intervals", "must hold intervals >= 1, got " + std::to_string(n));
  }
  k.distinct(e.test_intervals, "eval.test_intervals");
  k.check(!e.metrics.empty(), "eval.metrics", "must name at least one metric");
  for (const std::string& metric : e.metrics) k.one_of(metric, kMetrics, "eval.metrics");
  k.distinct(e.metrics, "eval.metrics");

  const LtbConfig& l = c.ltb;
  k.check(l.capacity >= 1 && l.capacity <= kernels::kPoseBankMaxCapacity, "ltb.capacity",
          "must be in [1, " + std::to_string(kernels::kPoseBankMaxCapacity) + "], got " +
              std::to_string(l.capacity));
  k.check(std::isfinite(l.threshold), "ltb.threshold", "must be finite");
  k.check(std::isfinite(l.fusion_threshold), "ltb.fusion_threshold", "must be finite");
  k.check(l.max_insert >= -1, "ltb.max_insert",
          "must be >= 0, or -1 for the window radius, got " + std::to_string(l.max_insert));
  k.one_of(l.mode, kLtbModes, "ltb.mode");
  k.one_of(l.center, kLtbCenters, "ltb.center");
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

// The shortest %g form that reads back as exactly `v`.
std::string exact_double(double v) {
  char buf[64];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string s = buf;
  // Keep it a YAML float for readers that type plain scalars (1 -> 1.0).
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

template <class T>
void emit_list(YAML::Emitter& out, const std::vector<T>& items) {
  out << YAML::Flow << YAML::BeginSeq;
  for (const T& v : items) out << v;
  out << YAML::EndSeq;
}

}  // namespace

int64_t ModelConfig::receptive_field() const {
  int64_t rf = 1;
  for (int w : filter_widths) rf *= w;
  return rf;
}

std::string source_type(const DataSourceConfig& source) {
  return std::visit([](const auto& s) { return std::string(s.kType); }, source);
}

const std::vector<std::string>& config_types(const std::string& key) {
  static const std::map<std::string, std::vector<std::string>> registry = {
      {"data.source", {SyntheticSourceConfig::kType, H5SourceConfig::kType}},
  };
  auto it = registry.find(key);
  if (it == registry.end()) {
    std::vector<std::string> keys;
    for (const auto& [k, v] : registry) keys.push_back(k);
    throw Error("config_types: '" + key +
                "' is not a component with a type; components: " + join(keys));
  }
  return it->second;
}

ExperimentConfig parse_config(const std::string& yaml, const std::string& origin,
                              const std::vector<std::string>& overrides) {
  Context ctx(origin);
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::ParserException& e) {
    throw Error(origin + ":" + std::to_string(e.mark.line + 1) + ": YAML syntax error: " + e.msg);
  }
  if (!root.IsDefined() || root.IsNull()) root.reset(YAML::Node(YAML::NodeType::Map));
  if (!root.IsMap()) {
    throw Error(origin +
                ": the config must be a map of sections (model, data, train, eval, ltb), "
                "got " +
                kind_name(root));
  }
  for (const std::string& o : overrides) apply_override(ctx, root, o);
  ExperimentConfig c = read_config(ctx, root);
  validate(c, [&ctx](const std::string& key) { return ctx.where(key); });
  return c;
}

ExperimentConfig load_config(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open the config file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw Error(path + ": cannot read the config file");
  return parse_config(text.str(), path, overrides);
}

void validate_config(const ExperimentConfig& config) {
  validate(config, [](const std::string&) { return std::string("config"); });
}

std::string to_yaml(const ExperimentConfig& c) {
  YAML::Emitter out;
  out << YAML::BeginMap;

  out << YAML::Key << "model" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "filter_widths" << YAML::Value;
  emit_list(out, c.model.filter_widths);
  out << YAML::Key << "channels" << YAML::Value << c.model.channels;
  out << YAML::Key << "dropout" << YAML::Value << exact_double(c.model.dropout);
  out << YAML::Key << "causal" << YAML::Value << c.model.causal;
  out << YAML::EndMap;

  out << YAML::Key << "data" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "source" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "type" << YAML::Value << source_type(c.data.source);
  if (const auto* syn = std::get_if<SyntheticSourceConfig>(&c.data.source)) {
    out << YAML::Key << "seed" << YAML::Value << std::to_string(syn->seed);
    out << YAML::Key << "frames" << YAML::Value << syn->frames;
  } else if (const auto* h5 = std::get_if<H5SourceConfig>(&c.data.source)) {
    out << YAML::Key << "path" << YAML::Value << YAML::DoubleQuoted << h5->path;
  }
  out << YAML::EndMap;
  out << YAML::Key << "train_subjects" << YAML::Value;
  emit_list(out, c.data.train_subjects);
  out << YAML::Key << "test_subjects" << YAML::Value;
  emit_list(out, c.data.test_subjects);
  out << YAML::Key << "actions" << YAML::Value;
  emit_list(out, c.data.actions);
  out << YAML::Key << "subset" << YAML::Value << exact_double(c.data.subset);
  out << YAML::Key << "downsample" << YAML::Value << c.data.downsample;
  out << YAML::Key << "keypoints" << YAML::Value << c.data.keypoints;
  out << YAML::Key << "ground_truth_2d" << YAML::Value << c.data.ground_truth_2d;
  out << YAML::EndMap;

  const TrainConfig& t = c.train;
  out << YAML::Key << "train" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "epochs" << YAML::Value << t.epochs;
  out << YAML::Key << "batch_size" << YAML::Value << t.batch_size;
  out << YAML::Key << "lr" << YAML::Value << exact_double(t.lr);
  out << YAML::Key << "lr_decay" << YAML::Value << exact_double(t.lr_decay);
  out << YAML::Key << "bn_momentum" << YAML::Value << YAML::Flow << YAML::BeginMap;
  out << YAML::Key << "start" << YAML::Value << exact_double(t.bn_momentum.start);
  out << YAML::Key << "end" << YAML::Value << exact_double(t.bn_momentum.end);
  out << YAML::EndMap;
  out << YAML::Key << "flip" << YAML::Value << t.flip;
  out << YAML::Key << "mode" << YAML::Value << t.mode;
  out << YAML::Key << "seed" << YAML::Value << std::to_string(t.seed);
  out << YAML::Key << "device" << YAML::Value << t.device;
  out << YAML::Key << "checkpoint_dir" << YAML::Value << YAML::DoubleQuoted << t.checkpoint_dir;
  out << YAML::Key << "checkpoint_every" << YAML::Value << t.checkpoint_every;
  out << YAML::EndMap;

  out << YAML::Key << "eval" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "test_intervals" << YAML::Value;
  emit_list(out, c.eval.test_intervals);
  out << YAML::Key << "flip_tta" << YAML::Value << c.eval.flip_tta;
  out << YAML::Key << "metrics" << YAML::Value;
  emit_list(out, c.eval.metrics);
  out << YAML::EndMap;

  const LtbConfig& l = c.ltb;
  out << YAML::Key << "ltb" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "enabled" << YAML::Value << l.enabled;
  out << YAML::Key << "capacity" << YAML::Value << l.capacity;
  out << YAML::Key << "threshold" << YAML::Value << exact_double(l.threshold);
  out << YAML::Key << "fusion_threshold" << YAML::Value << exact_double(l.fusion_threshold);
  out << YAML::Key << "max_insert" << YAML::Value << l.max_insert;
  out << YAML::Key << "mode" << YAML::Value << l.mode;
  out << YAML::Key << "center" << YAML::Value << l.center;
  out << YAML::EndMap;

  out << YAML::EndMap;
  V3D_CHECK(out.good(), "to_yaml: " << out.GetLastError());
  return std::string(out.c_str()) + "\n";
}

}  // namespace v3d
