// CUDA launcher of the cuBLASLt backend (kernels/temporal_conv_lt.h): the plan's weight
// permutations are kernels of this file, its zeroing a stream-ordered memset, and its GEMMs
// cublasLtMatmul calls. Under emulation the GEMMs run as one queued host task with the CPU sgemm,
// after checking that every operand of every batch entry is memory of the stream's device, as
// cuBLASLt's kernels would need: the plan's views and strides execute, only the library is
// replaced.
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/temporal_conv_lt.cuh"
#include "kernels/cuda/temporal_conv_tc.cuh"
#include "kernels/gpu/check.h"
#include "kernels/gpu/compat.h"
#include "kernels/gpu/kind.h"
#include "kernels/temporal_conv_lt.h"

#if defined(__CUDACC__)
#include <cublasLt.h>

#include <map>
#include <tuple>
#endif

namespace v3d::kernels::V3D_GPU_NS {
namespace {

constexpr int kPermuteThreads = 256;

// Element (co, ci, tap) of the weights in `order`.
__device__ __forceinline__ int64_t weight_index(WeightOrder order, int64_t c_out, int64_t c_in,
                                                int64_t k, int64_t co, int64_t ci, int64_t tap) {
  switch (order) {
    case WeightOrder::kTapMajor:
      return (co * k + tap) * c_in + ci;
    case WeightOrder::kOutputInner:
      return (tap * c_in + ci) * c_out + co;
    case WeightOrder::kPyTorch:
      break;
  }
  return (co * c_in + ci) * k + tap;
}

// The value stored: float32 as it is, BF16 (uint16_t) or TF32 (uint32_t: a float32 word) rounded
// as the tensor cores' operands are.
__device__ __forceinline__ void store_weight(float* to, float v) { *to = v; }
__device__ __forceinline__ void store_weight(uint16_t* to, float v) { *to = tc::to_bf16(v); }
__device__ __forceinline__ void store_weight(uint32_t* to, float v) { *to = tc::to_tf32(v); }

// to (in to_order) = from (in from_order). Indexed by the destination, so the stores are coalesced.
template <class Out>
__global__ void permute_weights_kernel(int64_t c_out, int64_t c_in, int64_t k,
                                       WeightOrder from_order, WeightOrder to_order,
                                       const float* __restrict__ from, Out* __restrict__ to) {
  const int64_t n = c_out * c_in * k;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    int64_t co, ci, tap;
    switch (to_order) {
      case WeightOrder::kTapMajor:  // i = (co*K + tap)*C_in + ci
        ci = i % c_in, tap = (i / c_in) % k, co = i / (c_in * k);
        break;
      case WeightOrder::kOutputInner:  // i = (tap*C_in + ci)*C_out + co
        co = i % c_out, ci = (i / c_out) % c_in, tap = i / (c_out * c_in);
        break;
      default:  // kPyTorch: i = (co*C_in + ci)*K + tap
        tap = i % k, ci = (i / k) % c_in, co = i / (c_in * k);
        break;
    }
    store_weight(to + i, from[weight_index(from_order, c_out, c_in, k, co, ci, tap)]);
  }
}

// y (B*T_out, C_out) through the shape's epilogue, in place, after the GEMMs.
__global__ void lt_epilogue_kernel(TemporalConvShape s, float* y) {
  const int64_t t_out = s.t_out(), n = s.rows() * s.c_out;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const int64_t m = i / s.c_out, co = i - m * s.c_out;
    y[i] = s.epilogue.apply(y[i], m, co, t_out, s.c_out);
  }
}

// to_tap_major: from (C_out, C_in, K) to (C_out, K, C_in); otherwise the inverse.
void permute(const TemporalConvShape& s, bool to_tap_major, const float* from, float* to,
             gpu::Stream stream) {
  temporal_conv_permute_weights(s, to_tap_major ? WeightOrder::kPyTorch : WeightOrder::kTapMajor,
                                to_tap_major ? WeightOrder::kTapMajor : WeightOrder::kPyTorch, from,
                                to, stream, "temporal_conv (cuBLASLt weight permutation)");
}

#if defined(__CUDACC__)
// One cuBLASLt handle per host thread and device (handles are not bound to a stream).
cublasLtHandle_t lt_handle() {
  int device = 0;
  V3D_CUDA_CHECK(cudaGetDevice(&device));
  thread_local std::map<int, cublasLtHandle_t> handles;
  const auto it = handles.find(device);
  if (it != handles.end()) return it->second;
  cublasLtHandle_t created = nullptr;
  V3D_CUBLAS_CHECK(cublasLtCreate(&created));
  handles.emplace(device, created);
  return created;
}

// A column-major layout of rows x cols with leading dimension ld, batched.
cublasLtMatrixLayout_t layout(int64_t rows, int64_t cols, int64_t ld, int64_t batch,
                              int64_t stride) {
  cublasLtMatrixLayout_t l = nullptr;
  V3D_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&l, CUDA_R_32F, static_cast<uint64_t>(rows),
                                              static_cast<uint64_t>(cols), ld));
  if (batch > 1) {
    const int32_t count = static_cast<int32_t>(batch);
    V3D_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count,
                                                      sizeof(count)));
    V3D_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(
        l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)));
  }
  return l;
}

// Everything a call's descriptors and the heuristic's answer depend on.
using CallKey = std::tuple<int, int, bool, bool, int64_t, int64_t, int64_t, int64_t, int64_t,
                           int64_t, int64_t, int64_t, int64_t, int64_t, int, int, int>;

// The descriptors and algorithm of one call shape, made once per host thread and kept for the
// process (like the handles), so a call only launches.
struct LtCall {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, lc = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

LtCall make_call(const LtGemm& lt, cublasComputeType_t compute, int align_a, int align_b,
                 int align_c) {
  const GemmArgs& g = lt.g;
  LtCall call;
  V3D_CUBLAS_CHECK(cublasLtMatmulDescCreate(&call.desc, compute, CUDA_R_32F));
  const cublasOperation_t op_a = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  V3D_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(call.desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof(op_a)));
  V3D_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(call.desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof(op_b)));
  // Column-major shapes: A' = our B (n x k after op), B' = our A (k x m after op), C' (n x m).
  call.la = g.trans_b ? layout(g.k, g.n, g.ldb, lt.batch, lt.stride_b)
                      : layout(g.n, g.k, g.ldb, lt.batch, lt.stride_b);
  call.lb = g.trans_a ? layout(g.m, g.k, g.lda, lt.batch, lt.stride_a)
                      : layout(g.k, g.m, g.lda, lt.batch, lt.stride_a);
  call.lc = layout(g.n, g.m, g.ldc, lt.batch, lt.stride_c);
  cublasLtMatmulPreference_t pref = nullptr;
  V3D_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  const uint64_t ws_bytes = static_cast<uint64_t>(kLtLibraryWorkspaceBytes);
  V3D_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_bytes, sizeof(ws_bytes)));
  const uint32_t aa = align_a, ab = align_b, ac = align_c;
  V3D_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &aa, sizeof(aa)));
  V3D_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &ab, sizeof(ab)));
  V3D_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &ac, sizeof(ac)));
  V3D_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &ac, sizeof(ac)));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  V3D_CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(lt_handle(), call.desc, call.la, call.lb, call.lc,
                                                  call.lc, pref, 1, &result, &found));
  cublasLtMatmulPreferenceDestroy(pref);
  V3D_CHECK(found > 0, "temporal_conv (cuBLASLt): no algorithm for a GEMM of "
                           << g.m << " x " << g.n << " x " << g.k << " (batch " << lt.batch << ")");
  call.algo = result.algo;
  return call;
}

// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: cuBLASLt's A is our B.
void lt_matmul(const LtGemm& lt, ConvMath math, void* library_ws, gpu::Stream stream) {
  const GemmArgs& g = lt.g;
  const cublasComputeType_t compute = math == ConvMath::kTf32   ? CUBLAS_COMPUTE_32F_FAST_TF32
                                      : math == ConvMath::kBf16 ? CUBLAS_COMPUTE_32F_FAST_16BF
                                                                : CUBLAS_COMPUTE_32F;
  const int align_a = lt_alignment(g.b, lt.stride_b), align_b = lt_alignment(g.a, lt.stride_a),
            align_c = lt_alignment(g.c, lt.stride_c);
  int device = 0;
  V3D_CUDA_CHECK(cudaGetDevice(&device));
  const CallKey key{device,      static_cast<int>(compute),
                    g.trans_a,   g.trans_b,
                    g.m,         g.n,
                    g.k,         g.lda,
                    g.ldb,       g.ldc,
                    lt.batch,    lt.stride_a,
                    lt.stride_b, lt.stride_c,
                    align_a,     align_b,
                    align_c};
  thread_local std::map<CallKey, LtCall> calls;
  auto it = calls.find(key);
  if (it == calls.end())
    it = calls.emplace(key, make_call(lt, compute, align_a, align_b, align_c)).first;
  const LtCall& call = it->second;
  V3D_CUBLAS_CHECK(cublasLtMatmul(lt_handle(), call.desc, &g.alpha, g.b, call.la, g.a, call.lb,
                                  &g.beta, g.c, call.lc, g.c, call.lc, &call.algo, library_ws,
                                  static_cast<size_t>(kLtLibraryWorkspaceBytes), stream));
}
#endif

}  // namespace

void temporal_conv_lt(const TemporalConvShape& shape, TemporalConvPass pass, const float* in0,
                      const float* in1, float* out, float* workspace, gpu::Stream stream) {
  V3D_CHECK(workspace != nullptr, "temporal_conv (cuBLASLt): the backend needs a workspace of "
                                      << temporal_conv_lt_workspace_floats(shape, pass)
                                      << " floats");
  const LtPlan plan = temporal_conv_lt_plan(shape, pass, in0, in1, out, workspace);
  if (plan.permute_to != nullptr) permute(shape, true, plan.permute_from, plan.permute_to, stream);
  if (plan.zero != nullptr)
    V3D_CUDA_CHECK(gpu::MemsetAsync(plan.zero, 0,
                                    static_cast<size_t>(plan.zero_floats) * sizeof(float), stream));
  float* library_ws = workspace + temporal_conv_lt_library_offset(shape);
#if defined(__CUDACC__)
  for (const LtGemm& lt : plan.gemms) lt_matmul(lt, shape.math, library_ws, stream);
  V3D_LAUNCH_CHECK("temporal_conv (cuBLASLt)", stream);
#else
  (void)library_ws;
  V3D_CUDA_CHECK(::gpu::HostTask(stream, [gemms = plan.gemms, math = shape.math](int device) {
    for (const LtGemm& lt : gemms) {
      const GemmArgs& g = lt.g;
      const size_t a = g.a_extent(), b = g.b_extent(), c = g.c_extent();
      for (int64_t i = 0; i < lt.batch; ++i) {
        ::gpu::require_device_range("temporal_conv (cuBLASLt)", "operand A", g.a + i * lt.stride_a,
                                    a, device);
        ::gpu::require_device_range("temporal_conv (cuBLASLt)", "operand B", g.b + i * lt.stride_b,
                                    b, device);
        ::gpu::require_device_range("temporal_conv (cuBLASLt)", "operand C", g.c + i * lt.stride_c,
                                    c, device);
      }
    }
    cpu::run_lt_gemms(gemms, math);
  }));
  V3D_LAUNCH_CHECK("temporal_conv (cuBLASLt)", stream);
#endif
  if (plan.unpermute_to != nullptr)
    permute(shape, false, plan.unpermute_from, plan.unpermute_to, stream);
  if (pass == TemporalConvPass::kForward && shape.epilogue.any()) {
    // cuBLASLt's own epilogues apply the ReLU after a beta * C term, not before our residual.
    const int64_t n = shape.rows() * shape.c_out;
    GPU_LAUNCH(lt_epilogue_kernel, grid_for(n, kPermuteThreads), kPermuteThreads, 0, stream, shape,
               out);
    V3D_LAUNCH_CHECK("temporal_conv (cuBLASLt epilogue)", stream);
  }
}

template <class Out>
void temporal_conv_permute_weights(const TemporalConvShape& s, WeightOrder from_order,
                                   WeightOrder to_order, const float* from, Out* to,
                                   gpu::Stream stream, const char* what) {
  const int64_t n = s.c_out * s.c_in * s.k;
  GPU_LAUNCH(permute_weights_kernel<Out>, grid_for(n, kPermuteThreads), kPermuteThreads, 0, stream,
             s.c_out, s.c_in, s.k, from_order, to_order, from, to);
  V3D_LAUNCH_CHECK(what, stream);
}
template void temporal_conv_permute_weights(const TemporalConvShape&, WeightOrder, WeightOrder,
                                            const float*, float*, gpu::Stream, const char*);
template void temporal_conv_permute_weights(const TemporalConvShape&, WeightOrder, WeightOrder,
                                            const float*, uint16_t*, gpu::Stream, const char*);
template void temporal_conv_permute_weights(const TemporalConvShape&, WeightOrder, WeightOrder,
                                            const float*, uint32_t*, gpu::Stream, const char*);

}  // namespace v3d::kernels::V3D_GPU_NS
