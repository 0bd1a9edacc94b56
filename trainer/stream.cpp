// Incremental causal inference (trainer/stream.h).
#include "trainer/stream.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <omp.h>

#include "kernels/common.h"
#include "kernels/float_round.h"
#include "runtime/temporal_conv.h"
#include "trainer/predict.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define V3D_STREAM_AVX512 1
#include <immintrin.h>
#else
#define V3D_STREAM_AVX512 0
#endif

namespace v3d {

StreamModel::StreamModel(const TemporalModel& model, const data::Skeleton& keypoints,
                         const data::Skeleton& joints, const StreamOptions& options)
    : folded_(model.fold_weights()),
      blocks_(folded_),
      keypoints_(&keypoints),
      joints_(&joints),
      options_(options),
      keypoint_flip_(keypoints.flip_permutation()),
      joint_flip_(joints.flip_permutation()),
      ltb_parents_(v3d::ltb_parents(keypoints)) {
  const TemporalModelConfig& mc = model.config();
  V3D_REQUIRE(mc.causal,
              "stream: the model is not causal (model.causal: false); streaming needs a model "
              "whose window ends at its frame");
  V3D_REQUIRE(model.device().is_cpu(), "stream: runs on the CPU, not on " << model.device().str());
  V3D_CHECK(mc.joints_in == keypoints.num_joints() && mc.features_in == 2 &&
                mc.joints_out == joints.num_joints(),
            "stream: the model takes " << mc.joints_in << " keypoints and predicts "
                                       << mc.joints_out << " joints; the layouts have "
                                       << keypoints.num_joints() << " and " << joints.num_joints());
  const bool bf16 = options_.bf16_weights, generic = options_.generic_products;
  if (bf16) {
    // Every convolution's weights rounded to bf16 (ties to even) in place, so that every path
    // (the many-window GEMM included) runs the same model; the products read bf16 copies.
    for (size_t k = 0; k < folded_.convs.size(); ++k) {
      Tensor& wt = folded_.convs[k].weight;
      float* p = wt.f32();
      for (int64_t e = 0; e < wt.numel(); ++e) p[e] = kernels::round_bf16(p[e]);
      folded_.prepared[k] = ops::prepare_temporal_conv(wt);
    }
  }
  // The products' layouts: block 0's convolution and the 1x1 ones whole; each later block's first
  // convolution as its last tap and its earlier taps, each contiguous (one stream of reads each).
  const int64_t c = blocks_.channels();
  full_.resize(folded_.convs.size());
  last_.resize(blocks_.size());
  early_.resize(blocks_.size());
  for (size_t k = 0; k < folded_.convs.size(); ++k) {
    const Tensor& wt = folded_.convs[k].weight;  // (C_out, C_in, K)
    const Tensor& tm = folded_.prepared[k].tap_major.defined() ? folded_.prepared[k].tap_major : wt;
    const int64_t c_out = wt.size(0), cols = wt.size(1) * wt.size(2);
    if (k % 2 == 1 && k + 1 < folded_.convs.size()) {  // block (k + 1) / 2's first convolution
      const size_t i = (k + 1) / 2;
      last_[i].assign(tm.f32(), c_out, c, cols, cols - c, 1, bf16, generic);
      early_[i].assign(tm.f32(), c_out, cols - c, cols, 0, (cols - c) / c, bf16, generic);
    } else {
      full_[k].assign(tm.f32(), c_out, cols, cols, 0, 1, bf16, generic);
    }
  }
  V3D_REQUIRE(options_.threads >= 0 && options_.threads <= 1024,
              "stream: threads " << options_.threads << " (0 for OpenMP's count, or 1 .. 1024)");
  V3D_REQUIRE(
      std::isfinite(options_.spin_ms) && options_.spin_ms >= 0.0 && options_.spin_ms <= 3.6e6,
      "stream: spin of " << options_.spin_ms << " ms (0 .. 3600000)");
  team_ = std::make_unique<SpinTeam>(
      options_.threads > 0 ? options_.threads : omp_get_max_threads(),
      std::chrono::microseconds(static_cast<int64_t>(options_.spin_ms * 1000.0)));
  options_.ltb_options.online = true;  // a stream has no future frames to bank
  options_.ltb_options.causal = true;
  if (options_.ltb) validate_ltb_options(options_.ltb_options);
}

kernels::PoseBankSettings StreamModel::bank_settings() const {
  return ltb_bank_settings(options_.ltb_options);
}

kernels::PoseFuseSettings StreamModel::fuse_settings() const {
  return ltb_fuse_settings(options_.ltb_options, radius());
}

namespace {

// Weight r of a row: float32, or bf16 bits widened (exact).
__attribute__((always_inline)) inline float weight(const float* w, int64_t r) { return w[r]; }
__attribute__((always_inline)) inline float weight(const uint16_t* w, int64_t r) {
  return kernels::bf16_to_float(w[r]);
}

// acc[q] = sum_r w[r] x[q * ldx + r] for the n <= kMatvecRows rows of x: one pass over the
// weight row w for all rows (two rows per pass over it).
template <class W>
__attribute__((always_inline)) inline void row_dots(const W* wr, const float* x, int64_t ldx,
                                                    int64_t n, int64_t k, float* acc) {
  if (n == 1) {
    float a0 = 0.0f;
#pragma omp simd reduction(+ : a0)
    for (int64_t r = 0; r < k; ++r) a0 += weight(wr, r) * x[r];
    acc[0] = a0;
    return;
  }
  for (int64_t q = 0; q + 1 < n; q += 2) {
    const float *x0 = x + q * ldx, *x1 = x + (q + 1) * ldx;
    float a0 = 0.0f, a1 = 0.0f;
#pragma omp simd reduction(+ : a0, a1)
    for (int64_t r = 0; r < k; ++r) {
      const float wv = weight(wr, r);
      a0 += wv * x0[r];
      a1 += wv * x1[r];
    }
    acc[q] = a0;
    acc[q + 1] = a1;
  }
  if (n % 2 == 1) {
    const float* xl = x + (n - 1) * ldx;
    float a0 = 0.0f;
#pragma omp simd reduction(+ : a0)
    for (int64_t r = 0; r < k; ++r) a0 += weight(wr, r) * xl[r];
    acc[n - 1] = a0;
  }
}

// Row co of y (n, c_out) = act(x (n, k) w^T + pre + b) + residual: w (c_out, k) row-major, x
// rows ldx floats apart; pre (n, c_out, or none): partial sums of the same convolution's other
// taps; residual: rows of res_stride floats, or none. The epilogue is the convolution's
// (kernels/temporal_conv.h, ConvEpilogue): bias, ReLU, then the residual.
template <class W>
__attribute__((always_inline)) inline void matvec_row(int64_t co, const W* w, const float* b,
                                                      const float* x, int64_t ldx, int64_t n,
                                                      int64_t k, int64_t c_out, const float* pre,
                                                      const float* residual, int64_t res_stride,
                                                      float* y) {
  float acc[StreamModel::kMatvecRows] = {};
  row_dots(w + co * k, x, ldx, n, k, acc);
  for (int64_t q = 0; q < n; ++q) {
    float v = acc[q] + (pre != nullptr ? pre[q * c_out + co] : 0.0f) + b[co];
    v = v > 0.0f ? v : 0.0f;
    if (residual != nullptr) v = residual[q * res_stride + co] + v;
    y[q * c_out + co] = v;
  }
}

// Row co of ys[s] (n, c_out) += x (n, k) w_s^T for the `segments` column blocks w_s (c_out, k)
// of w (c_out, segments * k): partial sums, no epilogue.
template <class W>
__attribute__((always_inline)) inline void matvec_add_row(int64_t co, const W* w, int64_t segments,
                                                          const float* x, int64_t ldx, int64_t n,
                                                          int64_t k, int64_t c_out,
                                                          float* const* ys) {
  for (int64_t sg = 0; sg < segments; ++sg) {
    float acc[StreamModel::kMatvecRows] = {};
    row_dots(w + (co * segments + sg) * k, x, ldx, n, k, acc);
    for (int64_t q = 0; q < n; ++q) ys[sg][q * c_out + co] += acc[q];
  }
}

// The products of output rows co0 .. co1 (the caller splits the rows between the stream's
// threads, SpinTeam), one pass over w for all n <= kMatvecRows rows of x, compiled for AVX-512,
// AVX2 and the baseline and picked at load time (the build targets the baseline x86-64): the
// portable form; where the CPU has AVX-512, the tiles below run instead.
#define V3D_STREAM_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
// clang-format off
#define V3D_STREAM_MATVEC(W)                                                                     \
  V3D_STREAM_CLONES void matvec(const W* w, const float* b, const float* x, int64_t ldx,        \
                                int64_t n, int64_t k, int64_t c_out, const float* pre,          \
                                const float* residual, int64_t res_stride, float* y,            \
                                int64_t co0, int64_t co1) {                                     \
    for (int64_t co = co0; co < co1; ++co)                                                      \
      matvec_row(co, w, b, x, ldx, n, k, c_out, pre, residual, res_stride, y);                  \
  }                                                                                             \
  V3D_STREAM_CLONES void matvec_add(const W* w, int64_t segments, const float* x, int64_t ldx,  \
                                    int64_t n, int64_t k, int64_t c_out, float* const* ys,      \
                                    int64_t co0, int64_t co1) {                                 \
    for (int64_t co = co0; co < co1; ++co)                                                      \
      matvec_add_row(co, w, segments, x, ldx, n, k, c_out, ys);                                 \
  }
// clang-format on
V3D_STREAM_MATVEC(float)
V3D_STREAM_MATVEC(uint16_t)
#undef V3D_STREAM_MATVEC
#undef V3D_STREAM_CLONES

#if V3D_STREAM_AVX512
// The AVX-512 products read the weights packed for them (StreamModel::Rows): rows in groups of 4
// (zero rows pad the last group), each row's segments (see matvec_add) cut in chunks of 16 (zeros
// pad a segment's last chunk), and a group's 4 rows interleaved chunk by chunk, so that a group's
// segment is one contiguous stream of reads. A tile of the 4 rows by Q rows of x keeps 4 Q
// independent accumulators and loads (and widens from bf16) each weight once per Q rows of x: a
// few rows (a plain frame) are bound by the memory, the many rows of a fused window's tree by the
// FMAs, where the compiler's one-row SIMD dots above waited on each FMA's latency.
#define V3D_AVX512 __attribute__((target("avx512f")))
// GCC 12 sees the intrinsics' own undefined-vector idiom (a variable initialised from itself, in
// _mm512_cvtepu16_epi32 and _mm512_reduce_add_ps) as a read of an uninitialised value.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

V3D_AVX512 inline __m512 load16(const float* w) { return _mm512_loadu_ps(w); }
V3D_AVX512 inline __m512 load16(const uint16_t* w) {
  // bf16 bits are the high half of the float32 bits: widen, shift, reinterpret (exact).
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// acc[r * Q + q] += sum_e w_r[e] x[q * ldx + e] over e < k, for the 4 rows of a packed group's
// segment p (chunks of 4 x 16), lanes summed last. x is read up to k only (a masked last chunk),
// so the padding's zeros meet zeros. Nta: the weights are prefetched 16 chunks ahead as
// non-temporal (PREFETCHNTA), for the products off the frame's path (prepare_next): read once
// per frame, they then displace less of the caches that the next frame's own weights could be
// found in (measured on AMD Zen 4 at 50 fps: a frame's compute 0.82-0.91 ms with them against
// 0.94-1.19 ms without, RESULTS.md).
template <class W, int Q, bool Nta>
V3D_AVX512 void tile_dots(const W* p, const float* x, int64_t ldx, int64_t k, float* acc) {
  __m512 a[4][Q];
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r)
#pragma GCC unroll 4
    for (int q = 0; q < Q; ++q) a[r][q] = _mm512_setzero_ps();
  const int64_t chunks = (k + 15) / 16;
  for (int64_t c = 0; c < chunks; ++c, p += 64) {
    if constexpr (Nta) {  // a prefetch past the array's end is harmless (it never faults)
      const char* ahead = reinterpret_cast<const char*>(p + 64 * 16);
#pragma GCC unroll 4
      for (size_t line = 0; line < 64 * sizeof(W); line += 64)
        _mm_prefetch(ahead + line, _MM_HINT_NTA);
    }
    const int64_t e = 16 * c;
    const __mmask16 in = k - e >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << (k - e)) - 1u);
    __m512 wv[4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) wv[r] = load16(p + 16 * r);
#pragma GCC unroll 4
    for (int q = 0; q < Q; ++q) {
      const __m512 xv = _mm512_maskz_loadu_ps(in, x + q * ldx + e);
#pragma GCC unroll 4
      for (int r = 0; r < 4; ++r) a[r][q] = _mm512_fmadd_ps(wv[r], xv, a[r][q]);
    }
  }
  // Unrolled as every loop over a (else the accumulators live on the stack).
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r)
#pragma GCC unroll 4
    for (int q = 0; q < Q; ++q) acc[r * Q + q] += _mm512_reduce_add_ps(a[r][q]);
}

// acc[r * kMatvecRows + q] += the dots of a group's segment p with the n <= kMatvecRows rows of
// x: tiles of 4 rows of x, then 2, then 1.
template <class W, bool Nta = false>
V3D_AVX512 void group_dots(const W* p, const float* x, int64_t ldx, int64_t n, int64_t k,
                           float* acc) {
  constexpr int64_t m = StreamModel::kMatvecRows;
  int64_t q = 0;
  const auto tile = [&]<int Q>() {
    float t[4 * Q] = {};
    tile_dots<W, Q, Nta>(p, x + q * ldx, ldx, k, t);
    for (int r = 0; r < 4; ++r)
      for (int j = 0; j < Q; ++j) acc[r * m + q + j] += t[r * Q + j];
    q += Q;
  };
  while (q + 4 <= n) tile.template operator()<4>();
  if (n - q >= 2) tile.template operator()<2>();
  if (n - q == 1) tile.template operator()<1>();
}

// As matvec above on packed weights p, for the groups g0 .. g1 (output rows 4 g0 .. 4 g1): all
// `segments` segments of a row summed, segment s with columns s k .. (s + 1) k of x.
template <class W>
V3D_AVX512 void matvec_avx512(const W* p, int64_t segments, const float* b, const float* x,
                              int64_t ldx, int64_t n, int64_t k, int64_t c_out, const float* pre,
                              const float* residual, int64_t res_stride, float* y, int64_t g0,
                              int64_t g1) {
  constexpr int64_t m = StreamModel::kMatvecRows;
  const int64_t seg = 64 * ((k + 15) / 16);
  for (int64_t g = g0; g < g1; ++g) {
    float acc[4 * m] = {};
    for (int64_t s = 0; s < segments; ++s)
      group_dots(p + (g * segments + s) * seg, x + s * k, ldx, n, k, acc);
    for (int64_t co = 4 * g; co < std::min(c_out, 4 * g + 4); ++co)
      for (int64_t q = 0; q < n; ++q) {
        float v = acc[(co - 4 * g) * m + q] + (pre != nullptr ? pre[q * c_out + co] : 0.0f) + b[co];
        v = v > 0.0f ? v : 0.0f;
        if (residual != nullptr) v = residual[q * res_stride + co] + v;
        y[q * c_out + co] = v;
      }
  }
}

// As matvec_add above on packed weights p, for the groups g0 .. g1: split, ys[s] += the products
// of segment s with x (k columns); else ys[0] += the products of whole rows, segment s with
// columns s k .. (s + 1) k.
template <class W>
V3D_AVX512 void matvec_add_avx512(const W* p, int64_t segments, bool split, const float* x,
                                  int64_t ldx, int64_t n, int64_t k, int64_t c_out,
                                  float* const* ys, int64_t g0, int64_t g1) {
  constexpr int64_t m = StreamModel::kMatvecRows;
  const int64_t seg = 64 * ((k + 15) / 16);
  for (int64_t g = g0; g < g1; ++g) {
    float acc[4 * m] = {};
    for (int64_t s = 0; s < segments; ++s) {
      if (split) {  // prepare_next's products
        group_dots<W, true>(p + (g * segments + s) * seg, x, ldx, n, k, acc);
      } else {
        group_dots(p + (g * segments + s) * seg, x + s * k, ldx, n, k, acc);
      }
      if (!split && s + 1 < segments) continue;
      float* y = ys[split ? s : 0];
      for (int64_t co = 4 * g; co < std::min(c_out, 4 * g + 4); ++co)
        for (int64_t q = 0; q < n; ++q) {
          float& a = acc[(co - 4 * g) * m + q];
          y[q * c_out + co] += a;
          a = 0.0f;
        }
    }
  }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#undef V3D_AVX512

bool avx512_products(bool generic) {
  static const bool has = __builtin_cpu_supports("avx512f") != 0;
  return has && !generic;
}
#else
bool avx512_products(bool) { return false; }
#endif

// f(begin, end) over 0 .. units (groups of output rows) on the team's threads, or on this one for
// a product of fewer than 64 K weights (not worth the hand-off).
template <class F>
void split_rows(SpinTeam& team, int64_t weights, int64_t units, F&& f) {
  if (weights >= (1 << 16)) {
    team.parallel_for(units, f);
  } else {
    f(int64_t{0}, units);
  }
}

}  // namespace

const char* stream_products(bool generic_products) {
  return avx512_products(generic_products) ? "AVX-512 tiles" : "portable";
}

const char* StreamModel::products() const { return stream_products(options_.generic_products); }

void StreamModel::Rows::assign(const float* w, int64_t rows, int64_t cols, int64_t ld, int64_t col0,
                               int64_t segments, bool bf16, bool generic) {
  V3D_CHECK(segments >= 1 && cols % segments == 0,
            "stream: " << cols << " columns in " << segments << " segments");
  cols_ = cols;
  segments_ = segments;
  avx512_ = avx512_products(generic);
  f32.clear();
  h16.clear();
  const int64_t size =
      avx512_ ? (rows + 3) / 4 * 4 * segments * ((cols / segments + 15) / 16 * 16) : rows * cols;
  if (bf16) {
    h16.reserve(static_cast<size_t>(size));
  } else {
    f32.reserve(static_cast<size_t>(size));
  }
  const auto put = [&](float v) {
    if (bf16) {
      h16.push_back(kernels::bf16_bits(v));
    } else {
      f32.push_back(v);
    }
  };
  if (!avx512_) {  // row-major
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t e = 0; e < cols; ++e) put(w[r * ld + col0 + e]);
    return;
  }
  // Packed for the AVX-512 tiles (see matvec_avx512): groups of 4 rows, per group each segment's
  // chunks of 16 columns, the 4 rows' chunks one after the other; zeros pad rows and chunks.
  const int64_t k = cols / segments;
  for (int64_t g = 0; g < (rows + 3) / 4; ++g)
    for (int64_t s = 0; s < segments; ++s)
      for (int64_t e0 = 0; e0 < k; e0 += 16)
        for (int64_t r = 4 * g; r < 4 * g + 4; ++r)
          for (int64_t e = e0; e < e0 + 16; ++e)
            put(r < rows && e < k ? w[r * ld + col0 + s * k + e] : 0.0f);
}

void StreamModel::Rows::matvec(SpinTeam& team, const float* b, const float* x, int64_t ldx,
                               int64_t n, int64_t c_out, const float* pre, const float* residual,
                               int64_t res_stride, float* y) const {
  V3D_CHECK(n >= 1 && n <= StreamModel::kMatvecRows, "stream: matvec of " << n << " rows");
  const auto run = [&](int64_t units, auto&& f) { split_rows(team, c_out * cols_, units, f); };
#if V3D_STREAM_AVX512
  if (avx512_) {
    const int64_t k = cols_ / segments_;
    run((c_out + 3) / 4, [&](int64_t g0, int64_t g1) {
      if (!h16.empty()) {
        matvec_avx512(h16.data(), segments_, b, x, ldx, n, k, c_out, pre, residual, res_stride, y,
                      g0, g1);
      } else {
        matvec_avx512(f32.data(), segments_, b, x, ldx, n, k, c_out, pre, residual, res_stride, y,
                      g0, g1);
      }
    });
    return;
  }
#endif
  run(c_out, [&](int64_t co0, int64_t co1) {
    if (!h16.empty()) {
      v3d::matvec(h16.data(), b, x, ldx, n, cols_, c_out, pre, residual, res_stride, y, co0, co1);
    } else {
      v3d::matvec(f32.data(), b, x, ldx, n, cols_, c_out, pre, residual, res_stride, y, co0, co1);
    }
  });
}

void StreamModel::Rows::matvec_add(SpinTeam& team, int64_t segments, const float* x, int64_t ldx,
                                   int64_t n, int64_t c_out, float* const* ys) const {
  V3D_CHECK(n >= 1 && n <= StreamModel::kMatvecRows, "stream: matvec of " << n << " rows");
  V3D_CHECK(segments == 1 || segments == segments_,
            "stream: products in " << segments << " segments of weights cut in " << segments_);
  const auto run = [&](int64_t units, auto&& f) { split_rows(team, c_out * cols_, units, f); };
#if V3D_STREAM_AVX512
  if (avx512_) {
    const bool split = segments > 1;
    const int64_t k = cols_ / segments_;
    run((c_out + 3) / 4, [&](int64_t g0, int64_t g1) {
      if (!h16.empty()) {
        matvec_add_avx512(h16.data(), segments_, split, x, ldx, n, k, c_out, ys, g0, g1);
      } else {
        matvec_add_avx512(f32.data(), segments_, split, x, ldx, n, k, c_out, ys, g0, g1);
      }
    });
    return;
  }
#endif
  const int64_t k = cols_ / segments;
  run(c_out, [&](int64_t co0, int64_t co1) {
    if (!h16.empty()) {
      v3d::matvec_add(h16.data(), segments, x, ldx, n, k, c_out, ys, co0, co1);
    } else {
      v3d::matvec_add(f32.data(), segments, x, ldx, n, k, c_out, ys, co0, co1);
    }
  });
}

void StreamModel::window(size_t i, const float* x, int64_t n, float* y) const {
  const int64_t w = blocks_.width(i), ci = blocks_.inputs(i), c = blocks_.channels();
  if (n > kMatvecRows) {
    const Tensor in = Tensor::from_vector(std::vector<float>(x, x + n * w * ci), {n, w, ci});
    const Tensor out = blocks_.window(i, in);
    std::copy(out.f32(), out.f32() + n * c, y);
    return;
  }
  if (i == 0) {
    full_[0].matvec(*team_, folded_.convs[0].bias.f32(), x, w * ci, n, c, nullptr, nullptr, 0, y);
    return;
  }
  // The earlier taps' products, then the last tap's with them (last_tap).
  std::vector<float> pre(static_cast<size_t>(n * c), 0.0f);
  float* ys[] = {pre.data()};
  if (w > 1) early_[i].matvec_add(*team_, 1, x, w * ci, n, c, ys);
  last_tap(i, x + (w - 1) * ci, w * ci, pre.data(), n, y);
}

void StreamModel::last_tap(size_t i, const float* x, int64_t ldx, const float* pre, int64_t n,
                           float* y) const {
  V3D_CHECK(i > 0 && i < blocks_.size() && n <= kMatvecRows,
            "stream: last_tap of block " << i << " on " << n << " rows");
  const int64_t c = blocks_.channels();
  const size_t k = 2 * i - 1;
  std::vector<float> h(static_cast<size_t>(n * c));
  last_[i].matvec(*team_, folded_.convs[k].bias.f32(), x, ldx, n, c, pre, nullptr, 0, h.data());
  // The 1x1 convolution, its residual the last tap's rows.
  full_[k + 1].matvec(*team_, folded_.convs[k + 1].bias.f32(), h.data(), c, n, c, nullptr, x, ldx,
                      y);
}

void StreamModel::add_early_taps(size_t i, const float* x, int64_t n, float* const* acc) const {
  const int64_t w = blocks_.width(i), c = blocks_.channels();
  V3D_CHECK(i > 0 && i < blocks_.size() && n <= kMatvecRows,
            "stream: the early taps of block " << i << " on " << n << " rows");
  if (w > 1) early_[i].matvec_add(*team_, w - 1, x, c, n, c, acc);
}

TrackStream::TrackStream(const StreamModel& model) : m_(&model) {
  const DilatedBlocks& net = model.blocks();
  rf_ = net.receptive_field();
  channels_.push_back(net.in_channels());
  for (size_t i = 0; i < net.size(); ++i) {
    width_.push_back(net.width(i));
    dilation_.push_back(net.dilation(i));
    channels_.push_back(net.channels());
  }
  for (const int64_t c : channels_)
    rings_.emplace_back(static_cast<size_t>(model.copies() * rf_ * c), 0.0f);
  pending_.assign(
      net.size(),
      std::vector<float>(static_cast<size_t>(model.copies() * rf_ * net.channels()), 0.0f));
  if (model.options().ltb) {
    kernels::PoseSkeleton sk;
    sk.joints = model.keypoints();
    sk.parents = model.ltb_parents().data();
    sk.center = model.options().ltb_options.center;
    bank_ = std::make_unique<kernels::cpu::PoseBankStream>(sk, model.bank_settings(),
                                                           model.fuse_settings());
  }
}

TrackStream::~TrackStream() = default;

float* TrackStream::ring(size_t level, int64_t cp, int64_t e) {
  // Positions before the first frame share the slots of the padding, which the first frame
  // filled; a position is overwritten only once no tap reads it any more (taps span < RF).
  const int64_t slot = ((e % rf_) + rf_) % rf_;
  return rings_[level].data() + (cp * rf_ + slot) * channels_[level];
}

float* TrackStream::pending(size_t i, int64_t e) {
  return pending_[i].data() + (e % rf_) * m_->copies() * channels_[i + 1];
}

void TrackStream::prepare_next() {
  if (!deferred_) return;
  deferred_ = false;
  const int64_t t = frames_ - 1, copies = m_->copies();
  for (size_t i = 1; i < width_.size(); ++i) {
    const int64_t w = width_[i], d = dilation_[i], c = channels_[i];
    float* own = pending(i, t);  // consumed by frame t: the slot of frame t + RF from now on
    std::fill(own, own + copies * c, 0.0f);
    if (w == 1) continue;
    scratch_last_.resize(static_cast<size_t>(copies * c));
    for (int64_t cp = 0; cp < copies; ++cp) {
      const float* src = ring(i, cp, t);
      std::copy(src, src + c, scratch_last_.begin() + cp * c);
    }
    // Frame t is tap `tap` of frame t + (W - 1 - tap) d; frame 0 is also that tap of frames
    // 1 .. (W - 1 - tap) d - 1, as the edge padding before it.
    std::vector<float*> acc(static_cast<size_t>(w - 1));
    std::vector<std::vector<float>> part;
    for (int64_t tap = 0; tap + 1 < w; ++tap) {
      if (t > 0) {
        acc[static_cast<size_t>(tap)] = pending(i, t + (w - 1 - tap) * d);
      } else {
        part.emplace_back(static_cast<size_t>(copies * c), 0.0f);
        acc[static_cast<size_t>(tap)] = part.back().data();
      }
    }
    m_->add_early_taps(i, scratch_last_.data(), copies, acc.data());
    for (size_t tap = 0; tap < part.size(); ++tap) {
      const int64_t lag = (w - 1 - static_cast<int64_t>(tap)) * d;
      for (int64_t e = 1; e <= lag; ++e) {
        float* dst = pending(i, e);
        for (int64_t v = 0; v < copies * c; ++v) dst[v] += part[tap][static_cast<size_t>(v)];
      }
    }
  }
}

void TrackStream::push_input(std::span<const float> pose) {
  const int64_t t = frames_, c0 = channels_[0];
  const int kp = m_->keypoints();
  for (int64_t cp = 0; cp < m_->copies(); ++cp) {
    float* dst = ring(0, cp, t);
    if (cp == 0) {
      std::copy(pose.begin(), pose.end(), dst);
    } else {
      // The mirrored input: x negated, keypoint j from its mirror (data::flip_poses).
      const std::vector<int>& perm = m_->keypoint_flip();
      for (int j = 0; j < kp; ++j) {
        dst[j * 2] = -pose[static_cast<size_t>(perm[static_cast<size_t>(j)] * 2)];
        dst[j * 2 + 1] = pose[static_cast<size_t>(perm[static_cast<size_t>(j)] * 2 + 1)];
      }
    }
    if (t == 0)  // the edge padding: RF - 1 copies of frame 0 before it
      for (int64_t e = 1; e < rf_; ++e) std::copy(dst, dst + c0, ring(0, cp, e));
  }
}

void TrackStream::columns(const std::vector<int32_t>* map, std::vector<float>& head_in,
                          StreamStep& st) {
  const DilatedBlocks& net = m_->blocks();
  const int64_t t = frames_, copies = m_->copies(), c = net.channels();
  const size_t layers = net.size();
  const int kp = m_->keypoints();
  // A fused window's tree (see the file comment): node u of block i covers window slots
  // [u rf_i, (u + 1) rf_i). reuse: the ring position whose column saw exactly those slots (the
  // frames before 0 being frame 0, the edge padding), -1 if none; compute: the nodes evaluated,
  // every root and the children of a computed node.
  std::vector<int64_t> nodes(layers, 0);
  std::vector<std::vector<int64_t>> reuse(layers), compute(layers);
  if (map != nullptr) {
    std::vector<int64_t> rf(layers);
    std::vector<std::vector<char>> need(layers);
    for (size_t i = 0; i < layers; ++i) {
      rf[i] = net.receptive_field(i);
      nodes[i] = rf_ / rf[i];
      need[i].assign(static_cast<size_t>(nodes[i]), 0);
      reuse[i].assign(static_cast<size_t>(nodes[i]), -1);
    }
    auto ring_position = [&](size_t i, int64_t u) -> int64_t {
      const int32_t* s = map->data() + u * rf[i];
      const int64_t e = s[rf[i] - 1];
      if (e > t || e < t - rf_ + 1) return -1;
      for (int64_t k = 0; k < rf[i]; ++k)
        if (s[k] != std::max<int64_t>(e - (rf[i] - 1) + k, 0)) return -1;
      return e;
    };
    need[layers - 1][0] = 1;
    for (size_t i = layers; i-- > 0;) {
      for (int64_t u = 0; u < nodes[i]; ++u) {
        if (!need[i][static_cast<size_t>(u)]) continue;
        if (i + 1 < layers) reuse[i][static_cast<size_t>(u)] = ring_position(i, u);
        if (reuse[i][static_cast<size_t>(u)] >= 0) {
          st.reused += 1;
          continue;
        }
        compute[i].push_back(u);
        if (i > 0)
          for (int64_t k = 0; k < width_[i]; ++k)
            need[i - 1][static_cast<size_t>(u * width_[i] + k)] = 1;
      }
    }
  }
  // Block by block, one call over (copies x (plain + n), W_i, C_i) rows, so the weights are read
  // once per block: first each copy's plain column at t (its ring; a fused frame's last block
  // has none, its root replaces it), then each copy's computed tree nodes.
  std::vector<float> below, here;  // the tree's node values of the previous / current block
  for (size_t i = 0; i < layers; ++i) {
    const int64_t w = width_[i], d = dilation_[i], ci = channels_[i];
    const int64_t plain = map != nullptr && i + 1 == layers ? 0 : 1;
    // After the first frame, a plain column of block i > 0 takes its earlier taps' products from
    // the pending sums (prepare_next) and multiplies only its last tap here, unless tree nodes
    // read the block's whole weights anyway.
    const int64_t n = static_cast<int64_t>(compute[i].size());
    const bool split = i > 0 && t > 0 && plain == 1 && n == 0;
    const int64_t whole = split ? 0 : plain;  // plain columns through the whole window
    const int64_t rows = copies * (whole + n);
    std::vector<float>& xs = scratch_x_;
    xs.resize(static_cast<size_t>(rows * w * ci));
    for (int64_t cp = 0; cp < copies; ++cp) {
      for (int64_t k = 0; k < w && whole == 1; ++k) {
        const float* src = ring(i, cp, t - (w - 1 - k) * d);
        std::copy(src, src + ci, xs.begin() + (cp * w + k) * ci);
      }
      for (int64_t q = 0; q < n; ++q) {
        const int64_t u = compute[i][static_cast<size_t>(q)];
        for (int64_t k = 0; k < w; ++k) {
          float* dst = xs.data() + ((copies * whole + cp * n + q) * w + k) * ci;
          if (i > 0) {
            const float* src = below.data() + (cp * nodes[i - 1] + u * w + k) * c;
            std::copy(src, src + c, dst);
            continue;
          }
          // Block 0 reads the 2D pose of the slot's frame (mirrored for the second copy).
          const float* p =
              poses_.data() + static_cast<int64_t>((*map)[static_cast<size_t>(u * w + k)]) * ci;
          const std::vector<int>& perm = m_->keypoint_flip();
          for (int j = 0; j < kp; ++j) {
            const int from = cp == 0 ? j : perm[static_cast<size_t>(j)];
            dst[j * 2] = cp == 0 ? p[from * 2] : -p[from * 2];
            dst[j * 2 + 1] = p[from * 2 + 1];
          }
        }
      }
    }
    scratch_y_.resize(static_cast<size_t>(copies * (plain + n) * c));  // plain, then tree rows
    if (split) {
      scratch_last_.resize(static_cast<size_t>(copies * ci));
      for (int64_t cp = 0; cp < copies; ++cp) {
        const float* src = ring(i, cp, t);
        std::copy(src, src + ci, scratch_last_.begin() + cp * ci);
      }
      m_->last_tap(i, scratch_last_.data(), ci, pending(i, t), copies, scratch_y_.data());
    }
    if (rows > 0) m_->window(i, xs.data(), rows, scratch_y_.data() + copies * (plain - whole) * c);
    const float* yp = scratch_y_.data();
    st.computed += plain + n;
    for (int64_t cp = 0; cp < copies && plain == 1; ++cp) {
      float* dst = ring(i + 1, cp, t);
      std::copy(yp + cp * c, yp + (cp + 1) * c, dst);
      if (t == 0)  // the padding's columns: those of the constant input
        for (int64_t e = 1; e < rf_; ++e) std::copy(dst, dst + c, ring(i + 1, cp, e));
    }
    if (map == nullptr) continue;
    here.assign(static_cast<size_t>(copies * nodes[i] * c), 0.0f);
    for (int64_t u = 0; u < nodes[i]; ++u) {
      const int64_t e = reuse[i][static_cast<size_t>(u)];
      if (e < 0) continue;
      for (int64_t cp = 0; cp < copies; ++cp) {
        const float* src = ring(i + 1, cp, e);
        std::copy(src, src + c, here.begin() + (cp * nodes[i] + u) * c);
      }
    }
    for (int64_t cp = 0; cp < copies; ++cp)
      for (int64_t q = 0; q < n; ++q) {
        const float* src = yp + (copies * plain + cp * n + q) * c;
        const int64_t u = compute[i][static_cast<size_t>(q)];
        std::copy(src, src + c, here.begin() + (cp * nodes[i] + u) * c);
      }
    below.swap(here);
  }
  // The head's input: the last block's plain column, or the fused window's root.
  for (int64_t cp = 0; cp < copies; ++cp) {
    const float* h = map == nullptr ? ring(layers, cp, t) : below.data() + cp * c;
    std::copy(h, h + c, head_in.begin() + cp * c);
  }
}

std::vector<float> TrackStream::push(std::span<const float> pose, StreamStep* step) {
  const int kp = m_->keypoints();
  V3D_CHECK(static_cast<int64_t>(pose.size()) == int64_t{kp} * 2,
            "stream: a frame of " << pose.size() << " values for " << kp << " keypoints");
  // As the batch bank refuses them (kLtbMaxCoordinate), before anything of the track changes.
  for (size_t i = 0; i < pose.size(); ++i)
    V3D_REQUIRE(std::isfinite(pose[i]) && std::fabs(pose[i]) <= kLtbMaxCoordinate,
                "keypoint " << i / 2 << ": normalised coordinate " << pose[i]
                            << " (expected a finite magnitude <= " << kLtbMaxCoordinate << ")");
  prepare_next();
  StreamStep st;
  st.frame = frames_;
  std::vector<int32_t> map;
  if (bank_ != nullptr) {
    poses_.insert(poses_.end(), pose.begin(), pose.end());
    map.resize(static_cast<size_t>(rf_));
    st.fused = bank_->push(poses_.data(), map.data()) > 0;
    st.bank_size = bank_->bank_size();
  }
  push_input(pose);
  const DilatedBlocks& net = m_->blocks();
  const int64_t copies = m_->copies(), c = net.channels();
  std::vector<float> head_in(static_cast<size_t>(copies * c));
  columns(st.fused ? &map : nullptr, head_in, st);
  ++frames_;
  deferred_ = true;
  const Tensor h = Tensor::from_vector(head_in, {copies, 1, c}, Device::cpu());
  const std::vector<float> y = net.head(h).to_vector();  // (copies, J_out * 3)
  const int64_t out_row = int64_t{m_->joints()} * 3;
  std::vector<float> out(y.begin(), y.begin() + out_row);
  if (copies == 2) average_flipped(y.data(), y.data() + out_row, 1, m_->joint_flip(), out.data());
  if (step != nullptr) *step = st;
  return out;
}

}  // namespace v3d
