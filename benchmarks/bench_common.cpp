// Benchmark helpers.
#include "benchmarks/bench_common.h"

#include <omp.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "data/atomic_file.h"
#include "kernels/common.h"
#include "kernels/gemm.h"
#include "kernels/gemm_kernel.h"

namespace v3d::bench {

void add_blas_options(CLI::App& app, BlasOptions& o) {
  app.add_option("--blas", o.kernel,
                 "GEMM kernel: " + kernels::gemm_kernel_choices() +
                     " (default: OPENBLAS_CORETYPE if set, else auto)");
  app.add_flag("--native-blas", o.native,
               "The same as --blas auto: ignore an OPENBLAS_CORETYPE pin in the environment");
}

void apply_blas_options(const BlasOptions& o) {
  if (!o.kernel.empty())
    kernels::set_gemm_setting({o.kernel, "--blas"});
  else if (o.native)
    kernels::set_gemm_setting({"auto", "--native-blas"});
  std::printf("%s\n", gemm_kernel_summary().c_str());
  std::printf("CPU: %s\n", cpu_description().c_str());
}

std::string blas_core_name() { return kernels::gemm_kernel().spec.name(); }
std::string gemm_kernel_summary() { return kernels::gemm_kernel().summary(); }
std::string cpu_description() { return kernels::cpu_features().describe(); }
int blas_threads() { return omp_get_max_threads(); }

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
  data::write_text_atomically(path, j.dump(2) + "\n");
  std::printf("wrote %s\n", path.c_str());
}

std::vector<int64_t> parse_int_list(const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(std::stoll(item));
  return out;
}

}  // namespace v3d::bench
