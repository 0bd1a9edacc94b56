// The tensor-core convolution's shared-memory layout (kernels/temporal_conv_tc_layout.h), checked
// as the kernel uses it: every staged element is written by exactly one copy, the copies of a
// thread sit a fixed slot step apart (the kernel computes only the first), the fragments of a
// warp read each (row, reduction element) of its tile once and pair A and B on the same element,
// and no warp-wide access conflicts on a shared-memory bank.
#include <gtest/gtest.h>

#include <array>
#include <set>
#include <vector>

#include "kernels/temporal_conv_tc_layout.h"

namespace v3d {
namespace {

using kernels::kTcSlice;
using kernels::kTcThreads;
using kernels::tc_copy_slot;
using kernels::tc_fragment_slot;
using kernels::tc_staged_slot;

// Shared-memory wavefronts of one warp access: `bytes` per lane at the given float offsets
// (-1 = the lane takes no part). Accesses wider than 4 bytes are served a quarter (16 bytes) or
// half (8 bytes) warp at a time; within a phase, distinct 4-byte words in one bank conflict.
int wavefronts(const std::vector<int>& floats, int bytes) {
  const int per_phase = bytes == 16 ? 8 : bytes == 8 ? 16 : 32;
  int total = 0;
  for (int p = 0; p < 32; p += per_phase) {
    std::array<std::set<int>, 32> words;
    for (int lane = p; lane < p + per_phase; ++lane) {
      if (floats[static_cast<size_t>(lane)] < 0) continue;
      for (int w = 0; w < bytes / 4; ++w) {
        const int word = floats[static_cast<size_t>(lane)] + w;
        words[static_cast<size_t>(word % 32)].insert(word);
      }
    }
    size_t worst = 0;
    for (const auto& b : words) worst = std::max(worst, b.size());
    total += static_cast<int>(worst);
  }
  return total;
}

TEST(TemporalConvTcLayout, WavefrontModelCountsConflicts) {
  std::vector<int> same_bank(32), linear(32);
  for (int l = 0; l < 32; ++l) {
    same_bank[static_cast<size_t>(l)] = 32 * l;
    linear[static_cast<size_t>(l)] = l;
  }
  EXPECT_EQ(wavefronts(linear, 4), 1);
  EXPECT_EQ(wavefronts(same_bank, 4), 32);
  std::vector<int> vec(32);
  for (int l = 0; l < 32; ++l) vec[static_cast<size_t>(l)] = 4 * l;
  EXPECT_EQ(wavefronts(vec, 16), 4);  // the minimum for 512 bytes
  for (int l = 0; l < 32; ++l) vec[static_cast<size_t>(l)] = 16 * l;
  EXPECT_EQ(wavefronts(vec, 16), 16);  // rows of 64 bytes: 4 lanes of a phase on each bank
}

TEST(TemporalConvTcLayout, StagedSlotsArePermutationsOfEachRow) {
  for (int row = 0; row < kernels::kTcTileM; ++row) {
    std::set<int> slots;
    for (int col = 0; col < kTcSlice; ++col) {
      const int s = tc_staged_slot(row, col);
      EXPECT_GE(s, row * kTcSlice);
      EXPECT_LT(s, (row + 1) * kTcSlice);
      EXPECT_EQ(s % 4, col % 4) << "a float4 of the operand stays one aligned float4";
      slots.insert(s);
    }
    EXPECT_EQ(slots.size(), static_cast<size_t>(kTcSlice));
  }
}

template <int kRows, int kVec, bool kRowsFastest>
void check_copies() {
  SCOPED_TRACE(testing::Message() << kRows << " rows, " << kVec << " floats per copy"
                                  << (kRowsFastest ? ", rows fastest" : ""));
  constexpr int kCount = kernels::kTcCopies<kRows, kVec>;
  constexpr int kStep = kernels::kTcCopyRowStep<kVec, kRowsFastest>;
  std::vector<int> written(kRows * kTcSlice, 0);
  for (int tid = 0; tid < kTcThreads; ++tid) {
    int row0 = 0, col0 = 0;
    tc_copy_slot<kVec, kRowsFastest>(tid, row0, col0);
    for (int i = 0; i < kCount; ++i) {
      int row = 0, col = 0;
      tc_copy_slot<kVec, kRowsFastest>(tid + i * kTcThreads, row, col);
      ASSERT_LT(row, kRows);
      ASSERT_EQ(col % kVec, 0);
      // What the kernel assumes: one column, rows kStep apart, slots kStep rows apart.
      EXPECT_EQ(col, col0);
      EXPECT_EQ(row, row0 + i * kStep);
      EXPECT_EQ(tc_staged_slot(row, col), tc_staged_slot(row0, col0) + i * kStep * kTcSlice);
      for (int v = 0; v < kVec; ++v) ++written[static_cast<size_t>(tc_staged_slot(row, col + v))];
    }
  }
  for (size_t s = 0; s < written.size(); ++s) EXPECT_EQ(written[s], 1) << "slot " << s;
  // Every warp's copies: one wavefront per 128 bytes written (no bank conflict).
  for (int e0 = 0; e0 < kRows * kTcSlice / kVec; e0 += 32) {
    std::vector<int> slots(32);
    for (int lane = 0; lane < 32; ++lane) {
      int row = 0, col = 0;
      tc_copy_slot<kVec, kRowsFastest>(e0 + lane, row, col);
      slots[static_cast<size_t>(lane)] = tc_staged_slot(row, col);
    }
    EXPECT_EQ(wavefronts(slots, 4 * kVec), kVec) << "copies " << e0 << "..";
  }
}

TEST(TemporalConvTcLayout, CopiesFillEachStageOnceWithoutBankConflicts) {
  check_copies<kernels::kTcTileM, 4, false>();
  check_copies<kernels::kTcTileM, 1, false>();
  check_copies<kernels::kTcTileM, 1, true>();
  check_copies<kernels::kTcTileN, 1, false>();
  check_copies<kernels::kTcTileN, 1, true>();
}

// Lane (g, t) reads a float4 at rows base + g (+ 8 for A) of its warp's tile; its four elements
// are the slice's reduction elements 4t .. 4t+3 (the permuted k): check that the slot holds
// exactly those, that a warp's reads cover every (row, element) of its tile once per operand, and
// that each LDS.128 takes the minimum four wavefronts.
TEST(TemporalConvTcLayout, FragmentReadsCoverTheTileOnceWithoutBankConflicts) {
  for (const int rows : {kernels::kTcWarpM, kernels::kTcWarpN}) {
    for (int warp_base = 0; warp_base < 2 * rows; warp_base += rows) {  // the 2 warps along it
      std::set<std::pair<int, int>> seen;                               // (row, element)
      for (int r0 = warp_base; r0 < warp_base + rows; r0 += 8) {
        std::vector<int> slots(32);
        for (int lane = 0; lane < 32; ++lane) {
          const int g = lane >> 2, t = lane & 3, row = r0 + g;
          const int slot = tc_fragment_slot(row, t);
          slots[static_cast<size_t>(lane)] = slot;
          ASSERT_EQ(slot % 4, 0) << "LDS.128 needs an aligned float4";
          for (int v = 0; v < 4; ++v) {
            EXPECT_EQ(slot + v, tc_staged_slot(row, 4 * t + v));
            EXPECT_TRUE(seen.insert({row, 4 * t + v}).second);
          }
        }
        EXPECT_EQ(wavefronts(slots, 16), 4) << "rows " << r0 << "..";
      }
      EXPECT_EQ(seen.size(), static_cast<size_t>(rows * kTcSlice));
    }
  }
}

// The permuted reduction index: for TF32 (two m16n8k8 steps), lane t's elements 4t+j are logical
// k = t + 4 (j % 2) in step j / 2; for BF16 (one m16n8k16 step), 4t, 4t+1, 4t+2, 4t+3 are
// 2t, 2t+1, 2t+8, 2t+9. Either way each (step, logical k) takes exactly one physical element, so
// A and B, permuted alike, give the same sum.
TEST(TemporalConvTcLayout, PermutedReductionIndexIsABijection) {
  std::set<std::pair<int, int>> tf32, bf16;
  for (int t = 0; t < 4; ++t) {
    for (int j = 0; j < 4; ++j) {
      EXPECT_TRUE(tf32.insert({j / 2, t + 4 * (j % 2)}).second);
      EXPECT_TRUE(bf16.insert({0, (j < 2 ? 2 * t : 2 * t + 6) + j}).second);
    }
  }
  EXPECT_EQ(tf32.size(), 16u);
  for (const auto& [step, k] : tf32) EXPECT_TRUE(step < 2 && k < 8);
  EXPECT_EQ(bf16.size(), 16u);
  for (const auto& [step, k] : bf16) EXPECT_TRUE(step == 0 && k < 16);
}

}  // namespace
}  // namespace v3d
