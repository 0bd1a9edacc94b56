// CPU backend of kernels/elementwise.h. Plain loops the compiler vectorises; large buffers are
// split across threads with OpenMP.
#include "kernels/elementwise.h"

namespace v3d::kernels::cpu {
namespace {
// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelMin = 1 << 16;
}  // namespace

void add(const float* a, const float* b, float* y, int64_t n) {
#pragma omp parallel for simd if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

void mul(const float* a, const float* b, float* y, int64_t n) {
#pragma omp parallel for simd if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] * b[i];
}

void scale(const float* x, float alpha, float* y, int64_t n) {
#pragma omp parallel for simd if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = alpha * x[i];
}

void fill(float* y, float value, int64_t n) {
#pragma omp parallel for simd if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = value;
}

void relu_fwd(const float* x, float* y, int64_t n) {
#pragma omp parallel for simd if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void relu_bwd(const float* x, const float* d_y, float* d_x, int64_t n) {
  // d_y is loaded unconditionally: with the load inside the select the compiler keeps a branch
  // per element (it may not read d_y[i] where x[i] <= 0), which mispredicts on half of them.
#pragma omp parallel for simd if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const float d = d_y[i];
    d_x[i] = x[i] > 0.0f ? d : 0.0f;
  }
}

void broadcast(const float* s, float alpha, float* y, int64_t n) { fill(y, alpha * s[0], n); }

}  // namespace v3d::kernels::cpu
