// Memory for tensors. The CPU allocator hands out 64-byte aligned blocks (one cache line, one
// AVX-512 vector) and keeps freed large blocks for reuse: a training step frees and re-creates the
// same activations every step (about 600 MB for the 27-frame model at batch 1024), and fresh
// blocks from the C library are new mappings that the kernel faults in and zeroes page by page.
// GPU devices (CUDA and emulated) use a caching allocator: cudaMalloc and cudaFree synchronise the
// device, so freed blocks are kept in size-keyed free lists and reused.
//
// Both caches use the same rule: best fit among the cached blocks, but never a block more than
// twice the (rounded) request, so small tensors do not pin large blocks. empty_cache() returns the
// cached blocks to the backend.
//
// Stream order: a GPU block belongs to the stream that was current when it was allocated, and once
// freed it is reused only by allocations on that same stream, without waiting: work on one stream
// runs in issue order, so the block's earlier users have run before its next user. Another stream
// never receives it while work queued before the free may still touch it; blocks go back to the
// backend (whose free synchronises the device) when memory runs out or on empty_cache(), and the
// blocks of a destroyed stream, once it has drained, pass to the default stream. A tensor used on
// a stream other than the one it was allocated on must be kept alive until that stream has
// synchronised.
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
  int64_t cached_bytes = 0;          // freed blocks kept for reuse (part of reserved_bytes)
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

// Size-keyed free lists shared by the caching allocators (not thread-safe: callers lock).
class BlockCache {
 public:
  // The smallest cached block of at least `size` bytes and at most twice that, removed from the
  // cache, with its size in *block; nullptr when none fits.
  void* take(size_t size, size_t* block);
  void put(size_t block, void* p);
  // Hands every cached block to release(p, block) and forgets them.
  // Moves every block of `other` into this cache.
  void absorb(BlockCache& other);
  template <class Release>
  void release_all(Release release) {
    for (auto& [block, p] : blocks_) release(p, block);
    blocks_.clear();
    bytes_ = 0;
  }
  int64_t bytes() const { return bytes_; }

 private:
  std::multimap<size_t, void*> blocks_;  // block size -> block
  int64_t bytes_ = 0;
};

class CpuAllocator final : public Allocator {
 public:
  static constexpr size_t kAlignment = 64;
  // Blocks below this size go straight to the C library, whose own free lists serve them
  // without page faults; caching them would only add fragmentation.
  static constexpr size_t kCacheMinBytes = size_t{1} << 16;
  // cache_limit_bytes: freed blocks are kept while the cache holds at most this many bytes
  // (0 disables the cache). The process allocator takes V3D_CPU_CACHE_MB from the environment,
  // default 4096.
  explicit CpuAllocator(size_t cache_limit_bytes = kDefaultCacheLimit);
  ~CpuAllocator() override;
  void* allocate(size_t bytes) override;
  void deallocate(void* ptr, size_t bytes) override;
  Device device() const override { return Device::cpu(); }
  AllocatorStats stats() const override;
  void reset_peak() override;
  void empty_cache() override;

  static constexpr size_t kDefaultCacheLimit = size_t{4096} << 20;

 private:
  size_t cache_limit_;
  mutable std::mutex mutex_;
  BlockCache cache_;
  std::unordered_map<void*, size_t> live_large_;  // cacheable blocks in use -> block size
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
  // `stream` was synchronised and is being destroyed: its cached blocks pass to the default
  // stream.
  void release_stream(kernels::StreamHandle stream);

 private:
  struct Live {
    size_t size = 0;                         // rounded
    kernels::StreamHandle stream = nullptr;  // the stream it was allocated on
  };
  void release_cached_locked();
  int64_t cached_bytes_locked() const;
  GpuApi& api_;
  Device device_;
  mutable std::mutex mutex_;
  std::map<kernels::StreamHandle, BlockCache> caches_;  // by the stream the blocks belong to
  std::unordered_map<void*, Live> live_blocks_;
  AllocatorStats stats_;
};

// The process-wide allocator of a device (created on first use).
Allocator& allocator_for(Device device);

}  // namespace v3d
