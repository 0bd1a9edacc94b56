// Process-wide kernel settings.
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "kernels/common.h"

namespace v3d::kernels {
namespace {
std::atomic<bool>& sync_flag() {
  static std::atomic<bool> flag{[] {
    const char* env = std::getenv("V3D_SYNC_OPS");
    return env != nullptr && std::strcmp(env, "1") == 0;
  }()};
  return flag;
}
}  // namespace

bool sync_after_ops() { return sync_flag().load(std::memory_order_relaxed); }
void set_sync_after_ops(bool on) { sync_flag().store(on, std::memory_order_relaxed); }

}  // namespace v3d::kernels
