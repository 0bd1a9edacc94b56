// CPU backend of kernels/reduce.h.
#include "kernels/reduce.h"

#include <algorithm>
#include <vector>

namespace v3d::kernels {

int64_t SumArgs::workspace_floats() const {
  // Must match the launch geometry in kernels/cuda/reduce.cu: at most 1024 partial sums.
  constexpr int64_t kItemsPerBlock = 256 * 4;
  return std::clamp<int64_t>((n + kItemsPerBlock - 1) / kItemsPerBlock, 1, 1024);
}

namespace cpu {

void sum(const SumArgs& args, const float* x, float* y) {
  args.validate("sum");
  const int64_t n = args.n;
  const float alpha = args.alpha;
  const int64_t chunks = (n + kSumChunk - 1) / kSumChunk;
  std::vector<double> partial(static_cast<size_t>(chunks));
#pragma omp parallel for if (n >= (1 << 18))
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t end = std::min(n, (c + 1) * kSumChunk);
    double acc = 0.0;
    for (int64_t i = c * kSumChunk; i < end; ++i) acc += x[i];
    partial[static_cast<size_t>(c)] = acc;
  }
  double total = 0.0;
  for (double v : partial) total += v;
  y[0] = static_cast<float>(static_cast<double>(alpha) * total);
}

}  // namespace cpu
}  // namespace v3d::kernels
