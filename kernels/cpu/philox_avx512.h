// Philox4x32-10 (kernels/philox.h) for 16 counters at once with AVX-512, for the CPU kernels that
// draw many consecutive counters (dropout). Each lane computes literally the same integer
// function as philox4x32_10, so outputs are bit-identical to the scalar generator (tested against
// it and against Random123's known answers in tests/kernels/philox_test.cpp).
//
// The project compiles for baseline x86-64, so these functions carry target attributes and callers
// must check philox_avx512_supported() at run time; other architectures get only the scalar path.
//
// The 32x32->64 products: _mm512_mul_epu32 multiplies the low words of the eight 64-bit lanes, so
// even lanes are multiplied in place and odd lanes after a 32-bit right shift; the low and high
// halves are put back into 32-bit lane order with two blends.
#pragma once

#include <cstdint>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define V3D_HAVE_AVX512_PHILOX 1
// GCC 12's intrinsics pass _mm512_undefined_*() as the unused merge source, which -Wuninitialized
// flags once inlined (GCC bug 105593, fixed in 12.3).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif

namespace v3d::kernels::cpu {

#if defined(V3D_HAVE_AVX512_PHILOX)

// Marks a function compiled for AVX-512 (callers check philox_avx512_supported() first).
#define V3D_TARGET_AVX512 __attribute__((target("avx512f")))

// Whether this CPU runs the AVX-512 functions below (checked once).
inline bool philox_avx512_supported() {
  static const bool ok = __builtin_cpu_supports("avx512f");
  return ok;
}

// Sixteen Philox4x32 states: word w of lane l is v[w] lane l.
struct Philox4x32x16 {
  __m512i v[4];
};

// lo = low words, hi = high words of a * b for the sixteen 32-bit lanes of a and b.
V3D_TARGET_AVX512 inline void philox_mulhilo_x16(__m512i a, __m512i b, __m512i* lo, __m512i* hi) {
  const __m512i even = _mm512_mul_epu32(a, b);  // (8 x 64): lanes 0, 2, .., 14
  const __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), _mm512_srli_epi64(b, 32));
  constexpr __mmask16 kOdd = 0xAAAA;
  *lo = _mm512_mask_blend_epi32(kOdd, even, _mm512_slli_epi64(odd, 32));
  *hi = _mm512_mask_blend_epi32(kOdd, _mm512_srli_epi64(even, 32), odd);
}

// The rounds of philox4x32_10 on sixteen counters with one key.
V3D_TARGET_AVX512 inline Philox4x32x16 philox4x32_10_x16(Philox4x32x16 c, uint32_t k0,
                                                         uint32_t k1) {
  const __m512i m0 = _mm512_set1_epi32(static_cast<int>(0xD2511F53u));
  const __m512i m1 = _mm512_set1_epi32(static_cast<int>(0xCD9E8D57u));
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    __m512i lo0, hi0, lo1, hi1;
    philox_mulhilo_x16(m0, c.v[0], &lo0, &hi0);
    philox_mulhilo_x16(m1, c.v[2], &lo1, &hi1);
    // 0x96: three-way xor.
    const __m512i n0 =
        _mm512_ternarylogic_epi32(hi1, c.v[1], _mm512_set1_epi32(static_cast<int>(k0)), 0x96);
    const __m512i n2 =
        _mm512_ternarylogic_epi32(hi0, c.v[3], _mm512_set1_epi32(static_cast<int>(k1)), 0x96);
    c.v[0] = n0;
    c.v[1] = lo1;
    c.v[2] = n2;
    c.v[3] = lo0;
    k0 += kW0;
    k1 += kW1;
  }
  return c;
}

// Reorders sixteen outputs (word w of lane l in r.v[w]) into the stream order of four words per
// counter: out[q] holds lanes 4q .. 4q+3, words 0..3 each, i.e. stream elements 16q .. 16q+15.
V3D_TARGET_AVX512 inline void philox_interleave_x16(const Philox4x32x16& r, __m512i out[4]) {
  // Within each 128-bit block b: a 4x4 transpose gives counter 4b + j in t[j].
  const __m512i u0 = _mm512_unpacklo_epi32(r.v[0], r.v[1]);
  const __m512i u1 = _mm512_unpackhi_epi32(r.v[0], r.v[1]);
  const __m512i u2 = _mm512_unpacklo_epi32(r.v[2], r.v[3]);
  const __m512i u3 = _mm512_unpackhi_epi32(r.v[2], r.v[3]);
  const __m512i t0 = _mm512_unpacklo_epi64(u0, u2);  // counters 0, 4, 8, 12
  const __m512i t1 = _mm512_unpackhi_epi64(u0, u2);  // 1, 5, 9, 13
  const __m512i t2 = _mm512_unpacklo_epi64(u1, u3);  // 2, 6, 10, 14
  const __m512i t3 = _mm512_unpackhi_epi64(u1, u3);  // 3, 7, 11, 15
  // Then a 4x4 transpose of the 128-bit blocks.
  const __m512i a = _mm512_shuffle_i32x4(t0, t1, 0x44);  // 0, 4, 1, 5
  const __m512i b = _mm512_shuffle_i32x4(t2, t3, 0x44);  // 2, 6, 3, 7
  const __m512i c = _mm512_shuffle_i32x4(t0, t1, 0xEE);  // 8, 12, 9, 13
  const __m512i d = _mm512_shuffle_i32x4(t2, t3, 0xEE);  // 10, 14, 11, 15
  out[0] = _mm512_shuffle_i32x4(a, b, 0x88);             // 0, 1, 2, 3
  out[1] = _mm512_shuffle_i32x4(a, b, 0xDD);             // 4, 5, 6, 7
  out[2] = _mm512_shuffle_i32x4(c, d, 0x88);             // 8, 9, 10, 11
  out[3] = _mm512_shuffle_i32x4(c, d, 0xDD);             // 12, 13, 14, 15
}

// Array form for tests: counter[w][l] is word w of lane l's counter; out[16 * 4] receives the
// outputs in stream order (out[4 l + w] = word w of lane l).
V3D_TARGET_AVX512 inline void philox4x32_10_x16(const uint32_t counter[4][16], uint32_t k0,
                                                uint32_t k1, uint32_t out[64]) {
  Philox4x32x16 c;
  for (int w = 0; w < 4; ++w) c.v[w] = _mm512_loadu_si512(counter[w]);
  __m512i o[4];
  philox_interleave_x16(philox4x32_10_x16(c, k0, k1), o);
  for (int q = 0; q < 4; ++q) _mm512_storeu_si512(out + 16 * q, o[q]);
}

#else

inline bool philox_avx512_supported() { return false; }

#endif

}  // namespace v3d::kernels::cpu
