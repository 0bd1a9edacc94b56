// Geometry of the tensor-core temporal convolution (kernels/cuda/temporal_conv_tc.cu): its tiles,
// where each cp.async copy lands in shared memory and where each lane reads its MMA fragments.
// Host-compilable so that tests can check the layout's properties (every staged element written
// once, fragments reading each element of the slice once, no shared-memory bank conflicts) without
// running the kernel.
//
// A block of 4 warps (2 x 2) computes a kTcTileM x kTcTileN tile of C, each warp 64 x 32 as 4 x 4
// MMA tiles of 16 x 8 (64 float32 accumulators per thread); the wide form, kTcWideTileN, doubles
// the columns (each warp 64 x 64, 4 x 8 MMA tiles, 128 accumulators), so each staged byte feeds
// 1.5 times the flops (32 instead of 21 per byte of A and B): for the large layers, whose tiles
// read their operands from L2, at the price of registers (2 blocks per SM instead of 3). Per
// reduction slice of 16 elements the block stages A (128 rows) and B (64 or 128 rows) in shared
// memory as rows of 16 floats (64 bytes, no padding) whose four float4 chunks are XOR-swizzled by
// bits 1-2 of the row.
//
// Fragments are read with ldmatrix.x4 (four 8 x 8 matrices of 16-bit elements, here 8 rows of
// four floats each): lane 8q + r names the 16-byte row r of matrix q, lane (g, t) receives word
// t of row g of each matrix. A TF32 A fragment is one call (matrices: the tile's rows 0-7 and
// 8-15 at elements 0-3 of the half slice, then both at elements 4-7), two B fragments are one
// call (the four float4 chunks of 8 rows), and the registers arrive in the order the MMA reads
// them: no register moves, one in-place cvt per element. TF32 takes the reduction elements in
// order (step h of a slice: k = t and t + 4 are elements 8h + t and 8h + 4 + t). BF16 permutes
// them, identically for A and B (a sum does not depend on the order its terms are numbered in):
// the pair k = 2t, 2t+1 packed into one register is elements t and 4 + t, k = 2t+8, 2t+9 are
// elements 8 + t and 12 + t, so each register packs two words of one lane.
#pragma once

#include "kernels/common.h"
#include "kernels/temporal_conv.h"

namespace v3d::kernels {

inline constexpr int kTcTileM = 128;                 // rows of C per block
inline constexpr int kTcTileN = kTemporalConvTile;   // columns of C per block (64)
inline constexpr int kTcSlice = kTemporalConvSlice;  // reduction elements per slice (16)
inline constexpr int kTcThreads = 128;               // 4 warps, 2 (rows) x 2 (columns)
inline constexpr int kTcWarpM = 64, kTcWarpN = 32;   // each warp's tile of C
inline constexpr int kTcMi = kTcWarpM / 16;          // its MMA tiles along M
inline constexpr int kTcNj = kTcWarpN / 8;           // and along N
inline constexpr int kTcStages = 3;                  // slices in flight (cp.async groups)
inline constexpr int kTcWideTileN = 2 * kTcTileN;    // the wide form's columns per block (128)
// Floats of one pipeline stage (A's rows, then B's) for a tile of tile_n columns.
V3D_HOST_DEVICE constexpr int tc_stage_floats(int tile_n) { return (kTcTileM + tile_n) * kTcSlice; }
inline constexpr int kTcStageFloats = tc_stage_floats(kTcTileN);

static_assert(kTcTileN == 64 && kTcSlice == 16, "the layout below assumes 16-float rows");
static_assert(kTcTileM == 2 * kTcWarpM && kTcTileN == 2 * kTcWarpN, "2 x 2 warps");
static_assert(kTcStages * tc_stage_floats(kTcWideTileN) * 4 <= 48 * 1024, "static shared memory");

// Float offset of element (row, col) of a staged tile.
V3D_HOST_DEVICE constexpr int tc_staged_slot(int row, int col) {
  return row * kTcSlice + ((((col >> 2) ^ (row >> 1)) & 3) << 2) + (col & 3);
}

// The row `lane` names in an ldmatrix.x4 of A's 16-row MMA tile starting at row0, for half slice
// `half` (elements 8 * half .. 8 * half + 7): matrix q = lane / 8 is rows row0 + 8 (q % 2) ..
// at the float4 chunk 2 * half + q / 2. The swizzle depends only on the row's low 3 bits, so for
// row0 a multiple of 8 half 1's slot is half 0's with bit 3 flipped (the kernel computes one).
V3D_HOST_DEVICE constexpr int tc_ldmatrix_a_slot(int row0, int lane, int half) {
  return tc_staged_slot(row0 + 8 * ((lane >> 3) & 1) + (lane & 7), 4 * (2 * half + (lane >> 4)));
}

// The row `lane` names in an ldmatrix.x4 of B's 8-row tile starting at row0: matrix q = lane / 8
// is the float4 chunk q of the eight rows (all 16 elements of the slice).
V3D_HOST_DEVICE constexpr int tc_ldmatrix_b_slot(int row0, int lane) {
  return tc_staged_slot(row0 + (lane & 7), 4 * (lane >> 3));
}

// Copies per thread and slice of a tile of kRows rows with kVec floats per copy.
template <int kRows, int kVec>
inline constexpr int kTcCopies = kRows* kTcSlice / kVec / kTcThreads;

// Where copy e (0 .. rows * 16 / kVec - 1; thread tid issues e = tid + i * kTcThreads) of a slice
// lands: kVec consecutive reduction elements of one row. Row-major (consecutive copies along the
// row) unless the operand's rows are adjacent in memory and its reduction strided (rows_fastest):
// then each warp copies 8 consecutive rows x 4 consecutive elements, four full 32-byte sectors of
// global memory and 32 different banks of shared memory. Either way a thread's copies share one
// column and step tc_copy_row_step rows apart (a multiple of 8, which keeps the swizzle), so the
// kernel computes the slot of its first copy only.
template <int kVec, bool kRowsFastest>
V3D_HOST_DEVICE constexpr void tc_copy_slot(int e, int& row, int& col) {
  if constexpr (kVec > 1 || !kRowsFastest) {
    row = e / (kTcSlice / kVec);
    col = (e % (kTcSlice / kVec)) * kVec;
  } else {
    const int lane = e % 32, group = e / 32;  // group: 4 column groups x rows / 8 row groups
    row = (group / 4) * 8 + lane % 8;
    col = (group % 4) * 4 + lane / 8;
  }
}

template <int kVec, bool kRowsFastest>
inline constexpr int kTcCopyRowStep = kVec > 1 || !kRowsFastest ? kTcThreads * kVec / kTcSlice : 8;

// ---- reduction-major staging of BF16 operands (bwd_weight) ------------------------------------
// bwd_weight's operands, d_y (co, row) and x ((k, ci), row), run along M and N in memory and are
// strided along the reduction (the rows). Where they are BF16 copies whose channel runs are whole
// 16-byte vectors (temporal_conv_tc_bf16_staged) the block stages them as they lie: a slice of 32
// reduction elements is 32 rows of the tile's M (or N) elements, each row its 16-byte chunks of
// 8 elements XOR-swizzled by the row's low 3 bits, and ldmatrix.x4.trans hands each lane the MMA's
// fragment (two consecutive k of one row of A or column of B per register). A tile of `cols`
// (64 or 128) elements per row takes as much shared memory as its float32 form (cols x 16 floats).

// Word (4-byte) offset of 16-byte chunk `chunk` (elements 8 chunk .. 8 chunk + 7) of reduction
// row k in a reduction-major tile of `cols` elements per row (at least 8 chunks).
V3D_HOST_DEVICE constexpr int tc_kmajor_slot(int k, int chunk, int cols) {
  return k * (cols / 2) + (((chunk ^ k) & 7) | (chunk & ~7)) * 4;
}

// The row `lane` names in an ldmatrix.x4.trans of A's 16-row MMA tile starting at row0 (a multiple
// of 16), for step `half` of the slice (reduction rows 16 half .. 16 half + 15): matrix q = lane /
// 8 is rows row0 + 8 (q % 2) .. + 7 at reduction rows 16 half + 8 (q / 2) .. + 7, which is the
// register order of the m16n8k16 A fragment.
V3D_HOST_DEVICE constexpr int tc_ldmatrix_trans_a_slot(int row0, int lane, int half) {
  return tc_kmajor_slot(16 * half + 8 * ((lane >> 4) & 1) + (lane & 7),
                        row0 / 8 + ((lane >> 3) & 1), kTcTileM);
}

// The row `lane` names in an ldmatrix.x4.trans of B's 8 columns starting at col0 (a multiple of 8)
// in a tile of `cols` columns: matrix q = lane / 8 is reduction rows 8q .. 8q + 7, so registers 0,
// 1 are step 0's B fragment and 2, 3 step 1's.
V3D_HOST_DEVICE constexpr int tc_ldmatrix_trans_b_slot(int col0, int lane, int cols) {
  return tc_kmajor_slot(8 * (lane >> 3) + (lane & 7), col0 / 8, cols);
}

// 16-byte copies per thread and slice of a reduction-major tile of kCols elements per row, and the
// reduction rows between a thread's copies: copy e (thread tid issues e = tid + i * kTcThreads)
// lands at row e / (kCols / 8), chunk e % (kCols / 8), so a thread's copies share their chunk and
// step a multiple of 8 rows apart (the same swizzle).
template <int kCols>
inline constexpr int kTcKMajorCopies = 2 * kTcSlice* kCols / 8 / kTcThreads;
template <int kCols>
inline constexpr int kTcKMajorRowStep = kTcThreads * 8 / kCols;
V3D_HOST_DEVICE constexpr void tc_kmajor_copy(int e, int cols, int& k, int& chunk) {
  k = e / (cols / 8);
  chunk = e % (cols / 8);
}

// ---- reduction-major staging of float32 operands (TF32 bwd_weight, narrow tile) ----------------
// The float32 form of the above, for the TF32 (and float32-staged BF16) bwd_weight where C_in and
// C_out are multiples of 4: a slice is 16 reduction rows of `cols` floats, filled by 16-byte copies
// of 4 consecutive columns. No ldmatrix.trans exists for 32-bit elements, so each lane reads its
// fragment words one by one: lane (g, t) reads column g (+ 8) of rows t (+ 4), and rows padded by
// 8 floats put the four rows t = 0-3 on banks 8 apart, so the 32 lanes of a read hit 32 banks and
// every word of a fragment is the lane's base plus a constant. The padding costs 8 floats a row:
// A (128 columns) and the narrow B (64) fit three stages in 48 KiB, the wide B does not.
inline constexpr int kTcKMajor32Pad = 8;
V3D_HOST_DEVICE constexpr int tc_kmajor32_pitch(int cols) { return cols + kTcKMajor32Pad; }
// Float offset of element (k, col) of a float32 reduction-major tile of `cols` columns.
V3D_HOST_DEVICE constexpr int tc_kmajor32_slot(int k, int col, int cols) {
  return k * tc_kmajor32_pitch(cols) + col;
}
V3D_HOST_DEVICE constexpr int tc_kmajor32_tile_floats(int cols) {
  return kTcSlice * tc_kmajor32_pitch(cols);
}
// 16-byte copies per thread and slice of a tile of kCols columns, and the rows between a
// thread's copies: copy e lands at row e / (kCols / 4), columns 4 (e % (kCols / 4)) .. + 3.
template <int kCols>
inline constexpr int kTcKMajor32Copies = kTcSlice* kCols / 4 / kTcThreads;
template <int kCols>
inline constexpr int kTcKMajor32RowStep = kTcThreads * 4 / kCols;
V3D_HOST_DEVICE constexpr void tc_kmajor32_copy(int e, int cols, int& k, int& col) {
  k = e / (cols / 4);
  col = 4 * (e % (cols / 4));
}
static_assert(kTcStages * (tc_kmajor32_tile_floats(kTcTileM) + tc_kmajor32_tile_floats(kTcTileN)) *
                      4 <=
                  48 * 1024,
              "static shared memory");

}  // namespace v3d::kernels
