// CPU backend of kernels/elementwise.h. Plain loops the compiler vectorises; large buffers are
// split across threads with OpenMP.
#include "kernels/elementwise.h"

#include "kernels/float_round.h"

namespace v3d::kernels::cpu {
namespace {
// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelMin = 1 << 16;
}  // namespace

void to_bf16(const ConvertArgs& args, const float* x, uint16_t* y) {
  const int64_t n = args.n;
#pragma omp parallel for simd if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_bits(x[i]);
}

void from_bf16(const ConvertArgs& args, const uint16_t* x, float* y) {
  const int64_t n = args.n;
#pragma omp parallel for simd if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_float(x[i]);
}

void add(const BinaryArgs& args, const float* a, const float* b, float* y) {
  const int64_t n = args.n;
#pragma omp parallel for simd if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

void mul(const BinaryArgs& args, const float* a, const float* b, float* y) {
  const int64_t n = args.n;
#pragma omp parallel for simd if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] * b[i];
}

void scale(const UnaryArgs& args, const float* x, float* y) {
  const int64_t n = args.n;
  const float alpha = args.alpha;
#pragma omp parallel for simd if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = alpha * x[i];
}

void fill(const FillArgs& args, float* y) {
  const int64_t n = args.n;
  const float value = args.value;
#pragma omp parallel for simd if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = value;
}

void relu_fwd(const UnaryArgs& args, const float* x, float* y) {
  const int64_t n = args.n;
#pragma omp parallel for simd if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void relu_bwd(const BinaryArgs& args, const float* x, const float* d_y, float* d_x) {
  const int64_t n = args.n;
  // d_y is loaded unconditionally: with the load inside the select the compiler keeps a branch
  // per element (it may not read d_y[i] where x[i] <= 0), which mispredicts on half of them.
#pragma omp parallel for simd if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const float d = d_y[i];
    d_x[i] = x[i] > 0.0f ? d : 0.0f;
  }
}

void broadcast(const FillArgs& args, const float* s, float* y) {
  FillArgs f;
  f.n = args.n;
  f.value = args.alpha * s[0];
  fill(f, y);
}

}  // namespace v3d::kernels::cpu
