// CPU and caching GPU allocators.
#include "runtime/allocator.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <memory>

#include "runtime/gpu_api.h"

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

void note_alloc(AllocatorStats& s, int64_t bytes) {
  s.allocated_bytes += bytes;
  s.peak_allocated_bytes = std::max(s.peak_allocated_bytes, s.allocated_bytes);
  ++s.allocations;
}
}  // namespace

void* CpuAllocator::allocate(size_t bytes) {
  const size_t size = round_up(std::max<size_t>(bytes, 1), kAlignment, Device::cpu());
  void* p = std::aligned_alloc(kAlignment, size);
  V3D_CHECK(p != nullptr, "out of host memory allocating " << bytes << " bytes");
  std::lock_guard<std::mutex> lock(mutex_);
  note_alloc(stats_, static_cast<int64_t>(size));
  stats_.reserved_bytes = stats_.allocated_bytes;
  ++stats_.backend_allocs;
  return p;
}

void CpuAllocator::deallocate(void* ptr, size_t bytes) {
  if (ptr == nullptr) return;
  std::free(ptr);
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.allocated_bytes -=
      static_cast<int64_t>(round_up(std::max<size_t>(bytes, 1), kAlignment, Device::cpu()));
  stats_.reserved_bytes = stats_.allocated_bytes;
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

void* CachingAllocator::allocate(size_t bytes) {
  const size_t size = round_up(std::max<size_t>(bytes, 1), kRound, device_);
  std::lock_guard<std::mutex> lock(mutex_);
  // Best fit among cached blocks, but never a block more than twice the request, so that small
  // tensors do not pin large blocks.
  auto it = free_blocks_.lower_bound(size);
  if (it != free_blocks_.end() && it->first <= 2 * size) {
    void* p = it->second;
    const size_t block = it->first;
    free_blocks_.erase(it);
    live_blocks_[p] = block;
    note_alloc(stats_, static_cast<int64_t>(block));
    ++stats_.cache_hits;
    return p;
  }
  void* p = api_.malloc(size);
  if (p == nullptr) {
    // Out of memory: give the cache back and try once more.
    release_cached_locked();
    p = api_.malloc(size);
  }
  V3D_CHECK(p != nullptr, "out of " << device_.str() << " memory allocating " << bytes << " bytes ("
                                    << stats_.allocated_bytes << " bytes in use by tensors)");
  live_blocks_[p] = size;
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
  stats_.allocated_bytes -= static_cast<int64_t>(it->second);
  free_blocks_.emplace(it->second, ptr);
  live_blocks_.erase(it);
}

void CachingAllocator::release_cached_locked() {
  for (auto& [size, p] : free_blocks_) {
    api_.free(p);
    stats_.reserved_bytes -= static_cast<int64_t>(size);
  }
  free_blocks_.clear();
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  release_cached_locked();
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
  static CpuAllocator* cpu = new CpuAllocator();
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
    api.set_device(device.index);
  }
  Allocator* a = new CachingAllocator(api, device);
  gpu->emplace(key, a);
  return *a;
}

}  // namespace v3d
