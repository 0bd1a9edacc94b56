// Inverted dropout with a counter-based mask.
//
//   keep[i] = uniform(i) >= p,  uniform(i) = philox_uniform(word (i mod 4) of
//             philox4x32_10(counter = (g lo, g hi, offset lo, offset hi), key = (seed lo, seed
//             hi))) where g = i / 4
//   fwd: y[i]   = keep[i] ? x[i] * scale : 0,   scale = 1 / (1 - p) computed once in float32
//   bwd: d_x[i] = keep[i] ? d_y[i] * scale : 0  (gradient overwritten; the mask is regenerated
//                                                from (seed, offset), nothing is saved)
//
// `offset` lets successive calls with one seed draw independent masks: a caller that drew n
// elements advances its offset by ceil(n / 4). p must be in [0, 1); p = 0 copies.
// Tolerance: exact. The mask is integer arithmetic and each output is one float multiply, so CPU,
// emulated and real CUDA outputs are bit-identical.
//
// ReLU then dropout in one pass (the model's BN -> ReLU -> dropout; saves writing and re-reading
// the ReLU output, and its memory), with the same mask and counter advance as dropout:
//   relu_dropout fwd: y[i]   = keep[i] ? max(x[i], 0) * scale : 0   (x[i] > 0 ? x[i] : 0, as relu)
//   relu_dropout bwd: d_x[i] = keep[i] && x[i] > 0 ? d_y[i] * scale : 0   (x: the forward input)
// Both equal relu followed by dropout (and dropout_bwd followed by relu_bwd) bit for bit.
//   relu_dropout_bf16 fwd: y16[i] = BF16(relu_dropout fwd y[i]), rounded as to_bf16 rounds
//   (kernels/elementwise.h): the fused output stored as the BF16 training convolution that reads
//   it keeps it, without the float32 y (its backward is relu_dropout bwd's).
#pragma once

#include "kernels/common.h"

namespace v3d::kernels {

// Counter words consumed by a dropout call over n elements (how far to advance `offset`).
inline uint64_t dropout_counter_advance(int64_t n) { return static_cast<uint64_t>((n + 3) / 4); }

// n elements with drop probability p, the mask drawn from (seed, offset).
struct DropoutArgs {
  int64_t n = 0;
  float p = 0.0f;
  uint64_t seed = 0, offset = 0;
  void validate(const char* op) const {
    V3D_CHECK(n >= 0, op << ": negative element count " << n);
    V3D_CHECK(p >= 0.0f && p < 1.0f, op << ": probability must be in [0, 1), got " << p);
  }
  // The mask (one Philox call per 4 elements, about 10 rounds of a few operations) and the scale.
  double flops() const { return static_cast<double>(n); }
  double bytes() const { return 8.0 * static_cast<double>(n); }  // relu_dropout_bwd reads x too
};

namespace cpu {
void dropout_fwd(const DropoutArgs& args, const float* x, float* y);
void dropout_bwd(const DropoutArgs& args, const float* d_y, float* d_x);
void relu_dropout_fwd(const DropoutArgs& args, const float* x, float* y);
void relu_dropout_bwd(const DropoutArgs& args, const float* x, const float* d_y, float* d_x);
void relu_dropout_bf16_fwd(const DropoutArgs& args, const float* x, uint16_t* y);
}  // namespace cpu

namespace launch {
template <GpuKind G>
void dropout_fwd(const DropoutArgs& args, const float* x, float* y, StreamHandle s);
template <GpuKind G>
void dropout_bwd(const DropoutArgs& args, const float* d_y, float* d_x, StreamHandle s);
template <GpuKind G>
void relu_dropout_fwd(const DropoutArgs& args, const float* x, float* y, StreamHandle s);
template <GpuKind G>
void relu_dropout_bwd(const DropoutArgs& args, const float* x, const float* d_y, float* d_x,
                      StreamHandle s);
template <GpuKind G>
void relu_dropout_bf16_fwd(const DropoutArgs& args, const float* x, uint16_t* y, StreamHandle s);
}  // namespace launch

}  // namespace v3d::kernels
