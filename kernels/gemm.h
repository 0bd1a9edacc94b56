// General matrix product on row-major float32 matrices:
//
//   C (m, n) = alpha * op(A) (m, k) * op(B) (k, n) + beta * C
//
// op(X) = X or X^T; lda, ldb, ldc are row strides in elements (for op(A) = A^T, A is stored
// (k, m) with lda >= m). beta = 0 overwrites C without reading it (NaN in C is not propagated).
// CPU: the sgemm chosen for the processor (kernels/gemm_kernel.h). CUDA: cuBLAS sgemm on the
// given stream (no TF32: full fp32 products).
// Under emulation the CUDA entry runs the CPU implementation, as library calls are not emulated.
// Tolerance: summation order differs between libraries; relative error grows like sqrt(k) * 2^-24,
// so comparisons use |err| <= 1e-5 * sqrt(k) * (|A||B| row/column norm scale).
#pragma once

#include <cstddef>

#include "kernels/common.h"

namespace v3d::kernels {

// The BLAS descriptor: sizes, scalars, and the operands with their row strides (a GEMM inside
// another kernel is described the same way, so the operands travel with it).
struct GemmArgs {
  bool trans_a = false;
  bool trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  float alpha = 1.0f;
  const float* a = nullptr;
  int64_t lda = 0;
  const float* b = nullptr;
  int64_t ldb = 0;
  float beta = 0.0f;
  float* c = nullptr;
  int64_t ldc = 0;
  // Throws v3d::Error naming `op` when sizes or leading dimensions are inconsistent.
  void validate(const char* op) const;
  double flops() const { return 2.0 * static_cast<double>(m) * static_cast<double>(n * k); }
  double bytes() const { return 4.0 * static_cast<double>(m * k + k * n + 2 * m * n); }
  // Bytes from the start of each stored operand to its last element (0 for an empty one): the
  // memory a library call reads or writes.
  size_t a_extent() const { return trans_a ? extent(k, m, lda) : extent(m, k, lda); }
  size_t b_extent() const { return trans_b ? extent(n, k, ldb) : extent(k, n, ldb); }
  size_t c_extent() const { return extent(m, n, ldc); }

 private:
  static size_t extent(int64_t rows, int64_t cols, int64_t ld) {
    return rows == 0 || cols == 0 ? size_t{0}
                                  : static_cast<size_t>((rows - 1) * ld + cols) * sizeof(float);
  }
};

namespace cpu {
void gemm(const GemmArgs& g);
}  // namespace cpu

namespace launch {
template <GpuKind G>
void gemm(const GemmArgs& g, StreamHandle s);
}  // namespace launch

}  // namespace v3d::kernels
