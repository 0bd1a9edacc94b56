// CPU backend of kernels/batch_norm.h. x is (rows, C) row-major, so every per-channel reduction
// walks rows and keeps C running sums in double: the inner loop over channels is contiguous and
// vectorises. Rows are split into chunks whose size depends only on (rows, C); OpenMP runs the
// chunks in parallel and the chunk sums are added in order, so the result does not depend on the
// thread count.
#include "kernels/batch_norm.h"

#include <cmath>
#include <vector>

namespace v3d::kernels::cpu {
namespace {

// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelMin = 1 << 16;

// Rows per reduction chunk: at most 64 chunks (the partials stay within a few MB), and at least
// 16K elements per chunk so that small tensors are not split for nothing.
int64_t chunk_rows(int64_t rows, int64_t channels) {
  const int64_t by_count = (rows + 63) / 64;
  const int64_t by_size = (16384 + channels - 1) / channels;
  return std::max<int64_t>(1, std::max(by_count, by_size));
}

// sum_a[c] = sum_r a(r, c), sum_b[c] = sum_r b(r, c), where terms(r, a, b) adds row r's terms to
// the C-long accumulators a and b. sum_a, sum_b: (C).
template <class Terms>
void channel_sums(int64_t rows, int64_t channels, const Terms& terms, std::vector<double>& sum_a,
                  std::vector<double>& sum_b) {
  const int64_t chunk = chunk_rows(rows, channels);
  const int64_t chunks = (rows + chunk - 1) / chunk;
  const size_t cs = static_cast<size_t>(channels);
  // partial: (chunks, 2, C)
  std::vector<double> partial(static_cast<size_t>(chunks) * 2 * cs, 0.0);
#pragma omp parallel for schedule(static) if (rows * channels >= kParallelMin)
  for (int64_t k = 0; k < chunks; ++k) {
    double* a = partial.data() + static_cast<size_t>(k) * 2 * cs;
    double* b = a + cs;
    const int64_t end = std::min(rows, (k + 1) * chunk);
    for (int64_t r = k * chunk; r < end; ++r) terms(r, a, b);
  }
  sum_a.assign(cs, 0.0);
  sum_b.assign(cs, 0.0);
  for (int64_t k = 0; k < chunks; ++k) {
    const double* a = partial.data() + static_cast<size_t>(k) * 2 * cs;
    const double* b = a + cs;
    for (size_t c = 0; c < cs; ++c) {
      sum_a[c] += a[c];
      sum_b[c] += b[c];
    }
  }
}

// y[r, c] = (x[r, c] - mean[c]) * scale[c] + shift[c] over (rows, C).
void normalize(const float* x, const float* mean, const float* scale, const float* shift,
               int64_t rows, int64_t channels, float* y) {
#pragma omp parallel for schedule(static) if (rows * channels >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * channels;
    float* yr = y + r * channels;
#pragma omp simd
    for (int64_t c = 0; c < channels; ++c) yr[c] = (xr[c] - mean[c]) * scale[c] + shift[c];
  }
}

// The backward of both modes. mean, inv_std: (C) the statistics the forward normalised with;
// through_batch_stats adds the gradient through them (training).
void backward(const float* x, const float* d_y, const float* gamma, const float* mean,
              const float* inv_std, int64_t rows, int64_t channels, bool through_batch_stats,
              float* d_x, float* d_gamma, float* d_beta) {
  std::vector<double> s_dy, s_dy_xhat;
  channel_sums(
      rows, channels,
      [&](int64_t r, double* a, double* b) {
        const float* xr = x + r * channels;
        const float* dyr = d_y + r * channels;
#pragma omp simd
        for (int64_t c = 0; c < channels; ++c) {
          // x_hat and the product in float (one rounding each, as on the GPU), the sum in double.
          const float x_hat = (xr[c] - mean[c]) * inv_std[c];
          a[c] += dyr[c];
          b[c] += dyr[c] * x_hat;
        }
      },
      s_dy, s_dy_xhat);
  const size_t cs = static_cast<size_t>(channels);
  // Per channel: d_x = k * (d_y - mean_dy - x_hat * mean_dy_xhat), in float like the GPU.
  std::vector<float> k(cs), mean_dy(cs, 0.0f), mean_dy_xhat(cs, 0.0f);
  const double inv_n = rows > 0 ? 1.0 / static_cast<double>(rows) : 0.0;
  for (size_t c = 0; c < cs; ++c) {
    d_beta[c] = static_cast<float>(s_dy[c]);
    d_gamma[c] = static_cast<float>(s_dy_xhat[c]);
    k[c] = gamma[c] * inv_std[c];
    if (through_batch_stats) {
      mean_dy[c] = static_cast<float>(s_dy[c] * inv_n);
      mean_dy_xhat[c] = static_cast<float>(s_dy_xhat[c] * inv_n);
    }
  }
#pragma omp parallel for schedule(static) if (rows * channels >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * channels;
    const float* dyr = d_y + r * channels;
    float* dxr = d_x + r * channels;
#pragma omp simd
    for (int64_t c = 0; c < channels; ++c) {
      const float x_hat = (xr[c] - mean[c]) * inv_std[c];
      dxr[c] = k[c] * (dyr[c] - mean_dy[c] - x_hat * mean_dy_xhat[c]);
    }
  }
}

}  // namespace

void batch_norm_train(const BatchNormArgs& args, const float* x, const float* gamma,
                      const float* beta, float* y, float* save_mean, float* save_inv_std,
                      float* running_mean, float* running_var) {
  const int64_t rows = args.rows, channels = args.channels;
  const float momentum = args.momentum, eps = args.eps;
  args.validate("batch_norm_train");
  V3D_CHECK(rows >= 2,
            "batch_norm_train: needs at least 2 rows per channel for the unbiased "
            "running variance, got "
                << rows);
  // Shifted sums: d = x - x[0, c] is exact in double, and the variance of d equals that of x
  // without the cancellation of a large mean.
  const float* pivot = x;  // row 0: (C)
  std::vector<double> s, q;
  channel_sums(
      rows, channels,
      [&](int64_t r, double* a, double* b) {
        const float* xr = x + r * channels;
#pragma omp simd
        for (int64_t c = 0; c < channels; ++c) {
          const double d = static_cast<double>(xr[c]) - pivot[c];
          a[c] += d;
          b[c] += d * d;
        }
      },
      s, q);
  const size_t cs = static_cast<size_t>(channels);
  const double n = static_cast<double>(rows), m = momentum;
  std::vector<float> scale(cs);
  for (size_t c = 0; c < cs; ++c) {
    const double shift_mean = s[c] / n;
    const double var = std::max(0.0, q[c] / n - shift_mean * shift_mean);
    const double mean = pivot[c] + shift_mean;
    save_mean[c] = static_cast<float>(mean);
    save_inv_std[c] = static_cast<float>(1.0 / std::sqrt(var + eps));
    scale[c] = gamma[c] * save_inv_std[c];
    running_mean[c] = static_cast<float>((1.0 - m) * running_mean[c] + m * mean);
    running_var[c] = static_cast<float>((1.0 - m) * running_var[c] + m * var * n / (n - 1.0));
  }
  normalize(x, save_mean, scale.data(), beta, rows, channels, y);
}

void batch_norm_infer(const BatchNormInferArgs& args, const float* x, const float* gamma,
                      const float* beta, const float* running_mean, const float* running_var,
                      float* y) {
  const int64_t rows = args.rows, channels = args.channels;
  const float eps = args.eps;
  args.validate("batch_norm_infer");
  std::vector<float> scale(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c)
    scale[c] = gamma[c] * batch_norm_inv_std(running_var[c], eps);
  normalize(x, running_mean, scale.data(), beta, rows, channels, y);
}

void batch_norm_bwd(const BatchNormArgs& args, const float* x, const float* d_y, const float* gamma,
                    const float* save_mean, const float* save_inv_std, float* d_x, float* d_gamma,
                    float* d_beta) {
  const int64_t rows = args.rows, channels = args.channels;
  args.validate("batch_norm_bwd");
  backward(x, d_y, gamma, save_mean, save_inv_std, rows, channels, true, d_x, d_gamma, d_beta);
}

void batch_norm_infer_bwd(const BatchNormArgs& args, const float* x, const float* d_y,
                          const float* gamma, const float* running_mean, const float* running_var,
                          float* d_x, float* d_gamma, float* d_beta) {
  const int64_t rows = args.rows, channels = args.channels;
  const float eps = args.eps;
  args.validate("batch_norm_infer_bwd");
  std::vector<float> inv_std(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) inv_std[c] = batch_norm_inv_std(running_var[c], eps);
  backward(x, d_y, gamma, running_mean, inv_std.data(), rows, channels, false, d_x, d_gamma,
           d_beta);
}

void batch_norm_fold(const BatchNormFoldArgs& args, const float* w, const float* gamma,
                     const float* beta, const float* running_mean, const float* running_var,
                     float* w_folded, float* b_folded) {
  const int64_t c_out = args.c_out, inner = args.inner;
  const float eps = args.eps;
  args.validate("batch_norm_fold");
  // w: (C_out, inner); one output channel's filter is scaled by one factor.
  for (int64_t co = 0; co < c_out; ++co) {
    const float s = gamma[co] * batch_norm_inv_std(running_var[co], eps);
    for (int64_t j = 0; j < inner; ++j) w_folded[co * inner + j] = w[co * inner + j] * s;
    b_folded[co] = beta[co] - running_mean[co] * s;
  }
}

void bias_add(const BiasArgs& args, const float* x, const float* b, float* y) {
  const int64_t rows = args.rows, channels = args.channels;
  const bool relu = args.relu;
  args.validate("bias_add");
#pragma omp parallel for schedule(static) if (rows * channels >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * channels;
    float* yr = y + r * channels;
    if (relu) {
#pragma omp simd
      for (int64_t c = 0; c < channels; ++c) {
        const float v = xr[c] + b[c];
        yr[c] = v > 0.0f ? v : 0.0f;
      }
    } else {
#pragma omp simd
      for (int64_t c = 0; c < channels; ++c) yr[c] = xr[c] + b[c];
    }
  }
}

void bias_add_bwd(const BiasBwdArgs& args, const float* d_y, float* d_b) {
  const int64_t rows = args.rows, channels = args.channels;
  args.validate("bias_add_bwd");
  std::vector<double> s, unused;
  channel_sums(
      rows, channels,
      [&](int64_t r, double* a, double*) {
        const float* dyr = d_y + r * channels;
#pragma omp simd
        for (int64_t c = 0; c < channels; ++c) a[c] += dyr[c];
      },
      s, unused);
  for (int64_t c = 0; c < channels; ++c) d_b[c] = static_cast<float>(s[c]);
}

}  // namespace v3d::kernels::cpu
