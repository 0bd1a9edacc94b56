// The emulator's host API: allocation registry, emulated devices, asynchronous streams and events,
// checked copies and the sticky last error (per host thread, like CUDA's).
//
// Streams are queues. A launch, copy or memset appends a work item to its stream and returns;
// items run only when something waits for them: a synchronisation (stream, event, device), a
// blocking copy, a free (cudaFree synchronises), or a queue that waits on them. An item runs after
// the items before it on its stream and after the events its stream was told to wait for, and
// after nothing else, so a missing stream dependency shows as stale data. The legacy default
// stream's implicit ordering with the device's other streams is kept, as CUDA has it.
#include "kernels/gpu/emu/host_api.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "kernels/gpu/emu/runtime.h"

namespace cuemu {

namespace {

// A queued piece of work, or (when wait_stream is set) a wait for another queue's position.
struct Item {
  std::function<void()> run;
  StreamObject* wait_stream = nullptr;
  uint64_t wait_position = 0;
};

}  // namespace

struct StreamObject {
  int device = 0;
  bool is_default = false;    // the device's legacy default stream
  bool non_blocking = false;  // no implicit ordering with the legacy default stream
  bool destroyed = false;
  std::deque<Item> pending;
  uint64_t enqueued = 0;  // items ever queued
  uint64_t executed = 0;  // items run (or discarded after a fault)
};

namespace {
struct EventState {
  StreamObject* stream = nullptr;  // where it was last recorded
  uint64_t position = 0;           // the stream's queue position of that record
  uint64_t generation = 0;
  std::chrono::steady_clock::time_point time;
  bool timed = false;  // the last record has run
};
}  // namespace

struct EventObject {
  int device = 0;
  std::shared_ptr<EventState> state = std::make_shared<EventState>();
};

namespace {

constexpr size_t kDefaultMaxDynamicSmem = 48 * 1024;
constexpr size_t kOptInMaxDynamicSmem = 227 * 1024;  // H100's opt-in limit per block
constexpr int kMaxDevices = 16;

int device_count_from_env() {
  const char* env = std::getenv("CUEMU_DEVICES");
  if (env == nullptr) return 2;
  const long n = std::strtol(env, nullptr, 10);
  return static_cast<int>(std::clamp<long>(n, 1, kMaxDevices));
}

struct Allocation {
  size_t bytes = 0;
  int device = 0;
};

struct Registry {
  std::mutex mutex;
  std::map<uintptr_t, Allocation> device;  // start -> allocation
  std::map<uintptr_t, size_t> host;        // pinned host memory (MallocHost): start -> bytes
  std::set<const void*> streams;           // created and not destroyed
  std::set<const void*> events;
  std::map<const void*, size_t> max_smem;  // kernel -> raised dynamic shared-memory limit
  size_t device_bytes = 0;
  int device_count = device_count_from_env();
};

Registry& registry() {
  static Registry r;
  return r;
}

// The queues. Held while work is queued or run; always taken before Registry::mutex. Recursive
// because running a queue runs the queues it waits for.
struct Queues {
  std::recursive_mutex mutex;
  StreamObject defaults[kMaxDevices];
  std::vector<StreamObject*> all;  // every stream ever created (never freed: events and waits
                                   // may still name a destroyed stream), defaults first
  Queues() {
    for (int d = 0; d < kMaxDevices; ++d) {
      defaults[d].device = d;
      defaults[d].is_default = true;
      all.push_back(&defaults[d]);
    }
  }
};

Queues& queues() {
  static Queues* q = new Queues;  // outlives static destructors that still free memory
  return *q;
}

thread_local Error t_last_error = kSuccess;
thread_local int t_device = 0;

Error fail(Error e) {
  detail::set_last_error(e);
  return e;
}

template <class V>
typename std::map<uintptr_t, V>::const_iterator find_in(const std::map<uintptr_t, V>& map,
                                                        uintptr_t a) {
  auto it = map.upper_bound(a);
  if (it == map.begin()) return map.end();
  --it;
  size_t bytes;
  if constexpr (std::is_same_v<V, Allocation>) {
    bytes = it->second.bytes;
  } else {
    bytes = it->second;
  }
  return a < it->first + bytes ? it : map.end();
}

// The device allocation containing p, or end().
std::map<uintptr_t, Allocation>::const_iterator find_allocation(const Registry& r, const void* p) {
  return find_in(r.device, reinterpret_cast<uintptr_t>(p));
}

bool in_device(const Registry& r, const void* p) { return find_allocation(r, p) != r.device.end(); }

bool range_in_device(const Registry& r, const void* p, size_t bytes) {
  const auto it = find_allocation(r, p);
  return it != r.device.end() &&
         reinterpret_cast<uintptr_t>(p) + bytes <= it->first + it->second.bytes;
}

bool in_pinned(const Registry& r, const void* p) {
  return find_in(r.host, reinterpret_cast<uintptr_t>(p)) != r.host.end();
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

// The queue a stream argument names: nullptr is the current device's default stream. Null when the
// handle is not a live stream.
StreamObject* resolve_stream(const void* stream) {
  if (stream == nullptr) return &queues().defaults[t_device];
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (r.streams.count(stream) == 0) return nullptr;
  return static_cast<StreamObject*>(const_cast<void*>(stream));
}

bool has_pending(const StreamObject* s) { return s->executed < s->enqueued; }

void push(StreamObject* s, Item item) {
  s->pending.push_back(std::move(item));
  ++s->enqueued;
}

// Queues fn on s behind the legacy default stream's implicit dependencies: work on the default
// stream waits for all earlier work on the device's other blocking streams, and work on those
// waits for earlier work on the default stream. Non-blocking streams have neither. Caller holds
// the queue lock.
void enqueue_locked(StreamObject* s, std::function<void()> fn) {
  Queues& q = queues();
  if (s->is_default) {
    for (StreamObject* o : q.all) {
      if (o != s && o->device == s->device && !o->non_blocking && has_pending(o)) {
        push(s, Item{{}, o, o->enqueued});
      }
    }
  } else if (!s->non_blocking) {
    StreamObject* d = &q.defaults[s->device];
    if (has_pending(d)) push(s, Item{{}, d, d->enqueued});
  }
  push(s, Item{std::move(fn), nullptr, 0});
}

// Runs s's items up to queue position `position`. Caller holds the queue lock.
void run_until(StreamObject* s, uint64_t position) {
  while (s->executed < position) {
    Item item = std::move(s->pending.front());
    s->pending.pop_front();
    ++s->executed;
    if (item.wait_stream != nullptr) {
      run_until(item.wait_stream, item.wait_position);
    } else {
      item.run();
    }
  }
}

// After a fault the device's work is lost, as a CUDA context is after a launch failure (every
// device's here: queues of different devices may wait for each other).
void discard_all_locked() {
  for (StreamObject* s : queues().all) {
    s->pending.clear();
    s->executed = s->enqueued;
  }
}

// Runs the streams in `streams` to their ends; a fault discards all queued work and propagates.
void drain(const std::vector<StreamObject*>& streams) {
  Queues& q = queues();
  std::lock_guard<std::recursive_mutex> lock(q.mutex);
  try {
    for (StreamObject* s : streams) run_until(s, s->enqueued);
  } catch (...) {
    discard_all_locked();
    throw;
  }
}

void drain_to(StreamObject* s, uint64_t position) {
  Queues& q = queues();
  std::lock_guard<std::recursive_mutex> lock(q.mutex);
  try {
    run_until(s, position);
  } catch (...) {
    discard_all_locked();
    throw;
  }
}

// The streams of `device` (every device when -1), in the order a device synchronisation drains
// them: creation order, or a permutation under CUEMU_SEED.
std::vector<StreamObject*> streams_of(int device) {
  Queues& q = queues();
  std::lock_guard<std::recursive_mutex> lock(q.mutex);
  std::vector<StreamObject*> out;
  for (StreamObject* s : q.all) {
    if ((device < 0 || s->device == device) && has_pending(s)) out.push_back(s);
  }
  if (const uint64_t s = seed(); s != 0 && out.size() > 1) {
    std::mt19937_64 rng(s * 0x9E3779B97F4A7C15ull + out.size());
    std::shuffle(out.begin(), out.end(), rng);
  }
  return out;
}

// cudaFree and cudaFreeHost wait for all work first. A fault found there is returned as the
// sticky launch failure (destructors free memory and must not throw); its report goes to stderr.
Error drain_for_free() {
  try {
    drain(streams_of(-1));
  } catch (const std::exception& e) {
    std::cerr << e.what() << " (reported by the synchronisation of a free)\n";
    return fail(ErrorCode::kLaunchFailure);
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

bool allocation_containing(uintptr_t p, uintptr_t* lo, uintptr_t* hi, int* device) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (const auto it = find_in(r.device, p); it != r.device.end()) {
    *lo = it->first;
    *hi = it->first + it->second.bytes;
    *device = it->second.device;
    return true;
  }
  if (const auto it = find_in(r.host, p); it != r.host.end()) {
    *lo = it->first;
    *hi = it->first + it->second;
    *device = -1;
    return true;
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
    const uintptr_t end = it->first + it->second.bytes;
    if (p >= end && p - end < 4096) {
      std::ostringstream os;
      os << (p - end) << " bytes past the end of the " << it->second.bytes
         << "-byte device allocation at 0x" << std::hex << it->first;
      return os.str();
    }
  }
  return "not in any device allocation (a host pointer?)";
}

Error enqueue_work(const void* stream, bool current_device_only, std::function<void(int)> work) {
  Queues& q = queues();
  std::lock_guard<std::recursive_mutex> lock(q.mutex);
  StreamObject* s = resolve_stream(stream);
  // A launch into a stream of another device is refused, as CUDA refuses it.
  if (s == nullptr || (current_device_only && s->device != t_device)) {
    return fail(ErrorCode::kInvalidResourceHandle);
  }
  const int device = s->device;
  enqueue_locked(s, [device, work = std::move(work)] { work(device); });
  return kSuccess;
}

}  // namespace detail

Error Malloc(void** ptr, size_t bytes) {
  if (ptr == nullptr) return fail(ErrorCode::kInvalidValue);
  // CUDA hands out 256-byte aligned memory; a zero-byte request still gets a distinct pointer.
  const size_t rounded = (std::max<size_t>(bytes, 1) + 255) / 256 * 256;
  void* p = std::aligned_alloc(256, rounded);
  if (p == nullptr) return fail(ErrorCode::kMemoryAllocation);
  // Fresh device memory holds garbage on a GPU: here all-ones bytes (NaN as float, -1 as int), so
  // a read before the first write shows in the results.
  std::memset(p, 0xFF, rounded);
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.device[reinterpret_cast<uintptr_t>(p)] = Allocation{bytes, t_device};
  r.device_bytes += bytes;
  *ptr = p;
  return kSuccess;
}

Error Free(void* ptr) {
  if (ptr == nullptr) return kSuccess;
  Registry& r = registry();
  {
    std::lock_guard<std::mutex> lock(r.mutex);
    if (r.device.count(reinterpret_cast<uintptr_t>(ptr)) == 0) {
      return fail(ErrorCode::kInvalidDevicePointer);
    }
  }
  const Error drained = drain_for_free();
  {
    std::lock_guard<std::mutex> lock(r.mutex);
    const auto it = r.device.find(reinterpret_cast<uintptr_t>(ptr));
    if (it == r.device.end()) return fail(ErrorCode::kInvalidDevicePointer);
    r.device_bytes -= it->second.bytes;
    r.device.erase(it);
  }
  std::free(ptr);
  return drained;
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
    if (r.host.count(reinterpret_cast<uintptr_t>(ptr)) == 0) return fail(ErrorCode::kInvalidValue);
  }
  const Error drained = drain_for_free();
  {
    std::lock_guard<std::mutex> lock(r.mutex);
    if (r.host.erase(reinterpret_cast<uintptr_t>(ptr)) == 0) return fail(ErrorCode::kInvalidValue);
  }
  std::free(ptr);
  return drained;
}

namespace {

// Queues a copy on s (checked now, done when the queue runs). A copy from pageable host memory is
// staged (the caller may reuse its buffer at once, as with CUDA); a copy into pageable host memory
// completes before the call returns, as CUDA's does; copies to and from pinned memory are fully
// asynchronous.
Error copy_on(StreamObject* s, void* dst, const void* src, size_t bytes, CopyKind kind) {
  if (bytes == 0) return kSuccess;
  if (dst == nullptr || src == nullptr) return fail(ErrorCode::kInvalidValue);
  const bool dst_dev = kind == CopyKind::HostToDevice || kind == CopyKind::DeviceToDevice;
  const bool src_dev = kind == CopyKind::DeviceToHost || kind == CopyKind::DeviceToDevice;
  bool src_pageable = false, dst_pageable = false;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    Error e = check_side(r, dst, bytes, dst_dev);
    if (e == kSuccess) e = check_side(r, src, bytes, src_dev);
    if (e != kSuccess) return fail(e);
    src_pageable = !src_dev && !in_pinned(r, src);
    dst_pageable = !dst_dev && !in_pinned(r, dst);
  }
  Queues& q = queues();
  std::lock_guard<std::recursive_mutex> lock(q.mutex);
  if (src_pageable) {
    auto staged = std::make_shared<std::vector<unsigned char>>(
        static_cast<const unsigned char*>(src), static_cast<const unsigned char*>(src) + bytes);
    enqueue_locked(s, [dst, staged] { std::memcpy(dst, staged->data(), staged->size()); });
  } else {
    enqueue_locked(s, [dst, src, bytes] { std::memmove(dst, src, bytes); });
  }
  if (dst_pageable) drain_to(s, s->enqueued);
  return kSuccess;
}

}  // namespace

Error Memcpy(void* dst, const void* src, size_t bytes, CopyKind kind) {
  // A blocking copy on the default stream: it waits for the device's earlier work.
  StreamObject* s = resolve_stream(nullptr);
  const Error e = copy_on(s, dst, src, bytes, kind);
  if (e == kSuccess) drain_to(s, s->enqueued);
  return e;
}

Error MemcpyAsync(void* dst, const void* src, size_t bytes, CopyKind kind, void* stream) {
  StreamObject* s = resolve_stream(stream);
  if (s == nullptr) return fail(ErrorCode::kInvalidResourceHandle);
  return copy_on(s, dst, src, bytes, kind);
}

Error MemsetAsync(void* ptr, int value, size_t bytes, void* stream) {
  StreamObject* s = resolve_stream(stream);
  if (s == nullptr) return fail(ErrorCode::kInvalidResourceHandle);
  if (bytes == 0) return kSuccess;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    if (!range_in_device(r, ptr, bytes)) return fail(ErrorCode::kInvalidValue);
  }
  Queues& q = queues();
  std::lock_guard<std::recursive_mutex> lock(q.mutex);
  enqueue_locked(s, [ptr, value, bytes] { std::memset(ptr, value, bytes); });
  return kSuccess;
}

// cudaMemset on device memory is asynchronous with respect to the host.
Error Memset(void* ptr, int value, size_t bytes) { return MemsetAsync(ptr, value, bytes, nullptr); }

Error MemcpyToSymbolBytes(void* symbol, const void* src, size_t bytes, size_t offset) {
  if (symbol == nullptr || (src == nullptr && bytes > 0)) return fail(ErrorCode::kInvalidValue);
  // Blocking, on the default stream: kernels queued before it see the old value.
  StreamObject* s = resolve_stream(nullptr);
  auto staged = std::make_shared<std::vector<unsigned char>>(
      static_cast<const unsigned char*>(src), static_cast<const unsigned char*>(src) + bytes);
  void* dst = static_cast<char*>(symbol) + offset;
  Queues& q = queues();
  std::lock_guard<std::recursive_mutex> lock(q.mutex);
  enqueue_locked(s, [dst, staged] { std::memcpy(dst, staged->data(), staged->size()); });
  drain_to(s, s->enqueued);
  return kSuccess;
}

Error StreamCreate(Stream* stream) { return StreamCreateWithFlags(stream, 0); }

Error StreamCreateWithFlags(Stream* stream, unsigned flags) {
  if (stream == nullptr || (flags & ~kStreamNonBlocking) != 0) {
    return fail(ErrorCode::kInvalidValue);
  }
  auto* s = new StreamObject;
  s->device = t_device;
  s->non_blocking = (flags & kStreamNonBlocking) != 0;
  {
    Queues& q = queues();
    std::lock_guard<std::recursive_mutex> lock(q.mutex);
    q.all.push_back(s);
  }
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.streams.insert(s);
  *stream = s;
  return kSuccess;
}

Error StreamDestroy(void* stream) {
  // Queued work still runs (at the next synchronisation that reaches it), as with CUDA.
  Queues& q = queues();
  std::lock_guard<std::recursive_mutex> lock(q.mutex);
  Registry& r = registry();
  std::lock_guard<std::mutex> rlock(r.mutex);
  if (stream == nullptr || r.streams.erase(stream) == 0) {
    return fail(ErrorCode::kInvalidResourceHandle);
  }
  static_cast<StreamObject*>(stream)->destroyed = true;
  return kSuccess;
}

Error StreamSynchronize(void* stream) {
  StreamObject* s = resolve_stream(stream);
  if (s == nullptr) return fail(ErrorCode::kInvalidResourceHandle);
  drain_to(s, s->enqueued);
  return kSuccess;
}

namespace {
EventObject* valid_event(const void* event) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  return r.events.count(event) != 0 ? static_cast<EventObject*>(const_cast<void*>(event)) : nullptr;
}
}  // namespace

Error StreamWaitEvent(void* stream, Event event) {
  StreamObject* s = resolve_stream(stream);
  EventObject* e = valid_event(event);
  if (s == nullptr || e == nullptr) return fail(ErrorCode::kInvalidResourceHandle);
  Queues& q = queues();
  std::lock_guard<std::recursive_mutex> lock(q.mutex);
  // Waiting for an event that was never recorded is a no-op, as in CUDA.
  if (e->state->stream != nullptr) push(s, Item{{}, e->state->stream, e->state->position});
  return kSuccess;
}

Error EventCreate(Event* event) {
  if (event == nullptr) return fail(ErrorCode::kInvalidValue);
  auto* e = new EventObject;
  e->device = t_device;
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
  delete event;  // a queued record keeps its state alive
  return kSuccess;
}

Error EventRecord(Event event, void* stream) {
  EventObject* e = valid_event(event);
  StreamObject* s = resolve_stream(stream);
  // An event records on a stream of its own device only.
  if (e == nullptr || s == nullptr || s->device != e->device) {
    return fail(ErrorCode::kInvalidResourceHandle);
  }
  Queues& q = queues();
  std::lock_guard<std::recursive_mutex> lock(q.mutex);
  std::shared_ptr<EventState> state = e->state;
  const uint64_t generation = ++state->generation;
  state->timed = false;
  enqueue_locked(s, [state, generation] {
    if (state->generation != generation) return;  // recorded again since
    state->time = std::chrono::steady_clock::now();
    state->timed = true;
  });
  state->stream = s;
  state->position = s->enqueued;
  return kSuccess;
}

Error EventSynchronize(Event event) {
  EventObject* e = valid_event(event);
  if (e == nullptr) return fail(ErrorCode::kInvalidResourceHandle);
  std::shared_ptr<EventState> state = e->state;
  if (state->stream != nullptr) drain_to(state->stream, state->position);
  return kSuccess;
}

Error EventElapsedTime(float* ms, Event start, Event end) {
  if (ms == nullptr) return fail(ErrorCode::kInvalidValue);
  EventObject* a = valid_event(start);
  EventObject* b = valid_event(end);
  if (a == nullptr || b == nullptr || a->state->stream == nullptr || b->state->stream == nullptr) {
    return fail(ErrorCode::kInvalidResourceHandle);
  }
  Queues& q = queues();
  std::lock_guard<std::recursive_mutex> lock(q.mutex);
  // Events whose work has not run yet are not ready, as in CUDA.
  if (!a->state->timed || !b->state->timed) return fail(ErrorCode::kNotReady);
  *ms = std::chrono::duration<float, std::milli>(b->state->time - a->state->time).count();
  return kSuccess;
}

Error DeviceSynchronize() {
  drain(streams_of(t_device));
  return kSuccess;
}

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
  *count = registry().device_count;
  return kSuccess;
}

Error SetDevice(int device) {
  if (device < 0 || device >= registry().device_count) return fail(ErrorCode::kInvalidDevice);
  t_device = device;
  return kSuccess;
}

Error DeviceComputeCapability(int device, int* major, int* minor) {
  if (device < 0 || device >= registry().device_count) return fail(ErrorCode::kInvalidDevice);
  *major = 9;
  *minor = 0;
  return kSuccess;
}

Error GetDevice(int* device) {
  if (device == nullptr) return fail(ErrorCode::kInvalidValue);
  *device = t_device;
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

int device_of_pointer(const void* ptr) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  const auto it = find_allocation(r, ptr);
  return it == r.device.end() ? -1 : it->second.device;
}

uint64_t pending_work() {
  Queues& q = queues();
  std::lock_guard<std::recursive_mutex> lock(q.mutex);
  uint64_t n = 0;
  for (const StreamObject* s : q.all) n += s->enqueued - s->executed;
  return n;
}

Error HostTask(void* stream, std::function<void(int device)> task) {
  return detail::enqueue_work(stream, true, std::move(task));
}

void require_device_range(const char* op, const char* operand, const void* ptr, size_t bytes,
                          int device) {
  std::ostringstream os;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    const auto it = find_allocation(r, ptr);
    if (it != r.device.end() && it->second.device == device &&
        reinterpret_cast<uintptr_t>(ptr) + bytes <= it->first + it->second.bytes) {
      return;
    }
    os << "cuemu: " << op << " on device " << device << ": " << operand << " [" << ptr << ", +"
       << bytes << " bytes) ";
    if (it == r.device.end()) {
      os << "is not in any device allocation";
    } else if (it->second.device != device) {
      os << "is memory of device " << it->second.device << " (peer access is not enabled)";
    } else {
      os << "overruns its " << it->second.bytes << "-byte allocation";
    }
  }
  detail::set_last_error(ErrorCode::kLaunchFailure);
  throw KernelFault(os.str());
}

}  // namespace cuemu
