// The one header every kernels/**/*.cu includes. Under nvcc it is the real CUDA runtime; under
// the host compiler it is the CUDA emulation in kernels/gpu/emu, so the same kernel source also
// executes on machines without a GPU. Both branches provide:
//   V3D_GPU_NS                     the namespace of this copy's symbols (cuda or emu)
//   V3D_UNROLL                     unroll the next loop under nvcc (nothing in the emulator)
//   GPU_LAUNCH(k, grid, block, smem, stream, args...)   launch; template kernels as (k<T, 4>)
//   GPU_DYNAMIC_SHARED(T, name)    T* name = the block's dynamic shared memory
//   GPU_SHARED(T, name, dims)      static shared memory `__shared__ T name dims;` (dims may be
//                                  empty for a scalar); the only way to declare it
//   namespace gpu                  the thin host API (Malloc, Memcpy, streams, events, errors)
// Device-only code is written `#if defined(__CUDA_ARCH__) || defined(CUEMU)`.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__CUDACC__)

#include <cuda_runtime.h>

#define V3D_GPU_NS cuda

// Asks nvcc to unroll the next loop (the host compiler would reject the pragma as unknown).
#define V3D_UNROLL _Pragma("unroll")

#define GPU_LAUNCH(kernel, grid, block, smem, stream, ...) \
  kernel<<<(grid), (block), (smem), static_cast<cudaStream_t>(stream)>>>(__VA_ARGS__)

// One byte array aliased by every declaration, as CUDA requires; typed views keep different
// kernels of one file free to use different element types.
#define GPU_DYNAMIC_SHARED(T, name)                                   \
  extern __shared__ __align__(128) unsigned char v3d_dynamic_smem_[]; \
  T* name = reinterpret_cast<T*>(v3d_dynamic_smem_)

#define GPU_SHARED(T, name, ...) __shared__ T name __VA_ARGS__

namespace v3d_cuda_api {

using Error = cudaError_t;
inline constexpr Error kSuccess = cudaSuccess;
using Stream = cudaStream_t;
using Event = cudaEvent_t;
enum class CopyKind { HostToDevice, DeviceToHost, DeviceToDevice, HostToHost };

inline cudaMemcpyKind to_cuda(CopyKind kind) {
  switch (kind) {
    case CopyKind::HostToDevice:
      return cudaMemcpyHostToDevice;
    case CopyKind::DeviceToHost:
      return cudaMemcpyDeviceToHost;
    case CopyKind::DeviceToDevice:
      return cudaMemcpyDeviceToDevice;
    case CopyKind::HostToHost:
      return cudaMemcpyHostToHost;
  }
  return cudaMemcpyDefault;
}

// Stream parameters take void* so a kernels::StreamHandle, a Stream and nullptr all fit.
inline cudaStream_t to_stream(void* s) { return static_cast<cudaStream_t>(s); }

inline Error Malloc(void** ptr, size_t bytes) { return cudaMalloc(ptr, bytes); }
inline Error Free(void* ptr) { return cudaFree(ptr); }
inline Error MallocHost(void** ptr, size_t bytes) { return cudaMallocHost(ptr, bytes); }
inline Error FreeHost(void* ptr) { return cudaFreeHost(ptr); }
inline Error Memcpy(void* dst, const void* src, size_t bytes, CopyKind kind) {
  return cudaMemcpy(dst, src, bytes, to_cuda(kind));
}
inline Error MemcpyAsync(void* dst, const void* src, size_t bytes, CopyKind kind, void* stream) {
  return cudaMemcpyAsync(dst, src, bytes, to_cuda(kind), to_stream(stream));
}
inline Error Memset(void* ptr, int value, size_t bytes) { return cudaMemset(ptr, value, bytes); }
inline Error MemsetAsync(void* ptr, int value, size_t bytes, void* stream) {
  return cudaMemsetAsync(ptr, value, bytes, to_stream(stream));
}
inline Error StreamCreate(Stream* stream) { return cudaStreamCreate(stream); }
inline constexpr unsigned kStreamNonBlocking = cudaStreamNonBlocking;
inline Error StreamCreateWithFlags(Stream* stream, unsigned flags) {
  return cudaStreamCreateWithFlags(stream, flags);
}
inline Error StreamDestroy(void* stream) { return cudaStreamDestroy(to_stream(stream)); }
inline Error StreamSynchronize(void* stream) { return cudaStreamSynchronize(to_stream(stream)); }
inline Error StreamWaitEvent(void* stream, Event event) {
  return cudaStreamWaitEvent(to_stream(stream), event, 0);
}
inline Error EventCreate(Event* event) { return cudaEventCreate(event); }
inline Error EventDestroy(Event event) { return cudaEventDestroy(event); }
inline Error EventRecord(Event event, void* stream) {
  return cudaEventRecord(event, to_stream(stream));
}
inline Error EventSynchronize(Event event) { return cudaEventSynchronize(event); }
inline Error EventElapsedTime(float* ms, Event start, Event end) {
  return cudaEventElapsedTime(ms, start, end);
}
inline Error DeviceSynchronize() { return cudaDeviceSynchronize(); }
inline Error GetLastError() { return cudaGetLastError(); }
inline Error PeekAtLastError() { return cudaPeekAtLastError(); }
inline const char* GetErrorString(Error error) { return cudaGetErrorString(error); }
inline Error GetDeviceCount(int* count) { return cudaGetDeviceCount(count); }
inline Error SetDevice(int device) { return cudaSetDevice(device); }
inline Error GetDevice(int* device) { return cudaGetDevice(device); }
inline Error DeviceComputeCapability(int device, int* major, int* minor) {
  Error e = cudaDeviceGetAttribute(major, cudaDevAttrComputeCapabilityMajor, device);
  if (e == cudaSuccess)
    e = cudaDeviceGetAttribute(minor, cudaDevAttrComputeCapabilityMinor, device);
  return e;
}
inline Error MemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  return cudaMemGetInfo(free_bytes, total_bytes);
}
template <class T>
Error MemcpyToSymbol(const T& symbol, const void* src, size_t bytes, size_t offset = 0) {
  return cudaMemcpyToSymbol(symbol, src, bytes, offset, cudaMemcpyHostToDevice);
}
template <class K>
Error FuncSetMaxDynamicSharedMemory(K kernel, int bytes) {
  return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
}
inline bool is_device_pointer(const void* ptr) {
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, ptr) != cudaSuccess) {
    cudaGetLastError();  // a failed query must not leave a sticky error behind
    return false;
  }
  return attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged;
}

}  // namespace v3d_cuda_api

namespace gpu = v3d_cuda_api;

#else  // host emulation

#ifndef CUEMU
#define CUEMU 1
#endif

#define V3D_GPU_NS emu
#define V3D_UNROLL

#include "kernels/gpu/emu/host_api.h"
#include "kernels/gpu/emu/intrinsics.h"
#include "kernels/gpu/emu/runtime.h"
#include "kernels/gpu/emu/types.h"

// The stringised kernel expression keys cuemu::launch_counts().
#define GPU_LAUNCH(kernel, grid, block, smem, stream, ...)            \
  ::cuemu::launch(#kernel, dim3(grid), dim3(block), (smem), (stream), \
                  kernel __VA_OPT__(, ) __VA_ARGS__)

#define GPU_DYNAMIC_SHARED(T, name) T* name = ::cuemu::dynamic_smem<T>()

// One storage per declaration and OS thread, as CUDA's per-block storage (a block never leaves
// its OS thread); `name` is a reference to it that the first lane of each block to pass the
// declaration poisons, so no block or kernel sees another's values.
#define GPU_SHARED(T, name, ...)                                            \
  static thread_local T cuemu_shared_##name __VA_ARGS__;                    \
  static thread_local ::cuemu::detail::SharedSlot cuemu_shared_slot_##name; \
  auto& name = ::cuemu::detail::static_shared(cuemu_shared_slot_##name, cuemu_shared_##name)

namespace gpu = cuemu;

#endif
