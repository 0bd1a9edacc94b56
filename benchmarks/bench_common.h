// Shared pieces of the benchmarks: timing, the GEMM kernel option, JSON output.
#pragma once

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
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

// Writes `j` pretty-printed to `path` atomically (data/atomic_file.h) and says so; throws
// v3d::Error when it cannot.
void write_json(const std::string& path, const nlohmann::json& j);

// --blas KERNEL (a kernel name as `v3d --blas` takes it; by default the library decides: the
// environment's OPENBLAS_CORETYPE when set, else from the CPU's features) and --native-blas (the
// same as --blas auto: an OPENBLAS_CORETYPE pin in the environment is ignored).
struct BlasOptions {
  std::string kernel;
  bool native = false;
};
void add_blas_options(CLI::App& app, BlasOptions& o);
// Applies the options before the first GEMM, chooses the kernel and prints its line (the
// benchmark's first). Throws v3d::Error for a bad value.
void apply_blas_options(const BlasOptions& o);

// The GEMM kernel in use ("openblas:Cooperlake", ...), its one-line summary, the processor, and
// the OpenMP thread count.
std::string blas_core_name();
std::string gemm_kernel_summary();
std::string cpu_description();
int blas_threads();

// n values drawn from N(0, stddev^2).
// "3,3,3" -> {3, 3, 3}: the integer lists of the benchmarks' options (--arch, --lengths).
std::vector<int64_t> parse_int_list(const std::string& s);

std::vector<float> random_vector(std::mt19937_64& rng, int64_t n, float stddev = 1.0f);

// The machine's sgemm peak in GFLOP/s: the median time of a 2048^3 product through the library's
// own GEMM (kernels/gemm.h, the chosen kernel), repeated for at least `seconds`.
double sgemm_peak_gflops(double seconds);

}  // namespace v3d::bench
