// Benchmark helpers.
#include "benchmarks/bench_common.h"

#include <cblas.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "kernels/common.h"
#include "kernels/gemm.h"

namespace v3d::bench {

void maybe_reexec_with_native_blas(bool native, char** argv) {
  if (!native) return;
  if (std::getenv("OPENBLAS_CORETYPE") == nullptr && std::getenv("OPENBLAS_L2_SIZE") == nullptr)
    return;
  unsetenv("OPENBLAS_CORETYPE");
  unsetenv("OPENBLAS_L2_SIZE");
  execv("/proc/self/exe", argv);
  std::perror("re-executing without OPENBLAS_CORETYPE failed");  // only reached on failure
  std::exit(1);
}

std::string blas_core_name() { return openblas_get_corename(); }
int blas_threads() { return openblas_get_num_threads(); }

std::vector<float> random_vector(std::mt19937_64& rng, int64_t n, float stddev) {
  std::normal_distribution<float> d(0.0f, stddev);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

double sgemm_peak_gflops(double seconds) {
  const int64_t p = 2048;
  std::mt19937_64 rng(3);
  std::vector<float> a = random_vector(rng, p * p), b = random_vector(rng, p * p);
  std::vector<float> c(static_cast<size_t>(p * p));
  kernels::GemmArgs g;
  g.m = g.n = g.k = p;
  g.a = a.data();
  g.b = b.data();
  g.c = c.data();
  g.lda = g.ldb = g.ldc = p;
  const double s = time_median([&] { kernels::cpu::gemm(g); }, seconds);
  return 2.0 * double(p) * double(p) * double(p) / s / 1e9;
}

void write_json(const std::string& path, const nlohmann::json& j) {
  std::ofstream f(path);
  f << j.dump(2) << "\n";
  f.close();
  if (!f) throw Error(path + ": cannot write");
  std::printf("wrote %s\n", path.c_str());
}

}  // namespace v3d::bench
