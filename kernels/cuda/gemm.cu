// CUDA backend of kernels/gemm.h: cuBLAS, which is column-major, computes the row-major product
// as C^T = op(B)^T * op(A)^T, i.e. with A and B swapped. Under emulation the CPU backend runs.
#include "kernels/gemm.h"
#include "kernels/gpu/check.h"
#include "kernels/gpu/compat.h"
#include "kernels/gpu/kind.h"

#if defined(__CUDACC__)
#include <map>
#include <utility>

namespace v3d::kernels::cuda {
namespace {
// One handle per host thread, device and stream: cuBLAS handles are not thread-safe to share, a
// handle belongs to the device that was current when it was created, and its workspace is used in
// the order of the stream it is bound to, so two streams never share one.
cublasHandle_t handle(cudaStream_t stream) {
  int device = 0;
  V3D_CUDA_CHECK(cudaGetDevice(&device));
  thread_local std::map<std::pair<int, cudaStream_t>, cublasHandle_t> handles;
  const auto key = std::make_pair(device, stream);
  const auto it = handles.find(key);
  if (it != handles.end()) return it->second;
  cublasHandle_t created = nullptr;
  V3D_CUBLAS_CHECK(cublasCreate(&created));
  V3D_CUBLAS_CHECK(cublasSetMathMode(created, CUBLAS_DEFAULT_MATH));
  V3D_CUBLAS_CHECK(cublasSetStream(created, stream));
  handles.emplace(key, created);
  return created;
}
}  // namespace
}  // namespace v3d::kernels::cuda
#endif

namespace v3d::kernels::launch {

template <>
void gemm<V3D_GPU_KIND>(const GemmArgs& g, StreamHandle s) {
#if defined(__CUDACC__)
  g.validate("gemm");
  if (g.m == 0 || g.n == 0) return;
  cublasHandle_t h = cuda::handle(static_cast<cudaStream_t>(s));
  if (g.k == 0) {
    // The product is empty: C = beta * C, where beta = 0 must overwrite (even NaN).
    const auto stream = static_cast<cudaStream_t>(s);
    if (g.beta == 0.0f) {
      V3D_CUDA_CHECK(
          cudaMemset2DAsync(g.c, g.ldc * sizeof(float), 0, g.n * sizeof(float), g.m, stream));
    } else {
      const float zero = 0.0f;
      V3D_CUBLAS_CHECK(cublasSgeam(h, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(g.n),
                                   static_cast<int>(g.m), &g.beta, g.c, static_cast<int>(g.ldc),
                                   &zero, g.c, static_cast<int>(g.ldc), g.c,
                                   static_cast<int>(g.ldc)));
    }
    return;
  }
  V3D_CUBLAS_CHECK(cublasSgemm(h, g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                               g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(g.n),
                               static_cast<int>(g.m), static_cast<int>(g.k), &g.alpha, g.b,
                               static_cast<int>(g.ldb), g.a, static_cast<int>(g.lda), &g.beta, g.c,
                               static_cast<int>(g.ldc)));
  V3D_LAUNCH_CHECK("gemm", static_cast<cudaStream_t>(s));
#else
  // cuBLAS's place in stream order: the CPU product runs as a queued host task, after checking
  // that every operand is memory of the stream's device, as cuBLAS's kernels would need.
  g.validate("gemm");
  if (g.m == 0 || g.n == 0) return;
  const size_t a_bytes = g.a_extent(), b_bytes = g.b_extent(), c_bytes = g.c_extent();
  V3D_CUDA_CHECK(::gpu::HostTask(s, [g, a_bytes, b_bytes, c_bytes](int device) {
    if (a_bytes > 0) ::gpu::require_device_range("gemm", "operand A", g.a, a_bytes, device);
    if (b_bytes > 0) ::gpu::require_device_range("gemm", "operand B", g.b, b_bytes, device);
    ::gpu::require_device_range("gemm", "operand C", g.c, c_bytes, device);
    cpu::gemm(g);
  }));
  V3D_LAUNCH_CHECK("gemm", s);
#endif
}

}  // namespace v3d::kernels::launch
