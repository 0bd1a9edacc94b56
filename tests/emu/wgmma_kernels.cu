// Self-test kernels of the warpgroup MMA wrappers (kernels/cuda/wgmma.cuh): one wgmma of a 64 x N
// tile staged in each descriptor layout, on the emulator and, on a compute capability 9.0 device,
// the hardware (which checks the emulator's reading of the descriptors and fragments), and misuse
// the emulator must report.
#include <cstdint>
#include <vector>

#include "kernels/cuda/wgmma.cuh"
#include "kernels/gpu/check.h"
#include "kernels/gpu/compat.h"
#include "tests/emu/device_buffer.h"
#include "tests/emu/emutest_kernels.h"

namespace v3d::emutest::V3D_GPU_NS {
namespace {

namespace tc = kernels::V3D_GPU_NS::tc;

// The misuse variants exist in the emulated copy only: in the device copy their branches would make
// ptxas serialize the wgmma (divergent paths around it), and no device test runs them.
#if defined(CUEMU)
constexpr bool kMisuse = true;
#else
constexpr bool kMisuse = false;
#endif

// Bytes of each staged operand's region (A first, then B), 1024-byte aligned.
constexpr uint32_t kRegion = 16384;

// Where byte kb (0..31) of row r of an operand lies from its region's start, written from the
// layouts' definitions independently of the emulator's formula: without swizzle, 8 x 16-byte core
// matrices, the k halves `lbo` apart and the 8-row groups `sbo` apart; swizzled, rows of 128 / 64 /
// 32 bytes (k-steps at 32-byte offsets `kk` within the row), whose 16-byte chunk c is stored at
// c ^ (the row's phase: r % 8, r / 2 % 4, r / 4 % 2), 8-row groups `sbo` apart.
__device__ uint32_t staged_offset(const WgmmaLayout& l, uint32_t lbo, uint32_t sbo, uint32_t r,
                                  uint32_t kb) {
  if (l.mode == 0) return (r / 8) * sbo + (kb / 16) * lbo + (r % 8) * 16 + kb % 16;
  const uint32_t width = l.mode == 1 ? 128 : l.mode == 2 ? 64 : 32;
  const uint32_t phase = l.mode == 1 ? r % 8 : l.mode == 2 ? (r / 2) % 4 : (r / 4) % 2;
  const uint32_t col = static_cast<uint32_t>(l.kk) * 32 + kb;
  return (r / 8) * sbo + (r % 8) * width + ((col / 16) ^ phase) * 16 + col % 16;
}

// Where the 16-bit element (mn, k) of an MN-major operand lies from its region's start (k counts
// from the first k-step's: 16 kk + 0..15), from the canonical MN-major layouts: without swizzle,
// core matrices of 8 k rows of 16 bytes (8 elements along MN), 8-element groups `sbo` and 8-k
// groups `lbo` apart; swizzled, a row of 128 / 64 / 32 bytes along MN per k, 8 rows an atom, the
// next run of MN `lbo` and the next 8 k `sbo` apart, chunks swizzled by the row's phase.
__device__ uint32_t staged_mn_offset(const WgmmaLayout& l, uint32_t lbo, uint32_t sbo, uint32_t mn,
                                     uint32_t k) {
  if (l.mode == 0) return (mn / 8) * sbo + (k / 8) * lbo + (k % 8) * 16 + (mn % 8) * 2;
  const uint32_t width = l.mode == 1 ? 128 : l.mode == 2 ? 64 : 32, row = k % 8;
  const uint32_t phase = l.mode == 1 ? row : l.mode == 2 ? (row / 2) % 4 : (row / 4) % 2;
  const uint32_t col = (mn * 2) % width;
  return (mn * 2 / width) * lbo + (k / 8) * sbo + row * width + ((col / 16) ^ phase) * 16 +
         col % 16;
}

// Stages `rows` rows of 8 words (16 BF16 or 8 TF32 elements) into region t, K-major or MN-major.
__device__ void stage(unsigned char* t, const uint32_t* src, unsigned rows, const WgmmaLayout& l,
                      uint32_t lbo, uint32_t sbo, bool mn_major) {
  if (!mn_major) {
    for (unsigned i = threadIdx.x; i < rows * 8; i += blockDim.x) {
      *reinterpret_cast<uint32_t*>(t + staged_offset(l, lbo, sbo, i / 8, 4 * (i % 8))) = src[i];
    }
    return;
  }
  for (unsigned i = threadIdx.x; i < rows * 16; i += blockDim.x) {
    const unsigned r = i / 16, k = i % 16;
    const auto half = static_cast<uint16_t>(src[r * 8 + k / 2] >> (16 * (k % 2)));
    *reinterpret_cast<uint16_t*>(t + staged_mn_offset(l, lbo, sbo, r, k + 16 * l.kk)) = half;
  }
}

// The region of dynamic shared memory starting at a 1024-byte aligned shared address.
__device__ unsigned char* aligned_tile(unsigned char* smem) {
  const uint32_t base = tc::smem_address(smem);
  return smem + (1024 - base % 1024) % 1024;
}

// d = a b^T (+ c): a (64 rows x 8 words), b (kN rows x 8 words), c and d (64 x kN) row-major;
// A / B MN-major where kTransA / kTransB (lay.trans says the same).
// `fault` selects a misuse (emulator only): 1 no wgmma.fence, 2 no fence.proxy.async, 3 reads the
// accumulators before the wait (stored as they read), 4 writes a staged byte of A's row 0 before
// the wait, 5 exits without waiting, 6 warp 1 skips the wgmma.
template <bool kBf16, int kN, bool kTransA, bool kTransB>
__global__ void wgmma_tile_kernel(const uint32_t* a, const uint32_t* b, const float* c, float* d,
                                  WgmmaLayout lay, int scale_d, int fault) {
  GPU_DYNAMIC_SHARED(unsigned char, smem);
  unsigned char* ta = aligned_tile(smem);
  unsigned char* tb = ta + kRegion;
  const unsigned tid = threadIdx.x;
  stage(ta, a, 64, lay, lay.lbo_a, lay.sbo_a, kTransA);
  stage(tb, b, kN, lay, lay.lbo_b, lay.sbo_b, kTransB);
  if (!kMisuse || fault != 2) tc::fence_proxy_async();
  __syncthreads();
  const unsigned warp = tid / 32, lane = tid % 32, g = lane >> 2, t = lane & 3u;
  float acc[kN / 2];
  for (int j = 0; j < kN / 8; ++j) {
    for (unsigned i = 0; i < 4; ++i) {
      const unsigned row = 16 * warp + g + 8 * (i >> 1), col = 8 * j + 2 * t + (i & 1u);
      acc[4 * j + i] = c[row * kN + col];
    }
  }
  const auto kk = static_cast<uint32_t>(lay.kk);
  const uint32_t k_offset = lay.mode == 0 ? 0 : 32 * kk;
  const auto swizzle = static_cast<tc::WgmmaSwizzle>(lay.mode);
  const uint64_t da =
      tc::wgmma_desc(tc::smem_address(ta) + (kTransA ? 2 * kk * lay.sbo_a : k_offset), lay.lbo_a,
                     lay.sbo_a, swizzle);
  const uint64_t db =
      tc::wgmma_desc(tc::smem_address(tb) + (kTransB ? 2 * kk * lay.sbo_b : k_offset), lay.lbo_b,
                     lay.sbo_b, swizzle);
  if (!kMisuse || fault != 1) tc::wgmma_fence(acc);
  if (!kMisuse || fault != 6 || warp != 1) {
    tc::wgmma<kBf16, kN, kTransA, kTransB>(acc, da, db, scale_d != 0);
  }
  tc::wgmma_commit();
  if (kMisuse && fault == 3) {
    for (int i = 0; i < kN / 2; ++i) d[tid * (kN / 2) + i] = acc[i];
  }
  if (kMisuse && fault == 4 && tid == 0) ta[staged_offset(lay, lay.lbo_a, lay.sbo_a, 0, 0)] ^= 1;
  if (kMisuse && fault == 5) return;
  tc::wgmma_wait<0>(acc);
  if (kMisuse && fault == 3) return;
  for (int j = 0; j < kN / 8; ++j) {
    for (unsigned i = 0; i < 4; ++i) {
      const unsigned row = 16 * warp + g + 8 * (i >> 1), col = 8 * j + 2 * t + (i & 1u);
      d[row * kN + col] = acc[4 * j + i];
    }
  }
}

template <bool kBf16, int kN, bool kTransA = false, bool kTransB = false>
void launch_tile(const uint32_t* a, const uint32_t* b, const float* c, float* d,
                 const WgmmaLayout& lay, int scale_d, int fault, unsigned threads) {
  constexpr int kSmem = 1024 + 2 * kRegion;
  V3D_CUDA_CHECK(
      gpu::FuncSetMaxDynamicSharedMemory(wgmma_tile_kernel<kBf16, kN, kTransA, kTransB>, kSmem));
  GPU_LAUNCH((wgmma_tile_kernel<kBf16, kN, kTransA, kTransB>), 1, threads, kSmem, nullptr, a, b, c,
             d, lay, scale_d, fault);
}

// The BF16 tiles with N = kN by lay.trans.
template <int kN>
void launch_bf16_tile(const uint32_t* a, const uint32_t* b, const float* c, float* d,
                      const WgmmaLayout& lay, int scale_d, int fault, unsigned threads) {
  switch (lay.trans) {
    case 0:
      launch_tile<true, kN>(a, b, c, d, lay, scale_d, fault, threads);
      break;
    case 1:
      launch_tile<true, kN, true, false>(a, b, c, d, lay, scale_d, fault, threads);
      break;
    case 2:
      launch_tile<true, kN, false, true>(a, b, c, d, lay, scale_d, fault, threads);
      break;
    default:
      launch_tile<true, kN, true, true>(a, b, c, d, lay, scale_d, fault, threads);
  }
}

}  // namespace

int compute_capability() {
  int device = 0, major = 0, minor = 0;
  V3D_CUDA_CHECK(gpu::GetDevice(&device));
  V3D_CUDA_CHECK(gpu::DeviceComputeCapability(device, &major, &minor));
  return 10 * major + minor;
}

std::vector<float> wgmma_tile(bool bf16, int n, const std::vector<uint32_t>& a,
                              const std::vector<uint32_t>& b, const std::vector<float>& c,
                              const WgmmaLayout& lay, bool scale_d, int fault, unsigned threads) {
  DeviceBuffer<uint32_t> d_a(a), d_b(b);
  DeviceBuffer<float> d_c(c), d_d(c.size());
  const int s = scale_d ? 1 : 0;
  V3D_CHECK(bf16 || lay.trans == 0, "wgmma_tile: TF32 operands are K-major only");
  if (bf16 && n == 128) {
    launch_bf16_tile<128>(d_a.get(), d_b.get(), d_c.get(), d_d.get(), lay, s, fault, threads);
  } else if (bf16) {
    launch_bf16_tile<8>(d_a.get(), d_b.get(), d_c.get(), d_d.get(), lay, s, fault, threads);
  } else if (n == 128) {
    launch_tile<false, 128>(d_a.get(), d_b.get(), d_c.get(), d_d.get(), lay, s, fault, threads);
  } else {
    launch_tile<false, 8>(d_a.get(), d_b.get(), d_c.get(), d_d.get(), lay, s, fault, threads);
  }
  V3D_LAUNCH_CHECK("wgmma_tile", nullptr);
  return d_d.download();
}

}  // namespace v3d::emutest::V3D_GPU_NS
