// Where a tensor lives. kEmu is the host emulation of the CUDA backend (kernels/gpu/emu): memory is
// host memory registered as device memory and kernels run on emulated threads. It behaves like a
// CUDA device in every respect the runtime can observe (several devices, asynchronous streams), so
// the CUDA code path is exercised on machines without a GPU. It is a test backend, not a product
// path. "emu" is emu:0.
#pragma once

#include <string>

#include "kernels/common.h"

namespace v3d {

enum class DeviceType : uint8_t { kCPU, kCUDA, kEmu };

struct Device {
  DeviceType type = DeviceType::kCPU;
  int index = 0;

  static constexpr Device cpu() { return {DeviceType::kCPU, 0}; }
  static constexpr Device cuda(int i = 0) { return {DeviceType::kCUDA, i}; }
  static constexpr Device emu(int i = 0) { return {DeviceType::kEmu, i}; }

  bool is_cpu() const { return type == DeviceType::kCPU; }
  // CUDA or emulated CUDA: memory that host code must not touch directly.
  bool is_gpu() const { return type != DeviceType::kCPU; }
  kernels::GpuKind gpu_kind() const;
  std::string str() const;

  friend bool operator==(const Device&, const Device&) = default;
};

// Parses "cpu", "cuda", "cuda:1", "emu", "emu:1". Throws v3d::Error naming the valid forms
// otherwise.
Device parse_device(const std::string& text);

// Whether this build has the CUDA backend compiled in.
bool cuda_built();
// Whether a CUDA device can be used now; when not, *why says why (no backend, no device, driver).
bool cuda_available(std::string* why = nullptr);

}  // namespace v3d
