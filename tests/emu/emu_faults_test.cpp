// The emulator must report misuse instead of producing plausible numbers: deadlocks, exited lanes
// at a barrier, bad warp masks, shared-memory overflow, exceptions in kernel code, refused launch
// configurations. Also checks seed mode and the negative kernels (broken copies of correct ones).
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "kernels/common.h"
#include "kernels/gpu/compat.h"
#include "tests/emu/emutest_kernels.h"
#include "tests/emu/fault_util.h"

namespace v3d::emutest {
namespace {

namespace dev = emu;

// Restores the seed a test changed (ctest also runs this binary with CUEMU_SEED=1).
// These tests run order-dependent kernels on purpose, which race mode would stop at the race.
class SeededTest : public ::testing::Test {
 protected:
  void SetUp() override { cuemu::set_race_check(false); }
  void TearDown() override {
    cuemu::set_seed(saved_);
    cuemu::set_race_check(saved_races_);
  }
  uint64_t saved_ = cuemu::seed();
  bool saved_races_ = cuemu::race_check();
};

TEST(EmuFaults, BarrierInDivergentBranchIsADeadlock) {
  const std::string m = fault_of(dev::divergent_barrier);
  EXPECT_TRUE(contains(m, "deadlock")) << m;
  EXPECT_TRUE(contains(m, "divergent_barrier_kernel")) << m;
  EXPECT_TRUE(contains(m, "threads 0-15: waiting at __syncthreads (emutest_kernels.cu:")) << m;
  EXPECT_TRUE(contains(m, "threads 16-63: waiting at __syncthreads (emutest_kernels.cu:")) << m;
  // The emulator is usable after a fault (the abandoned fibers were unwound).
  EXPECT_EQ(dev::block_reduce_sum(std::vector<int>(64, 1), 64)[0], 64);
}

TEST(EmuFaults, ExitedThreadsWhileOthersWaitAtBarrier) {
  const std::string m = fault_of(dev::exit_before_barrier);
  EXPECT_TRUE(contains(m, "24 thread(s) exited while others wait at __syncthreads")) << m;
  EXPECT_TRUE(contains(m, "threads 8-31: exited")) << m;
}

TEST(EmuFaults, ShuffleCallerOutsideMask) {
  const std::string m = fault_of(dev::shuffle_outside_mask);
  EXPECT_TRUE(contains(m, "is not in mask 0x1")) << m;
  EXPECT_TRUE(contains(m, "shuffle_outside_mask_kernel")) << m;
}

TEST(EmuFaults, LanesDisagreeOnMask) {
  const std::string m = fault_of(dev::mask_disagreement);
  EXPECT_TRUE(contains(m, "lanes disagree")) << m;
  EXPECT_TRUE(contains(m, "mask 0xffff0000")) << m;
}

TEST(EmuFaults, LanesDisagreeOnOp) {
  const std::string m = fault_of(dev::op_disagreement);
  EXPECT_TRUE(contains(m, "lanes disagree")) << m;
  EXPECT_TRUE(contains(m, "__shfl_up_sync")) << m;
  EXPECT_TRUE(contains(m, "__shfl_down_sync")) << m;
}

TEST(EmuFaults, WarpCollectiveAgainstBarrier) {
  const std::string m = fault_of(dev::warp_op_against_barrier);
  EXPECT_TRUE(contains(m, "deadlock")) << m;
  EXPECT_TRUE(contains(m, "threads 0-15: waiting at __shfl_sync mask 0xffffffff")) << m;
  EXPECT_TRUE(contains(m, "threads 16-31: waiting at __syncthreads")) << m;
}

TEST(EmuFaults, DynamicSharedMemoryOverflowTripsCanary) {
  const std::string m = fault_of(dev::smem_overflow);
  EXPECT_TRUE(contains(m, "dynamic shared memory overflow")) << m;
  EXPECT_TRUE(contains(m, "smem_overflow_kernel")) << m;
}

TEST(EmuFaults, ExceptionInKernelCode) {
  const std::string m = fault_of(dev::kernel_throws);
  EXPECT_TRUE(contains(m, "kernel-side failure")) << m;
  EXPECT_TRUE(contains(m, "thread (3,0,0)")) << m;
}

TEST(EmuFaults, InvalidLaunchConfigurationSetsLastError) {
  const int ok = static_cast<int>(gpu::kSuccess);
  const int bad = static_cast<int>(cuemu::ErrorCode::kInvalidConfiguration);
  EXPECT_EQ(dev::launch_config_error(1, 1, 1, 1024, 1, 1, 0), ok);
  EXPECT_EQ(dev::launch_config_error(1, 1, 1, 1025, 1, 1, 0), bad);
  EXPECT_EQ(dev::launch_config_error(1, 1, 1, 16, 16, 8, 0), bad) << "2048 threads";
  EXPECT_EQ(dev::launch_config_error(1, 1, 1, 1, 1, 65, 0), bad) << "block z > 64";
  EXPECT_EQ(dev::launch_config_error(1, 65536, 1, 32, 1, 1, 0), bad) << "grid y > 65535";
  EXPECT_EQ(dev::launch_config_error(0, 1, 1, 32, 1, 1, 0), bad) << "empty grid";
  EXPECT_EQ(dev::launch_config_error(1, 1, 1, 32, 1, 1, 48 * 1024), ok);
  EXPECT_EQ(dev::launch_config_error(1, 1, 1, 32, 1, 1, 48 * 1024 + 1), bad);
  EXPECT_THROW(dev::launch_checked(2048, 0), v3d::Error);
  EXPECT_EQ(dev::raise_smem_limit(228 * 1024), static_cast<int>(cuemu::ErrorCode::kInvalidValue));
  (void)gpu::GetLastError();
  EXPECT_EQ(dev::raise_smem_limit(100 * 1024), ok);
  EXPECT_EQ(dev::launch_config_error(1, 1, 1, 32, 1, 1, 100 * 1024), ok);
  EXPECT_EQ(dev::launch_config_error(1, 1, 1, 32, 1, 1, 100 * 1024 + 1), bad);
  EXPECT_NO_THROW(dev::launch_checked(32, 100 * 1024));
  EXPECT_EQ(dev::raise_smem_limit(0), ok);  // back to the 48 KiB default
}

TEST_F(SeededTest, RaceFreeKernelsGiveTheSameResultUnderAnySeed) {
  const std::vector<int> in = [] {
    std::vector<int> v(2000);
    std::iota(v.begin(), v.end(), -700);
    return v;
  }();
  std::vector<double> din(256);
  std::iota(din.begin(), din.end(), 0.5);
  cuemu::set_seed(0);
  const auto reduce0 = dev::block_reduce_sum(in, 256);
  const auto ladders0 = dev::warp_ladders(din, 128);
  const auto transpose0 =
      dev::tiled_transpose(std::vector<float>(in.begin(), in.end()), 40, 50, false);
  for (uint64_t seed : {1u, 2u, 977u}) {
    cuemu::set_seed(seed);
    EXPECT_EQ(dev::block_reduce_sum(in, 256), reduce0) << "seed " << seed;
    EXPECT_EQ(dev::warp_ladders(din, 128), ladders0) << "seed " << seed;
    EXPECT_EQ(dev::tiled_transpose(std::vector<float>(in.begin(), in.end()), 40, 50, false),
              transpose0)
        << "seed " << seed;
  }
}

TEST_F(SeededTest, SeedModeExposesOrderDependentKernels) {
  const int blocks = 16, block = 64;
  cuemu::set_seed(0);
  // Deterministic order: blocks and threads ascending, so the last writer is the last thread.
  EXPECT_EQ(dev::last_writer(blocks, block), std::vector<int>(blocks, block - 1));
  std::vector<int> identity(blocks);
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_EQ(dev::block_tickets(blocks), identity);
  bool writer_differs = false, order_differs = false;
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    cuemu::set_seed(seed);
    writer_differs |= dev::last_writer(blocks, block) != std::vector<int>(blocks, block - 1);
    std::vector<int> tickets = dev::block_tickets(blocks);
    order_differs |= tickets != identity;
    std::sort(tickets.begin(), tickets.end());
    EXPECT_EQ(tickets, identity) << "every block runs exactly once";
  }
  EXPECT_TRUE(writer_differs);
  EXPECT_TRUE(order_differs);
}

// ---- negative tests: the emulator must show the broken kernels wrong -------------------------

std::vector<int> reduce_reference(const std::vector<int>& in, size_t block) {
  std::vector<int> out((in.size() + block - 1) / block, 0);
  for (size_t i = 0; i < in.size(); ++i) out[i / block] += in[i];
  return out;
}

// Seed mode also interleaves threads between barriers (at loads and stores): a plain
// read-modify-write of one counter, silent when threads run one at a time, loses updates.
TEST_F(SeededTest, SeedModeInterleavesThreadsBetweenBarriers) {
  cuemu::set_seed(0);
  EXPECT_EQ(dev::count_threads(true), 96) << "threads run one at a time without a seed";
  int lost = 0;
  for (uint64_t s = 1; s <= 4; ++s) {
    cuemu::set_seed(s);
    lost += dev::count_threads(true) < 96 ? 1 : 0;
    EXPECT_EQ(dev::count_threads(false), 96) << "atomicAdd loses nothing, seed " << s;
  }
  EXPECT_GT(lost, 0) << "no seed interleaved a read and its write";
}

TEST_F(SeededTest, NegativeReductionWithoutBarrierIsDetected) {
  std::vector<int> in(10 * 256 + 100);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<int>(1 + i % 17);
  const std::vector<int> want = reduce_reference(in, 256);
  cuemu::set_seed(0);
  EXPECT_EQ(dev::tiled_reduce(in, false), want);
  // Deterministic order: thread 0 runs its whole tree loop before its partners have added into
  // their slots, so every block sum is wrong. No fault: a missing barrier is a silent race.
  const std::vector<int> broken = dev::tiled_reduce(in, true);
  ASSERT_EQ(broken.size(), want.size());
  for (size_t b = 0; b < want.size(); ++b) EXPECT_NE(broken[b], want[b]) << "block " << b;
  cuemu::set_seed(1);
  EXPECT_EQ(dev::tiled_reduce(in, false), want);
  EXPECT_NE(dev::tiled_reduce(in, true), want);
}

TEST_F(SeededTest, NegativeTransposeWithOffByOneTileIndexIsDetected) {
  const int rows = 37, cols = 53;  // not multiples of the 16x16 tile
  std::vector<float> in(static_cast<size_t>(rows) * cols);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i) * 0.25f + 1.0f;
  std::vector<float> want(in.size());
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) want[static_cast<size_t>(c) * rows + r] = in[r * cols + c];
  cuemu::set_seed(0);
  EXPECT_EQ(dev::tiled_transpose(in, rows, cols, false), want);
  const std::vector<float> broken = dev::tiled_transpose(in, rows, cols, true);
  size_t wrong = 0;
  for (size_t i = 0; i < want.size(); ++i) wrong += broken[i] != want[i];
  // Every element reads its tile neighbour or the never-written padding column.
  EXPECT_EQ(wrong, want.size());
}

// The reports below name the thread that the deterministic order (seed 0) runs into the bug
// first; ctest also runs this binary with a seed.
class EmuStrict : public ::testing::Test {
 protected:
  void SetUp() override { cuemu::set_seed(0); }
  void TearDown() override { cuemu::set_seed(saved_seed_); }
  uint64_t saved_seed_ = cuemu::seed();
};

// Race mode on for one test (ctest also runs the whole binary in race mode).
class RaceTest : public EmuStrict {
 protected:
  void SetUp() override {
    EmuStrict::SetUp();
    cuemu::set_race_check(true);
  }
  void TearDown() override {
    cuemu::set_race_check(saved_races_);
    EmuStrict::TearDown();
  }
  bool saved_races_ = cuemu::race_check();
};

// Planted bug: a read of static shared memory before any write. The emulator poisons every
// static shared declaration when a block first passes it, so the read sees 0xFF bytes: not zero
// (first use), not the previous block's values, not another kernel's values.
TEST_F(EmuStrict, StaticSharedIsPoisonedAtEveryBlockStart) {
  const std::vector<unsigned> seen = dev::shared_read_before_write();
  ASSERT_EQ(seen.size(), 48u);
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i], 0xffffffffu)
        << "kernel " << (i < 32 ? "a" : "b") << " block " << (i / 16) % 2 << " thread " << i % 16;
  }
  // 0xFF bytes read as a float are a NaN, so arithmetic on stale values shows in results.
  EXPECT_TRUE(std::isnan(__uint_as_float(seen[0])));
}

// Planted bug: thread 0 writes, the others read, the barrier between is missing. Deterministic
// order runs thread 0 first, so the numbers are right; race mode reports the conflict.
TEST_F(RaceTest, MissingBarrierAfterThreadZeroWritesIsReported) {
  EXPECT_EQ(dev::broadcast(false), std::vector<int>(128, 42));
  cuemu::set_race_check(false);
  EXPECT_EQ(dev::broadcast(true), std::vector<int>(128, 42)) << "silent without race mode";
  cuemu::set_race_check(true);
  const std::string m = fault_of([] { dev::broadcast(true); });
  EXPECT_TRUE(contains(m, "kernel '(broadcast_kernel<true>)' block (0,0,0) thread (1,0,0)")) << m;
  EXPECT_TRUE(contains(m, "data race on shared memory at 0x")) << m;
  EXPECT_TRUE(contains(m, "this thread's read")) << m;
  EXPECT_TRUE(contains(m, "thread (0,0,0)'s write")) << m;
  EXPECT_TRUE(contains(m, "same barrier interval")) << m;
}

// Planted bug: a lost update, a plain read-modify-write of one counter by every thread.
TEST_F(RaceTest, LostUpdateIsReported) {
  EXPECT_EQ(dev::count_threads(false), 96);
  cuemu::set_race_check(false);
  EXPECT_EQ(dev::count_threads(true), 96) << "threads run one at a time without race mode";
  cuemu::set_race_check(true);
  const std::string m = fault_of([] { dev::count_threads(true); });
  EXPECT_TRUE(contains(m, "kernel '(count_kernel<true>)' block (0,0,0) thread (1,0,0)")) << m;
  EXPECT_TRUE(contains(m, "data race on global memory at 0x")) << m;
  EXPECT_TRUE(contains(m, "byte 0 of the 4-byte allocation")) << m;
  EXPECT_TRUE(contains(m, "thread (0,0,0)'s write")) << m;
}

// Races across warps need a barrier; inside a warp __syncwarp orders too.
TEST_F(RaceTest, RaceFreeKernelsPassRaceMode) {
  EXPECT_EQ(dev::block_reduce_sum(std::vector<int>(1024, 1), 256), std::vector<int>(4, 256));
  EXPECT_EQ(dev::tiled_reduce(std::vector<int>(1000, 2), false),
            std::vector<int>({512, 512, 512, 464}));
  // The reduction without its loop barrier (a negative kernel) is reported, not just wrong.
  const std::string m = fault_of([] { dev::tiled_reduce(std::vector<int>(1000, 2), true); });
  EXPECT_TRUE(contains(m, "data race on shared memory")) << m;
}

// Planted bug: blocks of one launch write the same address. No barrier orders blocks.
TEST_F(RaceTest, BlocksWritingOneAddressIsReported) {
  const std::string m = fault_of(dev::blocks_write_one_address);
  EXPECT_TRUE(contains(m, "kernel 'last_block_wins_kernel' block (1,0,0) thread (0,0,0)")) << m;
  EXPECT_TRUE(contains(m, "data race on global memory at 0x")) << m;
  EXPECT_TRUE(contains(m, "block (0,0,0) thread (0,0,0)'s write")) << m;
  EXPECT_TRUE(contains(m, "nothing orders the blocks of a launch")) << m;
}

// Race mode tracks a bounded number of granules per barrier interval; past the bound the kernel
// still runs (untracked) instead of exhausting memory.
TEST_F(RaceTest, HugeIntervalsStayBounded) {
  const int n = 600000;  // over 2^18 granules
  const std::vector<int> out = dev::fill_one_block(n);
  ASSERT_EQ(out.size(), static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) ASSERT_EQ(out[i], i);
}

// Planted bug: a store one element past the end of an allocation. Bounds checks are always on.
TEST_F(EmuStrict, OutOfBoundsStoreIsReported) {
  const std::string m = fault_of(dev::store_past_end);
  EXPECT_TRUE(contains(m, "kernel 'store_past_end_kernel' block (0,0,0) thread (31,0,0)")) << m;
  EXPECT_TRUE(contains(m, "invalid write of 4 bytes at 0x")) << m;
  EXPECT_TRUE(contains(m, "0 bytes past the end of the 128-byte device allocation")) << m;
}

// Planted bug: a kernel dereferences a host pointer.
TEST_F(EmuStrict, HostPointerInKernelIsReported) {
  const std::string m = fault_of(dev::read_host_pointer);
  EXPECT_TRUE(contains(m, "kernel 'host_pointer_kernel' block (0,0,0) thread (0,0,0)")) << m;
  EXPECT_TRUE(contains(m, "invalid read of 4 bytes at 0x")) << m;
  EXPECT_TRUE(contains(m, "not in any device allocation (a host pointer?)")) << m;
}

// ---- asynchronous streams and several devices ----------------------------------------------

// Planted bug: a stream reads what another stream writes without waiting for it. Queued work runs
// only when something waits for it, so the reader runs first and sees fresh memory's poison.
TEST(EmuStreams, MissingStreamDependencyIsCaught) {
  EXPECT_EQ(dev::cross_stream_copy(300, 5, true), std::vector<int>(300, 5));
  EXPECT_EQ(dev::cross_stream_copy(300, 5, false), std::vector<int>(300, -1))
      << "without the event wait nothing orders the copy after the fill";
}

// Planted bug: the host reads the target of an asynchronous copy into page-locked memory before
// synchronising.
TEST(EmuStreams, HostReadBeforeSynchronisationSeesStaleData) {
  EXPECT_EQ(dev::pinned_readback(64, true), std::vector<int>(64, 7));
  EXPECT_EQ(dev::pinned_readback(64, false), std::vector<int>(64, 0));
}

TEST(EmuStreams, WorkRunsWhenSomethingWaitsForIt) {
  ASSERT_EQ(cuemu::pending_work(), 0u);
  void* p = nullptr;
  ASSERT_EQ(gpu::Malloc(&p, 64), gpu::kSuccess);
  std::vector<unsigned char> host(64, 9);
  // Fresh device memory is poisoned (all-ones bytes), as garbage would be on a GPU.
  ASSERT_EQ(gpu::Memcpy(host.data(), p, 64, gpu::CopyKind::DeviceToHost), gpu::kSuccess);
  EXPECT_EQ(host, std::vector<unsigned char>(64, 0xFF));
  ASSERT_EQ(gpu::Memset(p, 0, 64), gpu::kSuccess);
  EXPECT_EQ(cuemu::pending_work(), 1u) << "a memset is queued, not done";
  ASSERT_EQ(gpu::StreamSynchronize(nullptr), gpu::kSuccess);
  EXPECT_EQ(cuemu::pending_work(), 0u);
  ASSERT_EQ(gpu::Memcpy(host.data(), p, 64, gpu::CopyKind::DeviceToHost), gpu::kSuccess);
  EXPECT_EQ(host, std::vector<unsigned char>(64, 0));
  // The legacy default stream waits for the device's other streams, and they for it.
  gpu::Stream s = nullptr;
  ASSERT_EQ(gpu::StreamCreate(&s), gpu::kSuccess);
  ASSERT_EQ(gpu::MemsetAsync(p, 3, 64, s), gpu::kSuccess);
  ASSERT_EQ(gpu::Memcpy(host.data(), p, 64, gpu::CopyKind::DeviceToHost), gpu::kSuccess);
  EXPECT_EQ(host, std::vector<unsigned char>(64, 3));
  ASSERT_EQ(gpu::StreamDestroy(s), gpu::kSuccess);
  ASSERT_EQ(gpu::Free(p), gpu::kSuccess);
}

// cudaStreamNonBlocking: neither the legacy default stream nor the stream waits for the other.
TEST(EmuStreams, NonBlockingStreamsAreNotOrderedWithTheDefaultStream) {
  gpu::Stream s = nullptr;
  EXPECT_EQ(gpu::StreamCreateWithFlags(&s, 0x10), cuemu::ErrorCode::kInvalidValue);
  EXPECT_EQ(gpu::GetLastError(), cuemu::ErrorCode::kInvalidValue);
  ASSERT_EQ(gpu::StreamCreateWithFlags(&s, gpu::kStreamNonBlocking), gpu::kSuccess);
  void* p = nullptr;
  ASSERT_EQ(gpu::Malloc(&p, 64), gpu::kSuccess);
  ASSERT_EQ(gpu::Memset(p, 0, 64), gpu::kSuccess);
  ASSERT_EQ(gpu::StreamSynchronize(nullptr), gpu::kSuccess);
  std::vector<unsigned char> host(64, 9);
  ASSERT_EQ(gpu::MemsetAsync(p, 3, 64, s), gpu::kSuccess);
  // A blocking copy on the default stream does not wait for the non-blocking stream's memset.
  ASSERT_EQ(gpu::Memcpy(host.data(), p, 64, gpu::CopyKind::DeviceToHost), gpu::kSuccess);
  EXPECT_EQ(host, std::vector<unsigned char>(64, 0));
  ASSERT_EQ(gpu::StreamSynchronize(s), gpu::kSuccess);
  ASSERT_EQ(gpu::Memcpy(host.data(), p, 64, gpu::CopyKind::DeviceToHost), gpu::kSuccess);
  EXPECT_EQ(host, std::vector<unsigned char>(64, 3));
  // Nor does the non-blocking stream's work wait for the default stream's.
  ASSERT_EQ(gpu::MemsetAsync(p, 5, 64, nullptr), gpu::kSuccess);
  ASSERT_EQ(gpu::MemsetAsync(p, 6, 64, s), gpu::kSuccess);
  ASSERT_EQ(gpu::StreamSynchronize(s), gpu::kSuccess);
  EXPECT_EQ(cuemu::pending_work(), 1u) << "the default stream's memset is still queued";
  ASSERT_EQ(gpu::Memcpy(host.data(), p, 64, gpu::CopyKind::DeviceToHost), gpu::kSuccess);
  EXPECT_EQ(host, std::vector<unsigned char>(64, 5));
  ASSERT_EQ(gpu::StreamDestroy(s), gpu::kSuccess);
  ASSERT_EQ(gpu::Free(p), gpu::kSuccess);
}

TEST(EmuStreams, EventTimesAreReadyOnlyAfterTheirWorkRan) {
  gpu::Event a = nullptr, b = nullptr;
  ASSERT_EQ(gpu::EventCreate(&a), gpu::kSuccess);
  ASSERT_EQ(gpu::EventCreate(&b), gpu::kSuccess);
  ASSERT_EQ(gpu::EventRecord(a, nullptr), gpu::kSuccess);
  ASSERT_EQ(gpu::EventRecord(b, nullptr), gpu::kSuccess);
  float ms = -1.0f;
  EXPECT_EQ(gpu::EventElapsedTime(&ms, a, b), cuemu::ErrorCode::kNotReady);
  EXPECT_EQ(gpu::GetLastError(), cuemu::ErrorCode::kNotReady);
  ASSERT_EQ(gpu::EventSynchronize(b), gpu::kSuccess);
  EXPECT_EQ(gpu::EventElapsedTime(&ms, a, b), gpu::kSuccess);
  EXPECT_GE(ms, 0.0f);
  ASSERT_EQ(gpu::EventDestroy(a), gpu::kSuccess);
  ASSERT_EQ(gpu::EventDestroy(b), gpu::kSuccess);
}

// Planted bug: an op runs on the thread's current device while its memory is on another one.
TEST(EmuDevices, KernelTouchingAnotherDevicesMemoryIsReported) {
  const std::string m = fault_of(dev::store_to_other_device);
  EXPECT_TRUE(contains(m, "kernel 'fill_value_kernel' block (0,0,0) thread (")) << m;
  EXPECT_TRUE(contains(m, "invalid write of 4 bytes at 0x")) << m;
  EXPECT_TRUE(contains(m, "memory of device 1 from a kernel on device 0 (peer access is not")) << m;
  int device = -1;
  ASSERT_EQ(gpu::GetDevice(&device), gpu::kSuccess);
  EXPECT_EQ(device, 0);
}

TEST(EmuDevices, LaunchIntoAnotherDevicesStreamIsRefused) {
  EXPECT_EQ(dev::launch_into_other_device_stream(),
            static_cast<int>(cuemu::ErrorCode::kInvalidResourceHandle));
}

TEST(EmuDevices, EachHostThreadHasItsOwnCurrentDevice) {
  ASSERT_EQ(gpu::SetDevice(1), gpu::kSuccess);
  int in_thread = -1;
  std::thread other([&] { gpu::GetDevice(&in_thread); });
  other.join();
  EXPECT_EQ(in_thread, 0);
  // Allocations, streams and events belong to the device current when they are made.
  void* p = nullptr;
  ASSERT_EQ(gpu::Malloc(&p, 16), gpu::kSuccess);
  EXPECT_EQ(cuemu::device_of_pointer(p), 1);
  gpu::Event e = nullptr;
  ASSERT_EQ(gpu::EventCreate(&e), gpu::kSuccess);
  ASSERT_EQ(gpu::SetDevice(0), gpu::kSuccess);
  EXPECT_EQ(gpu::EventRecord(e, nullptr), cuemu::ErrorCode::kInvalidResourceHandle)
      << "an event records on a stream of its own device only";
  EXPECT_EQ(gpu::GetLastError(), cuemu::ErrorCode::kInvalidResourceHandle);
  ASSERT_EQ(gpu::EventDestroy(e), gpu::kSuccess);
  ASSERT_EQ(gpu::Free(p), gpu::kSuccess);
}

}  // namespace
}  // namespace v3d::emutest
