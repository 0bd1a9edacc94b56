// The cuBLASLt backend of the temporal convolution (TemporalConvShape::backend = kCublasLt): the
// same three contracts as kernels/temporal_conv.h, computed by library GEMMs over views of the
// operands, as the baseline our hand-written kernels are measured against inside one binary.
//
// Every pass is planned here, on the host, as a short list of (strided-batched) row-major GEMMs
// (LtGemm) plus at most three elementwise steps; the CUDA launcher
// (kernels/cuda/temporal_conv_lt.cu) runs each GEMM with cublasLtMatmul, and under emulation with
// the CPU sgemm as a queued host task, so the plan, its views and their bounds execute in the tests
// even where no GPU is.
//
// The views (wp: the weights permuted tap-major, (C_out, K, C_in), in the workspace):
//   contiguous windows (d = 1, s >= K, or K = 1): X_col is a view of x with row stride s*C_in, so
//     fwd        Y      (rows, C_out)    = X_col * wp^T            one GEMM, reduction K*C_in
//     bwd_data   d_Xcol (rows, K*C_in)   = d_Y * wp                written into the view of d_x
//                                                                  (frames no tap reads zeroed
//                                                                  first)
//     bwd_weight d_wp   (C_out, K*C_in)  = d_Y^T * X_col
//   any other form (dilated, overlapping): one GEMM per tap k, over the view of x starting at frame
//   k*d with row stride s*C_in and wp's tap-k columns (C_out, C_in) with row stride K*C_in,
//     fwd        Y     += X_k * wp_k^T   (beta = 0 for k = 0, then 1)
//     bwd_data   d_X_k += d_Y * wp_k     (d_x zeroed first; taps in ascending k, stream-ordered, so
//                                         each d_x element sums its taps in a fixed order)
//     bwd_weight d_wp_k = d_Y^T * X_k
// A GEMM runs over the whole batch as one matrix when the rows of consecutive sequences are evenly
// spaced (T_in = T_out * s, as in every training layer of a VideoPose3D model), as a strided batch
// over b for the forward and bwd_data otherwise, and, for bwd_weight (a sum over b, which a batched
// GEMM cannot do), as one GEMM per sequence accumulating with beta = 1 in ascending b.
// d_wp is permuted back to (C_out, C_in, K) by the last step (for K > 1; for K = 1 the GEMM writes
// d_w directly and wp is w itself).
//
// Arithmetic: kFp32 is CUBLAS_COMPUTE_32F (no TF32), kTf32 CUBLAS_COMPUTE_32F_FAST_TF32, kBf16
// CUBLAS_COMPUTE_32F_FAST_16BF (float32 operands in memory, down-converted to bfloat16 by the
// library for the tensor cores, float32 accumulation); the emulation rounds the operands with
// round_tf32 or round_bf16 and multiplies in float32, as the contract says, while cuBLAS does not
// document how it rounds, so on a GPU kTf32 and kBf16 are compared against the FP32 result within
// the TF32 or BF16 bound.
// Alignment: cuBLASLt's heuristics assume 256-byte aligned operands unless told otherwise, and our
// views start anywhere in a buffer, so each call states the alignment its pointers and batch
// strides actually have (lt_alignment).
#pragma once

#include <vector>

#include "kernels/gemm.h"
#include "kernels/temporal_conv.h"

namespace v3d::kernels {

// One strided-batched row-major GEMM: C_i = alpha op(A_i) op(B_i) + beta C_i for i < batch, with
// X_i = X + i * stride_x (elements).
struct LtGemm {
  GemmArgs g;
  int64_t batch = 1, stride_a = 0, stride_b = 0, stride_c = 0;
};

// The steps of one pass, in order.
struct LtPlan {
  // Before the GEMMs: permute w (C_out, C_in, K) into wp (C_out, K, C_in) (null when K = 1).
  const float* permute_from = nullptr;
  float* permute_to = nullptr;
  // Before the GEMMs: set `zero_floats` floats at `zero` to 0 (bwd_data when some frame of d_x is
  // not written by a beta = 0 GEMM).
  float* zero = nullptr;
  int64_t zero_floats = 0;
  std::vector<LtGemm> gemms;
  // After the GEMMs: permute d_wp (C_out, K, C_in) back into d_w (C_out, C_in, K).
  const float* unpermute_from = nullptr;
  float* unpermute_to = nullptr;
};

// Bytes of cuBLASLt's own workspace in every pass's workspace (our choice: enough for the split-K
// kernels of the shapes we run; the heuristics pick among the algorithms that fit).
inline constexpr int64_t kLtLibraryWorkspaceBytes = int64_t{4} << 20;

// Floats of workspace the cuBLASLt backend takes for `pass`: wp or d_wp (K > 1) followed by the
// library's workspace.
int64_t temporal_conv_lt_workspace_floats(const TemporalConvShape& shape, TemporalConvPass pass);
// Where the library's part of the workspace starts, in floats (a multiple of 64: 256 bytes).
int64_t temporal_conv_lt_library_offset(const TemporalConvShape& shape);

// The plan of `pass`. Operands in the contract's order: fwd (x, w) -> y, bwd_data (d_y, w) -> d_x,
// bwd_weight (x, d_y) -> d_w. `workspace` holds temporal_conv_lt_workspace_floats(shape, pass)
// floats. Throws v3d::Error for a size cuBLASLt cannot take (above 2^31 - 1).
LtPlan temporal_conv_lt_plan(const TemporalConvShape& shape, TemporalConvPass pass,
                             const float* in0, const float* in1, float* out, float* workspace);

// The largest power of two (<= 256) dividing the byte address of `p` and every batch stride
// `stride_floats` floats beyond it: the alignment every operand of the batch is guaranteed.
int lt_alignment(const void* p, int64_t stride_floats);

namespace cpu {
// Runs the GEMMs of a plan with the CPU sgemm, in order; kTf32 and kBf16 round each operand to
// TF32 or BF16 first.
// The elementwise steps are not run (the caller's device does them).
void run_lt_gemms(const std::vector<LtGemm>& gemms, ConvMath math);
// All of a plan on host memory: the permutes, the zeroing and the GEMMs.
void run_lt_plan(const LtPlan& plan, const TemporalConvShape& shape);
}  // namespace cpu

}  // namespace v3d::kernels
