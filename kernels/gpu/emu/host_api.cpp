// The emulator's host API: allocation registry, checked copies, streams, events and the sticky
// last error (per host thread, like CUDA's).
#include "kernels/gpu/emu/host_api.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>

namespace cuemu {

struct StreamObject {
  int unused = 0;
};
struct EventObject {
  std::chrono::steady_clock::time_point time;
  bool recorded = false;
};

namespace {

constexpr size_t kDefaultMaxDynamicSmem = 48 * 1024;
constexpr size_t kOptInMaxDynamicSmem = 227 * 1024;  // H100's opt-in limit per block

struct Registry {
  std::mutex mutex;
  std::map<uintptr_t, size_t> device;  // start -> bytes
  std::map<uintptr_t, size_t> host;    // pinned host memory (MallocHost): start -> bytes
  std::set<const void*> streams;
  std::set<const void*> events;
  std::map<const void*, size_t> max_smem;  // kernel -> raised dynamic shared-memory limit
  size_t device_bytes = 0;
};

Registry& registry() {
  static Registry r;
  return r;
}

thread_local Error t_last_error = kSuccess;

Error fail(Error e) {
  detail::set_last_error(e);
  return e;
}

// The allocation of `map` containing a, or end().
std::map<uintptr_t, size_t>::const_iterator find_in(const std::map<uintptr_t, size_t>& map,
                                                    uintptr_t a) {
  auto it = map.upper_bound(a);
  if (it == map.begin()) return map.end();
  --it;
  return a < it->first + it->second ? it : map.end();
}

// The device allocation containing p, or end().
std::map<uintptr_t, size_t>::const_iterator find_allocation(const Registry& r, const void* p) {
  return find_in(r.device, reinterpret_cast<uintptr_t>(p));
}

bool in_device(const Registry& r, const void* p) { return find_allocation(r, p) != r.device.end(); }

bool range_in_device(const Registry& r, const void* p, size_t bytes) {
  const auto it = find_allocation(r, p);
  return it != r.device.end() && reinterpret_cast<uintptr_t>(p) + bytes <= it->first + it->second;
}

// Device side must lie inside one allocation; host side must not touch a device allocation.
Error check_side(const Registry& r, const void* p, size_t bytes, bool device) {
  if (device) {
    if (!in_device(r, p)) return ErrorCode::kInvalidMemcpyDirection;
    if (!range_in_device(r, p, bytes)) return ErrorCode::kInvalidValue;
  } else if (in_device(r, p)) {
    return ErrorCode::kInvalidMemcpyDirection;
  }
  return kSuccess;
}

}  // namespace

namespace detail {

void set_last_error(Error error) {
  if (error != kSuccess) t_last_error = error;
}

Error set_max_dynamic_smem(const void* kernel_key, int bytes) {
  if (bytes < 0 || static_cast<size_t>(bytes) > kOptInMaxDynamicSmem) {
    return fail(ErrorCode::kInvalidValue);
  }
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.max_smem[kernel_key] = static_cast<size_t>(bytes);
  return kSuccess;
}

size_t max_dynamic_smem(const void* kernel_key) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  const auto it = r.max_smem.find(kernel_key);
  return it == r.max_smem.end() ? kDefaultMaxDynamicSmem
                                : std::max(it->second, kDefaultMaxDynamicSmem);
}

bool allocation_containing(uintptr_t p, uintptr_t* lo, uintptr_t* hi) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (const auto* map : {&r.device, &r.host}) {
    const auto it = find_in(*map, p);
    if (it != map->end()) {
      *lo = it->first;
      *hi = it->first + it->second;
      return true;
    }
  }
  return false;
}

std::string describe_address(uintptr_t p) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  // The nearest device allocation below p: an overrun of it is the likeliest explanation.
  auto it = r.device.upper_bound(p);
  if (it != r.device.begin()) {
    --it;
    const uintptr_t end = it->first + it->second;
    if (p >= end && p - end < 4096) {
      std::ostringstream os;
      os << (p - end) << " bytes past the end of the " << it->second
         << "-byte device allocation at 0x" << std::hex << it->first;
      return os.str();
    }
  }
  return "not in any device allocation (a host pointer?)";
}

bool is_valid_stream(const void* stream) {
  if (stream == nullptr) return true;
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  return r.streams.count(stream) != 0;
}

}  // namespace detail

Error Malloc(void** ptr, size_t bytes) {
  if (ptr == nullptr) return fail(ErrorCode::kInvalidValue);
  // CUDA hands out 256-byte aligned memory; a zero-byte request still gets a distinct pointer.
  const size_t rounded = (std::max<size_t>(bytes, 1) + 255) / 256 * 256;
  void* p = std::aligned_alloc(256, rounded);
  if (p == nullptr) return fail(ErrorCode::kMemoryAllocation);
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.device[reinterpret_cast<uintptr_t>(p)] = bytes;
  r.device_bytes += bytes;
  *ptr = p;
  return kSuccess;
}

Error Free(void* ptr) {
  if (ptr == nullptr) return kSuccess;
  Registry& r = registry();
  {
    std::lock_guard<std::mutex> lock(r.mutex);
    const auto it = r.device.find(reinterpret_cast<uintptr_t>(ptr));
    if (it == r.device.end()) return fail(ErrorCode::kInvalidDevicePointer);
    r.device_bytes -= it->second;
    r.device.erase(it);
  }
  std::free(ptr);
  return kSuccess;
}

Error MallocHost(void** ptr, size_t bytes) {
  if (ptr == nullptr) return fail(ErrorCode::kInvalidValue);
  void* p = std::aligned_alloc(256, (std::max<size_t>(bytes, 1) + 255) / 256 * 256);
  if (p == nullptr) return fail(ErrorCode::kMemoryAllocation);
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.host[reinterpret_cast<uintptr_t>(p)] = bytes;
  *ptr = p;
  return kSuccess;
}

Error FreeHost(void* ptr) {
  if (ptr == nullptr) return kSuccess;
  Registry& r = registry();
  {
    std::lock_guard<std::mutex> lock(r.mutex);
    if (r.host.erase(reinterpret_cast<uintptr_t>(ptr)) == 0) return fail(ErrorCode::kInvalidValue);
  }
  std::free(ptr);
  return kSuccess;
}

Error Memcpy(void* dst, const void* src, size_t bytes, CopyKind kind) {
  if (bytes == 0) return kSuccess;
  if (dst == nullptr || src == nullptr) return fail(ErrorCode::kInvalidValue);
  const bool dst_dev = kind == CopyKind::HostToDevice || kind == CopyKind::DeviceToDevice;
  const bool src_dev = kind == CopyKind::DeviceToHost || kind == CopyKind::DeviceToDevice;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    Error e = check_side(r, dst, bytes, dst_dev);
    if (e == kSuccess) e = check_side(r, src, bytes, src_dev);
    if (e != kSuccess) return fail(e);
  }
  std::memmove(dst, src, bytes);
  return kSuccess;
}

Error MemcpyAsync(void* dst, const void* src, size_t bytes, CopyKind kind, void* stream) {
  if (!detail::is_valid_stream(stream)) return fail(ErrorCode::kInvalidResourceHandle);
  return Memcpy(dst, src, bytes, kind);
}

Error Memset(void* ptr, int value, size_t bytes) {
  if (bytes == 0) return kSuccess;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    if (!range_in_device(r, ptr, bytes)) return fail(ErrorCode::kInvalidValue);
  }
  std::memset(ptr, value, bytes);
  return kSuccess;
}

Error MemsetAsync(void* ptr, int value, size_t bytes, void* stream) {
  if (!detail::is_valid_stream(stream)) return fail(ErrorCode::kInvalidResourceHandle);
  return Memset(ptr, value, bytes);
}

Error MemcpyToSymbolBytes(void* symbol, const void* src, size_t bytes, size_t offset) {
  if (symbol == nullptr || (src == nullptr && bytes > 0)) return fail(ErrorCode::kInvalidValue);
  std::memcpy(static_cast<char*>(symbol) + offset, src, bytes);
  return kSuccess;
}

Error StreamCreate(Stream* stream) {
  if (stream == nullptr) return fail(ErrorCode::kInvalidValue);
  auto* s = new StreamObject;
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.streams.insert(s);
  *stream = s;
  return kSuccess;
}

Error StreamDestroy(void* stream) {
  Registry& r = registry();
  {
    std::lock_guard<std::mutex> lock(r.mutex);
    if (stream == nullptr || r.streams.erase(stream) == 0) {
      return fail(ErrorCode::kInvalidResourceHandle);
    }
  }
  delete static_cast<StreamObject*>(stream);
  return kSuccess;
}

Error StreamSynchronize(void* stream) {
  // Kernels and copies completed inside their calls.
  return detail::is_valid_stream(stream) ? kSuccess : fail(ErrorCode::kInvalidResourceHandle);
}

namespace {
bool is_valid_event(const void* event) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  return r.events.count(event) != 0;
}
}  // namespace

Error StreamWaitEvent(void* stream, Event event) {
  if (!detail::is_valid_stream(stream) || !is_valid_event(event)) {
    return fail(ErrorCode::kInvalidResourceHandle);
  }
  return kSuccess;
}

Error EventCreate(Event* event) {
  if (event == nullptr) return fail(ErrorCode::kInvalidValue);
  auto* e = new EventObject;
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.events.insert(e);
  *event = e;
  return kSuccess;
}

Error EventDestroy(Event event) {
  Registry& r = registry();
  {
    std::lock_guard<std::mutex> lock(r.mutex);
    if (event == nullptr || r.events.erase(event) == 0) {
      return fail(ErrorCode::kInvalidResourceHandle);
    }
  }
  delete event;
  return kSuccess;
}

Error EventRecord(Event event, void* stream) {
  if (!is_valid_event(event) || !detail::is_valid_stream(stream)) {
    return fail(ErrorCode::kInvalidResourceHandle);
  }
  event->time = std::chrono::steady_clock::now();
  event->recorded = true;
  return kSuccess;
}

Error EventSynchronize(Event event) {
  return is_valid_event(event) ? kSuccess : fail(ErrorCode::kInvalidResourceHandle);
}

Error EventElapsedTime(float* ms, Event start, Event end) {
  if (ms == nullptr) return fail(ErrorCode::kInvalidValue);
  if (!is_valid_event(start) || !is_valid_event(end) || !start->recorded || !end->recorded) {
    return fail(ErrorCode::kInvalidResourceHandle);
  }
  *ms = std::chrono::duration<float, std::milli>(end->time - start->time).count();
  return kSuccess;
}

Error DeviceSynchronize() { return kSuccess; }

Error GetLastError() {
  const Error e = t_last_error;
  t_last_error = kSuccess;
  return e;
}

Error PeekAtLastError() { return t_last_error; }

const char* GetErrorString(Error error) {
  switch (error) {
    case ErrorCode::kSuccess:
      return "no error";
    case ErrorCode::kInvalidValue:
      return "invalid argument";
    case ErrorCode::kMemoryAllocation:
      return "out of memory";
    case ErrorCode::kInvalidConfiguration:
      return "invalid configuration argument";
    case ErrorCode::kInvalidDevicePointer:
      return "invalid device pointer";
    case ErrorCode::kInvalidMemcpyDirection:
      return "invalid copy direction for memcpy";
    case ErrorCode::kNoDevice:
      return "no CUDA-capable device is detected";
    case ErrorCode::kInvalidDevice:
      return "invalid device ordinal";
    case ErrorCode::kInvalidResourceHandle:
      return "invalid resource handle";
    case ErrorCode::kNotReady:
      return "device not ready";
    case ErrorCode::kLaunchFailure:
      return "unspecified launch failure (cuemu kernel fault)";
  }
  return "unknown error";
}

Error GetDeviceCount(int* count) {
  if (count == nullptr) return fail(ErrorCode::kInvalidValue);
  *count = 1;
  return kSuccess;
}

Error SetDevice(int device) { return device == 0 ? kSuccess : fail(ErrorCode::kInvalidDevice); }

Error GetDevice(int* device) {
  if (device == nullptr) return fail(ErrorCode::kInvalidValue);
  *device = 0;
  return kSuccess;
}

Error MemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  if (free_bytes == nullptr || total_bytes == nullptr) return fail(ErrorCode::kInvalidValue);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  *total_bytes = static_cast<size_t>(sysconf(_SC_PHYS_PAGES)) * page;
  *free_bytes = static_cast<size_t>(sysconf(_SC_AVPHYS_PAGES)) * page;
  return kSuccess;
}

bool is_device_pointer(const void* ptr) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  return in_device(r, ptr);
}

}  // namespace cuemu
