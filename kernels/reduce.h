// Full reductions of a contiguous float32 buffer to one value:
//
//   sum: y[0] = alpha * sum_{i < n} x[i]        (mean is sum with alpha = 1 / n)
//
// y is overwritten. n = 0 gives 0. Results are deterministic: neither backend uses float atomics,
// and the summation order depends only on n.
// CPU: chunks of kSumChunk elements are summed in double, then the chunk sums in order.
// CUDA: each block reduces a grid-stride share into `workspace[block]` (float, tree order), then
// one block reduces the partials; `workspace` must hold sum_workspace_floats(n) floats.
// Tolerance: the CUDA tree sums in float, relative error about 1e-6 * log2(n) against a double
// reference (plus cancellation: compare against sum |x|).
#pragma once

#include "kernels/common.h"

namespace v3d::kernels {

constexpr int64_t kSumChunk = 4096;

// Floats of device workspace the CUDA sum needs for n elements.
int64_t sum_workspace_floats(int64_t n);

namespace cpu {
void sum(const float* x, int64_t n, float alpha, float* y);
}  // namespace cpu

namespace launch {
template <GpuKind G>
void sum(const float* x, int64_t n, float alpha, float* y, float* workspace, StreamHandle s);
}  // namespace launch

}  // namespace v3d::kernels
