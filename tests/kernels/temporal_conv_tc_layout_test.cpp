// The tensor-core convolution's shared-memory layout (kernels/temporal_conv_tc_layout.h), checked
// as the kernel uses it: every staged element is written by exactly one copy, the copies of a
// thread sit a fixed slot step apart (the kernel computes only the first), the fragments of a
// warp's ldmatrix calls deliver each (row, reduction element) of its tile once, in the MMA's
// fragment order, and no warp-wide access conflicts on a shared-memory bank.
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
  // B in the forward (the weights tap-major) takes 16-byte copies too.
  check_copies<kernels::kTcTileN, 4, false>();
  // The wide tile's B (128 rows).
  check_copies<kernels::kTcWideTileN, 4, false>();
  check_copies<kernels::kTcWideTileN, 1, false>();
  check_copies<kernels::kTcWideTileN, 1, true>();
  static_assert(kernels::tc_stage_floats(kernels::kTcWideTileN) ==
                2 * kernels::kTcTileM * kTcSlice);
}

// What ldmatrix.x4 delivers (lane 8q + r names row r of matrix q; lane l receives word l % 4 of
// the row lane 8q + l / 4 named, in register q), as (row, element) of the staged tile.
std::array<std::pair<int, int>, 4> ldmatrix_words(const std::vector<int>& named, int lane) {
  std::array<std::pair<int, int>, 4> words{};
  for (int q = 0; q < 4; ++q) {
    const int slot = named[static_cast<size_t>(8 * q + lane / 4)] + lane % 4;
    const int row = slot / kTcSlice;
    int col = -1;
    for (int c = 0; c < kTcSlice; ++c) {
      if (tc_staged_slot(row, c) == slot) col = c;
    }
    words[static_cast<size_t>(q)] = {row, col};
  }
  return words;
}

// A warp's ldmatrix calls, checked against the fragments the MMA reads: lane (g, t) of the A call
// for half slice h of the MMA tile at row0 gets (row0 + g, e), (row0 + g + 8, e), (row0 + g,
// e + 4), (row0 + g + 8, e + 4) with e = 8h + t, the m16n8k8 A fragment for k = t, t + 4 in
// order; the B call for rows row0 gets (row0 + g, t), (row0 + g, 4 + t), (.., 8 + t), (.., 12 +
// t), the B fragments of both halves. Each call reads every (row, element) of its part once, its
// named rows are 16-byte aligned, each matrix (8 lanes, 128 bytes) is one wavefront, and half 1
// is half 0 with bit 3 flipped (the kernel computes one slot).
TEST(TemporalConvTcLayout, LdmatrixDeliversTheFragmentsWithoutBankConflicts) {
  for (int warp_m = 0; warp_m < kernels::kTcTileM; warp_m += kernels::kTcWarpM) {
    for (int i = 0; i < kernels::kTcMi; ++i) {
      const int row0 = warp_m + 16 * i;
      std::set<std::pair<int, int>> seen;
      for (int h = 0; h < 2; ++h) {
        std::vector<int> named(32);
        for (int lane = 0; lane < 32; ++lane) {
          named[static_cast<size_t>(lane)] = kernels::tc_ldmatrix_a_slot(row0, lane, h);
          ASSERT_EQ(named[static_cast<size_t>(lane)] % 4, 0);
          EXPECT_EQ(kernels::tc_ldmatrix_a_slot(row0, lane, 1),
                    kernels::tc_ldmatrix_a_slot(row0, lane, 0) ^ 8);
          EXPECT_EQ(kernels::tc_ldmatrix_a_slot(row0, lane, h),
                    kernels::tc_ldmatrix_a_slot(warp_m, lane, h) + 16 * i * kTcSlice);
        }
        EXPECT_EQ(wavefronts(named, 16), 4) << "A rows " << row0 << ", half " << h;
        for (int lane = 0; lane < 32; ++lane) {
          const int g = lane >> 2, t = lane & 3, e = 8 * h + t;
          const auto w = ldmatrix_words(named, lane);
          EXPECT_EQ(w[0], std::make_pair(row0 + g, e));
          EXPECT_EQ(w[1], std::make_pair(row0 + g + 8, e));
          EXPECT_EQ(w[2], std::make_pair(row0 + g, e + 4));
          EXPECT_EQ(w[3], std::make_pair(row0 + g + 8, e + 4));
          for (const auto& x : w) EXPECT_TRUE(seen.insert(x).second);
        }
      }
      EXPECT_EQ(seen.size(), static_cast<size_t>(16 * kTcSlice));
    }
  }
  // B's rows in both tiles: each warp's first row is a multiple of its width (32 narrow, 64 wide).
  for (int row0 = 0; row0 < kernels::kTcWideTileN; row0 += 8) {
    std::vector<int> named(32);
    for (int lane = 0; lane < 32; ++lane) {
      named[static_cast<size_t>(lane)] = kernels::tc_ldmatrix_b_slot(row0, lane);
      ASSERT_EQ(named[static_cast<size_t>(lane)] % 4, 0);
      // The kernel adds 8 rows per MMA tile to its warp's first slot.
      for (const int width : {kernels::kTcWarpN, kernels::kTcWideTileN / 2}) {
        const int warp_n = row0 / width * width;
        EXPECT_EQ(kernels::tc_ldmatrix_b_slot(row0, lane),
                  kernels::tc_ldmatrix_b_slot(warp_n, lane) + (row0 - warp_n) * kTcSlice);
      }
    }
    EXPECT_EQ(wavefronts(named, 16), 4) << "B rows " << row0;
    std::set<std::pair<int, int>> seen;
    for (int lane = 0; lane < 32; ++lane) {
      const int g = lane >> 2, t = lane & 3;
      const auto w = ldmatrix_words(named, lane);
      for (int q = 0; q < 4; ++q) {
        EXPECT_EQ(w[static_cast<size_t>(q)], std::make_pair(row0 + g, 4 * q + t));
        EXPECT_TRUE(seen.insert(w[static_cast<size_t>(q)]).second);
      }
    }
    EXPECT_EQ(seen.size(), static_cast<size_t>(8 * kTcSlice));
  }
}

// The BF16 reduction-major tiles of bwd_weight (rows of `cols` BF16 elements, one per reduction
// element of the 32-element slice). Where element (col, k) of the tile lies: the 16-byte row
// holding it is found by inverting tc_kmajor_slot; -1 if none.
std::pair<int, int> kmajor_element(int word_slot, int element, int cols) {
  for (int k = 0; k < 2 * kTcSlice; ++k) {
    for (int chunk = 0; chunk < cols / 8; ++chunk) {
      if (kernels::tc_kmajor_slot(k, chunk, cols) == word_slot) return {8 * chunk + element, k};
    }
  }
  return {-1, -1};
}

// What ldmatrix.x4.trans delivers: lane l's register q packs element l / 4 of the rows that lanes
// 8q + 2 (l % 4) (low half) and + 1 (high half) named, as (col, k) of the tile.
std::array<std::array<std::pair<int, int>, 2>, 4> ldmatrix_trans_elements(
    const std::vector<int>& named, int lane, int cols) {
  std::array<std::array<std::pair<int, int>, 2>, 4> out{};
  for (int q = 0; q < 4; ++q) {
    for (int half = 0; half < 2; ++half) {
      const int row = named[static_cast<size_t>(8 * q + 2 * (lane % 4) + half)];
      out[static_cast<size_t>(q)][static_cast<size_t>(half)] = kmajor_element(row, lane / 4, cols);
    }
  }
  return out;
}

template <int kCols>
void check_kmajor_copies() {
  constexpr int kCopies = kernels::kTcKMajorCopies<kCols>, kStep = kernels::kTcKMajorRowStep<kCols>;
  static_assert(kCopies * kTcThreads * 8 == kCols * 2 * kTcSlice, "every element of the slice");
  std::set<int> slots;
  std::set<std::pair<int, int>> placed;
  for (int tid = 0; tid < kTcThreads; ++tid) {
    int k0 = 0, chunk0 = 0;
    kernels::tc_kmajor_copy(tid, kCols, k0, chunk0);
    for (int i = 0; i < kCopies; ++i) {
      int k = 0, chunk = 0;
      kernels::tc_kmajor_copy(tid + i * kTcThreads, kCols, k, chunk);
      // The kernel computes the first copy's slot and steps kStep rows.
      EXPECT_EQ(chunk, chunk0);
      EXPECT_EQ(k, k0 + i * kStep);
      const int slot = kernels::tc_kmajor_slot(k, chunk, kCols);
      EXPECT_EQ(slot, kernels::tc_kmajor_slot(k0, chunk0, kCols) + i * kStep * (kCols / 2));
      ASSERT_EQ(slot % 4, 0);
      ASSERT_GE(slot, 0);
      ASSERT_LT(slot, kCols * kTcSlice);
      EXPECT_TRUE(slots.insert(slot).second) << "cols " << kCols << ", slot " << slot;
      EXPECT_TRUE(placed.insert({k, chunk}).second);
      EXPECT_EQ(kmajor_element(slot, 0, kCols), std::make_pair(8 * chunk, k));
    }
  }
  EXPECT_EQ(slots.size(), static_cast<size_t>(kCols * kTcSlice / 4));
  for (int e0 = 0; e0 < kCopies * kTcThreads; e0 += 32) {
    std::vector<int> warp(32);
    for (int lane = 0; lane < 32; ++lane) {
      int k = 0, chunk = 0;
      kernels::tc_kmajor_copy(e0 + lane, kCols, k, chunk);
      warp[static_cast<size_t>(lane)] = kernels::tc_kmajor_slot(k, chunk, kCols);
    }
    EXPECT_EQ(wavefronts(warp, 16), 4) << "cols " << kCols << ", copies " << e0 << "..";
  }
}

// bwd_weight's BF16 operands staged reduction-major: the 16-byte copies fill each tile once
// (a thread's copies share their chunk and step whole swizzle periods apart), and the warps'
// ldmatrix.x4.trans calls deliver the m16n8k16 fragments: A's call (MMA tile at row0, step h) gives
// lane (g, t) (row0 + g, 16h + 2t), (.., + 1) in register 0, row0 + g + 8 in 1, k + 8 in 2 and 3;
// B's call (columns col0) gives (col0 + g, 8q + 2t), (.., + 1) in register q, so registers 0, 1
// are step 0's fragment and 2, 3 step 1's; every element once, each matrix one wavefront.
TEST(TemporalConvTcLayout, ReductionMajorBf16TilesFeedLdmatrixTrans) {
  check_kmajor_copies<kernels::kTcTileM>();
  check_kmajor_copies<kernels::kTcTileN>();
  check_kmajor_copies<kernels::kTcWideTileN>();
  static_assert(kernels::kTcTileM == kernels::kTcWideTileN, "A's tile is the wide B's");
  for (int row0 = 0; row0 < kernels::kTcTileM; row0 += 16) {
    std::set<std::pair<int, int>> seen;
    for (int h = 0; h < 2; ++h) {
      std::vector<int> named(32);
      for (int lane = 0; lane < 32; ++lane) {
        named[static_cast<size_t>(lane)] = kernels::tc_ldmatrix_trans_a_slot(row0, lane, h);
        ASSERT_EQ(named[static_cast<size_t>(lane)] % 4, 0);
      }
      EXPECT_EQ(wavefronts(named, 16), 4) << "A rows " << row0 << ", step " << h;
      for (int lane = 0; lane < 32; ++lane) {
        const int g = lane >> 2, t = lane & 3;
        const auto e = ldmatrix_trans_elements(named, lane, kernels::kTcTileM);
        for (int q = 0; q < 4; ++q) {
          const int m = row0 + g + 8 * (q % 2), k = 16 * h + 8 * (q / 2) + 2 * t;
          EXPECT_EQ(e[static_cast<size_t>(q)][0], std::make_pair(m, k)) << lane << " " << q;
          EXPECT_EQ(e[static_cast<size_t>(q)][1], std::make_pair(m, k + 1)) << lane << " " << q;
          for (const auto& x : e[static_cast<size_t>(q)]) EXPECT_TRUE(seen.insert(x).second);
        }
      }
    }
    EXPECT_EQ(seen.size(), static_cast<size_t>(16 * 2 * kTcSlice));
  }
  for (const int cols : {kernels::kTcTileN, kernels::kTcWideTileN}) {
    for (int col0 = 0; col0 < cols; col0 += 8) {
      std::vector<int> named(32);
      for (int lane = 0; lane < 32; ++lane) {
        named[static_cast<size_t>(lane)] = kernels::tc_ldmatrix_trans_b_slot(col0, lane, cols);
        ASSERT_EQ(named[static_cast<size_t>(lane)] % 4, 0);
      }
      EXPECT_EQ(wavefronts(named, 16), 4) << "B columns " << col0 << " of " << cols;
      std::set<std::pair<int, int>> seen;
      for (int lane = 0; lane < 32; ++lane) {
        const int g = lane >> 2, t = lane & 3;
        const auto e = ldmatrix_trans_elements(named, lane, cols);
        for (int q = 0; q < 4; ++q) {
          EXPECT_EQ(e[static_cast<size_t>(q)][0], std::make_pair(col0 + g, 8 * q + 2 * t));
          EXPECT_EQ(e[static_cast<size_t>(q)][1], std::make_pair(col0 + g, 8 * q + 2 * t + 1));
          for (const auto& x : e[static_cast<size_t>(q)]) EXPECT_TRUE(seen.insert(x).second);
        }
      }
      EXPECT_EQ(seen.size(), static_cast<size_t>(8 * 2 * kTcSlice));
    }
  }
}

// The float32 reduction-major tiles of bwd_weight (TF32, narrow tile): 16 rows of `cols` floats
// padded by 8. The 16-byte copies fill each tile once (a thread's copies share their columns and
// step whole rows apart, the kernel computing the first slot) without bank conflicts, and each
// lane's fragment words are its base slot (row t, column g of the MMA tile) plus a constant: A's
// word v of step h at row 8h + t + 4 (v / 2), column row0 + g + 8 (v % 2), B's word u at row 4u +
// t, column col0 + g; every read of a warp (one word per lane) hits 32 banks, and the words of a
// step are exactly the m16n8k8 fragments' elements.
template <int kCols>
void check_kmajor32_tile() {
  constexpr int kCopies = kernels::kTcKMajor32Copies<kCols>;
  constexpr int kStep = kernels::kTcKMajor32RowStep<kCols>;
  constexpr int kPitch = kernels::tc_kmajor32_pitch(kCols);
  static_assert(kCopies * kTcThreads * 4 == kCols * kTcSlice, "every element of the slice");
  std::set<int> written;
  for (int tid = 0; tid < kTcThreads; ++tid) {
    int k0 = 0, col0 = 0;
    kernels::tc_kmajor32_copy(tid, kCols, k0, col0);
    for (int i = 0; i < kCopies; ++i) {
      int k = 0, col = 0;
      kernels::tc_kmajor32_copy(tid + i * kTcThreads, kCols, k, col);
      EXPECT_EQ(col, col0);
      EXPECT_EQ(k, k0 + i * kStep);
      const int slot = kernels::tc_kmajor32_slot(k, col, kCols);
      EXPECT_EQ(slot, kernels::tc_kmajor32_slot(k0, col0, kCols) + i * kStep * kPitch);
      ASSERT_EQ(slot % 4, 0);
      ASSERT_LT(k, kTcSlice);
      ASSERT_LT(col + 3, kCols);
      for (int e = 0; e < 4; ++e) EXPECT_TRUE(written.insert(slot + e).second);
    }
  }
  EXPECT_EQ(written.size(), static_cast<size_t>(kCols * kTcSlice));
  EXPECT_LE(*written.rbegin(), kernels::tc_kmajor32_tile_floats(kCols));
  for (int e0 = 0; e0 < kCopies * kTcThreads; e0 += 32) {
    std::vector<int> warp(32);
    for (int lane = 0; lane < 32; ++lane) {
      int k = 0, col = 0;
      kernels::tc_kmajor32_copy(e0 + lane, kCols, k, col);
      warp[static_cast<size_t>(lane)] = kernels::tc_kmajor32_slot(k, col, kCols);
    }
    EXPECT_EQ(wavefronts(warp, 16), 4) << "cols " << kCols << ", copies " << e0 << "..";
  }
}

TEST(TemporalConvTcLayout, Float32ReductionMajorTilesReadOneWordPerBankAndLane) {
  check_kmajor32_tile<kernels::kTcTileM>();
  check_kmajor32_tile<kernels::kTcTileN>();
  const auto element = [](int slot, int cols) {
    const int pitch = kernels::tc_kmajor32_pitch(cols);
    return std::make_pair(slot % pitch, slot / pitch);  // (column, reduction row)
  };
  // A: the MMA tile at row0 (a multiple of 16) of a warp at warp_m; B: 8 columns at col0.
  for (int warp_m = 0; warp_m < kernels::kTcTileM; warp_m += kernels::kTcWarpM) {
    for (int i = 0; i < kernels::kTcMi; ++i) {
      for (int h = 0; h < 2; ++h) {
        std::set<std::pair<int, int>> seen;
        for (int v = 0; v < 4; ++v) {
          std::vector<int> read(32);
          for (int lane = 0; lane < 32; ++lane) {
            const int g = lane >> 2, t = lane & 3;
            const int base = kernels::tc_kmajor32_slot(t, warp_m + g, kernels::kTcTileM);
            const int slot = base +
                             (8 * h + 4 * (v / 2)) * kernels::tc_kmajor32_pitch(kernels::kTcTileM) +
                             16 * i + 8 * (v % 2);
            read[static_cast<size_t>(lane)] = slot;
            const int row0 = warp_m + 16 * i;
            EXPECT_EQ(element(slot, kernels::kTcTileM),
                      std::make_pair(row0 + g + 8 * (v % 2), 8 * h + t + 4 * (v / 2)));
            EXPECT_TRUE(seen.insert(element(slot, kernels::kTcTileM)).second);
          }
          EXPECT_EQ(wavefronts(read, 4), 1) << "A word " << v;
        }
        EXPECT_EQ(seen.size(), 16u * 8u);
      }
    }
  }
  for (int warp_n = 0; warp_n < kernels::kTcTileN; warp_n += kernels::kTcWarpN) {
    for (int j = 0; j < kernels::kTcNj; ++j) {
      std::set<std::pair<int, int>> seen;
      for (int u = 0; u < 4; ++u) {
        std::vector<int> read(32);
        for (int lane = 0; lane < 32; ++lane) {
          const int g = lane >> 2, t = lane & 3;
          const int base = kernels::tc_kmajor32_slot(t, warp_n + g, kernels::kTcTileN);
          const int slot = base + 4 * u * kernels::tc_kmajor32_pitch(kernels::kTcTileN) + 8 * j;
          read[static_cast<size_t>(lane)] = slot;
          EXPECT_EQ(element(slot, kernels::kTcTileN),
                    std::make_pair(warp_n + 8 * j + g, 4 * u + t));
          EXPECT_TRUE(seen.insert(element(slot, kernels::kTcTileN)).second);
        }
        EXPECT_EQ(wavefronts(read, 4), 1) << "B word " << u;
      }
      EXPECT_EQ(seen.size(), 8u * 16u);
    }
  }
}

// The reduction index: TF32 (two m16n8k8 steps) takes element 8h + t + 4j as step h, k = t + 4j
// (in order); BF16 (one m16n8k16 step) packs elements t and 4 + t as k = 2t, 2t + 1 and 8 + t,
// 12 + t as 2t + 8, 2t + 9. Either way each (step, logical k) takes exactly one physical element,
// so A and B, mapped alike, give the same sum.
TEST(TemporalConvTcLayout, ReductionIndexIsABijection) {
  std::set<std::pair<int, int>> tf32, bf16;
  for (int t = 0; t < 4; ++t) {
    for (int h = 0; h < 2; ++h) {
      for (int j = 0; j < 2; ++j) EXPECT_TRUE(tf32.insert({h, t + 4 * j}).second);
    }
    for (int e : {t, 4 + t, 8 + t, 12 + t}) {
      const int k = (e % 8 < 4 ? 2 * t : 2 * t + 1) + (e >= 8 ? 8 : 0);
      EXPECT_TRUE(bf16.insert({0, k}).second);
    }
  }
  EXPECT_EQ(tf32.size(), 16u);
  for (const auto& [step, k] : tf32) EXPECT_TRUE(step < 2 && k < 8);
  EXPECT_EQ(bf16.size(), 16u);
  for (const auto& [step, k] : bf16) EXPECT_TRUE(step == 0 && k < 16);
}

// The launcher's default tile (temporal_conv_tc_wide): wide where its grid has at least 264
// blocks, which on the benchmark's 1024-channel k = 3 layers means the 10,000-row inference
// forms' forward and bwd_data and the training form's bwd_data (3072 x 3072 outputs: the
// disjoint windows' GEMM), not the training forward (3072 x 1024: 192 wide blocks) nor bwd_weight
// (1024 x 3072); an explicit tile overrides it.
TEST(TemporalConvTcLayout, TheDefaultTileIsWideOnlyWhereItsGridFillsTheGpu) {
  using kernels::ConvTile;
  using kernels::TemporalConvPass;
  kernels::TemporalConvShape infer{1, 10000, 1024, 1024, 3, 3, 1};  // 9994 rows
  kernels::TemporalConvShape train{1024, 9, 1024, 1024, 3, 1, 3};   // 3072 rows
  EXPECT_TRUE(kernels::temporal_conv_tc_wide(infer, TemporalConvPass::kForward));
  EXPECT_TRUE(kernels::temporal_conv_tc_wide(infer, TemporalConvPass::kBackwardData));
  EXPECT_FALSE(kernels::temporal_conv_tc_wide(infer, TemporalConvPass::kBackwardWeight));
  EXPECT_FALSE(kernels::temporal_conv_tc_wide(train, TemporalConvPass::kForward));
  EXPECT_TRUE(kernels::temporal_conv_tc_wide(train, TemporalConvPass::kBackwardData));
  EXPECT_FALSE(kernels::temporal_conv_tc_wide(train, TemporalConvPass::kBackwardWeight));
  for (const auto pass : {TemporalConvPass::kForward, TemporalConvPass::kBackwardData,
                          TemporalConvPass::kBackwardWeight}) {
    train.tile = ConvTile::kWide;
    EXPECT_TRUE(kernels::temporal_conv_tc_wide(train, pass));
    infer.tile = ConvTile::kNarrow;
    EXPECT_FALSE(kernels::temporal_conv_tc_wide(infer, pass));
    train.tile = infer.tile = ConvTile::kDefault;
  }
  // The boundary: 8 column tiles of 128, so 33 row tiles (4224 rows) are 264 blocks, 32 are not.
  kernels::TemporalConvShape edge{1, 4224, 64, 1024, 1, 1, 1};
  EXPECT_TRUE(kernels::temporal_conv_tc_wide(edge, TemporalConvPass::kForward));
  edge.t_in = 4096;
  EXPECT_FALSE(kernels::temporal_conv_tc_wide(edge, TemporalConvPass::kForward));
}

}  // namespace
}  // namespace v3d
