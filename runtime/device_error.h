// The per-device error record of kernels/device_error.h: ops whose kernels check indices on the
// device get the record of their device, and a synchronisation of that device (synchronize(),
// Stream::synchronize(), every copy to the host) reports what a kernel raised as a v3d::Error
// naming the op. With V3D_SYNC_OPS=1 the op itself reports, right after its launch.
#pragma once

#include <cstdint>

#include "runtime/device.h"

namespace v3d {

// The record of a GPU device (kernels::kDeviceErrorWords int32 of device memory, zeroed), made on
// first use and kept for the process.
int32_t* device_error_record(Device device);

// Throws the first error a kernel raised on `device` since the last check (and clears it). Call
// once the work on `stream` has completed. Costs nothing until an op has taken the record.
void check_device_errors(Device device, kernels::StreamHandle stream);

}  // namespace v3d
