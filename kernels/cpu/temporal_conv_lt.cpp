// The plans of the cuBLASLt backend (kernels/temporal_conv_lt.h) and their host execution.
#include "kernels/temporal_conv_lt.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/float_round.h"

namespace v3d::kernels {
namespace {

// Contiguous windows: row t of X_col is x[b, t*s : t*s + K, :], one run of K*C_in floats that does
// not overlap the next row's, so X_col is a matrix view of x.
bool contiguous_windows(const TemporalConvShape& s) {
  return s.k == 1 || (s.dilation == 1 && s.stride >= s.k);
}

// The rows of consecutive sequences are evenly spaced: row b*T_out + t starts at frame
// (b*T_out + t)*s of the flattened (B*T_in) sequence.
bool uniform_rows(const TemporalConvShape& s) {
  return s.batch == 1 || s.t_in == s.t_out() * s.stride;
}

int64_t permuted_floats(const TemporalConvShape& s) { return s.k > 1 ? s.c_out * s.k * s.c_in : 0; }

void check_int32(const TemporalConvShape& s, const char* op) {
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  V3D_CHECK(s.rows() <= kMax && s.reduction() <= kMax && s.stride * s.c_in <= kMax,
            op << ": the cuBLASLt backend takes at most 2^31 - 1 rows and columns, got " << s.rows()
               << " rows, " << s.reduction() << " columns and a row stride of "
               << s.stride * s.c_in);
}

}  // namespace

int64_t temporal_conv_lt_library_offset(const TemporalConvShape& shape) {
  return (permuted_floats(shape) + 63) / 64 * 64;
}

int64_t temporal_conv_lt_workspace_floats(const TemporalConvShape& shape, TemporalConvPass pass) {
  (void)pass;  // every pass permutes (w, or d_w) the same number of floats
  return temporal_conv_lt_library_offset(shape) + kLtLibraryWorkspaceBytes / 4;
}

int lt_alignment(const void* p, int64_t stride_floats) {
  uint64_t bits = reinterpret_cast<uintptr_t>(p) | 256u;
  if (stride_floats != 0) bits |= static_cast<uint64_t>(stride_floats) * 4u;
  return static_cast<int>(bits & (~bits + 1));  // the lowest set bit
}

LtPlan temporal_conv_lt_plan(const TemporalConvShape& s, TemporalConvPass pass, const float* in0,
                             const float* in1, float* out, float* workspace) {
  const char* op = pass == TemporalConvPass::kForward ? "temporal_conv_fwd (cuBLASLt)"
                   : pass == TemporalConvPass::kBackwardData
                       ? "temporal_conv_bwd_data (cuBLASLt)"
                       : "temporal_conv_bwd_weight (cuBLASLt)";
  s.validate(op);
  check_int32(s, op);
  const int64_t t_out = s.t_out(), rows = s.rows(), kc = s.reduction(), ci = s.c_in;
  const int64_t x_row = s.stride * ci;  // floats between the windows of consecutive outputs
  const bool uniform = uniform_rows(s);
  LtPlan plan;
  // wp: the weights tap-major, (C_out, K*C_in); K = 1 needs no permutation.
  float* wp = s.k > 1 ? workspace : nullptr;

  // A GEMM over every sequence: one matrix of B*T_out rows when the rows are evenly spaced,
  // else a batch of B matrices of T_out rows.
  const auto over_sequences = [&](GemmArgs g, int64_t stride_a, int64_t stride_b,
                                  int64_t stride_c) {
    LtGemm lt;
    lt.g = g;
    if (uniform) {
      lt.g.m = rows;
    } else {
      lt.g.m = t_out;
      lt.batch = s.batch;
      lt.stride_a = stride_a;
      lt.stride_b = stride_b;
      lt.stride_c = stride_c;
    }
    plan.gemms.push_back(lt);
  };

  switch (pass) {
    case TemporalConvPass::kForward: {
      const float* x = in0;
      const float* w = in1;
      const float* wk = w;
      if (wp != nullptr) {
        plan.permute_from = w;
        plan.permute_to = wp;
        wk = wp;
      }
      if (contiguous_windows(s)) {
        // Y = X_col * wp^T
        GemmArgs g;
        g.trans_b = true;
        g.n = s.c_out;
        g.k = kc;
        g.a = x;
        g.lda = x_row;
        g.b = wk;
        g.ldb = kc;
        g.c = out;
        g.ldc = s.c_out;
        over_sequences(g, s.t_in * ci, 0, t_out * s.c_out);
      } else {
        for (int64_t tap = 0; tap < s.k; ++tap) {  // Y += X_k * wp_k^T
          GemmArgs g;
          g.trans_b = true;
          g.n = s.c_out;
          g.k = ci;
          g.a = x + tap * s.dilation * ci;
          g.lda = x_row;
          g.b = wk + tap * ci;
          g.ldb = kc;
          g.beta = tap == 0 ? 0.0f : 1.0f;
          g.c = out;
          g.ldc = s.c_out;
          over_sequences(g, s.t_in * ci, 0, t_out * s.c_out);
        }
      }
      break;
    }
    case TemporalConvPass::kBackwardData: {
      const float* d_y = in0;
      const float* w = in1;
      float* d_x = out;
      const float* wk = w;
      if (wp != nullptr) {
        plan.permute_from = w;
        plan.permute_to = wp;
        wk = wp;
      }
      const bool contiguous = contiguous_windows(s);
      // A beta = 0 GEMM over contiguous windows writes exactly the frames some tap reads; others
      // (strided gaps, the tail) must still become 0. Overlapping taps accumulate onto zeros.
      if (!contiguous || t_out * s.stride != s.t_in || s.stride != s.k) {
        plan.zero = d_x;
        plan.zero_floats = s.batch * s.t_in * ci;
      }
      if (contiguous) {
        GemmArgs g;  // d_X_col = d_Y * wp, into the view of d_x
        g.n = kc;
        g.k = s.c_out;
        g.a = d_y;
        g.lda = s.c_out;
        g.b = wk;
        g.ldb = kc;
        g.c = d_x;
        g.ldc = x_row;
        over_sequences(g, t_out * s.c_out, 0, s.t_in * ci);
      } else {
        for (int64_t tap = 0; tap < s.k; ++tap) {  // d_X_k += d_Y * wp_k
          GemmArgs g;
          g.n = ci;
          g.k = s.c_out;
          g.a = d_y;
          g.lda = s.c_out;
          g.b = wk + tap * ci;
          g.ldb = kc;
          g.beta = 1.0f;
          g.c = d_x + tap * s.dilation * ci;
          g.ldc = x_row;
          over_sequences(g, t_out * s.c_out, 0, s.t_in * ci);
        }
      }
      break;
    }
    case TemporalConvPass::kBackwardWeight: {
      const float* x = in0;
      const float* d_y = in1;
      float* d_w = out;
      float* dwp = d_w;
      if (wp != nullptr) {
        dwp = wp;
        plan.unpermute_from = wp;
        plan.unpermute_to = d_w;
      }
      // d_wp (C_out, cols) = d_Y^T * X (rows_per_gemm, cols), summed over the sequences.
      const auto reduce_sequences = [&](int64_t cols, int64_t x_offset, float* c) {
        const int64_t gemms = uniform ? 1 : s.batch;
        for (int64_t b = 0; b < gemms; ++b) {
          LtGemm lt;
          lt.g.trans_a = true;
          lt.g.m = s.c_out;
          lt.g.n = cols;
          lt.g.k = uniform ? rows : t_out;
          lt.g.a = d_y + b * t_out * s.c_out;
          lt.g.lda = s.c_out;
          lt.g.b = x + b * s.t_in * ci + x_offset;
          lt.g.ldb = x_row;
          lt.g.beta = b == 0 ? 0.0f : 1.0f;
          lt.g.c = c;
          lt.g.ldc = kc;
          plan.gemms.push_back(lt);
        }
      };
      if (contiguous_windows(s)) {
        reduce_sequences(kc, 0, dwp);
      } else {
        for (int64_t tap = 0; tap < s.k; ++tap)
          reduce_sequences(ci, tap * s.dilation * ci, dwp + tap * ci);
      }
      break;
    }
  }
  for (const LtGemm& lt : plan.gemms) lt.g.validate(op);
  return plan;
}

namespace cpu {
namespace {

// A dense copy of the (rows, cols) matrix at p with row stride ld, each element rounded to TF32
// or BF16 (`math`).
std::vector<float> rounded_copy(const float* p, int64_t rows, int64_t cols, int64_t ld,
                                ConvMath math) {
  std::vector<float> v(static_cast<size_t>(rows * cols));
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      const float x = p[i * ld + j];
      v[static_cast<size_t>(i * cols + j)] =
          math == ConvMath::kBf16 ? round_bf16(x) : round_tf32(x);
    }
  return v;
}

}  // namespace

void run_lt_gemms(const std::vector<LtGemm>& gemms, ConvMath math) {
  for (const LtGemm& lt : gemms) {
    for (int64_t i = 0; i < lt.batch; ++i) {
      GemmArgs g = lt.g;
      g.a += i * lt.stride_a;
      g.b += i * lt.stride_b;
      g.c += i * lt.stride_c;
      std::vector<float> a, b;
      if (math != ConvMath::kFp32) {
        const int64_t a_rows = g.trans_a ? g.k : g.m, a_cols = g.trans_a ? g.m : g.k;
        const int64_t b_rows = g.trans_b ? g.n : g.k, b_cols = g.trans_b ? g.k : g.n;
        a = rounded_copy(g.a, a_rows, a_cols, g.lda, math);
        b = rounded_copy(g.b, b_rows, b_cols, g.ldb, math);
        g.a = a.data();
        g.lda = a_cols;
        g.b = b.data();
        g.ldb = b_cols;
      }
      gemm(g);
    }
  }
}

void run_lt_plan(const LtPlan& plan, const TemporalConvShape& s) {
  if (plan.permute_to != nullptr)
    for (int64_t co = 0; co < s.c_out; ++co)
      for (int64_t c = 0; c < s.c_in; ++c)
        for (int64_t tap = 0; tap < s.k; ++tap)
          plan.permute_to[(co * s.k + tap) * s.c_in + c] =
              plan.permute_from[(co * s.c_in + c) * s.k + tap];
  if (plan.zero != nullptr)
    std::memset(plan.zero, 0, static_cast<size_t>(plan.zero_floats) * sizeof(float));
  run_lt_gemms(plan.gemms, s.math);
  if (plan.unpermute_to != nullptr)
    for (int64_t co = 0; co < s.c_out; ++co)
      for (int64_t c = 0; c < s.c_in; ++c)
        for (int64_t tap = 0; tap < s.k; ++tap)
          plan.unpermute_to[(co * s.c_in + c) * s.k + tap] =
              plan.unpermute_from[(co * s.k + tap) * s.c_in + c];
}

}  // namespace cpu
}  // namespace v3d::kernels
