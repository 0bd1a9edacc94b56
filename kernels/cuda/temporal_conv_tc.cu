// The tensor-core temporal convolutions (kernels/temporal_conv.h, math = kTf32 or kBf16): the
// forward, bwd_data and bwd_weight passes as implicit GEMMs C (M, N) = sum_r A(m, r) B(n, r) with
// warp-level mma.sync (m16n8k8 TF32 or m16n8k16 BF16) and float32 accumulators, fed by a two-stage
// cp.async pipeline. No im2col matrix is built: the reduction runs over `taps` runs of `inner`
// elements, each cut into slices of kSlice, and an operand policy maps (row, tap, element) to an
// offset in x, w, y or their gradients (or to zero):
// clang-format off
//
//   pass                      M         N         taps  inner     A (m, r)                  B (n, r)
//   fwd                       B*T_out   C_out     K     C_in      x[b, t*s + k*d, ci]       w[co, ci, k]
//   bwd_data, disjoint        B*T_out   K*C_in    1     C_out     d_y[m, co]                w[co, ci, k]
//   bwd_data, overlapping     B*T_in    C_in      K     C_out     d_y[b, (f - k*d)/s, co]   w[co, ci, k]
//   bwd_weight                C_out     K*C_in    1     B*T_out   d_y[row, co]              x[b, t*s + k*d, ci]
// clang-format on
//
// bwd_data with disjoint windows (the strided training form s = K, d = 1, and pointwise layers)
// stores each d_X_col element into its own d_x element and zeroes the frames nobody reads;
// with overlapping windows (the dilated form) it is the transposed convolution itself: row (b, f)
// of d_x gathers the taps whose output frame t = (f - k*d)/s exists (the others are zero-filled
// copies), so no workspace and no col2im pass. bwd_weight reduces over the B*T_out output rows,
// split over blockIdx.z into the workspace's partial sums when the tile grid is small
// (temporal_conv_weight_split), added in split order by the float32 launcher's kernel: no atomics.
//
// Tiling and shared-memory layout: kernels/temporal_conv_tc_layout.h (a block computes a 128 x 64
// tile of C with 4 warps of 64 x 32, or in the wide form (ConvTile::kWide) 128 x 128 with 4 warps
// of 64 x 64; slices of 16 reduction elements in a three-stage cp.async pipeline; swizzled rows
// read by ldmatrix.x4, which delivers the fragments' words in the MMA's register order). An operand
// contiguous along the reduction (x in the forward, d_y in bwd_data) takes 16-byte copies when its
// run length is a multiple of 4 and its base is aligned (kVec = 4); the others 4-byte copies, each
// warp on 8 adjacent rows x 4 elements where the rows are adjacent in memory (kRowsFastest:
// coalesced reads of d_y and x in bwd_weight). Rows past M (N), elements past the run and taps
// without an output frame are zero-filled (src_bytes = 0); stores are bounds-checked. Both operands
// are rounded (TF32: cvt.rn in place; BF16: cvt.rn.bf16x2, packing two words of a lane) as the
// fragments are read, which is the rounding the contract and the reference use; or, in BF16 where
// temporal_conv_tc_bf16_staged says so, rounded the same way into BF16 copies by the launcher and
// staged as BF16 (half the shared-memory traffic, no conversion in the loop). The weights are read
// tap-major (C_out, K, C_in), or as BF16 (K, C_in, C_out) in bwd_data, permuted by the launcher.
// bwd_weight's operands (d_y and x, strided along the reduction) are staged reduction-major
// instead where their channel runs are whole 16-byte vectors: as BF16 copies read by
// ldmatrix.trans, or as float32 (narrow tile) read one word per lane (temporal_conv_tc_layout.h).
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/temporal_conv_tc.cuh"
#include "kernels/elementwise.h"
#include "kernels/fast_divmod.h"
#include "kernels/gpu/check.h"
#include "kernels/gpu/compat.h"
#include "kernels/gpu/kind.h"
#include "kernels/temporal_conv.h"
#include "kernels/temporal_conv_tc_layout.h"

namespace v3d::kernels::V3D_GPU_NS {
namespace {

constexpr int kTileM = kTcTileM, kSlice = kTcSlice, kThreads = kTcThreads;
constexpr int kStages = kTcStages;
#ifndef V3D_TC_MIN_BLOCKS  // kernels/CMakeLists.txt sets it
#define V3D_TC_MIN_BLOCKS 3
#endif
// Blocks per SM the narrow form is compiled for: 3 leaves 168 registers per thread, 4 leaves 128.
// The wide form's 128 accumulators per thread need up to 255 registers: 2 blocks.
template <int kTileN>
constexpr int kMinBlocks = kTileN == kTcTileN ? V3D_TC_MIN_BLOCKS : 2;
// The reduction of one GEMM: `taps` runs of `inner` elements; split z (blockIdx.z) reduces
// elements [z*chunk, min((z+1)*chunk, inner)) of every run.
struct TcGemm {
  int64_t m_size, n_size, taps, inner, chunk;
};

// ---- operand policies: line(row) once per kernel, offset(line, tap, element) per slice ----------
// offset < 0 is a zero element. kSeparable: offset(l, tap, c) = l + offset(0, tap, c), so the
// kernel keeps the address of each copy's line and adds one offset per slice, the same for all of
// a thread's copies since they share the element c (no per-copy index arithmetic in the loop).
// Off: the type of the kept lines of the others.

// fwd A (m, (k, ci)): x[b, t*s + k*d, ci], m = b*T_out + t.
template <class T>
struct FwdX {
  static constexpr bool kContiguous = true, kRowsFastest = false, kSeparable = true;
  using Off = int64_t;
  using Elem = T;
  const T* p;
  int64_t t_out, t_in, c_in, stride, tap_stride;
  __device__ int64_t line(int64_t m) const {
    const int64_t b = m / t_out, t = m - b * t_out;
    return (b * t_in + t * stride) * c_in;
  }
  __device__ int64_t offset(int64_t l, int64_t tap, int64_t ci) const {
    return l + tap * tap_stride + ci;
  }
};

// The weights operands below read wp[co, k, ci], w permuted tap-major (C_out, K, C_in) by the
// launcher (w itself when K = 1): contiguous along ci, so the forward's B takes the copies of A
// (16 bytes when C_in % 4 = 0), and the backward passes' 4-byte copies of 8 adjacent rows read
// whole 32-byte sectors (in w's own order, rows K floats apart, they read 3 sectors per 32 bytes
// used at K = 3).

// fwd B (co, (k, ci)): wp[co, k, ci].
template <class T>
struct FwdW {
  static constexpr bool kContiguous = true, kRowsFastest = false, kSeparable = true;
  using Off = int64_t;
  using Elem = T;
  const T* p;
  int64_t c_in, k;
  __device__ int64_t line(int64_t co) const { return co * k * c_in; }
  __device__ int64_t offset(int64_t l, int64_t tap, int64_t ci) const {
    return l + tap * c_in + ci;
  }
};

// bwd_data A with disjoint windows (m, co): d_y[m, co].
template <class T>
struct GradRows {
  static constexpr bool kContiguous = true, kRowsFastest = false, kSeparable = true;
  using Off = int64_t;
  using Elem = T;
  const T* p;
  int64_t c_out;
  __device__ int64_t line(int64_t m) const { return m * c_out; }
  __device__ int64_t offset(int64_t l, int64_t, int64_t co) const { return l + co; }
};

// bwd_data B with disjoint windows ((k, ci), co): wp[co, k, ci] = wp[co * K*C_in + n], rows
// adjacent, K*C_in floats apart along co.
struct WeightByInput {
  static constexpr bool kContiguous = false, kRowsFastest = true, kSeparable = true;
  using Off = int64_t;
  using Elem = float;
  const float* p;
  int64_t c_in, k;
  __device__ int64_t line(int64_t n) const { return n; }
  __device__ int64_t offset(int64_t l, int64_t, int64_t co) const { return l + co * k * c_in; }
};

// bwd_data A with overlapping windows ((b, f), (k, co)): d_y[b, t, co] where f = t*s + k*d for an
// output frame t, else zero. A copy keeps its row as (b*T_out, f), found once per kernel (row
// indices fit in 32 bits: the launcher checks); its d_y row in a tap (a subtraction and two
// comparisons; only a stride above 1 divides, by the stride, and the dilated form has stride 1)
// once per tap with 16-byte copies (TcCopies::begin_tap), else per slice.
template <class T>
struct GradShifted {
  static constexpr bool kContiguous = true, kRowsFastest = false, kSeparable = false;
  struct Off {
    uint32_t first = 0, frame = 0;  // the sequence's first row of d_y, the row's frame in x
  };
  using Elem = T;
  const T* p;
  uint32_t t_in, t_out, dilation, stride;
  int64_t c_out;
  __device__ Off line(int64_t m) const {
    const auto row = static_cast<uint32_t>(m), b = row / t_in;
    return Off{b * t_out, row - b * t_in};
  }
  // The offset of (row, tap, co) is tap_offset(row, tap) + co, or none when that is negative: the
  // copies with 16-byte vectors find it once per tap (TcCopies::begin_tap).
  __device__ int64_t tap_offset(Off l, int64_t tap) const {
    const int64_t start = static_cast<int64_t>(l.frame) - tap * dilation;
    if (start < 0) return -1;
    auto t = static_cast<uint32_t>(start);
    if (stride != 1) {
      t /= stride;
      if (t * stride != start) return -1;
    }
    if (t >= t_out) return -1;
    return (static_cast<int64_t>(l.first) + t) * c_out;
  }
  __device__ int64_t offset(Off l, int64_t tap, int64_t co) const {
    const int64_t base = tap_offset(l, tap);
    return base < 0 ? -1 : base + co;
  }
};

// bwd_data B with overlapping windows (ci, (k, co)): wp[co, k, ci], rows adjacent.
struct WeightTaps {
  static constexpr bool kContiguous = false, kRowsFastest = true, kSeparable = true;
  using Off = int64_t;
  using Elem = float;
  const float* p;
  int64_t c_in, k;
  __device__ int64_t line(int64_t ci) const { return ci; }
  __device__ int64_t offset(int64_t l, int64_t tap, int64_t co) const {
    return l + (co * k + tap) * c_in;
  }
};

// The BF16-staged bwd_data's B (temporal_conv_tc_bf16_staged): wt[k, ci, co], the weights as BF16
// with C_out innermost (permuted by the launcher), so both forms read B contiguous along co. With
// disjoint windows ((k, ci), co) = wt[n * C_out + co]: GradRows<uint16_t> over wt.
// With overlapping windows: (ci, (k, co)) = wt[(k * C_in + ci) * C_out + co].
struct WeightTapsT {
  static constexpr bool kContiguous = true, kRowsFastest = false, kSeparable = true;
  using Off = int64_t;
  using Elem = uint16_t;
  const uint16_t* p;
  int64_t c_in, c_out;
  __device__ int64_t line(int64_t ci) const { return ci * c_out; }
  __device__ int64_t offset(int64_t l, int64_t tap, int64_t co) const {
    return l + tap * c_in * c_out + co;
  }
};

// bwd_weight A (co, row): d_y[row, co], C_out floats apart along the rows.
struct GradCols {
  static constexpr bool kContiguous = false, kRowsFastest = true, kSeparable = true;
  using Off = int64_t;
  using Elem = float;
  const float* p;
  int64_t c_out;
  __device__ int64_t line(int64_t co) const { return co; }
  __device__ int64_t offset(int64_t co, int64_t, int64_t row) const { return row * c_out + co; }
};

// bwd_weight B ((k, ci), row): x[b, t*s + k*d, ci], row = b*T_out + t (32-bit: the launcher
// checks that B*T_out fits; split by a fast division, kernels/fast_divmod.h).
struct XCols {
  static constexpr bool kContiguous = false, kRowsFastest = true, kSeparable = true;
  using Off = int64_t;
  using Elem = float;
  const float* p;
  FastDivmod t_out;  // row -> (b, t)
  int64_t t_in, c_in, stride, dilation;
  __device__ int64_t line(int64_t n) const {
    const int64_t tap = n / c_in, ci = n - tap * c_in;
    return tap * dilation * c_in + ci;
  }
  __device__ int64_t offset(int64_t l, int64_t, int64_t row) const {
    const auto r = static_cast<uint32_t>(row);
    const uint32_t b = t_out.div(r), t = t_out.mod(r, b);
    return (static_cast<int64_t>(b) * t_in + static_cast<int64_t>(t) * stride) * c_in + l;
  }
};

// ---- bwd_weight's operands staged reduction-major (temporal_conv_tc_layout.h) ------------------
// As BF16 copies (temporal_conv_tc_bf16_staged), or as the float32 tensors themselves where C_in
// and C_out are multiples of 4 (TF32, and BF16 otherwise; the narrow tile). Element (col, row) of
// the GEMM operand lies row_bytes(row) bytes past p + col_line(col), contiguous along col in runs
// of whole 16-byte vectors. Rows are 32-bit (the launcher checks B*T_out and B*T_in), and a row's
// byte offset is one 32 x 32 -> 64-bit multiply (and for x one fast division), since the copies
// compute it for every slice.

// bwd_weight A (co, row): d_y[row, co] (T: float, or uint16_t for BF16 copies).
template <class T>
struct GradT {
  static constexpr bool kContiguous = false;  // along the reduction (launch_tc reads it)
  static constexpr uint32_t kBytes = sizeof(T);
  using Elem = T;
  const T* p;
  uint32_t c_out;
  __device__ int64_t col_line(int64_t co) const { return co; }
  __device__ uint64_t row_bytes(uint32_t row) const {
    return uint64_t{row} * (kBytes * c_out);  // 32 x 32 -> 64 bits
  }
};

// bwd_weight B ((k, ci), row): x[b, t*s + k*d, ci], row = b*T_out + t.
template <class T>
struct XT {
  static constexpr bool kContiguous = false;
  static constexpr uint32_t kBytes = sizeof(T);
  using Elem = T;
  const T* p;
  FastDivmod t_out;  // row -> (b, t)
  uint32_t t_in, stride, c_in;
  int64_t dilation;
  __device__ int64_t col_line(int64_t n) const {
    const int64_t tap = n / c_in, ci = n - tap * c_in;
    return tap * dilation * c_in + ci;
  }
  __device__ uint64_t row_bytes(uint32_t row) const {
    const uint32_t b = t_out.div(row), t = t_out.mod(row, b);
    return uint64_t{b * t_in + t * stride} * (kBytes * c_in);
  }
};

template <class Op>
struct TcKMajor : std::false_type {};
template <class T>
struct TcKMajor<GradT<T>> : std::true_type {};
template <class T>
struct TcKMajor<XT<T>> : std::true_type {};

// The copies of a reduction-major operand of kCols columns (kernels' A: M, B: N) for this thread:
// one 16-byte chunk of columns (8 BF16 or 4 floats; the same in every copy) at kCount reduction
// rows kRowStep apart; a slice costs each copy its row's byte offset and one add.
template <int kCols, class Op>
struct TcCopiesKMajor {
  using Elem = typename Op::Elem;
  static constexpr bool k16 = sizeof(Elem) == 2;
  static constexpr int kCount = k16 ? kTcKMajorCopies<kCols> : kTcKMajor32Copies<kCols>;
  static constexpr int kRowStep = k16 ? kTcKMajorRowStep<kCols> : kTcKMajor32RowStep<kCols>;
  // Floats between a thread's consecutive copies in the tile.
  static constexpr int kSlotStep = kRowStep * (k16 ? kCols / 2 : tc_kmajor32_pitch(kCols));
  int slot;       // the first copy's slot in a staged tile
  uint32_t k;     // and its reduction row within the slice
  bool live;      // the chunk's columns exist (all of them: the runs are whole vectors)
  uint64_t base;  // the address of the chunk's first column at reduction row 0

  // Columns c0 .. c0 + kCols of an operand with `cols` columns.
  __device__ TcCopiesKMajor(const Op& op, int tid, int64_t c0, int64_t cols) {
    int row = 0, first = 0;  // first: the chunk's first column in the tile
    if constexpr (k16) {
      int chunk = 0;
      tc_kmajor_copy(tid, kCols, row, chunk);
      slot = tc_kmajor_slot(row, chunk, kCols);
      first = 8 * chunk;
    } else {
      tc_kmajor32_copy(tid, kCols, row, first);
      slot = tc_kmajor32_slot(row, first, kCols);
    }
    k = static_cast<uint32_t>(row);
    const int64_t c = c0 + first;
    live = c < cols;
    base = reinterpret_cast<uint64_t>(op.p + (live ? op.col_line(c) : 0));
  }

  __device__ void begin_tap(const Op&, int64_t) {}

  // Issues the copies of the slice of reduction rows r0 .. r0 + 32 (BF16) or + 16 (float32),
  // those at c_end or past it zero-filled, into `tile`; tap is always 0 (bwd_weight's reduction
  // is one run).
  __device__ void stage(const Op& op, int64_t, int64_t r0, int64_t c_end, float* tile) const {
    const uint32_t r = static_cast<uint32_t>(r0) + k, end = static_cast<uint32_t>(c_end);
    V3D_UNROLL
    for (int i = 0; i < kCount; ++i) {
      const uint32_t row = r + i * kRowStep;
      const bool in = live && row < end;
      // Every address formed lies inside the operand: a live element, or the chunk's base.
      tc::cp_async<16>(tile + slot + i * kSlotStep,
                       reinterpret_cast<const Elem*>(base + (in ? op.row_bytes(row) : 0)),
                       in ? 16 : 0);
    }
  }
};

// One operand's copies for this thread: the slot of its first copy in a staged tile, its element
// within the slice (shared by all its copies), how many of its copies lie on rows of the operand,
// and per copy its line: for a separable operand the line's address as an integer (so that a
// slice costs each copy one 64-bit add of the element's byte offset: as a float pointer, nvcc
// re-associates the sum into index arithmetic and a scaled add per copy), else the policy's line.
template <int kRows, int kVec, class Op>
struct TcCopies {
  static constexpr int kCount = kTcCopies<kRows, kVec>;
  static constexpr int kRowStep = kTcCopyRowStep<kVec, Op::kRowsFastest>;
  using Elem = typename Op::Elem;
  // Operand elements per 4-byte slot of the staged tile: 1 (float32), 2 (BF16 in memory).
  static constexpr int kPerSlot = static_cast<int>(4 / sizeof(Elem));
  static_assert(kPerSlot == 1 || kVec == 4, "BF16 operands take 16-byte copies");
  using Line = std::conditional_t<Op::kSeparable, uint64_t, typename Op::Off>;
  // A non-separable operand's 16-byte copies find each line's address within a tap once per tap
  // (begin_tap; a tap spans all the slices of its run), so that a slice costs them an add, as the
  // separable ones. The 4-byte copies (16 per thread: too many registers) find it per slice.
  static constexpr bool kTapCached = !Op::kSeparable && kVec == 4;
  int slot, col, rows_left;  // col: the copy's first reduction element within the slice
  Line line[kCount];
  uint64_t tap_line[kTapCached ? kCount : 1];  // the line's element 0 in the tap, or op.p
  uint32_t tap_live = 0;                       // bit i: copy i's line has the tap

  // Rows r0 .. r0 + kRows of an operand with `rows` rows.
  __device__ TcCopies(const Op& op, int tid, int64_t r0, int64_t rows) {
    int row = 0;
    tc_copy_slot<kVec, Op::kRowsFastest>(tid, row, col);
    slot = tc_staged_slot(row, col);
    col *= kPerSlot;
    const int64_t left = rows - r0 - row;
    rows_left = left < kRows ? static_cast<int>(left) : kRows;  // copy i is live if i*step < this
    V3D_UNROLL
    for (int i = 0; i < kCount; ++i) {
      const int64_t r = r0 + row + i * kRowStep;
      if constexpr (Op::kSeparable) {
        // A copy past the last row keeps the operand's base: it reads nothing.
        line[i] = reinterpret_cast<uint64_t>(op.p + (r < rows ? op.line(r) : 0));
      } else {
        line[i] = r < rows ? static_cast<Line>(op.line(r)) : Line{};
      }
    }
  }

  // Before the first slice of each tap.
  __device__ void begin_tap(const Op& op, int64_t tap) {
    if constexpr (kTapCached) {
      tap_live = 0;
      V3D_UNROLL
      for (int i = 0; i < kCount; ++i) {
        const int64_t off = i * kRowStep < rows_left ? op.tap_offset(line[i], tap) : -1;
        tap_line[i] = reinterpret_cast<uint64_t>(op.p + (off >= 0 ? off : 0));
        tap_live |= static_cast<uint32_t>(off >= 0) << i;
      }
    }
  }

  // Issues the copies of slice (tap, elements c0 .. c0 + kSlice * kPerSlot) into `tile`.
  __device__ void stage(const Op& op, int64_t tap, int64_t c0, int64_t c_end, float* tile) const {
    static_assert(kVec == 1 || Op::kContiguous, "16-byte copies need a contiguous operand");
    // A vector lies wholly inside or outside the run: its length is a multiple of kVec * kPerSlot.
    const bool col_live = c0 + col < c_end;
    if constexpr (kTapCached) {
      // Every address formed lies inside the operand: a live element, or a line's start (op.p
      // for a line without the tap).
      const uint64_t element = static_cast<uint64_t>(c0 + col) * sizeof(Elem);
      V3D_UNROLL
      for (int i = 0; i < kCount; ++i) {
        const bool in = col_live && ((tap_live >> i) & 1u) != 0;
        tc::cp_async<4 * kVec>(tile + slot + i * kRowStep * kTcSlice,
                               reinterpret_cast<const Elem*>(tap_line[i] + (in ? element : 0)),
                               in ? 4 * kVec : 0);
      }
    } else if constexpr (Op::kSeparable) {
      // Every address formed lies inside the operand: a live element's offset, or a line's start.
      const uint64_t element =
          col_live ? static_cast<uint64_t>(op.offset(0, tap, c0 + col)) * sizeof(Elem) : 0;
      V3D_UNROLL
      for (int i = 0; i < kCount; ++i) {
        const bool in = col_live && i * kRowStep < rows_left;
        tc::cp_async<4 * kVec>(tile + slot + i * kRowStep * kTcSlice,
                               reinterpret_cast<const Elem*>(line[i] + element), in ? 4 * kVec : 0);
      }
    } else {
      V3D_UNROLL
      for (int i = 0; i < kCount; ++i) {
        const int64_t off =
            col_live && i * kRowStep < rows_left ? op.offset(line[i], tap, c0 + col) : -1;
        const bool in = off >= 0;
        tc::cp_async<4 * kVec>(tile + slot + i * kRowStep * kTcSlice, op.p + (in ? off : 0),
                               in ? 4 * kVec : 0);
      }
    }
  }
};

// kVecA: 4-byte words per A copy (4 or 1); kBf16: BF16 operands (else TF32); kTileN: the block's
// columns, kTcTileN (narrow) or kTcWideTileN (wide). Operands of 2-byte elements (BF16 in memory,
// temporal_conv_tc_bf16_staged) are staged as they are: a slice then holds 32 reduction elements
// (two m16n8k16 steps) in the same 64-byte rows, and ldmatrix delivers the MMA's fragments as they
// stand, with no conversion.
template <int kVecA, bool kBf16, int kTileN, class OpA, class OpB, class Store>
__global__ void __launch_bounds__(kThreads, kMinBlocks<kTileN>)
    conv_tc_kernel(TcGemm gemm, OpA op_a, OpB op_b, Store out) {
  constexpr int kWarpN = kTileN / 2, kNj = kWarpN / 8;
  constexpr bool kStaged16 = sizeof(typename OpA::Elem) == 2;
  // Operands staged reduction-major (bwd_weight; temporal_conv_tc_layout.h): both or neither. As
  // BF16 they are read by ldmatrix.trans; as float32 (kKMajor32: padded rows, the narrow tile) by
  // one shared load per fragment word.
  constexpr bool kKMajor = TcKMajor<OpA>::value;
  static_assert(kKMajor == TcKMajor<OpB>::value, "both operands reduction-major or neither");
  constexpr bool kKMajor32 = kKMajor && !kStaged16;
  static_assert(!kKMajor32 || kTileN == kTcTileN, "padded float32 rows: the narrow tile only");
  constexpr int kATileFloats = kKMajor32 ? tc_kmajor32_tile_floats(kTileM) : kTileM * kSlice;
  constexpr int kStageFloats =
      kKMajor32 ? kATileFloats + tc_kmajor32_tile_floats(kTileN) : tc_stage_floats(kTileN);
  static_assert(sizeof(typename OpA::Elem) == sizeof(typename OpB::Elem), "one operand width");
  static_assert(!kStaged16 || (kBf16 && kVecA == 4), "2-byte operands are BF16, 16-byte copies");
  constexpr int kSliceElems = kStaged16 ? 2 * kSlice : kSlice;  // reduction elements per slice
  // float4: cp.async of 16 bytes and the fragment reads need 16-byte aligned slots.
  GPU_SHARED(float4, smem4, [kStages * kStageFloats / 4]);
  float* smem = &smem4[0].x;

  const int tid = static_cast<int>(threadIdx.x);
  const int64_t m0 = static_cast<int64_t>(blockIdx.x) * kTileM;
  const int64_t n0 = static_cast<int64_t>(blockIdx.y) * kTileN;
  const int split = static_cast<int>(blockIdx.z);
  const int64_t c_begin = split * gemm.chunk;
  const int64_t c_end = c_begin + gemm.chunk < gemm.inner ? c_begin + gemm.chunk : gemm.inner;

  // The rows this thread copies keep their lines for the whole reduction. B takes A's copy width
  // where it is contiguous along the reduction too (the forward's wp: both runs are C_in long).
  constexpr int kVecB = OpB::kContiguous ? kVecA : 1;
  using CopiesA =
      std::conditional_t<kKMajor, TcCopiesKMajor<kTcTileM, OpA>, TcCopies<kTileM, kVecA, OpA>>;
  using CopiesB =
      std::conditional_t<kKMajor, TcCopiesKMajor<kTileN, OpB>, TcCopies<kTileN, kVecB, OpB>>;
  CopiesA copies_a(op_a, tid, m0, gemm.m_size);
  CopiesB copies_b(op_b, tid, n0, gemm.n_size);
  const int64_t slices = gemm.taps * ((c_end - c_begin + kSliceElems - 1) / kSliceElems);

  const int warp = tid / 32, lane = tid % 32, g = lane >> 2, t = lane & 3;
  const int warp_m = (warp / 2) * kTcWarpM, warp_n = (warp % 2) * kWarpN;
  // The rows this lane names in its ldmatrix calls (temporal_conv_tc_layout.h), within a stage:
  // A's first half slice (the second is bit 3 flipped) and B, for the first MMA tile of each.
  const int a_ld = tc_ldmatrix_a_slot(warp_m, lane, 0);
  const int b_ld = kTileM * kSlice + tc_ldmatrix_b_slot(warp_n, lane);
  tc::FragAcc acc[kTcMi][kNj];
  V3D_UNROLL
  for (int i = 0; i < kTcMi; ++i) V3D_UNROLL
  for (int j = 0; j < kNj; ++j) acc[i][j] = tc::FragAcc{{0.0f, 0.0f, 0.0f, 0.0f}};

  // The next slice to load, advanced without divisions: the run first, then taps. Past the last
  // slice a stage gets no copies, but its (empty) group is still committed, so that "all but the
  // kStages - 2 newest groups" always means "up to the slice about to be computed".
  int64_t next_tap = 0, next_c0 = c_begin, loaded = 0;
  auto load_next = [&](int stage) {
    if (loaded < slices) {
      if (next_c0 == c_begin) {  // a tap's first slice
        copies_a.begin_tap(op_a, next_tap);
        copies_b.begin_tap(op_b, next_tap);
      }
      float* a_tile = smem + stage * kStageFloats;
      copies_a.stage(op_a, next_tap, next_c0, c_end, a_tile);
      copies_b.stage(op_b, next_tap, next_c0, c_end, a_tile + kATileFloats);
      next_c0 += kSliceElems;
      if (next_c0 >= c_end) {
        next_c0 = c_begin;
        ++next_tap;
      }
      ++loaded;
    }
    tc::cp_async_commit();
  };
  V3D_UNROLL
  for (int s = 0; s < kStages - 1; ++s) load_next(s);
  int stage = 0, refill = kStages - 1;
  for (int64_t q = 0; q < slices; ++q) {
    tc::cp_async_wait<kStages - 2>();
    // Every thread's copies of slice q have landed, and every warp is done with slice q - 1,
    // whose stage the copies issued next overwrite.
    __syncthreads();
    load_next(refill);
    refill = refill == kStages - 1 ? 0 : refill + 1;
    const float* tile = smem + stage * kStageFloats;
    stage = stage == kStages - 1 ? 0 : stage + 1;
    // Four words per lane and call: A's quads w[0..3] = (g, e), (g+8, e), (g, e+4), (g+8, e+4)
    // for e = t (half 0) and 8 + t (half 1); B's = (g, t), (g, 4+t), (g, 8+t), (g, 12+t).
    uint32_t a_w[2][kTcMi][4], b_w[kNj][4];
    if constexpr (kKMajor32) {
      // The same words from float32 rows, one shared load each: lane (g, t) reads columns g and
      // g + 8 of rows t and t + 4 (+ 8 for half 1), each word its base plus a constant.
      const auto* a_row =
          reinterpret_cast<const uint32_t*>(tile) + tc_kmajor32_slot(t, warp_m + g, kTcTileM);
      const auto* b_row = reinterpret_cast<const uint32_t*>(tile) + kATileFloats +
                          tc_kmajor32_slot(t, warp_n + g, kTileN);
      constexpr int kPitchA = tc_kmajor32_pitch(kTcTileM), kPitchB = tc_kmajor32_pitch(kTileN);
      V3D_UNROLL
      for (int h = 0; h < 2; ++h) V3D_UNROLL
      for (int i = 0; i < kTcMi; ++i) V3D_UNROLL
      for (int v = 0; v < 4; ++v) {
        a_w[h][i][v] = a_row[(8 * h + 4 * (v / 2)) * kPitchA + 16 * i + 8 * (v % 2)];
      }
      V3D_UNROLL
      for (int j = 0; j < kNj; ++j) V3D_UNROLL
      for (int u = 0; u < 4; ++u) b_w[j][u] = b_row[4 * u * kPitchB + 8 * j];
    } else if constexpr (kKMajor) {
      // Transposed: the same registers from reduction-major rows (step h's A fragment, B's two
      // steps), at slots the swizzle gives per MMA tile.
      V3D_UNROLL
      for (int h = 0; h < 2; ++h) V3D_UNROLL
      for (int i = 0; i < kTcMi; ++i) {
        tc::ldmatrix_x4<true>(a_w[h][i], tile + tc_ldmatrix_trans_a_slot(warp_m + 16 * i, lane, h));
      }
      V3D_UNROLL
      for (int j = 0; j < kNj; ++j) {
        tc::ldmatrix_x4<true>(
            b_w[j], tile + kATileFloats + tc_ldmatrix_trans_b_slot(warp_n + 8 * j, lane, kTileN));
      }
    } else {
      V3D_UNROLL
      for (int i = 0; i < kTcMi; ++i) {
        tc::ldmatrix_x4(a_w[0][i], tile + a_ld + i * 16 * kSlice);
        tc::ldmatrix_x4(a_w[1][i], tile + (a_ld ^ 8) + i * 16 * kSlice);
      }
      V3D_UNROLL
      for (int j = 0; j < kNj; ++j) tc::ldmatrix_x4(b_w[j], tile + b_ld + j * 8 * kSlice);
    }
    if constexpr (kStaged16) {
      // BF16 words as staged: step h's A fragment is the call for half h (rows g, g + 8 at
      // elements 16h + 2t.. and 16h + 8 + 2t..), its B fragment words 2h and 2h + 1.
      tc::FragABf16 a[2][kTcMi];
      tc::FragBBf16 b[2][kNj];
      V3D_UNROLL
      for (int h = 0; h < 2; ++h) V3D_UNROLL
      for (int i = 0; i < kTcMi; ++i) V3D_UNROLL
      for (int v = 0; v < 4; ++v) a[h][i].x[v] = a_w[h][i][v];
      V3D_UNROLL
      for (int j = 0; j < kNj; ++j) {
        b[0][j].x[0] = b_w[j][0];
        b[0][j].x[1] = b_w[j][1];
        b[1][j].x[0] = b_w[j][2];
        b[1][j].x[1] = b_w[j][3];
      }
      V3D_UNROLL
      for (int step = 0; step < 2; ++step) V3D_UNROLL
      for (int i = 0; i < kTcMi; ++i) V3D_UNROLL
      for (int j = 0; j < kNj; ++j) tc::mma_bf16(acc[i][j], a[step][i], b[step][j]);
    } else if constexpr (kBf16) {
      static_assert(kSlice == 16, "one m16n8k16 step per slice");
      // Elements t, 4+t are k = 2t, 2t+1; 8+t, 12+t are k = 2t+8, 2t+9 (in A and B alike).
      tc::FragABf16 a[kTcMi];
      tc::FragBBf16 b[kNj];
      V3D_UNROLL
      for (int i = 0; i < kTcMi; ++i) {
        a[i].x[0] = tc::pack_bf16x2(tc::as_float(a_w[0][i][0]), tc::as_float(a_w[0][i][2]));
        a[i].x[1] = tc::pack_bf16x2(tc::as_float(a_w[0][i][1]), tc::as_float(a_w[0][i][3]));
        a[i].x[2] = tc::pack_bf16x2(tc::as_float(a_w[1][i][0]), tc::as_float(a_w[1][i][2]));
        a[i].x[3] = tc::pack_bf16x2(tc::as_float(a_w[1][i][1]), tc::as_float(a_w[1][i][3]));
      }
      V3D_UNROLL
      for (int j = 0; j < kNj; ++j) {
        b[j].x[0] = tc::pack_bf16x2(tc::as_float(b_w[j][0]), tc::as_float(b_w[j][1]));
        b[j].x[1] = tc::pack_bf16x2(tc::as_float(b_w[j][2]), tc::as_float(b_w[j][3]));
      }
      V3D_UNROLL
      for (int i = 0; i < kTcMi; ++i) V3D_UNROLL
      for (int j = 0; j < kNj; ++j) tc::mma_bf16(acc[i][j], a[i], b[j]);
    } else {
      // The words are already in the MMA's order: each is rounded in place.
      tc::FragATf32 a[2][kTcMi];
      tc::FragBTf32 b[2][kNj];
      V3D_UNROLL
      for (int h = 0; h < 2; ++h) V3D_UNROLL
      for (int i = 0; i < kTcMi; ++i) V3D_UNROLL
      for (int v = 0; v < 4; ++v) a[h][i].x[v] = tc::bits_to_tf32(a_w[h][i][v]);
      V3D_UNROLL
      for (int j = 0; j < kNj; ++j) {
        b[0][j].x[0] = tc::bits_to_tf32(b_w[j][0]);
        b[0][j].x[1] = tc::bits_to_tf32(b_w[j][1]);
        b[1][j].x[0] = tc::bits_to_tf32(b_w[j][2]);
        b[1][j].x[1] = tc::bits_to_tf32(b_w[j][3]);
      }
      V3D_UNROLL
      for (int step = 0; step < 2; ++step) V3D_UNROLL
      for (int i = 0; i < kTcMi; ++i) V3D_UNROLL
      for (int j = 0; j < kNj; ++j) tc::mma_tf32(acc[i][j], a[step][i], b[step][j]);
    }
  }
  tc::cp_async_wait<0>();  // the trailing empty groups

  V3D_UNROLL
  for (int i = 0; i < kTcMi; ++i) {
    V3D_UNROLL
    for (int j = 0; j < kNj; ++j) {
      const int64_t n = n0 + warp_n + j * 8 + 2 * t;
      V3D_UNROLL
      for (int h = 0; h < 2; ++h) {
        const int64_t m = m0 + warp_m + i * 16 + g + 8 * h;
        if (m >= gemm.m_size) continue;
        if (n < gemm.n_size) out.store(m, n, split, acc[i][j].x[2 * h]);
        if (n + 1 < gemm.n_size) out.store(m, n + 1, split, acc[i][j].x[2 * h + 1]);
      }
    }
  }
}

// Launches the GEMM over `splits` reduction splits in tiles of kTileN columns; vec4: A takes
// 16-byte copies.
template <int kTileN, class OpA, class OpB, class Store>
void launch_tc_tile(const char* op, bool bf16, const TcGemm& gemm, int64_t splits, bool vec4,
                    const OpA& a, const OpB& b, const Store& out, gpu::Stream stream) {
  const int64_t m_tiles = (gemm.m_size + kTileM - 1) / kTileM,
                n_tiles = (gemm.n_size + kTileN - 1) / kTileN;
  V3D_CHECK(m_tiles <= 0x7fffffff && n_tiles <= 65535 && splits <= 65535,
            op << " (tensor cores): " << gemm.m_size << " x " << gemm.n_size << " in " << splits
               << " splits exceeds the grid");
  const dim3 grid(static_cast<unsigned>(m_tiles), static_cast<unsigned>(n_tiles),
                  static_cast<unsigned>(splits));
  if constexpr (sizeof(typename OpA::Elem) == 2) {  // BF16 in memory: one form
    GPU_LAUNCH((conv_tc_kernel<4, true, kTileN, OpA, OpB, Store>), grid, kThreads, 0, stream, gemm,
               a, b, out);
  } else {
    if constexpr (OpA::kContiguous) {
      if (vec4 && bf16) {
        GPU_LAUNCH((conv_tc_kernel<4, true, kTileN, OpA, OpB, Store>), grid, kThreads, 0, stream,
                   gemm, a, b, out);
      } else if (vec4) {
        GPU_LAUNCH((conv_tc_kernel<4, false, kTileN, OpA, OpB, Store>), grid, kThreads, 0, stream,
                   gemm, a, b, out);
      }
    }
    if constexpr (!OpA::kContiguous || kTileN == kTcTileN) {
      if (!(OpA::kContiguous && vec4)) {
        if (bf16) {
          GPU_LAUNCH((conv_tc_kernel<1, true, kTileN, OpA, OpB, Store>), grid, kThreads, 0, stream,
                     gemm, a, b, out);
        } else {
          GPU_LAUNCH((conv_tc_kernel<1, false, kTileN, OpA, OpB, Store>), grid, kThreads, 0, stream,
                     gemm, a, b, out);
        }
      }
    }
  }
}

// Launches the GEMM of `pass` over `splits` reduction splits, in the tile the shape asks for
// (temporal_conv_tc_wide); vec4: A takes 16-byte copies; the size of w, whose offsets the policies
// keep in 32 bits, is checked here.
template <class OpA, class OpB, class Store>
void launch_tc(const char* op, const TemporalConvShape& s, TemporalConvPass pass,
               const TcGemm& gemm, int64_t splits, bool vec4, const OpA& a, const OpB& b,
               const Store& out, gpu::Stream stream) {
  V3D_CHECK(
      s.c_out * s.c_in * s.k < (int64_t{1} << 31),
      op << " (tensor cores): " << s.c_out * s.c_in * s.k << " weights exceed 32-bit offsets");
  const bool bf16 = s.math == ConvMath::kBf16;
  // Wide tiles with 4-byte copies of a contiguous A (channels not a multiple of 4) would spill
  // registers, and float32 reduction-major tiles with their padded rows would not fit the static
  // shared memory: those run narrow (and are not compiled wide; the launchers choose them only
  // where the tile is narrow).
  constexpr bool kNarrowOnly = TcKMajor<OpA>::value && sizeof(typename OpA::Elem) == 4;
  if constexpr (!kNarrowOnly) {
    if (temporal_conv_tc_wide(s, pass) && (vec4 || !OpA::kContiguous)) {
      launch_tc_tile<kTcWideTileN>(op, bf16, gemm, splits, vec4, a, b, out, stream);
      V3D_LAUNCH_CHECK(op, stream);
      return;
    }
  }
  launch_tc_tile<kTcTileN>(op, bf16, gemm, splits, vec4, a, b, out, stream);
  V3D_LAUNCH_CHECK(op, stream);
}

// 16-byte copies of an operand need runs that are whole float4s and an aligned base.
bool aligned4(const float* p, int64_t run) {
  return run % 4 == 0 && reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

// The whole run in one split, rounded up to whole slices.
int64_t whole(int64_t inner) { return (inner + kSlice - 1) / kSlice * kSlice; }

}  // namespace

namespace {

// The BF16-staged operands in the workspace (temporal_conv_tc_bf16_staged): the activation or
// gradient operand (n_act elements) first, then the weights, 16-byte aligned.
struct Staged16 {
  uint16_t* act;
  const uint16_t* w;
};
// BF16(in) into out (n elements, rounded as the fragments of float32 operands are), on `stream`.
void to_bf16(const float* in, int64_t n, uint16_t* out, gpu::Stream stream) {
  launch::to_bf16<V3D_GPU_KIND>(ConvertArgs{n}, in, out, stream);
}

Staged16 stage_bf16(const char* op, const TemporalConvShape& s, const float* act, int64_t n_act,
                    const float* w, bool co_inner, float* workspace, gpu::Stream stream) {
  V3D_CHECK(workspace != nullptr, op << " (tensor cores, BF16 in memory): needs a workspace");
  Staged16 st{reinterpret_cast<uint16_t*>(workspace), nullptr};
  to_bf16(act, n_act, st.act, stream);
  if (!co_inner && s.prepared_w != nullptr) {  // the forward's weights, prepared once
    st.w = static_cast<const uint16_t*>(s.prepared_w);
    return st;
  }
  uint16_t* const w16 = st.act + (n_act + 7) / 8 * 8;
  temporal_conv_permute_weights(s, WeightOrder::kPyTorch,
                                co_inner ? WeightOrder::kOutputInner : WeightOrder::kTapMajor, w,
                                w16, stream, op);
  st.w = w16;
  return st;
}

// The weights tap-major for the policies above: the prepared TF32 ones (the kernels round them
// again, which changes nothing), w itself when K = 1, else permuted into the workspace.
const float* tap_major(const char* op, const TemporalConvShape& s, const float* w, float* workspace,
                       gpu::Stream stream) {
  if (s.prepared_w != nullptr && s.math == ConvMath::kTf32)
    return static_cast<const float*>(s.prepared_w);
  if (s.k == 1) return w;
  V3D_CHECK(workspace != nullptr,
            op << " (tensor cores): the tap-major weights need a workspace of "
               << s.c_out * s.k * s.c_in << " floats");
  temporal_conv_permute_weights(s, WeightOrder::kPyTorch, WeightOrder::kTapMajor, w, workspace,
                                stream, "temporal_conv (tap-major weights for the tensor cores)");
  return workspace;
}

}  // namespace

namespace {

// The BF16-staged forward on x16 and the weights already BF16 and tap-major (w16).
void launch_fwd_staged(const TemporalConvShape& s, const uint16_t* x16, const uint16_t* w16,
                       float* y, gpu::Stream stream) {
  if (s.tile == ConvTile::kHopper &&
      temporal_conv_wgmma_fits(s, TemporalConvPass::kForward, x16, w16)) {
    temporal_conv_fwd_wgmma(s, x16, w16, y, stream);
    return;
  }
  const int64_t t_out = s.t_out();
  const TcGemm gemm{s.rows(), s.c_out, s.k, s.c_in, whole(s.c_in)};
  launch_tc("temporal_conv_fwd", s, TemporalConvPass::kForward, gemm, 1, true,
            FwdX<uint16_t>{x16, t_out, s.t_in, s.c_in, s.stride, s.dilation * s.c_in},
            FwdW<uint16_t>{w16, s.c_in, s.k}, conv_store::Forward{y, s, t_out}, stream);
}

// The BF16 operands given (x16 and the like) must be ones the staged kernels copy by 16 bytes.
void require_bf16_operand(const char* op, const TemporalConvShape& s, TemporalConvPass pass,
                          const uint16_t* p, const char* name) {
  V3D_CHECK(temporal_conv_tc_bf16_staged(s, pass),
            op << ": " << name
               << " in BF16 needs our BF16-staged kernels (BF16 arithmetic, the v3d backend and "
               << (pass == TemporalConvPass::kForward        ? "C_in"
                   : pass == TemporalConvPass::kBackwardData ? "C_out"
                                                             : "C_in and C_out")
               << " multiples of 8), got c_in=" << s.c_in << " c_out=" << s.c_out);
  V3D_CHECK(reinterpret_cast<uintptr_t>(p) % 16 == 0,
            op << ": " << name << " in BF16 must be 16-byte aligned for the kernels' copies");
}

// The forward and bwd_data given their BF16 operand (`name`): checks it, then converts the
// weights to BF16 into the workspace in the order the pass's staged kernel reads them (tap-major,
// or (K, C_in, C_out) for bwd_data).
const uint16_t* given_bf16_weights(const char* op, const TemporalConvShape& s,
                                   TemporalConvPass pass, const uint16_t* operand, const char* name,
                                   const float* w, float* workspace, gpu::Stream stream) {
  require_bf16_operand(op, s, pass, operand, name);
  if (pass == TemporalConvPass::kForward && s.prepared_w != nullptr)
    return static_cast<const uint16_t*>(s.prepared_w);
  V3D_CHECK(workspace != nullptr, op << ": the BF16 weights need a workspace");
  auto* w16 = reinterpret_cast<uint16_t*>(workspace);
  const WeightOrder order =
      pass == TemporalConvPass::kBackwardData ? WeightOrder::kOutputInner : WeightOrder::kTapMajor;
  temporal_conv_permute_weights(s, WeightOrder::kPyTorch, order, w, w16, stream, op);
  return w16;
}

}  // namespace

void temporal_conv_fwd_tc_bf16(const TemporalConvShape& s, const uint16_t* x16, const float* w,
                               float* y, float* workspace, gpu::Stream stream) {
  const uint16_t* w16 = given_bf16_weights("temporal_conv_bf16", s, TemporalConvPass::kForward, x16,
                                           "x", w, workspace, stream);
  launch_fwd_staged(s, x16, w16, y, stream);
}

void temporal_conv_fwd_tc(const TemporalConvShape& s, const float* x, const float* w, float* y,
                          float* workspace, gpu::Stream stream) {
  const int64_t t_out = s.t_out();
  const TcGemm gemm{s.rows(), s.c_out, s.k, s.c_in, whole(s.c_in)};
  constexpr TemporalConvPass kPass = TemporalConvPass::kForward;
  if (temporal_conv_tc_bf16_staged(s, kPass)) {
    const Staged16 st = stage_bf16("temporal_conv_fwd", s, x, s.batch * s.t_in * s.c_in, w, false,
                                   workspace, stream);
    launch_fwd_staged(s, st.act, st.w, y, stream);
    return;
  }
  // The Hopper tile reads the weights tap-major and rounded to TF32 (the workspace holds them,
  // also for K = 1), so that it rounds only x's copies in shared memory.
  // Prepared TF32 weights are that already.
  const bool tf32_prepared = s.prepared_w != nullptr && s.math == ConvMath::kTf32;
  const float* const hopper_w = tf32_prepared ? static_cast<const float*>(s.prepared_w) : workspace;
  if (s.tile == ConvTile::kHopper && hopper_w != nullptr &&
      temporal_conv_wgmma_fits(s, kPass, x, hopper_w)) {
    if (!tf32_prepared)
      temporal_conv_permute_weights(s, WeightOrder::kPyTorch, WeightOrder::kTapMajor, w,
                                    reinterpret_cast<uint32_t*>(workspace), stream,
                                    "temporal_conv (wgmma weights)");
    temporal_conv_fwd_wgmma(s, x, hopper_w, y, stream);
    return;
  }
  const float* wp = tap_major("temporal_conv_fwd", s, w, workspace, stream);
  // x and wp both take 16-byte copies or both 4-byte ones (their runs are C_in long).
  const bool vec4 = aligned4(x, s.c_in) && aligned4(wp, s.c_in);
  launch_tc("temporal_conv_fwd", s, kPass, gemm, 1, vec4,
            FwdX<float>{x, t_out, s.t_in, s.c_in, s.stride, s.dilation * s.c_in},
            FwdW<float>{wp, s.c_in, s.k}, conv_store::Forward{y, s, t_out}, stream);
}

namespace {

// bwd_data: with disjoint windows a GEMM over d_y's rows storing each d_X_col element into its
// d_x element (a_rows, b_rows), else the transposed convolution (a_shifted, b_taps).
template <class RowsA, class RowsB, class ShiftedA, class TapsB>
void launch_bwd_data(const TemporalConvShape& s, bool vec4, const RowsA& a_rows,
                     const RowsB& b_rows, const ShiftedA& a_shifted, const TapsB& b_taps,
                     float* d_x, gpu::Stream stream) {
  constexpr TemporalConvPass kPass = TemporalConvPass::kBackwardData;
  if (s.disjoint_windows()) {
    const TcGemm gemm{s.rows(), s.reduction(), 1, s.c_out, whole(s.c_out)};
    launch_tc("temporal_conv_bwd_data", s, kPass, gemm, 1, vec4, a_rows, b_rows,
              conv_store::IntoInputGrad{d_x, s, s.t_out()}, stream);
    temporal_conv_zero_unread_frames(s, d_x, stream);
    return;
  }
  V3D_CHECK(s.batch * s.t_in < (int64_t{1} << 31) && s.receptive_field() < (int64_t{1} << 31),
            "temporal_conv_bwd_data (tensor cores): " << s.batch << " x " << s.t_in
                                                      << " frames exceed 32-bit row indices");
  const TcGemm gemm{s.batch * s.t_in, s.c_in, s.k, s.c_out, whole(s.c_out)};
  launch_tc("temporal_conv_bwd_data", s, kPass, gemm, 1, vec4, a_shifted, b_taps,
            conv_store::RowMajor{d_x, s.c_in}, stream);
}

// The transposed convolution's A over d_y (float32 or BF16).
template <class T>
GradShifted<T> shifted(const TemporalConvShape& s, const T* d_y) {
  const auto u32 = [](int64_t v) { return static_cast<uint32_t>(v); };
  return GradShifted<T>{d_y, u32(s.t_in), u32(s.t_out()), u32(s.dilation), u32(s.stride), s.c_out};
}

// The BF16-staged bwd_data on dy16 and the weights already BF16 as (K, C_in, C_out) (w16).
void launch_bwd_data_staged(const TemporalConvShape& s, const uint16_t* dy16, const uint16_t* w16,
                            float* d_x, gpu::Stream stream) {
  if (s.tile == ConvTile::kHopper &&
      temporal_conv_wgmma_fits(s, TemporalConvPass::kBackwardData, dy16, w16)) {
    temporal_conv_bwd_data_wgmma(s, dy16, w16, d_x, stream);
    return;
  }
  launch_bwd_data(s, true, GradRows<uint16_t>{dy16, s.c_out}, GradRows<uint16_t>{w16, s.c_out},
                  shifted(s, dy16), WeightTapsT{w16, s.c_in, s.c_out}, d_x, stream);
}

}  // namespace

void temporal_conv_bwd_data_tc(const TemporalConvShape& s, const float* d_y, const float* w,
                               float* d_x, float* workspace, gpu::Stream stream) {
  if (temporal_conv_tc_bf16_staged(s, TemporalConvPass::kBackwardData)) {
    const Staged16 st = stage_bf16("temporal_conv_bwd_data", s, d_y, s.rows() * s.c_out, w, true,
                                   workspace, stream);
    launch_bwd_data_staged(s, st.act, st.w, d_x, stream);
    return;
  }
  // The Hopper tile reads the weights as (K, C_in, C_out), K-major for its B, rounded to TF32 (the
  // workspace holds them, temporal_conv_workspace_floats, also for K = 1).
  if (s.tile == ConvTile::kHopper && workspace != nullptr &&
      temporal_conv_wgmma_fits(s, TemporalConvPass::kBackwardData, d_y, workspace)) {
    temporal_conv_permute_weights(s, WeightOrder::kPyTorch, WeightOrder::kOutputInner, w,
                                  reinterpret_cast<uint32_t*>(workspace), stream,
                                  "temporal_conv_bwd_data (wgmma weights)");
    temporal_conv_bwd_data_wgmma(s, d_y, workspace, d_x, stream);
    return;
  }
  const float* wp = tap_major("temporal_conv_bwd_data", s, w, workspace, stream);
  launch_bwd_data(s, aligned4(d_y, s.c_out), GradRows<float>{d_y, s.c_out},
                  WeightByInput{wp, s.c_in, s.k}, shifted(s, d_y), WeightTaps{wp, s.c_in, s.k}, d_x,
                  stream);
}

void temporal_conv_bwd_data_tc_bf16(const TemporalConvShape& s, const uint16_t* dy16,
                                    const float* w, float* d_x, float* workspace,
                                    gpu::Stream stream) {
  const uint16_t* w16 =
      given_bf16_weights("temporal_conv_bwd_data_bf16", s, TemporalConvPass::kBackwardData, dy16,
                         "d_y", w, workspace, stream);
  launch_bwd_data_staged(s, dy16, w16, d_x, stream);
}

namespace {

// bwd_weight from x and d_y (float32), or from x16 and dy16 (both BF16, where
// temporal_conv_tc_bf16_staged).
void bwd_weight_tc(const TemporalConvShape& s, const float* x, const float* d_y,
                   const uint16_t* x16_given, const uint16_t* dy16_given, float* d_w,
                   float* workspace, gpu::Stream stream) {
  constexpr const char* kOp = "temporal_conv_bwd_weight";
  constexpr TemporalConvPass kPass = TemporalConvPass::kBackwardWeight;
  const int64_t t_out = s.t_out(), r = s.reduction();
  const TemporalConvSplit split = temporal_conv_weight_split(s);
  const TcGemm gemm{s.c_out, r, 1, s.rows(), split.chunk};
  V3D_CHECK(s.rows() < (int64_t{1} << 31),
            kOp << " (tensor cores): " << s.rows() << " rows exceed 32-bit indices");
  V3D_CHECK(split.splits == 1 || workspace != nullptr,
            kOp << ": the split reduction needs a workspace of "
                << temporal_conv_workspace_floats(s, kPass) << " floats");
  // Row indices, frame indices and row sizes in bytes in 32 bits (the reduction-major forms).
  const bool fits32 =
      s.batch * s.t_in < (int64_t{1} << 31) && 4 * std::max(s.c_in, s.c_out) < (int64_t{1} << 32);
  const auto u32 = [](int64_t v) { return static_cast<uint32_t>(v); };
  // The split's partial sums, summed in split order by the float32 launcher's kernel.
  const auto launch = [&](const auto& a, const auto& b) {
    if (split.splits == 1) {
      launch_tc(kOp, s, kPass, gemm, 1, false, a, b, conv_store::WeightGrad{d_w, s}, stream);
      return;
    }
    launch_tc(kOp, s, kPass, gemm, split.splits, false, a, b,
              conv_store::WeightPartial{workspace, s.c_out, r}, stream);
    temporal_conv_sum_splits(s, split.splits, workspace, d_w, stream);
  };
  if (temporal_conv_tc_bf16_staged(s, kPass)) {
    // BF16 copies of d_y and x after the partial sums (a multiple of 8 floats: C_out % 8 = 0),
    // unless given.
    V3D_CHECK(dy16_given != nullptr || workspace != nullptr,
              kOp << " (tensor cores, BF16 in memory): needs a workspace");
    V3D_CHECK(fits32, kOp << " (tensor cores, BF16 in memory): " << s.batch << " x " << s.t_in
                          << " frames of " << s.c_in << " -> " << s.c_out
                          << " channels exceed 32-bit row indices and row sizes");
    const uint16_t *dy16 = dy16_given, *x16 = x16_given;
    if (dy16 == nullptr) {  // the float32-input pass: BF16 copies after the partial sums
      const int64_t partials = split.splits > 1 ? split.splits * s.c_out * r : 0;
      const int64_t n_dy = s.rows() * s.c_out;
      auto* dy_copy = reinterpret_cast<uint16_t*>(workspace + partials);
      uint16_t* x_copy = dy_copy + (n_dy + 7) / 8 * 8;
      to_bf16(d_y, n_dy, dy_copy, stream);
      to_bf16(x, s.batch * s.t_in * s.c_in, x_copy, stream);
      dy16 = dy_copy, x16 = x_copy;
    }
    if (s.tile == ConvTile::kHopper && temporal_conv_wgmma_fits(s, kPass, dy16, x16)) {
      temporal_conv_bwd_weight_wgmma(s, x16, dy16, d_w, workspace, stream);
      return;
    }
    launch(GradT<uint16_t>{dy16, u32(s.c_out)},
           XT<uint16_t>{x16, FastDivmod(u32(t_out)), u32(s.t_in), u32(s.stride), u32(s.c_in),
                        s.dilation});
    return;
  }
  // The Hopper tile: d_y and x's windows transposed into the workspace, then wgmma.
  if (s.tile == ConvTile::kHopper && workspace != nullptr &&
      temporal_conv_wgmma_fits(s, kPass, d_y, x)) {
    temporal_conv_bwd_weight_wgmma(s, x, d_y, d_w, workspace, stream);
    return;
  }
  // Float32 reduction-major tiles where the channels' runs are whole 16-byte vectors and the tile
  // is narrow (their padded rows do not fit the wide one); else rows with 4-byte copies.
  if (!temporal_conv_tc_wide(s, kPass) && fits32 && aligned4(x, s.c_in) && aligned4(d_y, s.c_out)) {
    launch(GradT<float>{d_y, u32(s.c_out)}, XT<float>{x, FastDivmod(u32(t_out)), u32(s.t_in),
                                                      u32(s.stride), u32(s.c_in), s.dilation});
    return;
  }
  launch(GradCols{d_y, s.c_out},
         XCols{x, FastDivmod(u32(t_out)), s.t_in, s.c_in, s.stride, s.dilation});
}

}  // namespace

void temporal_conv_bwd_weight_tc(const TemporalConvShape& s, const float* x, const float* d_y,
                                 float* d_w, float* workspace, gpu::Stream stream) {
  bwd_weight_tc(s, x, d_y, nullptr, nullptr, d_w, workspace, stream);
}

void temporal_conv_bwd_weight_tc_bf16(const TemporalConvShape& s, const uint16_t* x16,
                                      const uint16_t* dy16, float* d_w, float* workspace,
                                      gpu::Stream stream) {
  constexpr const char* kOp = "temporal_conv_bwd_weight_bf16";
  require_bf16_operand(kOp, s, TemporalConvPass::kBackwardWeight, x16, "x");
  require_bf16_operand(kOp, s, TemporalConvPass::kBackwardWeight, dy16, "d_y");
  bwd_weight_tc(s, nullptr, nullptr, x16, dy16, d_w, workspace, stream);
}

}  // namespace v3d::kernels::V3D_GPU_NS
