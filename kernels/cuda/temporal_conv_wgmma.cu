// The temporal convolution's forward and bwd_data on Hopper's warpgroup MMA (kernels/cuda/
// wgmma.cuh), the tile ConvTile::kHopper, as implicit GEMMs C (M, N) = sum over the reduction
// (taps x runs of channels) of A(m, r) B(n, r), both operands K-major (contiguous along the
// reduction), in TF32 on float32 operands or BF16 on the BF16-staged ones
// (temporal_conv_tc_bf16_staged):
// clang-format off
//
//   pass                      M         N         taps  run     A (m, (k, c))              B (n, (k, c))
//   fwd                       B*T_out   C_out     K     C_in    x[b, t*s + k*d, c]         wp[co, k, c]   (tap-major)
//   bwd_data, disjoint        B*T_out   K*C_in    1     C_out   d_y[m, c]                  wt[n, c]       (K, C_in, C_out)
//   bwd_data, overlapping     B*T_in    C_in      K     C_out   d_y[b, f - k*d, c] or 0    wt[k, ci, c]
//
// and bwd_weight, whose operands are MN-major (contiguous along M and N): in BF16 the wgmma
// transposes them; TF32 cannot, so a transpose kernel first writes d_y^T and x's windows
// transposed, rounded to TF32, into the workspace, and the GEMM reads those K-major:
//
//   bwd_weight                C_out     K*C_in    1     B*T_out d_y[row, co]               x[b, t*s + k*d, ci]
// clang-format on
//
// (the overlapping bwd_data: stride 1, the dilated inference form; d_x row (b, f) gathers its taps,
// zero where f - k*d is no output frame, so no col2im; the disjoint form stores d_X_col into d_x
// and the launcher zeroes the unread frames.)
//
// A block of two warpgroups (256 threads) computes 128 x 128 outputs, each warpgroup 64 x 128 with
// wgmma m64n128 (k8 TF32 / k16 BF16) from shared memory. The reduction runs in k-tiles of 128 bytes
// of every row (32 TF32 or 64 BF16 elements, within one tap: the run a multiple of them), staged by
// 16-byte cp.async in three stages: A and B, 128 rows of 128 bytes each, in the 128-byte swizzle of
// the wgmma descriptors (16-byte chunk c of row r at chunk c ^ (r % 8), 1024-byte atoms; a wgmma's
// k-step is the descriptor's start 32 bytes further). In TF32, A's copies are rounded in place
// after they land (cvt.rn, as the other kernels round them when they read their fragments: the
// tensor cores would truncate), B's (the weights) when the launcher permutes them into the
// workspace; then fence.proxy.async and a barrier make the stage visible to the wgmma; each
// k-tile's four wgmma ops are waited for before the next barrier, which frees the stage the next
// copies overwrite. bwd_weight splits the reduction over blockIdx.z as the other tiles split it;
// its TF32 k-tiles are 128 bytes of the transposed rows from the split's first row (not rounded
// again), its BF16 k-tiles 64 rows of the reduction, each 128 bytes of a run of 64 columns (the
// MN-major form; WeightTiles). In the emulator each output sums its terms in the order and groups
// of the narrow and wide tiles (8 TF32 or 16 BF16 products per rounding), so the results are
// bitwise theirs; on a device the tensor cores' internal order may differ.
#include <cstdint>

#include "kernels/cuda/temporal_conv_tc.cuh"
#include "kernels/cuda/wgmma.cuh"
#include "kernels/fast_divmod.h"
#include "kernels/gpu/check.h"
#include "kernels/gpu/compat.h"
#include "kernels/temporal_conv.h"

namespace v3d::kernels::V3D_GPU_NS {
namespace {

namespace tc = kernels::V3D_GPU_NS::tc;

constexpr int kThreads = 256, kTile = 128, kRowBytes = 128, kStages = 3;
constexpr int kOperandBytes = kTile * kRowBytes;  // one operand's stage: 16 KiB
constexpr int kStageBytes = 2 * kOperandBytes;
// Three stages and the 1024-byte alignment of the swizzle atoms: 97 KiB, two blocks per SM.
constexpr int kSmemBytes = kStages * kStageBytes + 1024;
constexpr int kCopies = kOperandBytes / 16 / kThreads;  // 16-byte copies per operand and thread: 4

}  // namespace

// The staging policies of conv_wgmma_kernel, outside the anonymous namespace: the device passes
// for architectures without wgmma compile the kernel's body away, which would leave them unused.
namespace wgmma_tiles {

// How A's rows lie in memory (the table above): x's windows, d_y's rows, d_y's rows shifted by tap;
// or (kSplitRows, TF32 bwd_weight) A's and B's rows as they are, split along the reduction.
enum class RowsA { kWindows, kRows, kShifted, kSplitRows };

struct WgmmaGemm {
  const unsigned char* a;  // x or d_y, float32 or BF16
  const unsigned char* b;  // wp or wt, the same type
  int64_t m_size, n_size;
  int64_t a_row_bytes;  // one frame of A's tensor: C_in (x) or C_out (d_y) elements
  int64_t b_row_bytes;  // one row of B: K*C_in (wp) or C_out (wt) elements
  int64_t a_tap_bytes;  // the next tap's offset in A's rows (kWindows: d*C_in elements)
  int64_t b_tap_bytes;  // ... in B's rows (wp: C_in; overlapping wt: C_in*C_out elements)
  int64_t t_out, t_in, stride, dilation;
  int k_tiles, tiles_per_tap;
  int64_t split_bytes, row_end_bytes;  // kSplitRows: a split's bytes of each row, a row's bytes
};

// The K-major operands of the forward and bwd_data (and of the TF32 bwd_weight's transposed
// copies): a k-tile is 128 bytes of each of the tile's 128 rows of A and of B, within one tap (or
// one split: chunks at or past its end copy nothing). This thread copies chunk `chunk` of rows
// row0 + 32 i of both operands; in the stage at row * 128 + (chunk ^ row % 8) * 16, and row % 8 =
// row0 % 8 for all of them. Rows past the end copy nothing (0 source bytes) from the last row's
// line, so every address stays inside the operand.
template <RowsA kA>
struct KMajorTiles {
  using Params = WgmmaGemm;
  static constexpr bool kTrans = false;
  // TF32: A rounded in place after it lands (B, and the transposed copies, are rounded already).
  static constexpr bool kRound = kA != RowsA::kSplitRows;
  // The arithmetic it runs in (kSplitRows: the TF32 bwd_weight; BF16 reads its operands MN-major).
  static constexpr bool kTf32 = true, kBf16 = kA != RowsA::kSplitRows;
  static constexpr uint64_t kStep = 32 / 16;  // a k-step: the descriptors' start 32 bytes further
  // Stage 0's first k-step (8-row groups 1024 bytes apart; the leading offset is unused by
  // swizzled K-major operands); warpgroup wg's A is rows 64 wg .. 64 wg + 63.
  static __device__ uint64_t desc_a(uint32_t base, unsigned wg) {
    return tc::wgmma_desc(base + wg * 64 * kRowBytes, 16, 8 * kRowBytes, tc::WgmmaSwizzle::k128B);
  }
  static __device__ uint64_t desc_b(uint32_t base) {
    return tc::wgmma_desc(base + kOperandBytes, 16, 8 * kRowBytes, tc::WgmmaSwizzle::k128B);
  }

  unsigned chunk;
  uint32_t dst0;
  const unsigned char* a_line[kCopies];  // kShifted: the line of the current tap, or p.a
  const unsigned char* b_line[kCopies];
  int a_bytes[kCopies], b_bytes[kCopies];
  int frame[kCopies];      // kShifted: the row's frame f (32-bit: the launcher checks)
  int64_t first[kCopies];  // kShifted: its sequence's first d_y row, b*T_out
  int a_ok[kCopies];       // kShifted: the current tap's d_y row exists
  // The next k-tile's byte offsets along A's and B's lines, its tap and its k-tile in the tap.
  int64_t a_off = 0, b_off = 0;
  int tap = 0, within = 0;
  int64_t end = 0;  // kSplitRows: the split's end along the lines, in bytes
  int tiles = 0;    // kSplitRows: its k-tiles

  __device__ KMajorTiles(const WgmmaGemm& p, unsigned tid, int64_t m0, int64_t n0, int z) {
    chunk = tid % 8;
    const unsigned row0 = tid / 8;
    dst0 = row0 * kRowBytes + ((chunk ^ (row0 % 8)) * 16);
    V3D_UNROLL
    for (int i = 0; i < kCopies; ++i) {
      const int64_t m = m0 + row0 + 32 * i, n = n0 + row0 + 32 * i;
      a_bytes[i] = m < p.m_size ? 16 : 0;
      b_bytes[i] = n < p.n_size ? 16 : 0;
      const int64_t mc = m < p.m_size ? m : p.m_size - 1, nc = n < p.n_size ? n : p.n_size - 1;
      if constexpr (kA == RowsA::kWindows) {
        const int64_t b = mc / p.t_out, t = mc - b * p.t_out;
        a_line[i] = p.a + ((b * p.t_in + t * p.stride) * p.a_row_bytes + chunk * 16);
      } else if constexpr (kA == RowsA::kRows || kA == RowsA::kSplitRows) {
        a_line[i] = p.a + (mc * p.a_row_bytes + chunk * 16);
      } else {
        const int64_t b = mc / p.t_in;
        frame[i] = static_cast<int>(mc - b * p.t_in);
        first[i] = b * p.t_out;
      }
      b_line[i] = p.b + (nc * p.b_row_bytes + chunk * 16);
    }
    begin_tap(p, 0);
    if constexpr (kA == RowsA::kSplitRows) {
      a_off = b_off = z * p.split_bytes;
      end = a_off + p.split_bytes < p.row_end_bytes ? a_off + p.split_bytes : p.row_end_bytes;
      tiles = static_cast<int>((end - a_off + kRowBytes - 1) / kRowBytes);
    }
  }
  __device__ int k_tiles(const WgmmaGemm& p) const {
    if constexpr (kA == RowsA::kSplitRows) return tiles;
    return p.k_tiles;
  }

  // kShifted: tap k's line of each copy, d_y row (b, f - k*d) where that is an output frame, or
  // nothing (0 bytes from p.a).
  __device__ void begin_tap(const WgmmaGemm& p, int k) {
    if constexpr (kA == RowsA::kShifted) {
      V3D_UNROLL
      for (int i = 0; i < kCopies; ++i) {
        const int64_t src = frame[i] - static_cast<int64_t>(k) * p.dilation;
        a_ok[i] = a_bytes[i] != 0 && src >= 0 && src < p.t_out;
        a_line[i] = a_ok[i] ? p.a + ((first[i] + src) * p.a_row_bytes + chunk * 16) : p.a;
      }
    }
  }

  // The next k-tile's copies into `stage`.
  __device__ void load(const WgmmaGemm& p, unsigned char* stage) {
    unsigned char* s = stage + dst0;
    V3D_UNROLL
    for (int i = 0; i < kCopies; ++i) {
      if constexpr (kA == RowsA::kShifted) {
        tc::cp_async<16>(s + i * 32 * kRowBytes, a_line[i] + (a_ok[i] ? a_off : 0),
                         a_ok[i] ? 16 : 0);
      } else if constexpr (kA == RowsA::kSplitRows) {
        const bool in_split = a_off + chunk * 16 < end;  // b_off = a_off
        tc::cp_async<16>(s + i * 32 * kRowBytes, a_line[i] + (in_split ? a_off : 0),
                         in_split ? a_bytes[i] : 0);
        tc::cp_async<16>(s + kOperandBytes + i * 32 * kRowBytes, b_line[i] + (in_split ? b_off : 0),
                         in_split ? b_bytes[i] : 0);
        continue;
      } else {
        tc::cp_async<16>(s + i * 32 * kRowBytes, a_line[i] + a_off, a_bytes[i]);
      }
      tc::cp_async<16>(s + kOperandBytes + i * 32 * kRowBytes, b_line[i] + b_off, b_bytes[i]);
    }
    a_off += kRowBytes;
    b_off += kRowBytes;
    if (++within == p.tiles_per_tap) {  // the next tap
      within = 0;
      const int64_t run = static_cast<int64_t>(p.tiles_per_tap) * kRowBytes;
      b_off += p.b_tap_bytes - run;
      if constexpr (kA == RowsA::kShifted) {
        a_off = 0;
        begin_tap(p, ++tap);
      } else {
        a_off += p.a_tap_bytes - run;
      }
    }
  }

  // TF32: this thread's landed chunks of A in `stage` rounded in place (cvt.rn; the tensor cores
  // ignore the low 13 bits, which would truncate). B, the weights, the launchers round when they
  // permute them.
  __device__ void round(unsigned char* stage) const {
    unsigned char* s = stage + dst0;
    V3D_UNROLL
    for (int i = 0; i < kCopies; ++i) {
      auto* q = reinterpret_cast<uint4*>(s + i * 32 * kRowBytes);
      uint4 v = *q;
      v.x = tc::bits_to_tf32(v.x);
      v.y = tc::bits_to_tf32(v.y);
      v.z = tc::bits_to_tf32(v.z);
      v.w = tc::bits_to_tf32(v.w);
      *q = v;
    }
  }
};

// bwd_weight's GEMM (BF16): d_W_perm (C_out, K*C_in) = sum over the rows of A(co, row) =
// d_y[row, co] and B((k, ci), row) = x[b, t*s + k*d, ci] (row = b*T_out + t), split over
// blockIdx.z into chunks of rows (temporal_conv_weight_split).
struct WgmmaWeightGemm {
  const unsigned char* dy;  // (B*T_out, C_out) BF16
  const unsigned char* x;   // (B, T_in, C_in) BF16
  int64_t m_size, n_size;   // C_out, K*C_in
  int64_t c_out, c_in, t_in, stride, dilation;
  uint32_t rows, chunk;  // B*T_out (< 2^31: the launcher checks), rows per split
  FastDivmod t_out;      // row -> (b, t)
  // 64 rows further: t grows by step_t (64 % T_out) and x's frame offset by step_bytes, and where
  // t passes T_out, t wraps and the offset moves wrap_bytes more (to the next sequence).
  uint32_t step_t;
  int64_t step_bytes, wrap_bytes;
};

// bwd_weight's operands MN-major (contiguous along C_out and C_in, not along the reduction): a
// k-tile is 64 rows of the reduction, each 256 bytes of A's columns and of B's, staged as two runs
// of 64 columns (8 KiB apart) of 64 rows of 128 bytes in the 128-byte swizzle: the canonical
// MN-major form with the runs the leading offset apart and 8-row groups 1024 bytes (the stride
// offset); a k-step is 16 rows, 2048 bytes. This thread copies chunk `chunk` of run `run` of rows
// row0 + 16 i; rows past the split's end and columns past the operand copy nothing. Each copy's
// row (b, t) is divided out once, then moved 64 rows per k-tile by additions.
struct WeightTiles {
  using Params = WgmmaWeightGemm;
  static constexpr bool kTrans = true, kRound = false, kTf32 = false, kBf16 = true;
  static constexpr int kRunBytes = 64 * kRowBytes;
  static constexpr uint64_t kStep = 16 * kRowBytes / 16;
  static __device__ uint64_t desc_a(uint32_t base, unsigned wg) {  // wg's 64 columns: run wg
    return tc::wgmma_desc(base + wg * kRunBytes, kRunBytes, 8 * kRowBytes, tc::WgmmaSwizzle::k128B);
  }
  static __device__ uint64_t desc_b(uint32_t base) {
    return tc::wgmma_desc(base + kOperandBytes, kRunBytes, 8 * kRowBytes, tc::WgmmaSwizzle::k128B);
  }

  uint32_t dst0, row0;
  const unsigned char* a_col;  // d_y's column chunk in row 0
  const unsigned char* b_col;  // x's column chunk (tap k's frame offset) in frame 0
  bool a_live, b_live;
  uint32_t next, end;  // the next k-tile's first row, the split's end
  int tiles;
  int64_t a_off;           // copy 0's row of d_y, in bytes
  uint32_t t[kCopies];     // each copy's frame t within its sequence
  int64_t x_off[kCopies];  // and its frame's offset in x, in bytes

  __device__ WeightTiles(const WgmmaWeightGemm& p, unsigned tid, int64_t m0, int64_t n0, int z) {
    const unsigned chunk = tid % 8, run = (tid / 8) % 2;
    row0 = tid / 16;
    dst0 = run * kRunBytes + row0 * kRowBytes + ((chunk ^ (row0 % 8)) * 16);
    const int64_t co = m0 + run * 64 + chunk * 8, n = n0 + run * 64 + chunk * 8;
    a_live = co < p.m_size;
    b_live = n < p.n_size;
    a_col = p.dy + (a_live ? co : 0) * 2;
    const int64_t tap = n / p.c_in, ci = n - tap * p.c_in;
    b_col = p.x + (b_live ? tap * p.dilation * p.c_in + ci : 0) * 2;
    next = static_cast<uint32_t>(z) * p.chunk;
    end = p.rows - next < p.chunk ? p.rows : next + p.chunk;
    tiles = static_cast<int>((end - next + 63) / 64);
    a_off = static_cast<int64_t>(next + row0) * p.c_out * 2;
    V3D_UNROLL
    for (int i = 0; i < kCopies; ++i) {
      const uint32_t r = next + row0 + 16 * i;  // < 2^31 (the launcher checks rows + 64)
      const uint32_t b = p.t_out.div(r);
      t[i] = p.t_out.mod(r, b);
      x_off[i] =
          (static_cast<int64_t>(b) * p.t_in + static_cast<int64_t>(t[i]) * p.stride) * p.c_in * 2;
    }
  }
  __device__ int k_tiles(const WgmmaWeightGemm&) const { return tiles; }

  __device__ void load(const WgmmaWeightGemm& p, unsigned char* stage) {
    unsigned char* s = stage + dst0;
    V3D_UNROLL
    for (int i = 0; i < kCopies; ++i) {
      const bool ok = next + row0 + 16 * i < end;
      const bool a_ok = ok && a_live, b_ok = ok && b_live;
      const unsigned char* a_src = a_ok ? a_col + a_off + i * 16 * p.c_out * 2 : p.dy;
      const unsigned char* b_src = b_ok ? b_col + x_off[i] : p.x;
      tc::cp_async<16>(s + i * 16 * kRowBytes, a_src, a_ok ? 16 : 0);
      tc::cp_async<16>(s + kOperandBytes + i * 16 * kRowBytes, b_src, b_ok ? 16 : 0);
      t[i] += p.step_t;
      x_off[i] += p.step_bytes;
      if (t[i] >= p.t_out.divisor) {
        t[i] -= p.t_out.divisor;
        x_off[i] += p.wrap_bytes;
      }
    }
    next += 64;
    a_off += 64 * p.c_out * 2;
  }
};

}  // namespace wgmma_tiles

namespace {

using wgmma_tiles::KMajorTiles;
using wgmma_tiles::RowsA;
using wgmma_tiles::WeightTiles;
using wgmma_tiles::WgmmaGemm;
using wgmma_tiles::WgmmaWeightGemm;

template <bool kBf16, class Tiles, class Store>
__global__ void __launch_bounds__(kThreads, 2)
    conv_wgmma_kernel(typename Tiles::Params p, Store out) {
#if V3D_HAS_WGMMA
  GPU_DYNAMIC_SHARED(unsigned char, smem_raw);
  const uint32_t raw = tc::smem_address(smem_raw);
  const uint32_t pad = (1024 - raw % 1024) % 1024;
  unsigned char* smem = smem_raw + pad;
  const uint32_t smem_base = raw + pad;

  const unsigned tid = threadIdx.x;
  const int64_t m0 = static_cast<int64_t>(blockIdx.x) * kTile,
                n0 = static_cast<int64_t>(blockIdx.y) * kTile;
  const int z = static_cast<int>(blockIdx.z);
  Tiles tiles(p, tid, m0, n0, z);
  const int k_tiles = tiles.k_tiles(p);

  float acc[kTile / 2];
  V3D_UNROLL
  for (int i = 0; i < kTile / 2; ++i) acc[i] = 0.0f;
  const unsigned wg = tid / 128;
  // Descriptors of stage 0's first k-step; a stage and a k-step add their offsets / 16 to the
  // start address field (no carry: shared addresses stay below 256 KiB).
  const uint64_t desc_a0 = Tiles::desc_a(smem_base, wg), desc_b0 = Tiles::desc_b(smem_base);
  tiles.load(p, smem);
  tc::cp_async_commit();
  if (k_tiles > 1) tiles.load(p, smem + kStageBytes);
  tc::cp_async_commit();
  constexpr int kKSteps = 4;      // wgmma k-steps per k-tile: 128 bytes of K-major rows, or 64 rows
  int stage = 0, next_stage = 2;  // k-tile kt's stage, and kt + 2's
  for (int kt = 0; kt < k_tiles; ++kt) {
    tc::cp_async_wait<1>();  // this thread's copies of k-tile kt have landed
    if constexpr (!kBf16 && Tiles::kRound) tiles.round(smem + stage * kStageBytes);
    tc::fence_proxy_async();
    // Every thread's copies of kt are visible to the wgmma; every wgmma of kt - 1 has completed
    // (each thread waited), so its stage takes the copies of kt + 2.
    __syncthreads();
    if (kt + 2 < k_tiles) tiles.load(p, smem + next_stage * kStageBytes);
    tc::cp_async_commit();
    const uint64_t stage_step = static_cast<uint64_t>(stage) * (kStageBytes / 16);
    tc::wgmma_fence(acc);
    V3D_UNROLL
    for (int kk = 0; kk < kKSteps; ++kk) {
      tc::wgmma<kBf16, kTile, Tiles::kTrans, Tiles::kTrans>(
          acc, desc_a0 + stage_step + kk * Tiles::kStep, desc_b0 + stage_step + kk * Tiles::kStep,
          true);
    }
    tc::wgmma_commit();
    tc::wgmma_wait<0>(acc);
    stage = stage == kStages - 1 ? 0 : stage + 1;
    next_stage = next_stage == kStages - 1 ? 0 : next_stage + 1;
  }
  tc::cp_async_wait<0>();  // the trailing empty groups

  const unsigned lane = tid % 32, g = lane >> 2, t = lane & 3u;
  const int64_t row = m0 + wg * 64 + ((tid / 32) % 4) * 16 + g;
  V3D_UNROLL
  for (int j = 0; j < kTile / 8; ++j) {
    const int64_t n = n0 + 8 * j + 2 * t;
    V3D_UNROLL
    for (int h = 0; h < 2; ++h) {
      const int64_t m = row + 8 * h;
      if (m >= p.m_size) continue;
      if (n < p.n_size) out.store(m, n, z, acc[4 * j + 2 * h]);
      if (n + 1 < p.n_size) out.store(m, n + 1, z, acc[4 * j + 2 * h + 1]);
    }
  }
#else
  // Never launched: temporal_conv_wgmma_fits requires compute capability 9.0, whose code is sm_90a.
  __trap();
#endif
}

template <class Tiles, class Store>
void launch(const char* op, bool bf16, const typename Tiles::Params& p, const Store& out,
            gpu::Stream stream, int64_t splits = 1) {
  const int64_t m_tiles = (p.m_size + kTile - 1) / kTile, n_tiles = (p.n_size + kTile - 1) / kTile;
  V3D_CHECK(m_tiles <= 0x7fffffff && n_tiles <= 65535 && splits <= 65535,
            op << " (wgmma): " << p.m_size << " x " << p.n_size << " exceeds the grid");
  const dim3 grid(static_cast<unsigned>(m_tiles), static_cast<unsigned>(n_tiles),
                  static_cast<unsigned>(splits));
  V3D_CHECK(bf16 ? Tiles::kBf16 : Tiles::kTf32,
            op << " (wgmma): no " << (bf16 ? "BF16" : "TF32") << " kernel for these operands");
  if constexpr (Tiles::kBf16) {
    if (bf16) {
      V3D_CUDA_CHECK(
          gpu::FuncSetMaxDynamicSharedMemory(conv_wgmma_kernel<true, Tiles, Store>, kSmemBytes));
      GPU_LAUNCH((conv_wgmma_kernel<true, Tiles, Store>), grid, kThreads, kSmemBytes, stream, p,
                 out);
    }
  }
  if constexpr (Tiles::kTf32) {
    if (!bf16) {
      V3D_CUDA_CHECK(
          gpu::FuncSetMaxDynamicSharedMemory(conv_wgmma_kernel<false, Tiles, Store>, kSmemBytes));
      GPU_LAUNCH((conv_wgmma_kernel<false, Tiles, Store>), grid, kThreads, kSmemBytes, stream, p,
                 out);
    }
  }
  V3D_LAUNCH_CHECK(op, stream);
}

}  // namespace

bool temporal_conv_wgmma_fits(const TemporalConvShape& s, TemporalConvPass pass, const void* act,
                              const void* w) {
  if (!temporal_conv_wgmma_shape(s, pass)) return false;
  if (reinterpret_cast<uintptr_t>(act) % 16 != 0 || reinterpret_cast<uintptr_t>(w) % 16 != 0) {
    return false;
  }
  int device = 0, major = 0, minor = 0;
  return gpu::GetDevice(&device) == gpu::kSuccess &&
         gpu::DeviceComputeCapability(device, &major, &minor) == gpu::kSuccess && major == 9 &&
         minor == 0;
}

void temporal_conv_fwd_wgmma(const TemporalConvShape& s, const void* x, const void* wp, float* y,
                             gpu::Stream stream) {
  const bool bf16 = s.math == ConvMath::kBf16;
  const int64_t e = bf16 ? 2 : 4, per_tile = kRowBytes / e;
  WgmmaGemm p{};
  p.a = static_cast<const unsigned char*>(x);
  p.b = static_cast<const unsigned char*>(wp);
  p.m_size = s.rows();
  p.n_size = s.c_out;
  p.a_row_bytes = s.c_in * e;
  p.b_row_bytes = s.reduction() * e;
  p.a_tap_bytes = s.dilation * s.c_in * e;
  p.b_tap_bytes = s.c_in * e;
  p.t_out = s.t_out();
  p.t_in = s.t_in;
  p.stride = s.stride;
  p.dilation = s.dilation;
  p.k_tiles = static_cast<int>(s.reduction() / per_tile);
  p.tiles_per_tap = static_cast<int>(s.c_in / per_tile);
  launch<KMajorTiles<RowsA::kWindows>>("temporal_conv_fwd", bf16, p,
                                       conv_store::Forward{y, s, p.t_out}, stream);
}

void temporal_conv_bwd_data_wgmma(const TemporalConvShape& s, const void* d_y, const void* wt,
                                  float* d_x, gpu::Stream stream) {
  const bool bf16 = s.math == ConvMath::kBf16;
  const int64_t e = bf16 ? 2 : 4, per_tile = kRowBytes / e;
  WgmmaGemm p{};
  p.a = static_cast<const unsigned char*>(d_y);
  p.b = static_cast<const unsigned char*>(wt);
  p.a_row_bytes = s.c_out * e;
  p.b_row_bytes = s.c_out * e;
  p.t_out = s.t_out();
  p.t_in = s.t_in;
  p.stride = s.stride;
  p.dilation = s.dilation;
  p.tiles_per_tap = static_cast<int>(s.c_out / per_tile);
  if (s.disjoint_windows()) {
    p.m_size = s.rows();
    p.n_size = s.reduction();
    p.k_tiles = p.tiles_per_tap;
    launch<KMajorTiles<RowsA::kRows>>("temporal_conv_bwd_data", bf16, p,
                                      conv_store::IntoInputGrad{d_x, s, p.t_out}, stream);
    temporal_conv_zero_unread_frames(s, d_x, stream);
    return;
  }
  V3D_CHECK(s.batch * s.t_in < (int64_t{1} << 31),
            "temporal_conv_bwd_data (wgmma): " << s.batch << " x " << s.t_in
                                               << " frames exceed 32-bit frame indices");
  p.m_size = s.batch * s.t_in;
  p.n_size = s.c_in;
  p.b_tap_bytes = s.c_in * s.c_out * e;
  p.k_tiles = static_cast<int>(s.k) * p.tiles_per_tap;
  launch<KMajorTiles<RowsA::kShifted>>("temporal_conv_bwd_data", bf16, p,
                                       conv_store::RowMajor{d_x, s.c_in}, stream);
}

namespace {

// The TF32 bwd_weight's operands transposed, (columns, rows_pad) = a (rows, columns) view of d_y or
// of x's windows, rounded to TF32 (cvt.rn, as the other tiles round their fragments), rows past
// `rows` zero: 32 x 32 tiles through shared memory, read along the columns and written along the
// rows.
struct DyView {  // d_y (B*T_out, C_out)
  const float* p;
  int64_t c_out;
  __device__ float at(uint32_t row, int64_t col) const { return p[row * c_out + col]; }
};
struct WindowsView {  // x's windows: row b*T_out + t, column k*C_in + ci
  const float* p;
  FastDivmod t_out;
  int64_t t_in, c_in, stride, dilation;
  __device__ float at(uint32_t row, int64_t col) const {
    const uint32_t b = t_out.div(row), t = t_out.mod(row, b);
    const int64_t tap = col / c_in, ci = col - tap * c_in;
    return p[(b * t_in + t * stride + tap * dilation) * c_in + ci];
  }
};

template <class View>
__global__ void __launch_bounds__(256)
    transpose_tf32_kernel(View in, float* out, int64_t cols, uint32_t rows, uint32_t rows_pad) {
  GPU_SHARED(float, tile, [32][33]);
  const uint32_t r0 = blockIdx.x * 32;
  const int64_t c0 = static_cast<int64_t>(blockIdx.y) * 32;
  for (unsigned j = threadIdx.y; j < 32; j += 8) {
    const uint32_t r = r0 + j;
    const int64_t c = c0 + threadIdx.x;
    tile[j][threadIdx.x] = r < rows && c < cols ? in.at(r, c) : 0.0f;
  }
  __syncthreads();
  for (unsigned j = threadIdx.y; j < 32; j += 8) {
    const int64_t c = c0 + j;
    const uint32_t r = r0 + threadIdx.x;
    if (c < cols && r < rows_pad) {
      out[c * rows_pad + r] = tc::as_float(tc::to_tf32(tile[threadIdx.x][j]));
    }
  }
}

template <class View>
void transpose_tf32(const View& in, float* out, int64_t cols, int64_t rows, int64_t rows_pad,
                    gpu::Stream stream) {
  const int64_t col_tiles = (cols + 31) / 32;
  V3D_CHECK(col_tiles <= 65535,
            "temporal_conv_bwd_weight (wgmma): " << cols << " columns exceed the grid");
  const dim3 grid(static_cast<unsigned>((rows_pad + 31) / 32), static_cast<unsigned>(col_tiles));
  GPU_LAUNCH((transpose_tf32_kernel<View>), grid, dim3(32, 8), 0, stream, in, out, cols,
             static_cast<uint32_t>(rows), static_cast<uint32_t>(rows_pad));
  V3D_LAUNCH_CHECK("temporal_conv_bwd_weight (wgmma transpose)", stream);
}

// The TF32 bwd_weight: d_y and x's windows transposed into the workspace (K-major along the
// reduction, rounded), then a K-major GEMM over each split's run of the rows.
void bwd_weight_tf32(const TemporalConvShape& s, const float* x, const float* d_y, float* d_w,
                     float* workspace, gpu::Stream stream) {
  constexpr const char* kOp = "temporal_conv_bwd_weight";
  const TemporalConvWgmmaWeightLayout l = temporal_conv_wgmma_weight_layout(s);
  V3D_CHECK(workspace != nullptr,
            kOp << " (wgmma): needs a workspace of " << l.floats << " floats");
  const TemporalConvSplit split = temporal_conv_weight_split(s);
  const int64_t t_out = s.t_out(), r = s.reduction();
  float* dy_t = workspace + l.dy_offset;
  float* x_t = workspace + l.x_offset;
  transpose_tf32(DyView{d_y, s.c_out}, dy_t, s.c_out, s.rows(), l.rows_pad, stream);
  transpose_tf32(WindowsView{x, FastDivmod(static_cast<uint32_t>(t_out)), s.t_in, s.c_in, s.stride,
                             s.dilation},
                 x_t, r, s.rows(), l.rows_pad, stream);
  WgmmaGemm p{};
  p.a = reinterpret_cast<const unsigned char*>(dy_t);
  p.b = reinterpret_cast<const unsigned char*>(x_t);
  p.m_size = s.c_out;
  p.n_size = r;
  p.a_row_bytes = p.b_row_bytes = l.rows_pad * 4;
  p.tiles_per_tap = 0x7fffffff;  // one run: the split's rows
  p.split_bytes = split.chunk * 4;
  p.row_end_bytes = l.rows_pad * 4;
  if (split.splits == 1) {
    launch<KMajorTiles<RowsA::kSplitRows>>(kOp, false, p, conv_store::WeightGrad{d_w, s}, stream);
    return;
  }
  launch<KMajorTiles<RowsA::kSplitRows>>(
      kOp, false, p, conv_store::WeightPartial{workspace, s.c_out, r}, stream, split.splits);
  temporal_conv_sum_splits(s, split.splits, workspace, d_w, stream);
}

}  // namespace

void temporal_conv_bwd_weight_wgmma(const TemporalConvShape& s, const void* x, const void* d_y,
                                    float* d_w, float* workspace, gpu::Stream stream) {
  constexpr const char* kOp = "temporal_conv_bwd_weight";
  V3D_CHECK(
      s.rows() + 64 < (int64_t{1} << 31) && s.batch * s.t_in < (int64_t{1} << 31),
      kOp << " (wgmma): " << s.batch << " x " << s.t_in << " frames exceed 32-bit row indices");
  if (s.math != ConvMath::kBf16) {
    bwd_weight_tf32(s, static_cast<const float*>(x), static_cast<const float*>(d_y), d_w, workspace,
                    stream);
    return;
  }
  const TemporalConvSplit split = temporal_conv_weight_split(s);
  WgmmaWeightGemm p{};
  p.dy = static_cast<const unsigned char*>(d_y);
  p.x = static_cast<const unsigned char*>(x);
  p.m_size = s.c_out;
  p.n_size = s.reduction();
  p.c_out = s.c_out;
  p.c_in = s.c_in;
  p.t_in = s.t_in;
  p.stride = s.stride;
  p.dilation = s.dilation;
  p.rows = static_cast<uint32_t>(s.rows());
  p.chunk = static_cast<uint32_t>(split.chunk);
  p.t_out = FastDivmod(static_cast<uint32_t>(s.t_out()));
  p.step_t = static_cast<uint32_t>(64 % s.t_out());
  p.step_bytes = ((64 / s.t_out()) * s.t_in + p.step_t * s.stride) * s.c_in * 2;
  p.wrap_bytes = (s.t_in - s.t_out() * s.stride) * s.c_in * 2;
  if (split.splits == 1) {
    launch<WeightTiles>(kOp, true, p, conv_store::WeightGrad{d_w, s}, stream);
    return;
  }
  V3D_CHECK(workspace != nullptr, kOp << " (wgmma): the split reduction needs a workspace of "
                                      << split.splits * s.c_out * s.reduction() << " floats");
  launch<WeightTiles>(kOp, true, p, conv_store::WeightPartial{workspace, s.c_out, s.reduction()},
                      stream, split.splits);
  temporal_conv_sum_splits(s, split.splits, workspace, d_w, stream);
}

}  // namespace v3d::kernels::V3D_GPU_NS
