// CPU backend of kernels/temporal_conv.h: every pass is one OpenBLAS sgemm over the im2col matrix
// X_col (B*T_out, K*C_in), with r = k*C_in + ci.
//
// When each X_col row is contiguous in x (d = 1 or K = 1) and the rows are equally spaced (the
// strided training form s >= K with T_in = T_out*s, a single output frame, or batch 1), X_col is a
// strided view of x with leading dimension ld: no copy at all. The 27-frame training model's layers
// (expand 27 -> 9, blocks 9 -> 3 -> 1, pointwise, shrink) all take this path. Otherwise (the
// dilated inference convs) X_col is gathered into a per-thread scratch buffer that is reused across
// calls. The weights are permuted to W_perm (C_out, K, C_in) per call (a C_out*K*C_in copy, small
// next to the GEMM's 2*B*T_out*C_out*K*C_in flops); K = 1 needs no permutation.
//
// The copies (permutation, im2col, col2im) are memory-bound and deliberately serial: OpenBLAS runs
// its own pthreads, and libgomp's workers spin after an OpenMP region, taking the cores from the
// sgemm that follows (measured on the 27-frame expand conv, 2 cores: 57% of sgemm's GFLOP/s after
// an OpenMP permutation, 97% with OMP_WAIT_POLICY=passive or with a serial one).
#include <omp.h>
#include <algorithm>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "kernels/float_round.h"
#include "kernels/gemm.h"
#include "kernels/gemm_kernel.h"
#include "kernels/temporal_conv.h"
#include "kernels/temporal_conv_lt.h"
#include "kernels/temporal_conv_tc_layout.h"

namespace v3d::kernels {

void TemporalConvShape::validate(const char* op) const {
  V3D_CHECK(batch >= 1 && c_in >= 1 && c_out >= 1,
            op << ": sizes must be positive, got batch=" << batch << " c_in=" << c_in
               << " c_out=" << c_out);
  V3D_CHECK(k >= 1 && dilation >= 1 && stride >= 1,
            op << ": kernel width, dilation and stride must be >= 1, got k=" << k
               << " dilation=" << dilation << " stride=" << stride);
  V3D_CHECK(t_in >= receptive_field(), op << ": sequence of " << t_in
                                          << " frames is shorter than the receptive field "
                                          << receptive_field() << " = (k-1)*dilation+1 (k=" << k
                                          << ", dilation=" << dilation << ")");
  V3D_CHECK(epilogue.residual == nullptr || epilogue.residual_batch_stride >= t_out() * c_out,
            op << ": the residual's sequences are " << epilogue.residual_batch_stride
               << " floats apart, fewer than the " << t_out() * c_out << " of an output sequence");
}

namespace {
void require_no_epilogue(const TemporalConvShape& s, const char* op) {
  V3D_CHECK(!s.epilogue.any(), op << ": only the forward pass takes an epilogue");
}
}  // namespace

void TemporalConvBwdDataArgs::validate(const char* op) const {
  TemporalConvShape::validate(op);
  require_no_epilogue(*this, op);
}

void TemporalConvBwdWeightArgs::validate(const char* op) const {
  TemporalConvShape::validate(op);
  require_no_epilogue(*this, op);
}

namespace {
void require_bf16(const TemporalConvShape& s, const char* op) {
  V3D_CHECK(s.math == ConvMath::kBf16,
            op << ": x is given in BF16, so the arithmetic must be BF16");
}
}  // namespace

void TemporalConvBf16Args::validate(const char* op) const {
  TemporalConvShape::validate(op);
  require_bf16(*this, op);
}

void TemporalConvBwdDataBf16Args::validate(const char* op) const {
  TemporalConvShape::validate(op);
  require_no_epilogue(*this, op);
  require_bf16(*this, op);
}

void TemporalConvBwdWeightBf16Args::validate(const char* op) const {
  TemporalConvShape::validate(op);
  require_no_epilogue(*this, op);
  require_bf16(*this, op);
}

void TemporalConvWeightsArgs::validate(const char* op) const {
  V3D_CHECK(c_out >= 1 && c_in >= 1 && k >= 1, op << ": sizes must be positive, got c_out=" << c_out
                                                  << " c_in=" << c_in << " k=" << k);
}

TemporalConvSplit temporal_conv_weight_split(const TemporalConvShape& shape) {
  // Enough blocks for about two waves on a 132-SM GPU, but at least 16 reduction slices per split
  // so that the partial sums stay a small fraction of the work.
  constexpr int64_t kTargetBlocks = 264, kMinRowsPerSplit = 16 * kTemporalConvSlice,
                    kMaxSplits = 64;
  const int64_t tile = kTemporalConvTile;
  const int64_t tiles = ((shape.c_out + tile - 1) / tile) * ((shape.reduction() + tile - 1) / tile);
  const int64_t rows = shape.rows();
  int64_t splits = std::min({(kTargetBlocks + tiles - 1) / tiles,
                             (rows + kMinRowsPerSplit - 1) / kMinRowsPerSplit, kMaxSplits});
  splits = std::max<int64_t>(splits, 1);
  int64_t chunk = (rows + splits - 1) / splits;
  // Whole slices: of 16 rows, or of 32 where the tensor cores stage BF16 (two MMA steps a slice).
  const int64_t slice = temporal_conv_tc_bf16_staged(shape, TemporalConvPass::kBackwardWeight)
                            ? 2 * kTemporalConvSlice
                            : kTemporalConvSlice;
  chunk = (chunk + slice - 1) / slice * slice;
  return {(rows + chunk - 1) / chunk, chunk};
}

bool temporal_conv_tc_wide(const TemporalConvShape& shape, TemporalConvPass pass) {
  if (shape.tile == ConvTile::kNarrow || shape.tile == ConvTile::kWide) {
    return shape.tile == ConvTile::kWide;
  }
  constexpr int64_t kTileM = kTcTileM, kWideN = kTcWideTileN, kMinBlocks = 264;
  const auto tiles = [](int64_t n, int64_t tile) { return (n + tile - 1) / tile; };
  int64_t m = 0, n = 0, splits = 1;  // the pass's GEMM (kernels/cuda/temporal_conv_tc.cu)
  switch (pass) {
    case TemporalConvPass::kForward:
      m = shape.rows(), n = shape.c_out;
      break;
    case TemporalConvPass::kBackwardData:
      m = shape.disjoint_windows() ? shape.rows() : shape.batch * shape.t_in;
      n = shape.disjoint_windows() ? shape.reduction() : shape.c_in;
      break;
    case TemporalConvPass::kBackwardWeight:
      m = shape.c_out, n = shape.reduction();
      splits = temporal_conv_weight_split(shape).splits;
      break;
  }
  return tiles(m, kTileM) * tiles(n, kWideN) * splits >= kMinBlocks;
}

bool temporal_conv_wgmma_shape(const TemporalConvShape& shape, TemporalConvPass pass) {
  if (shape.backend != ConvBackend::kV3d || shape.math == ConvMath::kFp32) return false;
  const int64_t per_tile = shape.math == ConvMath::kBf16 ? 64 : 32;
  switch (pass) {
    case TemporalConvPass::kForward:
      return shape.c_in % per_tile == 0;
    case TemporalConvPass::kBackwardData:
      return shape.c_out % per_tile == 0 && (shape.disjoint_windows() || shape.stride == 1);
    case TemporalConvPass::kBackwardWeight:
      // BF16: MN-major operands, which only 16-bit types can be, in runs of 64 columns within one
      // tap. TF32: transposed copies, any channels.
      return shape.math == ConvMath::kTf32 || (shape.c_in % 64 == 0 && shape.c_out % 8 == 0);
  }
  return false;
}

TemporalConvWgmmaWeightLayout temporal_conv_wgmma_weight_layout(const TemporalConvShape& shape) {
  const TemporalConvSplit split = temporal_conv_weight_split(shape);
  TemporalConvWgmmaWeightLayout l;
  l.rows_pad = (shape.rows() + 3) / 4 * 4;
  const int64_t partials = split.splits > 1 ? split.splits * shape.c_out * shape.reduction() : 0;
  l.dy_offset = (partials + 3) / 4 * 4;
  l.x_offset = l.dy_offset + shape.c_out * l.rows_pad;
  l.floats = l.x_offset + shape.reduction() * l.rows_pad;
  return l;
}

bool temporal_conv_tc_bf16_staged(const TemporalConvShape& shape, TemporalConvPass pass) {
  if (shape.math != ConvMath::kBf16 || shape.backend != ConvBackend::kV3d) return false;
  switch (pass) {
    case TemporalConvPass::kForward:
      return shape.c_in % 8 == 0;
    case TemporalConvPass::kBackwardData:
      return shape.c_out % 8 == 0;
    case TemporalConvPass::kBackwardWeight:
      return shape.c_in % 8 == 0 && shape.c_out % 8 == 0;
  }
  return false;
}

// The BF16-staged workspaces less the copies of the operands given in BF16: the BF16 weights
// (forward, bwd_data); the split's partial sums (bwd_weight). None where the launchers do not take
// BF16 operands.
int64_t TemporalConvBf16Args::workspace_floats() const {
  validate();
  if (!temporal_conv_tc_bf16_staged(*this, TemporalConvPass::kForward)) return 0;
  return (c_out * c_in * k + 1) / 2;
}

int64_t TemporalConvBwdDataBf16Args::workspace_floats() const {
  validate();
  if (!temporal_conv_tc_bf16_staged(*this, TemporalConvPass::kBackwardData)) return 0;
  return (c_out * c_in * k + 1) / 2;
}

int64_t TemporalConvBwdWeightBf16Args::workspace_floats() const {
  validate();
  if (!temporal_conv_tc_bf16_staged(*this, TemporalConvPass::kBackwardWeight)) return 0;
  const TemporalConvSplit split = temporal_conv_weight_split(*this);
  return split.splits > 1 ? split.splits * c_out * reduction() : 0;
}

int64_t temporal_conv_workspace_floats(const TemporalConvShape& shape, TemporalConvPass pass) {
  shape.validate();
  if (shape.backend == ConvBackend::kCublasLt)
    return temporal_conv_lt_workspace_floats(shape, pass);
  if (temporal_conv_tc_bf16_staged(shape, pass) && pass == TemporalConvPass::kBackwardWeight) {
    // The split's partial sums, then BF16 copies of d_y (padded to 16 bytes) and x.
    const TemporalConvSplit split = temporal_conv_weight_split(shape);
    const int64_t partials = split.splits > 1 ? split.splits * shape.c_out * shape.reduction() : 0;
    const int64_t dy = shape.rows() * shape.c_out, x = shape.batch * shape.t_in * shape.c_in;
    return partials + ((dy + 7) / 8 * 8 + x + 1) / 2;
  }
  if (temporal_conv_tc_bf16_staged(shape, pass)) {
    // BF16 copies: the activation (forward) or gradient (bwd_data) operand, padded to 16 bytes,
    // then the weights; two per float.
    const int64_t act = pass == TemporalConvPass::kForward ? shape.batch * shape.t_in * shape.c_in
                                                           : shape.rows() * shape.c_out;
    return ((act + 7) / 8 * 8 + shape.c_out * shape.c_in * shape.k + 1) / 2;
  }
  // The tensor-core kernels read the weights tap-major, permuted into the workspace when K > 1.
  const int64_t tap_major =
      shape.math != ConvMath::kFp32 && shape.k > 1 ? shape.c_out * shape.k * shape.c_in : 0;
  switch (pass) {
    case TemporalConvPass::kForward:
      // The Hopper tile's weights tap-major and rounded to TF32, also for K = 1.
      if (shape.tile == ConvTile::kHopper && temporal_conv_wgmma_shape(shape, pass)) {
        return shape.c_out * shape.k * shape.c_in;
      }
      return tap_major;
    case TemporalConvPass::kBackwardData:
      // The Hopper tile's weights as (K, C_in, C_out), rounded to TF32, also for K = 1.
      if (shape.tile == ConvTile::kHopper && temporal_conv_wgmma_shape(shape, pass)) {
        return shape.c_out * shape.k * shape.c_in;
      }
      // Overlapping windows in float32: the GEMM writes d_X_col, a gather then sums it into d_x
      // (the tensor-core kernel gathers the taps itself).
      if (shape.math != ConvMath::kFp32) return tap_major;
      return shape.disjoint_windows() ? 0 : shape.rows() * shape.reduction();
    case TemporalConvPass::kBackwardWeight: {
      if (shape.tile == ConvTile::kHopper && shape.math == ConvMath::kTf32 &&
          temporal_conv_wgmma_shape(shape, pass)) {
        return temporal_conv_wgmma_weight_layout(shape).floats;
      }
      const TemporalConvSplit split = temporal_conv_weight_split(shape);
      return split.splits > 1 ? split.splits * shape.c_out * shape.reduction() : 0;
    }
  }
  return 0;
}

namespace cpu {
namespace {

std::atomic<ConvPrecision>& precision_setting() {
  static std::atomic<ConvPrecision> p{ConvPrecision::kFp32};
  return p;
}

// Per-thread bf16 scratch, as scratch() below: 0 and 1 for a GEMM's operands, 2 for the Winograd
// weights that the calling thread converts once and the pass's threads share.
uint16_t* bf16_scratch(int which, int64_t n) {
  thread_local std::vector<uint16_t> buffers[3];
  std::vector<uint16_t>& v = buffers[which];
  if (v.size() < static_cast<size_t>(n)) v.resize(static_cast<size_t>(n));
  return v.data();
}

// rows x cols floats at stride ld -> contiguous bf16 (rows, cols); parallel when called outside a
// parallel region.
void rows_to_bf16(const float* x, int64_t rows, int64_t cols, int64_t ld, uint16_t* y) {
#pragma omp parallel for schedule(static) if (!omp_in_parallel() && rows * cols > 65536)
  for (int64_t r = 0; r < rows; ++r) float_to_bf16(x + r * ld, y + r * cols, cols);
}

// The forward pass's GEMM in the current precision (see ConvPrecision). In bf16, `b_bf16`
// (optional) is g.b already converted (contiguous, as g's op(B) with ldb = its row length).
void fwd_gemm(const GemmArgs& g, const uint16_t* b_bf16 = nullptr) {
  if (precision_setting().load(std::memory_order_relaxed) == ConvPrecision::kFp32) {
    gemm(g);
    return;
  }
  const int64_t a_rows = g.trans_a ? g.k : g.m, a_cols = g.trans_a ? g.m : g.k;
  const int64_t b_rows = g.trans_b ? g.n : g.k, b_cols = g.trans_b ? g.k : g.n;
  uint16_t* a = bf16_scratch(0, a_rows * a_cols);
  rows_to_bf16(g.a, a_rows, a_cols, g.lda, a);
  if (b_bf16 == nullptr) {
    uint16_t* b = bf16_scratch(1, b_rows * b_cols);
    rows_to_bf16(g.b, b_rows, b_cols, g.ldb, b);
    b_bf16 = b;
  }
  gemm_bf16(bf16_operands(g, a, a_cols, b_bf16, b_cols));
}

// Per-thread scratch reused across calls (it only grows), one per simultaneous use.
enum class Scratch { kCol, kWeights, kWinograd };
float* scratch(Scratch which, int64_t floats) {
  thread_local std::vector<float> buffers[3];
  std::vector<float>& v = buffers[static_cast<int>(which)];
  if (v.size() < static_cast<size_t>(floats)) v.resize(static_cast<size_t>(floats));
  return v.data();
}

// X_col as a view of x: row m = b*T_out + t starts at x + m*ld when `ok`.
struct ColView {
  bool ok = false;
  int64_t ld = 0;
};

ColView col_view(const TemporalConvShape& s) {
  // A row is contiguous only when its K taps are adjacent frames (or there is one tap).
  if (!(s.dilation == 1 || s.k == 1)) return {};
  const int64_t t_out = s.t_out(), frame = s.c_in;
  // One window per sequence: rows are whole sequences apart.
  if (t_out == 1) return {true, s.t_in * frame};
  // Rows of one sequence are s frames apart; a BLAS row stride must not be below the row length
  // (overlapping windows, s < K), and crossing into the next sequence must keep that spacing.
  if (s.stride < s.k) return {};
  if (s.batch == 1 || s.t_in == t_out * s.stride) return {true, s.stride * frame};
  return {};
}

// w: (C_out, C_in, K) -> wp: (C_out, K, C_in)
void weights_to_tap_major(const TemporalConvShape& s, const float* w, float* wp) {
  const int64_t c_in = s.c_in, k = s.k;
  for (int64_t co = 0; co < s.c_out; ++co)
    for (int64_t ci = 0; ci < c_in; ++ci)
      for (int64_t tap = 0; tap < k; ++tap)
        wp[(co * k + tap) * c_in + ci] = w[(co * c_in + ci) * k + tap];
}

// wp: (C_out, K, C_in) -> w: (C_out, C_in, K)
void weights_to_channel_major(const TemporalConvShape& s, const float* wp, float* w) {
  const int64_t c_in = s.c_in, k = s.k;
  for (int64_t co = 0; co < s.c_out; ++co)
    for (int64_t ci = 0; ci < c_in; ++ci)
      for (int64_t tap = 0; tap < k; ++tap)
        w[(co * c_in + ci) * k + tap] = wp[(co * k + tap) * c_in + ci];
}

// x: (B, T_in, C_in) -> col: (B*T_out, K*C_in); each (row, tap) is one contiguous C_in copy.
void im2col(const TemporalConvShape& s, const float* x, float* col) {
  const int64_t t_out = s.t_out(), rows = s.rows(), c_in = s.c_in, r = s.reduction();
  for (int64_t m = 0; m < rows; ++m) {
    const int64_t b = m / t_out, t = m % t_out;
    for (int64_t tap = 0; tap < s.k; ++tap) {
      const float* src = x + (b * s.t_in + t * s.stride + tap * s.dilation) * c_in;
      std::memcpy(col + m * r + tap * c_in, src, static_cast<size_t>(c_in) * sizeof(float));
    }
  }
}

// col: (B*T_out, K*C_in) -> d_x: (B, T_in, C_in) as a gather: each frame sums the taps that read
// it in ascending k (deterministic), and frames nobody reads get 0.
void col2im(const TemporalConvShape& s, const float* col, float* d_x) {
  const int64_t t_out = s.t_out(), c_in = s.c_in, r = s.reduction();
  for (int64_t bf = 0; bf < s.batch * s.t_in; ++bf) {
    const int64_t b = bf / s.t_in, f = bf % s.t_in;
    float* dst = d_x + bf * c_in;
    std::fill(dst, dst + c_in, 0.0f);
    for (int64_t tap = 0; tap < s.k; ++tap) {
      const int64_t start = f - tap * s.dilation;
      if (start < 0 || start % s.stride != 0 || start / s.stride >= t_out) continue;
      const float* src = col + (b * t_out + start / s.stride) * r + tap * c_in;
      for (int64_t ci = 0; ci < c_in; ++ci) dst[ci] += src[ci];
    }
  }
}

// d_x: (B, T_in, C_in): frames no output reads are set to 0 (the view path writes only the others).
void zero_unread_frames(const TemporalConvShape& s, float* d_x) {
  if (s.t_out() * s.k == s.t_in) return;  // disjoint windows that tile the sequence exactly
  for (int64_t bf = 0; bf < s.batch * s.t_in; ++bf)
    if (!s.frame_read(bf % s.t_in)) std::fill(d_x + bf * s.c_in, d_x + (bf + 1) * s.c_in, 0.0f);
}

// W_perm (C_out, K*C_in): w itself when K = 1.
const float* tap_major_weights(const TemporalConvShape& s, const float* w) {
  if (s.k == 1) return w;
  float* wp = scratch(Scratch::kWeights, s.c_out * s.reduction());
  weights_to_tap_major(s, w, wp);
  return wp;
}

// ---- Winograd F(m, 3) along time (kernels/temporal_conv.h) ----
//
// Construction (Toom-Cook, as in Lavin & Gray 2016 and wincnn): correlation with a 3-tap filter is
// the transpose of the product of a degree-(m-1) and a degree-2 polynomial, evaluated at n = m + 2
// points a_0 .. a_{n-2} and infinity:
//   G  (n, 3): row i = (1, a_i, a_i^2) / f_i, the infinity row (0, 0, 1);
//   AT (m, n): column i = (1, a_i, .., a_i^{m-1}), the infinity column (0, .., 0, 1);
//   BT (n, n): f_i times row i of V^-T, V the (n, n) Vandermonde matrix with the infinity row;
// f_i = prod_{j != i} (a_i - a_j) makes BT integral for integer points, and moves every fraction
// into G, which is applied once per call to the weights in double precision. The matrices are
// built in double at first use and checked to reproduce the direct convolution exactly on small
// integers (a wrong construction throws instead of computing garbage).
//
// Choice of m (accuracy measured against the double reference, N(0, 1) inputs, C_in = 1024, and
// speed on the 27/243-frame models, kernels/temporal_conv.h): see kWinogradTile.
struct Winograd {
  int m = 0, n = 0;
  std::vector<float> bt;  // (n, n)
  std::vector<double> g;  // (n, 3)
  std::vector<float> at;  // (m, n)
};

std::vector<double> invert(std::vector<double> a, int n) {
  std::vector<double> inv(static_cast<size_t>(n * n), 0.0);
  for (int i = 0; i < n; ++i) inv[static_cast<size_t>(i * n + i)] = 1.0;
  for (int col = 0; col < n; ++col) {
    int piv = col;
    for (int r = col + 1; r < n; ++r)
      if (std::fabs(a[static_cast<size_t>(r * n + col)]) >
          std::fabs(a[static_cast<size_t>(piv * n + col)]))
        piv = r;
    for (int c = 0; c < n; ++c) {
      std::swap(a[static_cast<size_t>(col * n + c)], a[static_cast<size_t>(piv * n + c)]);
      std::swap(inv[static_cast<size_t>(col * n + c)], inv[static_cast<size_t>(piv * n + c)]);
    }
    const double p = a[static_cast<size_t>(col * n + col)];
    V3D_CHECK(p != 0.0, "winograd: singular Vandermonde matrix");
    for (int c = 0; c < n; ++c) {
      a[static_cast<size_t>(col * n + c)] /= p;
      inv[static_cast<size_t>(col * n + c)] /= p;
    }
    for (int r = 0; r < n; ++r) {
      if (r == col) continue;
      const double f = a[static_cast<size_t>(r * n + col)];
      if (f == 0.0) continue;
      for (int c = 0; c < n; ++c) {
        a[static_cast<size_t>(r * n + c)] -= f * a[static_cast<size_t>(col * n + c)];
        inv[static_cast<size_t>(r * n + c)] -= f * inv[static_cast<size_t>(col * n + c)];
      }
    }
  }
  return inv;
}

Winograd make_winograd(const std::vector<double>& points) {
  Winograd w;
  w.n = static_cast<int>(points.size()) + 1;
  w.m = w.n - 2;
  const int n = w.n, m = w.m;
  const auto at = [n](std::vector<double>& v, int r, int c) -> double& {
    return v[static_cast<size_t>(r * n + c)];
  };
  std::vector<double> vander(static_cast<size_t>(n * n), 0.0);
  for (int i = 0; i + 1 < n; ++i)
    for (int j = 0; j < n; ++j) at(vander, i, j) = std::pow(points[static_cast<size_t>(i)], j);
  at(vander, n - 1, n - 1) = 1.0;
  const std::vector<double> inv = invert(vander, n);
  std::vector<double> f(static_cast<size_t>(n), 1.0);
  for (int i = 0; i + 1 < n; ++i)
    for (int j = 0; j + 1 < n; ++j)
      if (j != i)
        f[static_cast<size_t>(i)] *=
            points[static_cast<size_t>(i)] - points[static_cast<size_t>(j)];
  w.bt.resize(static_cast<size_t>(n * n));
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      // BT = V^-T with row i scaled by f_i; exact small integers for integer points.
      const double v = inv[static_cast<size_t>(j * n + i)] * f[static_cast<size_t>(i)];
      w.bt[static_cast<size_t>(i * n + j)] =
          static_cast<float>(std::nearbyint(v * 1024.0) / 1024.0);
    }
  w.g.resize(static_cast<size_t>(n * 3));
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < 3; ++k)
      w.g[static_cast<size_t>(i * 3 + k)] =
          i + 1 < n ? std::pow(points[static_cast<size_t>(i)], k) / f[static_cast<size_t>(i)]
                    : (k == 2 ? 1.0 : 0.0);
  w.at.resize(static_cast<size_t>(m * n));
  for (int j = 0; j < m; ++j)
    for (int i = 0; i < n; ++i)
      w.at[static_cast<size_t>(j * n + i)] =
          i + 1 < n ? static_cast<float>(std::pow(points[static_cast<size_t>(i)], j))
                    : (j == m - 1 ? 1.0f : 0.0f);
  // Self-check on small integers: the transforms must reproduce the correlation exactly.
  for (int trial = 0; trial < 3; ++trial) {
    std::vector<double> x(static_cast<size_t>(n)), g3(3);
    for (int i = 0; i < n; ++i) x[static_cast<size_t>(i)] = double((i * 7 + trial * 3) % 5) - 2.0;
    for (int k = 0; k < 3; ++k) g3[static_cast<size_t>(k)] = double((k * 5 + trial) % 7) - 3.0;
    for (int j = 0; j < m; ++j) {
      double want = 0.0, got = 0.0;
      for (int k = 0; k < 3; ++k)
        want += g3[static_cast<size_t>(k)] * x[static_cast<size_t>(j + k)];
      for (int i = 0; i < n; ++i) {
        double u = 0.0, v = 0.0;
        for (int l = 0; l < n; ++l)
          u += double(w.bt[static_cast<size_t>(i * n + l)]) * x[static_cast<size_t>(l)];
        for (int k = 0; k < 3; ++k)
          v += w.g[static_cast<size_t>(i * 3 + k)] * g3[static_cast<size_t>(k)];
        got += double(w.at[static_cast<size_t>(j * n + i)]) * u * v;
      }
      V3D_CHECK(std::fabs(got - want) <= 1e-9 * (1.0 + std::fabs(want)),
                "winograd F(" << m << ",3): transforms give " << got << " instead of " << want);
    }
  }
  return w;
}

// F(4, 3) on 0, +-1, +-2 and infinity. Measured against the double reference
// (tests/kernels/temporal_conv_winograd_test.cpp, N(0, 1) data): the error is 4-5x the direct
// path's (C_in = 1024, d = 3: max |err| 4.4e-4 vs 8.4e-5 for outputs of magnitude ~55), at most
// 0.21 of the contract's tolerance over the sweep; the points +-1/2 instead of +-2 measured the
// same, and F(6, 3) on 0, +-1, +-2, +-1/2 as accurate, but only 11% fewer multiplications with
// GEMMs of T/6 rows, which did not time faster on the 2-core machine; F(2, 3) saves too little
// (4/2 vs 3 products per frame) to beat the direct path's single larger GEMM.
const Winograd& winograd() {
  static const Winograd w = make_winograd({0.0, 1.0, -1.0, 2.0, -2.0});
  static_assert(kWinogradTile == 4, "winograd(): the points are those of F(4, 3)");
  return w;
}

TemporalConvAlgo algo_from_env() {
  const char* e = std::getenv("V3D_CPU_WINOGRAD");
  if (e == nullptr || *e == '\0') return TemporalConvAlgo::kAuto;
  const std::string v(e);
  if (v == "0" || v == "off") return TemporalConvAlgo::kDirect;
  if (v == "force") return TemporalConvAlgo::kWinograd;
  return TemporalConvAlgo::kAuto;
}

std::atomic<TemporalConvAlgo>& algo_setting() {
  static std::atomic<TemporalConvAlgo> a{algo_from_env()};
  return a;
}

// Whole tiles of one sequence: chain r (residue r mod d) has n_r = ceil((T_out - r) / d) output
// frames and floor(n_r / m) whole tiles.
int64_t winograd_tiles_per_sequence(const TemporalConvShape& s, int64_t m) {
  const int64_t t_out = s.t_out(), d = s.dilation;
  int64_t tiles = 0;
  for (int64_t r = 0; r < std::min(d, t_out); ++r) tiles += ((t_out - r + d - 1) / d) / m;
  return tiles;
}

// Tile starts of one sequence, block q outer and residue r inner: consecutive tiles then read
// adjacent input frames (block q spans frames [q m d, q m d + (m+2) d)). The last tile of a chain
// whose length is not a multiple of m is partial: its inputs past the sequence are taken as 0
// and its outputs past T_out are not written (the outputs it keeps read only real frames).
std::vector<int64_t> winograd_plan(const TemporalConvShape& s, int64_t m) {
  const int64_t t_out = s.t_out(), d = s.dilation, chains = std::min(d, t_out);
  std::vector<int64_t> starts;
  const int64_t max_q = ((t_out + d - 1) / d + m - 1) / m;
  for (int64_t q = 0; q < max_q; ++q)
    for (int64_t r = 0; r < chains; ++r)
      if (r + q * m * d < t_out) starts.push_back(r + q * m * d);
  return starts;
}

// w: (C_out, C_in, 3) -> v: (n, C_out, C_in), v_i = sum_k G[i, k] w[:, :, k] in double.
void winograd_weights(const TemporalConvShape& s, const Winograd& wg, const float* w, float* v) {
  const int64_t plane = s.c_out * s.c_in, n = wg.n;
  const double* g = wg.g.data();
#pragma omp for schedule(static) nowait
  for (int64_t e = 0; e < plane; ++e) {
    const double w0 = w[e * 3], w1 = w[e * 3 + 1], w2 = w[e * 3 + 2];
    for (int64_t i = 0; i < n; ++i)
      v[i * plane + e] = static_cast<float>(g[i * 3] * w0 + g[i * 3 + 1] * w1 + g[i * 3 + 2] * w2);
  }
}

// One term of a Winograd transform over c floats: dst = coef * src for the first non-zero term
// (first_term, then cleared), dst += coef * src after it; zero coefficients are skipped.
inline void add_term(float* dst, float coef, const float* src, int64_t c, bool& first_term) {
  if (coef == 0.0f) return;
  if (first_term) {
#pragma omp simd
    for (int64_t k = 0; k < c; ++k) dst[k] = coef * src[k];
    first_term = false;
  } else {
#pragma omp simd
    for (int64_t k = 0; k < c; ++k) dst[k] += coef * src[k];
  }
}

// u: (n, tiles, C_in), u[i, p, :] = sum_j BT[i, j] x[b, t0_p + j*d, :] for the tiles p of
// [first, first + tiles) of the plan (tile p of sequence b = p / per_seq).
void winograd_input(const TemporalConvShape& s, const Winograd& wg, const float* x,
                    const std::vector<int64_t>& starts, int64_t first, int64_t tiles, float* u) {
  const int64_t per_seq = static_cast<int64_t>(starts.size()), c = s.c_in, n = wg.n;
  const float* bt = wg.bt.data();
#pragma omp for schedule(static)
  for (int64_t p = 0; p < tiles; ++p) {
    const int64_t tile = first + p, b = tile / per_seq;
    const int64_t t0 = starts[static_cast<size_t>(tile % per_seq)];
    const float* x0 = x + (b * s.t_in + t0) * c;
    const int64_t step = s.dilation * c;
    // Frames of a partial tile past the sequence are 0: their terms drop out.
    const int64_t present = std::min(n, (s.t_in - t0 + s.dilation - 1) / s.dilation);
    for (int64_t i = 0; i < n; ++i) {
      float* dst = u + (i * tiles + p) * c;
      bool first_term = true;
      for (int64_t j = 0; j < present; ++j)
        add_term(dst, bt[i * n + j], x0 + j * step, c, first_term);
      if (first_term) std::fill(dst, dst + c, 0.0f);
    }
  }
}

// mm: (n, tiles, C_out) -> y[b, t0_p + j*d, :] = sum_i AT[j, i] mm[i, p, :]
void winograd_output(const TemporalConvShape& s, const Winograd& wg, const float* mm,
                     const std::vector<int64_t>& starts, int64_t first, int64_t tiles, float* y) {
  const int64_t per_seq = static_cast<int64_t>(starts.size()), c = s.c_out, n = wg.n;
  const int64_t t_out = s.t_out();
  const float* at = wg.at.data();
#pragma omp for schedule(static)
  for (int64_t p = 0; p < tiles; ++p) {
    const int64_t tile = first + p, b = tile / per_seq;
    const int64_t t0 = starts[static_cast<size_t>(tile % per_seq)];
    float* y0 = y + (b * t_out + t0) * c;
    const int64_t valid = std::min<int64_t>(wg.m, (t_out - t0 + s.dilation - 1) / s.dilation);
    for (int64_t j = 0; j < valid; ++j) {
      float* dst = y0 + j * s.dilation * c;
      bool first_term = true;
      for (int64_t i = 0; i < n; ++i)
        add_term(dst, at[j * n + i], mm + (i * tiles + p) * c, c, first_term);
    }
  }
}

// Tiles per pass of the pipeline: bounds the transformed scratch (n * chunk * C floats each for U
// and M) on long batches while keeping each GEMM at 1024 rows (not tuned further).
constexpr int64_t kWinogradChunk = 1024;

void winograd_fwd(const TemporalConvShape& s, const float* x, const float* w, float* y,
                  const float* v_given) {
  const Winograd& wg = winograd();
  const std::vector<int64_t> starts = winograd_plan(s, wg.m);
  const int64_t total = s.batch * static_cast<int64_t>(starts.size()), n = wg.n;
  const int64_t chunk = std::min(total, kWinogradChunk);
  // Scratch: V (n, C_out, C_in) unless given, then U (n, chunk, C_in) and M (n, chunk, C_out).
  const int64_t v_floats = v_given != nullptr ? 0 : n * s.c_out * s.c_in;
  float* v_own = scratch(Scratch::kWinograd, v_floats + n * chunk * (s.c_in + s.c_out));
  const float* v = v_given != nullptr ? v_given : v_own;
  float* u = v_own + v_floats;
  float* mm = u + n * chunk * s.c_in;
  // bf16: V converted once per call, shared by the threads (the activations per GEMM task).
  const bool bf16 = precision_setting().load(std::memory_order_relaxed) == ConvPrecision::kBf16;
  uint16_t* v_bf16 = bf16 ? bf16_scratch(2, n * s.c_out * s.c_in) : nullptr;
  // One parallel region for the whole pipeline: every fork/join (and every OpenBLAS call, which
  // is one) costs a scheduler tick when another process holds a core. The n GEMMs of a chunk are
  // split into tasks (one GEMM's rows in `parts` slices) that each thread runs single-threaded
  // (OpenBLAS's OpenMP build does inside a parallel region), n * parts a multiple of the threads.
#pragma omp parallel
  {
    const int64_t threads = omp_get_num_threads();
    const int64_t parts = threads / std::gcd(threads, n);
    if (v_given == nullptr) winograd_weights(s, wg, w, v_own);  // no barrier: input does not read V
    if (bf16) {
      if (v_given == nullptr) {
#pragma omp barrier
      }
      const int64_t rows = n * s.c_out;
#pragma omp for schedule(static)
      for (int64_t r = 0; r < rows; ++r) float_to_bf16(v + r * s.c_in, v_bf16 + r * s.c_in, s.c_in);
    }
    for (int64_t first = 0; first < total; first += chunk) {
      const int64_t tiles = std::min(chunk, total - first);
      winograd_input(s, wg, x, starts, first, tiles, u);  // ends with a barrier
      const int64_t rows = (tiles + parts - 1) / parts;
#pragma omp for schedule(static)
      for (int64_t task = 0; task < n * parts; ++task) {
        const int64_t i = task / parts, row0 = task % parts * rows;
        if (row0 >= tiles) continue;
        // M_i (tiles, C_out) = U_i (tiles, C_in) * V_i^T (C_in, C_out), rows [row0, row0 + rows)
        GemmArgs g;
        g.trans_b = true;
        g.m = std::min(rows, tiles - row0);
        g.n = s.c_out;
        g.k = s.c_in;
        g.a = u + (i * tiles + row0) * s.c_in;
        g.lda = s.c_in;
        g.b = v + i * s.c_out * s.c_in;
        g.ldb = s.c_in;
        g.c = mm + (i * tiles + row0) * s.c_out;
        g.ldc = s.c_out;
        fwd_gemm(g, bf16 ? v_bf16 + i * s.c_out * s.c_in : nullptr);
      }
      winograd_output(s, wg, mm, starts, first, tiles, y);  // ends with a barrier
    }
  }
}

// The n values of p rounded to TF32 or BF16 (math != kFp32): the operands of the kTf32 and kBf16
// passes, which then run the float32 path on them.
std::vector<float> rounded_copy(ConvMath math, const float* p, int64_t n) {
  std::vector<float> r(static_cast<size_t>(n));
  const bool bf16 = math == ConvMath::kBf16;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    r[static_cast<size_t>(i)] = bf16 ? round_bf16(p[i]) : round_tf32(p[i]);
  }
  return r;
}

TemporalConvShape as_fp32(TemporalConvShape s) {
  s.math = ConvMath::kFp32;
  return s;
}

}  // namespace

void set_temporal_conv_algo(TemporalConvAlgo algo) { algo_setting().store(algo); }
void set_conv_fwd_precision(ConvPrecision precision) {
  if (precision == ConvPrecision::kBf16) {
    std::string why;
    V3D_REQUIRE(bf16_gemm_available(&why), "bf16 precision is not available: " << why);
  }
  precision_setting().store(precision);
}
ConvPrecision conv_fwd_precision() { return precision_setting().load(); }
TemporalConvAlgo temporal_conv_algo() { return algo_setting().load(); }

bool temporal_conv_fwd_uses_winograd(const TemporalConvShape& shape) {
  const TemporalConvAlgo algo = temporal_conv_algo();
  if (algo == TemporalConvAlgo::kDirect || shape.k != 3 || shape.stride != 1) return false;
  if (algo == TemporalConvAlgo::kWinograd) return true;  // partial tiles only, if need be
  const int64_t tiles = shape.batch * winograd_tiles_per_sequence(shape, kWinogradTile);
  return shape.c_in >= kWinogradMinChannels && shape.c_out >= kWinogradMinChannels &&
         tiles >= kWinogradMinTiles;
}

const char* temporal_conv_fwd_path(const TemporalConvShape& shape) {
  shape.validate();
  if (temporal_conv_fwd_uses_winograd(shape)) return "winograd F(4,3)";
  return col_view(shape).ok ? "sgemm on a view of x" : "im2col + sgemm";
}

int64_t winograd_weight_floats(const TemporalConvShape& shape) {
  V3D_CHECK(shape.k == 3, "winograd weights need K = 3, got K = " << shape.k);
  return winograd().n * shape.c_out * shape.c_in;
}

void temporal_conv_winograd_weights(const TemporalConvShape& shape, const float* w, float* v) {
  V3D_CHECK(shape.k == 3, "winograd weights need K = 3, got K = " << shape.k);
  const Winograd& wg = winograd();
#pragma omp parallel
  winograd_weights(shape, wg, w, v);
}

void temporal_conv_tap_major(const TemporalConvShape& shape, const float* w, float* wp) {
  weights_to_tap_major(shape, w, wp);
}

void temporal_conv_fwd(const TemporalConvShape& shape, const float* x, const float* w, float* y,
                       const float* winograd_v, const float* tap_major_w) {
  shape.validate();
  V3D_CHECK(shape.epilogue.y_bf16 == nullptr,
            "temporal_conv: the BF16 output is our CUDA kernels' (on the CPU: y, then to_bf16)");
  if (shape.epilogue.any()) {
    // The convolution, then the epilogue over y while its rows are still in cache.
    TemporalConvShape plain = shape;
    plain.epilogue = ConvEpilogue{};
    temporal_conv_fwd(plain, x, w, y, winograd_v, tap_major_w);
    const ConvEpilogue e = shape.epilogue;
    const int64_t rows = shape.rows(), t_out = shape.t_out(), c_out = shape.c_out;
#pragma omp parallel for schedule(static) if (rows * c_out >= (int64_t{1} << 16))
    for (int64_t m = 0; m < rows; ++m)
      for (int64_t co = 0; co < c_out; ++co)
        y[m * c_out + co] = e.apply(y[m * c_out + co], m, co, t_out, c_out);
    return;
  }
  if (shape.math != ConvMath::kFp32) {
    // The float32 path on rounded copies (prepared weights are of the unrounded w).
    const std::vector<float> xr =
        rounded_copy(shape.math, x, shape.batch * shape.t_in * shape.c_in);
    const std::vector<float> wr = rounded_copy(shape.math, w, shape.c_out * shape.c_in * shape.k);
    temporal_conv_fwd(as_fp32(shape), xr.data(), wr.data(), y);
    return;
  }
  if (temporal_conv_fwd_uses_winograd(shape)) {
    winograd_fwd(shape, x, w, y, winograd_v);
    return;
  }
  const int64_t r = shape.reduction();
  const ColView view = col_view(shape);
  const float* col = x;
  if (!view.ok) {
    float* gathered = scratch(Scratch::kCol, shape.rows() * r);
    im2col(shape, x, gathered);
    col = gathered;
  }
  // Y (B*T_out, C_out) = X_col (B*T_out, R) * W_perm^T (R, C_out)
  GemmArgs g;
  g.trans_b = true;
  g.m = shape.rows();
  g.n = shape.c_out;
  g.k = r;
  g.a = col;
  g.lda = view.ok ? view.ld : r;
  g.b = tap_major_w != nullptr ? tap_major_w : tap_major_weights(shape, w);
  g.ldb = r;
  g.c = y;
  g.ldc = shape.c_out;
  fwd_gemm(g);
}

void temporal_conv_bwd_data(const TemporalConvShape& shape, const float* d_y, const float* w,
                            float* d_x) {
  shape.validate();
  if (shape.math != ConvMath::kFp32) {
    const std::vector<float> gr = rounded_copy(shape.math, d_y, shape.rows() * shape.c_out);
    const std::vector<float> wr = rounded_copy(shape.math, w, shape.c_out * shape.c_in * shape.k);
    temporal_conv_bwd_data(as_fp32(shape), gr.data(), wr.data(), d_x);
    return;
  }
  const int64_t r = shape.reduction();
  // A view of x has disjoint windows (see col_view), so the GEMM can write d_X_col straight into
  // d_x; otherwise into scratch, then the gather sums overlapping taps.
  const ColView view = col_view(shape);
  // d_X_col (B*T_out, R) = d_Y (B*T_out, C_out) * W_perm (C_out, R)
  GemmArgs g;
  g.m = shape.rows();
  g.n = r;
  g.k = shape.c_out;
  g.a = d_y;
  g.lda = shape.c_out;
  g.b = tap_major_weights(shape, w);
  g.ldb = r;
  g.c = view.ok ? d_x : scratch(Scratch::kCol, shape.rows() * r);
  g.ldc = view.ok ? view.ld : r;
  gemm(g);
  if (view.ok)
    zero_unread_frames(shape, d_x);
  else
    col2im(shape, g.c, d_x);
}

void temporal_conv_bwd_weight(const TemporalConvShape& shape, const float* x, const float* d_y,
                              float* d_w) {
  shape.validate();
  if (shape.math != ConvMath::kFp32) {
    const std::vector<float> xr =
        rounded_copy(shape.math, x, shape.batch * shape.t_in * shape.c_in);
    const std::vector<float> gr = rounded_copy(shape.math, d_y, shape.rows() * shape.c_out);
    temporal_conv_bwd_weight(as_fp32(shape), xr.data(), gr.data(), d_w);
    return;
  }
  const int64_t r = shape.reduction();
  const ColView view = col_view(shape);
  const float* col = x;
  if (!view.ok) {
    float* gathered = scratch(Scratch::kCol, shape.rows() * r);
    im2col(shape, x, gathered);
    col = gathered;
  }
  // d_W_perm (C_out, R) = d_Y^T (C_out, B*T_out) * X_col (B*T_out, R), then back to (C_out, C_in,
  // K)
  float* d_wp = shape.k == 1 ? d_w : scratch(Scratch::kWeights, shape.c_out * r);
  GemmArgs g;
  g.trans_a = true;
  g.m = shape.c_out;
  g.n = r;
  g.k = shape.rows();
  g.a = d_y;
  g.lda = shape.c_out;
  g.b = col;
  g.ldb = view.ok ? view.ld : r;
  g.c = d_wp;
  g.ldc = r;
  gemm(g);
  if (shape.k != 1) weights_to_channel_major(shape, d_wp, d_w);
}

namespace {
// x16 widened to float32: exactly the values the kBf16 passes round x to.
std::vector<float> widened(const uint16_t* x, int64_t n) {
  std::vector<float> r(static_cast<size_t>(n));
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) r[static_cast<size_t>(i)] = bf16_to_float(x[i]);
  return r;
}
}  // namespace

void temporal_conv_fwd_bf16(const TemporalConvBf16Args& shape, const uint16_t* x, const float* w,
                            float* y) {
  shape.validate();
  // The kBf16 pass (the float32 path on rounded copies), its operand copies the widened values.
  const std::vector<float> xr = widened(x, shape.batch * shape.t_in * shape.c_in);
  const std::vector<float> wr = rounded_copy(shape.math, w, shape.c_out * shape.c_in * shape.k);
  temporal_conv_fwd(as_fp32(shape), xr.data(), wr.data(), y);
}

void temporal_conv_bwd_data_bf16(const TemporalConvBwdDataBf16Args& shape, const uint16_t* d_y,
                                 const float* w, float* d_x) {
  shape.validate();
  const std::vector<float> gr = widened(d_y, shape.rows() * shape.c_out);
  const std::vector<float> wr = rounded_copy(shape.math, w, shape.c_out * shape.c_in * shape.k);
  temporal_conv_bwd_data(as_fp32(shape), gr.data(), wr.data(), d_x);
}

void temporal_conv_bwd_weight_bf16(const TemporalConvBwdWeightBf16Args& shape, const uint16_t* x,
                                   const uint16_t* d_y, float* d_w) {
  shape.validate();
  const std::vector<float> xr = widened(x, shape.batch * shape.t_in * shape.c_in);
  const std::vector<float> gr = widened(d_y, shape.rows() * shape.c_out);
  temporal_conv_bwd_weight(as_fp32(shape), xr.data(), gr.data(), d_w);
}

void temporal_conv_prepare_weights(const TemporalConvWeightsArgs& args, const float* w, void* out) {
  args.validate();
  TemporalConvShape s;
  s.c_out = args.c_out;
  s.c_in = args.c_in;
  s.k = args.k;
  const int64_t n = args.c_out * args.k * args.c_in;
  if (args.math == ConvMath::kFp32) {
    weights_to_tap_major(s, w, static_cast<float*>(out));
    return;
  }
  std::vector<float> wp(static_cast<size_t>(n));
  weights_to_tap_major(s, w, wp.data());
  for (int64_t i = 0; i < n; ++i) {
    const float v = wp[static_cast<size_t>(i)];
    if (args.math == ConvMath::kBf16) {
      static_cast<uint16_t*>(out)[i] = bf16_bits(v);
    } else {
      static_cast<float*>(out)[i] = round_tf32(v);
    }
  }
}

}  // namespace cpu
}  // namespace v3d::kernels
