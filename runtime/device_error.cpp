// The per-device error record (runtime/device_error.h).
#include "runtime/device_error.h"

#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <utility>

#include "kernels/device_error.h"
#include "runtime/gpu_api.h"
#include "runtime/stream.h"

namespace v3d {

namespace {

struct Records {
  std::mutex mutex;
  std::map<std::pair<int, int>, int32_t*> by_device;
  std::atomic<bool> any{false};  // lets a synchronisation skip the lookup until a record exists
};

Records& records() {
  static Records r;
  return r;
}

std::pair<int, int> key(Device d) { return {static_cast<int>(d.type), d.index}; }

}  // namespace

int32_t* device_error_record(Device device) {
  V3D_CHECK(device.is_gpu(),
            "device error records exist on GPU devices only, not " << device.str());
  Records& r = records();
  std::lock_guard<std::mutex> lock(r.mutex);
  int32_t*& record = r.by_device[key(device)];
  if (record == nullptr) {
    GpuApi& api = gpu_api(device.gpu_kind());
    const DeviceGuard guard(device);
    const size_t bytes = sizeof(int32_t) * kernels::kDeviceErrorWords;
    void* p = api.malloc(bytes);
    V3D_CHECK(p != nullptr, "out of memory for the device error record on " << device.str());
    api.memset(p, 0, bytes, nullptr);
    api.stream_synchronize(nullptr);
    record = static_cast<int32_t*>(p);
    r.any.store(true, std::memory_order_release);
  }
  return record;
}

void check_device_errors(Device device, kernels::StreamHandle stream) {
  Records& r = records();
  if (!device.is_gpu() || !r.any.load(std::memory_order_acquire)) return;
  int32_t* record = nullptr;
  {
    std::lock_guard<std::mutex> lock(r.mutex);
    const auto it = r.by_device.find(key(device));
    if (it == r.by_device.end()) return;
    record = it->second;
  }
  GpuApi& api = gpu_api(device.gpu_kind());
  const DeviceGuard guard(device);
  std::array<int32_t, kernels::kDeviceErrorWords> words{};
  api.copy(words.data(), record, sizeof(words), CopyDir::kDeviceToHost, stream);
  api.stream_synchronize(stream);
  if (words[0] == 0) return;
  api.memset(record, 0, sizeof(words), stream);
  api.stream_synchronize(stream);
  kernels::DeviceError e;
  e.op = words[0];
  e.check = words[1];
  e.i = words[2];
  e.j = words[3];
  e.k = words[4];
  e.value = words[5];
  throw Error(kernels::describe_device_error(e));
}

}  // namespace v3d
