// Hopper's warpgroup MMA (wgmma.mma_async, sm_90a) and the fences around it, as device functions:
// inline PTX where nvcc compiles for sm_90a, the emulator's implementation under the host compiler
// (kernels/gpu/emu/runtime.h), nothing elsewhere (V3D_HAS_WGMMA is 0: the kernels using them trap
// there, and the launchers choose them only on a compute capability 9.0 device). What the emulator
// checks: docs/gpu.md, "Hopper's warpgroup MMA".
//
// A wgmma computes D (64 x N) = A (64 x K) B (K x N) + D over a warpgroup (4 consecutive warps,
// the first a multiple of 4), both operands in shared memory through matrix descriptors, K-major
// (A's rows and B's columns contiguous along K) or, BF16 only (the transpose immediates), MN-major
// (contiguous along M or N): K = 8 TF32 or 16 BF16 elements, 32 bytes per K-major row. D's
// registers (N / 2 floats per thread): warp w of the group holds rows 16w .. 16w + 15; in it, as
// mma.sync's C fragment per 8 columns (groupID g = lane >> 2, t = lane % 4): d[4j] (g, 8j + 2t),
// d[4j + 1] (g, 8j + 2t + 1), d[4j + 2] (g + 8, 8j + 2t), d[4j + 3] (g + 8, 8j + 2t + 1).
#pragma once

#include <cstdint>

#include "kernels/cuda/mma.cuh"
#include "kernels/gpu/compat.h"

#if defined(CUEMU) || (defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL))
#define V3D_HAS_WGMMA 1
#else
#define V3D_HAS_WGMMA 0
#endif

namespace v3d::kernels::V3D_GPU_NS::tc {

// The shared-memory address of p (__cvta_generic_to_shared), for descriptors.
__device__ __forceinline__ uint32_t smem_address(const void* p) {
#if defined(__CUDA_ARCH__)
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
#elif defined(CUEMU)
  return cuemu::detail::shared_address(p);
#else
  (void)p;
  return 0;
#endif
}

// The descriptor's layout modes (bits 62-63): rows of a core matrix 16 bytes apart (kNone) or
// 32/64/128 bytes with the 16-byte chunks XOR-swizzled by the row within 8.
enum class WgmmaSwizzle : uint32_t { kNone = 0, k128B = 1, k64B = 2, k32B = 3 };

// A shared-memory matrix descriptor: start address, leading and stride byte offsets (each 16-byte
// units in 14 bits), the layout mode; base offset 0.
__device__ __forceinline__ uint64_t wgmma_desc(uint32_t start, uint32_t lbo, uint32_t sbo,
                                               WgmmaSwizzle swizzle) {
  return static_cast<uint64_t>((start >> 4) & 0x3FFFu) |
         (static_cast<uint64_t>((lbo >> 4) & 0x3FFFu) << 16) |
         (static_cast<uint64_t>((sbo >> 4) & 0x3FFFu) << 32) |
         (static_cast<uint64_t>(swizzle) << 62);
}

// Keeps the compiler from moving accesses of r across the wgmma instructions around it (the
// asm statements do not name the accumulators they read and write asynchronously).
__device__ __forceinline__ void fence_operand(float& r) {
#if defined(__CUDA_ARCH__)
  asm volatile("" : "+f"(r)::"memory");
#else
  (void)r;
#endif
}

// wgmma.fence.sync.aligned, after the thread's last access of the accumulators d.
template <int kRegs>
__device__ __forceinline__ void wgmma_fence(float (&d)[kRegs]) {
  for (int i = 0; i < kRegs; ++i) fence_operand(d[i]);
#if defined(__CUDA_ARCH__) && V3D_HAS_WGMMA
  asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
#elif defined(CUEMU)
  cuemu::detail::wgmma_fence();
#endif
}

// wgmma.commit_group.sync.aligned.
__device__ __forceinline__ void wgmma_commit() {
#if defined(__CUDA_ARCH__) && V3D_HAS_WGMMA
  asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
#elif defined(CUEMU)
  cuemu::detail::wgmma_commit();
#endif
}

// wgmma.wait_group kPending: every committed group but the kPending most recent has written its
// accumulators d.
template <int kPending, int kRegs>
__device__ __forceinline__ void wgmma_wait(float (&d)[kRegs]) {
#if defined(__CUDA_ARCH__) && V3D_HAS_WGMMA
  asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(kPending) : "memory");
#elif defined(CUEMU)
  cuemu::detail::wgmma_wait(kPending);
#endif
  for (int i = 0; i < kRegs; ++i) fence_operand(d[i]);
}

// fence.proxy.async.shared::cta: this thread's shared-memory writes (stores, landed cp.async)
// become visible to wgmma's operand reads; then a barrier orders them before other warps' wgmma.
__device__ __forceinline__ void fence_proxy_async() {
#if defined(__CUDA_ARCH__) && V3D_HAS_WGMMA
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
#elif defined(CUEMU)
  cuemu::detail::fence_proxy_async();
#endif
}

// The accumulator operands of the asm statements below: N / 2 registers "+f", the PTX register list
// "{%0, ..., %(N/2 - 1)}" and the operand numbers that follow it (a-desc, b-desc, scale-d).
#define V3D_WGMMA_F4(i) "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3])
#define V3D_WGMMA_D8 V3D_WGMMA_F4(0)
#define V3D_WGMMA_REGS8 "{%0, %1, %2, %3}, %4, %5, p"
#define V3D_WGMMA_SCALE8 "%6"
#define V3D_WGMMA_D128                                                                          \
  V3D_WGMMA_F4(0), V3D_WGMMA_F4(4), V3D_WGMMA_F4(8), V3D_WGMMA_F4(12), V3D_WGMMA_F4(16),        \
      V3D_WGMMA_F4(20), V3D_WGMMA_F4(24), V3D_WGMMA_F4(28), V3D_WGMMA_F4(32), V3D_WGMMA_F4(36), \
      V3D_WGMMA_F4(40), V3D_WGMMA_F4(44), V3D_WGMMA_F4(48), V3D_WGMMA_F4(52), V3D_WGMMA_F4(56), \
      V3D_WGMMA_F4(60)
#define V3D_WGMMA_REGS128                                                            \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15,"           \
  " %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31," \
  " %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47," \
  " %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p"
#define V3D_WGMMA_SCALE128 "%66"
#define V3D_WGMMA_TRANS8 ", %7, %8"
#define V3D_WGMMA_TRANS128 ", %67, %68"
// One wgmma.mma_async of shape `shape_types` with N = n: scale-d as a predicate, imm-scale-a and
// imm-scale-b 1, and for BF16 (`trans`: V3D_WGMMA_TRANS##n) the imm-trans-a and imm-trans-b
// operands, immediates from kTransA and kTransB (TF32's string names none of them).
#define V3D_WGMMA_ASM(shape_types, n, trans)                                                     \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, " V3D_WGMMA_SCALE##n                            \
               ", 0;\n"                                                                          \
               "wgmma.mma_async.sync.aligned." shape_types " " V3D_WGMMA_REGS##n ", 1, 1" trans  \
                                                                                 ";\n}\n"        \
               : V3D_WGMMA_D##n                                                                  \
               : "l"(desc_a), "l"(desc_b), "r"(static_cast<int>(scale_d)), "n"(kTransA ? 1 : 0), \
                 "n"(kTransB ? 1 : 0))

// d (+)= A B over the warpgroup: wgmma.mma_async.sync.aligned.m64n{kN}k{8,16}.f32.{tf32,bf16}
// with A and B in shared memory (desc_a, desc_b), K-major, or MN-major where kTransA / kTransB
// (BF16 only); scale_d = false ignores d's values. kN: 8 or 128.
template <bool kBf16, int kN, bool kTransA = false, bool kTransB = false>
__device__ __forceinline__ void wgmma(float (&d)[kN / 2], uint64_t desc_a, uint64_t desc_b,
                                      bool scale_d V3D_MMA_LOC) {
  static_assert(kN == 8 || kN == 128, "wgmma: the wrappers exist for N = 8 and 128");
  static_assert(kBf16 || (!kTransA && !kTransB), "wgmma: TF32 operands are K-major only");
#if defined(__CUDA_ARCH__) && V3D_HAS_WGMMA
  if constexpr (kN == 8 && kBf16) {
    V3D_WGMMA_ASM("m64n8k16.f32.bf16.bf16", 8, V3D_WGMMA_TRANS8);
  } else if constexpr (kN == 8) {
    V3D_WGMMA_ASM("m64n8k8.f32.tf32.tf32", 8, "");
  } else if constexpr (kBf16) {
    V3D_WGMMA_ASM("m64n128k16.f32.bf16.bf16", 128, V3D_WGMMA_TRANS128);
  } else {
    V3D_WGMMA_ASM("m64n128k8.f32.tf32.tf32", 128, "");
  }
#elif defined(CUEMU)
  cuemu::detail::wgmma_mma(kBf16 ? cuemu::WgmmaType::kBf16 : cuemu::WgmmaType::kTf32, kN, desc_a,
                           desc_b, d, scale_d, kTransA, kTransB, loc);
#else
  (void)d;
  (void)desc_a;
  (void)desc_b;
  (void)scale_d;
#endif
}

}  // namespace v3d::kernels::V3D_GPU_NS::tc

#undef V3D_WGMMA_ASM
#undef V3D_WGMMA_F4
#undef V3D_WGMMA_D8
#undef V3D_WGMMA_REGS8
#undef V3D_WGMMA_SCALE8
#undef V3D_WGMMA_D128
#undef V3D_WGMMA_REGS128
#undef V3D_WGMMA_SCALE128
#undef V3D_WGMMA_TRANS8
#undef V3D_WGMMA_TRANS128
