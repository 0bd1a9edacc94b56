// CPU and caching GPU allocators.
#include "runtime/allocator.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <memory>

#include "runtime/gpu_api.h"
#include "runtime/stream.h"

namespace v3d {

namespace {
// Rounds up to a multiple of `to`; requests so large that rounding would wrap are refused here,
// since a wrapped size would hand out a tiny block.
size_t round_up(size_t bytes, size_t to, Device device) {
  V3D_CHECK(bytes <= std::numeric_limits<size_t>::max() - to,
            "out of " << (device.is_cpu() ? std::string("host") : device.str())
                      << " memory: cannot allocate " << bytes << " bytes");
  return (bytes + to - 1) / to * to;
}

// V3D_CPU_CACHE_MB: the CPU allocator's cache limit in MiB (0 disables caching, e.g. for a
// sanitizer run that should see every free).
size_t cpu_cache_limit_from_env() {
  const char* v = std::getenv("V3D_CPU_CACHE_MB");
  if (v == nullptr || *v == '\0') return CpuAllocator::kDefaultCacheLimit;
  char* end = nullptr;
  const unsigned long long mb = std::strtoull(v, &end, 10);
  V3D_CHECK(end != nullptr && *end == '\0',
            "V3D_CPU_CACHE_MB must be a whole number of MiB, got '" << v << "'");
  return static_cast<size_t>(mb) << 20;
}

void note_alloc(AllocatorStats& s, int64_t bytes) {
  s.allocated_bytes += bytes;
  s.peak_allocated_bytes = std::max(s.peak_allocated_bytes, s.allocated_bytes);
  ++s.allocations;
}
}  // namespace

void* BlockCache::take(size_t size, size_t* block) {
  auto it = blocks_.lower_bound(size);
  if (it == blocks_.end() || it->first > 2 * size) return nullptr;
  void* p = it->second;
  *block = it->first;
  bytes_ -= static_cast<int64_t>(it->first);
  blocks_.erase(it);
  return p;
}

void BlockCache::put(size_t block, void* p) {
  blocks_.emplace(block, p);
  bytes_ += static_cast<int64_t>(block);
}

void BlockCache::absorb(BlockCache& other) {
  blocks_.merge(other.blocks_);
  bytes_ += other.bytes_;
  other.bytes_ = 0;
}

CpuAllocator::CpuAllocator(size_t cache_limit_bytes) : cache_limit_(cache_limit_bytes) {}

CpuAllocator::~CpuAllocator() { empty_cache(); }

void* CpuAllocator::allocate(size_t bytes) {
  const size_t size = round_up(std::max<size_t>(bytes, 1), kAlignment, Device::cpu());
  const bool cacheable = cache_limit_ > 0 && size >= kCacheMinBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(mutex_);
    size_t block = 0;
    if (void* p = cache_.take(size, &block)) {
      live_large_[p] = block;
      note_alloc(stats_, static_cast<int64_t>(block));
      ++stats_.cache_hits;
      stats_.cached_bytes = cache_.bytes();
      return p;
    }
  }
  // The C library call runs outside the lock: a large block is a new mapping.
  void* p = std::aligned_alloc(kAlignment, size);
  if (p == nullptr && cacheable) {
    // Out of memory: give the cache back and try once more.
    empty_cache();
    p = std::aligned_alloc(kAlignment, size);
  }
  V3D_CHECK(p != nullptr, "out of host memory allocating " << bytes << " bytes");
  std::lock_guard<std::mutex> lock(mutex_);
  if (cacheable) live_large_[p] = size;
  note_alloc(stats_, static_cast<int64_t>(size));
  stats_.reserved_bytes += static_cast<int64_t>(size);
  ++stats_.backend_allocs;
  return p;
}

void CpuAllocator::deallocate(void* ptr, size_t bytes) {
  if (ptr == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = live_large_.find(ptr);
    size_t block = 0;
    if (it != live_large_.end()) {
      block = it->second;
      live_large_.erase(it);
      stats_.allocated_bytes -= static_cast<int64_t>(block);
      if (static_cast<size_t>(cache_.bytes()) + block <= cache_limit_) {
        cache_.put(block, ptr);
        stats_.cached_bytes = cache_.bytes();
        return;
      }
    } else {
      block = round_up(std::max<size_t>(bytes, 1), kAlignment, Device::cpu());
      stats_.allocated_bytes -= static_cast<int64_t>(block);
    }
    stats_.reserved_bytes -= static_cast<int64_t>(block);
  }
  std::free(ptr);
}

void CpuAllocator::empty_cache() {
  std::vector<void*> blocks;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    cache_.release_all([&](void* p, size_t block) {
      blocks.push_back(p);
      stats_.reserved_bytes -= static_cast<int64_t>(block);
    });
    stats_.cached_bytes = 0;
  }
  for (void* p : blocks) std::free(p);
}

AllocatorStats CpuAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void CpuAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.peak_allocated_bytes = stats_.allocated_bytes;
}

CachingAllocator::CachingAllocator(GpuApi& api, Device device) : api_(api), device_(device) {}

CachingAllocator::~CachingAllocator() {
  // Process exit: the backend may already be torn down, so cached blocks are left to it.
}

int64_t CachingAllocator::cached_bytes_locked() const {
  int64_t bytes = 0;
  for (const auto& [stream, cache] : caches_) bytes += cache.bytes();
  return bytes;
}

void* CachingAllocator::allocate(size_t bytes) {
  const size_t size = round_up(std::max<size_t>(bytes, 1), kRound, device_);
  const kernels::StreamHandle stream = current_stream(device_);
  std::lock_guard<std::mutex> lock(mutex_);
  size_t block = 0;
  if (void* p = caches_[stream].take(size, &block)) {
    live_blocks_[p] = Live{block, stream};
    note_alloc(stats_, static_cast<int64_t>(block));
    ++stats_.cache_hits;
    stats_.cached_bytes = cached_bytes_locked();
    return p;
  }
  const DeviceGuard guard(device_);
  void* p = api_.malloc(size);
  if (p == nullptr) {
    // Out of memory: give the cache back and try once more.
    release_cached_locked();
    p = api_.malloc(size);
  }
  V3D_CHECK(p != nullptr, "out of " << device_.str() << " memory allocating " << bytes << " bytes ("
                                    << stats_.allocated_bytes << " bytes in use by tensors)");
  live_blocks_[p] = Live{size, stream};
  stats_.reserved_bytes += static_cast<int64_t>(size);
  ++stats_.backend_allocs;
  note_alloc(stats_, static_cast<int64_t>(size));
  return p;
}

void CachingAllocator::deallocate(void* ptr, size_t /*bytes*/) {
  if (ptr == nullptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = live_blocks_.find(ptr);
  V3D_CHECK(it != live_blocks_.end(), "deallocate of a pointer this allocator does not own");
  stats_.allocated_bytes -= static_cast<int64_t>(it->second.size);
  caches_[it->second.stream].put(it->second.size, ptr);
  stats_.cached_bytes = cached_bytes_locked();
  live_blocks_.erase(it);
}

void CachingAllocator::release_cached_locked() {
  // The backend's free waits for the device's queued work, so no block is freed under a kernel.
  const DeviceGuard guard(device_);
  for (auto& [stream, cache] : caches_) {
    cache.release_all([&](void* p, size_t block) {
      api_.free(p);
      stats_.reserved_bytes -= static_cast<int64_t>(block);
    });
  }
  caches_.clear();
  stats_.cached_bytes = 0;
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  release_cached_locked();
}

void CachingAllocator::release_stream(kernels::StreamHandle stream) {
  if (stream == nullptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = caches_.find(stream);
  if (it != caches_.end()) {
    caches_[nullptr].absorb(it->second);
    caches_.erase(stream);
  }
  // Blocks still in use that were allocated on it now belong to the default stream.
  for (auto& [p, live] : live_blocks_) {
    if (live.stream == stream) live.stream = nullptr;
  }
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void CachingAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.peak_allocated_bytes = stats_.allocated_bytes;
}

Allocator& allocator_for(Device device) {
  // Allocators live for the whole process (tensors may be destroyed during static destruction).
  static CpuAllocator* cpu = new CpuAllocator(cpu_cache_limit_from_env());
  static std::mutex mutex;
  static std::map<std::pair<int, int>, Allocator*>* gpu =
      new std::map<std::pair<int, int>, Allocator*>();
  if (device.is_cpu()) return *cpu;
  std::lock_guard<std::mutex> lock(mutex);
  auto key = std::make_pair(static_cast<int>(device.type), device.index);
  auto it = gpu->find(key);
  if (it != gpu->end()) return *it->second;
  GpuApi& api = gpu_api(device.gpu_kind());
  if (device.type == DeviceType::kCUDA) {
    std::string why;
    V3D_CHECK(cuda_available(&why), "cannot use device " << device.str() << ": " << why);
  }
  Allocator* a = new CachingAllocator(api, device);
  gpu->emplace(key, a);
  return *a;
}

}  // namespace v3d
