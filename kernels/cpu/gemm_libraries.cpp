// The sgemm libraries of kernels/gemm_kernel.h, loaded at run time (dlopen), and the portable
// builtin kernel.
#include <dlfcn.h>
#include <omp.h>
#include <strings.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "kernels/common.h"
#include "kernels/gemm_kernel.h"

#ifndef V3D_OPENBLAS_SONAME
#define V3D_OPENBLAS_SONAME "libopenblas.so.0"
#endif

namespace v3d::kernels {

namespace {

// CBLAS's enumerators (cblas.h): the values are fixed by the CBLAS standard.
constexpr int kCblasRowMajor = 101, kCblasNoTrans = 111, kCblasTrans = 112;
using CblasSgemm = void (*)(int, int, int, int, int, int, float, const float*, int, const float*,
                            int, float, float*, int);
using DnnlSgemm = int (*)(char, char, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t);

// oneDNN's sonames, newest first (its sgemm and its bf16 GEMM come from the same library).
const std::vector<std::string> kOneDnnNames = {"libdnnl.so.3", "libdnnl.so.2"};

void* open_first(const std::vector<std::string>& names, std::string* why_not) {
  std::string errors;
  for (const auto& n : names) {
    if (void* h = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL)) return h;
    const char* e = dlerror();
    errors += (errors.empty() ? "" : "; ") + std::string(e != nullptr ? e : n);
  }
  *why_not = errors;
  return nullptr;
}

template <class Fn>
Fn symbol(void* handle, const char* name, std::string* why_not) {
  void* p = dlsym(handle, name);
  if (p == nullptr) *why_not = std::string("no symbol ") + name;
  return reinterpret_cast<Fn>(p);
}

SgemmFn cblas_wrapper(CblasSgemm f) {
  return [f](const GemmArgs& g) {
    f(kCblasRowMajor, g.trans_a ? kCblasTrans : kCblasNoTrans,
      g.trans_b ? kCblasTrans : kCblasNoTrans, static_cast<int>(g.m), static_cast<int>(g.n),
      static_cast<int>(g.k), g.alpha, g.a, static_cast<int>(g.lda), g.b, static_cast<int>(g.ldb),
      g.beta, g.c, static_cast<int>(g.ldc));
  };
}

// Sets or removes an environment variable for the lifetime of the object.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    if (value != nullptr)
      setenv(name, value, 1);
    else
      unsetenv(name);
  }
  ~ScopedEnv() {
    if (had_)
      setenv(name_, old_.c_str(), 1);
    else
      unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  bool had_ = false;
  std::string old_;
};

SgemmFn load_openblas(const std::string& core, bool drop_env, std::string* why_not,
                      std::string* library) {
  void* h = nullptr;
  {
    // OpenBLAS reads its core type in the library's constructor, i.e. during dlopen.
    ScopedEnv coretype("OPENBLAS_CORETYPE", core.c_str());
    ScopedEnv l2("OPENBLAS_L2_SIZE", drop_env ? nullptr : std::getenv("OPENBLAS_L2_SIZE"));
    h = open_first({V3D_OPENBLAS_SONAME, "libopenblas.so.0"}, why_not);
  }
  if (h == nullptr) return {};
  auto sgemm = symbol<CblasSgemm>(h, "cblas_sgemm", why_not);
  auto corename = symbol<char* (*)()>(h, "openblas_get_corename", why_not);
  auto config = symbol<char* (*)()>(h, "openblas_get_config", why_not);
  auto threads = symbol<int (*)()>(h, "openblas_get_num_threads", why_not);
  if (!sgemm || !corename || !config || !threads) return {};
  const std::string got = corename();
  // A library loaded earlier in the process (by another component) keeps its own choice.
  if (strcasecmp(got.c_str(), core.c_str()) != 0) {
    *why_not = "OpenBLAS was already loaded in this process with core " + got;
    return {};
  }
  std::string version = config();
  version = version.substr(0, version.find(' ', version.find(' ') + 1));  // "OpenBLAS 0.3.21"
  *library = version + ", core " + got + ", " + std::to_string(threads()) + " threads";
  return cblas_wrapper(sgemm);
}

SgemmFn load_onednn(std::string* why_not, std::string* library) {
  void* h = open_first(kOneDnnNames, why_not);
  if (h == nullptr) return {};
  auto sgemm = symbol<DnnlSgemm>(h, "dnnl_sgemm", why_not);
  struct Version {
    int major, minor, patch;
    const char* hash;
  };
  auto version = symbol<const Version* (*)()>(h, "dnnl_version", why_not);
  if (!sgemm || !version) return {};
  const Version* v = version();
  *library = "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
             std::to_string(v->patch) + ", " + std::to_string(omp_get_max_threads()) + " threads";
  return [sgemm](const GemmArgs& g) {
    // dnnl_sgemm is row-major, like our contract.
    const int status = sgemm(g.trans_a ? 'T' : 'N', g.trans_b ? 'T' : 'N', g.m, g.n, g.k, g.alpha,
                             g.a, g.lda, g.b, g.ldb, g.beta, g.c, g.ldc);
    V3D_CHECK(status == 0, "dnnl_sgemm failed with status " << status);
  };
}

using DnnlGemmBf16 = int (*)(char, char, int64_t, int64_t, int64_t, float, const uint16_t*, int64_t,
                             const uint16_t*, int64_t, float, float*, int64_t);

SgemmFn load_blis(std::string* why_not, std::string* library) {
  void* h =
      open_first({"/usr/lib/x86_64-linux-gnu/blis-openmp/libblis.so.4", "libblis.so.4"}, why_not);
  if (h == nullptr) return {};
  auto sgemm = symbol<CblasSgemm>(h, "cblas_sgemm", why_not);
  auto version = symbol<const char* (*)()>(h, "bli_info_get_version_str", why_not);
  auto arch_id = symbol<int (*)()>(h, "bli_arch_query_id", why_not);
  auto arch_name = symbol<const char* (*)(int)>(h, "bli_arch_string", why_not);
  auto set_threads = symbol<void (*)(long)>(h, "bli_thread_set_num_threads", why_not);
  if (!sgemm || !version || !arch_id || !arch_name || !set_threads) return {};
  // BLIS runs one thread unless told otherwise; use OpenMP's count, as the other libraries do.
  set_threads(omp_get_max_threads());
  *library = std::string("BLIS ") + version() + ", config " + arch_name(arch_id()) + ", " +
             std::to_string(omp_get_max_threads()) + " threads";
  return cblas_wrapper(sgemm);
}

}  // namespace

SgemmFn load_gemm_library(const GemmKernelSpec& spec, bool drop_openblas_env, std::string* why_not,
                          std::string* library) {
  switch (spec.library) {
    case GemmLibrary::OpenBlas:
      return load_openblas(spec.core, drop_openblas_env, why_not, library);
    case GemmLibrary::OneDnn:
      return load_onednn(why_not, library);
    case GemmLibrary::Blis:
      return load_blis(why_not, library);
    case GemmLibrary::Builtin:
      *library = "v3d builtin, " + std::to_string(omp_get_max_threads()) + " threads";
      return builtin_sgemm;
  }
  return {};
}

GemmBf16Fn load_bf16_gemm(std::string* why_not, std::string* library) {
  void* h = open_first(kOneDnnNames, why_not);
  if (h == nullptr) return {};
  // Exported by oneDNN 2.x and public from 3.x: row-major, bf16 A and B, float C.
  auto gemm = symbol<DnnlGemmBf16>(h, "dnnl_gemm_bf16bf16f32", why_not);
  if (!gemm) return {};
  *library = "oneDNN bf16 GEMM";
  return [gemm](const GemmBf16Args& g) {
    const int status = gemm(g.trans_a ? 'T' : 'N', g.trans_b ? 'T' : 'N', g.m, g.n, g.k, g.alpha,
                            g.a, g.lda, g.b, g.ldb, g.beta, g.c, g.ldc);
    V3D_CHECK(status == 0, "dnnl_gemm_bf16bf16f32 failed with status " << status);
  };
}

// ---- builtin ------------------------------------------------------------------------------

void builtin_sgemm(const GemmArgs& g) {
  const int64_t m = g.m, n = g.n, k = g.k;
  // op(B) as a contiguous (k, n) row-major copy when it is transposed, so the inner loop over n
  // is unit-stride.
  std::vector<float> bt;
  const float* b = g.b;
  int64_t ldb = g.ldb;
  if (g.trans_b) {
    bt.resize(static_cast<size_t>(k * n));
    for (int64_t j = 0; j < n; ++j)
      for (int64_t p = 0; p < k; ++p) bt[p * n + j] = g.b[j * g.ldb + p];
    b = bt.data();
    ldb = n;
  }
  constexpr int64_t kRows = 16, kDepth = 256;
#pragma omp parallel for schedule(static)
  for (int64_t i0 = 0; i0 < m; i0 += kRows) {
    const int64_t i1 = std::min(m, i0 + kRows);
    for (int64_t i = i0; i < i1; ++i) {
      float* c = g.c + i * g.ldc;
      if (g.beta == 0.0f)
        std::fill(c, c + n, 0.0f);
      else
        for (int64_t j = 0; j < n; ++j) c[j] *= g.beta;
    }
    // Blocks of kDepth rows of op(B) stay in cache across the kRows rows of C.
    for (int64_t p0 = 0; p0 < k; p0 += kDepth) {
      const int64_t p1 = std::min(k, p0 + kDepth);
      for (int64_t i = i0; i < i1; ++i) {
        float* c = g.c + i * g.ldc;
        for (int64_t p = p0; p < p1; ++p) {
          const float a = g.alpha * (g.trans_a ? g.a[p * g.lda + i] : g.a[i * g.lda + p]);
          const float* brow = b + p * ldb;
#pragma omp simd
          for (int64_t j = 0; j < n; ++j) c[j] += a * brow[j];
        }
      }
    }
  }
}

}  // namespace v3d::kernels
