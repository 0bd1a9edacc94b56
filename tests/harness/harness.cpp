// The harness driver: runs the registered cases in compare, grad or perf mode.
//   v3d_op_harness --mode compare|grad|perf [--backend cpu|emu|cuda|all] [--op NAME]
//                  [--seed N] [--list]
// Exit status: 0 all passed, 1 a failure, 77 nothing could run (ctest's SKIP_RETURN_CODE).
#include "tests/harness/harness.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "kernels/gpu/emu/runtime.h"
#include "runtime/op_list.h"
#include "runtime/stream.h"

namespace v3d::harness {

std::vector<OpCase>& registry() {
  static std::vector<OpCase> cases;
  return cases;
}

std::vector<float> random_normal(Rng& rng, int64_t n, float stddev) {
  std::normal_distribution<float> d(0.0f, stddev);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

std::vector<float> random_uniform(Rng& rng, int64_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

std::vector<float> random_away_from_zero(Rng& rng, int64_t n, float gap) {
  std::vector<float> v = random_normal(rng, n);
  for (auto& x : v)
    if (std::fabs(x) < gap) x = x < 0 ? x - gap : x + gap;
  return v;
}

namespace {

constexpr int64_t kGuard = 64;                   // elements on each side of every output
constexpr uint32_t kSentinelBits = 0x7FC0DEADu;  // a quiet NaN with a recognisable payload

float sentinel() {
  float f;
  std::memcpy(&f, &kSentinelBits, sizeof f);
  return f;
}

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// Whether a and b hold the same bits. Not memcmp: an empty vector's data() may be null, which
// memcmp must not be given.
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](float x, float y) { return bits_of(x) == bits_of(y); });
}

struct Backend {
  std::string name;
  Device device;
  bool available = true;
  std::string why_not;
};

struct Options {
  std::string mode = "compare";
  std::string backend = "all";
  std::string op;
  uint64_t seed = 1234;
  bool list = false;
};

struct Tally {
  int passed = 0, failed = 0, skipped = 0;
};

uint64_t case_seed(uint64_t seed, const OpCase& c) {
  return seed ^ std::hash<std::string>{}(c.op + " " + c.params);
}

std::vector<ref::Vec> to_double(const std::vector<Input>& in) {
  std::vector<ref::Vec> out;
  for (const auto& i : in) out.emplace_back(i.data.begin(), i.data.end());
  return out;
}

std::string describe(const OpCase& c, const Backend& b) {
  return c.op + " [" + c.params + "] on " + b.name;
}

std::string rerun_hint(const OpCase& c, const Options& o, const Backend& b) {
  std::ostringstream os;
  os << "seed " << o.seed << "; rerun: v3d_op_harness --mode " << o.mode << " --op " << c.op
     << " --backend " << b.name << " --seed " << o.seed;
  return os.str();
}

// Checks one output against the reference; appends messages to `err`. Returns pass.
bool check_values(const std::vector<float>& got, const ref::Vec& want, const Tolerance& tol,
                  std::ostringstream& err, const std::string& label) {
  if (got.size() != want.size()) {
    err << "  " << label << ": " << got.size() << " values, reference has " << want.size() << "\n";
    return false;
  }
  // NaN and Inf first: a norm over them would hide where they are.
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i]) && std::isfinite(want[i])) {
      if (bad < 5)
        err << "  " << label << "[" << i << "] = " << got[i]
            << (bits_of(got[i]) == kSentinelBits ? " (never written)" : "") << ", want " << want[i]
            << "\n";
      ++bad;
    }
  }
  if (bad > 0) {
    err << "  " << label << ": " << bad << " non-finite values\n";
    return false;
  }
  double max_abs = 0.0;
  size_t worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double e = std::fabs(static_cast<double>(got[i]) - want[i]);
    const double limit = tol.atol + tol.rtol * std::fabs(want[i]);
    if (e > limit) {
      if (bad < 5)
        err << "  " << label << "[" << i << "] = " << got[i] << ", want " << want[i] << " (err "
            << e << " > " << limit << ")\n";
      ++bad;
    }
    if (e > max_abs) {
      max_abs = e;
      worst = i;
    }
  }
  if (bad > 0) {
    err << "  " << label << ": " << bad << " of " << got.size()
        << " elements out of tolerance (rtol " << tol.rtol << ", atol " << tol.atol << ": "
        << tol.why << "); max abs err " << max_abs << " at " << worst << "\n";
    return false;
  }
  return true;
}

// Runs the case on a backend with guarded outputs. Returns the outputs; sets ok = false and
// writes to err on guard or input corruption.
std::vector<std::vector<float>> run_guarded(const OpCase& c, const std::vector<Input>& inputs,
                                            Device device, bool& ok, std::ostringstream& err) {
  std::vector<Tensor> in;
  for (const auto& i : inputs) in.push_back(Tensor::from_vector(i.data, i.shape, device));
  std::vector<Tensor> buffers, outs;
  for (const Shape& s : c.outputs) {
    const int64_t n = s.numel();
    Tensor buf = Tensor::full({n + 2 * kGuard}, sentinel(), device);
    buffers.push_back(buf);
    outs.push_back(buf.narrow(kGuard, n).view(s));
  }
  c.run(in, outs);
  synchronize(device);
  std::vector<std::vector<float>> results;
  for (size_t o = 0; o < buffers.size(); ++o) {
    const std::vector<float> all = buffers[o].to_vector();
    const int64_t n = c.outputs[o].numel();
    for (int64_t g = 0; g < kGuard; ++g) {
      const size_t lo = static_cast<size_t>(g), hi = static_cast<size_t>(kGuard + n + g);
      if (bits_of(all[lo]) != kSentinelBits || bits_of(all[hi]) != kSentinelBits) {
        err << "  output " << o << ": guard region overwritten ("
            << (bits_of(all[lo]) != kSentinelBits ? "before" : "after") << " the output, "
            << (bits_of(all[lo]) != kSentinelBits ? kGuard - g : g + 1) << " elements away)\n";
        ok = false;
        break;
      }
    }
    results.emplace_back(all.begin() + kGuard, all.begin() + kGuard + n);
  }
  for (size_t i = 0; i < in.size(); ++i) {
    const std::vector<float> after = in[i].to_vector();
    if (!same_bits(after, inputs[i].data)) {
      err << "  input " << i << " was modified by the op\n";
      ok = false;
    }
  }
  return results;
}

void report(Tally& t, const std::string& status, const std::string& what, const std::string& info,
            const std::string& detail) {
  std::printf("%-8s %s%s%s\n", status.c_str(), what.c_str(), info.empty() ? "" : "  ",
              info.c_str());
  if (!detail.empty()) std::printf("%s", detail.c_str());
  if (status == "PASS")
    ++t.passed;
  else if (status == "FAIL")
    ++t.failed;
  else
    ++t.skipped;
}

// Runs `check` on every available backend (SKIPPED for the others) and reports PASS or FAIL with
// its messages; an exception from the op is a failure that names what was thrown.
template <class CheckFn>
void check_on_backends(const char* mode, const OpCase& c, const std::vector<Backend>& backends,
                       const Options& o, Tally& t, CheckFn&& check) {
  for (const Backend& b : backends) {
    const std::string what = std::string(mode) + " " + describe(c, b);
    if (!b.available) {
      report(t, "SKIPPED", what, b.why_not, "");
      continue;
    }
    std::ostringstream err;
    bool ok = true;
    try {
      ok = check(b, err);
    } catch (const std::exception& e) {
      err << "  threw: " << e.what() << "\n";
      ok = false;
    }
    report(t, ok ? "PASS" : "FAIL", what, "",
           ok ? "" : err.str() + "  " + rerun_hint(c, o, b) + "\n");
  }
}

void run_compare(const OpCase& c, const std::vector<Backend>& backends, const Options& o,
                 Tally& t) {
  Rng rng(case_seed(o.seed, c));
  const std::vector<Input> inputs = c.make_inputs(rng);
  const std::vector<ref::Vec> want = c.reference(to_double(inputs));
  std::vector<std::vector<float>> cpu_bits;
  if (c.bitwise_across_backends) {
    bool ok = true;
    std::ostringstream ignored;
    cpu_bits = run_guarded(c, inputs, Device::cpu(), ok, ignored);
  }
  check_on_backends("compare", c, backends, o, t, [&](const Backend& b, std::ostringstream& err) {
    bool ok = true;
    const auto got = run_guarded(c, inputs, b.device, ok, err);
    for (size_t i = 0; i < got.size(); ++i) {
      ok = check_values(got[i], want[i], c.tol, err, "out" + std::to_string(i)) && ok;
      if (c.bitwise_across_backends && !same_bits(got[i], cpu_bits[i])) {
        err << "  out" << i << " differs bitwise from the CPU backend\n";
        ok = false;
      }
    }
    return ok;
  });
}

void run_grad(const OpCase& c, const std::vector<Backend>& backends, const Options& o, Tally& t) {
  if (!c.forward_var) return;
  Rng rng(case_seed(o.seed, c) + 1);
  const std::vector<Input> inputs = c.make_inputs(rng);
  const int64_t n_out = c.outputs.at(0).numel();
  const std::vector<float> w = random_normal(rng, n_out);
  // loss(x) = sum_i w_i * f(x)_i in double, through the reference forward.
  auto loss = [&](const std::vector<ref::Vec>& x) {
    const ref::Vec y = c.reference(x).at(0);
    double l = 0.0;
    for (size_t i = 0; i < y.size(); ++i) l += static_cast<double>(w[i]) * y[i];
    return l;
  };
  // Finite differences at up to 32 elements of each checked input, spread over the tensor.
  std::vector<std::vector<std::pair<size_t, double>>> fd(inputs.size());
  std::vector<ref::Vec> x = to_double(inputs);
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!c.grad_inputs.at(i)) continue;
    const size_t n = x[i].size();
    // A stride that is not a multiple of 2 or 3, so that inputs laid out as (..., 3) or (..., 2)
    // get every coordinate checked, not only x.
    size_t step = std::max<size_t>(1, n / 32);
    while (step > 1 && (step % 2 == 0 || step % 3 == 0)) ++step;
    for (size_t j = 0; j < n; j += step) {
      const double x0 = x[i][j];
      const double h = 1e-3 * std::max(1.0, std::fabs(x0));
      x[i][j] = x0 + h;
      const double lp = loss(x);
      x[i][j] = x0 - h;
      const double lm = loss(x);
      x[i][j] = x0;
      fd[i].emplace_back(j, (lp - lm) / (2 * h));
    }
  }
  check_on_backends("grad", c, backends, o, t, [&](const Backend& b, std::ostringstream& err) {
    bool ok = true;
    std::vector<Var> vars;
    for (size_t i = 0; i < inputs.size(); ++i)
      vars.emplace_back(Tensor::from_vector(inputs[i].data, inputs[i].shape, b.device),
                        static_cast<bool>(c.grad_inputs.at(i)));
    Var y = c.forward_var(vars);
    y.backward(Tensor::from_vector(w, y.value().shape(), b.device));
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!c.grad_inputs.at(i)) continue;
      if (!vars[i].grad().defined()) {
        err << "  input " << i << ": no gradient computed\n";
        ok = false;
        continue;
      }
      const std::vector<float> g = vars[i].grad().to_vector();
      int bad = 0;
      for (const auto& [j, want] : fd[i]) {
        const double e = std::fabs(g[j] - want);
        const double limit = c.grad_tol.atol + c.grad_tol.rtol * std::fabs(want);
        if (!(e <= limit)) {
          if (bad < 5)
            err << "  d_in" << i << "[" << j << "] = " << g[j] << ", finite difference " << want
                << " (err " << e << " > " << limit << ")\n";
          ++bad;
        }
      }
      if (bad > 0) {
        err << "  d_in" << i << ": " << bad << " of " << fd[i].size() << " checked elements off ("
            << c.grad_tol.why << ")\n";
        ok = false;
      }
    }
    return ok;
  });
}

void run_perf(const OpCase& c, const std::vector<Backend>& backends, const Options& o, Tally& t) {
  Rng rng(case_seed(o.seed, c));
  const std::vector<Input> inputs = c.make_inputs(rng);
  for (const Backend& b : backends) {
    const std::string what = "perf " + describe(c, b);
    if (!b.available) {
      report(t, "SKIPPED", what, b.why_not, "");
      continue;
    }
    if (b.device.type == DeviceType::kEmu) {
      report(t, "SKIPPED", what, "emulated timings are meaningless", "");
      continue;
    }
    std::vector<Tensor> in, out;
    for (const auto& i : inputs) in.push_back(Tensor::from_vector(i.data, i.shape, b.device));
    for (const Shape& s : c.outputs) out.push_back(Tensor::empty(s, DType::kF32, b.device));
    c.run(in, out);  // warm-up
    synchronize(b.device);
    int reps = 0;
    const auto start = std::chrono::steady_clock::now();
    double elapsed = 0.0;
    while (elapsed < 0.2 || reps < 3) {
      c.run(in, out);
      ++reps;
      synchronize(b.device);
      elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    const double per = elapsed / reps;
    char info[200];
    std::snprintf(info, sizeof info, "%10.1f us  %8.2f GB/s  %8.2f GFLOP/s", per * 1e6,
                  c.bytes / per / 1e9, c.flops / per / 1e9);
    report(t, "PASS", what, info, "");
  }
}

// Every op in runtime/op_list.h has cases (and every backward-only kernel a grad case of its op);
// every __global__ under kernels/cuda was executed by the emulator (the list is generated at
// configure time from the sources).
bool check_coverage(bool check_kernels) {
  bool ok = true;
  std::set<std::string> with_cases;
  for (const auto& c : registry()) with_cases.insert(c.op);
  for (auto name : ops::kOpNames) {
    if (!with_cases.count(std::string(name))) {
      std::printf("FAIL     coverage: op '%s' (runtime/op_list.h) has no harness case\n",
                  std::string(name).c_str());
      ok = false;
    }
  }
  for (const auto& g : ops::kGradOnly) {
    const bool covered = std::any_of(registry().begin(), registry().end(), [&](const OpCase& c) {
      return c.op == g.forward && c.forward_var != nullptr;
    });
    if (!covered) {
      std::printf(
          "FAIL     coverage: kernel '%s' serves the backward of '%s', which has no grad case\n",
          std::string(g.kernel).c_str(), std::string(g.forward).c_str());
      ok = false;
    }
  }
  for (const auto& c : registry()) {
    if (std::find(ops::kOpNames.begin(), ops::kOpNames.end(), c.op) == ops::kOpNames.end()) {
      std::printf("FAIL     coverage: case for unknown op '%s'\n", c.op.c_str());
      ok = false;
    }
  }
  if (check_kernels) {
    struct KernelSource {
      const char* name;
      const char* file;
    };
    static const KernelSource kernels[] = {
#include "v3d/cuda_kernel_list.inc"
        {nullptr, nullptr}};
    const auto counts = cuemu::launch_counts();
    int n = 0;
    for (const KernelSource* k = kernels; k->name != nullptr; ++k, ++n) {
      bool launched = false;
      for (const auto& [launch_name, count] : counts) {
        // Launch names are as written at the call site: "impl::fill_kernel", "(binary_kernel<Op>)".
        const size_t at = launch_name.find(k->name);
        if (count > 0 && at != std::string::npos) {
          const size_t end = at + std::strlen(k->name);
          const bool word_start =
              at == 0 || !(std::isalnum(static_cast<unsigned char>(launch_name[at - 1])) ||
                           launch_name[at - 1] == '_');
          const bool word_end = end == launch_name.size() ||
                                !(std::isalnum(static_cast<unsigned char>(launch_name[end])) ||
                                  launch_name[end] == '_');
          launched = launched || (word_start && word_end);
        }
      }
      if (!launched) {
        std::printf("FAIL     coverage: kernel %s (%s) never ran under emulation\n", k->name,
                    k->file);
        ok = false;
      }
    }
    if (ok)
      std::printf("PASS     coverage: all %d kernels under kernels/cuda ran under emulation\n", n);
  }
  return ok;
}

Options parse(int argc, char** argv) {
  Options o;
  if (const char* s = std::getenv("V3D_TEST_SEED")) o.seed = std::strtoull(s, nullptr, 10);
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw Error("missing value after " + a);
      return argv[++i];
    };
    if (a == "--mode")
      o.mode = value();
    else if (a == "--backend")
      o.backend = value();
    else if (a == "--op")
      o.op = value();
    else if (a == "--seed")
      o.seed = std::stoull(value());
    else if (a == "--list")
      o.list = true;
    else if (a == "--help" || a == "-h") {
      std::printf(
          "usage: v3d_op_harness [--mode compare|grad|perf] [--backend cpu|emu|cuda|all]\n"
          "                      [--op NAME] [--seed N] [--list]\n");
      std::exit(0);
    } else {
      throw Error("unknown argument '" + a + "' (try --help)");
    }
  }
  if (o.mode != "compare" && o.mode != "grad" && o.mode != "perf")
    throw Error("--mode must be compare, grad or perf, got '" + o.mode + "'");
  if (o.backend != "all" && o.backend != "cpu" && o.backend != "emu" && o.backend != "cuda")
    throw Error("--backend must be cpu, emu, cuda or all, got '" + o.backend + "'");
  return o;
}

}  // namespace
}  // namespace v3d::harness

int main(int argc, char** argv) {
  using namespace v3d;
  using namespace v3d::harness;
  try {
    const Options o = parse(argc, argv);
    if (o.list) {
      for (const auto& c : registry()) std::printf("%s [%s]\n", c.op.c_str(), c.params.c_str());
      return 0;
    }
    std::vector<Backend> backends;
    if (o.backend == "all" || o.backend == "cpu")
      backends.push_back({"cpu", Device::cpu(), true, ""});
    if (o.backend == "all" || o.backend == "emu")
      backends.push_back({"emu", Device::emu(), true, ""});
    if (o.backend == "all" || o.backend == "cuda") {
      Backend b{"cuda", Device::cuda(0), false, ""};
      b.available = cuda_available(&b.why_not);
      backends.push_back(b);
    }
    std::printf("v3d op harness: mode %s, seed %llu (override with --seed or V3D_TEST_SEED)\n",
                o.mode.c_str(), static_cast<unsigned long long>(o.seed));
    if (std::none_of(backends.begin(), backends.end(),
                     [](const Backend& b) { return b.available; })) {
      std::printf("SKIPPED: no requested backend is available: %s\n",
                  backends.back().why_not.c_str());
      return 77;
    }
    Tally t;
    for (const OpCase& c : registry()) {
      if (!o.op.empty() && c.op != o.op) continue;
      if (o.mode == "compare")
        run_compare(c, backends, o, t);
      else if (o.mode == "grad")
        run_grad(c, backends, o, t);
      else
        run_perf(c, backends, o, t);
    }
    const bool ran_emu_everything =
        o.mode == "compare" && o.op.empty() &&
        std::any_of(backends.begin(), backends.end(),
                    [](const Backend& b) { return b.device.type == DeviceType::kEmu; });
    if (o.op.empty()) {
      if (check_coverage(ran_emu_everything))
        ++t.passed;
      else
        ++t.failed;
    }
    std::printf("\n%d passed, %d failed, %d skipped\n", t.passed, t.failed, t.skipped);
    return t.failed == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "v3d_op_harness: %s\n", e.what());
    return 2;
  }
}
