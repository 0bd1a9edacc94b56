// The tensor-core temporal convolutions (kernels/cuda/temporal_conv_tc.cu), called by the
// launchers of kernels/cuda/temporal_conv.cu when shape.math is kTf32 or kBf16, and what the two
// files share: the result storers of the implicit GEMMs and the float32 file's helper kernels.
#pragma once

#include "kernels/cuda/mma.cuh"
#include "kernels/gpu/compat.h"
#include "kernels/temporal_conv.h"

namespace v3d::kernels::V3D_GPU_NS {

// y (B, T_out, C_out) = conv(x, w) with TF32 or BF16 operands (s.math) and float32 accumulation;
// s is validated. workspace: temporal_conv_workspace_floats(s, kForward) floats, where w is
// permuted tap-major first (K > 1).
void temporal_conv_fwd_tc(const TemporalConvShape& s, const float* x, const float* w, float* y,
                          float* workspace, gpu::Stream stream);
// d_x (B, T_in, C_in) from d_y and w, rounded likewise; workspace as for the forward.
void temporal_conv_bwd_data_tc(const TemporalConvShape& s, const float* d_y, const float* w,
                               float* d_x, float* workspace, gpu::Stream stream);
// d_w (C_out, C_in, K) from x and d_y, rounded likewise; `workspace` as for the float32 launcher
// (the split partial sums, temporal_conv_weight_split).
void temporal_conv_bwd_weight_tc(const TemporalConvShape& s, const float* x, const float* d_y,
                                 float* d_w, float* workspace, gpu::Stream stream);

// The BF16 passes with their activation and gradient operands given in BF16 (kernels/
// temporal_conv.h, TemporalConvBf16Args): only where temporal_conv_tc_bf16_staged, the BF16
// operands 16-byte aligned (errors otherwise); workspace: the args' workspace_floats().
void temporal_conv_fwd_tc_bf16(const TemporalConvShape& s, const uint16_t* x16, const float* w,
                               float* y, float* workspace, gpu::Stream stream);
void temporal_conv_bwd_data_tc_bf16(const TemporalConvShape& s, const uint16_t* dy16,
                                    const float* w, float* d_x, float* workspace,
                                    gpu::Stream stream);
void temporal_conv_bwd_weight_tc_bf16(const TemporalConvShape& s, const uint16_t* x16,
                                      const uint16_t* dy16, float* d_w, float* workspace,
                                      gpu::Stream stream);

// The forward and bwd_data on Hopper's warpgroup MMA (kernels/cuda/temporal_conv_wgmma.cu,
// ConvTile::kHopper): whether they run `pass` of shape s with the operand `act` (x or d_y) and the
// weights w as the pass reads them on the current device (temporal_conv_wgmma_shape, both 16-byte
// aligned, compute capability 9.0, whose code is sm_90a), and the launches, on float32 (TF32) or
// BF16 operands (s.math): the forward on x and wp (tap-major, (C_out, K, C_in)), bwd_data on d_y
// and wt ((K, C_in, C_out), WeightOrder::kOutputInner); bwd_weight (BF16; `act` d_y, `w` x).
bool temporal_conv_wgmma_fits(const TemporalConvShape& s, TemporalConvPass pass, const void* act,
                              const void* w);
void temporal_conv_fwd_wgmma(const TemporalConvShape& s, const void* x, const void* wp, float* y,
                             gpu::Stream stream);
void temporal_conv_bwd_data_wgmma(const TemporalConvShape& s, const void* d_y, const void* wt,
                                  float* d_x, gpu::Stream stream);
// bwd_weight on x and d_y, split as temporal_conv_weight_split says (the partial sums in the
// workspace when it splits): in BF16 on the BF16 copies, in TF32 on the float32 tensors, which it
// transposes into the workspace (temporal_conv_wgmma_weight_layout).
void temporal_conv_bwd_weight_wgmma(const TemporalConvShape& s, const void* x, const void* d_y,
                                    float* d_w, float* workspace, gpu::Stream stream);

// Orders of the weights' elements: PyTorch's (C_out, C_in, K), tap-major (C_out, K, C_in), and
// (K, C_in, C_out) with the outputs innermost.
enum class WeightOrder : uint8_t { kPyTorch, kTapMajor, kOutputInner };
// to = from permuted from one order to another (kernels/cuda/temporal_conv_lt.cu), as float32 or
// rounded as the tensor cores' operands: to BF16 (uint16_t, cvt.rn.bf16x2) or to TF32 (uint32_t,
// float32 words, cvt.rn.tf32.f32); `what` names the launch in errors.
template <class Out>
void temporal_conv_permute_weights(const TemporalConvShape& s, WeightOrder from_order,
                                   WeightOrder to_order, const float* from, Out* to,
                                   gpu::Stream stream, const char* what);
// Sets the d_x frames no output reads to 0 (after a GEMM that stored d_X_col straight into d_x);
// nothing to do when every frame is read.
void temporal_conv_zero_unread_frames(const TemporalConvShape& s, float* d_x, gpu::Stream stream);
// partial (splits, C_out, K*C_in) -> d_w (C_out, C_in, K), summed in split order.
void temporal_conv_sum_splits(const TemporalConvShape& s, int64_t splits, const float* partial,
                              float* d_w, gpu::Stream stream);

// Result storers of the implicit GEMMs: store(m, n, split, value).
namespace conv_store {

// C (M, N) row-major with leading dimension ld.
struct RowMajor {
  float* c;
  int64_t ld;
  __device__ void store(int64_t m, int64_t n, int, float v) const { c[m * ld + n] = v; }
};

// The forward's y (B*T_out, C_out) through the shape's epilogue (bias, ReLU, residual), or its
// BF16 rounding into epilogue.y_bf16 instead.
struct Forward {
  float* y;
  TemporalConvShape s;
  int64_t t_out;
  __device__ void store(int64_t m, int64_t n, int, float v) const {
    const float out = s.epilogue.apply(v, m, n, t_out, s.c_out);
    if (s.epilogue.y_bf16 != nullptr) {
      s.epilogue.y_bf16[m * s.c_out + n] = tc::to_bf16(out);
    } else {
      y[m * s.c_out + n] = out;
    }
  }
};

// d_X_col element (m, r) into its own d_x element (disjoint windows only).
struct IntoInputGrad {
  float* d_x;
  TemporalConvShape s;
  int64_t t_out;
  __device__ void store(int64_t m, int64_t r, int, float v) const {
    const int64_t b = m / t_out, t = m - b * t_out;
    const int64_t tap = r / s.c_in, ci = r - tap * s.c_in;
    d_x[(b * s.t_in + t * s.stride + tap * s.dilation) * s.c_in + ci] = v;
  }
};

// d_W_perm element (co, r) into d_w (C_out, C_in, K).
struct WeightGrad {
  float* d_w;
  TemporalConvShape s;
  __device__ void store(int64_t co, int64_t r, int, float v) const {
    const int64_t tap = r / s.c_in, ci = r - tap * s.c_in;
    d_w[(co * s.c_in + ci) * s.k + tap] = v;
  }
};

// Partial d_W_perm of split z into workspace (splits, C_out, K*C_in).
struct WeightPartial {
  float* partial;
  int64_t c_out, n;
  __device__ void store(int64_t co, int64_t r, int z, float v) const {
    partial[(z * c_out + co) * n + r] = v;
  }
};

}  // namespace conv_store
}  // namespace v3d::kernels::V3D_GPU_NS
