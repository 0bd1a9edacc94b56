// Cases for sum and mean. Integer-valued inputs make every partial sum exact in float32, so any
// dropped or doubled element is caught exactly; normal inputs check accuracy with cancellation.
#include <cmath>

#include "kernels/reduce.h"
#include "runtime/ops.h"
#include "tests/harness/harness.h"

namespace v3d::harness {

V3D_HARNESS_CASES(cases) {
  const int64_t lengths[] = {1, 7, 255, 1024, 1025, 262145, (1 << 20) + 3};
  for (const int64_t n : lengths) {
    for (const bool integers : {true, false}) {
      for (const bool is_mean : {false, true}) {
        OpCase c;
        c.op = is_mean ? "mean" : "sum";
        c.params =
            "n=" + std::to_string(n) + (integers ? " values=integers 0..7" : " values=normal");
        c.make_inputs = [n, integers](Rng& r) {
          std::vector<float> x;
          if (integers) {
            std::uniform_int_distribution<int> d(0, 7);
            x.resize(static_cast<size_t>(n));
            for (auto& v : x) v = static_cast<float>(d(r));
          } else {
            x = random_normal(r, n);
          }
          return std::vector<Input>{{{n}, x}};
        };
        c.outputs = {{}};
        const double alpha = is_mean ? 1.0 / static_cast<double>(n) : 1.0;
        c.run = [is_mean](const auto& in, const auto& out) {
          const float a = is_mean ? 1.0f / static_cast<float>(in[0].numel()) : 1.0f;
          ops::sum_out(in[0], out[0], a);
        };
        c.reference = [alpha](const auto& in) {
          return std::vector<ref::Vec>{ref::Vec{alpha * ref::sum(in[0])}};
        };
        if (integers && !is_mean) {
          c.tol = {0.0, 0.0, "integer partial sums below 2^24 are exact in float32"};
        } else if (integers) {
          c.tol = {2e-7, 0.0, "an exact sum times the float32 1/n: two roundings"};
        } else {
          c.tol = {1e-5, 1e-5 * std::sqrt(static_cast<double>(n)) * alpha,
                   "float32 tree sum of n normal values: error grows like sqrt(n) ulps"};
        }
        if (!integers) {
          c.forward_var = [is_mean](const std::vector<Var>& v) {
            return is_mean ? ag::mean(v[0]) : ag::sum(v[0]);
          };
          c.grad_inputs = {true};
        }
        c.bytes = kernels::SumArgs{n}.bytes();
        c.flops = kernels::SumArgs{n}.flops();
        cases.push_back(c);
      }
    }
  }
}

}  // namespace v3d::harness
