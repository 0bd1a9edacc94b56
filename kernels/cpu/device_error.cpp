// Messages of the device error record (kernels/device_error.h), by the op that raised it.
#include "kernels/device_error.h"

#include "kernels/pose_bank.h"

namespace v3d::kernels {

std::string describe_device_error(const DeviceError& e) {
  const int id = e.op - 1;
  if (id < 0 || id >= static_cast<int>(kOpIdNames.size()))
    return "a kernel raised an error for an unknown op (" + std::to_string(e.op) + ")";
  const std::string op(kOpIdNames[static_cast<size_t>(id)]);
  switch (static_cast<OpId>(id)) {
    case OpId::pose_similarity:
    case OpId::pose_bank:
    case OpId::pose_bank_fuse:
    case OpId::window_gather:
      return pose_bank_check_message(op.c_str(), static_cast<PoseBankCheck>(e.check), e.i, e.j, e.k,
                                     e.value) +
             " (found on the device)";
    default:
      return op + ": the kernel's check " + std::to_string(e.check) + " failed on the device";
  }
}

}  // namespace v3d::kernels
