// Streams and events of a GPU device, and the current stream that ops run on. On the CPU these are
// no-ops: CPU ops run synchronously on the calling thread.
#pragma once

#include "runtime/device.h"

namespace v3d {

class GpuApi;

// An owned stream (or, default-constructed for a device, its legacy default stream).
class Stream {
 public:
  Stream() = default;
  // A new stream on a GPU device. A blocking one (the default) is ordered with the device's
  // legacy default stream, as cudaStreamCreate's are; a non-blocking one is not, so its work can
  // overlap work queued later on the default stream.
  static Stream create(Device device, bool non_blocking = false);
  static Stream default_stream(Device device);  // the device's default stream, not owned
  Stream(Stream&& other) noexcept;
  Stream& operator=(Stream&& other) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream();

  Device device() const { return device_; }
  kernels::StreamHandle handle() const { return handle_; }
  void synchronize() const;

 private:
  Device device_ = Device::cpu();
  kernels::StreamHandle handle_ = nullptr;
  bool owned_ = false;
};

class Event {
 public:
  explicit Event(Device device);
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  ~Event();
  void record(kernels::StreamHandle stream);
  void synchronize() const;
  // Milliseconds between `start` (recorded earlier) and this event, both synchronised.
  float elapsed_ms_since(const Event& start) const;
  void* handle() const { return handle_; }

 private:
  Device device_;
  void* handle_ = nullptr;
};

// The stream ops on `device` are issued to by this thread (nullptr: the default stream).
kernels::StreamHandle current_stream(Device device);

// Makes `stream` the current stream of its device for this thread until destroyed.
class StreamGuard {
 public:
  explicit StreamGuard(const Stream& stream);
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;
  ~StreamGuard();

 private:
  Device device_;
  kernels::StreamHandle previous_;
};

// Makes `device` the current GPU device of this host thread until destroyed (no-op for the CPU).
// Every op, allocation, copy, stream and event of the runtime holds one, so work lands on the
// device of its tensors whichever device the thread had selected, in any thread.
class DeviceGuard {
 public:
  explicit DeviceGuard(Device device);
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;
  ~DeviceGuard();

 private:
  GpuApi* api_ = nullptr;  // set when the current device was changed
  int previous_ = 0;
};

// Waits for all work queued on the current stream of `device` (no-op on the CPU).
void synchronize(Device device);

}  // namespace v3d
