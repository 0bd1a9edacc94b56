// CPU backend of kernels/time_slice.h: every output frame is one contiguous row of C floats, so
// both directions are row copies (or zero rows), split across threads when large.
#include "kernels/time_slice.h"

#include <cstring>

namespace v3d::kernels {

void time_slice_validate(const char* op, int64_t batch, int64_t t_in, int64_t t_out,
                         int64_t channels, int64_t start, int64_t step) {
  V3D_CHECK(batch >= 0 && t_in >= 0 && t_out >= 0 && channels >= 0,
            op << ": negative size batch=" << batch << " t_in=" << t_in << " t_out=" << t_out
               << " channels=" << channels);
  V3D_CHECK(step >= 1, op << ": step must be at least 1, got " << step);
  V3D_CHECK(start >= 0, op << ": start must be non-negative, got " << start);
  V3D_CHECK(t_out == 0 || start + (t_out - 1) * step < t_in,
            op << ": frames " << start << " + t * " << step << " for t < " << t_out
               << " run past the " << t_in << " input frames");
}

namespace cpu {
namespace {
// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelMin = 1 << 16;
}  // namespace

void time_slice(const float* x, int64_t batch, int64_t t_in, int64_t channels, int64_t start,
                int64_t step, int64_t t_out, float* y) {
  time_slice_validate("time_slice", batch, t_in, t_out, channels, start, step);
  const size_t row_bytes = static_cast<size_t>(channels) * sizeof(float);
  // One output row (b, t) of C floats per iteration.
#pragma omp parallel for schedule(static) if (batch * t_out * channels >= kParallelMin)
  for (int64_t r = 0; r < batch * t_out; ++r) {
    const int64_t b = r / t_out, t = r % t_out;
    std::memcpy(y + r * channels, x + (b * t_in + start + t * step) * channels, row_bytes);
  }
}

void time_slice_bwd(const float* d_y, int64_t batch, int64_t t_in, int64_t channels, int64_t start,
                    int64_t step, int64_t t_out, float* d_x) {
  time_slice_validate("time_slice_bwd", batch, t_in, t_out, channels, start, step);
  const size_t row_bytes = static_cast<size_t>(channels) * sizeof(float);
  // One input row (b, t_x) of C floats per iteration: a copy of d_y's row when t_x is on the
  // slice's grid, zeros otherwise; every element written once.
#pragma omp parallel for schedule(static) if (batch * t_in * channels >= kParallelMin)
  for (int64_t r = 0; r < batch * t_in; ++r) {
    const int64_t b = r / t_in, u = r % t_in - start;
    float* dst = d_x + r * channels;
    if (u >= 0 && u % step == 0 && u / step < t_out)
      std::memcpy(dst, d_y + (b * t_out + u / step) * channels, row_bytes);
    else
      std::memset(dst, 0, row_bytes);
  }
}

}  // namespace cpu
}  // namespace v3d::kernels
