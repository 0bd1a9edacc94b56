// Allocators: the CPU allocator's alignment and statistics, and the GPU caching allocator's reuse
// rules (best fit, never a block more than twice the rounded request), peak tracking and
// empty_cache. Private allocator instances give exact statistics; the process-wide allocators are
// checked through tensors with before/after differences.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "runtime/allocator.h"
#include "runtime/gpu_api.h"
#include "runtime/tensor.h"
#include "tests/runtime/test_util.h"

namespace v3d {
namespace {

uintptr_t addr(const void* p) { return reinterpret_cast<uintptr_t>(p); }

// ---- CpuAllocator -----------------------------------------------------------------------------

TEST(CpuAllocator, BlocksAre64ByteAlignedAndWritable) {
  CpuAllocator a;
  EXPECT_EQ(a.device(), Device::cpu());
  std::vector<std::pair<void*, size_t>> blocks;
  for (size_t bytes : {size_t{0}, size_t{1}, size_t{3}, size_t{63}, size_t{64}, size_t{65},
                       size_t{1000}, size_t{1} << 20}) {
    void* p = a.allocate(bytes);
    ASSERT_NE(p, nullptr) << bytes;
    EXPECT_EQ(addr(p) % CpuAllocator::kAlignment, 0u) << bytes << " bytes";
    // The whole request is usable (a sanitizer build catches a short block here).
    auto* c = static_cast<unsigned char*>(p);
    for (size_t i = 0; i < bytes; ++i) c[i] = static_cast<unsigned char>(i);
    blocks.emplace_back(p, bytes);
  }
  for (auto& [p, bytes] : blocks) a.deallocate(p, bytes);
  EXPECT_EQ(a.stats().allocated_bytes, 0);
}

TEST(CpuAllocator, StatsCountRoundedBytesAndPeak) {
  CpuAllocator a;
  const AllocatorStats s0 = a.stats();
  EXPECT_EQ(s0.allocated_bytes, 0);
  EXPECT_EQ(s0.allocations, 0);

  void* p1 = a.allocate(1);     // 64
  void* p2 = a.allocate(65);    // 128
  void* p3 = a.allocate(1000);  // 1024
  AllocatorStats s = a.stats();
  EXPECT_EQ(s.allocated_bytes, 64 + 128 + 1024);
  EXPECT_EQ(s.reserved_bytes, s.allocated_bytes);
  EXPECT_EQ(s.peak_allocated_bytes, 64 + 128 + 1024);
  EXPECT_EQ(s.allocations, 3);
  EXPECT_EQ(s.backend_allocs, 3);
  EXPECT_EQ(s.cache_hits, 0);

  a.deallocate(p3, 1000);
  s = a.stats();
  EXPECT_EQ(s.allocated_bytes, 64 + 128);
  EXPECT_EQ(s.reserved_bytes, 64 + 128);
  EXPECT_EQ(s.peak_allocated_bytes, 64 + 128 + 1024);  // the peak stays

  a.reset_peak();
  EXPECT_EQ(a.stats().peak_allocated_bytes, 64 + 128);
  void* p4 = a.allocate(128);
  EXPECT_EQ(a.stats().peak_allocated_bytes, 64 + 128 + 128);
  a.deallocate(p4, 128);
  a.deallocate(p2, 65);
  a.deallocate(p1, 1);
  s = a.stats();
  EXPECT_EQ(s.allocated_bytes, 0);
  EXPECT_EQ(s.allocations, 4);
  a.deallocate(nullptr, 10);  // a no-op
  EXPECT_EQ(a.stats().allocated_bytes, 0);
  a.empty_cache();  // no cache: a no-op
  EXPECT_EQ(a.stats().allocated_bytes, 0);
}

TEST(CpuAllocator, ImpossibleRequestThrowsInsteadOfReturningATinyBlock) {
  CpuAllocator a;
  // Rounding SIZE_MAX up to 64 must not wrap around to a small size.
  EXPECT_V3D_ERROR(a.allocate(std::numeric_limits<size_t>::max() - 10), "out of host memory");
  EXPECT_EQ(a.stats().allocated_bytes, 0);
}

TEST(CpuAllocator, ProcessAllocatorBacksCpuTensors) {
  Allocator& a = allocator_for(Device::cpu());
  EXPECT_EQ(&a, &allocator_for(Device::cpu()));
  EXPECT_EQ(a.device(), Device::cpu());
  const int64_t before = a.stats().allocated_bytes;
  {
    const Tensor t = Tensor::empty({1000}, DType::kF32, Device::cpu());
    EXPECT_EQ(a.stats().allocated_bytes - before, 4032);  // 4000 rounded up to 64
  }
  EXPECT_EQ(a.stats().allocated_bytes, before);
}

// ---- CpuAllocator's cache ----------------------------------------------------------------------

constexpr size_t kLarge = CpuAllocator::kCacheMinBytes;  // the smallest cached block

TEST(CpuAllocatorCache, FreedLargeBlockIsReusedWithoutABackendCall) {
  CpuAllocator a;
  void* p = a.allocate(4 * kLarge);
  static_cast<unsigned char*>(p)[4 * kLarge - 1] = 7;
  a.deallocate(p, 4 * kLarge);
  AllocatorStats s = a.stats();
  EXPECT_EQ(s.allocated_bytes, 0);
  EXPECT_EQ(s.cached_bytes, static_cast<int64_t>(4 * kLarge));
  EXPECT_EQ(s.reserved_bytes, static_cast<int64_t>(4 * kLarge));

  void* q = a.allocate(4 * kLarge);
  EXPECT_EQ(q, p);
  s = a.stats();
  EXPECT_EQ(s.backend_allocs, 1);
  EXPECT_EQ(s.cache_hits, 1);
  EXPECT_EQ(s.allocations, 2);
  EXPECT_EQ(s.allocated_bytes, static_cast<int64_t>(4 * kLarge));
  EXPECT_EQ(s.cached_bytes, 0);
  a.deallocate(q, 4 * kLarge);
}

TEST(CpuAllocatorCache, ReusedBlocksStay64ByteAligned) {
  CpuAllocator a;
  std::vector<void*> blocks;
  for (int round = 0; round < 3; ++round) {
    for (size_t k = 1; k <= 8; ++k) {
      void* p = a.allocate(k * kLarge + 3 * k);
      ASSERT_NE(p, nullptr);
      EXPECT_EQ(addr(p) % CpuAllocator::kAlignment, 0u) << "round " << round << " k " << k;
      blocks.push_back(p);
    }
    for (size_t k = 1; k <= 8; ++k) a.deallocate(blocks[k - 1], k * kLarge + 3 * k);
    blocks.clear();
  }
  EXPECT_EQ(a.stats().backend_allocs, 8);
  EXPECT_EQ(a.stats().cache_hits, 16);
}

TEST(CpuAllocatorCache, BestFitNeverMoreThanTwiceTheRequest) {
  CpuAllocator a;
  void* big = a.allocate(8 * kLarge);
  void* mid = a.allocate(3 * kLarge);
  a.deallocate(big, 8 * kLarge);
  a.deallocate(mid, 3 * kLarge);
  // 2 * kLarge: the 3x block is the smallest fit within twice the request.
  void* p = a.allocate(2 * kLarge);
  EXPECT_EQ(p, mid);
  // 3 * kLarge: only the 8x block is left, more than twice the request: a fresh block.
  void* q = a.allocate(3 * kLarge);
  EXPECT_NE(q, big);
  EXPECT_EQ(a.stats().allocated_bytes, static_cast<int64_t>(6 * kLarge));
  EXPECT_EQ(a.stats().cached_bytes, static_cast<int64_t>(8 * kLarge));
  a.deallocate(p, 2 * kLarge);
  a.deallocate(q, 3 * kLarge);
}

TEST(CpuAllocatorCache, SmallBlocksAreNotCached) {
  CpuAllocator a;
  void* p = a.allocate(kLarge - 64);
  a.deallocate(p, kLarge - 64);
  const AllocatorStats s = a.stats();
  EXPECT_EQ(s.cached_bytes, 0);
  EXPECT_EQ(s.reserved_bytes, 0);
}

TEST(CpuAllocatorCache, LimitBoundsTheCachedBytes) {
  CpuAllocator a(3 * kLarge);
  void* p1 = a.allocate(2 * kLarge);
  void* p2 = a.allocate(2 * kLarge);
  a.deallocate(p1, 2 * kLarge);  // cached: 2 of 3
  a.deallocate(p2, 2 * kLarge);  // would make 4 of 3: freed
  const AllocatorStats s = a.stats();
  EXPECT_EQ(s.cached_bytes, static_cast<int64_t>(2 * kLarge));
  EXPECT_EQ(s.reserved_bytes, static_cast<int64_t>(2 * kLarge));
  EXPECT_EQ(s.allocated_bytes, 0);
}

TEST(CpuAllocatorCache, ZeroLimitDisablesTheCache) {
  CpuAllocator a(0);
  void* p = a.allocate(4 * kLarge);
  a.deallocate(p, 4 * kLarge);
  void* q = a.allocate(4 * kLarge);
  a.deallocate(q, 4 * kLarge);
  const AllocatorStats s = a.stats();
  EXPECT_EQ(s.backend_allocs, 2);
  EXPECT_EQ(s.cache_hits, 0);
  EXPECT_EQ(s.reserved_bytes, 0);
  EXPECT_EQ(s.cached_bytes, 0);
}

TEST(CpuAllocatorCache, EmptyCacheReleasesOnlyCachedBlocks) {
  CpuAllocator a;
  void* live = a.allocate(2 * kLarge);
  void* cached = a.allocate(5 * kLarge);
  a.deallocate(cached, 5 * kLarge);
  EXPECT_EQ(a.stats().reserved_bytes, static_cast<int64_t>(7 * kLarge));
  a.empty_cache();
  AllocatorStats s = a.stats();
  EXPECT_EQ(s.cached_bytes, 0);
  EXPECT_EQ(s.reserved_bytes, static_cast<int64_t>(2 * kLarge));
  EXPECT_EQ(s.allocated_bytes, static_cast<int64_t>(2 * kLarge));
  // The next request of that size goes to the backend again.
  void* again = a.allocate(5 * kLarge);
  EXPECT_EQ(a.stats().backend_allocs, 3);
  a.deallocate(again, 5 * kLarge);
  a.deallocate(live, 2 * kLarge);
}

TEST(CpuAllocatorCache, ConcurrentUseKeepsStatsConsistent) {
  CpuAllocator a;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&a, t] {
      for (int i = 0; i < 200; ++i) {
        const size_t bytes = (1 + static_cast<size_t>((i + t) % 5)) * kLarge;
        void* p = a.allocate(bytes);
        static_cast<unsigned char*>(p)[bytes - 1] = static_cast<unsigned char>(i);
        void* small = a.allocate(100);
        a.deallocate(small, 100);
        a.deallocate(p, bytes);
      }
    });
  }
  for (auto& th : threads) th.join();
  const AllocatorStats s = a.stats();
  EXPECT_EQ(s.allocated_bytes, 0);
  EXPECT_EQ(s.reserved_bytes, s.cached_bytes);
  EXPECT_EQ(s.allocations, 4 * 200 * 2);
  EXPECT_EQ(s.backend_allocs + s.cache_hits, s.allocations);
  a.empty_cache();
  EXPECT_EQ(a.stats().reserved_bytes, 0);
}

// ---- CachingAllocator (private instances over a GPU backend) ---------------------------------

class CachingAllocatorTest : public test::DeviceTest {
 protected:
  void SetUp() override {
    DeviceTest::SetUp();
    if (!IsSkipped()) alloc_ = std::make_unique<CachingAllocator>(api(), GetParam());
  }
  void TearDown() override {
    if (!alloc_) return;  // skipped: no device
    for (void* p : live_) alloc_->deallocate(p, 0);
    alloc_->empty_cache();
    EXPECT_EQ(alloc_->stats().reserved_bytes, 0);
  }
  GpuApi& api() { return gpu_api(GetParam().gpu_kind()); }
  void* take(size_t bytes) {
    void* p = alloc_->allocate(bytes);
    live_.push_back(p);
    return p;
  }
  void give(void* p) {
    alloc_->deallocate(p, 0);
    live_.erase(std::find(live_.begin(), live_.end(), p));
  }

  std::unique_ptr<CachingAllocator> alloc_;
  std::vector<void*> live_;
};

TEST_P(CachingAllocatorTest, FreshAllocationCountsRoundedBytes) {
  EXPECT_EQ(alloc_->device(), GetParam());
  void* p = take(1000);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(addr(p) % 256, 0u);  // cudaMalloc's alignment
  const AllocatorStats s = alloc_->stats();
  EXPECT_EQ(s.allocated_bytes, 1024);
  EXPECT_EQ(s.reserved_bytes, 1024);
  EXPECT_EQ(s.peak_allocated_bytes, 1024);
  EXPECT_EQ(s.backend_allocs, 1);
  EXPECT_EQ(s.cache_hits, 0);
  EXPECT_EQ(s.allocations, 1);
}

TEST_P(CachingAllocatorTest, FreedBlockIsReusedFromTheCache) {
  void* p = take(3000);  // 3072
  give(p);
  AllocatorStats s = alloc_->stats();
  EXPECT_EQ(s.allocated_bytes, 0);
  EXPECT_EQ(s.reserved_bytes, 3072);  // kept in the cache

  void* q = take(3000);
  EXPECT_EQ(q, p);
  s = alloc_->stats();
  EXPECT_EQ(s.cache_hits, 1);
  EXPECT_EQ(s.backend_allocs, 1);
  EXPECT_EQ(s.allocations, 2);
  EXPECT_EQ(s.allocated_bytes, 3072);
  EXPECT_EQ(s.reserved_bytes, 3072);

  // A near size rounds to the same granule and reuses the block too.
  give(q);
  void* r = take(2600);
  EXPECT_EQ(r, p);
  EXPECT_EQ(alloc_->stats().cache_hits, 2);
  EXPECT_EQ(alloc_->stats().backend_allocs, 1);
}

TEST_P(CachingAllocatorTest, ReusedBlockKeepsItsData) {
  // The cache hands back the same device memory; its bytes are whatever the last user left.
  void* p = take(512);
  const std::vector<float> v = test::iota_vec(128, 1.0f);
  api().copy(p, v.data(), 512, CopyDir::kHostToDevice, nullptr);
  api().stream_synchronize(nullptr);
  give(p);
  void* q = take(512);
  ASSERT_EQ(q, p);
  std::vector<float> back(128);
  api().copy(back.data(), q, 512, CopyDir::kDeviceToHost, nullptr);
  api().stream_synchronize(nullptr);
  EXPECT_EQ(back, v);
}

TEST_P(CachingAllocatorTest, NeverReusesABlockMoreThanTwiceTheRequest) {
  void* big = take(4096);
  give(big);
  // 1024 * 2 < 4096: a new block from the backend, the 4096 block stays cached.
  void* small = take(1024);
  EXPECT_NE(small, big);
  AllocatorStats s = alloc_->stats();
  EXPECT_EQ(s.backend_allocs, 2);
  EXPECT_EQ(s.cache_hits, 0);
  EXPECT_EQ(s.reserved_bytes, 4096 + 1024);
  EXPECT_EQ(s.allocated_bytes, 1024);

  // 2048 * 2 == 4096: exactly twice is allowed.
  void* mid = take(2048);
  EXPECT_EQ(mid, big);
  s = alloc_->stats();
  EXPECT_EQ(s.cache_hits, 1);
  EXPECT_EQ(s.backend_allocs, 2);
  EXPECT_EQ(s.allocated_bytes, 1024 + 4096);  // the whole block counts as allocated

  // Just under half: 1600 rounds to 2048 -> allowed; 1500 rounds to 1536 -> 3072 < 4096, refused.
  give(mid);
  void* under = take(1500);
  EXPECT_NE(under, big);
  EXPECT_EQ(alloc_->stats().backend_allocs, 3);
  void* ok = take(1600);
  EXPECT_EQ(ok, big);
  EXPECT_EQ(alloc_->stats().cache_hits, 2);
}

TEST_P(CachingAllocatorTest, BestFitPicksTheSmallestFittingBlock) {
  void* b4 = take(4096);
  void* b2 = take(2048);
  void* b3 = take(3072);
  give(b4);
  give(b2);
  give(b3);
  EXPECT_EQ(take(2048), b2);
  EXPECT_EQ(take(2560), b3);  // 3072 is the smallest block >= 2560
  EXPECT_EQ(take(2560), b4);  // 4096 <= 2 * 2560
  EXPECT_EQ(alloc_->stats().cache_hits, 3);
  EXPECT_EQ(alloc_->stats().backend_allocs, 3);
}

TEST_P(CachingAllocatorTest, PeakTrackingAndResetPeak) {
  void* a = take(4096);
  void* b = take(8192);
  EXPECT_EQ(alloc_->stats().peak_allocated_bytes, 4096 + 8192);
  give(b);
  AllocatorStats s = alloc_->stats();
  EXPECT_EQ(s.allocated_bytes, 4096);
  EXPECT_EQ(s.peak_allocated_bytes, 4096 + 8192);
  alloc_->reset_peak();
  EXPECT_EQ(alloc_->stats().peak_allocated_bytes, 4096);
  void* c = take(512);
  EXPECT_EQ(alloc_->stats().peak_allocated_bytes, 4096 + 512);
  give(c);
  give(a);
  EXPECT_EQ(alloc_->stats().peak_allocated_bytes, 4096 + 512);
  alloc_->reset_peak();
  EXPECT_EQ(alloc_->stats().peak_allocated_bytes, 0);
}

TEST_P(CachingAllocatorTest, EmptyCacheReturnsOnlyCachedBlocks) {
  void* keep = take(1024);
  void* drop1 = take(2048);
  void* drop2 = take(8192);
  give(drop1);
  give(drop2);
  EXPECT_EQ(alloc_->stats().reserved_bytes, 1024 + 2048 + 8192);
  alloc_->empty_cache();
  AllocatorStats s = alloc_->stats();
  EXPECT_EQ(s.reserved_bytes, 1024);
  EXPECT_EQ(s.allocated_bytes, 1024);
  // Nothing cached any more: the next allocation goes to the backend.
  const int64_t backend = s.backend_allocs;
  take(2048);
  EXPECT_EQ(alloc_->stats().backend_allocs, backend + 1);
  EXPECT_EQ(alloc_->stats().cache_hits, 0);
  // The live block is still valid and owned.
  give(keep);
  EXPECT_EQ(alloc_->stats().allocated_bytes, 2048);
}

TEST_P(CachingAllocatorTest, ZeroByteRequestsGetDistinctBlocks) {
  void* a = take(0);
  void* b = take(0);
  EXPECT_NE(a, nullptr);
  EXPECT_NE(a, b);
  EXPECT_EQ(alloc_->stats().allocated_bytes, 2 * 512);
}

TEST_P(CachingAllocatorTest, DeallocatingAForeignPointerThrows) {
  int on_stack = 0;
  EXPECT_V3D_ERROR(alloc_->deallocate(&on_stack, 4), "does not own");
  void* p = take(512);
  give(p);
  EXPECT_V3D_ERROR(alloc_->deallocate(p, 512), "does not own");  // double free
  alloc_->deallocate(nullptr, 0);                                // a no-op
  EXPECT_EQ(alloc_->stats().allocated_bytes, 0);
}

TEST_P(CachingAllocatorTest, OutOfMemoryReleasesTheCacheAndThrows) {
  void* p = take(4096);
  give(p);
  EXPECT_EQ(alloc_->stats().reserved_bytes, 4096);
  // Far more than any machine has, but small enough that rounding does not overflow.
  const size_t huge = size_t{1} << 60;
  EXPECT_V3D_ERROR(alloc_->allocate(huge), "out of " + GetParam().str() + " memory",
                   std::to_string(huge));
  // The failed attempt gave the cached block back before retrying.
  EXPECT_EQ(alloc_->stats().reserved_bytes, 0);
  EXPECT_EQ(alloc_->stats().allocated_bytes, 0);
}

TEST_P(CachingAllocatorTest, RequestNearSizeMaxThrowsInsteadOfReturningATinyBlock) {
  // round_up(SIZE_MAX - 10, 512) must not wrap around to a small size.
  EXPECT_V3D_ERROR(alloc_->allocate(std::numeric_limits<size_t>::max() - 10), "out of");
  EXPECT_EQ(alloc_->stats().allocated_bytes, 0);
}

TEST_P(CachingAllocatorTest, ConcurrentUseKeepsStatsConsistent) {
  // Several host threads allocating and freeing through one allocator: no block is handed out
  // twice while live, and the statistics add up afterwards.
  constexpr int kThreads = 4, kRounds = 500;
  std::vector<std::thread> threads;
  std::atomic<int> overlaps{0};
  std::mutex live_mutex;
  std::set<void*> live;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        const size_t bytes = 512 * static_cast<size_t>(1 + (r + t) % 4);
        void* p = alloc_->allocate(bytes);
        {
          std::lock_guard<std::mutex> lock(live_mutex);
          if (!live.insert(p).second) ++overlaps;
        }
        {
          std::lock_guard<std::mutex> lock(live_mutex);
          live.erase(p);
        }
        alloc_->deallocate(p, bytes);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(overlaps.load(), 0);
  const AllocatorStats s = alloc_->stats();
  EXPECT_EQ(s.allocated_bytes, 0);
  EXPECT_EQ(s.allocations, kThreads * kRounds);
  EXPECT_EQ(s.backend_allocs + s.cache_hits, s.allocations);
  EXPECT_LE(s.backend_allocs, 4 * kThreads);  // at most one live block per thread and size
}

INSTANTIATE_TEST_SUITE_P(GpuDevices, CachingAllocatorTest,
                         ::testing::ValuesIn(test::gpu_device_params()), test::device_test_name);

// ---- The process-wide allocator of a GPU device, through tensors ----------------------------

class GpuAllocatorTest : public test::DeviceTest {};

TEST_P(GpuAllocatorTest, ProcessAllocatorIsOneCachingAllocatorPerDevice) {
  Allocator& a = allocator_for(GetParam());
  EXPECT_EQ(&a, &allocator_for(GetParam()));
  EXPECT_NE(&a, &allocator_for(Device::cpu()));
  EXPECT_EQ(a.device(), GetParam());
  EXPECT_NE(dynamic_cast<CachingAllocator*>(&a), nullptr);
}

TEST_P(GpuAllocatorTest, FreedTensorMemoryIsReused) {
  Allocator& a = allocator_for(GetParam());
  // A size no other test uses, so that the first allocation is not itself a cache hit.
  const int64_t n = 77777;
  a.empty_cache();
  const AllocatorStats s0 = a.stats();
  void* first = nullptr;
  {
    const Tensor t = Tensor::empty({n}, DType::kF32, GetParam());
    first = t.raw();
  }
  const AllocatorStats s1 = a.stats();
  EXPECT_EQ(s1.backend_allocs, s0.backend_allocs + 1);
  EXPECT_EQ(s1.allocated_bytes, s0.allocated_bytes);
  {
    const Tensor t = Tensor::empty({n}, DType::kF32, GetParam());
    EXPECT_EQ(t.raw(), first);
  }
  const AllocatorStats s2 = a.stats();
  EXPECT_EQ(s2.cache_hits, s1.cache_hits + 1);
  EXPECT_EQ(s2.backend_allocs, s1.backend_allocs);
  EXPECT_EQ(s2.allocations, s1.allocations + 1);
}

TEST_P(GpuAllocatorTest, PeakTracksTensorsAndResets) {
  Allocator& a = allocator_for(GetParam());
  a.empty_cache();  // fresh blocks of exactly the rounded size, not larger cached ones
  a.reset_peak();
  const int64_t base = a.stats().allocated_bytes;
  EXPECT_EQ(a.stats().peak_allocated_bytes, base);
  {
    const Tensor t1 = Tensor::empty({1 << 16}, DType::kF32, GetParam());  // 256 KiB
    const Tensor t2 = Tensor::empty({1 << 15}, DType::kF32, GetParam());  // 128 KiB
    EXPECT_EQ(a.stats().allocated_bytes, base + (3 << 17));
  }
  EXPECT_EQ(a.stats().allocated_bytes, base);
  EXPECT_GE(a.stats().peak_allocated_bytes, base + (3 << 17));
  a.reset_peak();
  EXPECT_EQ(a.stats().peak_allocated_bytes, base);
}

TEST_P(GpuAllocatorTest, EmptyCacheLowersReservedBytes) {
  Allocator& a = allocator_for(GetParam());
  { const Tensor t = Tensor::empty({1 << 18}, DType::kF32, GetParam()); }
  const AllocatorStats before = a.stats();
  EXPECT_GE(before.reserved_bytes - before.allocated_bytes, int64_t{1} << 20);
  a.empty_cache();
  const AllocatorStats after = a.stats();
  EXPECT_LE(after.reserved_bytes, before.reserved_bytes - (int64_t{1} << 20));
  EXPECT_EQ(after.reserved_bytes, after.allocated_bytes);  // nothing cached is left
}

INSTANTIATE_TEST_SUITE_P(GpuDevices, GpuAllocatorTest,
                         ::testing::ValuesIn(test::gpu_device_params()), test::device_test_name);

}  // namespace
}  // namespace v3d
