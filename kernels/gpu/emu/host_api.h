// The emulator's side of the thin host API that launchers use as `gpu::` (compat.h makes
// `gpu` an alias of this namespace; under nvcc the same names wrap the CUDA runtime).
// Memory is host memory; device allocations are kept in a registry, with the emulated device each
// belongs to, so that copies whose kind contradicts the pointers, and device ranges that overrun
// their allocation, are reported as errors; the access checks (runtime.cpp) check kernels' loads
// and stores against it too, and refuse memory of another device.
// There are CUEMU_DEVICES emulated devices (default 2), with a current device per host thread.
// Streams are asynchronous: launches, copies and memsets are queued and run only when something
// synchronises with them (host_api.cpp says exactly when), so a missing stream dependency or a
// host read without a synchronisation sees stale data, as it may on a GPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

namespace cuemu {

// Codes follow cudaError_t's numbering so messages read the same in both builds.
enum class ErrorCode : int {
  kSuccess = 0,
  kInvalidValue = 1,
  kMemoryAllocation = 2,
  kInvalidConfiguration = 9,
  kInvalidDevicePointer = 17,
  kInvalidMemcpyDirection = 21,
  kNoDevice = 100,
  kInvalidDevice = 101,
  kInvalidResourceHandle = 400,
  kNotReady = 600,
  kLaunchFailure = 719,
};
using Error = ErrorCode;
inline constexpr Error kSuccess = ErrorCode::kSuccess;

struct StreamObject;
struct EventObject;
using Stream = StreamObject*;
using Event = EventObject*;

enum class CopyKind { HostToDevice, DeviceToHost, DeviceToDevice, HostToHost };

Error Malloc(void** ptr, size_t bytes);
Error Free(void* ptr);
Error MallocHost(void** ptr, size_t bytes);
Error FreeHost(void* ptr);
Error Memcpy(void* dst, const void* src, size_t bytes, CopyKind kind);
// Stream parameters take void* so that a kernels::StreamHandle, a gpu::Stream and nullptr (the
// default stream) are all accepted.
Error MemcpyAsync(void* dst, const void* src, size_t bytes, CopyKind kind, void* stream);
Error Memset(void* ptr, int value, size_t bytes);
Error MemsetAsync(void* ptr, int value, size_t bytes, void* stream);
Error StreamCreate(Stream* stream);
// cudaStreamNonBlocking: the stream's work does not wait for the legacy default stream's, nor the
// default stream's for its.
inline constexpr unsigned kStreamNonBlocking = 0x01;
Error StreamCreateWithFlags(Stream* stream, unsigned flags);
Error StreamDestroy(void* stream);
Error StreamSynchronize(void* stream);
Error StreamWaitEvent(void* stream, Event event);
Error EventCreate(Event* event);
Error EventDestroy(Event event);
Error EventRecord(Event event, void* stream);
Error EventSynchronize(Event event);
Error EventElapsedTime(float* ms, Event start, Event end);
Error DeviceSynchronize();
Error GetLastError();
Error PeekAtLastError();
const char* GetErrorString(Error error);
Error GetDeviceCount(int* count);
Error SetDevice(int device);
Error GetDevice(int* device);
// A device's compute capability: the emulated devices implement sm_90a's instructions (wgmma
// among them), so 9.0.
Error DeviceComputeCapability(int device, int* major, int* minor);
Error MemGetInfo(size_t* free_bytes, size_t* total_bytes);
// Copies into a __constant__ or __device__ variable (which is plain host memory here).
Error MemcpyToSymbolBytes(void* symbol, const void* src, size_t bytes, size_t offset);
template <class T>
Error MemcpyToSymbol(T& symbol, const void* src, size_t bytes, size_t offset = 0) {
  return MemcpyToSymbolBytes(reinterpret_cast<char*>(&symbol), src, bytes, offset);
}

bool is_device_pointer(const void* ptr);
// The emulated device of a device allocation containing ptr, or -1.
int device_of_pointer(const void* ptr);
// Work items queued on all streams and not yet run (for tests).
uint64_t pending_work();

// Queues host code as a work item on `stream` (a stream of the current device), like
// cudaLaunchHostFunc: the emulated copies of library calls (cuBLAS) run this way, in stream order.
// The task receives the stream's device.
Error HostTask(void* stream, std::function<void(int device)> task);
// Inside a host task: faults (KernelFault, sticky launch failure) unless [ptr, ptr + bytes) lies in
// one device allocation of `device`, as a library kernel would on a GPU.
void require_device_range(const char* op, const char* operand, const void* ptr, size_t bytes,
                          int device);

namespace detail {
// Queues work(device) on the stream (nullptr: the current device's default stream); refuses a
// stream of another device than the current one when current_device_only.
Error enqueue_work(const void* stream, bool current_device_only, std::function<void(int)> work);
Error set_max_dynamic_smem(const void* kernel_key, int bytes);
void set_last_error(Error error);
}  // namespace detail

template <class K>
Error FuncSetMaxDynamicSharedMemory(K kernel, int bytes) {
  return detail::set_max_dynamic_smem(reinterpret_cast<const void*>(kernel), bytes);
}

}  // namespace cuemu
