// CPU backend of kernels/dropout.h.
#include "kernels/dropout.h"

#include "kernels/dropout_mask.h"

namespace v3d::kernels::cpu {
namespace {

// Shared body of fwd and bwd: out[i] = keep[i] ? in[i] * scale : 0.
void apply_mask(const float* in, float* out, int64_t n, float p, uint64_t seed, uint64_t offset) {
  V3D_CHECK(p >= 0.0f && p < 1.0f, "dropout: probability must be in [0, 1), got " << p);
  const float scale = dropout_scale(p);
  const int64_t groups = (n + 3) / 4;
#pragma omp parallel for if (n >= (1 << 16))
  for (int64_t g = 0; g < groups; ++g) {
    bool keep[4];
    dropout_keep4(static_cast<uint64_t>(g), p, seed, offset, keep);
    for (int j = 0; j < 4; ++j) {
      const int64_t i = 4 * g + j;
      if (i < n) out[i] = keep[j] ? in[i] * scale : 0.0f;
    }
  }
}

}  // namespace

void dropout_fwd(const float* x, float* y, int64_t n, float p, uint64_t seed, uint64_t offset) {
  apply_mask(x, y, n, p, seed, offset);
}

void dropout_bwd(const float* d_y, float* d_x, int64_t n, float p, uint64_t seed, uint64_t offset) {
  apply_mask(d_y, d_x, n, p, seed, offset);
}

}  // namespace v3d::kernels::cpu
