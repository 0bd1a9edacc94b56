// The op harness (after ggml's test-backend-ops): every op registers cases that name all of their
// parameters; the harness runs them in three modes.
//   compare: each backend (cpu, emu = CUDA kernels on the host emulator, cuda when a device is
//            present) against the double-precision reference in tests/reference, with guard
//            regions around every output, a NaN/Inf check before any norm, and the first
//            mismatching elements reported with their indices;
//   grad:    the autograd backward against central finite differences of the reference forward;
//   perf:    time per run with the napkin math (GB/s, GFLOP/s); emulated timings are meaningless,
//            so emu reports SKIPPED.
// Inputs come from a fixed seed that is printed on failure and can be overridden (--seed).
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "runtime/autograd.h"
#include "runtime/tensor.h"
#include "tests/reference/reference.h"

namespace v3d::harness {

struct Input {
  Shape shape;
  std::vector<float> data;
};

// |got - want| <= atol + rtol * |want|, with the reason for the numbers.
struct Tolerance {
  double rtol = 0.0;
  double atol = 0.0;
  const char* why = "exact";
};

using Rng = std::mt19937_64;

struct OpCase {
  std::string op;      // a name from runtime/op_list.h
  std::string params;  // every parameter, "n=257 p=0.25"
  std::function<std::vector<Input>(Rng&)> make_inputs;
  std::vector<Shape> outputs;
  // Runs the op on device tensors; `out` are views inside guarded buffers.
  std::function<void(const std::vector<Tensor>& in, const std::vector<Tensor>& out)> run;
  // The reference values of each output.
  std::function<std::vector<ref::Vec>(const std::vector<ref::Vec>& in)> reference;
  Tolerance tol;
  // Outputs must also equal the CPU backend's bit for bit (integer-derived results).
  bool bitwise_across_backends = false;
  // Grad mode: the differentiable form whose output is reference output 0 (empty: no grad mode).
  std::function<Var(const std::vector<Var>& in)> forward_var;
  std::vector<bool> grad_inputs;  // which inputs are checked against finite differences
  Tolerance grad_tol{1e-3, 1e-4, "float32 backward against double central differences"};
  // Perf napkin math for one run.
  double flops = 0.0;
  double bytes = 0.0;
};

std::vector<OpCase>& registry();

struct Registrar {
  explicit Registrar(void (*add_cases)(std::vector<OpCase>&)) { add_cases(registry()); }
};

// Helpers for case files.
std::vector<float> random_normal(Rng& rng, int64_t n, float stddev = 1.0f);
std::vector<float> random_uniform(Rng& rng, int64_t n, float lo, float hi);
// Normal values pushed at least `gap` away from zero (keeps finite differences off ReLU's kink).
std::vector<float> random_away_from_zero(Rng& rng, int64_t n, float gap);

}  // namespace v3d::harness

#define V3D_HARNESS_CONCAT_(a, b) a##b
#define V3D_HARNESS_CONCAT(a, b) V3D_HARNESS_CONCAT_(a, b)
// V3D_HARNESS_CASES(cases) { cases.push_back(...); }
#define V3D_HARNESS_CASES(var)                                                              \
  static void V3D_HARNESS_CONCAT(v3d_harness_cases_,                                        \
                                 __LINE__)(std::vector<::v3d::harness::OpCase>&);           \
  static ::v3d::harness::Registrar V3D_HARNESS_CONCAT(                                      \
      v3d_harness_registrar_, __LINE__)(&V3D_HARNESS_CONCAT(v3d_harness_cases_, __LINE__)); \
  static void V3D_HARNESS_CONCAT(v3d_harness_cases_,                                        \
                                 __LINE__)(std::vector<::v3d::harness::OpCase> & var)
