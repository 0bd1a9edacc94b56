// Warp-level tensor-core MMA, the conversions to its input formats, and cp.async, as device
// functions: inline PTX under nvcc (sm_80 and newer), the emulator's implementation under the
// host compiler (kernels/gpu/emu/runtime.h), so the same kernel source runs in both. What the
// emulator checks and how it computes: docs/gpu.md, "Tensor cores and cp.async".
//
// Fragments follow the PTX ISA's layouts for mma.sync.aligned (groupID g = lane >> 2,
// threadID_in_group t = lane % 4):
//   m16n8k8 tf32   A (16 x 8, row): x[0] (g, t), x[1] (g+8, t), x[2] (g, t+4), x[3] (g+8, t+4)
//                  B (8 x 8, col):  x[0] (t, g), x[1] (t+4, g)
//   m16n8k16 bf16  A (16 x 16, row): x[0] (g, 2t..2t+1), x[1] (g+8, 2t..), x[2] (g, 2t+8..),
//                  x[3] (g+8, 2t+8..); the lower column in the low half of each register
//                  B (16 x 8, col): x[0] (2t..2t+1, g), x[1] (2t+8..2t+9, g), the lower row low
//   C, D (16 x 8): x[0] (g, 2t), x[1] (g, 2t+1), x[2] (g+8, 2t), x[3] (g+8, 2t+1)
// Every lane of the warp must execute the same mma call (the emulator faults otherwise).
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/float_round.h"
#include "kernels/gpu/compat.h"

#if defined(CUEMU)
#include <source_location>
// The emulator names the call site in its reports and checks that all lanes are at the same one.
#define V3D_MMA_LOC , std::source_location loc = std::source_location::current()
#else
#define V3D_MMA_LOC
#endif

namespace v3d::kernels::V3D_GPU_NS::tc {

struct FragATf32 {
  uint32_t x[4];
};
struct FragBTf32 {
  uint32_t x[2];
};
struct FragABf16 {
  uint32_t x[4];
};
struct FragBBf16 {
  uint32_t x[2];
};
struct FragAcc {
  float x[4];
};

// cvt.rn.tf32.f32 (kernels/float_round.h, tf32_bits): one instruction on sm_90 and newer; before
// sm_90, which has no such cvt, the same rounding in integer instructions.
__device__ __forceinline__ uint32_t to_tf32(float v);

// A register's bits as a float (ldmatrix delivers words).
__device__ __forceinline__ float as_float(uint32_t bits) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  float v;
  std::memcpy(&v, &bits, sizeof(v));
  return v;
#endif
}

// to_tf32 of a float's bits.
__device__ __forceinline__ uint32_t bits_to_tf32(uint32_t bits) { return to_tf32(as_float(bits)); }

__device__ __forceinline__ uint32_t to_tf32(float v) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  uint32_t r;
  asm("cvt.rn.tf32.f32 %0, %1;" : "=r"(r) : "f"(v));
  return r;
#else
  return tf32_bits(v);
#endif
}

// cvt.rn.bf16x2.f32: `lo` to the low half, `hi` to the high half (kernels/float_round.h).
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
#if defined(__CUDA_ARCH__)
  uint32_t r;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
  return r;
#else
  return static_cast<uint32_t>(bf16_bits(lo)) | (static_cast<uint32_t>(bf16_bits(hi)) << 16);
#endif
}

// One mma.sync over this lane's registers: d = a * b + d. kBf16 selects the instruction.
// The BF16 bits of v, rounded as pack_bf16x2 rounds (for operands converted before staging).
__device__ __forceinline__ uint16_t to_bf16(float v) {
  return static_cast<uint16_t>(pack_bf16x2(v, 0.0f) & 0xffffu);
}

template <bool kBf16>
__device__ __forceinline__ void mma_sync(FragAcc& d, const uint32_t (&a)[4],
                                         const uint32_t (&b)[2] V3D_MMA_LOC) {
#if defined(__CUDA_ARCH__)
#define V3D_MMA_ASM(shape_types)                                                  \
  asm volatile("mma.sync.aligned." shape_types                                    \
               " {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};" \
               : "+f"(d.x[0]), "+f"(d.x[1]), "+f"(d.x[2]), "+f"(d.x[3])           \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]))
  if constexpr (kBf16) {
    V3D_MMA_ASM("m16n8k16.row.col.f32.bf16.bf16.f32");
  } else {
    V3D_MMA_ASM("m16n8k8.row.col.f32.tf32.tf32.f32");
  }
#undef V3D_MMA_ASM
#elif defined(CUEMU)
  cuemu::MmaFragments f{
      {a[0], a[1], a[2], a[3]}, {b[0], b[1]}, {d.x[0], d.x[1], d.x[2], d.x[3]}, {}};
  cuemu::detail::warp_mma(kBf16 ? cuemu::MmaKind::kM16N8K16Bf16 : cuemu::MmaKind::kM16N8K8Tf32, f,
                          loc);
  for (int i = 0; i < 4; ++i) d.x[i] = f.d[i];
#else  // nvcc's host pass: never called
  (void)d;
  (void)a;
  (void)b;
#endif
}

#if defined(CUEMU)
#define V3D_MMA_PASS_LOC , loc
#else
#define V3D_MMA_PASS_LOC
#endif

// d = a * b + d, mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32.
__device__ __forceinline__ void mma_tf32(FragAcc& d, const FragATf32& a,
                                         const FragBTf32& b V3D_MMA_LOC) {
  mma_sync<false>(d, a.x, b.x V3D_MMA_PASS_LOC);
}

// d = a * b + d, mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32.
__device__ __forceinline__ void mma_bf16(FragAcc& d, const FragABf16& a,
                                         const FragBBf16& b V3D_MMA_LOC) {
  mma_sync<true>(d, a.x, b.x V3D_MMA_PASS_LOC);
}

// ldmatrix.sync.aligned.m8n8.x4.shared.b16: four 8 x 8 matrices of 16-bit elements, read here as
// 8 rows of four 32-bit words each. Lane 8q + r names row r of matrix q (16 bytes of shared
// memory, 16-byte aligned); lane l receives word l % 4 of row l / 4 of matrix q in r[q]. For a
// TF32 operand staged as float rows, one call gives an m16n8k8 A fragment (matrices: rows 0-7
// and 8-15 of the tile at words k = 0-3, then both at k = 4-7) or two B fragments.
// kTrans (ldmatrix...x4.trans): each matrix delivered transposed, lane l receiving in r[q] the
// elements l / 4 of rows 2 (l % 4) (low half) and 2 (l % 4) + 1 (high half). For a BF16 operand
// staged with the reduction along the rows (8 elements of M or N per 16-byte row), this is the
// MMA's fragment: a register packs the two consecutive k of one row (A) or column (B).
template <bool kTrans = false>
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* row V3D_MMA_LOC) {
#if defined(__CUDA_ARCH__)
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(row));
  if constexpr (kTrans) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
  } else {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
  }
#elif defined(CUEMU)
  cuemu::detail::warp_ldmatrix(row, 4, kTrans, r, loc);
#else
  (void)r;
  (void)row;
#endif
}

// cp.async of kBytes (4, 8 or 16; 16 bypasses L1 with .cg) from global `src` to shared `dst`,
// both aligned to kBytes: the first src_bytes bytes of src, then zeros (src_bytes = 0 reads
// nothing, for tiles past the end of a tensor). Lands only at a cp_async_wait that completes its
// group.
template <int kBytes>
__device__ __forceinline__ void cp_async(void* dst, const void* src, int src_bytes V3D_MMA_LOC) {
  static_assert(kBytes == 4 || kBytes == 8 || kBytes == 16, "cp.async copies 4, 8 or 16 bytes");
#if defined(__CUDA_ARCH__)
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  if constexpr (kBytes == 16) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(s), "l"(src), "r"(src_bytes)
                 : "memory");
  } else {
    asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;" ::"r"(s), "l"(src), "n"(kBytes),
                 "r"(src_bytes)
                 : "memory");
  }
#elif defined(CUEMU)
  cuemu::detail::cp_async(dst, src, kBytes, src_bytes, kBytes == 16, loc);
#else
  (void)dst;
  (void)src;
  (void)src_bytes;
#endif
}

// cp.async.commit_group.
__device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDA_ARCH__)
  asm volatile("cp.async.commit_group;" ::: "memory");
#elif defined(CUEMU)
  cuemu::detail::cp_async_commit();
#endif
}

// cp.async.wait_group kPending: every committed group but the kPending most recent has landed
// (for this thread's copies; other threads' copies need a barrier after their wait).
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
#if defined(__CUDA_ARCH__)
  asm volatile("cp.async.wait_group %0;" ::"n"(kPending) : "memory");
#elif defined(CUEMU)
  cuemu::detail::cp_async_wait(kPending);
#endif
}

}  // namespace v3d::kernels::V3D_GPU_NS::tc
