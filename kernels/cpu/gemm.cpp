// CPU backend of kernels/gemm.h: the sgemm kernel chosen for this CPU (kernels/gemm_kernel.h).
#include "kernels/gemm.h"

#include <algorithm>
#include <limits>

#include "kernels/gemm_kernel.h"

namespace v3d::kernels {

void GemmArgs::validate(const char* op) const {
  V3D_CHECK(m >= 0 && n >= 0 && k >= 0,
            op << ": negative size m=" << m << " n=" << n << " k=" << k);
  const int64_t a_cols = trans_a ? m : k;
  const int64_t b_cols = trans_b ? k : n;
  V3D_CHECK(lda >= std::max<int64_t>(1, a_cols), op << ": lda " << lda << " < " << a_cols);
  V3D_CHECK(ldb >= std::max<int64_t>(1, b_cols), op << ": ldb " << ldb << " < " << b_cols);
  V3D_CHECK(ldc >= std::max<int64_t>(1, n), op << ": ldc " << ldc << " < " << n);
  constexpr int64_t kMax = std::numeric_limits<int>::max();
  V3D_CHECK(m <= kMax && n <= kMax && k <= kMax && lda <= kMax && ldb <= kMax && ldc <= kMax,
            op << ": sizes exceed the 32-bit BLAS interface");
}

namespace cpu {

void gemm(const GemmArgs& g) {
  g.validate("gemm");
  if (g.m == 0 || g.n == 0) return;
  if (g.k == 0) {
    // BLAS leaves C * beta; make beta = 0 overwrite even NaN, as documented.
    for (int64_t i = 0; i < g.m; ++i)
      for (int64_t j = 0; j < g.n; ++j)
        g.c[i * g.ldc + j] = g.beta == 0.0f ? 0.0f : g.beta * g.c[i * g.ldc + j];
    return;
  }
  sgemm_kernel()(g);
}

}  // namespace cpu
}  // namespace v3d::kernels
