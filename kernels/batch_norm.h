// Batch normalisation over channels-last activations, the per-channel bias of the folded model and
// the folding of a BN into the convolution before it.
//
// Layout: x is (N, C) row-major, N = every leading dimension flattened (B * T for the (B, T, C)
// activations of the temporal model); each channel is normalised over all N rows, as PyTorch's
// BatchNorm1d does over batch and time. gamma, beta, running_mean, running_var, save_mean and
// save_inv_std are (C).
//
//   batch_norm_train:     mean[c]    = 1/N sum_r x[r, c]
//                         var[c]     = 1/N sum_r (x[r, c] - mean[c])^2          (biased)
//                         inv_std[c] = 1 / sqrt(var[c] + eps)
//                         y[r, c]    = gamma[c] * (x[r, c] - mean[c]) * inv_std[c] + beta[c]
//                         save_mean = mean, save_inv_std = inv_std (overwritten), and in place
//                         running_mean = (1 - m) running_mean + m mean
//                         running_var  = (1 - m) running_var  + m var * N / (N - 1)  (unbiased)
//                         N >= 2 (the unbiased variance of one row is undefined; PyTorch refuses
//                         it too).
//   batch_norm_infer:     y[r, c] = gamma[c] * (x[r, c] - running_mean[c]) * inv_std[c] + beta[c]
//                         with inv_std[c] = 1 / sqrt(running_var[c] + eps).
//   batch_norm_bwd:       x_hat = (x - save_mean) * save_inv_std; with the sums over rows
//                         d_beta[c]  = sum_r d_y[r, c]
//                         d_gamma[c] = sum_r d_y[r, c] * x_hat[r, c]
//                         d_x[r, c]  = gamma[c] * inv_std[c] * (d_y[r, c] - d_beta[c] / N
//                                                               - x_hat[r, c] * d_gamma[c] / N)
//                         (the gradient through the batch statistics). All three OVERWRITTEN.
//   batch_norm_infer_bwd: the backward of batch_norm_infer, whose statistics are constants:
//                         d_beta and d_gamma as above with x_hat from the running statistics,
//                         d_x = gamma * inv_std * d_y. All three OVERWRITTEN.
//   batch_norm_fold:      w (C_out, inner = C_in * K) in PyTorch order (out, in, k); for inference
//                         s[co] = gamma[co] / sqrt(running_var[co] + eps)
//                         w_folded[co, j] = w[co, j] * s[co]
//                         b_folded[co]    = beta[co] - running_mean[co] * s[co]
//                         w_folded may alias w.
//   bias_add:             y[r, c] = x[r, c] + b[c], then max(., 0) when `relu` (the fused
//                         bias + ReLU of the folded model). y may alias x.
//   bias_add_bwd:         d_b[c] = sum_r d_y[r, c] (OVERWRITTEN). d_x is d_y itself (after the
//                         ReLU's own backward when fused), so it needs no kernel.
//
// Determinism: no float atomics. The CPU sums each channel over fixed row chunks in double (the
// chunking depends only on N and C), then the chunks in order. The CUDA reductions run over a
// fixed (channel tile x row chunk) grid (batch_norm_geometry): each block writes its partial to a
// workspace, a second kernel combines the chunks of a channel in order.
// Numerics: the variance is never E[x^2] - E[x]^2 on raw values, which cancels catastrophically
// for channels with a large mean. Both backends shift every channel by its first row's value
// (exact for values within a factor of two of it); the CPU then sums the shifted values and their
// squares in double, the GPU runs Welford per thread and Chan's combination across threads and
// chunks, in float (counts are float: exact up to 2^24 rows per channel).
// Tolerances: y and x_hat carry the rounding of the float32 mean, about 2^-24 |mean| / std, which
// dominates for channels with |mean| >> std; otherwise float32 sums over N rows give about
// 1e-6 relative on the statistics and the gradient sums (relative to sum |terms|).
#pragma once

#include <algorithm>
#include <cmath>

#include "kernels/common.h"

namespace v3d::kernels {

// The CUDA reduction grid, shared by the launchers and the workspace size: blocks of
// kBnTileChannels x kBnTileRows threads cover kBnTileChannels channels of one chunk of
// `chunk_rows` rows (a multiple of kBnTileRows).
constexpr int kBnTileChannels = 32;  // one warp reads 32 consecutive floats of a row: coalesced
constexpr int kBnTileRows = 8;

struct BatchNormGeometry {
  int64_t channel_tiles = 1;
  int64_t chunks = 1;
  int64_t chunk_rows = kBnTileRows;
};

inline BatchNormGeometry batch_norm_geometry(int64_t rows, int64_t channels) {
  BatchNormGeometry g;
  g.channel_tiles = std::max<int64_t>(1, (channels + kBnTileChannels - 1) / kBnTileChannels);
  // About 512 blocks fill a large GPU several times over; below 64 rows per chunk a thread would
  // have fewer than 8 rows and the partials would cost more than they save.
  constexpr int64_t kTargetBlocks = 512, kMinChunkRows = 64;
  const int64_t want = (kTargetBlocks + g.channel_tiles - 1) / g.channel_tiles;
  const int64_t by_rows = (rows + kMinChunkRows - 1) / kMinChunkRows;
  g.chunks = std::clamp<int64_t>(std::min(want, by_rows), 1, 65535);
  const int64_t per_chunk = (rows + g.chunks - 1) / g.chunks;
  g.chunk_rows =
      std::max<int64_t>(kBnTileRows, (per_chunk + kBnTileRows - 1) / kBnTileRows * kBnTileRows);
  g.chunks = std::max<int64_t>(1, (rows + g.chunk_rows - 1) / g.chunk_rows);
  return g;
}

// Floats of device workspace the CUDA batch_norm_train, batch_norm_bwd, batch_norm_infer_bwd and
// bias_add_bwd need: three per (chunk, channel) partial. The CPU backend needs none (nullptr).
inline int64_t batch_norm_workspace_floats(int64_t rows, int64_t channels) {
  return 3 * batch_norm_geometry(rows, channels).chunks * std::max<int64_t>(1, channels);
}

inline void batch_norm_check_sizes(const char* op, int64_t rows, int64_t channels) {
  V3D_CHECK(rows >= 0, op << ": negative row count " << rows);
  V3D_CHECK(channels >= 1, op << ": channel count must be positive, got " << channels);
}

// batch_norm_train, batch_norm_bwd, batch_norm_infer_bwd: (rows, channels) with a workspace.
struct BatchNormArgs {
  int64_t rows = 0, channels = 0;
  float momentum = 0.1f;  // train only
  float eps = 1e-5f;      // train and infer_bwd
  void validate(const char* op) const { batch_norm_check_sizes(op, rows, channels); }
  int64_t workspace_floats() const { return batch_norm_workspace_floats(rows, channels); }
  // Two passes over x (statistics, normalisation) of a few operations per element.
  double flops() const { return 8.0 * static_cast<double>(rows * channels); }
  double bytes() const { return 12.0 * static_cast<double>(rows * channels); }
};

// batch_norm_infer: (rows, channels), one pass.
struct BatchNormInferArgs {
  int64_t rows = 0, channels = 0;
  float eps = 1e-5f;
  void validate(const char* op) const { batch_norm_check_sizes(op, rows, channels); }
  double flops() const { return 4.0 * static_cast<double>(rows * channels); }
  double bytes() const { return 8.0 * static_cast<double>(rows * channels); }
};

// batch_norm_fold: w (c_out, inner).
struct BatchNormFoldArgs {
  int64_t c_out = 0, inner = 0;
  float eps = 1e-5f;
  void validate(const char* op) const {
    V3D_CHECK(c_out >= 0 && inner >= 0,
              op << ": negative size c_out=" << c_out << " inner=" << inner);
  }
  double flops() const { return static_cast<double>(c_out * (inner + 4)); }
  double bytes() const { return 8.0 * static_cast<double>(c_out * (inner + 3)); }
};

// bias_add: (rows, channels), optionally fused with a ReLU.
struct BiasArgs {
  int64_t rows = 0, channels = 0;
  bool relu = false;
  void validate(const char* op) const { batch_norm_check_sizes(op, rows, channels); }
  double flops() const { return (relu ? 2.0 : 1.0) * static_cast<double>(rows * channels); }
  double bytes() const { return 8.0 * static_cast<double>(rows * channels); }
};

// bias_add_bwd: the column sums of (rows, channels), with a workspace.
struct BiasBwdArgs {
  int64_t rows = 0, channels = 0;
  void validate(const char* op) const { batch_norm_check_sizes(op, rows, channels); }
  int64_t workspace_floats() const { return batch_norm_workspace_floats(rows, channels); }
  double flops() const { return static_cast<double>(rows * channels); }
  double bytes() const { return 4.0 * static_cast<double>(rows * channels); }
};

// 1 / sqrt(var + eps) in float, correctly rounded steps, the same on every backend.
V3D_HOST_DEVICE inline float batch_norm_inv_std(float var, float eps) {
  return 1.0f / sqrtf(var + eps);
}

namespace cpu {
// x, y: (rows, C); gamma, beta, save_mean, save_inv_std, running_mean, running_var: (C).
void batch_norm_train(const BatchNormArgs& a, const float* x, const float* gamma, const float* beta,
                      float* y, float* save_mean, float* save_inv_std, float* running_mean,
                      float* running_var);
void batch_norm_infer(const BatchNormInferArgs& a, const float* x, const float* gamma,
                      const float* beta, const float* running_mean, const float* running_var,
                      float* y);
// x, d_y, d_x: (rows, C); gamma, save_mean, save_inv_std, d_gamma, d_beta: (C).
void batch_norm_bwd(const BatchNormArgs& a, const float* x, const float* d_y, const float* gamma,
                    const float* save_mean, const float* save_inv_std, float* d_x, float* d_gamma,
                    float* d_beta);
void batch_norm_infer_bwd(const BatchNormArgs& a, const float* x, const float* d_y,
                          const float* gamma, const float* running_mean, const float* running_var,
                          float* d_x, float* d_gamma, float* d_beta);
// w, w_folded: (C_out, inner); gamma, beta, running_mean, running_var, b_folded: (C_out).
void batch_norm_fold(const BatchNormFoldArgs& a, const float* w, const float* gamma,
                     const float* beta, const float* running_mean, const float* running_var,
                     float* w_folded, float* b_folded);
// x, y: (rows, C); b: (C).
void bias_add(const BiasArgs& a, const float* x, const float* b, float* y);
// d_y: (rows, C); d_b: (C).
void bias_add_bwd(const BiasBwdArgs& a, const float* d_y, float* d_b);
}  // namespace cpu

namespace launch {
// `workspace`: a.workspace_floats() floats of device memory.
template <GpuKind G>
void batch_norm_train(const BatchNormArgs& a, const float* x, const float* gamma, const float* beta,
                      float* y, float* save_mean, float* save_inv_std, float* running_mean,
                      float* running_var, float* workspace, StreamHandle s);
template <GpuKind G>
void batch_norm_infer(const BatchNormInferArgs& a, const float* x, const float* gamma,
                      const float* beta, const float* running_mean, const float* running_var,
                      float* y, StreamHandle s);
template <GpuKind G>
void batch_norm_bwd(const BatchNormArgs& a, const float* x, const float* d_y, const float* gamma,
                    const float* save_mean, const float* save_inv_std, float* d_x, float* d_gamma,
                    float* d_beta, float* workspace, StreamHandle s);
template <GpuKind G>
void batch_norm_infer_bwd(const BatchNormArgs& a, const float* x, const float* d_y,
                          const float* gamma, const float* running_mean, const float* running_var,
                          float* d_x, float* d_gamma, float* d_beta, float* workspace,
                          StreamHandle s);
template <GpuKind G>
void batch_norm_fold(const BatchNormFoldArgs& a, const float* w, const float* gamma,
                     const float* beta, const float* running_mean, const float* running_var,
                     float* w_folded, float* b_folded, StreamHandle s);
template <GpuKind G>
void bias_add(const BiasArgs& a, const float* x, const float* b, float* y, StreamHandle s);
template <GpuKind G>
void bias_add_bwd(const BiasBwdArgs& a, const float* d_y, float* d_b, float* workspace,
                  StreamHandle s);
}  // namespace launch

}  // namespace v3d::kernels
