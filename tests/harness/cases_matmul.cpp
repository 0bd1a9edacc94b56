// Cases for matmul: every transpose combination, sizes around powers of two and degenerate ones
// (vectors, a single element), alpha/beta with an accumulated output.
#include "kernels/gemm.h"
#include "runtime/ops.h"
#include "tests/harness/harness.h"

namespace v3d::harness {

V3D_HARNESS_CASES(cases) {
  struct Size {
    int64_t m, n, k;
  };
  const Size sizes[] = {{1, 1, 1},     {3, 5, 7},    {64, 64, 64},   {127, 33, 65},
                        {256, 1, 300}, {1, 300, 17}, {200, 130, 257}};
  for (const Size s : sizes) {
    for (const bool ta : {false, true}) {
      for (const bool tb : {false, true}) {
        for (const bool accumulate : {false, true}) {
          const int64_t m = s.m, n = s.n, k = s.k;
          const float alpha = accumulate ? 0.5f : 1.0f, beta = accumulate ? 2.0f : 0.0f;
          OpCase c;
          c.op = "matmul";
          c.params = "m=" + std::to_string(m) + " n=" + std::to_string(n) +
                     " k=" + std::to_string(k) + " trans_a=" + std::to_string(ta) +
                     " trans_b=" + std::to_string(tb) + " alpha=" + std::to_string(alpha) +
                     " beta=" + std::to_string(beta);
          const Shape sa = ta ? Shape{k, m} : Shape{m, k};
          const Shape sb = tb ? Shape{n, k} : Shape{k, n};
          c.make_inputs = [=](Rng& r) {
            return std::vector<Input>{{sa, random_normal(r, m * k)},
                                      {sb, random_normal(r, k * n)},
                                      {{m, n}, random_normal(r, m * n)}};
          };
          c.outputs = {{m, n}};
          c.run = [=](const auto& in, const auto& out) {
            out[0].copy_from(in[2]);
            ops::matmul_out(in[0], in[1], out[0], ta, tb, alpha, beta);
          };
          c.reference = [=](const auto& in) {
            return std::vector<ref::Vec>{
                ref::matmul(in[0], in[1], in[2], m, n, k, ta, tb, alpha, beta)};
          };
          // Products of N(0, 1) entries summed over k in float32, in library-specific order.
          c.tol = {1e-5, 2e-6 * static_cast<double>(k),
                   "k float32 products accumulated in an order of the library's choosing"};
          if (!accumulate) {
            c.forward_var = [=](const std::vector<Var>& v) {
              return ag::matmul(v[0], v[1], ta, tb);
            };
            c.grad_inputs = {true, true, false};
            c.grad_tol = {1e-3, 1e-4 * static_cast<double>(k), "float32 products over k"};
          }
          kernels::GemmArgs gemm;
          gemm.m = m;
          gemm.n = n;
          gemm.k = k;
          c.flops = gemm.flops();
          c.bytes = gemm.bytes();
          cases.push_back(c);
        }
      }
    }
  }
}

}  // namespace v3d::harness
