// The choice of the CPU sgemm (kernels/gemm_kernel.h): plan, self-test, selection and the
// process-wide state. Loading the libraries is in gemm_libraries.cpp.
#include "kernels/gemm_kernel.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <mutex>
#include <random>
#include <sstream>

#include "kernels/common.h"

namespace v3d::kernels {

// gemm_libraries.cpp
SgemmFn load_gemm_library(const GemmKernelSpec& spec, bool drop_openblas_env, std::string* why_not,
                          std::string* library);
GemmBf16Fn load_bf16_gemm(std::string* why_not, std::string* library);

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The canonical spelling of an OpenBLAS core type, or "" when it is not one of ours.
std::string canonical_core(const std::string& name) {
  for (const auto& c : openblas_core_types())
    if (lower(c) == lower(name)) return c;
  return "";
}

int core_rank(const std::string& core) {
  const auto& cores = openblas_core_types();
  return static_cast<int>(std::find(cores.begin(), cores.end(), core) - cores.begin());
}

GemmKernelSpec openblas(const std::string& core) { return {GemmLibrary::OpenBlas, core}; }

// After the user's choice or the best OpenBLAS: the other libraries, then ours.
void add_fallbacks(GemmPlan& plan) {
  if (plan.candidates.front().library == GemmLibrary::Builtin) return;  // already the last resort
  for (const GemmKernelSpec& s :
       {GemmKernelSpec{GemmLibrary::OneDnn, ""}, GemmKernelSpec{GemmLibrary::Builtin, ""}})
    if (std::find(plan.candidates.begin(), plan.candidates.end(), s) == plan.candidates.end())
      plan.candidates.push_back(s);
}

}  // namespace

std::string GemmKernelSpec::name() const {
  switch (library) {
    case GemmLibrary::OpenBlas:
      return core.empty() ? "openblas" : "openblas:" + core;
    case GemmLibrary::OneDnn:
      return "onednn";
    case GemmLibrary::Blis:
      return "blis";
    case GemmLibrary::Builtin:
      return "builtin";
  }
  return "?";
}

const std::vector<std::string>& openblas_core_types() {
  // The x86-64 core types of OpenBLAS's DYNAMIC_ARCH build that differ in the instructions their
  // sgemm uses; the names are OpenBLAS's own.
  static const std::vector<std::string> cores = {"Prescott", "Core2",    "Nehalem",   "Sandybridge",
                                                 "Haswell",  "SkylakeX", "Cooperlake"};
  return cores;
}

bool openblas_core_runs_on(const std::string& core, const CpuFeatures& cpu) {
  if (core == "Prescott") return cpu.sse3;
  if (core == "Core2") return cpu.ssse3;
  if (core == "Nehalem") return cpu.sse41 && cpu.sse42;
  if (core == "Sandybridge") return cpu.usable_avx();
  if (core == "Haswell") return cpu.usable_avx2_fma();
  if (core == "SkylakeX") return cpu.usable_avx512();
  if (core == "Cooperlake") return cpu.usable_avx512_bf16();
  return false;
}

std::string best_openblas_core(const CpuFeatures& cpu) {
  const auto& cores = openblas_core_types();
  for (auto it = cores.rbegin(); it != cores.rend(); ++it)
    if (openblas_core_runs_on(*it, cpu)) return *it;
  return "Prescott";  // every x86-64 processor has SSE2; Prescott's kernels need little more
}

std::string openblas_core_reason(const std::string& core) {
  if (core == "Cooperlake") return "AVX-512 (F, CD, BW, DQ, VL) with BF16";
  if (core == "SkylakeX") return "AVX-512 (F, CD, BW, DQ, VL)";
  if (core == "Haswell") return "AVX2 and FMA";
  if (core == "Sandybridge") return "AVX";
  if (core == "Nehalem") return "SSE4.2";
  if (core == "Core2") return "SSSE3";
  return "SSE3 (no AVX)";
}

std::string gemm_kernel_choices() {
  std::string s = "auto, openblas, ";
  for (const auto& c : openblas_core_types()) s += "openblas:" + c + ", ";
  return s + "onednn, blis, builtin";
}

std::optional<GemmKernelSpec> parse_gemm_kernel(const std::string& text, const std::string& what) {
  const std::string t = lower(text);
  if (t == "auto") return std::nullopt;
  if (t == "openblas") return openblas("");
  if (t == "onednn") return GemmKernelSpec{GemmLibrary::OneDnn, ""};
  if (t == "blis") return GemmKernelSpec{GemmLibrary::Blis, ""};
  if (t == "builtin") return GemmKernelSpec{GemmLibrary::Builtin, ""};
  if (t.rfind("openblas:", 0) == 0) {
    const std::string core = canonical_core(text.substr(9));
    if (!core.empty()) return openblas(core);
  }
  V3D_REQUIRE(false, what << ": unknown GEMM kernel '" << text << "' (one of "
                          << gemm_kernel_choices() << ")");
  return std::nullopt;
}

GemmPlan plan_gemm_kernel(const CpuFeatures& cpu, const GemmSetting& setting,
                          const char* openblas_coretype_env) {
  GemmPlan plan;
  const std::string best = best_openblas_core(cpu);
  const std::string best_why = "openblas:" + best + " for " + openblas_core_reason(best);
  const bool has_env = openblas_coretype_env != nullptr && *openblas_coretype_env != '\0';

  std::optional<GemmKernelSpec> asked;
  std::string source = setting.source;
  if (!setting.value.empty()) {
    asked = parse_gemm_kernel(setting.value, setting.source);
    if (!asked && has_env) {
      plan.warnings.push_back(setting.source +
                              " auto: OPENBLAS_CORETYPE=" + std::string(openblas_coretype_env) +
                              " in the environment is ignored");
      plan.drop_openblas_env = true;
    }
  } else if (has_env) {
    source = "OPENBLAS_CORETYPE";
    const std::string core = canonical_core(openblas_coretype_env);
    if (core.empty()) {
      plan.warnings.push_back("OPENBLAS_CORETYPE=" + std::string(openblas_coretype_env) +
                              " is not a core type v3d knows; choosing from the CPU's features");
      plan.drop_openblas_env = true;
    } else if (!openblas_core_runs_on(core, cpu)) {
      plan.warnings.push_back("OPENBLAS_CORETYPE=" + core + " needs " + openblas_core_reason(core) +
                              ", which this CPU lacks; choosing from the CPU's features");
      plan.drop_openblas_env = true;
    } else {
      asked = openblas(core);
    }
  }

  if (!asked) {
    plan.candidates.push_back(openblas(best));
    plan.reason = "auto: " + best_why;
    add_fallbacks(plan);
    return plan;
  }

  GemmKernelSpec spec = *asked;
  if (spec.library == GemmLibrary::OpenBlas) {
    if (spec.core.empty()) spec.core = best;
    V3D_REQUIRE(openblas_core_runs_on(spec.core, cpu),
                source << " " << spec.name() << ": needs " << openblas_core_reason(spec.core)
                       << ", which this CPU lacks (use "
                       << "openblas:" << best << " or auto)");
    if (core_rank(spec.core) < core_rank(best))
      plan.warnings.push_back(source + " selects " + spec.name() + ", below what this CPU runs (" +
                              best_why + "); using it as asked");
  } else if (spec.library == GemmLibrary::Builtin) {
    plan.warnings.push_back(source +
                            " selects builtin, the portable fallback, several times "
                            "slower than " +
                            best_why);
  }
  plan.candidates.push_back(spec);
  plan.reason = source + " " + spec.name();
  add_fallbacks(plan);
  return plan;
}

// ---- self-test ------------------------------------------------------------------------------

namespace {

// The self-test of both GEMMs: `run` computes g (whose a and b point into the given vectors);
// bf16 rounds the inputs to bfloat16 first, so that the products are exact in float32 and the
// same error bound holds.
using SelfTestRun =
    std::function<void(const GemmArgs&, const std::vector<float>& a, const std::vector<float>& b)>;

std::string self_test(const SelfTestRun& run, bool bf16) {
  struct Case {
    bool ta, tb;
    int64_t m, n, k, pad;
    float alpha, beta;
  };
  // Small odd shapes reach the libraries' edge code; the last is large enough for their packed
  // micro-kernels and threads.
  const Case cases[] = {
      {false, false, 7, 5, 3, 0, 1.0f, 0.0f},       {true, false, 37, 29, 53, 3, 0.5f, -1.5f},
      {false, true, 64, 48, 300, 1, 1.0f, 1.0f},    {true, true, 130, 70, 257, 5, -2.0f, 0.25f},
      {false, false, 200, 160, 384, 0, 1.0f, 0.0f}, {false, true, 96, 208, 200, 0, 1.0f, 0.0f}};
  std::mt19937 rng(12345);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (const Case& c : cases) {
    GemmArgs g;
    g.trans_a = c.ta;
    g.trans_b = c.tb;
    g.m = c.m;
    g.n = c.n;
    g.k = c.k;
    g.alpha = c.alpha;
    g.beta = c.beta;
    g.lda = (c.ta ? c.m : c.k) + c.pad;
    g.ldb = (c.tb ? c.k : c.n) + c.pad;
    g.ldc = c.n + c.pad;
    std::vector<float> a(static_cast<size_t>((c.ta ? c.k : c.m) * g.lda));
    std::vector<float> b(static_cast<size_t>((c.tb ? c.n : c.k) * g.ldb));
    std::vector<float> cm(static_cast<size_t>(c.m * g.ldc));
    for (auto& x : a) x = u(rng);
    for (auto& x : b) x = u(rng);
    if (bf16) {
      std::vector<uint16_t> t(std::max(a.size(), b.size()));
      float_to_bf16(a.data(), t.data(), static_cast<int64_t>(a.size()));
      bf16_to_float(t.data(), a.data(), static_cast<int64_t>(a.size()));
      float_to_bf16(b.data(), t.data(), static_cast<int64_t>(b.size()));
      bf16_to_float(t.data(), b.data(), static_cast<int64_t>(b.size()));
    }
    // beta = 0 must overwrite C without reading it, NaN included.
    for (auto& x : cm) x = c.beta == 0.0f ? std::numeric_limits<float>::quiet_NaN() : u(rng);
    const std::vector<float> c0 = cm;
    g.a = a.data();
    g.b = b.data();
    g.c = cm.data();
    run(g, a, b);
    for (int64_t i = 0; i < c.m; ++i) {
      for (int64_t j = 0; j < c.n; ++j) {
        double ref = 0.0, mag = 0.0;
        for (int64_t p = 0; p < c.k; ++p) {
          const double av = c.ta ? a[p * g.lda + i] : a[i * g.lda + p];
          const double bv = c.tb ? b[j * g.ldb + p] : b[p * g.ldb + j];
          ref += av * bv;
          mag += std::fabs(av * bv);
        }
        ref *= c.alpha;
        mag *= std::fabs(c.alpha);
        if (c.beta != 0.0f) {
          ref += static_cast<double>(c.beta) * c0[i * g.ldc + j];
          mag += std::fabs(static_cast<double>(c.beta) * c0[i * g.ldc + j]);
        }
        // Any order of float32 sums of k products is within (k + 2) * 2^-24 * sum |terms|
        // (Higham, Accuracy and Stability, 3.1); twice that leaves room for alpha and beta.
        const double bound = 2.0 * static_cast<double>(c.k + 2) * std::ldexp(1.0, -24) * mag;
        const double got = cm[i * g.ldc + j];
        if (!(std::fabs(got - ref) <= bound)) {
          std::ostringstream os;
          os << "C[" << i << "][" << j << "] = " << got << ", expected " << ref << " (m=" << c.m
             << " n=" << c.n << " k=" << c.k << (c.ta ? " A^T" : "") << (c.tb ? " B^T" : "")
             << " alpha=" << c.alpha << " beta=" << c.beta << ")";
          return os.str();
        }
      }
    }
    // The padding between rows of C is not C's: it must be left alone.
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t j = c.n; j < g.ldc; ++j)
        if (!(std::isnan(cm[i * g.ldc + j]) && std::isnan(c0[i * g.ldc + j])) &&
            cm[i * g.ldc + j] != c0[i * g.ldc + j])
          return "wrote outside C (row padding)";
  }
  return "";
}

}  // namespace

std::string gemm_self_test(const SgemmFn& fn) {
  return self_test(
      [&](const GemmArgs& g, const std::vector<float>&, const std::vector<float>&) { fn(g); },
      false);
}

std::string gemm_bf16_self_test(const GemmBf16Fn& fn) {
  return self_test(
      [&](const GemmArgs& g, const std::vector<float>& a, const std::vector<float>& b) {
        std::vector<uint16_t> ah(a.size()), bh(b.size());
        float_to_bf16(a.data(), ah.data(), static_cast<int64_t>(a.size()));
        float_to_bf16(b.data(), bh.data(), static_cast<int64_t>(b.size()));
        fn(bf16_operands(g, ah.data(), g.lda, bh.data(), g.ldb));
      },
      true);
}

GemmBf16Args bf16_operands(const GemmArgs& g, const uint16_t* a, int64_t lda, const uint16_t* b,
                           int64_t ldb) {
  GemmBf16Args h;
  h.trans_a = g.trans_a;
  h.trans_b = g.trans_b;
  h.m = g.m;
  h.n = g.n;
  h.k = g.k;
  h.alpha = g.alpha;
  h.a = a;
  h.lda = lda;
  h.b = b;
  h.ldb = ldb;
  h.beta = g.beta;
  h.c = g.c;
  h.ldc = g.ldc;
  return h;
}

void float_to_bf16(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, &x[i], 4);
    const bool nan = (u & 0x7fffffffu) > 0x7f800000u;
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    y[i] = static_cast<uint16_t>(nan ? ((u >> 16) | 0x40u) : rounded);
  }
}

void bf16_to_float(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t u = static_cast<uint32_t>(x[i]) << 16;
    std::memcpy(&y[i], &u, 4);
  }
}

GemmSelection select_gemm_kernel(const GemmPlan& plan, const GemmLoader& load) {
  GemmSelection sel;
  sel.warnings = plan.warnings;
  for (const GemmKernelSpec& spec : plan.candidates) {
    std::string why_not;
    SgemmFn fn = load(spec, &why_not);
    if (!fn) {
      // Auto's fallbacks are optional; a kernel the user named is worth a warning.
      if (&spec == &plan.candidates.front() || spec.library == GemmLibrary::Builtin)
        sel.warnings.push_back(spec.name() + " is not available (" + why_not +
                               "); trying the next");
      continue;
    }
    const std::string wrong = gemm_self_test(fn);
    if (!wrong.empty()) {
      sel.warnings.push_back(spec.name() +
                             " failed the self-test against a double-precision "
                             "product (" +
                             wrong + "); not used");
      continue;
    }
    sel.spec = spec;
    sel.fn = std::move(fn);
    return sel;
  }
  V3D_CHECK(false, "no GEMM kernel passed its self-test, not even builtin");
  return sel;
}

// ---- the process's kernel -------------------------------------------------------------------

std::string GemmKernelInfo::summary() const {
  return "GEMM: " + spec.name() + " (" + library + "): " + reason;
}

namespace {

struct State {
  std::mutex mu;
  GemmSetting setting;
  std::optional<GemmKernelInfo> info;
  SgemmFn fn;
  std::atomic<bool> ready{false};
};

State& state() {
  static State s;
  return s;
}

void choose_locked(State& s) {
  if (s.info) return;
  const GemmPlan plan =
      plan_gemm_kernel(cpu_features(), s.setting, std::getenv("OPENBLAS_CORETYPE"));
  std::string library;
  GemmSelection sel =
      select_gemm_kernel(plan, [&](const GemmKernelSpec& spec, std::string* why_not) {
        std::string lib;
        SgemmFn fn = load_gemm_library(spec, plan.drop_openblas_env, why_not, &lib);
        if (fn) library = lib;
        return fn;
      });
  GemmKernelInfo info;
  info.spec = sel.spec;
  info.library = library;
  info.reason = sel.spec == plan.candidates.front()
                    ? plan.reason
                    : "fallback after " + plan.candidates.front().name() + " (see the warnings)";
  info.warnings = sel.warnings;
  for (const auto& w : info.warnings) std::fprintf(stderr, "v3d: warning: %s\n", w.c_str());
  s.fn = std::move(sel.fn);
  s.info = std::move(info);
  s.ready.store(true, std::memory_order_release);
}

}  // namespace

void set_gemm_setting(const GemmSetting& setting) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.info) {
    // Allowed when it asks for what already runs (several commands in one process, as the
    // tests do).
    const GemmPlan plan =
        plan_gemm_kernel(cpu_features(), setting, std::getenv("OPENBLAS_CORETYPE"));
    V3D_REQUIRE(setting.value.empty() || plan.candidates.front() == s.info->spec,
                setting.source << " " << setting.value << ": the GEMM kernel is chosen once per "
                               << "process, and " << s.info->spec.name() << " is already in use");
    return;
  }
  if (!setting.value.empty()) parse_gemm_kernel(setting.value, setting.source);  // fail early
  s.setting = setting;
}

const GemmKernelInfo& gemm_kernel() {
  State& s = state();
  if (!s.ready.load(std::memory_order_acquire)) {
    std::lock_guard<std::mutex> lock(s.mu);
    choose_locked(s);
  }
  return *s.info;
}

namespace {
struct Bf16State {
  std::once_flag once;
  GemmBf16Fn fn;
  std::string why_not;
};
Bf16State& bf16_state() {
  static Bf16State s;
  return s;
}
}  // namespace

bool bf16_gemm_available(std::string* why_not) {
  Bf16State& s = bf16_state();
  std::call_once(s.once, [&s] {
    const CpuFeatures& cpu = cpu_features();
    if (!cpu.usable_avx512_bf16() && !cpu.usable_amx_bf16()) {
      s.why_not = "this CPU has neither AVX512_BF16 nor AMX-BF16";
      return;
    }
    std::string library;
    GemmBf16Fn fn = load_bf16_gemm(&s.why_not, &library);
    if (!fn) return;
    const std::string wrong = gemm_bf16_self_test(fn);
    if (!wrong.empty()) {
      s.why_not = library + " failed the bf16 self-test (" + wrong + ")";
      return;
    }
    s.fn = std::move(fn);
  });
  if (!s.fn && why_not != nullptr) *why_not = s.why_not;
  return static_cast<bool>(s.fn);
}

void gemm_bf16(const GemmBf16Args& g) {
  std::string why;
  V3D_CHECK(bf16_gemm_available(&why), "bf16 GEMM: " << why);
  if (g.m == 0 || g.n == 0) return;
  bf16_state().fn(g);
}

namespace cpu {
const SgemmFn& sgemm_kernel() {
  State& s = state();
  if (!s.ready.load(std::memory_order_acquire)) gemm_kernel();
  return s.fn;
}
}  // namespace cpu

}  // namespace v3d::kernels
