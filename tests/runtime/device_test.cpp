// Device naming and parsing, and whether CUDA is usable.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "runtime/device.h"
#include "runtime/gpu_api.h"
#include "runtime/stream.h"
#include "tests/runtime/test_util.h"

namespace v3d {
namespace {

TEST(Device, Str) {
  EXPECT_EQ(Device::cpu().str(), "cpu");
  EXPECT_EQ(Device::emu().str(), "emu");
  EXPECT_EQ(Device::cuda().str(), "cuda:0");
  EXPECT_EQ(Device::cuda(3).str(), "cuda:3");
}

TEST(Device, KindsAndEquality) {
  EXPECT_TRUE(Device::cpu().is_cpu());
  EXPECT_FALSE(Device::cpu().is_gpu());
  EXPECT_TRUE(Device::emu().is_gpu());
  EXPECT_FALSE(Device::emu().is_cpu());
  EXPECT_TRUE(Device::cuda(1).is_gpu());
  EXPECT_EQ(Device::emu().gpu_kind(), kernels::GpuKind::kEmu);
  EXPECT_EQ(Device::cuda(2).gpu_kind(), kernels::GpuKind::kCuda);
  EXPECT_V3D_ERROR(Device::cpu().gpu_kind(), "device cpu is not a GPU device");

  EXPECT_EQ(Device::cuda(1), Device::cuda(1));
  EXPECT_FALSE(Device::cuda(1) == Device::cuda(0));
  EXPECT_FALSE(Device::cpu() == Device::emu());
  EXPECT_FALSE(Device::emu() == Device::cuda(0));
  EXPECT_EQ(Device(), Device::cpu());
}

TEST(ParseDevice, ValidForms) {
  EXPECT_EQ(parse_device("cpu"), Device::cpu());
  EXPECT_EQ(parse_device("emu"), Device::emu());
  EXPECT_EQ(parse_device("cuda"), Device::cuda(0));
  EXPECT_EQ(parse_device("cuda:0"), Device::cuda(0));
  EXPECT_EQ(parse_device("cuda:1"), Device::cuda(1));
  EXPECT_EQ(parse_device("cuda:15"), Device::cuda(15));
  EXPECT_EQ(parse_device("emu:0"), Device::emu());
  EXPECT_EQ(parse_device("emu:1"), Device::emu(1));
}

TEST(ParseDevice, RoundTripsStr) {
  for (const Device d :
       {Device::cpu(), Device::emu(), Device::cuda(0), Device::cuda(7), Device::emu(1)})
    EXPECT_EQ(parse_device(d.str()), d) << d.str();
}

TEST(ParseDevice, InvalidFormsNameTheValidOnes) {
  for (const char* text :
       {"", "gpu", "CPU", "Cuda", " cpu", "cpu ", "cpu:0", "emu:", "emu:x", "cuda:", "cuda:-1",
        "cuda:+1", "cuda:a", "cuda:1x", "cuda: 1", "cuda:1:2", "cuda0"}) {
    SCOPED_TRACE(std::string("'") + text + "'");
    EXPECT_V3D_ERROR(parse_device(text), std::string("invalid device '") + text + "'",
                     "expected cpu, cuda, cuda:N, emu or emu:N");
  }
}

TEST(ParseDevice, IndexTooLargeForIntIsAV3dError) {
  // std::stoi would throw std::out_of_range here; callers catch v3d::Error.
  EXPECT_V3D_ERROR(parse_device("cuda:99999999999"), "invalid device 'cuda:99999999999'");
  EXPECT_V3D_ERROR(parse_device("cuda:2147483648"), "invalid device");
}

TEST(ParseDevice, UserErrorsCarryNoSourcePlace) {
  for (const char* text : {"tpu", "cuda:x", "cuda:99999999999"}) {
    const std::string msg = test::error_message([&] { parse_device(text); });
    EXPECT_EQ(msg.find("[check"), std::string::npos) << msg;
  }
}

bool machine_has_nvidia_device() {
  return std::filesystem::exists("/dev/nvidia0") || std::filesystem::exists("/dev/nvidiactl");
}

TEST(CudaAvailable, FalseWithAReasonWithoutAGpu) {
  std::string why;
  const bool available = cuda_available(&why);
  if (!cuda_built()) {
    EXPECT_FALSE(available);
    EXPECT_NE(why.find("no CUDA backend"), std::string::npos) << why;
  }
  if (!machine_has_nvidia_device()) {
    EXPECT_FALSE(available);
    EXPECT_FALSE(why.empty());
  }
  if (!available) {
    EXPECT_FALSE(why.empty()) << "an unusable CUDA must say why";
  } else {
    EXPECT_TRUE(cuda_built());
    EXPECT_GE(gpu_api(kernels::GpuKind::kCuda).device_count(nullptr), 1);
  }
  // A null reason pointer is allowed and gives the same answer.
  EXPECT_EQ(cuda_available(nullptr), available);
  EXPECT_EQ(cuda_available(), available);
}

TEST(CudaAvailable, BuiltFlagMatchesTheCompileDefinition) {
  EXPECT_EQ(cuda_built(), V3D_WITH_CUDA != 0);
  if (!cuda_built()) {
    EXPECT_V3D_ERROR(gpu_api(kernels::GpuKind::kCuda), "no CUDA backend");
  }
}

TEST(GpuApi, EmulatorPresentsTwoDevices) {
  GpuApi& api = gpu_api(kernels::GpuKind::kEmu);
  EXPECT_STREQ(api.name(), "emu");
  std::string why;
  EXPECT_EQ(api.device_count(&why), 2);  // CUEMU_DEVICES unset
  EXPECT_EQ(api.current_device(), 0);
  {
    const DeviceGuard guard(Device::emu(1));
    EXPECT_EQ(api.current_device(), 1);
  }
  EXPECT_EQ(api.current_device(), 0);
  EXPECT_EQ(&api, &gpu_api(kernels::GpuKind::kEmu));
  size_t free_bytes = 0, total_bytes = 0;
  api.mem_info(&free_bytes, &total_bytes);
  EXPECT_GT(total_bytes, 0u);
  EXPECT_LE(free_bytes, total_bytes);
}

}  // namespace
}  // namespace v3d
