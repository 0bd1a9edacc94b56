// The device side of kernels/device_error.h: records the first error a kernel finds.
#pragma once

#include "kernels/device_error.h"
#include "kernels/gpu/compat.h"

namespace v3d::kernels::V3D_GPU_NS {

// record: kDeviceErrorWords int32, or null when the caller keeps no record.
__device__ inline void raise_device_error(int32_t* record, OpId op, int check, int64_t i, int64_t j,
                                          int64_t k, int64_t value) {
  if (record == nullptr) return;
  if (atomicCAS(record, 0, static_cast<int32_t>(op) + 1) != 0) return;
  record[1] = check;
  record[2] = static_cast<int32_t>(i);
  record[3] = static_cast<int32_t>(j);
  record[4] = static_cast<int32_t>(k);
  record[5] = static_cast<int32_t>(value);
  __threadfence();
}

}  // namespace v3d::kernels::V3D_GPU_NS
