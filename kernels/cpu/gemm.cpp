// CPU backend of kernels/gemm.h through OpenBLAS.
#include "kernels/gemm.h"

#include <cblas.h>

#include <limits>

namespace v3d::kernels {

void gemm_validate(const GemmArgs& g) {
  V3D_CHECK(g.m >= 0 && g.n >= 0 && g.k >= 0,
            "gemm: negative size m=" << g.m << " n=" << g.n << " k=" << g.k);
  const int64_t a_cols = g.trans_a ? g.m : g.k;
  const int64_t b_cols = g.trans_b ? g.k : g.n;
  V3D_CHECK(g.lda >= std::max<int64_t>(1, a_cols), "gemm: lda " << g.lda << " < " << a_cols);
  V3D_CHECK(g.ldb >= std::max<int64_t>(1, b_cols), "gemm: ldb " << g.ldb << " < " << b_cols);
  V3D_CHECK(g.ldc >= std::max<int64_t>(1, g.n), "gemm: ldc " << g.ldc << " < " << g.n);
  constexpr int64_t kMax = std::numeric_limits<int>::max();
  V3D_CHECK(
      g.m <= kMax && g.n <= kMax && g.k <= kMax && g.lda <= kMax && g.ldb <= kMax && g.ldc <= kMax,
      "gemm: sizes exceed the 32-bit BLAS interface");
}

namespace cpu {

void gemm(const GemmArgs& g) {
  gemm_validate(g);
  if (g.m == 0 || g.n == 0) return;
  if (g.k == 0) {
    // BLAS leaves C * beta; make beta = 0 overwrite even NaN, as documented.
    for (int64_t i = 0; i < g.m; ++i)
      for (int64_t j = 0; j < g.n; ++j)
        g.c[i * g.ldc + j] = g.beta == 0.0f ? 0.0f : g.beta * g.c[i * g.ldc + j];
    return;
  }
  cblas_sgemm(CblasRowMajor, g.trans_a ? CblasTrans : CblasNoTrans,
              g.trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(g.m), static_cast<int>(g.n),
              static_cast<int>(g.k), g.alpha, g.a, static_cast<int>(g.lda), g.b,
              static_cast<int>(g.ldb), g.beta, g.c, static_cast<int>(g.ldc));
}

}  // namespace cpu
}  // namespace v3d::kernels
