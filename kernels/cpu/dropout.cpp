// CPU backend of kernels/dropout.h. The mask costs one Philox4x32-10 call per four elements, far
// more than the multiply it selects, so on CPUs with AVX-512 sixteen counters (64 elements) are
// generated at once (kernels/cpu/philox_avx512.h); the scalar loop handles the tail and other
// CPUs. Both evaluate the same integer function, so the output does not depend on the path.
#include "kernels/dropout.h"

#include <algorithm>
#include <vector>

#include "kernels/cpu/philox_avx512.h"
#include "kernels/dropout_mask.h"
#include "kernels/elementwise.h"

namespace v3d::kernels::cpu {
namespace {

// What the masked pass computes (kernels/dropout.h): out[i] = keep[i] ? f(i) * scale : 0 with
//   kDropout:  f = in[i]                      (dropout fwd and bwd)
//   kReluFwd:  f = in[i] > 0 ? in[i] : 0      (relu_dropout fwd)
//   kReluBwd:  f = x[i] > 0 ? in[i] : 0       (relu_dropout bwd; in = d_y)
enum class Mode { kDropout, kReluFwd, kReluBwd };

// Groups of four elements per AVX-512 block (sixteen Philox lanes).
constexpr int64_t kBlockGroups = 16;

// The elements of groups [g_begin, g_end), one Philox call per group.
template <Mode M>
void apply_mask_scalar(const float* x, const float* in, float* out, int64_t n, int64_t g_begin,
                       int64_t g_end, float p, float scale, uint64_t seed, uint64_t offset) {
  for (int64_t g = g_begin; g < g_end; ++g) {
    bool keep[4];
    dropout_keep4(static_cast<uint64_t>(g), p, seed, offset, keep);
    for (int j = 0; j < 4; ++j) {
      const int64_t i = 4 * g + j;
      if (i >= n) break;
      float v = in[i];
      if constexpr (M == Mode::kReluFwd) v = v > 0.0f ? v : 0.0f;
      if constexpr (M == Mode::kReluBwd) v = x[i] > 0.0f ? v : 0.0f;
      out[i] = keep[j] ? v * scale : 0.0f;
    }
  }
}

#if defined(V3D_HAVE_AVX512_PHILOX)
// The same for the 64 elements of groups g0 .. g0+15 (all inside the tensor).
template <Mode M>
V3D_TARGET_AVX512 inline void apply_mask_block_avx512(const float* x, const float* in, float* out,
                                                      uint64_t g0, float p, float scale,
                                                      uint64_t seed, uint64_t offset) {
  // counter = (g lo, g hi, offset lo, offset hi); callers keep a block from crossing 2^32 in g,
  // so g hi is the same in every lane.
  Philox4x32x16 c;
  c.v[0] =
      _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(g0))),
                       _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  c.v[1] = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(g0 >> 32)));
  c.v[2] = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(offset)));
  c.v[3] = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(offset >> 32)));
  __m512i bits[4];
  philox_interleave_x16(
      philox4x32_10_x16(c, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)), bits);
  const __m512 pv = _mm512_set1_ps(p);
  const __m512 sv = _mm512_set1_ps(scale);
  const __m512 zero = _mm512_setzero_ps();
  const __m512 to_unit = _mm512_set1_ps(1.0f / 16777216.0f);
  for (int q = 0; q < 4; ++q) {
    // philox_uniform: the top 24 bits, converted exactly, times 2^-24; keep when >= p.
    const __m512 u = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(bits[q], 8)), to_unit);
    __mmask16 keep = _mm512_cmp_ps_mask(u, pv, _CMP_GE_OQ);
    // A ReLU-zeroed element is 0 * scale = +0, the same as a dropped one.
    if constexpr (M == Mode::kReluBwd)
      keep &= _mm512_cmp_ps_mask(_mm512_loadu_ps(x + 16 * q), zero, _CMP_GT_OQ);
    const __m512 v = _mm512_maskz_loadu_ps(keep, in + 16 * q);
    if constexpr (M == Mode::kReluFwd) keep &= _mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ);
    _mm512_storeu_ps(out + 16 * q, _mm512_maskz_mul_ps(keep, v, sv));
  }
}

// Whole blocks [b_begin, b_end) of kBlockGroups groups each.
template <Mode M>
V3D_TARGET_AVX512 void apply_mask_blocks_avx512(const float* x, const float* in, float* out,
                                                int64_t b_begin, int64_t b_end, float p,
                                                float scale, uint64_t seed, uint64_t offset) {
  for (int64_t b = b_begin; b < b_end; ++b) {
    const uint64_t g0 = static_cast<uint64_t>(b * kBlockGroups);
    const int64_t e = b * kBlockGroups * 4;
    // A block whose 32-bit counter word wraps (once every 2^32 groups) takes the scalar path.
    if (static_cast<uint32_t>(g0) > UINT32_MAX - (kBlockGroups - 1)) {
      apply_mask_scalar<M>(x, in, out, e + 4 * kBlockGroups, b * kBlockGroups,
                           (b + 1) * kBlockGroups, p, scale, seed, offset);
    } else {
      apply_mask_block_avx512<M>(x + (x ? e : 0), in + e, out + e, g0, p, scale, seed, offset);
    }
  }
}
#endif

// x: the ReLU input (kReluBwd only, else nullptr); in, out: (n).
template <Mode M>
void apply_mask(const float* x, const float* in, float* out, int64_t n, float p, uint64_t seed,
                uint64_t offset) {
  V3D_CHECK(n >= 0, "dropout: negative element count " << n);
  V3D_CHECK(p >= 0.0f && p < 1.0f, "dropout: probability must be in [0, 1), got " << p);
  const float scale = dropout_scale(p);
  const int64_t groups = (n + 3) / 4;
  int64_t simd_groups = 0;  // groups [0, simd_groups) go through the AVX-512 path
#if defined(V3D_HAVE_AVX512_PHILOX)
  if (philox_avx512_supported()) {
    const int64_t blocks = n / (4 * kBlockGroups);
    simd_groups = blocks * kBlockGroups;
    // Tasks of 64 blocks (4096 elements); a thread's share is one contiguous range.
    constexpr int64_t kBlocksPerTask = 64;
    const int64_t tasks = (blocks + kBlocksPerTask - 1) / kBlocksPerTask;
#pragma omp parallel for schedule(static) if (n >= (1 << 16))
    for (int64_t t = 0; t < tasks; ++t)
      apply_mask_blocks_avx512<M>(x, in, out, t * kBlocksPerTask,
                                  std::min(blocks, (t + 1) * kBlocksPerTask), p, scale, seed,
                                  offset);
  }
#endif
  const int64_t rest = groups - simd_groups;
#pragma omp parallel for if (rest >= (1 << 14))
  for (int64_t g = simd_groups; g < groups; ++g)
    apply_mask_scalar<M>(x, in, out, n, g, g + 1, p, scale, seed, offset);
}

}  // namespace

void dropout_fwd(const DropoutArgs& a, const float* x, float* y) {
  apply_mask<Mode::kDropout>(nullptr, x, y, a.n, a.p, a.seed, a.offset);
}

void dropout_bwd(const DropoutArgs& a, const float* d_y, float* d_x) {
  apply_mask<Mode::kDropout>(nullptr, d_y, d_x, a.n, a.p, a.seed, a.offset);
}

void relu_dropout_fwd(const DropoutArgs& a, const float* x, float* y) {
  apply_mask<Mode::kReluFwd>(nullptr, x, y, a.n, a.p, a.seed, a.offset);
}

void relu_dropout_bwd(const DropoutArgs& a, const float* x, const float* d_y, float* d_x) {
  apply_mask<Mode::kReluBwd>(x, d_y, d_x, a.n, a.p, a.seed, a.offset);
}

void relu_dropout_bf16_fwd(const DropoutArgs& args, const float* x, uint16_t* y) {
  // The float32 pass, then the conversion: the same values as the fused GPU kernel.
  std::vector<float> y32(static_cast<size_t>(args.n));
  relu_dropout_fwd(args, x, y32.data());
  to_bf16(ConvertArgs{args.n}, y32.data(), y);
}

}  // namespace v3d::kernels::cpu
