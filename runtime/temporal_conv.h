// Temporal convolution over (B, T, C) sequences (kernels/temporal_conv.h): shape-, device- and
// dtype-checked entry points and the differentiable form.
//
//   y[b, t, co] = sum_{ci, k} w[co, ci, k] * x[b, t*stride + k*dilation, ci]
//   x: (B, T_in, C_in) channels-last, w: (C_out, C_in, K) PyTorch order, y: (B, T_out, C_out),
//   T_out = (T_in - (K-1)*dilation - 1) / stride + 1; T_in must cover the receptive field.
//
// Errors name the tensor and what was expected (e.g. a sequence shorter than the receptive field).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kernels/temporal_conv.h"
#include "runtime/autograd.h"
#include "runtime/tensor.h"

namespace v3d::ops {

// Which implementation the temporal convolutions of GPU tensors run (model.conv_backend):
//   kV3d      our kernels (kernels/cuda/temporal_conv*.cu), the default;
//   kCublasLt library GEMMs over views of the operands (kernels/temporal_conv_lt.h);
//   kAuto     per shape and pass, the fastest of the two (and, for TF32 / BF16, of our kernels'
//             two tiles), timed on the device the first time the shape is seen (as cudnnFind
//             does) and remembered for the process.
// CPU tensors ignore it. Process-wide: set it (or hold a ConvBackendGuard) around whole training
// steps, not between a forward and its backward pass.
enum class ConvBackendChoice { kV3d, kCublasLt, kAuto };
void set_conv_backend(ConvBackendChoice choice);
ConvBackendChoice conv_backend();
class ConvBackendGuard {
 public:
  explicit ConvBackendGuard(ConvBackendChoice choice) : saved_(conv_backend()) {
    set_conv_backend(choice);
  }
  ~ConvBackendGuard() { set_conv_backend(saved_); }
  ConvBackendGuard(const ConvBackendGuard&) = delete;
  ConvBackendGuard& operator=(const ConvBackendGuard&) = delete;

 private:
  ConvBackendChoice saved_;
};

// The block tile our tensor-core kernels run in under kV3d (kernels/temporal_conv.h, ConvTile:
// kDefault chooses by shape); kAuto times each tile itself. Process-wide, like the backend; for
// tests and benchmarks.
void set_conv_tile(kernels::ConvTile tile);
kernels::ConvTile conv_tile();
class ConvTileGuard {
 public:
  explicit ConvTileGuard(kernels::ConvTile tile) : saved_(conv_tile()) { set_conv_tile(tile); }
  ~ConvTileGuard() { set_conv_tile(saved_); }
  ConvTileGuard(const ConvTileGuard&) = delete;
  ConvTileGuard& operator=(const ConvTileGuard&) = delete;

 private:
  kernels::ConvTile saved_;
};

// One implementation of a pass: the backend and, for our tensor-core kernels, the tile.
struct ConvAlgo {
  kernels::ConvBackend backend = kernels::ConvBackend::kV3d;
  kernels::ConvTile tile = kernels::ConvTile::kDefault;
  bool operator==(const ConvAlgo&) const = default;
  std::string str() const;  // "v3d", "v3d narrow", "v3d wide", "v3d hopper", "cublaslt"
};

// kAuto's measurement: milliseconds `algo` takes for `pass` of `shape` on `device`. The default
// runs it once to warm up, then times 3 runs with events on the current stream.
using ConvBackendTimer =
    std::function<double(Device device, const kernels::TemporalConvShape& shape,
                         kernels::TemporalConvPass pass, ConvAlgo algo)>;
// Replaces the timer (tests); an empty one restores the default. Also forgets every choice made.
void set_conv_backend_timer(ConvBackendTimer timer);
// What kAuto chose so far, one line per (device, shape, pass), for logs.
std::vector<std::string> conv_backend_choices();
// What a call of `pass` on `device` runs under the current settings (kAuto: chooses among our
// kernels, in both tiles when the arithmetic runs on tensor cores, and cuBLASLt).
ConvAlgo conv_algo_for(Device device, const kernels::TemporalConvShape& shape,
                       kernels::TemporalConvPass pass);
inline kernels::ConvBackend conv_backend_for(Device device, const kernels::TemporalConvShape& shape,
                                             kernels::TemporalConvPass pass) {
  return conv_algo_for(device, shape, pass).backend;
}

// Output frames for t_in input frames; throws when t_in is below the receptive field.
int64_t temporal_conv_out_frames(int64_t t_in, int64_t k, int64_t dilation, int64_t stride);

// Weights prepared once for many forwards (kernels/temporal_conv.h). On the CPU, for the float32
// forward: the Winograd transform (K = 3) and the tap-major permutation (K > 1) it would otherwise
// redo on every call. On a GPU, for the forward in `math` kTf32 or kBf16: the weights tap-major
// in that math's operand format (kernels::TemporalConvWeightsArgs), which our tensor-core kernels
// would otherwise permute and round into their workspace on every call (any K). Each is undefined
// where there is nothing to prepare; a forward given weights prepared for another arithmetic
// throws.
struct PreparedConv {
  Tensor winograd;          // (kWinogradTile + 2, C_out, C_in)
  Tensor tap_major;         // (C_out, K, C_in)
  Tensor device_tap_major;  // (C_out, K, C_in): float32 words rounded to TF32, or bf16
  kernels::ConvMath device_math = kernels::ConvMath::kFp32;
};
PreparedConv prepare_temporal_conv(const Tensor& w,
                                   kernels::ConvMath math = kernels::ConvMath::kFp32);
// The forward's weights in `math`'s operand format, tap-major (kernels::TemporalConvWeightsArgs):
// (C_out, K, C_in), bf16 for kBf16, else float32 (rounded to TF32 for kTf32), on w's device.
Tensor temporal_conv_weights(const Tensor& w, kernels::ConvMath math);

// The forward's fused epilogue over tensors (kernels/temporal_conv.h, ConvEpilogue): y =
// act(conv + bias) + residual[:, offset : offset + T_out, :]; each part optional.
struct ConvEpilogueTensors {
  Tensor bias;  // (C_out) or undefined
  bool relu = false;
  Tensor residual;  // (B, T_res, C_out) with T_res >= residual_offset + T_out, or undefined
  int64_t residual_offset = 0;
};

// y = conv(x, w); y: (B, T_out, C_out) on x's device. prepared (optional):
// prepare_temporal_conv(w); the result is bit-identical with or without it. math: the arithmetic
// (kernels/temporal_conv.h, ConvMath): kTf32 rounds x and w to TF32 (tensor cores on CUDA) and
// ignores `prepared`.
// epilogue (optional): fused into the forward; the result is bitwise that of the unfused ops
// (bias_add with relu, then add(residual slice, y)). y may be bf16: the float32 result rounded
// (bitwise to_bf16 of it), written by the kernel itself where our CUDA kernels run the pass, and
// converted after a float32 temporary elsewhere (the CPU, cuBLASLt).
void temporal_conv_out(const Tensor& x, const Tensor& w, const Tensor& y, int64_t dilation,
                       int64_t stride, const PreparedConv* prepared = nullptr,
                       kernels::ConvMath math = kernels::ConvMath::kFp32,
                       const ConvEpilogueTensors* epilogue = nullptr);
Tensor temporal_conv(const Tensor& x, const Tensor& w, int64_t dilation, int64_t stride,
                     const PreparedConv* prepared = nullptr,
                     kernels::ConvMath math = kernels::ConvMath::kFp32,
                     const ConvEpilogueTensors* epilogue = nullptr);
// d_x (B, T_in, C_in), overwritten (frames no output reads get 0), from d_y (B, T_out, C_out).
// T_in is taken from d_x. math: kTf32 / kBf16 round d_y and w.
void temporal_conv_bwd_data_out(const Tensor& d_y, const Tensor& w, const Tensor& d_x,
                                int64_t dilation, int64_t stride,
                                kernels::ConvMath math = kernels::ConvMath::kFp32);
// d_w (C_out, C_in, K), overwritten, from x (B, T_in, C_in) and d_y (B, T_out, C_out). math:
// kTf32 / kBf16 round x and d_y.
void temporal_conv_bwd_weight_out(const Tensor& x, const Tensor& d_y, const Tensor& d_w,
                                  int64_t dilation, int64_t stride,
                                  kernels::ConvMath math = kernels::ConvMath::kFp32);

// With math kBf16 the activation and gradient operands (x of the forward and bwd_weight, d_y of
// both backward passes) may also be bf16 tensors (DType::kBF16, as ops::to_bf16 rounds): the
// results are bitwise those of their float32 values. The BF16-staged kernels read them as they
// are (the CPU always; a GPU where kernels::temporal_conv_tc_bf16_staged says so and the tensors
// are 16-byte aligned); elsewhere they are widened to float32 temporaries first.
// Whether ag::temporal_conv in kBf16 keeps its x as BF16 (x (B, T_in, C_in), w (C_out, C_in, K)):
// on the CPU always, on a GPU where both the forward and bwd_weight take it as it is under the
// current backend (where they would widen it, converting would cost more than it saves).
bool temporal_conv_keeps_bf16_input(const Tensor& x, const Tensor& w, int64_t dilation,
                                    int64_t stride);

}  // namespace v3d::ops

namespace v3d::ag {

// Differentiable in x and w; the backward keeps x (for d_w) and w (for d_x). math: the arithmetic
// of all three passes (kernels/temporal_conv.h, ConvMath); the values and gradients stay float32.
// In kBf16 the kept x is a BF16 copy where ops::temporal_conv_keeps_bf16_input says so.
Var temporal_conv(const Var& x, const Var& w, int64_t dilation, int64_t stride,
                  kernels::ConvMath math = kernels::ConvMath::kFp32);

}  // namespace v3d::ag
