// The residual slice of the temporal model along time, on channels-last activations.
//
//   time_slice:     x (B, T_in, C) -> y (B, T_out, C)
//                   y[b, t, c] = x[b, start + t * step, c]               for t < T_out
//   time_slice_bwd: d_y (B, T_out, C) -> d_x (B, T_in, C), OVERWRITTEN:
//                   d_x[b, start + t * step, c] = d_y[b, t, c], zero at every other frame
//
// step 1 takes the centre (or, causal, the last) taps of the dilated model, [p + s, T - p + s);
// step K takes the strided model's slice shift + K / 2 :: K. Requires step >= 1, start >= 0 and
// start + (T_out - 1) * step < T_in, so the gathered frames are distinct and the backward is a
// plain scatter with no sums.
// Tolerance: exact. Both directions copy or zero elements, so every backend is bit-identical.
#pragma once

#include "kernels/common.h"

namespace v3d::kernels {

// Frames start + t * step (t < t_out) of (batch, t_in, channels).
struct TimeSliceArgs {
  int64_t batch = 0, t_in = 0, t_out = 0, channels = 0, start = 0, step = 1;
  // Throws v3d::Error naming `op` unless the slice fits: t_out >= 0, step >= 1, start >= 0 and
  // the last frame start + (t_out - 1) * step < t_in.
  void validate(const char* op) const;
  double flops() const { return 0.0; }
  // The forward's copy (the backward also writes the zero frames of d_x).
  double bytes() const { return 8.0 * static_cast<double>(batch * t_out * channels); }
};

namespace cpu {
// x: (batch, t_in, C) -> y: (batch, t_out, C)
void time_slice(const TimeSliceArgs& args, const float* x, float* y);
// d_y: (batch, t_out, C) -> d_x: (batch, t_in, C)
void time_slice_bwd(const TimeSliceArgs& args, const float* d_y, float* d_x);
}  // namespace cpu

namespace launch {
template <GpuKind G>
void time_slice(const TimeSliceArgs& args, const float* x, float* y, StreamHandle s);
template <GpuKind G>
void time_slice_bwd(const TimeSliceArgs& args, const float* d_y, float* d_x, StreamHandle s);
}  // namespace launch

}  // namespace v3d::kernels
