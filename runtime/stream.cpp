// Streams, events and the per-thread current stream.
#include "runtime/stream.h"

#include <cstdio>
#include <exception>
#include <map>
#include <utility>

#include "runtime/allocator.h"
#include "runtime/device_error.h"
#include "runtime/gpu_api.h"

namespace v3d {

namespace {
std::map<std::pair<int, int>, kernels::StreamHandle>& current_streams() {
  thread_local std::map<std::pair<int, int>, kernels::StreamHandle> streams;
  return streams;
}
std::pair<int, int> key(Device d) { return {static_cast<int>(d.type), d.index}; }
}  // namespace

DeviceGuard::DeviceGuard(Device device) {
  if (!device.is_gpu()) return;
  GpuApi& api = gpu_api(device.gpu_kind());
  const int current = api.current_device();
  if (current == device.index) return;
  api.set_device(device.index);
  api_ = &api;
  previous_ = current;
}

DeviceGuard::~DeviceGuard() {
  if (api_ != nullptr) api_->set_device(previous_);
}

Stream Stream::create(Device device, bool non_blocking) {
  V3D_CHECK(device.is_gpu(), "streams exist on GPU devices only, not " << device.str());
  const DeviceGuard guard(device);
  Stream s;
  s.device_ = device;
  s.handle_ = gpu_api(device.gpu_kind()).stream_create(non_blocking);
  s.owned_ = true;
  return s;
}

Stream Stream::default_stream(Device device) {
  Stream s;
  s.device_ = device;
  return s;
}

Stream::Stream(Stream&& other) noexcept
    : device_(other.device_), handle_(other.handle_), owned_(other.owned_) {
  other.owned_ = false;
  other.handle_ = nullptr;
}

Stream& Stream::operator=(Stream&& other) noexcept {
  if (this != &other) {
    std::swap(device_, other.device_);
    std::swap(handle_, other.handle_);
    std::swap(owned_, other.owned_);
  }
  return *this;
}

Stream::~Stream() {
  if (!owned_) return;
  const DeviceGuard guard(device_);
  GpuApi& api = gpu_api(device_.gpu_kind());
  // The stream's cached memory passes to the default stream, which is safe only once the
  // stream's work has run. A fault found here was the stream's work's; destructors cannot throw.
  try {
    api.stream_synchronize(handle_);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "v3d: error while destroying a %s stream: %s\n", device_.str().c_str(),
                 e.what());
  }
  if (auto* caching = dynamic_cast<CachingAllocator*>(&allocator_for(device_))) {
    caching->release_stream(handle_);
  }
  api.stream_destroy(handle_);
}

void Stream::synchronize() const {
  if (!device_.is_gpu()) return;
  const DeviceGuard guard(device_);
  gpu_api(device_.gpu_kind()).stream_synchronize(handle_);
  check_device_errors(device_, handle_);
}

Event::Event(Device device) : device_(device) {
  if (!device.is_gpu()) return;
  const DeviceGuard guard(device);
  handle_ = gpu_api(device.gpu_kind()).event_create();
}

Event::~Event() {
  if (handle_ == nullptr) return;
  const DeviceGuard guard(device_);
  gpu_api(device_.gpu_kind()).event_destroy(handle_);
}

void Event::record(kernels::StreamHandle stream) {
  if (handle_ == nullptr) return;
  const DeviceGuard guard(device_);
  gpu_api(device_.gpu_kind()).event_record(handle_, stream);
}

void Event::synchronize() const {
  if (handle_ == nullptr) return;
  const DeviceGuard guard(device_);
  gpu_api(device_.gpu_kind()).event_synchronize(handle_);
}

float Event::elapsed_ms_since(const Event& start) const {
  V3D_CHECK(handle_ != nullptr && start.handle_ != nullptr,
            "event timing needs GPU events on both ends");
  synchronize();
  return gpu_api(device_.gpu_kind()).event_elapsed_ms(start.handle_, handle_);
}

kernels::StreamHandle current_stream(Device device) {
  if (device.is_cpu()) return nullptr;
  auto& m = current_streams();
  auto it = m.find(key(device));
  return it == m.end() ? nullptr : it->second;
}

StreamGuard::StreamGuard(const Stream& stream)
    : device_(stream.device()), previous_(current_stream(stream.device())) {
  current_streams()[key(device_)] = stream.handle();
}

StreamGuard::~StreamGuard() { current_streams()[key(device_)] = previous_; }

void synchronize(Device device) {
  if (!device.is_gpu()) return;
  const DeviceGuard guard(device);
  const kernels::StreamHandle stream = current_stream(device);
  gpu_api(device.gpu_kind()).stream_synchronize(stream);
  check_device_errors(device, stream);
}

}  // namespace v3d
