// The host-side services of a GPU backend (memory, copies, streams, events), behind one interface
// so that the runtime is written once for CUDA and for its host emulation. The implementation,
// runtime/gpu/gpu_api.cu, is compiled by nvcc and by the host compiler against the emulator.
// Every method throws v3d::Error on failure, naming the call and the backend's error string.
#pragma once

#include <cstddef>
#include <string>

#include "kernels/common.h"

namespace v3d {

enum class CopyDir { kHostToDevice, kDeviceToHost, kDeviceToDevice };

class GpuApi {
 public:
  virtual ~GpuApi() = default;
  virtual const char* name() const = 0;
  // Number of usable devices; 0 with *why set when none (e.g. an insufficient driver).
  virtual int device_count(std::string* why) = 0;
  virtual void set_device(int index) = 0;
  virtual int current_device() = 0;  // this host thread's current device

  virtual void* malloc(size_t bytes) = 0;  // nullptr when out of memory, throws on other errors
  virtual void free(void* ptr) = 0;
  virtual void* malloc_host(size_t bytes) = 0;  // page-locked where the backend has it
  virtual void free_host(void* ptr) = 0;
  virtual void mem_info(size_t* free_bytes, size_t* total_bytes) = 0;

  // Asynchronous on `stream` where the backend allows it.
  virtual void copy(void* dst, const void* src, size_t bytes, CopyDir dir,
                    kernels::StreamHandle stream) = 0;
  virtual void memset(void* dst, int value, size_t bytes, kernels::StreamHandle stream) = 0;

  // non_blocking: no implicit ordering with the legacy default stream (cudaStreamNonBlocking).
  virtual kernels::StreamHandle stream_create(bool non_blocking) = 0;
  virtual void stream_destroy(kernels::StreamHandle stream) = 0;
  virtual void stream_synchronize(kernels::StreamHandle stream) = 0;
  virtual void stream_wait_event(kernels::StreamHandle stream, void* event) = 0;

  virtual void* event_create() = 0;
  virtual void event_destroy(void* event) = 0;
  virtual void event_record(void* event, kernels::StreamHandle stream) = 0;
  virtual void event_synchronize(void* event) = 0;
  virtual float event_elapsed_ms(void* start, void* end) = 0;

  virtual void device_synchronize() = 0;
};

// The backend for CUDA (throws when the build has none) or for the emulator.
GpuApi& gpu_api(kernels::GpuKind kind);

}  // namespace v3d
