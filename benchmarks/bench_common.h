// Shared pieces of the benchmarks: timing, OpenBLAS kernel selection, JSON output.
#pragma once

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

namespace v3d::bench {

// Seconds per call of fn: one warm-up call, then repeats until at least min_seconds have passed
// (and at least min_reps calls); returns the median of the per-call times.
template <class Fn>
double time_median(Fn&& fn, double min_seconds = 1.0, int min_reps = 3) {
  fn();
  std::vector<double> t;
  double total = 0.0;
  while (total < min_seconds || static_cast<int>(t.size()) < min_reps) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    t.push_back(s);
    total += s;
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Seconds since t0 on the steady clock.
inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The median of `v` (the upper one of an even count); 0 for an empty vector.
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

// Writes `j` pretty-printed to `path` and says so; throws v3d::Error when it cannot.
void write_json(const std::string& path, const nlohmann::json& j);

// The environment of this machine pins OpenBLAS to its Haswell kernel (OPENBLAS_CORETYPE and
// OPENBLAS_L2_SIZE), which halves sgemm on AVX-512 CPUs. A benchmark may lift that for its own
// process only: when `native` is true and the variables are set, this unsets both and re-executes
// the program (OpenBLAS picks its kernel when the library loads). Returns normally otherwise.
void maybe_reexec_with_native_blas(bool native, char** argv);

// The OpenBLAS kernel in use ("Haswell", "Cooperlake", ...) and its thread count.
std::string blas_core_name();
int blas_threads();

// n values drawn from N(0, stddev^2).
std::vector<float> random_vector(std::mt19937_64& rng, int64_t n, float stddev = 1.0f);

// The machine's sgemm peak in GFLOP/s: the median time of a 2048^3 product through the library's
// own GEMM (kernels/gemm.h, OpenBLAS), repeated for at least `seconds`.
double sgemm_peak_gflops(double seconds);

}  // namespace v3d::bench
