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

// Throws v3d::Error naming `op` unless the slice fits: t_out >= 0, step >= 1, start >= 0 and the
// last frame start + (t_out - 1) * step < t_in.
void time_slice_validate(const char* op, int64_t batch, int64_t t_in, int64_t t_out,
                         int64_t channels, int64_t start, int64_t step);

namespace cpu {
// x: (batch, t_in, C) -> y: (batch, t_out, C)
void time_slice(const float* x, int64_t batch, int64_t t_in, int64_t channels, int64_t start,
                int64_t step, int64_t t_out, float* y);
// d_y: (batch, t_out, C) -> d_x: (batch, t_in, C)
void time_slice_bwd(const float* d_y, int64_t batch, int64_t t_in, int64_t channels, int64_t start,
                    int64_t step, int64_t t_out, float* d_x);
}  // namespace cpu

namespace launch {
template <GpuKind G>
void time_slice(const float* x, int64_t batch, int64_t t_in, int64_t channels, int64_t start,
                int64_t step, int64_t t_out, float* y, StreamHandle s);
template <GpuKind G>
void time_slice_bwd(const float* d_y, int64_t batch, int64_t t_in, int64_t channels, int64_t start,
                    int64_t step, int64_t t_out, float* d_x, StreamHandle s);
}  // namespace launch

}  // namespace v3d::kernels
