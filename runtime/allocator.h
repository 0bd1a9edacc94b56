// Memory for tensors. The CPU allocator hands out 64-byte aligned blocks (one cache line, one
// AVX-512 vector). GPU devices (CUDA and emulated) use a caching allocator: cudaMalloc and cudaFree
// synchronise the device, so freed blocks are kept in size-keyed free lists and reused.
//
// Stream semantics: a cached block is reused by the next allocation of a fitting size without
// waiting for work queued on it, which is correct because the runtime issues all work of a device
// on its current stream in program order (a block freed after its last use is reused only by later
// work on the same stream). Code that uses several streams must synchronise before freeing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "runtime/device.h"

namespace v3d {

struct AllocatorStats {
  int64_t allocated_bytes = 0;       // in use by tensors now
  int64_t reserved_bytes = 0;        // obtained from the backend (in use + cached)
  int64_t peak_allocated_bytes = 0;  // highest allocated_bytes since the last reset
  int64_t backend_allocs = 0;        // calls to the backend's malloc
  int64_t cache_hits = 0;            // allocations served from the cache
  int64_t allocations = 0;           // all successful allocate() calls
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t bytes) = 0;  // throws v3d::Error when out of memory
  virtual void deallocate(void* ptr, size_t bytes) = 0;
  virtual Device device() const = 0;
  virtual AllocatorStats stats() const = 0;
  virtual void reset_peak() = 0;
  // Returns cached blocks to the backend; a no-op for allocators without a cache.
  virtual void empty_cache() {}
};

class CpuAllocator final : public Allocator {
 public:
  static constexpr size_t kAlignment = 64;
  void* allocate(size_t bytes) override;
  void deallocate(void* ptr, size_t bytes) override;
  Device device() const override { return Device::cpu(); }
  AllocatorStats stats() const override;
  void reset_peak() override;

 private:
  mutable std::mutex mutex_;
  AllocatorStats stats_;
};

class GpuApi;

class CachingAllocator final : public Allocator {
 public:
  // Requests are rounded up to this granularity, so that near sizes share cache entries.
  static constexpr size_t kRound = 512;
  CachingAllocator(GpuApi& api, Device device);
  ~CachingAllocator() override;
  void* allocate(size_t bytes) override;
  void deallocate(void* ptr, size_t bytes) override;
  Device device() const override { return device_; }
  AllocatorStats stats() const override;
  void reset_peak() override;
  void empty_cache() override;

 private:
  void release_cached_locked();
  GpuApi& api_;
  Device device_;
  mutable std::mutex mutex_;
  std::multimap<size_t, void*> free_blocks_;       // rounded size -> block
  std::unordered_map<void*, size_t> live_blocks_;  // block -> rounded size
  AllocatorStats stats_;
};

// The process-wide allocator of a device (created on first use).
Allocator& allocator_for(Device device);

}  // namespace v3d
