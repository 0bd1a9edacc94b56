// Errors a kernel finds in data only the device holds (an index out of range), reported without a
// copy to the host per call. Each device has one small error record in device memory; the first
// kernel to find an error claims it and writes what it found, and the runtime reads the record at
// the next synchronisation of that device and throws a v3d::Error naming the op
// (runtime/device_error.h). Kernels that raise errors keep every read in bounds regardless.
#pragma once

#include <cstdint>
#include <string>

#include "kernels/op_id.h"

namespace v3d::kernels {

// The record, kDeviceErrorWords int32 in device memory, all zero while no error was raised:
//   [0] the op's OpId + 1 (claimed with a compare-and-swap: the first error wins)
//   [1] the op's check code (the op's contract names its codes), [2] [3] [4] three indices i, j, k,
//   [5] the offending value.
inline constexpr int kDeviceErrorWords = 8;

struct DeviceError {
  int32_t op = 0;  // OpId + 1, 0 when none
  int32_t check = 0;
  int32_t i = 0, j = 0, k = 0, value = 0;
};

// "op: <what the op's check code says>"; the op's family formats its own codes.
std::string describe_device_error(const DeviceError& e);

}  // namespace v3d::kernels
