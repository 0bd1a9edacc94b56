// DeviceBuffer: one device allocation of the emulator self-tests, copied in from and out to host
// vectors. Included by the .cu files of tests/emu inside their V3D_GPU_NS namespace, so each copy
// (emu, cuda) has its own.
#pragma once

#include <cstddef>
#include <vector>

#include "kernels/gpu/check.h"
#include "kernels/gpu/compat.h"

namespace v3d::emutest::V3D_GPU_NS {

// Owns one device allocation; copies in from and out to host vectors.
template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t count) : count_(count) {
    void* p = nullptr;
    V3D_CUDA_CHECK(gpu::Malloc(&p, count * sizeof(T)));
    ptr_ = static_cast<T*>(p);
    V3D_CUDA_CHECK(gpu::Memset(ptr_, 0, count * sizeof(T)));
  }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) {
    V3D_CUDA_CHECK(gpu::Memcpy(ptr_, host.data(), count_ * sizeof(T), gpu::CopyKind::HostToDevice));
  }
  ~DeviceBuffer() { gpu::Free(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  T* get() const { return ptr_; }
  std::vector<T> download() const {
    std::vector<T> host(count_);
    V3D_CUDA_CHECK(gpu::Memcpy(host.data(), ptr_, count_ * sizeof(T), gpu::CopyKind::DeviceToHost));
    return host;
  }

 private:
  size_t count_;
  T* ptr_ = nullptr;
};

}  // namespace v3d::emutest::V3D_GPU_NS
