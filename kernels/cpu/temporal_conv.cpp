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
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/temporal_conv.h"

namespace v3d::kernels {

void TemporalConvShape::validate() const {
  V3D_CHECK(batch >= 1 && c_in >= 1 && c_out >= 1,
            "temporal_conv: sizes must be positive, got batch=" << batch << " c_in=" << c_in
                                                                << " c_out=" << c_out);
  V3D_CHECK(k >= 1 && dilation >= 1 && stride >= 1,
            "temporal_conv: kernel width, dilation and stride must be >= 1, got k="
                << k << " dilation=" << dilation << " stride=" << stride);
  V3D_CHECK(t_in >= receptive_field(), "temporal_conv: sequence of "
                                           << t_in << " frames is shorter than the receptive field "
                                           << receptive_field() << " = (k-1)*dilation+1 (k=" << k
                                           << ", dilation=" << dilation << ")");
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
  chunk = (chunk + kTemporalConvSlice - 1) / kTemporalConvSlice * kTemporalConvSlice;
  return {(rows + chunk - 1) / chunk, chunk};
}

int64_t temporal_conv_workspace_floats(const TemporalConvShape& shape, TemporalConvPass pass) {
  shape.validate();
  switch (pass) {
    case TemporalConvPass::kForward:
      return 0;
    case TemporalConvPass::kBackwardData:
      // Overlapping windows: the GEMM writes d_X_col, a gather then sums it into d_x.
      return shape.disjoint_windows() ? 0 : shape.rows() * shape.reduction();
    case TemporalConvPass::kBackwardWeight: {
      const TemporalConvSplit split = temporal_conv_weight_split(shape);
      return split.splits > 1 ? split.splits * shape.c_out * shape.reduction() : 0;
    }
  }
  return 0;
}

namespace cpu {
namespace {

// Per-thread scratch reused across calls (it only grows), one per simultaneous use.
enum class Scratch { kCol, kWeights };
float* scratch(Scratch which, int64_t floats) {
  thread_local std::vector<float> buffers[2];
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

}  // namespace

void temporal_conv_fwd(const TemporalConvShape& shape, const float* x, const float* w, float* y) {
  shape.validate();
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
  g.b = tap_major_weights(shape, w);
  g.ldb = r;
  g.c = y;
  g.ldc = shape.c_out;
  gemm(g);
}

void temporal_conv_bwd_data(const TemporalConvShape& shape, const float* d_y, const float* w,
                            float* d_x) {
  shape.validate();
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

}  // namespace cpu
}  // namespace v3d::kernels
