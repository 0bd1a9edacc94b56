// Runs the self-test kernels and checks them against host computations: reductions with barriers,
// every shuffle kind and width, votes, atomics, dynamic shared memory, 3-D indexing, template
// kernels, by-value parameters, barrier reductions and the host API.
// Compiled twice: V3D_EMUTEST_CUDA=0 runs the emulated copy (label emu); V3D_EMUTEST_CUDA=1 runs
// the nvcc copy on a real device (label gpu) and skips, with the reason, when there is none.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/common.h"
#include "kernels/gpu/compat.h"  // the emulator's gpu:: API (host compiler)
#include "tests/emu/emutest_kernels.h"

namespace v3d::emutest {
namespace {

class Kernels : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* error = "";
    if (dev::device_count(&error) == 0) GTEST_SKIP() << "no CUDA device: " << error;
  }
};

std::vector<int> random_ints(size_t n, int lo, int hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<int> v(n);
  for (int& x : v) x = dist(rng);
  return v;
}

TEST_F(Kernels, BlockReduceWithBarriers) {
  for (int block : {32, 64, 256, 1024}) {
    const std::vector<int> in = random_ints(5 * static_cast<size_t>(block) + 7, -100, 100, 1);
    const std::vector<int> out = dev::block_reduce_sum(in, block);
    ASSERT_EQ(out.size(), 6u);
    for (size_t b = 0; b < out.size(); ++b) {
      int expect = 0;
      for (size_t i = b * block; i < std::min(in.size(), (b + 1) * block); ++i) expect += in[i];
      EXPECT_EQ(out[b], expect) << "block " << b << " of size " << block;
    }
  }
}

// CUDA's shuffle rules, written independently of the emulator.
std::vector<int> shuffle_reference(const std::vector<int>& in, const ShuffleParams& p) {
  std::vector<int> out(4 * in.size());
  const unsigned w = static_cast<unsigned>(p.width);
  for (size_t i = 0; i < in.size(); ++i) {
    const unsigned lane = static_cast<unsigned>(i % 32);
    const size_t base = i - lane;
    const unsigned seg = lane & ~(w - 1);
    const unsigned in_seg = lane - seg;
    const unsigned idx_src =
        seg + (static_cast<unsigned>(static_cast<int>(lane) * 7 + p.src_offset) & (w - 1));
    out[4 * i + 0] = in[base + idx_src];
    out[4 * i + 1] = in_seg >= p.delta ? in[i - p.delta] : in[i];
    out[4 * i + 2] = in_seg + p.delta < w ? in[i + p.delta] : in[i];
    const unsigned x = lane ^ (static_cast<unsigned>(p.xor_mask) & 31u);
    out[4 * i + 3] = x <= seg + w - 1 ? in[base + x] : in[i];
  }
  return out;
}

TEST_F(Kernels, ShufflesAllKindsAndWidths) {
  const int block = 96;  // three warps, so lanes past the first warp are checked too
  const std::vector<int> in = random_ints(2 * block, -1000, 1000, 2);
  for (int width : {32, 16, 8}) {
    for (const ShuffleParams base : {ShuffleParams{0, 0, 1, 1}, ShuffleParams{0, 3, 4, 5},
                                     ShuffleParams{0, -5, 7, 16}, ShuffleParams{0, 40, 16, 31}}) {
      ShuffleParams p = base;
      p.width = width;
      const std::vector<int> got = dev::shuffle_all(in, block, p);
      const std::vector<int> want = shuffle_reference(in, p);
      ASSERT_EQ(got.size(), want.size());
      for (size_t k = 0; k < got.size(); ++k) {
        ASSERT_EQ(got[k], want[k])
            << "thread " << k / 4 << " op " << k % 4 << " width " << width << " offset "
            << p.src_offset << " delta " << p.delta << " xor " << p.xor_mask;
      }
    }
  }
}

TEST_F(Kernels, WarpLaddersSumAndScan) {
  const int block = 128;
  std::vector<double> in(3 * block);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<double>((i * 37) % 101) - 50.0;
  const std::vector<double> out = dev::warp_ladders(in, block);
  for (size_t w = 0; w < in.size() / 32; ++w) {
    double total = 0, scan = 0;
    for (size_t l = 0; l < 32; ++l) total += in[w * 32 + l];
    for (size_t l = 0; l < 32; ++l) {
      const size_t i = w * 32 + l;
      scan += in[i];
      EXPECT_EQ(out[3 * i + 0], total) << "xor ladder, thread " << i;
      if (l == 0) {
        EXPECT_EQ(out[3 * i + 1], total) << "down ladder, warp " << w;
      }
      EXPECT_EQ(out[3 * i + 2], scan) << "up-ladder scan, thread " << i;
    }
  }
}

TEST_F(Kernels, VotesMatchAndReduce) {
  const int block = 64;
  std::vector<int> in = random_ints(2 * block, 0, 9, 3);
  for (int l = 0; l < 32; ++l) in[32 + l] = 2000 + l % 2;  // warp 1: all >= 0, one value / 1000
  const std::vector<VoteResult> out = dev::votes(in, block);
  for (size_t w = 0; w < in.size() / 32; ++w) {
    unsigned ballot = 0, odd = 0, sum = 0, max_u = 0;
    int min_i = 1 << 30;
    bool any = false, all = true, same_k = true;
    for (unsigned l = 0; l < 32; ++l) {
      const int v = in[w * 32 + l];
      ballot |= (v > 0 ? 1u : 0u) << l;
      odd |= (v & 1 ? 1u : 0u) << l;
      any |= v > 5;
      all &= v >= 0;
      same_k &= v / 1000 == in[w * 32] / 1000;
      sum += static_cast<unsigned>(v);
      max_u = std::max(max_u, static_cast<unsigned>(v));
      min_i = std::min(min_i, v - 50);
    }
    for (unsigned l = 0; l < 32; ++l) {
      const VoteResult& r = out[w * 32 + l];
      unsigned match = 0;
      for (unsigned j = 0; j < 32; ++j) {
        if (in[w * 32 + j] % 3 == in[w * 32 + l] % 3) match |= 1u << j;
      }
      EXPECT_EQ(r.ballot, ballot);
      EXPECT_EQ(r.any, any ? 1u : 0u);
      EXPECT_EQ(r.all, all ? 1u : 0u);
      EXPECT_EQ(r.match_any, match);
      EXPECT_EQ(r.match_all, same_k ? 0xffffffffu : 0u);
      EXPECT_EQ(r.match_all_pred, same_k ? 1u : 0u);
      EXPECT_EQ(r.active, 0xffffffffu);
      EXPECT_EQ(r.reduce_add, sum);
      EXPECT_EQ(r.reduce_max_u, max_u);
      EXPECT_EQ(r.reduce_min_i, min_i);
      EXPECT_EQ(r.half_ballot, odd & (l < 16 ? 0x0000ffffu : 0xffff0000u));
    }
  }
}

TEST_F(Kernels, AtomicsHaveCudaSemantics) {
  const int n = 512;
  const AtomicsResult r = dev::atomics(n, 128);
  EXPECT_EQ(r.ints[0], n);
  EXPECT_EQ(r.ints[1], -2 * n);
  EXPECT_EQ(r.ints[2], n - 1);
  EXPECT_EQ(r.ints[3], -(n - 1));
  EXPECT_EQ(r.ints[4], n) << "atomicCAS increment loop";
  EXPECT_GE(r.ints[5], 0);
  EXPECT_LT(r.ints[5], n);
  EXPECT_EQ(r.ints[6], n) << "atomicAdd_block";
  EXPECT_EQ(r.uints[0], 0u);
  EXPECT_EQ(r.uints[1], 0xffffffffu);
  unsigned x = 0;
  for (unsigned t = 0; t < n; ++t) x ^= t;
  EXPECT_EQ(r.uints[2], x);
  // atomicInc(9) wraps to 0 past 9; atomicDec(6) wraps to 6 at 0. Order may vary under a seed,
  // so the old values are compared as multisets.
  unsigned inc = 0, dec = 0;
  std::vector<unsigned> inc_old, dec_old;
  for (int t = 0; t < n; ++t) {
    inc_old.push_back(inc);
    inc = inc >= 9 ? 0 : inc + 1;
    dec_old.push_back(dec);
    dec = (dec == 0 || dec > 6) ? 6 : dec - 1;
  }
  EXPECT_EQ(r.uints[3], inc);
  EXPECT_EQ(r.uints[4], dec);
  std::vector<unsigned> got_inc = r.inc_old, got_dec = r.dec_old;
  std::sort(got_inc.begin(), got_inc.end());
  std::sort(got_dec.begin(), got_dec.end());
  std::sort(inc_old.begin(), inc_old.end());
  std::sort(dec_old.begin(), dec_old.end());
  EXPECT_EQ(got_inc, inc_old);
  EXPECT_EQ(got_dec, dec_old);
  EXPECT_EQ(r.ull_sum, static_cast<unsigned long long>(n) << 33);
  EXPECT_EQ(r.ull_max, static_cast<unsigned long long>(n - 1) << 40);
  EXPECT_EQ(r.float_sum, 0.5f * n);  // exact: every partial sum is representable
  EXPECT_EQ(r.double_sum, 0.25 * n);
}

TEST_F(Kernels, DynamicSharedMemoryIsPoisonedAndAliased) {
  const int block = 64;
  std::vector<int> in(3 * block);
  std::iota(in.begin(), in.end(), 100);
  const auto r = dev::dynamic_smem(in, block);
  for (size_t i = 0; i < in.size(); ++i) {
    const size_t b = i / block, t = i % block;
#if !V3D_EMUTEST_CUDA
    EXPECT_EQ(r.initial[i], 0xffffffffu) << "emulator fills dynamic smem with 0xFF";
#endif
    EXPECT_EQ(r.reversed[i], in[b * block + (block - 1 - t)]);
    EXPECT_EQ(r.doubled[i], 2.0 * in[b * block + (block - 1 - t)]);
  }
}

TEST_F(Kernels, ThreeDimensionalBlocksAndGrids) {
  const unsigned gx = 3, gy = 2, gz = 2, bx = 4, by = 3, bz = 2;
  const std::vector<int> out = dev::index_map(gx, gy, gz, bx, by, bz);
  size_t k = 0;
  for (unsigned z = 0; z < gz; ++z)
    for (unsigned y = 0; y < gy; ++y)
      for (unsigned x = 0; x < gx; ++x)
        for (unsigned tz = 0; tz < bz; ++tz)
          for (unsigned ty = 0; ty < by; ++ty)
            for (unsigned tx = 0; tx < bx; ++tx) {
              const unsigned packed = ((((z * 8 + y) * 8 + x) * 8 + tz) * 8 + ty) * 8 + tx;
              ASSERT_EQ(out[k++], static_cast<int>(packed));
            }
}

TEST_F(Kernels, TemplateKernelsAndLaunchCounts) {
#if !V3D_EMUTEST_CUDA
  cuemu::reset_launch_counts();
#endif
  std::vector<float> xf(1000);
  std::vector<int> xi(777);
  std::iota(xf.begin(), xf.end(), 0.0f);
  std::iota(xi.begin(), xi.end(), -300);
  const std::vector<float> yf = dev::scale_float(xf, 0.5f);
  const std::vector<int> yi = dev::scale_int(xi, -3);
  for (size_t i = 0; i < xf.size(); ++i) EXPECT_EQ(yf[i], xf[i] * 0.5f);
  for (size_t i = 0; i < xi.size(); ++i) EXPECT_EQ(yi[i], xi[i] * -3);
  dev::zero_arg_launch();
  dev::zero_arg_launch();
#if !V3D_EMUTEST_CUDA
  const auto counts = cuemu::launch_counts();
  EXPECT_EQ(counts.at("(scale_k<T, 4>)"), 2u);
  EXPECT_EQ(counts.at("zero_arg_kernel"), 2u);
#endif
}

TEST_F(Kernels, ByValueParametersArePerThreadCopies) {
  const ByValueParams p{{10, 20, 30, 40}, 1000};
  const int threads = 64;
  const std::vector<int> out = dev::by_value(p, 5, threads);
  for (int t = 0; t < threads; ++t) {
    EXPECT_EQ(out[2 * t + 0], 5 + t);
    EXPECT_EQ(out[2 * t + 1], p.a[t % 4] + t + p.b);
  }
}

TEST_F(Kernels, BarrierReductions) {
  const int block = 96;
  std::vector<int> pred(3 * block, 1);
  for (int t = 0; t < block; t += 3) pred[t] = 0;  // block 0: some zero
  std::fill(pred.begin() + 2 * block, pred.end(), 0);
  pred[2 * block + 50] = 7;  // block 2: a single non-zero
  const std::vector<int> out = dev::barrier_reductions(pred, block);
  EXPECT_EQ(out[0], block - block / 3);
  EXPECT_EQ(out[1], 0);
  EXPECT_EQ(out[2], 1);
  EXPECT_EQ(out[3], block);
  EXPECT_EQ(out[4], 1);
  EXPECT_EQ(out[5], 1);
  EXPECT_EQ(out[6], 1);
  EXPECT_EQ(out[7], 0);
  EXPECT_EQ(out[8], 1);
}

// A launch of 2^20 threads (4096 blocks) is correct; how long it takes is a benchmark matter, so
// the time is printed, never asserted.
TEST_F(Kernels, MillionThreadKernel) {
  const size_t n = 1 << 20;
  std::vector<float> x(n), y(n);
  for (size_t i = 0; i < n; ++i) {
    x[i] = static_cast<float>(i % 1000);
    y[i] = 1.0f;
  }
  const auto start = std::chrono::steady_clock::now();
  const std::vector<float> out = dev::saxpy(2.0f, x, y);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(out[i], 2.0f * x[i] + 1.0f) << i;
  std::printf("[ info ] 1M-thread saxpy: %.3f s\n", seconds);
}

TEST_F(Kernels, StreamsAndEvents) { EXPECT_GE(dev::stream_and_events(5000), 0.0f); }

#if !V3D_EMUTEST_CUDA
TEST(EmuHostApi, DeviceInfo) {
  int count = 0, device = -1;
  EXPECT_EQ(gpu::GetDeviceCount(&count), gpu::kSuccess);
  EXPECT_EQ(count, 2);  // CUEMU_DEVICES unset
  EXPECT_EQ(gpu::SetDevice(1), gpu::kSuccess);
  EXPECT_EQ(gpu::GetDevice(&device), gpu::kSuccess);
  EXPECT_EQ(device, 1);
  EXPECT_EQ(gpu::SetDevice(0), gpu::kSuccess);
  EXPECT_EQ(gpu::GetDevice(&device), gpu::kSuccess);
  EXPECT_EQ(device, 0);
  EXPECT_EQ(gpu::SetDevice(2), cuemu::ErrorCode::kInvalidDevice);
  EXPECT_EQ(gpu::GetLastError(), cuemu::ErrorCode::kInvalidDevice);
  size_t free_bytes = 0, total_bytes = 0;
  EXPECT_EQ(gpu::MemGetInfo(&free_bytes, &total_bytes), gpu::kSuccess);
  EXPECT_GT(total_bytes, 0u);
  EXPECT_EQ(gpu::GetLastError(), gpu::kSuccess);
}

TEST(EmuHostApi, MemcpyChecksKindsAndBounds) {
  void* d = nullptr;
  ASSERT_EQ(gpu::Malloc(&d, 100), gpu::kSuccess);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(d) % 256, 0u);
  EXPECT_TRUE(gpu::is_device_pointer(d));
  EXPECT_TRUE(gpu::is_device_pointer(static_cast<char*>(d) + 99));
  std::vector<char> host(200, 1);
  EXPECT_FALSE(gpu::is_device_pointer(host.data()));
  EXPECT_EQ(gpu::Memcpy(d, host.data(), 100, gpu::CopyKind::HostToDevice), gpu::kSuccess);
  EXPECT_EQ(gpu::Memcpy(host.data(), d, 100, gpu::CopyKind::DeviceToHost), gpu::kSuccess);
  // Wrong direction: the destination of a HostToDevice copy is host memory.
  EXPECT_NE(gpu::Memcpy(host.data(), d, 100, gpu::CopyKind::HostToDevice), gpu::kSuccess);
  EXPECT_NE(gpu::GetLastError(), gpu::kSuccess);
  EXPECT_EQ(gpu::GetLastError(), gpu::kSuccess) << "GetLastError clears the error";
  EXPECT_NE(gpu::Memcpy(d, host.data(), 100, gpu::CopyKind::HostToHost), gpu::kSuccess);
  EXPECT_NE(gpu::Memcpy(d, host.data(), 101, gpu::CopyKind::HostToDevice), gpu::kSuccess)
      << "device range overruns its allocation";
  EXPECT_NE(gpu::Memset(d, 0, 101), gpu::kSuccess);
  EXPECT_NE(gpu::PeekAtLastError(), gpu::kSuccess);
  EXPECT_NE(gpu::PeekAtLastError(), gpu::kSuccess) << "PeekAtLastError does not clear";
  (void)gpu::GetLastError();
  EXPECT_EQ(gpu::Free(d), gpu::kSuccess);
  EXPECT_FALSE(gpu::is_device_pointer(d));
  EXPECT_NE(gpu::Free(host.data()), gpu::kSuccess);
  (void)gpu::GetLastError();
  void* pinned = nullptr;
  ASSERT_EQ(gpu::MallocHost(&pinned, 64), gpu::kSuccess);
  EXPECT_FALSE(gpu::is_device_pointer(pinned));
  EXPECT_EQ(gpu::FreeHost(pinned), gpu::kSuccess);
}
#endif

}  // namespace
}  // namespace v3d::emutest
