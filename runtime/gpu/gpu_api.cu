// GpuApi over the thin gpu:: host API of kernels/gpu/compat.h. Compiled twice (see
// cmake/V3dGpu.cmake): by nvcc for CUDA and by the host compiler for the emulator.
#include "kernels/gpu/check.h"
#include "kernels/gpu/compat.h"
#include "runtime/gpu_api.h"

namespace v3d::V3D_GPU_NS {
namespace {

::gpu::CopyKind to_kind(CopyDir dir) {
  switch (dir) {
    case CopyDir::kHostToDevice:
      return ::gpu::CopyKind::HostToDevice;
    case CopyDir::kDeviceToHost:
      return ::gpu::CopyKind::DeviceToHost;
    case CopyDir::kDeviceToDevice:
      return ::gpu::CopyKind::DeviceToDevice;
  }
  return ::gpu::CopyKind::DeviceToDevice;
}

class Api final : public GpuApi {
 public:
#if defined(__CUDACC__)
  const char* name() const override { return "cuda"; }
#else
  const char* name() const override { return "emu"; }
#endif

  int device_count(std::string* why) override {
    int n = 0;
    const ::gpu::Error err = ::gpu::GetDeviceCount(&n);
    if (err != ::gpu::kSuccess) {
      ::gpu::GetLastError();  // clear the sticky error so later checks do not trip on it
      if (why) *why = ::gpu::GetErrorString(err);
      return 0;
    }
    if (n == 0 && why) *why = "no CUDA device found";
    return n;
  }
  void set_device(int index) override { V3D_CUDA_CHECK(::gpu::SetDevice(index)); }
  int current_device() override {
    int device = 0;
    V3D_CUDA_CHECK(::gpu::GetDevice(&device));
    return device;
  }

  void* malloc(size_t bytes) override {
    void* p = nullptr;
    const ::gpu::Error err = ::gpu::Malloc(&p, bytes);
    if (err != ::gpu::kSuccess) {
      ::gpu::GetLastError();
      return nullptr;
    }
    return p;
  }
  void free(void* ptr) override { V3D_CUDA_CHECK(::gpu::Free(ptr)); }
  void* malloc_host(size_t bytes) override {
    void* p = nullptr;
    V3D_CUDA_CHECK(::gpu::MallocHost(&p, bytes));
    return p;
  }
  void free_host(void* ptr) override { V3D_CUDA_CHECK(::gpu::FreeHost(ptr)); }
  void mem_info(size_t* free_bytes, size_t* total_bytes) override {
    V3D_CUDA_CHECK(::gpu::MemGetInfo(free_bytes, total_bytes));
  }

  void copy(void* dst, const void* src, size_t bytes, CopyDir dir,
            kernels::StreamHandle stream) override {
    if (bytes == 0) return;
    V3D_CUDA_CHECK(
        ::gpu::MemcpyAsync(dst, src, bytes, to_kind(dir), static_cast<::gpu::Stream>(stream)));
  }
  void memset(void* dst, int value, size_t bytes, kernels::StreamHandle stream) override {
    if (bytes == 0) return;
    V3D_CUDA_CHECK(::gpu::MemsetAsync(dst, value, bytes, static_cast<::gpu::Stream>(stream)));
  }

  kernels::StreamHandle stream_create(bool non_blocking) override {
    ::gpu::Stream s{};
    V3D_CUDA_CHECK(::gpu::StreamCreateWithFlags(&s, non_blocking ? ::gpu::kStreamNonBlocking : 0u));
    return static_cast<kernels::StreamHandle>(s);
  }
  void stream_destroy(kernels::StreamHandle stream) override {
    V3D_CUDA_CHECK(::gpu::StreamDestroy(static_cast<::gpu::Stream>(stream)));
  }
  void stream_synchronize(kernels::StreamHandle stream) override {
    V3D_CUDA_CHECK(::gpu::StreamSynchronize(static_cast<::gpu::Stream>(stream)));
  }
  void stream_wait_event(kernels::StreamHandle stream, void* event) override {
    V3D_CUDA_CHECK(::gpu::StreamWaitEvent(static_cast<::gpu::Stream>(stream),
                                          static_cast<::gpu::Event>(event)));
  }

  void* event_create() override {
    ::gpu::Event e{};
    V3D_CUDA_CHECK(::gpu::EventCreate(&e));
    return static_cast<void*>(e);
  }
  void event_destroy(void* event) override {
    V3D_CUDA_CHECK(::gpu::EventDestroy(static_cast<::gpu::Event>(event)));
  }
  void event_record(void* event, kernels::StreamHandle stream) override {
    V3D_CUDA_CHECK(
        ::gpu::EventRecord(static_cast<::gpu::Event>(event), static_cast<::gpu::Stream>(stream)));
  }
  void event_synchronize(void* event) override {
    V3D_CUDA_CHECK(::gpu::EventSynchronize(static_cast<::gpu::Event>(event)));
  }
  float event_elapsed_ms(void* start, void* end) override {
    float ms = 0.0f;
    V3D_CUDA_CHECK(::gpu::EventElapsedTime(&ms, static_cast<::gpu::Event>(start),
                                           static_cast<::gpu::Event>(end)));
    return ms;
  }

  void device_synchronize() override { V3D_CUDA_CHECK(::gpu::DeviceSynchronize()); }
};

}  // namespace

GpuApi& gpu_api_instance() {
  static Api api;
  return api;
}

}  // namespace v3d::V3D_GPU_NS
