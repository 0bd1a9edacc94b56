// Device naming and the choice of GPU backend.
#include "runtime/device.h"

#include <utility>

#include "runtime/gpu_api.h"

namespace v3d {

namespace emu {
GpuApi& gpu_api_instance();
}
#if V3D_WITH_CUDA
namespace cuda {
GpuApi& gpu_api_instance();
}
#endif

GpuApi& gpu_api(kernels::GpuKind kind) {
  if (kind == kernels::GpuKind::kEmu) return emu::gpu_api_instance();
#if V3D_WITH_CUDA
  return cuda::gpu_api_instance();
#else
  throw Error("this build of v3d has no CUDA backend (configure with -DV3D_CUDA=ON and nvcc)");
#endif
}

kernels::GpuKind Device::gpu_kind() const {
  V3D_CHECK(is_gpu(), "device " << str() << " is not a GPU device");
  return type == DeviceType::kEmu ? kernels::GpuKind::kEmu : kernels::GpuKind::kCuda;
}

std::string Device::str() const {
  switch (type) {
    case DeviceType::kCPU:
      return "cpu";
    case DeviceType::kCUDA:
      return "cuda:" + std::to_string(index);
    case DeviceType::kEmu:
      return index == 0 ? "emu" : "emu:" + std::to_string(index);
  }
  return "?";
}

Device parse_device(const std::string& text) {
  if (text == "cpu") return Device::cpu();
  if (text == "emu") return Device::emu();
  if (text == "cuda") return Device::cuda(0);
  for (const auto& [prefix, type] : {std::pair{std::string("cuda:"), DeviceType::kCUDA},
                                     {std::string("emu:"), DeviceType::kEmu}}) {
    if (text.rfind(prefix, 0) != 0) continue;
    const std::string idx = text.substr(prefix.size());
    V3D_REQUIRE(!idx.empty() && idx.find_first_not_of("0123456789") == std::string::npos,
                "invalid device '" << text << "': expected cpu, cuda, cuda:N, emu or emu:N");
    V3D_REQUIRE(idx.size() <= 9, "invalid device '" << text << "': index out of range");
    return Device{type, std::stoi(idx)};
  }
  throw Error("invalid device '" + text + "': expected cpu, cuda, cuda:N, emu or emu:N");
}

bool cuda_built() { return V3D_WITH_CUDA != 0; }

bool cuda_available(std::string* why) {
#if V3D_WITH_CUDA
  std::string reason;
  const int n = gpu_api(kernels::GpuKind::kCuda).device_count(&reason);
  if (n > 0) return true;
  if (why) *why = reason.empty() ? "no CUDA device" : reason;
  return false;
#else
  if (why) *why = "this build has no CUDA backend";
  return false;
#endif
}

}  // namespace v3d
