// The warpgroup MMA wrappers (kernels/cuda/wgmma.cuh): one wgmma per descriptor layout (no swizzle
// with the leading and stride offsets in both roles, the 128-, 64- and 32-byte swizzles at each
// k-step of a row), TF32 and BF16, N = 8 and 128, with and without scale-d, against a double
// reference on the operands' bits; and the misuse the emulator reports. Compiled twice like
// emu_mma_test.cpp: on `emu`, and as gpu.* on a compute capability 9.0 device, where the hardware
// checks the emulator's reading of the descriptors and the accumulator fragments.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kernels/float_round.h"
#include "kernels/gpu/compat.h"
#include "tests/emu/emutest_kernels.h"
#if !V3D_EMUTEST_CUDA
#include "tests/emu/fault_util.h"
#endif

namespace v3d::emutest {
namespace {

class Wgmma : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* error = "";
    if (dev::device_count(&error) == 0) GTEST_SKIP() << "no CUDA device: " << error;
    if (dev::compute_capability() != 90) {
      GTEST_SKIP() << "wgmma needs a compute capability 9.0 device (sm_90a), this one is "
                   << dev::compute_capability();
    }
  }
};

// Operand element k (0..7 TF32 words, 0..15 BF16 halves) of a row of 8 words, as the tensor cores
// read it: TF32 the upper 19 bits of the word, BF16 a half (element 2i in the low half).
double element(bool bf16, const uint32_t* row, int k) {
  if (bf16) {
    const uint32_t half = (row[k / 2] >> (16 * (k % 2))) & 0xFFFFu;
    return kernels::bits_to_float(half << 16);
  }
  return kernels::bits_to_float(row[k] & 0xFFFFE000u);
}

struct Case {
  bool bf16;
  int n;
  WgmmaLayout lay;
  bool scale_d;
};

std::string name(const Case& c) {
  return std::string(c.bf16 ? "bf16" : "tf32") + " n" + std::to_string(c.n) + " mode " +
         std::to_string(c.lay.mode) + " lbo " + std::to_string(c.lay.lbo_a) + "/" +
         std::to_string(c.lay.lbo_b) + " sbo " + std::to_string(c.lay.sbo_a) + "/" +
         std::to_string(c.lay.sbo_b) + " kk " + std::to_string(c.lay.kk) + " trans " +
         std::to_string(c.lay.trans) + (c.scale_d ? " +c" : "");
}

void check_case(const Case& c, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const auto word = [&] {
    if (c.bf16) {
      return static_cast<uint32_t>(kernels::bf16_bits(normal(rng))) |
             static_cast<uint32_t>(kernels::bf16_bits(normal(rng))) << 16;
    }
    // Full float32 words: the low 13 bits must be ignored.
    return kernels::float_bits(normal(rng));
  };
  std::vector<uint32_t> a(64 * 8), b(static_cast<size_t>(c.n) * 8);
  for (auto& w : a) w = word();
  for (auto& w : b) w = word();
  std::vector<float> cv(static_cast<size_t>(64 * c.n));
  for (auto& v : cv) v = normal(rng);
  const std::vector<float> d = dev::wgmma_tile(c.bf16, c.n, a, b, cv, c.lay, c.scale_d);
  const int kdim = c.bf16 ? 16 : 8;
  for (int r = 0; r < 64; ++r) {
    for (int col = 0; col < c.n; ++col) {
      const size_t at = static_cast<size_t>(r * c.n + col);
      double want = c.scale_d ? cv[at] : 0.0, size = std::fabs(want);
      for (int k = 0; k < kdim; ++k) {
        const double p = element(c.bf16, &a[static_cast<size_t>(r) * 8], k) *
                         element(c.bf16, &b[static_cast<size_t>(col) * 8], k);
        want += p;
        size += std::fabs(p);
      }
      // The emulator rounds the exact sum once; the hardware's internal order and rounding are
      // unspecified: a few float32 ulps of the terms' magnitudes.
      ASSERT_NEAR(d[at], want, 1e-6 * size + 1e-30)
          << name(c) << ": row " << r << ", column " << col;
    }
  }
}

TEST_F(Wgmma, EveryDescriptorLayoutGivesTheProduct) {
  std::vector<WgmmaLayout> layouts = {
      // No swizzle: the k halves far apart and the row groups adjacent, then the reverse.
      {0, 1024, 128, 2048, 128, 0},
      {0, 128, 256, 128, 256, 0},
  };
  for (int kk = 0; kk < 4; ++kk) layouts.push_back({1, 16, 1024, 16, 1024, kk});
  for (int kk = 0; kk < 2; ++kk) layouts.push_back({2, 16, 512, 16, 512, kk});
  layouts.push_back({3, 16, 256, 16, 256, 0});
  uint64_t seed = 1;
  for (const bool bf16 : {false, true}) {
    for (const WgmmaLayout& lay : layouts) {
      for (const int n : {8, 128}) check_case({bf16, n, lay, true}, seed++);
    }
    check_case({bf16, 128, layouts[2], false}, seed++);
  }
}

// BF16 operands MN-major (the transpose immediates), A, B or both, in every layout mode: the
// offsets trade roles (swizzled: lbo between runs along MN, sbo between 8-k groups), and a k-step
// starts 2 sbo further.
TEST_F(Wgmma, MnMajorOperandsGiveTheProduct) {
  const std::vector<WgmmaLayout> layouts = {
      // No swizzle: the 8-k groups far apart and the MN groups adjacent, then the reverse.
      {0, 1024, 128, 2048, 128, 0, 3},
      {0, 128, 256, 128, 256, 0, 3},
      // 128-byte rows: B's two runs of 64 apart beyond the k groups, then the k groups beyond.
      {1, 4096, 1024, 4096, 1024, 0, 3},
      {1, 4096, 1024, 4096, 1024, 1, 3},
      {1, 1024, 2048, 1024, 2048, 1, 3},
      {2, 512, 1024, 512, 2048, 0, 3},
      {3, 256, 1024, 256, 2048, 0, 3},
      // One operand MN-major, the other K-major (its offsets those of the K-major 128-byte form).
      {1, 4096, 1024, 16, 1024, 1, 1},
      {1, 16, 1024, 4096, 1024, 1, 2},
  };
  uint64_t seed = 100;
  for (const WgmmaLayout& lay : layouts) {
    for (const int n : {8, 128}) check_case({true, n, lay, true}, seed++);
  }
  check_case({true, 128, layouts[2], false}, seed++);
}

#if !V3D_EMUTEST_CUDA
// The fault message of a misuse (wgmma_kernels.cu), or "" when the kernel completed.
std::string fault_of(int fault, unsigned threads = 128) {
  const WgmmaLayout lay{1, 16, 1024, 16, 1024, 0};
  return emutest::fault_of([&] {
    dev::wgmma_tile(false, 8, std::vector<uint32_t>(64 * 8), std::vector<uint32_t>(8 * 8),
                    std::vector<float>(64 * 8), lay, true, fault, threads);
  });
}

TEST(WgmmaFaults, FencesAreRequired) {
  std::string m = fault_of(1);
  EXPECT_TRUE(contains(m, "without a wgmma.fence")) << m;
  m = fault_of(2);
  EXPECT_TRUE(contains(m, "executed no fence.proxy.async")) << m;
}

TEST(WgmmaFaults, AccumulatorsAreUndefinedUntilTheWait) {
  const WgmmaLayout lay{1, 16, 1024, 16, 1024, 0};
  const std::vector<float> d =
      dev::wgmma_tile(false, 8, std::vector<uint32_t>(64 * 8), std::vector<uint32_t>(8 * 8),
                      std::vector<float>(64 * 8, 1.0f), lay, true, 3);
  for (const float v : d) ASSERT_TRUE(std::isnan(v));
}

TEST(WgmmaFaults, OperandsMustNotChangeBeforeTheWait) {
  const std::string m = fault_of(4);
  EXPECT_TRUE(contains(m, "was written before the wgmma.wait_group")) << m;
}

TEST(WgmmaFaults, WarpgroupMisuse) {
  std::string m = fault_of(5);
  EXPECT_TRUE(contains(m, "exits with 1 wgmma.mma_async ops")) << m;
  m = fault_of(0, 64);
  EXPECT_TRUE(contains(m, "is incomplete: the block has 64 threads")) << m;
  m = fault_of(6);
  EXPECT_TRUE(contains(m, "issued different numbers of wgmma.mma_async")) << m;
}
#endif

}  // namespace
}  // namespace v3d::emutest
