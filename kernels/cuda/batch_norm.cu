// CUDA backend of kernels/batch_norm.h. x is (rows, C) row-major. Every kernel runs blocks of
// (kBnTileChannels = 32) x (kBnTileRows = 8) threads: threadIdx.x is a channel, so each warp reads
// 32 consecutive floats of one row (coalesced), threadIdx.y a row phase.
//
// Per-channel reductions take two launches and no atomics (deterministic):
//   channel_partial_kernel   grid (channel tiles, row chunks): each thread accumulates its rows,
//                            the 8 row phases are combined through shared memory, and the block
//                            writes one partial per channel: workspace (chunks, C).
//   channel_finalize_kernel  one thread per channel combines the chunks in order and writes the
//                            results (statistics, running update, or gradient sums).
// Elementwise passes (normalise, d_x, bias) use channel_map_kernel, which loads each channel's
// parameters once per thread and walks a grid-stride share of the rows.
#include "kernels/batch_norm.h"
#include "kernels/gpu/check.h"
#include "kernels/gpu/compat.h"
#include "kernels/gpu/kind.h"

namespace v3d::kernels::V3D_GPU_NS {
namespace {

constexpr int kTx = kBnTileChannels;
constexpr int kTy = kBnTileRows;

// Welford moments (count, mean, sum of squared deviations) of channel values shifted by the
// channel's row-0 value, combined with Chan's formula: never cancels, even for large means.
// No constructors: it lives in a static __shared__ array.
struct Moments {
  float n, mean, m2;
  __device__ void push(float v) {
    n += 1.0f;
    const float d = v - mean;
    mean += d / n;
    m2 += d * (v - mean);
  }
  __device__ void merge(const Moments& o) {
    if (o.n == 0.0f) return;
    if (n == 0.0f) {
      *this = o;
      return;
    }
    const float total = n + o.n, d = o.mean - mean, w = o.n / total;
    mean += d * w;
    m2 += o.m2 + d * d * n * w;
    n = total;
  }
};

// Two plain sums (d_beta and d_gamma, or the bias gradient alone).
struct Sums {
  float a, b;
  __device__ void merge(const Sums& o) {
    a += o.a;
    b += o.b;
  }
};

// The statistics a channel is normalised with: saved (mean, inv_std) or running (mean, var), whose
// inv_std is recomputed exactly as the inference forward does.
struct ChannelStats {
  const float* mean;
  const float* spread;  // inv_std, or the variance when spread_is_var
  bool spread_is_var;
  float eps;
  __device__ void get(int64_t c, float& m, float& inv_std) const {
    m = mean[c];
    inv_std = spread_is_var ? batch_norm_inv_std(spread[c], eps) : spread[c];
  }
};

// The per-element functors below split into fetch(i) (the loads of element i = r * C + c) and a
// consumer, so that the kernels can issue kUnroll rows of loads before using any of them: that
// keeps several loads in flight per thread, which a memory-bound kernel needs. (The constant-trip
// loops over kUnroll are unrolled by nvcc at -O3 without a pragma, which the host build rejects.)
constexpr int kUnroll = 4;

struct XDy {
  float x, dy;
};

// ---- loads: what a thread accumulates for its channel ------------------------------------------

struct MomentsLoad {
  const float* x;
  float pivot;
  __device__ void set_channel(int64_t c) { pivot = x[c]; }
  __device__ float fetch(int64_t i) const { return x[i]; }
  __device__ void add(Moments& acc, float v) const { acc.push(v - pivot); }
};

struct GradLoad {
  const float* x;
  const float* d_y;
  ChannelStats stats;
  float mean, inv_std;
  __device__ void set_channel(int64_t c) { stats.get(c, mean, inv_std); }
  __device__ XDy fetch(int64_t i) const { return {x[i], d_y[i]}; }
  __device__ void add(Sums& acc, const XDy& v) const {
    acc.a += v.dy;
    acc.b += v.dy * ((v.x - mean) * inv_std);
  }
};

struct SumLoad {
  const float* d_y;
  __device__ void set_channel(int64_t) {}
  __device__ float fetch(int64_t i) const { return d_y[i]; }
  __device__ void add(Sums& acc, float v) const { acc.a += v; }
};

// ---- finishers: what becomes of a channel's combined accumulator ------------------------------

struct StatsFinish {
  const float* x;  // row 0 is the shift of the moments
  float n, unbiased, momentum, eps;
  float* save_mean;
  float* save_inv_std;
  float* running_mean;
  float* running_var;
  __device__ void operator()(const Moments& acc, int64_t c) const {
    const float mean = x[c] + acc.mean;
    const float var = fmaxf(acc.m2 / n, 0.0f);
    save_mean[c] = mean;
    save_inv_std[c] = batch_norm_inv_std(var, eps);
    running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean;
    running_var[c] = (1.0f - momentum) * running_var[c] + momentum * (var * unbiased);
  }
};

struct SumsFinish {
  float* out_a;
  float* out_b;  // nullptr: only the first sum is wanted
  __device__ void operator()(const Sums& acc, int64_t c) const {
    out_a[c] = acc.a;
    if (out_b != nullptr) out_b[c] = acc.b;
  }
};

// ---- elementwise ops over (rows, C) with per-channel parameters --------------------------------

struct NormalizeOp {
  const float* x;
  const float* gamma;
  const float* beta;
  ChannelStats stats;
  float* y;
  float mean, scale, shift;
  __device__ void set_channel(int64_t c) {
    float inv_std;
    stats.get(c, mean, inv_std);
    scale = gamma[c] * inv_std;
    shift = beta[c];
  }
  __device__ float fetch(int64_t i) const { return x[i]; }
  __device__ void store(int64_t i, float v) const { y[i] = (v - mean) * scale + shift; }
};

// d_x = k (d_y - mean_dy - x_hat mean_dy_xhat) through the batch statistics, k d_y without.
struct DxOp {
  const float* x;
  const float* d_y;
  const float* gamma;
  const float* d_gamma;
  const float* d_beta;
  ChannelStats stats;
  float inv_n;
  bool through_batch_stats;
  float* d_x;
  float mean, inv_std, k, mean_dy, mean_dy_xhat;
  __device__ void set_channel(int64_t c) {
    stats.get(c, mean, inv_std);
    k = gamma[c] * inv_std;
    mean_dy = through_batch_stats ? d_beta[c] * inv_n : 0.0f;
    mean_dy_xhat = through_batch_stats ? d_gamma[c] * inv_n : 0.0f;
  }
  __device__ XDy fetch(int64_t i) const { return {x[i], d_y[i]}; }
  __device__ void store(int64_t i, const XDy& v) const {
    const float x_hat = (v.x - mean) * inv_std;
    d_x[i] = k * (v.dy - mean_dy - x_hat * mean_dy_xhat);
  }
};

struct BiasOp {
  const float* x;
  const float* b;
  bool relu;
  float* y;
  float bias;
  __device__ void set_channel(int64_t c) { bias = b[c]; }
  __device__ float fetch(int64_t i) const { return x[i]; }
  __device__ void store(int64_t i, float v) const {
    v += bias;
    y[i] = relu ? fmaxf(v, 0.0f) : v;
  }
};

// ---- kernels -----------------------------------------------------------------------------------

// rows x channels elements -> partial: (gridDim.y chunks, channels). Block (kTx, kTy); block
// (bx, by) covers channels [bx * kTx, +kTx) of rows [by * chunk_rows, +chunk_rows).
template <class Acc, class Load>
__global__ void channel_partial_kernel(Load load, int64_t rows, int64_t channels,
                                       int64_t chunk_rows, Acc* partial) {
  GPU_SHARED(Acc, tile, [kTy][kTx]);  // one accumulator per (row phase, channel)
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kTx + tx;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * chunk_rows;
  const int64_t r1 = r0 + chunk_rows < rows ? r0 + chunk_rows : rows;
  Acc acc{};
  if (c < channels) {
    load.set_channel(c);
    int64_t r = r0 + ty;
    // kUnroll rows of loads in flight, then the (order-preserving) accumulation.
    for (; r + (kUnroll - 1) * kTy < r1; r += kUnroll * kTy) {
      decltype(load.fetch(0)) v[kUnroll];
      for (int u = 0; u < kUnroll; ++u) v[u] = load.fetch((r + u * kTy) * channels + c);
      for (int u = 0; u < kUnroll; ++u) load.add(acc, v[u]);
    }
    for (; r < r1; r += kTy) load.add(acc, load.fetch(r * channels + c));
  }
  // Tree over the row phases; every thread reaches every barrier, channel in range or not.
  tile[ty][tx] = acc;
  __syncthreads();
  for (int half = kTy / 2; half > 0; half >>= 1) {
    if (ty < half) {
      acc.merge(tile[ty + half][tx]);
      tile[ty][tx] = acc;
    }
    __syncthreads();
  }
  if (ty == 0 && c < channels) partial[static_cast<int64_t>(blockIdx.y) * channels + c] = acc;
}

// partial: (chunks, channels) -> finish(combined, c) for every channel; chunks in order.
template <class Acc, class Finish>
__global__ void channel_finalize_kernel(const Acc* __restrict__ partial, int64_t chunks,
                                        int64_t channels, Finish finish) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < channels;
       c += stride) {
    Acc acc = partial[c];
    for (int64_t k = 1; k < chunks; ++k) acc.merge(partial[k * channels + c]);
    finish(acc, c);
  }
}

// op.store(i, op.fetch(i)) for i = r * channels + c over (rows, channels). Block (kTx, kTy); grid.x
// covers the channels, grid.y a grid-stride share of the rows.
template <class Op>
__global__ void channel_map_kernel(Op op, int64_t rows, int64_t channels) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kTx + threadIdx.x;
  if (c >= channels) return;  // no barriers below
  op.set_channel(c);
  const int64_t stride = static_cast<int64_t>(gridDim.y) * kTy;
  int64_t r = static_cast<int64_t>(blockIdx.y) * kTy + threadIdx.y;
  // kUnroll rows of loads first: the stores may alias the loads (bias_add in place), so the
  // compiler could not hoist later loads above earlier stores by itself.
  for (; r + (kUnroll - 1) * stride < rows; r += kUnroll * stride) {
    decltype(op.fetch(0)) v[kUnroll];
    for (int u = 0; u < kUnroll; ++u) v[u] = op.fetch((r + u * stride) * channels + c);
    for (int u = 0; u < kUnroll; ++u) op.store((r + u * stride) * channels + c, v[u]);
  }
  for (; r < rows; r += stride) op.store(r * channels + c, op.fetch(r * channels + c));
}

// w, w_folded: (c_out, inner); b_folded: (c_out). One thread per weight; the first c_out threads
// of the grid-stride range also write the bias.
__global__ void bn_fold_kernel(const float* w, const float* __restrict__ gamma,
                               const float* __restrict__ beta,
                               const float* __restrict__ running_mean,
                               const float* __restrict__ running_var, int64_t c_out, int64_t inner,
                               float eps, float* w_folded, float* b_folded) {
  const int64_t n = c_out * inner > c_out ? c_out * inner : c_out;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    if (i < c_out * inner) {
      const int64_t co = i / inner;
      w_folded[i] = w[i] * (gamma[co] * batch_norm_inv_std(running_var[co], eps));
    }
    if (i < c_out) {
      const float s = gamma[i] * batch_norm_inv_std(running_var[i], eps);
      b_folded[i] = beta[i] - running_mean[i] * s;
    }
  }
}

// ---- host side ---------------------------------------------------------------------------------

// Partial and final launches of one per-channel reduction; workspace holds the partials.
template <class Acc, class Load, class Finish>
void reduce_channels(const char* op, Load load, Finish finish, int64_t rows, int64_t channels,
                     float* workspace, gpu::Stream stream) {
  static_assert(sizeof(Acc) <= 3 * sizeof(float), "batch_norm_workspace_floats: 3 per partial");
  V3D_CHECK(workspace != nullptr, op << ": the CUDA reduction needs a workspace");
  const BatchNormGeometry g = batch_norm_geometry(rows, channels);
  Acc* partial = reinterpret_cast<Acc*>(workspace);
  const dim3 grid(static_cast<unsigned>(g.channel_tiles), static_cast<unsigned>(g.chunks));
  GPU_LAUNCH((channel_partial_kernel<Acc, Load>), grid, dim3(kTx, kTy), 0, stream, load, rows,
             channels, g.chunk_rows, partial);
  V3D_LAUNCH_CHECK(op, stream);
  constexpr int kThreads = 256;
  GPU_LAUNCH((channel_finalize_kernel<Acc, Finish>), grid_for(channels, kThreads), kThreads, 0,
             stream, partial, g.chunks, channels, finish);
  V3D_LAUNCH_CHECK(op, stream);
}

template <class Op>
void map_channels(const char* op_name, Op op, int64_t rows, int64_t channels, gpu::Stream stream) {
  if (rows == 0) return;
  const int64_t tiles = (channels + kTx - 1) / kTx;
  V3D_CHECK(tiles <= 0x7fffffff, op_name << ": too many channels " << channels);
  // About 1024 blocks of 256 threads in all, one resident wave on a large GPU (132 SMs x 2048
  // threads); a thread then loops over rows / (grid.y * kTy) rows, kUnroll loads at a time.
  const int64_t max_y = std::clamp<int64_t>(1024 / tiles, 1, 65535);
  const int64_t grid_y = std::clamp<int64_t>((rows + kTy - 1) / kTy, 1, max_y);
  const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(grid_y));
  GPU_LAUNCH((channel_map_kernel<Op>), grid, dim3(kTx, kTy), 0, stream, op, rows, channels);
  V3D_LAUNCH_CHECK(op_name, stream);
}

void backward(const char* op, const float* x, const float* d_y, const float* gamma,
              ChannelStats stats, int64_t rows, int64_t channels, bool through_batch_stats,
              float* d_x, float* d_gamma, float* d_beta, float* workspace, gpu::Stream stream) {
  reduce_channels<Sums>(op, GradLoad{x, d_y, stats, 0.0f, 0.0f}, SumsFinish{d_beta, d_gamma}, rows,
                        channels, workspace, stream);
  const float inv_n = rows > 0 ? 1.0f / static_cast<float>(rows) : 0.0f;
  map_channels(op,
               DxOp{x, d_y, gamma, d_gamma, d_beta, stats, inv_n, through_batch_stats, d_x, 0.0f,
                    0.0f, 0.0f, 0.0f, 0.0f},
               rows, channels, stream);
}

}  // namespace
}  // namespace v3d::kernels::V3D_GPU_NS

namespace v3d::kernels::launch {
namespace impl = ::v3d::kernels::V3D_GPU_NS;

template <>
void batch_norm_train<V3D_GPU_KIND>(const BatchNormArgs& args, const float* x, const float* gamma,
                                    const float* beta, float* y, float* save_mean,
                                    float* save_inv_std, float* running_mean, float* running_var,
                                    float* workspace, StreamHandle s) {
  const int64_t rows = args.rows, channels = args.channels;
  const float momentum = args.momentum, eps = args.eps;
  args.validate("batch_norm_train");
  V3D_CHECK(rows >= 2,
            "batch_norm_train: needs at least 2 rows per channel for the unbiased "
            "running variance, got "
                << rows);
  auto stream = static_cast<gpu::Stream>(s);
  const float n = static_cast<float>(rows);
  impl::reduce_channels<impl::Moments>(
      "batch_norm_train", impl::MomentsLoad{x, 0.0f},
      impl::StatsFinish{x, n, n / (n - 1.0f), momentum, eps, save_mean, save_inv_std, running_mean,
                        running_var},
      rows, channels, workspace, stream);
  impl::map_channels(
      "batch_norm_train",
      impl::NormalizeOp{x, gamma, beta, impl::ChannelStats{save_mean, save_inv_std, false, eps}, y,
                        0.0f, 0.0f, 0.0f},
      rows, channels, stream);
}

template <>
void batch_norm_infer<V3D_GPU_KIND>(const BatchNormInferArgs& args, const float* x,
                                    const float* gamma, const float* beta,
                                    const float* running_mean, const float* running_var, float* y,
                                    StreamHandle s) {
  const int64_t rows = args.rows, channels = args.channels;
  const float eps = args.eps;
  args.validate("batch_norm_infer");
  impl::map_channels(
      "batch_norm_infer",
      impl::NormalizeOp{x, gamma, beta, impl::ChannelStats{running_mean, running_var, true, eps}, y,
                        0.0f, 0.0f, 0.0f},
      rows, channels, static_cast<gpu::Stream>(s));
}

template <>
void batch_norm_bwd<V3D_GPU_KIND>(const BatchNormArgs& args, const float* x, const float* d_y,
                                  const float* gamma, const float* save_mean,
                                  const float* save_inv_std, float* d_x, float* d_gamma,
                                  float* d_beta, float* workspace, StreamHandle s) {
  const int64_t rows = args.rows, channels = args.channels;
  args.validate("batch_norm_bwd");
  impl::backward("batch_norm_bwd", x, d_y, gamma,
                 impl::ChannelStats{save_mean, save_inv_std, false, 0.0f}, rows, channels, true,
                 d_x, d_gamma, d_beta, workspace, static_cast<gpu::Stream>(s));
}

template <>
void batch_norm_infer_bwd<V3D_GPU_KIND>(const BatchNormArgs& args, const float* x, const float* d_y,
                                        const float* gamma, const float* running_mean,
                                        const float* running_var, float* d_x, float* d_gamma,
                                        float* d_beta, float* workspace, StreamHandle s) {
  const int64_t rows = args.rows, channels = args.channels;
  const float eps = args.eps;
  args.validate("batch_norm_infer_bwd");
  impl::backward("batch_norm_infer_bwd", x, d_y, gamma,
                 impl::ChannelStats{running_mean, running_var, true, eps}, rows, channels, false,
                 d_x, d_gamma, d_beta, workspace, static_cast<gpu::Stream>(s));
}

template <>
void batch_norm_fold<V3D_GPU_KIND>(const BatchNormFoldArgs& args, const float* w,
                                   const float* gamma, const float* beta, const float* running_mean,
                                   const float* running_var, float* w_folded, float* b_folded,
                                   StreamHandle s) {
  const int64_t c_out = args.c_out, inner = args.inner;
  const float eps = args.eps;
  args.validate("batch_norm_fold");
  if (c_out == 0) return;
  auto stream = static_cast<gpu::Stream>(s);
  constexpr int kThreads = 256;
  GPU_LAUNCH(impl::bn_fold_kernel, grid_for(std::max(c_out * inner, c_out), kThreads), kThreads, 0,
             stream, w, gamma, beta, running_mean, running_var, c_out, inner, eps, w_folded,
             b_folded);
  V3D_LAUNCH_CHECK("batch_norm_fold", stream);
}

template <>
void bias_add<V3D_GPU_KIND>(const BiasArgs& args, const float* x, const float* b, float* y,
                            StreamHandle s) {
  const int64_t rows = args.rows, channels = args.channels;
  const bool relu = args.relu;
  args.validate("bias_add");
  impl::map_channels("bias_add", impl::BiasOp{x, b, relu, y, 0.0f}, rows, channels,
                     static_cast<gpu::Stream>(s));
}

template <>
void bias_add_bwd<V3D_GPU_KIND>(const BiasBwdArgs& args, const float* d_y, float* d_b,
                                float* workspace, StreamHandle s) {
  const int64_t rows = args.rows, channels = args.channels;
  args.validate("bias_add_bwd");
  impl::reduce_channels<impl::Sums>("bias_add_bwd", impl::SumLoad{d_y},
                                    impl::SumsFinish{d_b, nullptr}, rows, channels, workspace,
                                    static_cast<gpu::Stream>(s));
}

}  // namespace v3d::kernels::launch
