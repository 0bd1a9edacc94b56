// CPU backend of kernels/time_slice.h: every output frame is one contiguous row of C floats, so
// both directions are row copies (or zero rows), split across threads when large.
#include "kernels/time_slice.h"

#include <cstring>

namespace v3d::kernels {

void TimeSliceArgs::validate(const char* op) const {
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

void time_slice(const TimeSliceArgs& args, const float* x, float* y) {
  args.validate("time_slice");
  const int64_t batch = args.batch, t_in = args.t_in, t_out = args.t_out, channels = args.channels,
                start = args.start, step = args.step;
  const size_t row_bytes = static_cast<size_t>(channels) * sizeof(float);
  // One output row (b, t) of C floats per iteration.
#pragma omp parallel for schedule(static) if (batch * t_out * channels >= kParallelMin)
  for (int64_t r = 0; r < batch * t_out; ++r) {
    const int64_t b = r / t_out, t = r % t_out;
    std::memcpy(y + r * channels, x + (b * t_in + start + t * step) * channels, row_bytes);
  }
}

void time_slice_bwd(const TimeSliceArgs& args, const float* d_y, float* d_x) {
  args.validate("time_slice_bwd");
  const int64_t batch = args.batch, t_in = args.t_in, t_out = args.t_out, channels = args.channels,
                start = args.start, step = args.step;
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
