// Which library computes the CPU sgemm of kernels/gemm.h, and why.
//
// The choice is made once per process, at the first GEMM, from the CPU's feature bits
// (kernels/cpu_features.h) and the user's setting, if any:
//   1. `--blas` / the config key `blas` (set_gemm_setting), else
//   2. OPENBLAS_CORETYPE in the environment, else
//   3. auto: OpenBLAS with the best core type the CPU's features allow.
// OpenBLAS reads OPENBLAS_CORETYPE once, when the library loads, and otherwise picks its kernel
// from a table of processor models; on a model newer than the library it silently falls back to a
// generic kernel several times slower. v3d therefore does not link OpenBLAS: it loads it at the
// first GEMM (dlopen) with the core type chosen here. oneDNN and BLIS are loaded the same way,
// when asked for and installed; `builtin` is a portable blocked kernel of our own, always present.
//
// Before a kernel computes anything, a self-test compares it with a double-precision product on
// a few shapes (both transposes, alpha, beta, padded strides); a kernel that fails is not used,
// and the next candidate is tried, with a warning. The last candidate is always `builtin`.
// docs/cpu-gemm.md has the measured table behind the order.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/gemm.h"

namespace v3d::kernels {

enum class GemmLibrary { OpenBlas, OneDnn, Blis, Builtin };

struct GemmKernelSpec {
  GemmLibrary library = GemmLibrary::Builtin;
  std::string core;  // OpenBLAS's core type ("Cooperlake", "SkylakeX", "Haswell", ...), else ""
  // "openblas:Cooperlake", "onednn", "blis", "builtin".
  std::string name() const;
  bool operator==(const GemmKernelSpec&) const = default;
};

// The OpenBLAS core types we choose among, slowest first, and whether a CPU can run each.
const std::vector<std::string>& openblas_core_types();
bool openblas_core_runs_on(const std::string& core, const CpuFeatures& cpu);
// The fastest core type the CPU's features allow, and the features that decide it ("AVX-512 with
// BF16", ...).
std::string best_openblas_core(const CpuFeatures& cpu);
std::string openblas_core_reason(const std::string& core);

// Parses a kernel name as `--blas` and the config key take it: "auto" (nullopt), "openblas"
// (core empty: the best for the CPU), "openblas:<core>", "onednn", "blis", "builtin". Throws
// v3d::Error naming `what` and the accepted values.
std::optional<GemmKernelSpec> parse_gemm_kernel(const std::string& text, const std::string& what);
// The accepted values, for --help and the config reference.
std::string gemm_kernel_choices();

// The user's setting: value as parse_gemm_kernel takes it; source names where it came from
// ("--blas", "config key 'blas'"); an empty value means no setting.
struct GemmSetting {
  std::string value;
  std::string source;
};

// What to try, in order, and why. Pure: decided from the arguments alone.
struct GemmPlan {
  std::vector<GemmKernelSpec> candidates;  // the first that loads and passes the self-test is used
  std::string reason;                      // why the first candidate
  std::vector<std::string> warnings;       // one line each, printed once when the choice is made
  // Load OpenBLAS with OPENBLAS_L2_SIZE removed from the environment (it belongs to a core type
  // pin that the plan overrides).
  bool drop_openblas_env = false;
};
// `openblas_coretype_env` is the value of OPENBLAS_CORETYPE (nullptr when unset). Throws v3d::Error
// when the setting names a kernel this CPU cannot run.
GemmPlan plan_gemm_kernel(const CpuFeatures& cpu, const GemmSetting& setting,
                          const char* openblas_coretype_env);

// A CPU sgemm with kernels/gemm.h's contract (validated arguments, m, n, k > 0).
using SgemmFn = std::function<void(const GemmArgs&)>;

// Checks `fn` against a double-precision product on a few shapes (both transposes, alpha, beta,
// padded strides). Returns "" when every element is within the error bound of a float32 sum of k
// products, else what was wrong.
std::string gemm_self_test(const SgemmFn& fn);

// Loads a candidate: its sgemm, or an empty function with *why_not set when it is not available.
using GemmLoader = std::function<SgemmFn(const GemmKernelSpec&, std::string* why_not)>;

struct GemmSelection {
  GemmKernelSpec spec;
  SgemmFn fn;
  std::vector<std::string> warnings;  // the plan's, and one per candidate passed over
};
// The first candidate of `plan` that loads and passes gemm_self_test.
GemmSelection select_gemm_kernel(const GemmPlan& plan, const GemmLoader& load);

// The portable kernel: blocked and OpenMP-parallel, vectorised by the compiler for the baseline
// ISA. Several times slower than the libraries, always correct; the last fallback.
void builtin_sgemm(const GemmArgs& g);

// ---- the process's kernel -------------------------------------------------------------------

// Sets the user's choice; must come before the first GEMM (the kernel is chosen once). Throws
// v3d::Error for an unknown value, or when a different kernel is already in use.
void set_gemm_setting(const GemmSetting& setting);

struct GemmKernelInfo {
  GemmKernelSpec spec;
  std::string library;  // "OpenBLAS 0.3.21 (core Cooperlake, 2 threads)", "oneDNN 2.6.3", ...
  std::string reason;
  std::vector<std::string> warnings;
  // One line: "GEMM: openblas:Cooperlake (OpenBLAS ..., 2 threads) -- AVX-512 with BF16".
  std::string summary() const;
};
// The kernel in use, chosen (and its warnings printed to stderr) on the first call.
const GemmKernelInfo& gemm_kernel();

namespace cpu {
// The chosen kernel's sgemm (chooses it on first use); cpu::gemm calls it.
const SgemmFn& sgemm_kernel();
}  // namespace cpu

// ---- bfloat16 products ----------------------------------------------------------------------
// C (m, n) = alpha * op(A) op(B) + beta * C with A and B in bfloat16 (the upper half of a float32,
// rounded to nearest even) and C, the products and the sums in float32: the GEMM of the optional
// bf16 inference path (kernels/temporal_conv.h, ConvPrecision). It runs on oneDNN's bf16 GEMM and
// needs a CPU with AVX512_BF16 or AMX-BF16; it passes the same self-test as the sgemm (on inputs
// already rounded to bf16, whose products float32 holds exactly) before its first use.
struct GemmBf16Args {
  bool trans_a = false;
  bool trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  float alpha = 1.0f;
  const uint16_t* a = nullptr;
  int64_t lda = 0;
  const uint16_t* b = nullptr;
  int64_t ldb = 0;
  float beta = 0.0f;
  float* c = nullptr;
  int64_t ldc = 0;
};
using GemmBf16Fn = std::function<void(const GemmBf16Args&)>;
// g's product (sizes, transposes, alpha, beta, C) on bf16 copies of its operands.
GemmBf16Args bf16_operands(const GemmArgs& g, const uint16_t* a, int64_t lda, const uint16_t* b,
                           int64_t ldb);

// Whether this process can run bf16 GEMMs (loads and self-tests on the first call); otherwise
// *why_not (when given) says why.
bool bf16_gemm_available(std::string* why_not = nullptr);
// The product; bf16_gemm_available() must be true.
void gemm_bf16(const GemmBf16Args& g);

// Round-to-nearest-even conversion of n floats (NaN stays NaN), and back.
void float_to_bf16(const float* x, uint16_t* y, int64_t n);
void bf16_to_float(const uint16_t* x, float* y, int64_t n);

// Checks a bf16 GEMM as gemm_self_test checks an sgemm; "" when correct.
std::string gemm_bf16_self_test(const GemmBf16Fn& fn);

}  // namespace v3d::kernels
