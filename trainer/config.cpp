// One table, fields(), declares every key: its path, the member it fills, its check and its docs.
// Reading, validation, to_yaml and the key tables of docs/config.md all walk that table.
//
// Reading works on a yaml-cpp tree: the file is parsed, each --set override is written into the
// tree (creating sections as needed), then the tree is read section by section, a section's keys
// in table order. A Section records the keys it is asked for, so the keys it reports as valid are
// exactly the keys it reads. Every error names its origin: the --set argument that last touched
// the key, else file:line.
#include "trainer/config.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <type_traits>
#include <utility>

#include "data/windows.h"
#include "kernels/common.h"
#include "kernels/gemm_kernel.h"
#include "kernels/pose_bank.h"
#include "kernels/text.h"
#include "runtime/device.h"

namespace v3d {
namespace {

// Longer keys are no key of the config (the longest is 26 characters).
constexpr size_t kMaxKeyLength = 64;

// A message quoting what a config holds, as one bounded line whatever the file holds (values are
// quoted as excerpts where they enter a message; this is what every message goes through).
std::string one_line(const std::string& message) { return excerpt(message, 4000); }

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
    throw Error(one_line(where(key) + ": " + message));
  }
  const std::string& origin() const { return origin_; }

  // Keys the input sets, and keys read under a legacy alias (the key -> the alias's path).
  void set(const std::string& key) { set_.insert(key); }
  bool is_set(const std::string& key) const { return set_.count(key) != 0; }
  void read_as(const std::string& key, const std::string& alias) { read_as_[key] = alias; }
  // The path the input gave `key` under: its alias when it was read through one.
  std::string name(const std::string& key) const {
    auto it = read_as_.find(key);
    return it == read_as_.end() ? key : it->second;
  }

 private:
  std::string origin_;
  std::vector<Override> overrides_;
  std::map<std::string, YAML::Mark> marks_;
  std::set<std::string> set_;
  std::map<std::string, std::string> read_as_;
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
      // Keys are quoted in messages: one that is no name at all is refused as a short excerpt.
      const bool plain =
          key.size() <= kMaxKeyLength && std::none_of(key.begin(), key.end(), [](char c) {
            return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
          });
      if (!plain) {
        ctx_.fail(path_, "unknown key '" + excerpt(key, kMaxKeyLength) + "' in " +
                             (path_.empty() ? std::string("the top level") : "'" + path_ + "'"));
      }
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

template <NamedEnum E>
bool parse_scalar(const std::string& s, E& out) {
  const std::optional<E> v = parse_enum<E>(s);
  if (v) out = *v;
  return v.has_value();
}

template <class T>
std::string type_name() {
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
  } else if constexpr (std::is_enum_v<T>) {
    return "one of " + enum_names<T>();
  } else {
    return "a string";
  }
}

// The error for the text of a scalar that is not a T.
template <class T>
std::string bad_scalar(const std::string& key, const std::string& text) {
  if constexpr (std::is_enum_v<T>) {
    return "'" + key + "' is '" + excerpt(text) + "'; valid values: " + enum_names<T>();
  } else {
    return "'" + key + "' must be " + type_name<T>() + ", got '" + excerpt(text) + "'";
  }
}

template <class T>
void read_scalar(Context& ctx, const YAML::Node& node, const std::string& key, T& out) {
  if (!node.IsScalar()) {
    ctx.fail(key, "'" + key + "' must be " + type_name<T>() + ", got " + kind_name(node));
  }
  if (!parse_scalar(node.Scalar(), out)) ctx.fail(key, bad_scalar<T>(key, node.Scalar()));
}

template <class T>
void read_value(Context& ctx, const YAML::Node& node, const std::string& key, T& out) {
  read_scalar(ctx, node, key, out);
}

// Lists: a YAML sequence of scalars, or one scalar of comma-separated items ("3,3,3"; "" = []).
// A bad name in a list of names is reported for the list ("'eval.metrics' is 'pck'").
template <class T>
void read_value(Context& ctx, const YAML::Node& node, const std::string& full,
                std::vector<T>& out) {
  std::vector<T> items;
  if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i) {
      T v{};
      read_scalar(ctx, node[i], std::is_enum_v<T> ? full : full + "[" + std::to_string(i) + "]", v);
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
        if constexpr (std::is_enum_v<T>) ctx.fail(full, bad_scalar<T>(full, item));
        ctx.fail(full, "'" + full + "' must be a list of " + type_name<T>() + " values, got '" +
                           excerpt(text) + "'");
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
// Writing values
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
void write_value(YAML::Emitter& out, const T& v, bool quoted) {
  if constexpr (std::is_same_v<T, double>) {
    out << exact_double(v);
  } else if constexpr (std::is_same_v<T, uint64_t>) {
    out << std::to_string(v);
  } else if constexpr (std::is_enum_v<T>) {
    out << to_string(v);
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (quoted) out << YAML::DoubleQuoted;
    out << v;
  } else {
    out << v;
  }
}

template <class T>
void write_value(YAML::Emitter& out, const std::vector<T>& items, bool quoted) {
  out << YAML::Flow << YAML::BeginSeq;
  for (const T& v : items) write_value(out, v, quoted);
  out << YAML::EndSeq;
}

// The type column of docs/config.md.
template <class T>
std::string doc_type() {
  if constexpr (std::is_same_v<T, bool>) {
    return "bool";
  } else if constexpr (std::is_same_v<T, uint64_t>) {
    return "uint64";
  } else if constexpr (std::is_integral_v<T>) {
    return "int";
  } else if constexpr (std::is_same_v<T, double>) {
    return "float";
  } else {
    return "str";
  }
}

template <class T>
struct DocType {
  static std::string name() { return doc_type<T>(); }
};
template <class T>
struct DocType<std::vector<T>> {
  static std::string name() { return "list of " + doc_type<T>(); }
};

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

using KeyFn = std::function<std::string(const std::string&)>;

struct Checker {
  KeyFn where;  // the origin of a key's value
  KeyFn name;   // the path the input gave a key under (a legacy alias, else the key)
  [[noreturn]] void fail(const std::string& key, const std::string& message) const {
    const std::string n = name(key);
    throw Error(one_line(where(n) + ": '" + n + "' " + message));
  }
  void check(bool ok, const std::string& key, const std::string& message) const {
    if (!ok) fail(key, message);
  }
};

std::string num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

template <class T>
std::string text_of(const T& v) {
  if constexpr (std::is_enum_v<T>) {
    return to_string(v);
  } else if constexpr (std::is_floating_point_v<T>) {
    return num(v);
  } else if constexpr (std::is_arithmetic_v<T>) {
    return std::to_string(v);
  } else {
    return v;
  }
}

// A key's check: `range` says in docs/config.md what it accepts, `fn(checker, key, value)` throws
// through the checker when the value is not accepted.
template <class F>
struct Check {
  std::string range;
  F fn;
};

struct Unchecked {
  template <class T>
  void operator()(const Checker&, const std::string&, const T&) const {}
};

template <class F>
Check<F> check(std::string range, F fn) {
  return {std::move(range), std::move(fn)};
}

Check<Unchecked> any() { return {"", {}}; }

auto at_least(int64_t lo) {
  return check(">= " + std::to_string(lo),
               [lo](const Checker& k, const std::string& key, const auto& v) {
                 k.check(v >= lo, key, "must be >= " + std::to_string(lo) + ", got " + text_of(v));
               });
}

// [lo, hi], (lo, hi] or [lo, hi) as `open_lo` and `open_hi` say.
template <class T>
auto within(T lo, T hi, bool open_lo, bool open_hi) {
  const std::string range = std::string("in ") + (open_lo ? "(" : "[") + text_of(lo) + ", " +
                            text_of(hi) + (open_hi ? ")" : "]");
  return check(range, [=](const Checker& k, const std::string& key, T v) {
    const bool ok = (open_lo ? v > lo : v >= lo) && (open_hi ? v < hi : v <= hi);
    k.check(ok, key, "must be " + range + ", got " + text_of(v));
  });
}

// Finite as the float32 the bank compares it in (a larger double would become infinity there).
auto finite_float() {
  return check("finite", [](const Checker& k, const std::string& key, double v) {
    k.check(std::isfinite(v) && std::fabs(v) <= std::numeric_limits<float>::max(), key,
            "must be a finite float32 (at most " + num(std::numeric_limits<float>::max()) +
                " in magnitude), got " + num(v));
  });
}

template <class T>
void check_distinct(const Checker& k, const std::string& key, const std::vector<T>& items) {
  for (size_t i = 0; i < items.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      k.check(!(items[i] == items[j]), key, "lists '" + excerpt(text_of(items[i])) + "' twice");
}

auto subjects() {
  return check("non-empty, distinct",
               [](const Checker& k, const std::string& key, const std::vector<std::string>& items) {
                 k.check(!items.empty(), key, "must list at least one subject");
                 for (const std::string& s : items) k.check(!s.empty(), key, "holds an empty name");
                 check_distinct(k, key, items);
               });
}

// ---------------------------------------------------------------------------------------------
// The field table
// ---------------------------------------------------------------------------------------------

// One key. `source` ties a data.source key to its type (nullptr: every config has the key).
struct Field {
  std::string path;
  std::string type;          // docs
  std::string range;         // docs: the valid values
  std::string meaning;       // docs
  std::string default_text;  // docs; "" = the default config's value as to_yaml writes it
  const char* source = nullptr;
  bool component = false;  // data.source.type: picks the alternative of data.source
  std::function<void(Context&, const YAML::Node&, const std::string&, ExperimentConfig&)> read;
  std::function<void(YAML::Emitter&, const ExperimentConfig&)> write;
  std::function<void(const Checker&, const ExperimentConfig&)> validate;
  // Runs after the key was read, before the keys after it (ltb.preset sets the others).
  std::function<void(ExperimentConfig&)> after_read;

  Field&& then(std::function<void(ExperimentConfig&)> fn) && {
    after_read = std::move(fn);
    return std::move(*this);
  }
  Field&& of_source(const char* type_name) && {
    source = type_name;
    return std::move(*this);
  }
  Field&& documented_default(std::string text) && {
    default_text = std::move(text);
    return std::move(*this);
  }
};

// `get(config)` is the member: a generic lambda, so one accessor serves reading and writing.
template <class Get, class F = Unchecked>
Field field(std::string path, Get get, std::string meaning, Check<F> chk = any(),
            bool quoted = false) {
  using T = std::remove_cvref_t<decltype(get(std::declval<ExperimentConfig&>()))>;
  Field f;
  f.path = path;
  f.type = DocType<T>::name();
  f.range = chk.range;
  if constexpr (std::is_enum_v<T>) {
    f.range = "`" + enum_names<T>("`, `") + "`";
  } else if constexpr (requires { typename T::value_type; } && !std::is_same_v<T, std::string>) {
    if constexpr (std::is_enum_v<typename T::value_type>) {
      f.range = "any of `" + enum_names<typename T::value_type>("`, `") + "`; " + chk.range;
    }
  }
  f.meaning = std::move(meaning);
  f.read = [get](Context& ctx, const YAML::Node& node, const std::string& key,
                 ExperimentConfig& c) { read_value(ctx, node, key, get(c)); };
  f.write = [get, quoted](YAML::Emitter& out, const ExperimentConfig& c) {
    write_value(out, get(c), quoted);
  };
  f.validate = [get, path, fn = chk.fn](const Checker& k, const ExperimentConfig& c) {
    fn(k, path, get(c));
  };
  return f;
}

template <class Get, class F = Unchecked>
Field quoted_field(std::string path, Get get, std::string meaning, Check<F> chk = any()) {
  return field(std::move(path), get, std::move(meaning), std::move(chk), true);
}

// Keys read under an older path too: checkpoints keep the config they were trained with.
struct Alias {
  const char* path;  // the old path
  const char* key;   // the key it fills
};
const Alias kAliases[] = {{"train.device", "device"}};

// The headings of docs/config.md's tables, and the sections to_yaml writes as one flow line.
struct SectionDoc {
  const char* path;
  const char* heading;
  const char* intro;
};
const SectionDoc kSectionDocs[] = {
    {"", "Top level", ""},
    {"model", "`model`: VideoPose3D's temporal model", ""},
    {"data", "`data`", ""},
    {"train", "`train`: VideoPose3D's recipe", ""},
    {"eval", "`eval`", ""},
    {"ltb", "`ltb`: long-term pose bank",
     "The settings of the bank and the fusion ([long-term-bank.md](long-term-bank.md)), used by\n"
     "`v3d eval --ltb`, `v3d infer --ltb`, `v3d ltb` and `v3d ltb-sweep`."},
};
const char* const kFlowSections[] = {"train.bn_momentum"};

// Every key in docs/config.md's and to_yaml's order.
const std::vector<Field>& fields() {
  using S = SyntheticSourceConfig;
  using H = H5SourceConfig;
  static const std::vector<Field> table = [] {
    std::vector<Field> t;
    t.push_back(field(
        "device", [](auto& c) -> auto& { return c.device; },
        "the device of every subcommand (train, eval, infer, ltb, ltb-sweep); `--device` "
        "overrides it",
        check("`cpu`, `cuda`, `cuda:N`, `emu` or `emu:N`",
              [](const Checker& k, const std::string& key, const std::string& v) {
                try {
                  parse_device(v);
                } catch (const Error& e) {
                  k.fail(key, std::string("is invalid: ") + e.what());
                }
              })));

    t.push_back(quoted_field(
        "blas", [](auto& c) -> auto& { return c.blas; },
        "the CPU GEMM kernel of `v3d train` ([cpu-gemm.md](cpu-gemm.md)); empty: "
        "`OPENBLAS_CORETYPE` when set, else chosen from the CPU's features; `--blas` overrides "
        "it. A machine setting: `eval`, `infer` and `ltb` do not take it from a checkpoint",
        check("empty, `auto`, `openblas`, `openblas:<core>`, `onednn`, `blis` or `builtin`",
              [](const Checker& k, const std::string& key, const std::string& v) {
                if (v.empty()) return;
                try {
                  kernels::parse_gemm_kernel(v, key);
                } catch (const Error&) {
                  k.fail(key, "names no GEMM kernel: '" + excerpt(v) + "' (one of " +
                                  kernels::gemm_kernel_choices() + ")");
                }
              })));

    t.push_back(field(
        "model.filter_widths", [](auto& c) -> auto& { return c.model.filter_widths; },
        "the first is the expand layer, then one residual block per width; receptive field = "
        "product (27, 81, 243 for 3, 4, 5 threes)",
        check("odd widths >= 1, non-empty", [](const Checker& k, const std::string& key,
                                               const std::vector<int>& widths) {
          k.check(!widths.empty(), key, "must hold at least one width");
          int64_t rf = 1;
          for (int w : widths) {
            k.check(w >= 1 && w % 2 == 1, key,
                    "must hold odd widths >= 1, got " + std::to_string(w));
            rf *= w;
            k.check(rf <= (int64_t{1} << 20), key, "gives a receptive field above 2^20 frames");
          }
        })));
    t.push_back(field(
        "model.channels", [](auto& c) -> auto& { return c.model.channels; }, "conv channels",
        at_least(1)));
    t.push_back(field(
        "model.dropout", [](auto& c) -> auto& { return c.model.dropout; }, "dropout probability",
        within(0.0, 1.0, false, true)));
    t.push_back(field(
        "model.causal", [](auto& c) -> auto& { return c.model.causal; },
        "causal convolutions: the output frame is the window's last"));
    t.push_back(field(
        "model.conv_backend", [](auto& c) -> auto& { return c.model.conv_backend; },
        "GPU convolutions: `v3d` (our kernels; in tf32 and bf16 each pass in the tile its "
        "shape calls for), `cublaslt` (cuBLASLt GEMMs, the baseline) or `auto` (per layer shape "
        "and pass the fastest, timed on the device at first use: ours and cuBLASLt, in tf32 "
        "and bf16 ours in both tiles; docs/gpu.md); the CPU ignores it"));
    t.push_back(field(
        "model.conv_tile", [](auto& c) -> auto& { return c.model.conv_tile; },
        "our tensor-core kernels' block tile in tf32 and bf16 under `conv_backend: v3d`: "
        "`default` (by layer shape), `narrow`, `wide`, or `hopper` (Hopper's wgmma, on a compute "
        "capability 9.0 device where the shape fits, else the default; experimental: no GPU has "
        "validated it yet, docs/gpu.md); `auto` chooses its own; the CPU ignores it"));

    Field source;
    source.path = "data.source.type";
    source.type = "component";
    for (const std::string& type : config_types("data.source"))
      source.range += (source.range.empty() ? "`" : ", `") + type + "`";
    source.meaning = "where poses come from, see below";
    source.default_text = "{type: synthetic}";
    source.component = true;
    source.write = [](YAML::Emitter& out, const ExperimentConfig& c) {
      out << source_type(c.data.source);
    };
    t.push_back(std::move(source));
    t.push_back(field(
                    "data.source.seed",
                    [](auto& c) -> auto& { return std::get<S>(c.data.source).seed; },
                    "seed of the built-in synthetic motion (`data/synth.h`), generated on the "
                    "fly: 7 subjects, 8 actions")
                    .of_source(S::kType));
    t.push_back(field(
                    "data.source.frames",
                    [](auto& c) -> auto& { return std::get<S>(c.data.source).frames; },
                    "frames per action", at_least(1))
                    .of_source(S::kType));
    t.push_back(quoted_field(
                    "data.source.path",
                    [](auto& c) -> auto& { return std::get<H>(c.data.source).path; },
                    "a v3d HDF5 dataset ([data-format.md](data-format.md)), e.g. from "
                    "`v3d convert`",
                    check("non-empty",
                          [](const Checker& k, const std::string& key, const std::string& v) {
                            k.check(!v.empty(), key, "must name an HDF5 dataset file");
                          }))
                    .of_source(H::kType)
                    .documented_default("(required)"));
    t.push_back(field(
        "data.train_subjects", [](auto& c) -> auto& { return c.data.train_subjects; },
        "training subjects", subjects()));
    t.push_back(field(
        "data.test_subjects", [](auto& c) -> auto& { return c.data.test_subjects; },
        "evaluation subjects", subjects()));
    t.push_back(field(
        "data.actions", [](auto& c) -> auto& { return c.data.actions; },
        "action-name prefixes to keep (VideoPose3D's `startswith`); empty = all",
        check("non-empty names",
              [](const Checker& k, const std::string& key, const std::vector<std::string>& v) {
                for (const std::string& a : v) k.check(!a.empty(), key, "holds an empty name");
              })));
    t.push_back(field(
        "data.subset", [](auto& c) -> auto& { return c.data.subset; },
        "fraction of each training sequence kept (one contiguous chunk)",
        within(0.0, 1.0, true, false)));
    t.push_back(field(
        "data.downsample", [](auto& c) -> auto& { return c.data.downsample; },
        "keep every N-th frame (train and test)", at_least(1)));
    t.push_back(field(
        "data.keypoints", [](auto& c) -> auto& { return c.data.keypoints; },
        "2D layout the network reads; `pseudo_coco` is COCO-17 made from H36M-17, the paper's "
        "second test set; `coco17` and `mpii16` read a detector's keypoints stored in that "
        "layout (a file whose root attribute keypoints_2d names it, e.g. VideoPose3D's "
        "data_2d_h36m_detectron_pt_coco.npz or data_2d_h36m_sh_ft_h36m.npz through v3d convert "
        "npz)"));
    t.push_back(field(
        "data.ground_truth_2d", [](auto& c) -> auto& { return c.data.ground_truth_2d; },
        "project the 3D to 2D even where the file stores 2D detections (VideoPose3D's `-k gt`; "
        "the paper trains this way)"));

    t.push_back(field(
        "train.epochs", [](auto& c) -> auto& { return c.train.epochs; }, "epochs to train",
        at_least(1)));
    t.push_back(field(
        "train.batch_size", [](auto& c) -> auto& { return c.train.batch_size; },
        "windows (= output frames) per batch; with N data-parallel ranks, the global batch split "
        "among them",
        at_least(1)));
    t.push_back(field(
        "train.lr", [](auto& c) -> auto& { return c.train.lr; }, "Adam (AMSGrad) learning rate",
        within(0.0, 1.0, true, false)));
    t.push_back(field(
        "train.lr_decay", [](auto& c) -> auto& { return c.train.lr_decay; },
        "multiplied into the learning rate after every epoch", within(0.0, 1.0, true, false)));
    t.push_back(field(
        "train.bn_momentum.start", [](auto& c) -> auto& { return c.train.bn_momentum.start; },
        "batch-norm momentum of the first epoch", within(0.0, 1.0, true, false)));
    t.push_back(field(
        "train.bn_momentum.end", [](auto& c) -> auto& { return c.train.bn_momentum.end; },
        "momentum the exponential decay reaches at the last epoch", within(0.0, 1.0, true, false)));
    t.push_back(field(
        "train.flip", [](auto& c) -> auto& { return c.train.flip; },
        "train-time horizontal flip augmentation"));
    t.push_back(field(
        "train.precision", [](auto& c) -> auto& { return c.train.precision; },
        "arithmetic of the training convolutions' forward and both backward passes: operands "
        "rounded to TF32 or BF16 and summed in float32 (tensor cores on CUDA and `emu`, rounded "
        "copies on the CPU); weights, optimizer, gradients, batch norm and the loss stay float32, "
        "and so do the activations except, in bf16, each convolution's input kept for its "
        "backward pass, stored as bfloat16 ([gpu.md](gpu.md#mixed-precision-training)). "
        "Evaluation computes in float32",
        check("`fp32`, `tf32` or `bf16`",
              [](const Checker& k, const std::string& key, const std::string& v) {
                try {
                  parse_precision(v);
                } catch (const Error& e) {
                  k.fail(key, e.what());
                }
              })));
    t.push_back(field(
        "train.sync_bn", [](auto& c) -> auto& { return c.train.sync_bn; },
        "data-parallel training: batch-norm statistics over the global batch of all ranks "
        "(as one process would compute them) instead of each rank's part"));
    t.push_back(field(
        "train.communicator", [](auto& c) -> auto& { return c.train.communicator; },
        "data parallel: `auto` reduces over MPI between CPU ranks and with NCCL between GPU "
        "ranks; `nccl` uses NCCL even alone (a one-GPU check of the NCCL path)",
        check("`auto` or `nccl`",
              [](const Checker& k, const std::string& key, const std::string& v) {
                if (v != "auto" && v != "nccl")
                  k.fail(key, "must be auto or nccl, got '" + excerpt(v) + "'");
              })));
    t.push_back(field(
        "train.bucket_mb", [](auto& c) -> auto& { return c.train.bucket_mb; },
        "data parallel: MiB of gradients per all-reduce bucket; a bucket's all-reduce starts as "
        "soon as the backward pass has completed its gradients (on GPUs it overlaps the rest of "
        "the pass); `0` reduces all gradients at once after the pass. The sums are the same bits "
        "at any size",
        within(0.0, 65536.0, false, false)));
    t.push_back(field(
        "train.mode", [](auto& c) -> auto& { return c.train.mode; },
        "training-data mode (`data/windows.h`)",
        check("`Sequential`, `Sequential x2`, `Sample<N>+Sequential`, "
              "`Sample<A>/<B>/...+Sequential`, `Sample<A>+Sample<B>+...+Sequential`",
              [](const Checker& k, const std::string& key, const std::string& v) {
                try {
                  data::parse_resample_mode(v);
                } catch (const Error& e) {
                  k.fail(key, std::string("is invalid: ") + e.what());
                }
              })));
    t.push_back(field(
        "train.seed", [](auto& c) -> auto& { return c.train.seed; },
        "seed of initialisation, dropout and batch order"));
    t.push_back(quoted_field(
        "train.checkpoint_dir", [](auto& c) -> auto& { return c.train.checkpoint_dir; },
        "where checkpoints go (VideoPose3D's `-c`); `\"\"` = none"));
    t.push_back(field(
        "train.checkpoint_every", [](auto& c) -> auto& { return c.train.checkpoint_every; },
        "save every N epochs", at_least(1)));
    t.push_back(field(
        "train.semi_supervised.enabled",
        [](auto& c) -> auto& { return c.train.semi_supervised.enabled; },
        "semi-supervised training ([training.md](training.md#semi-supervised-training)): "
        "`data.train_subjects` with 3D labels, `unlabelled_subjects` through the trajectory model "
        "and the 2D reprojection loss"));
    {
      Field unlabelled = field(
          "train.semi_supervised.unlabelled_subjects",
          [](auto& c) -> auto& { return c.train.semi_supervised.unlabelled_subjects; },
          "subjects trained on without their 3D (VideoPose3D's `-sun`): their 2D, cameras and "
          "bone lengths only",
          check("distinct, none of `data.train_subjects`; non-empty when enabled", Unchecked{}));
      unlabelled.validate = [](const Checker& k, const ExperimentConfig& c) {
        const std::string key = "train.semi_supervised.unlabelled_subjects";
        const auto& v = c.train.semi_supervised.unlabelled_subjects;
        k.check(!c.train.semi_supervised.enabled || !v.empty(), key,
                "must list at least one subject when train.semi_supervised.enabled is true");
        for (const std::string& s : v) k.check(!s.empty(), key, "holds an empty name");
        check_distinct(k, key, v);
        for (const std::string& s : v) {
          const auto& labelled = c.data.train_subjects;
          k.check(std::find(labelled.begin(), labelled.end(), s) == labelled.end(), key,
                  "lists '" + excerpt(s) +
                      "', which data.train_subjects lists too (a subject is labelled or "
                      "unlabelled, not both)");
        }
      };
      t.push_back(std::move(unlabelled));
    }
    t.push_back(field(
        "train.semi_supervised.warmup_epochs",
        [](auto& c) -> auto& { return c.train.semi_supervised.warmup_epochs; },
        "supervised-only epochs before the unlabelled losses start (VideoPose3D's `--warmup`)",
        at_least(0)));
    t.push_back(field(
        "train.semi_supervised.projection_weight",
        [](auto& c) -> auto& { return c.train.semi_supervised.projection_weight; },
        "weight of the 2D reprojection loss on the unlabelled batch (VideoPose3D: 1; 0 turns it "
        "off, as `--no-proj`)",
        within(0.0, 1e6, false, false)));
    t.push_back(field(
        "train.semi_supervised.bone_length_weight",
        [](auto& c) -> auto& { return c.train.semi_supervised.bone_length_weight; },
        "weight of the bone-length term, the L1 distance between the labelled and unlabelled "
        "batches' mean predicted bone lengths (VideoPose3D: 1; 0 turns it off, as "
        "`--no-bone-length`)",
        within(0.0, 1e6, false, false)));
    t.push_back(field(
        "train.semi_supervised.linear_projection",
        [](auto& c) -> auto& { return c.train.semi_supervised.linear_projection; },
        "project with the pinhole model only, no lens distortion (VideoPose3D's "
        "`--linear-projection`)"));

    t.push_back(field(
        "eval.test_intervals", [](auto& c) -> auto& { return c.eval.test_intervals; },
        "\"TD N\" test intervals",
        check("each >= 1, distinct, non-empty",
              [](const Checker& k, const std::string& key, const std::vector<int>& v) {
                k.check(!v.empty(), key, "must hold at least one interval");
                for (int n : v)
                  k.check(n >= 1, key, "must hold intervals >= 1, got " + std::to_string(n));
                check_distinct(k, key, v);
              })));
    t.push_back(field(
        "eval.flip_tta", [](auto& c) -> auto& { return c.eval.flip_tta; },
        "test-time flip augmentation"));
    t.push_back(field(
        "eval.metrics", [](auto& c) -> auto& { return c.eval.metrics; },
        "the metrics of the tables",
        check("distinct, non-empty",
              [](const Checker& k, const std::string& key, const std::vector<Metric>& v) {
                k.check(!v.empty(), key, "must name at least one metric");
                check_distinct(k, key, v);
              })));

    t.push_back(field(
        "ltb.enabled", [](auto& c) -> auto& { return c.ltb.enabled; },
        "fuse long-term poses into each window in `v3d eval` and `v3d infer` (as `--ltb on`)"));
    t.push_back(
        field(
            "ltb.preset", [](auto& c) -> auto& { return c.ltb.preset; },
            "the reading the other `ltb` keys start from: `validated` (the defaults, chosen on "
            "held-out training subjects: [results.md](results.md)), `v3d` (the first reading, "
            "earlier releases' defaults) or `paper` (the paper-literal one; "
            "[long-term-bank.md](long-term-bank.md), Readings); keys given with it override it, "
            "and `--set ltb.preset=` drops the keys set before it")
            .then([](ExperimentConfig& c) { c.ltb = ltb_preset(c.ltb.preset, c.ltb.enabled); }));
    t.push_back(field(
        "ltb.capacity", [](auto& c) -> auto& { return c.ltb.capacity; }, "bank entries",
        within(1, kernels::kPoseBankMaxCapacity, false, false)));
    t.push_back(field(
        "ltb.threshold", [](auto& c) -> auto& { return c.ltb.threshold; },
        "a candidate is rejected when its best similarity to the bank is >= this", finite_float()));
    t.push_back(field(
        "ltb.accumulate", [](auto& c) -> auto& { return c.ltb.accumulate; },
        "what an entry's AS sums (the largest is evicted): `entries` its similarities to the "
        "other entries, `offered` those of the frames offered since it entered"));
    t.push_back(field(
        "ltb.fusion_threshold", [](auto& c) -> auto& { return c.ltb.fusion_threshold; },
        "bank entries need similarity >= this to the window's centre to be fused", finite_float()));
    t.push_back(field(
        "ltb.max_insert", [](auto& c) -> auto& { return c.ltb.max_insert; },
        "poses fused into a window; `-1` = the window radius (RF - 1) / 2",
        check(">= 0, or -1", [](const Checker& k, const std::string& key, int v) {
          k.check(v >= -1, key,
                  "must be >= 0, or -1 for the window radius, got " + std::to_string(v));
        })));
    t.push_back(field(
        "ltb.placement", [](auto& c) -> auto& { return c.ltb.placement; },
        "the window slots fused poses take: `next_to_center` (the local frames shift outward), "
        "`least_similar` (they replace the local frames least similar to the centre), "
        "`outermost` (they replace the outermost local frames)"));
    t.push_back(field(
        "ltb.gate", [](auto& c) -> auto& { return c.ltb.gate; },
        "fuse only windows whose local frames' similarity to the centre (`mean` or `min` over "
        "them) is below `ltb.gate_threshold`; `none`: always"));
    t.push_back(field(
        "ltb.gate_threshold", [](auto& c) -> auto& { return c.ltb.gate_threshold; },
        "the incoherence gate's threshold", finite_float()));
    t.push_back(field(
        "ltb.mode", [](auto& c) -> auto& { return c.ltb.mode; },
        "`offline`: the bank from the whole sequence; `online`: up to the current frame"));
    t.push_back(field(
        "ltb.center", [](auto& c) -> auto& { return c.ltb.center; },
        "similarity's reference point: `centroid` (mean joint) or `root` (joint 0)"));
    return t;
  }();
  return table;
}

const Field& field_at(const std::string& path) {
  for (const Field& f : fields())
    if (f.path == path) return f;
  throw Error("config: no key '" + path + "'");
}

std::string parent_of(const std::string& path) {
  const size_t dot = path.rfind('.');
  return dot == std::string::npos ? std::string() : path.substr(0, dot);
}

std::string leaf_of(const std::string& path) { return path.substr(path.rfind('.') + 1); }

// Whether `path` lies inside section `section` ("" = the top level holds every key).
bool inside(const std::string& path, const std::string& section) {
  return section.empty() ||
         (path.size() > section.size() && path.compare(0, section.size(), section) == 0 &&
          path[section.size()] == '.');
}

// Whether the key applies to `c`: data.source keys only to their own type.
bool applies(const Field& f, const ExperimentConfig& c) {
  return f.source == nullptr || source_type(c.data.source) == f.source;
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

// data.source's `type`: switches the alternative (keeping its values when the type stays).
void read_source_type(Section& s, ExperimentConfig& c) {
  Context& ctx = s.context();
  std::string type = source_type(c.data.source);
  const YAML::Node node = s.get("type");
  if (node.IsDefined()) read_scalar(ctx, node, "data.source.type", type);
  if (type == source_type(c.data.source)) return;
  if (type == SyntheticSourceConfig::kType) {
    c.data.source = SyntheticSourceConfig{};
  } else if (type == H5SourceConfig::kType) {
    c.data.source = H5SourceConfig{};
  } else {
    ctx.fail("data.source.type", "unknown data.source type '" + excerpt(type) +
                                     "'; valid types: " + join(config_types("data.source")));
  }
}

void read_section(Context& ctx, const YAML::Node& node, const std::string& path,
                  ExperimentConfig& c) {
  Section s(ctx, node, path);
  std::vector<std::string> subsections;
  for (const Field& f : fields()) {
    if (!inside(f.path, path)) continue;
    if (f.component && parent_of(f.path) == path) {
      read_source_type(s, c);
      continue;
    }
    if (!applies(f, c)) continue;
    const std::string rest = path.empty() ? f.path : f.path.substr(path.size() + 1);
    const size_t dot = rest.find('.');
    if (dot == std::string::npos) {
      const YAML::Node value = s.get(rest);
      if (!value.IsDefined()) continue;
      f.read(ctx, value, f.path, c);
      if (f.after_read) f.after_read(c);
      ctx.set(f.path);
      continue;
    }
    const std::string sub = rest.substr(0, dot);
    if (std::find(subsections.begin(), subsections.end(), sub) != subsections.end()) continue;
    subsections.push_back(sub);
    read_section(ctx, s.get(sub), child_path(path, sub), c);
  }
  for (const Alias& a : kAliases) {
    if (parent_of(a.path) != path) continue;
    const YAML::Node value = s.get(leaf_of(a.path));
    // The key itself wins: --set device=cuda overrides an old checkpoint's train.device.
    if (!value.IsDefined() || ctx.is_set(a.key)) continue;
    field_at(a.key).read(ctx, value, a.path, c);
    ctx.read_as(a.key, a.path);
  }
  s.finish(path == "data.source" ? " (type " + source_type(c.data.source) + ")" : "");
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

void validate(const ExperimentConfig& c, const Checker& k) {
  for (const Field& f : fields())
    if (f.validate && applies(f, c)) f.validate(k, c);
}

// ---------------------------------------------------------------------------------------------
// Docs
// ---------------------------------------------------------------------------------------------

// The default config's value of `f` as one flow-style YAML scalar or list.
std::string default_text(const Field& f) {
  if (!f.default_text.empty()) return f.default_text;
  YAML::Emitter out;
  out << YAML::Flow;
  f.write(out, ExperimentConfig{});
  return out.c_str();
}

std::string code(const std::string& text) {
  std::string out = "`";
  out += text;
  out += '`';
  return out;
}

std::string table_row(const std::vector<std::string>& cells) {
  std::string row = "|";
  for (const std::string& c : cells) row += " " + c + " |";
  return row + "\n";
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
      throw Error("--set " + text + ": cannot parse the value as YAML: " + excerpt(e.msg, 200));
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
  // A preset set here replaces the reading given before it (a file's or a checkpoint's keys);
  // the overrides after it still apply.
  if (key == "ltb.preset")
    for (const std::string& k : ltb_preset_keys()) cur.remove(k);
}

}  // namespace

std::string config_reference_markdown() {
  std::string md;
  const std::vector<std::string> head = {"key", "type", "default", "valid", "meaning"};
  const std::vector<std::string> rule = {"---", "---", "---", "---", "---"};
  for (const SectionDoc& sec : kSectionDocs) {
    md += std::string("### ") + sec.heading + "\n\n";
    if (*sec.intro) md += std::string(sec.intro) + "\n\n";
    md += table_row(head) + table_row(rule);
    for (const Field& f : fields()) {
      if (f.source != nullptr) continue;
      const std::string top = f.path.substr(0, f.path.find('.'));
      const bool here = sec.path[0] == '\0' ? f.path.find('.') == std::string::npos
                                            : top == sec.path && f.path != top;
      if (!here) continue;
      std::string key = *sec.path ? f.path.substr(std::string(sec.path).size() + 1) : f.path;
      if (f.component) key = parent_of(key);
      md += table_row({code(key), f.type, code(default_text(f)), f.range, f.meaning});
    }
    md += "\n";
    if (std::string(sec.path) != "data") continue;
    md += "`data.source` types (`config_types(\"data.source\")`):\n\n";
    md += table_row({"type", "key", "type", "default", "valid", "meaning"});
    md += table_row({"---", "---", "---", "---", "---", "---"});
    for (const std::string& type : config_types("data.source")) {
      bool first = true;
      for (const Field& f : fields()) {
        if (f.source == nullptr || type != f.source) continue;
        const std::string shown = f.default_text.empty() ? code(default_text(f)) : f.default_text;
        md += table_row(
            {first ? code(type) : "", code(leaf_of(f.path)), f.type, shown, f.range, f.meaning});
        first = false;
      }
    }
    md += "\n";
  }
  md +=
      "Older names, still read (checkpoints keep the config they were written with); the key "
      "itself wins when both are set:\n\n";
  for (const Alias& a : kAliases) md += std::string("- `") + a.path + "`: `" + a.key + "`\n";
  return md;
}

LtbConfig ltb_preset(LtbPreset preset, bool enabled) {
  LtbConfig c;  // the defaults: the validated reading
  c.enabled = enabled;
  c.preset = preset;
  if (preset == LtbPreset::kValidated) return c;
  // v3d's first reading; the paper preset adds Fig. 1's incoherence gate to it, and where the
  // paper is silent keeps its guesses (docs/long-term-bank.md, "Readings").
  c.max_insert = -1;
  c.placement = LtbPlacement::kNextToCenter;
  c.gate = preset == LtbPreset::kPaper ? LtbGate::kMin : LtbGate::kNone;
  c.gate_threshold = 0.7;
  return c;
}

const std::vector<std::string>& ltb_preset_keys() {
  static const std::vector<std::string> keys = {
      "capacity",   "threshold", "accumulate", "fusion_threshold",
      "max_insert", "placement", "gate",       "gate_threshold",
      "mode",       "center"};
  return keys;
}

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

namespace {

// Where each document of a YAML stream starts: its first node, else its start marker.
struct DocumentStarts : YAML::EventHandler {
  std::vector<YAML::Mark> marks;
  bool first_node = false;
  void node(const YAML::Mark& mark) {
    if (first_node) marks.back() = mark;
    first_node = false;
  }
  void OnDocumentStart(const YAML::Mark& mark) override {
    marks.push_back(mark);
    first_node = true;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    node(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    node(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    node(mark);
  }
  void OnMapEnd() override {}
};

}  // namespace

ExperimentConfig parse_config(const std::string& yaml, const std::string& origin,
                              const std::vector<std::string>& overrides) {
  Context ctx(origin);
  YAML::Node root;
  try {
    // A second document is refused rather than silently ignored. Documents are counted up to
    // two: yaml-cpp 0.7's LoadAll never ends on some malformed input (it allocates until the
    // process dies), so it is not used.
    std::istringstream in(yaml);
    YAML::Parser parser(in);
    DocumentStarts starts;
    if (parser.HandleNextDocument(starts) && parser.HandleNextDocument(starts)) {
      const YAML::Mark m = starts.marks.back();
      throw Error(origin + (m.is_null() ? std::string() : ":" + std::to_string(m.line + 1)) +
                  ": a second YAML document (expected one config per file; remove the '---' "
                  "line that starts it)");
    }
    root = YAML::Load(yaml);
  } catch (const YAML::ParserException& e) {
    throw Error(origin + ":" + std::to_string(e.mark.line + 1) +
                ": YAML syntax error: " + excerpt(e.msg, 200));
  }
  if (!root.IsDefined() || root.IsNull()) root.reset(YAML::Node(YAML::NodeType::Map));
  if (!root.IsMap()) {
    std::string keys;
    for (const Field& f : fields()) {
      const std::string top = f.path.substr(0, f.path.find('.'));
      if (keys.find(top) == std::string::npos) keys += (keys.empty() ? "" : ", ") + top;
    }
    throw Error(origin + ": the config must be a map of sections (" + keys + "), got " +
                kind_name(root));
  }
  for (const std::string& o : overrides) apply_override(ctx, root, o);
  ExperimentConfig c;
  read_section(ctx, root, "", c);
  validate(c, Checker{[&ctx](const std::string& key) { return ctx.where(key); },
                      [&ctx](const std::string& key) { return ctx.name(key); }});
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

kernels::ConvMath parse_precision(const std::string& name) {
  if (name == "fp32") return kernels::ConvMath::kFp32;
  if (name == "tf32") return kernels::ConvMath::kTf32;
  if (name == "bf16") return kernels::ConvMath::kBf16;
  throw Error("must be fp32, tf32 or bf16, got '" + name + "'");
}

void validate_config(const ExperimentConfig& config) {
  validate(config, Checker{[](const std::string&) { return std::string("config"); },
                           [](const std::string& key) { return key; }});
}

std::string to_yaml(const ExperimentConfig& c) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  std::vector<std::string> open;  // the sections open, outermost first
  for (const Field& f : fields()) {
    if (!applies(f, c)) continue;
    const std::string section = parent_of(f.path);
    while (!open.empty() && !(section == open.back() || inside(section, open.back()))) {
      out << YAML::EndMap;
      open.pop_back();
    }
    // Open the sections between the innermost open one and the key's.
    const std::string from = open.empty() ? std::string() : open.back();
    std::string at = from;
    while (at != section) {
      const std::string rest = at.empty() ? section : section.substr(at.size() + 1);
      at = child_path(at, rest.substr(0, rest.find('.')));
      out << YAML::Key << leaf_of(at) << YAML::Value;
      if (std::find(std::begin(kFlowSections), std::end(kFlowSections), at) !=
          std::end(kFlowSections))
        out << YAML::Flow;
      out << YAML::BeginMap;
      open.push_back(at);
    }
    out << YAML::Key << leaf_of(f.path) << YAML::Value;
    f.write(out, c);
  }
  for (; !open.empty(); open.pop_back()) out << YAML::EndMap;
  out << YAML::EndMap;
  V3D_CHECK(out.good(), "to_yaml: " << out.GetLastError());
  return std::string(out.c_str()) + "\n";
}

}  // namespace v3d
