// The forward temporal convolution on Hopper's warpgroup MMA (kernels/cuda/wgmma.cuh), the tile
// ConvTile::kHopper: the implicit GEMM y (B*T_out, C_out) = sum over (k, ci) of x[b, t*s + k*d, ci]
// wp[co, k, ci] (wp: the weights tap-major, as the other tensor-core kernels read them), in TF32 on
// float32 operands or BF16 on the BF16-staged ones (temporal_conv_tc_bf16_staged).
//
// A block of two warpgroups (256 threads) computes 128 x 128 outputs, each warpgroup 64 x 128 with
// wgmma m64n128 (k8 TF32 / k16 BF16) from shared memory. The reduction runs in k-tiles of 128 bytes
// of every row (32 TF32 or 64 BF16 elements, within one tap: C_in a multiple of them), staged by
// 16-byte cp.async in three stages: A (x windows) and B (wp rows), 128 rows of 128 bytes each, in
// the 128-byte swizzle of the wgmma descriptors (16-byte chunk c of row r at chunk c ^ (r % 8),
// 1024-byte atoms; a wgmma's k-step is the descriptor's start 32 bytes further). TF32 operands are
// rounded in place after they land (cvt.rn, as the other kernels round them when they read their
// fragments: the tensor cores would truncate), then fence.proxy.async and a barrier make the stage
// visible to the wgmma; each k-tile's four wgmma ops are waited for before the next barrier, which
// frees the stage the next copies overwrite. In the emulator each output sums its terms in the
// order and groups of the narrow and wide tiles (8 TF32 or 16 BF16 products per rounding), so the
// results are bitwise theirs; on a device the tensor cores' internal order may differ.
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

struct WgmmaFwd {
  const unsigned char* x;  // x (B, T_in, C_in), float32 or BF16
  const unsigned char* w;  // wp (C_out, K*C_in), the same type
  int64_t m_size, n_size;  // B*T_out, C_out
  int64_t t_out, t_in, c_in, stride;
  int64_t tap_bytes;  // dilation*C_in elements, in bytes
  int64_t row_bytes;  // a row of wp: K*C_in elements, in bytes
  int k_tiles, tiles_per_tap;
};

template <bool kBf16>
__global__ void __launch_bounds__(kThreads, 2)
    conv_wgmma_fwd_kernel(WgmmaFwd p, conv_store::Forward out) {
#if V3D_HAS_WGMMA
  namespace tc = kernels::V3D_GPU_NS::tc;
  constexpr int kElemBytes = kBf16 ? 2 : 4;
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
  const unsigned char* a_line[kCopies];
  const unsigned char* b_line[kCopies];
  int a_bytes[kCopies], b_bytes[kCopies];
  V3D_UNROLL
  for (int i = 0; i < kCopies; ++i) {
    const int64_t m = m0 + row0 + 32 * i, n = n0 + row0 + 32 * i;
    a_bytes[i] = m < p.m_size ? 16 : 0;
    b_bytes[i] = n < p.n_size ? 16 : 0;
    const int64_t mc = m < p.m_size ? m : p.m_size - 1, nc = n < p.n_size ? n : p.n_size - 1;
    const int64_t b = mc / p.t_out, t = mc - b * p.t_out;
    a_line[i] = p.x + ((b * p.t_in + t * p.stride) * p.c_in * kElemBytes + chunk * 16);
    b_line[i] = p.w + (nc * p.row_bytes + chunk * 16);
  }
  // The next k-tile's byte offsets in x's window and in wp's row, and its k-tile within the tap.
  int64_t a_off = 0, b_off = 0;
  int within = 0;
  const auto load = [&](int stage) {
    unsigned char* s = smem + stage * kStageBytes + dst0;
    V3D_UNROLL
    for (int i = 0; i < kCopies; ++i) {
      tc::cp_async<16>(s + i * 32 * kRowBytes, a_line[i] + a_off, a_bytes[i]);
      tc::cp_async<16>(s + kOperandBytes + i * 32 * kRowBytes, b_line[i] + b_off, b_bytes[i]);
    }
    b_off += kRowBytes;
    a_off += kRowBytes;
    if (++within == p.tiles_per_tap) {  // the next tap's window: dilation frames further
      within = 0;
      a_off += p.tap_bytes - static_cast<int64_t>(p.tiles_per_tap) * kRowBytes;
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

}  // namespace

bool temporal_conv_wgmma_fits(const TemporalConvShape& s, const void* x, const void* wp) {
  if (!temporal_conv_wgmma_shape(s)) return false;
  if (reinterpret_cast<uintptr_t>(x) % 16 != 0 || reinterpret_cast<uintptr_t>(wp) % 16 != 0) {
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
  const int64_t elem = bf16 ? 2 : 4, per_tile = kRowBytes / elem;
  const int64_t t_out = s.t_out();
  const WgmmaFwd p{static_cast<const unsigned char*>(x),
                   static_cast<const unsigned char*>(wp),
                   s.rows(),
                   s.c_out,
                   t_out,
                   s.t_in,
                   s.c_in,
                   s.stride,
                   s.dilation * s.c_in * elem,
                   s.reduction() * elem,
                   static_cast<int>(s.reduction() / per_tile),
                   static_cast<int>(s.c_in / per_tile)};
  const int64_t m_tiles = (p.m_size + kTile - 1) / kTile, n_tiles = (p.n_size + kTile - 1) / kTile;
  V3D_CHECK(m_tiles <= 0x7fffffff && n_tiles <= 65535 && s.reduction() / per_tile < (1 << 30),
            "temporal_conv_fwd (wgmma): " << p.m_size << " x " << p.n_size << " exceeds the grid");
  const dim3 grid(static_cast<unsigned>(m_tiles), static_cast<unsigned>(n_tiles));
  const conv_store::Forward out{y, s, t_out};
  if (bf16) {
    V3D_CUDA_CHECK(gpu::FuncSetMaxDynamicSharedMemory(conv_wgmma_fwd_kernel<true>, kSmemBytes));
    GPU_LAUNCH(conv_wgmma_fwd_kernel<true>, grid, kThreads, kSmemBytes, stream, p, out);
  } else {
    V3D_CUDA_CHECK(gpu::FuncSetMaxDynamicSharedMemory(conv_wgmma_fwd_kernel<false>, kSmemBytes));
    GPU_LAUNCH(conv_wgmma_fwd_kernel<false>, grid, kThreads, kSmemBytes, stream, p, out);
  }
  V3D_LAUNCH_CHECK("temporal_conv_fwd (wgmma)", stream);
}

}  // namespace v3d::kernels::V3D_GPU_NS
