// The tensor-core forward temporal convolution (kernels/temporal_conv.h, math = kTf32 or kBf16):
// an implicit GEMM Y (B*T_out, C_out) = X_col (B*T_out, K*C_in) * W_perm^T with warp-level
// mma.sync (m16n8k8 TF32 or m16n8k16 BF16) and float32 accumulators, fed by a two-stage cp.async
// pipeline. No im2col matrix is built: the reduction runs over the taps k and, inside each tap,
// over slices of kSlice input channels; the A slice of a tap is the rows' frames t*s + k*d, a
// contiguous run of channels in x (B, T_in, C_in) for every form (strided, dilated, pointwise).
//
// Tiling: a block of 4 warps (2 x 2) computes a 64 x 64 tile of Y, each warp 32 x 32 as 2 x 4
// MMA tiles of 16 x 8 (32 accumulators per thread). Per slice the block stages A (64 rows x 16
// channels) and B (64 outputs x 16 channels) in shared memory, rows padded to 20 floats so that
// the fragment reads (8 rows x 4 columns per warp) hit 32 different banks. While the MMAs run on
// one stage, the cp.async copies of the next slice fill the other.
//   A: x[b, t*s + k*d, c0 .. c0+15]: 16-byte copies when C_in % 4 == 0 (kVec = 4), else 4-byte
//      ones; rows past B*T_out and channels past C_in are zero-filled (src_bytes = 0).
//   B: w[co, c0 .. c0+15, k], K floats apart: 4-byte copies (read once per block row of the grid
//      and shared through L1/L2).
// Both operands are rounded (TF32: cvt.rna; BF16: cvt.rn.bf16x2, packing two neighbours along the
// reduction) as the fragments are read, which is the rounding the contract and the reference use.
// Partial tiles (M, C_out, C_in not multiples of the tile) are zero-filled on load and
// bounds-checked on store.
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/temporal_conv_tc.cuh"
#include "kernels/gpu/check.h"
#include "kernels/gpu/compat.h"
#include "kernels/temporal_conv.h"

namespace v3d::kernels::V3D_GPU_NS {
namespace {

constexpr int kBlockM = 64, kBlockN = 64;                // output tile per block
constexpr int kSlice = 16;                               // input channels per reduction slice
constexpr int kLd = kSlice + 4;                          // padded row of a staged tile (floats)
constexpr int kThreads = 128;                            // 4 warps, 2 (rows) x 2 (outputs)
constexpr int kStages = 2;                               // the stage index flips with `^ 1`
constexpr int kStageFloats = (kBlockM + kBlockN) * kLd;  // A then B of one stage

static_assert(kLd % 4 == 0, "16-byte copies need rows of whole float4s");
static_assert((kBlockM * kSlice) % kThreads == 0 && (kBlockN * kSlice) % kThreads == 0,
              "every thread copies the same number of elements");

// x[b, t*s, 0] for output row m (b = m / T_out, t = m % T_out), or -1 past the last row.
__device__ int64_t row_base(const TemporalConvShape& s, int64_t t_out, int64_t m) {
  if (m >= s.batch * t_out) return -1;
  const int64_t b = m / t_out, t = m - b * t_out;
  return (b * s.t_in + t * s.stride) * s.c_in;
}

// kVec: floats per A copy (4 or 1); kBf16: BF16 operands (else TF32).
template <int kVec, bool kBf16>
__global__ void __launch_bounds__(kThreads, 4)
    conv_fwd_tc_kernel(TemporalConvShape s, int64_t t_out, const float* __restrict__ x,
                       const float* __restrict__ w, float* __restrict__ y) {
  // float4: cp.async of 16 bytes needs 16-byte aligned destinations.
  GPU_SHARED(float4, smem4, [kStages * kStageFloats / 4]);
  float* smem = &smem4[0].x;

  constexpr int kVecsPerRow = kSlice / kVec;
  constexpr int kACopies = kBlockM * kVecsPerRow / kThreads;  // A copies per thread and slice
  constexpr int kBCopies = kBlockN * kSlice / kThreads;       // B copies per thread and slice
  const int tid = static_cast<int>(threadIdx.x);
  const int64_t m0 = static_cast<int64_t>(blockIdx.x) * kBlockM;
  const int64_t n0 = static_cast<int64_t>(blockIdx.y) * kBlockN;

  // The rows this thread copies keep their x offsets for the whole reduction.
  int64_t a_base[kACopies];
  V3D_UNROLL
  for (int i = 0; i < kACopies; ++i) {
    a_base[i] = row_base(s, t_out, m0 + (tid + i * kThreads) / kVecsPerRow);
  }
  // The weights this thread copies: w[co, col, 0] as a 32-bit offset (the launcher checks that w
  // fits), or -1 past the last output.
  int b_base[kBCopies];
  V3D_UNROLL
  for (int i = 0; i < kBCopies; ++i) {
    const int e = tid + i * kThreads;
    const int64_t co = n0 + e / kSlice;
    b_base[i] = co < s.c_out ? static_cast<int>((co * s.c_in + e % kSlice) * s.k) : -1;
  }
  const int64_t chunks = (s.c_in + kSlice - 1) / kSlice, slices = s.k * chunks;
  const int64_t tap_stride = s.dilation * s.c_in;

  // Issues the copies of the reduction slice (tap, channels from c0) into `stage`.
  auto load_slice = [&](int64_t tap, int64_t c0, int stage) {
    float* a_tile = smem + stage * kStageFloats;
    float* b_tile = a_tile + kBlockM * kLd;
    V3D_UNROLL
    for (int i = 0; i < kACopies; ++i) {
      const int v = tid + i * kThreads, row = v / kVecsPerRow, col = (v % kVecsPerRow) * kVec;
      const int64_t ci = c0 + col;
      // A vector lies wholly inside or outside [0, C_in): C_in % kVec == 0.
      const bool in = a_base[i] >= 0 && ci < s.c_in;
      const float* src = in ? x + a_base[i] + tap * tap_stride + ci : x;
      tc::cp_async<4 * kVec>(a_tile + row * kLd + col, src, in ? 4 * kVec : 0);
    }
    const int b_slice = static_cast<int>(c0 * s.k + tap);
    V3D_UNROLL
    for (int i = 0; i < kBCopies; ++i) {
      const int e = tid + i * kThreads, n = e / kSlice, col = e % kSlice;
      const bool in = b_base[i] >= 0 && c0 + col < s.c_in;
      const float* src = in ? w + b_base[i] + b_slice : w;
      tc::cp_async<4>(b_tile + n * kLd + col, src, in ? 4 : 0);
    }
  };

  const int warp = tid / 32, lane = tid % 32, g = lane >> 2, t = lane & 3;
  const int warp_m = (warp / 2) * 32, warp_n = (warp % 2) * 32;
  tc::FragAcc acc[2][4];
  V3D_UNROLL
  for (int i = 0; i < 2; ++i) V3D_UNROLL
  for (int j = 0; j < 4; ++j) acc[i][j] = tc::FragAcc{{0.0f, 0.0f, 0.0f, 0.0f}};

  // The next slice to load, advanced without divisions: channels first, then taps.
  int64_t next_tap = 0, next_c0 = 0;
  auto load_next = [&](int stage) {
    load_slice(next_tap, next_c0, stage);
    next_c0 += kSlice;
    if (next_c0 >= s.c_in) {
      next_c0 = 0;
      ++next_tap;
    }
  };
  load_next(0);
  tc::cp_async_commit();
  for (int64_t q = 0; q < slices; ++q) {
    const int stage = static_cast<int>(q & (kStages - 1));
    if (q + 1 < slices) load_next(stage ^ 1);
    tc::cp_async_commit();  // possibly empty: keeps "all but the newest group" = slice q
    tc::cp_async_wait<1>();
    __syncthreads();  // every thread's copies of slice q have landed
    const float* a_tile = smem + stage * kStageFloats;
    const float* b_tile = a_tile + kBlockM * kLd;
    if constexpr (kBf16) {
      static_assert(kSlice == 16, "one m16n8k16 step per slice");
      tc::FragABf16 a[2];
      tc::FragBBf16 b[4];
      V3D_UNROLL
      for (int i = 0; i < 2; ++i) {
        const float* r0 = a_tile + (warp_m + i * 16 + g) * kLd + 2 * t;
        a[i].x[0] = tc::pack_bf16x2(r0[0], r0[1]);
        a[i].x[1] = tc::pack_bf16x2(r0[8 * kLd], r0[8 * kLd + 1]);
        a[i].x[2] = tc::pack_bf16x2(r0[8], r0[9]);
        a[i].x[3] = tc::pack_bf16x2(r0[8 * kLd + 8], r0[8 * kLd + 9]);
      }
      V3D_UNROLL
      for (int j = 0; j < 4; ++j) {
        const float* c0 = b_tile + (warp_n + j * 8 + g) * kLd + 2 * t;
        b[j].x[0] = tc::pack_bf16x2(c0[0], c0[1]);
        b[j].x[1] = tc::pack_bf16x2(c0[8], c0[9]);
      }
      V3D_UNROLL
      for (int i = 0; i < 2; ++i) V3D_UNROLL
      for (int j = 0; j < 4; ++j) tc::mma_bf16(acc[i][j], a[i], b[j]);
    } else {
      V3D_UNROLL
      for (int kk = 0; kk < kSlice; kk += 8) {
        tc::FragATf32 a[2];
        tc::FragBTf32 b[4];
        V3D_UNROLL
        for (int i = 0; i < 2; ++i) {
          const float* r0 = a_tile + (warp_m + i * 16 + g) * kLd + kk + t;
          a[i].x[0] = tc::to_tf32(r0[0]);
          a[i].x[1] = tc::to_tf32(r0[8 * kLd]);
          a[i].x[2] = tc::to_tf32(r0[4]);
          a[i].x[3] = tc::to_tf32(r0[8 * kLd + 4]);
        }
        V3D_UNROLL
        for (int j = 0; j < 4; ++j) {
          const float* c0 = b_tile + (warp_n + j * 8 + g) * kLd + kk + t;
          b[j].x[0] = tc::to_tf32(c0[0]);
          b[j].x[1] = tc::to_tf32(c0[4]);
        }
        V3D_UNROLL
        for (int i = 0; i < 2; ++i) V3D_UNROLL
        for (int j = 0; j < 4; ++j) tc::mma_tf32(acc[i][j], a[i], b[j]);
      }
    }
    __syncthreads();  // the stage is refilled by the copies issued in the next iteration
  }
  tc::cp_async_wait<0>();  // the last, empty group

  const int64_t m_size = s.batch * t_out;
  V3D_UNROLL
  for (int i = 0; i < 2; ++i) {
    V3D_UNROLL
    for (int j = 0; j < 4; ++j) {
      const int64_t col = n0 + warp_n + j * 8 + 2 * t;
      V3D_UNROLL
      for (int h = 0; h < 2; ++h) {
        const int64_t m = m0 + warp_m + i * 16 + g + 8 * h;
        if (m >= m_size) continue;
        if (col < s.c_out)
          y[m * s.c_out + col] = s.epilogue.apply(acc[i][j].x[2 * h], m, col, t_out, s.c_out);
        if (col + 1 < s.c_out)
          y[m * s.c_out + col + 1] =
              s.epilogue.apply(acc[i][j].x[2 * h + 1], m, col + 1, t_out, s.c_out);
      }
    }
  }
}

}  // namespace

void temporal_conv_fwd_tc(const TemporalConvShape& s, const float* x, const float* w, float* y,
                          gpu::Stream stream) {
  const int64_t t_out = s.t_out(), rows = s.rows();
  const int64_t m_tiles = (rows + kBlockM - 1) / kBlockM,
                n_tiles = (s.c_out + kBlockN - 1) / kBlockN;
  V3D_CHECK(
      m_tiles <= 0x7fffffff && n_tiles <= 65535,
      "temporal_conv_fwd (tensor cores): " << rows << " x " << s.c_out << " exceeds the grid");
  V3D_CHECK(s.c_out * s.c_in * s.k < (int64_t{1} << 31),
            "temporal_conv_fwd (tensor cores): " << s.c_out << " x " << s.c_in << " x " << s.k
                                                 << " weights exceed 32-bit offsets");
  const dim3 grid(static_cast<unsigned>(m_tiles), static_cast<unsigned>(n_tiles));
  // 16-byte copies of x need C_in % 4 == 0 (every row start then stays 16-byte aligned) and an
  // aligned base.
  const bool vec4 = s.c_in % 4 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0;
  const bool bf16 = s.math == ConvMath::kBf16;
  if (vec4 && bf16) {
    GPU_LAUNCH((conv_fwd_tc_kernel<4, true>), grid, kThreads, 0, stream, s, t_out, x, w, y);
  } else if (vec4) {
    GPU_LAUNCH((conv_fwd_tc_kernel<4, false>), grid, kThreads, 0, stream, s, t_out, x, w, y);
  } else if (bf16) {
    GPU_LAUNCH((conv_fwd_tc_kernel<1, true>), grid, kThreads, 0, stream, s, t_out, x, w, y);
  } else {
    GPU_LAUNCH((conv_fwd_tc_kernel<1, false>), grid, kThreads, 0, stream, s, t_out, x, w, y);
  }
  V3D_LAUNCH_CHECK("temporal_conv_fwd (tensor cores)", stream);
}

}  // namespace v3d::kernels::V3D_GPU_NS
