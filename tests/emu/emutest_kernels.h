// Launchers of the emulator self-test kernels (emutest_kernels.cu, negative_kernels.cu). They take
// and return host data and do all device work themselves, so the same test body can run the
// emulated copy (namespace emu) and, on a machine with a GPU, the nvcc copy (namespace cuda).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace v3d::emutest {

// Per thread: __shfl_sync, __shfl_up_sync, __shfl_down_sync, __shfl_xor_sync results.
struct ShuffleParams {
  int width;
  int src_offset;  // source lane of __shfl_sync is lane * 7 + src_offset (may leave the segment)
  unsigned delta;  // for up and down
  int xor_mask;
};

// Per thread of the vote kernel.
struct VoteResult {
  unsigned ballot, any, all, match_any, match_all, match_all_pred, active;
  unsigned reduce_add, reduce_max_u, half_ballot;
  int reduce_min_i;
};

struct AtomicsResult {
  std::vector<int> ints;        // add, sub, max, min, cas-loop count, exch, add_block
  std::vector<unsigned> uints;  // and, or, xor, inc, dec
  unsigned long long ull_sum = 0, ull_max = 0;
  float float_sum = 0;
  double double_sum = 0;
  std::vector<unsigned> inc_old, dec_old;  // per-thread old values of atomicInc/atomicDec
};

struct ByValueParams {
  int a[4];
  int b;
};

// How a wgmma test stages its operands (kernels/cuda/wgmma.cuh): mode 0 no swizzle, with the
// leading (k halves) and stride (8-row groups) byte offsets of A and B; modes 1, 2, 3 the 128-,
// 64- and 32-byte swizzles with 8-row groups sbo apart and the k-step at byte 32 * kk of the row.
// trans (BF16): bit 0 A, bit 1 B MN-major instead, whose offsets are those of the canonical
// MN-major forms (no swizzle: 8-element groups along MN sbo apart, 8-k groups lbo apart; swizzled:
// runs of a row's width along MN lbo apart, 8-k groups sbo apart) and whose k-step kk starts
// 2 kk sbo further.
struct WgmmaLayout {
  int mode;
  uint32_t lbo_a, sbo_a, lbo_b, sbo_b;
  int kk;
  int trans = 0;
};

namespace emu {
#include "tests/emu/emutest_launchers.inc"
}  // namespace emu
namespace cuda {
#include "tests/emu/emutest_launchers.inc"
}  // namespace cuda

// The copy a test binary runs: the test files are compiled with V3D_EMUTEST_CUDA=1 for the nvcc
// copy on a real device (label gpu), otherwise they run the emulated one.
#ifndef V3D_EMUTEST_CUDA
#define V3D_EMUTEST_CUDA 0
#endif
#if V3D_EMUTEST_CUDA
namespace dev = cuda;
#else
namespace dev = emu;
#endif

}  // namespace v3d::emutest
