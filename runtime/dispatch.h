// Calls the CPU or the GPU implementation of a kernel for a device. The GPU branch receives the
// GpuKind as a compile-time constant and the device's current stream:
//
//   dispatch(dev, [&] { kernels::cpu::add(a, b, y, n); },
//                 [&](auto kind, kernels::StreamHandle s) {
//                   kernels::launch::add<decltype(kind)::value>(a, b, y, n, s); });
//
// In a build without CUDA the kCuda instantiation is never formed, so nothing refers to launchers
// that were not compiled.
#pragma once

#include <type_traits>

#include "runtime/device.h"
#include "runtime/stream.h"

namespace v3d {

template <class CpuFn, class GpuFn>
void dispatch(Device device, CpuFn&& cpu_fn, GpuFn&& gpu_fn) {
  switch (device.type) {
    case DeviceType::kCPU:
      cpu_fn();
      return;
    case DeviceType::kEmu:
      gpu_fn(std::integral_constant<kernels::GpuKind, kernels::GpuKind::kEmu>{},
             current_stream(device));
      return;
    case DeviceType::kCUDA:
#if V3D_WITH_CUDA
      gpu_fn(std::integral_constant<kernels::GpuKind, kernels::GpuKind::kCuda>{},
             current_stream(device));
      return;
#else
      throw Error("this build of v3d has no CUDA backend");
#endif
  }
}

}  // namespace v3d
