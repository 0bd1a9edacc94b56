// Full reductions of a contiguous float32 buffer to one value:
//
//   sum: y[0] = alpha * sum_{i < n} x[i]        (mean is sum with alpha = 1 / n)
//
// y is overwritten. n = 0 gives 0. Results are deterministic: neither backend uses float atomics,
// and the summation order depends only on n.
// CPU: chunks of kSumChunk elements are summed in double, then the chunk sums in order.
// CUDA: each block reduces a grid-stride share into `workspace[block]` (float, tree order), then
// one block reduces the partials; `workspace` must hold args.workspace_floats() floats.
// Tolerance: the CUDA tree sums in float, relative error about 1e-6 * log2(n) against a double
// reference (plus cancellation: compare against sum |x|).
#pragma once

#include "kernels/common.h"

namespace v3d::kernels {

constexpr int64_t kSumChunk = 4096;

// y = alpha * the sum of n elements.
struct SumArgs {
  int64_t n = 0;
  float alpha = 1.0f;
  void validate(const char* op) const { V3D_CHECK(n >= 0, op << ": negative element count " << n); }
  // Floats of device workspace the CUDA sum needs (one partial sum per block).
  int64_t workspace_floats() const;
  double flops() const { return static_cast<double>(n); }
  double bytes() const { return 4.0 * static_cast<double>(n); }
};

namespace cpu {
void sum(const SumArgs& args, const float* x, float* y);
}  // namespace cpu

namespace launch {
template <GpuKind G>
void sum(const SumArgs& args, const float* x, float* y, float* workspace, StreamHandle s);
}  // namespace launch

}  // namespace v3d::kernels
