// Temporal convolution: valid (unpadded) 1-D cross-correlation over time with width K, dilation d
// and stride s, no bias (VideoPose3D's Conv1d; the one biased conv, `shrink`, adds its bias
// separately):
//
//   fwd:        y[b, t, co]   = sum_{ci, k} w[co, ci, k] * x[b, t*s + k*d, ci]
//   bwd_data:   d_x[b, f, ci] = sum_{co, (t, k): t*s + k*d = f} w[co, ci, k] * d_y[b, t, co]
//   bwd_weight: d_w[co, ci, k] = sum_{b, t} d_y[b, t, co] * x[b, t*s + k*d, ci]
//
//   T_out = (T_in - (K-1)*d - 1) / s + 1 (floor), T_in >= (K-1)*d + 1 (the receptive field).
//
// Layouts (row-major, contiguous):
//   x, d_x: (B, T_in, C_in)   channels-last. The strided training form (s = K, d = 1) then reads
//                             K consecutive frames as one contiguous K*C_in row, so the whole
//                             layer is a plain GEMM on a view of x without any im2col copy, and
//                             (B, T, J, 2) poses already are (B, T, J*2) channels.
//   y, d_y:     (B, T_out, C_out)
//   w, d_w:     (C_out, C_in, K)   PyTorch's Conv1d order, so checkpoints load unchanged.
// The model uses it as the dilated inference conv (s = 1, d = 3, 9, 27, 81), the strided training
// conv (s = K, d = 1) and the pointwise conv (K = 1).
//
// Both backends see the op as a GEMM over the im2col matrix X_col (B*T_out, K*C_in) whose reduction
// index is r = k*C_in + ci (tap-major, channels inner: the order in which x is contiguous):
//   Y (B*T_out, C_out) = X_col * W_perm^T,  W_perm[co, k*C_in + ci] = w[co, ci, k].
//
// Gradients are OVERWRITTEN, not accumulated: d_x frames that no output reads (strided gaps, the
// tail past the last window) are set to 0; d_w is written whole.
// Determinism: no float atomics. The CUDA bwd_weight (float32 and tensor-core) splits its
// reduction over B*T_out into partial sums in a workspace, added in a fixed order by a second
// kernel; the CUDA col2im is a gather (each d_x element sums its taps in ascending k), and so is
// the tensor-core bwd_data of overlapping windows (each d_x row reduces its taps and channels).
//
// CPU forward of the dilated K = 3 convolution: Winograd minimal filtering along time. F(m, 3)
// computes m outputs of a 3-tap filter with m + 2 products instead of 3m. With dilation d the
// outputs t0, t0 + d, ..., t0 + (m-1)d read the inputs t0, t0 + d, ..., t0 + (m+1)d, so output
// frames are grouped by their residue mod d into tiles of m; with channels each of the m + 2
// products is a GEMM (tiles, C_in) x (C_in, C_out):
//   U_i = sum_j BT[i, j] x[b, t0 + j*d, :]     input transform,  (tiles, C_in) for i < m + 2
//   V_i = sum_k G[i, k] w[:, :, k]             weight transform, (C_out, C_in)
//   M_i = U_i V_i^T                            m + 2 sgemms
//   y[b, t0 + j*d, :] = sum_i AT[j, i] M_i     output transform
// so a K = 3 layer costs (m+2)/m C_in C_out MACs per output frame instead of 3 C_in C_out. A
// residue chain whose length is not a multiple of m ends in a partial tile: its input frames past
// the sequence are taken as 0 and its outputs past T_out are dropped (the outputs it keeps read
// only real frames), which costs m + 2 GEMM rows where im2col + sgemm of the p < m leftover frames
// would cost 3p plus a second permuted copy of the weights and a second GEMM call. The matrices
// come from the Toom-Cook construction on the points 0, +-1, +-2 and infinity (m = 4, see
// kernels/cpu/temporal_conv.cpp for the choice). Only the forward pass of the CPU backend uses it,
// where it pays: K = 3, stride 1, C_in and C_out >= kWinogradMinChannels and at least
// kWinogradMinTiles whole tiles per call; the environment switch V3D_CPU_WINOGRAD=0 turns it off
// (`force` takes it wherever it applies at all, as the tests do through set_temporal_conv_algo).
//
// Arithmetic (TemporalConvShape::math, every pass):
//   kFp32  float32 operands, products and sums: the default.
//   kTf32  the pass's two operands rounded to TF32 (kernels/float_round.h, round_tf32: round to
//          nearest even, 10 mantissa bits) — x and w for fwd, d_y and w for bwd_data, x and
//          d_y for bwd_weight — their products (exact in float32) summed in float32. The results
//          and gradients are float32. CUDA: the tensor-core kernels
//          (kernels/cuda/temporal_conv_tc.cu, mma.sync m16n8k8 tf32, cp.async), implicit GEMMs
//          for all three passes (bwd_data of overlapping windows as the transposed convolution,
//          so it takes no workspace); CPU: the float32 path on rounded copies of the operands.
//   kBf16  the same with BF16 (round_bf16: round to nearest even, 7 mantissa bits) and mma.sync
//          m16n8k16 bf16 on CUDA. (The CPU's process-wide ConvPrecision below is a different
//          switch: oneDNN's bf16 GEMM for inference.)
//
// Tolerance: a float32 sum of L products (L = K*C_in for fwd, up to K*C_out for bwd_data, B*T_out
// for bwd_weight) in an order that differs between OpenBLAS, the CUDA tiles and the reference:
// with N(0, 1) inputs the error grows like L * 2^-24 at worst in practice, so comparisons use
// |err| <= 1e-5 |want| + 2e-6 * L. kTf32 and kBf16 (all three passes) are compared with a
// reference on the same rounded operands, so only the summation differs: per instruction the
// tensor core adds 8 (16) exact products and its accumulator with an unspecified internal order
// and rounding (up to 1 float32 ulp per addition where round-to-nearest errs by half), so the
// float32 bound doubles: |err| <= 1e-5 |want| + 4e-6 * L, with the same L per pass. (Against the
// unrounded float32 result the error is that of the rounding itself, about 2^-9 (BF16) or 2^-11
// (TF32) times sqrt(L) times the operands' magnitudes: the reason a reference must round first.)
//
// Epilogue (TemporalConvShape::epilogue, forward pass only; each part optional): the forward
// writes
//   y[b, t, co] = act(conv[b, t, co] + bias[co]) + residual[b, t, co],  act = max(., 0) or identity
// with the residual read at residual[b * residual_batch_stride + t * C_out + co] (a time slice of
// a (B, T_res, C_out) tensor: residual = its first frame's row, stride T_res * C_out), so the
// dilated inference block (conv + folded BN + ReLU, then the residual add) writes its output once
// instead of three times. Each element is computed as the unfused ops would (the conv's float32
// value, then one float addition per part), so fused and unfused results are bitwise equal.
// Output in BF16 (epilogue.y_bf16, our CUDA kernels alone: backend kV3d; the CPU and cuBLASLt
// refuse it and the runtime converts after them): the value above rounded to BF16 as to_bf16
// rounds it (kernels/elementwise.h) is written to y_bf16 (B, T_out, C_out) and y is not touched,
// so an activation that only a BF16 consumer reads (the next convolution in bf16, which would round
// it as it reads it) is written once, in half the bytes. The backward passes take no epilogue.
//
// Backend (TemporalConvShape::backend, CUDA only; the CPU has one implementation):
//   kV3d      our hand-written kernels (kernels/cuda/temporal_conv.cu, temporal_conv_tc.cu): the
//             default.
//   kCublasLt library GEMMs over views of the operands (kernels/temporal_conv_lt.h), the baseline
//             measured in the same binary; it needs a workspace in every pass, the forward too.
#pragma once

#include "kernels/common.h"

namespace v3d::kernels {

// The arithmetic of the forward pass (see above).
enum class ConvMath : uint8_t { kFp32, kTf32, kBf16 };
// Which implementation a GPU runs (see above).
enum class ConvBackend : uint8_t { kV3d, kCublasLt };
// The block tile of our tensor-core kernels (kV3d with kTf32 / kBf16 on CUDA; ignored otherwise,
// and the result does not depend on it beyond the order of float32 additions within the bound):
//   kDefault  by shape: temporal_conv_tc_wide;
//   kNarrow   128 x 64 outputs per block, 3 blocks per SM;
//   kWide     128 x 128 outputs per block (1.5x the flops per staged byte), 2 blocks per SM;
//   kHopper   Hopper's warpgroup MMA (wgmma, kernels/cuda/temporal_conv_wgmma.cu): 128 x 128
//             outputs per block of two warpgroups, where temporal_conv_wgmma_shape and a compute
//             capability 9.0 device allow (every pass in TF32 and BF16, by shape); the others run
//             as kDefault.
enum class ConvTile : uint8_t { kDefault, kNarrow, kWide, kHopper };

// Which pass a workspace is for.
enum class TemporalConvPass { kForward, kBackwardData, kBackwardWeight };

// The forward's fused epilogue (see above); the default does nothing.
struct ConvEpilogue {
  const float* bias = nullptr;  // (C_out) or null
  bool relu = false;            // after the bias, before the residual
  const float* residual =
      nullptr;  // element (b, t, co) at b * residual_batch_stride + t*C_out + co
  int64_t residual_batch_stride = 0;
  uint16_t* y_bf16 = nullptr;  // the output in BF16 instead of y (see above), or null
  V3D_HOST_DEVICE bool any() const {
    return bias != nullptr || relu || residual != nullptr || y_bf16 != nullptr;
  }
  // v: the conv's value of output row m = b*T_out + t, channel co.
  V3D_HOST_DEVICE float apply(float v, int64_t m, int64_t co, int64_t t_out, int64_t c_out) const {
    if (bias != nullptr) v = v + bias[co];
    if (relu) v = v > 0.0f ? v : 0.0f;
    if (residual != nullptr) {
      const int64_t b = m / t_out, t = m - b * t_out;
      v = residual[b * residual_batch_stride + t * c_out + co] + v;
    }
    return v;
  }
};

struct TemporalConvShape {
  int64_t batch = 0, t_in = 0, c_in = 0, c_out = 0, k = 1, dilation = 1, stride = 1;
  ConvMath math = ConvMath::kFp32;
  ConvBackend backend = ConvBackend::kV3d;
  ConvTile tile = ConvTile::kDefault;
  ConvEpilogue epilogue = {};  // forward only
  // The forward's weights prepared once for many calls (temporal_conv_prepare_weights in this
  // shape's math; below): our tensor-core kernels read them instead of permuting (and rounding) w
  // into their workspace, where their staging takes that form (BF16 weights where the pass is
  // BF16-staged, the TF32 ones everywhere); everything else reads w. Bitwise the same results.
  const void* prepared_w = nullptr;

  // Frames one output frame spans: (K-1)*d + 1.
  V3D_HOST_DEVICE int64_t receptive_field() const { return (k - 1) * dilation + 1; }
  V3D_HOST_DEVICE int64_t t_out() const { return (t_in - receptive_field()) / stride + 1; }
  // Length of the GEMM reduction of the forward pass (columns of X_col).
  V3D_HOST_DEVICE int64_t reduction() const { return k * c_in; }
  // Rows of X_col and of y: B*T_out.
  V3D_HOST_DEVICE int64_t rows() const { return batch * t_out(); }
  // No input frame is read by two (t, k) taps: windows never overlap, so bwd_data can write each
  // column of X_col straight into d_x.
  V3D_HOST_DEVICE bool disjoint_windows() const { return stride >= receptive_field(); }
  // Whether input frame f is read by some output: f = t*s + k*d with 0 <= t < T_out, 0 <= k < K.
  V3D_HOST_DEVICE bool frame_read(int64_t f) const {
    const int64_t n_out = t_out();
    for (int64_t tap = 0; tap < k; ++tap) {
      const int64_t start = f - tap * dilation;  // the output frame's first input frame
      if (start >= 0 && start % stride == 0 && start / stride < n_out) return true;
    }
    return false;
  }
  // Throws v3d::Error naming `op` and the bad size (a sequence shorter than the receptive field,
  // ...).
  void validate(const char* op = "temporal_conv") const;
  // Every pass is a GEMM of B*T_out x C_out x K*C_in multiply-adds over x, w and y (or their
  // gradients).
  double flops() const {
    return 2.0 * static_cast<double>(rows()) * static_cast<double>(c_out * reduction());
  }
  double bytes() const {
    return 4.0 * static_cast<double>(batch * t_in * c_in + c_out * c_in * k + rows() * c_out);
  }
  // Floats of device workspace the forward launcher needs (0 for kV3d).
  int64_t workspace_floats() const;
};

// Geometry of the CUDA implicit GEMM (kernels/cuda/temporal_conv.cu): output tiles of
// kTemporalConvTile x kTemporalConvTile, reduction slices of kTemporalConvSlice staged in shared
// memory. Here because the workspace size depends on it.
inline constexpr int kTemporalConvTile = 64;
inline constexpr int kTemporalConvSlice = 16;

// Split of the CUDA bwd_weight reduction over B*T_out: each split sums `chunk` consecutive rows
// (a multiple of the kernel's reduction slice: 16 rows, 32 for the BF16-staged tensor-core form)
// into its own partial result. Shared by the
// launcher and temporal_conv_workspace_floats so that the two cannot disagree.
struct TemporalConvSplit {
  int64_t splits = 1, chunk = 0;
};
TemporalConvSplit temporal_conv_weight_split(const TemporalConvShape& shape);

// Whether the tensor-core kernels run `pass` of `shape` in the wide tile: as shape.tile says, and
// for kDefault when the wide grid still has a block for each of the two slots of every SM of a
// 132-SM GPU (264 blocks: the large layers, whose narrow tiles are bound by the bandwidth of L2;
// where the grid is smaller, the narrow tile's extra blocks fill the GPU better). A guess from the
// tiles' arithmetic, not a measurement: `model.conv_backend: auto` times both.
bool temporal_conv_tc_wide(const TemporalConvShape& shape, TemporalConvPass pass);
// Whether the Hopper tile (ConvTile::kHopper) has a kernel for `pass` of this shape on a compute
// capability 9.0 device: TF32 or BF16 arithmetic on our backend; the forward when C_in, bwd_data
// when C_out is a multiple of 32 (TF32) or 64 (BF16: a k-tile of 128 bytes lies within one tap)
// and its windows are disjoint or its stride 1; bwd_weight in BF16 when C_in is a multiple of 64
// and C_out of 8 (MN-major operands), in TF32 always (on transposed copies: TF32 has no MN-major
// form).
bool temporal_conv_wgmma_shape(const TemporalConvShape& shape, TemporalConvPass pass);
// The Hopper tile's TF32 bwd_weight workspace (floats): the split's partial sums (rounded up to
// 16 bytes), then d_y transposed, (C_out, rows_pad), then x's windows transposed,
// (K*C_in, rows_pad): both rounded to TF32, K-major for the wgmma, each row of the B*T_out
// reduction rows zero-padded to rows_pad (a multiple of 4: 16-byte rows).
struct TemporalConvWgmmaWeightLayout {
  int64_t rows_pad = 0, dy_offset = 0, x_offset = 0, floats = 0;
};
TemporalConvWgmmaWeightLayout temporal_conv_wgmma_weight_layout(const TemporalConvShape& shape);

// Whether our BF16 kernels run `pass` of `shape` on BF16 copies of their operands (made in the
// workspace before the GEMM: the activation or gradient operand converted, the weights converted
// and permuted), staged in shared memory as they are, at half the shared-memory traffic of
// float32 operands rounded as the fragments are read. For kBf16 under kV3d, the forward when C_in
// is a multiple of 8, bwd_data when C_out is, bwd_weight when both are (whole 16-byte copies;
// bwd_weight's operands, strided along the reduction, are staged reduction-major and read by
// ldmatrix.trans). The same rounding either way; only the order of the float32 additions differs.
bool temporal_conv_tc_bf16_staged(const TemporalConvShape& shape, TemporalConvPass pass);

// Floats of device workspace the CUDA launcher of `pass` needs for `shape` (0 when none): for kV3d
// the X_col gradient for the float32 bwd_data with overlapping windows, the weights permuted
// tap-major for the TF32 / BF16 forward and bwd_data when K > 1 (or the BF16 copies of both
// operands, temporal_conv_tc_bf16_staged), the split-reduction partial sums for bwd_weight (every
// math; followed by the BF16 copies of d_y and x where staged); for kCublasLt
// temporal_conv_lt_workspace_floats. The CPU backend manages its own scratch.
int64_t temporal_conv_workspace_floats(const TemporalConvShape& shape, TemporalConvPass pass);
inline int64_t TemporalConvShape::workspace_floats() const {
  return temporal_conv_workspace_floats(*this, TemporalConvPass::kForward);
}

// The args of the backward passes: the shape (with its math), and the workspace their CUDA
// launchers take.
struct TemporalConvBwdDataArgs : TemporalConvShape {
  int64_t workspace_floats() const {
    return temporal_conv_workspace_floats(*this, TemporalConvPass::kBackwardData);
  }
  void validate(const char* op = "temporal_conv_bwd_data") const;
};
struct TemporalConvBwdWeightArgs : TemporalConvShape {
  int64_t workspace_floats() const {
    return temporal_conv_workspace_floats(*this, TemporalConvPass::kBackwardWeight);
  }
  void validate(const char* op = "temporal_conv_bwd_weight") const;
};

// The BF16 passes with their activation and gradient operands already stored in BF16 (the bit
// patterns of the values rounded as kBf16 rounds them, kernels/float_round.h): x in the forward,
// d_y in bwd_data, both in bwd_weight; the weights stay float32 (converted per call). A training
// step so converts each convolution's input once (for its forward and bwd_weight, and keeps it at
// half the bytes until the backward pass) and each d_y once (for both backward passes).
// shape.math must be kBf16. The results are bitwise those of the float32-input passes on the
// widened values (rounding a BF16 value again changes nothing): on the CPU for every shape; on a
// GPU where our kernels stage the pass's operands as BF16 (temporal_conv_tc_bf16_staged), the
// BF16 operands 16-byte aligned; elsewhere the runtime widens them to float32 and runs the
// float32-input pass (cuBLASLt, channels not multiples of 8).
struct TemporalConvBf16Args : TemporalConvShape {
  int64_t workspace_floats() const;
  void validate(const char* op = "temporal_conv_bf16") const;
};
struct TemporalConvBwdDataBf16Args : TemporalConvShape {
  int64_t workspace_floats() const;
  void validate(const char* op = "temporal_conv_bwd_data_bf16") const;
};
struct TemporalConvBwdWeightBf16Args : TemporalConvShape {
  int64_t workspace_floats() const;
  void validate(const char* op = "temporal_conv_bwd_weight_bf16") const;
};

// The forward's weights for many calls over one set of weights (inference over folded weights on
// a GPU): w (C_out, C_in, K) -> (C_out, K, C_in), tap-major, in the operand format of math:
// float32 as it is (kFp32), float32 words rounded to TF32 (kTf32), or BF16 bit patterns, uint16
// (kBf16), rounded as the kernels round their operands (kernels/float_round.h). Given to the
// forward as TemporalConvShape::prepared_w, they spare each call the permutation and rounding of
// the weights into its workspace.
struct TemporalConvWeightsArgs {
  int64_t c_out = 0, c_in = 0, k = 1;
  ConvMath math = ConvMath::kFp32;
  void validate(const char* op = "temporal_conv_weights") const;
  double flops() const { return 0.0; }
  double bytes() const {
    return (math == ConvMath::kBf16 ? 6.0 : 8.0) * static_cast<double>(c_out * c_in * k);
  }
};

namespace cpu {
// Algorithm of the CPU forward pass: kAuto takes Winograd where it pays (K = 3, stride 1, enough
// channels and tiles), kDirect never, kWinograd wherever it applies at all (K = 3, stride 1; a
// chain shorter than m is one partial tile). The default comes from the environment:
// V3D_CPU_WINOGRAD=0 is kDirect, =force is kWinograd, unset or 1 is kAuto. Process-wide; set it
// only while no forward pass runs.
enum class TemporalConvAlgo { kAuto, kDirect, kWinograd };
void set_temporal_conv_algo(TemporalConvAlgo algo);
TemporalConvAlgo temporal_conv_algo();
// Sets an algorithm for a scope and restores the previous one.
class TemporalConvAlgoGuard {
 public:
  explicit TemporalConvAlgoGuard(TemporalConvAlgo algo) : saved_(temporal_conv_algo()) {
    set_temporal_conv_algo(algo);
  }
  ~TemporalConvAlgoGuard() { set_temporal_conv_algo(saved_); }
  TemporalConvAlgoGuard(const TemporalConvAlgoGuard&) = delete;
  TemporalConvAlgoGuard& operator=(const TemporalConvAlgoGuard&) = delete;

 private:
  TemporalConvAlgo saved_;
};
// Precision of the CPU forward pass's products: kFp32 (the default, and the contract's), or kBf16:
// both GEMM operands rounded to bfloat16, products and sums in float32 (kernels/gemm_kernel.h,
// gemm_bf16), about twice the sgemm rate on CPUs with AVX512_BF16. For inference only (`v3d infer
// --precision bf16`, `v3d eval --precision bf16`): the relative error of a product grows to about
// 2^-8 * sqrt(K) instead of 2^-24 * sqrt(K). Set it only when bf16_gemm_available() is true and
// while no forward pass runs; the backward passes ignore it (their arithmetic is
// TemporalConvShape::math).
enum class ConvPrecision { kFp32, kBf16 };
void set_conv_fwd_precision(ConvPrecision precision);
ConvPrecision conv_fwd_precision();
class ConvPrecisionGuard {
 public:
  explicit ConvPrecisionGuard(ConvPrecision p) : saved_(conv_fwd_precision()) {
    set_conv_fwd_precision(p);
  }
  ~ConvPrecisionGuard() { set_conv_fwd_precision(saved_); }
  ConvPrecisionGuard(const ConvPrecisionGuard&) = delete;
  ConvPrecisionGuard& operator=(const ConvPrecisionGuard&) = delete;

 private:
  ConvPrecision saved_;
};

// Outputs per Winograd tile (m of F(m, 3)) and the thresholds of kAuto.
inline constexpr int64_t kWinogradTile = 4;
inline constexpr int64_t kWinogradMinChannels = 128;
inline constexpr int64_t kWinogradMinTiles = 32;
// Whether temporal_conv_fwd takes the Winograd path for `shape` under the current algorithm.
bool temporal_conv_fwd_uses_winograd(const TemporalConvShape& shape);
// The path temporal_conv_fwd takes for `shape`, for benchmarks and logs: "winograd F(4,3)",
// "sgemm on a view of x" or "im2col + sgemm".
const char* temporal_conv_fwd_path(const TemporalConvShape& shape);

// x: (B, T_in, C_in), w: (C_out, C_in, K) -> y: (B, T_out, C_out). winograd_v (optional): the
// weights already transformed by temporal_conv_winograd_weights, used when the call takes the
// Winograd path (the result is then bit-identical to transforming them here); w is still needed
// for the direct path.
// tap_major_w (optional): w already permuted to (C_out, K, C_in) (temporal_conv_tap_major), used by
// the direct path, which otherwise permutes it on every call (K > 1).
void temporal_conv_fwd(const TemporalConvShape& shape, const float* x, const float* w, float* y,
                       const float* winograd_v = nullptr, const float* tap_major_w = nullptr);
// w (C_out, C_in, K) -> wp (C_out, K, C_in), the layout of the direct path's GEMM.
void temporal_conv_tap_major(const TemporalConvShape& shape, const float* w, float* wp);

// The Winograd weights of a K = 3 convolution, (kWinogradTile + 2, C_out, C_in) floats
// (winograd_weight_floats), for callers that run many forwards over one set of weights (the
// transform costs a pass over 3 C_out C_in weights in double, comparable to the GEMMs of a short
// sequence). shape.k must be 3; its batch and frame counts do not matter.
int64_t winograd_weight_floats(const TemporalConvShape& shape);
void temporal_conv_winograd_weights(const TemporalConvShape& shape, const float* w, float* v);
// d_y: (B, T_out, C_out), w: (C_out, C_in, K) -> d_x: (B, T_in, C_in)
void temporal_conv_bwd_data(const TemporalConvShape& shape, const float* d_y, const float* w,
                            float* d_x);
// x: (B, T_in, C_in), d_y: (B, T_out, C_out) -> d_w: (C_out, C_in, K)
void temporal_conv_bwd_weight(const TemporalConvShape& shape, const float* x, const float* d_y,
                              float* d_w);
// The same with the activation and gradient operands in BF16 (TemporalConvBf16Args above).
void temporal_conv_fwd_bf16(const TemporalConvBf16Args& shape, const uint16_t* x, const float* w,
                            float* y);
void temporal_conv_bwd_data_bf16(const TemporalConvBwdDataBf16Args& shape, const uint16_t* d_y,
                                 const float* w, float* d_x);
void temporal_conv_bwd_weight_bf16(const TemporalConvBwdWeightBf16Args& shape, const uint16_t* x,
                                   const uint16_t* d_y, float* d_w);
// TemporalConvWeightsArgs above: out holds C_out*K*C_in floats (kFp32, kTf32) or uint16 (kBf16).
void temporal_conv_prepare_weights(const TemporalConvWeightsArgs& args, const float* w, void* out);
}  // namespace cpu

namespace launch {
// Same contracts on the GPU; `workspace` holds args.workspace_floats() floats (may be null when
// that is 0).
template <GpuKind G>
void temporal_conv_fwd(const TemporalConvShape& shape, const float* x, const float* w, float* y,
                       float* workspace, StreamHandle s);
template <GpuKind G>
void temporal_conv_bwd_data(const TemporalConvBwdDataArgs& shape, const float* d_y, const float* w,
                            float* d_x, float* workspace, StreamHandle s);
template <GpuKind G>
void temporal_conv_bwd_weight(const TemporalConvBwdWeightArgs& shape, const float* x,
                              const float* d_y, float* d_w, float* workspace, StreamHandle s);
// BF16 operands; only where temporal_conv_tc_bf16_staged (an error otherwise), 16-byte aligned.
template <GpuKind G>
void temporal_conv_fwd_bf16(const TemporalConvBf16Args& shape, const uint16_t* x, const float* w,
                            float* y, float* workspace, StreamHandle s);
template <GpuKind G>
void temporal_conv_bwd_data_bf16(const TemporalConvBwdDataBf16Args& shape, const uint16_t* d_y,
                                 const float* w, float* d_x, float* workspace, StreamHandle s);
template <GpuKind G>
void temporal_conv_bwd_weight_bf16(const TemporalConvBwdWeightBf16Args& shape, const uint16_t* x,
                                   const uint16_t* d_y, float* d_w, float* workspace,
                                   StreamHandle s);
template <GpuKind G>
void temporal_conv_prepare_weights(const TemporalConvWeightsArgs& args, const float* w, void* out,
                                   StreamHandle s);
}  // namespace launch

}  // namespace v3d::kernels
