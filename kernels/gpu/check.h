// Check macros for GPU host calls and launches; they throw v3d::Error naming the expression (or
// the op), the GPU error string, the file and the line. Identical under nvcc and the emulator
// because they only use the gpu:: host API from compat.h.
#pragma once

#include <string>

#include "kernels/common.h"
#include "kernels/gpu/compat.h"

// V3D_CUDA_CHECK(gpu::Malloc(&p, n)): throws when the call does not return gpu::kSuccess.
#define V3D_CUDA_CHECK(expr)                                                          \
  do {                                                                                \
    const ::gpu::Error v3d_cuda_err_ = (expr);                                        \
    if (v3d_cuda_err_ != ::gpu::kSuccess) {                                           \
      /* Clear the error so a later launch check does not report it a second time. */ \
      (void)::gpu::GetLastError();                                                    \
      ::v3d::throw_check_failure(                                                     \
          #expr, __FILE__, __LINE__,                                                  \
          std::string("GPU error: ") + ::gpu::GetErrorString(v3d_cuda_err_));         \
    }                                                                                 \
  } while (0)

// After GPU_LAUNCH: reports a refused launch against the op; with kernels::sync_after_ops() on,
// also waits for the stream so that a fault during execution lands on this op.
#define V3D_LAUNCH_CHECK(op_name, stream)                                                        \
  do {                                                                                           \
    ::gpu::Error v3d_launch_err_ = ::gpu::GetLastError();                                        \
    if (v3d_launch_err_ == ::gpu::kSuccess && ::v3d::kernels::sync_after_ops()) {                \
      v3d_launch_err_ = ::gpu::StreamSynchronize(stream);                                        \
      if (v3d_launch_err_ == ::gpu::kSuccess) v3d_launch_err_ = ::gpu::GetLastError();           \
    }                                                                                            \
    if (v3d_launch_err_ != ::gpu::kSuccess) {                                                    \
      ::v3d::throw_check_failure("launch of " #op_name, __FILE__, __LINE__,                      \
                                 std::string("kernel launch failed in op ") + (op_name) + ": " + \
                                     ::gpu::GetErrorString(v3d_launch_err_));                    \
    }                                                                                            \
  } while (0)

#if defined(__CUDACC__)
#include <cublas_v2.h>

// V3D_CUBLAS_CHECK(cublasSgemm(...)): throws with cuBLAS's status string. nvcc copies only: under
// emulation library calls are not made (the CPU implementation runs instead).
#define V3D_CUBLAS_CHECK(expr)                                                    \
  do {                                                                            \
    const cublasStatus_t v3d_cublas_st_ = (expr);                                 \
    if (v3d_cublas_st_ != CUBLAS_STATUS_SUCCESS) {                                \
      ::v3d::throw_check_failure(                                                 \
          #expr, __FILE__, __LINE__,                                              \
          std::string("cuBLAS error: ") + cublasGetStatusString(v3d_cublas_st_)); \
    }                                                                             \
  } while (0)
#endif
