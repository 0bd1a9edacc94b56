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
// k-step is the descriptor's start 32 bytes further). TF32 operands are rounded in place after they
// land (cvt.rn, as the other kernels round them when they read their fragments: the tensor cores
// would truncate), then fence.proxy.async and a barrier make the stage visible to the wgmma; each
// k-tile's four wgmma ops are waited for before the next barrier, which frees the stage the next
// copies overwrite. In the emulator each output sums its terms in the order and groups of the
// narrow and wide tiles (8 TF32 or 16 BF16 products per rounding), so the results are bitwise
// theirs; on a device the tensor cores' internal order may differ.
#include <cstdint>

#include "kernels/cuda/temporal_conv_tc.cuh"
#include "kernels/cuda/wgmma.cuh"
#include "kernels/gpu/check.h"
#include "kernels/gpu/compat.h"
#include "kernels/temporal_conv.h"

namespace v3d::kernels::V3D_GPU_NS {
namespace {

constexpr int kThreads = 256, kTile = 128, kRowBytes = 128, kStages = 3;
constexpr int kOperandBytes = kTile * kRowBytes;  // one operand's stage: 16 KiB
constexpr int kStageBytes = 2 * kOperandBytes;
// Three stages and the 1024-byte alignment of the swizzle atoms: 97 KiB, two blocks per SM.
constexpr int kSmemBytes = kStages * kStageBytes + 1024;

// How A's rows lie in memory (the table above): x's windows, d_y's rows, d_y's rows shifted by tap.
enum class RowsA { kWindows, kRows, kShifted };

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
};

template <bool kBf16, RowsA kA, class Store>
__global__ void __launch_bounds__(kThreads, 2) conv_wgmma_kernel(WgmmaGemm p, Store out) {
#if V3D_HAS_WGMMA
  namespace tc = kernels::V3D_GPU_NS::tc;
  constexpr int kCopies = kTile * (kRowBytes / 16) / kThreads;  // 16-byte copies per operand: 4
  GPU_DYNAMIC_SHARED(unsigned char, smem_raw);
  const uint32_t raw = tc::smem_address(smem_raw);
  const uint32_t pad = (1024 - raw % 1024) % 1024;
  unsigned char* smem = smem_raw + pad;
  const uint32_t smem_base = raw + pad;

  const unsigned tid = threadIdx.x;
  const int64_t m0 = static_cast<int64_t>(blockIdx.x) * kTile,
                n0 = static_cast<int64_t>(blockIdx.y) * kTile;
  // This thread's copies: chunk `chunk` of rows row0 + 32 i of both operands; in the stage at
  // row * 128 + (chunk ^ row % 8) * 16, and row % 8 = row0 % 8 for all of them. Rows past the
  // end copy nothing (0 source bytes) from the last row's line, so every address stays inside
  // the operand.
  const unsigned chunk = tid % 8, row0 = tid / 8;
  const uint32_t dst0 = row0 * kRowBytes + ((chunk ^ (row0 % 8)) * 16);
  const unsigned char* a_line[kCopies];  // kShifted: the line of the current tap, or p.a
  const unsigned char* b_line[kCopies];
  int a_bytes[kCopies], b_bytes[kCopies];
  int frame[kCopies];      // kShifted: the row's frame f (32-bit: the launcher checks)
  int64_t first[kCopies];  // kShifted: its sequence's first d_y row, b*T_out
  V3D_UNROLL
  for (int i = 0; i < kCopies; ++i) {
    const int64_t m = m0 + row0 + 32 * i, n = n0 + row0 + 32 * i;
    a_bytes[i] = m < p.m_size ? 16 : 0;
    b_bytes[i] = n < p.n_size ? 16 : 0;
    const int64_t mc = m < p.m_size ? m : p.m_size - 1, nc = n < p.n_size ? n : p.n_size - 1;
    if constexpr (kA == RowsA::kWindows) {
      const int64_t b = mc / p.t_out, t = mc - b * p.t_out;
      a_line[i] = p.a + ((b * p.t_in + t * p.stride) * p.a_row_bytes + chunk * 16);
    } else if constexpr (kA == RowsA::kRows) {
      a_line[i] = p.a + (mc * p.a_row_bytes + chunk * 16);
    } else {
      const int64_t b = mc / p.t_in;
      frame[i] = static_cast<int>(mc - b * p.t_in);
      first[i] = b * p.t_out;
    }
    b_line[i] = p.b + (nc * p.b_row_bytes + chunk * 16);
  }
  // kShifted: tap k's line of each copy, d_y row (b, f - k*d) where that is an output frame, or
  // nothing (0 bytes from p.a).
  int a_ok[kCopies];
  const auto begin_tap = [&](int tap) {
    if constexpr (kA == RowsA::kShifted) {
      V3D_UNROLL
      for (int i = 0; i < kCopies; ++i) {
        const int64_t src = frame[i] - static_cast<int64_t>(tap) * p.dilation;
        a_ok[i] = a_bytes[i] != 0 && src >= 0 && src < p.t_out;
        a_line[i] = a_ok[i] ? p.a + ((first[i] + src) * p.a_row_bytes + chunk * 16) : p.a;
      }
    }
  };
  // The next k-tile's byte offsets along A's and B's lines, its tap and its k-tile in the tap.
  int64_t a_off = 0, b_off = 0;
  int tap = 0, within = 0;
  begin_tap(0);
  const auto load = [&](int stage) {
    unsigned char* s = smem + stage * kStageBytes + dst0;
    V3D_UNROLL
    for (int i = 0; i < kCopies; ++i) {
      if constexpr (kA == RowsA::kShifted) {
        tc::cp_async<16>(s + i * 32 * kRowBytes, a_line[i] + (a_ok[i] ? a_off : 0),
                         a_ok[i] ? 16 : 0);
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
        begin_tap(++tap);
      } else {
        a_off += p.a_tap_bytes - run;
      }
    }
  };
  // TF32: this thread's landed chunks rounded in place (cvt.rn; the tensor cores ignore the low
  // 13 bits, which would truncate).
  const auto round_own = [&](int stage) {
    unsigned char* s = smem + stage * kStageBytes + dst0;
    V3D_UNROLL
    for (int i = 0; i < 2 * kCopies; ++i) {
      auto* q = reinterpret_cast<uint4*>(s + (i % kCopies) * 32 * kRowBytes +
                                         (i / kCopies) * kOperandBytes);
      uint4 v = *q;
      v.x = tc::bits_to_tf32(v.x);
      v.y = tc::bits_to_tf32(v.y);
      v.z = tc::bits_to_tf32(v.z);
      v.w = tc::bits_to_tf32(v.w);
      *q = v;
    }
  };

  float acc[kTile / 2];
  V3D_UNROLL
  for (int i = 0; i < kTile / 2; ++i) acc[i] = 0.0f;
  const unsigned wg = tid / 128;
  // Descriptors of stage 0's first k-step (8-row groups 1024 bytes apart; the leading offset is
  // unused by swizzled K-major operands); a stage and a k-step add their offsets / 16 to the start
  // address field (no carry: shared addresses stay below 256 KiB).
  const uint64_t desc_a0 =
      tc::wgmma_desc(smem_base + wg * 64 * kRowBytes, 16, 8 * kRowBytes, tc::WgmmaSwizzle::k128B);
  const uint64_t desc_b0 =
      tc::wgmma_desc(smem_base + kOperandBytes, 16, 8 * kRowBytes, tc::WgmmaSwizzle::k128B);
  load(0);
  tc::cp_async_commit();
  if (p.k_tiles > 1) load(1);
  tc::cp_async_commit();
  int stage = 0, next_stage = 2;  // k-tile kt's stage, and kt + 2's
  for (int kt = 0; kt < p.k_tiles; ++kt) {
    tc::cp_async_wait<1>();  // this thread's copies of k-tile kt have landed
    if constexpr (!kBf16) round_own(stage);
    tc::fence_proxy_async();
    // Every thread's copies of kt are visible to the wgmma; every wgmma of kt - 1 has completed
    // (each thread waited), so its stage takes the copies of kt + 2.
    __syncthreads();
    if (kt + 2 < p.k_tiles) load(next_stage);
    tc::cp_async_commit();
    const uint64_t stage_step = static_cast<uint64_t>(stage) * (kStageBytes / 16);
    tc::wgmma_fence(acc);
    V3D_UNROLL
    for (int kk = 0; kk < kRowBytes / 32; ++kk) {
      tc::wgmma<kBf16, kTile>(acc, desc_a0 + stage_step + 2 * kk, desc_b0 + stage_step + 2 * kk,
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
      if (n < p.n_size) out.store(m, n, 0, acc[4 * j + 2 * h]);
      if (n + 1 < p.n_size) out.store(m, n + 1, 0, acc[4 * j + 2 * h + 1]);
    }
  }
#else
  // Never launched: temporal_conv_wgmma_fits requires compute capability 9.0, whose code is sm_90a.
  __trap();
#endif
}

template <RowsA kA, class Store>
void launch(const char* op, bool bf16, const WgmmaGemm& p, const Store& out, gpu::Stream stream) {
  const int64_t m_tiles = (p.m_size + kTile - 1) / kTile, n_tiles = (p.n_size + kTile - 1) / kTile;
  V3D_CHECK(m_tiles <= 0x7fffffff && n_tiles <= 65535,
            op << " (wgmma): " << p.m_size << " x " << p.n_size << " exceeds the grid");
  const dim3 grid(static_cast<unsigned>(m_tiles), static_cast<unsigned>(n_tiles));
  if (bf16) {
    V3D_CUDA_CHECK(
        gpu::FuncSetMaxDynamicSharedMemory(conv_wgmma_kernel<true, kA, Store>, kSmemBytes));
    GPU_LAUNCH((conv_wgmma_kernel<true, kA, Store>), grid, kThreads, kSmemBytes, stream, p, out);
  } else {
    V3D_CUDA_CHECK(
        gpu::FuncSetMaxDynamicSharedMemory(conv_wgmma_kernel<false, kA, Store>, kSmemBytes));
    GPU_LAUNCH((conv_wgmma_kernel<false, kA, Store>), grid, kThreads, kSmemBytes, stream, p, out);
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
  launch<RowsA::kWindows>("temporal_conv_fwd", bf16, p, conv_store::Forward{y, s, p.t_out}, stream);
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
    launch<RowsA::kRows>("temporal_conv_bwd_data", bf16, p,
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
  launch<RowsA::kShifted>("temporal_conv_bwd_data", bf16, p, conv_store::RowMajor{d_x, s.c_in},
                          stream);
}

}  // namespace v3d::kernels::V3D_GPU_NS
