// CUDA backend of kernels/temporal_conv.h: one hand-written implicit-GEMM kernel serves all three
// passes in float32 (the TF32 and BF16 passes are the tensor-core kernels of temporal_conv_tc.cu).
// It computes C (M, N) = sum_r A(m, r) * B(r, n) with the operands and the result reached through
// index-mapping functors, so no im2col matrix is ever built for the forward pass:
// clang-format off
//
//   pass         M          N          reduction    A (m, r)              B (r, n)          C
//   fwd          B*T_out    C_out      K*C_in       x window (gather)     w[n, ci, k]       y
//   bwd_data     B*T_out    K*C_in     C_out        d_y[m, co]            w[co, ci, k]      d_x or d_X_col
//   bwd_weight   C_out      K*C_in     B*T_out      d_y[row, m]           x window          d_w (C_out, C_in, K)
// clang-format on
//
// with r = k*C_in + ci in the K*C_in dimension (tap-major, where x is contiguous).
//
// Tiling: a block of 256 threads computes a 64 x 64 tile of C; the reduction advances in slices
// of 16 staged in shared memory (A as (16, 64), B as (16, 64)), each thread accumulating a 4 x 4
// micro-tile in registers (rows ty + 16 i, columns tx + 16 j: conflict-free shared reads and
// coalesced stores along n). The next slice's global loads are issued into registers before the
// current slice is multiplied, so they overlap the arithmetic. Every load is bounds-checked
// (zero outside), so any M, N, reduction length works.
//
// bwd_data: with disjoint windows (s >= (K-1)*d + 1) every d_X_col element has its own d_x
// element, so the GEMM stores into d_x directly and a second kernel zeroes the frames nobody
// reads; otherwise the GEMM writes d_X_col into the workspace and col2im_kernel gathers it (each
// d_x element sums its taps in ascending k: deterministic, no atomics).
// bwd_weight: when the tile grid is too small to fill the GPU the reduction over B*T_out is split
// (blockIdx.z); each split writes its own partial (C_out, K*C_in) result into the workspace and
// sum_splits_kernel adds them in split order. No float atomics anywhere.
#include "kernels/cuda/temporal_conv_lt.cuh"
#include "kernels/cuda/temporal_conv_tc.cuh"
#include "kernels/gpu/check.h"
#include "kernels/gpu/compat.h"
#include "kernels/gpu/kind.h"
#include "kernels/temporal_conv.h"

namespace v3d::kernels::V3D_GPU_NS {
namespace {

constexpr int kTile = kTemporalConvTile;           // 64 x 64 output tile per block
constexpr int kSlice = kTemporalConvSlice;         // reduction slice staged in shared memory
constexpr int kThreads = 256;                      // 16 x 16 threads
constexpr int kSide = 16;                          // threads per side of the block
constexpr int kMicro = kTile / kSide;              // 4 x 4 accumulators per thread
constexpr int kLoads = kTile * kSlice / kThreads;  // elements of each operand per thread and slice
constexpr int kPad = 2;  // (16, 64 + 2) tiles: conflict-free stores in both load orientations
constexpr int kElementwiseThreads = 256;

static_assert(kTile % kSide == 0 && (kTile * kSlice) % kThreads == 0, "tile geometry");

// ---- operand loaders ---------------------------------------------------------------------------
// Each thread loads the same m (for A) or n (for B) in every slice, so a loader splits its index
// math into line(i), computed once per kernel, and at(line, r) per element.
// kAlongReduction: the operand is contiguous (or nearly) along r, so consecutive threads take
// consecutive r; otherwise they take consecutive m (n) for coalescing.

// fwd A (m, r): x[b, t*s + k*d, ci], m = b*T_out + t, r = k*C_in + ci
struct XWindowRows {
  static constexpr bool kAlongReduction = true;
  const float* x;
  TemporalConvShape s;
  int64_t t_out;
  __device__ int64_t line(int64_t m) const {
    const int64_t b = m / t_out, t = m - b * t_out;
    return (b * s.t_in + t * s.stride) * s.c_in;
  }
  __device__ float at(int64_t base, int64_t r) const {
    const int64_t tap = r / s.c_in, ci = r - tap * s.c_in;
    return x[base + tap * s.dilation * s.c_in + ci];
  }
};

// fwd B (r, n): w[n, ci, k], r = k*C_in + ci (stride K along r)
struct WeightByOutput {
  static constexpr bool kAlongReduction = true;
  const float* w;
  TemporalConvShape s;
  __device__ int64_t line(int64_t co) const { return co * s.c_in * s.k; }
  __device__ float at(int64_t base, int64_t r) const {
    const int64_t tap = r / s.c_in, ci = r - tap * s.c_in;
    return w[base + ci * s.k + tap];
  }
};

// bwd_data A (m, co): d_y[m, co]
struct GradOutRows {
  static constexpr bool kAlongReduction = true;
  const float* d_y;
  int64_t c_out;
  __device__ int64_t line(int64_t m) const { return m * c_out; }
  __device__ float at(int64_t base, int64_t co) const { return d_y[base + co]; }
};

// bwd_data B (co, r): w[co, ci, k], r = k*C_in + ci; consecutive threads take consecutive r
// (stride K) rather than consecutive co (stride C_in*K).
struct WeightByInput {
  static constexpr bool kAlongReduction = false;
  const float* w;
  TemporalConvShape s;
  __device__ int64_t line(int64_t r) const {
    const int64_t tap = r / s.c_in, ci = r - tap * s.c_in;
    return ci * s.k + tap;
  }
  __device__ float at(int64_t offset, int64_t co) const { return w[co * s.c_in * s.k + offset]; }
};

// bwd_weight A (co, row): d_y[row, co], row = b*T_out + t; contiguous along co.
struct GradOutColumns {
  static constexpr bool kAlongReduction = false;
  const float* d_y;
  int64_t c_out;
  __device__ int64_t line(int64_t co) const { return co; }
  __device__ float at(int64_t co, int64_t row) const { return d_y[row * c_out + co]; }
};

// bwd_weight B (row, r): x[b, t*s + k*d, ci]; contiguous along r.
struct XWindowColumns {
  static constexpr bool kAlongReduction = false;
  const float* x;
  TemporalConvShape s;
  int64_t t_out;
  __device__ int64_t line(int64_t r) const {
    const int64_t tap = r / s.c_in, ci = r - tap * s.c_in;
    return tap * s.dilation * s.c_in + ci;
  }
  __device__ float at(int64_t offset, int64_t row) const {
    const int64_t b = row / t_out, t = row - b * t_out;
    return x[(b * s.t_in + t * s.stride) * s.c_in + offset];
  }
};

// ---- the implicit GEMM -------------------------------------------------------------------------

// Where thread `tid` puts its p-th element of a (kSlice, kTile) operand tile.
template <bool kAlongReduction>
__device__ void tile_slot(int tid, int p, int& rr, int& ii) {
  const int idx = tid + p * kThreads;
  if (kAlongReduction) {
    rr = idx % kSlice;
    ii = idx / kSlice;
  } else {
    ii = idx % kTile;
    rr = idx / kTile;
  }
}

// The thread's kLoads elements of reduction slice [r0, r0 + kSlice), zero outside [.., r_end).
template <class Loader>
__device__ void fetch_slice(const Loader& op, const int64_t (&line)[kLoads],
                            const bool (&ok)[kLoads], const int (&rr)[kLoads], int64_t r0,
                            int64_t r_end, float (&out)[kLoads]) {
  V3D_UNROLL
  for (int p = 0; p < kLoads; ++p) {
    const int64_t r = r0 + rr[p];
    out[p] = ok[p] && r < r_end ? op.at(line[p], r) : 0.0f;
  }
}

// C (m_size, n_size) = sum_{r in split z} A(m, r) * B(r, n). grid: (M tiles, N tiles, splits);
// split z reduces [z*chunk, min((z+1)*chunk, red_size)).
template <class LoadA, class LoadB, class Store>
__global__ void __launch_bounds__(kThreads)
    conv_gemm_kernel(int64_t m_size, int64_t n_size, int64_t red_size, int64_t chunk, LoadA a,
                     LoadB b, Store c) {
  GPU_SHARED(float, a_tile, [kSlice][kTile + kPad]);  // (slice, m)
  GPU_SHARED(float, b_tile, [kSlice][kTile + kPad]);  // (slice, n)
  const int tid = static_cast<int>(threadIdx.x);
  const int tx = tid % kSide, ty = tid / kSide;
  const int64_t m0 = static_cast<int64_t>(blockIdx.x) * kTile;
  const int64_t n0 = static_cast<int64_t>(blockIdx.y) * kTile;
  const int split = static_cast<int>(blockIdx.z);
  const int64_t r_begin = static_cast<int64_t>(split) * chunk;
  const int64_t r_end = r_begin + chunk < red_size ? r_begin + chunk : red_size;

  // This thread's fixed tile slots and the index math of their rows / columns.
  int a_rr[kLoads], a_ii[kLoads], b_rr[kLoads], b_ii[kLoads];
  int64_t a_line[kLoads], b_line[kLoads];
  bool a_ok[kLoads], b_ok[kLoads];
  V3D_UNROLL
  for (int p = 0; p < kLoads; ++p) {
    tile_slot<LoadA::kAlongReduction>(tid, p, a_rr[p], a_ii[p]);
    tile_slot<LoadB::kAlongReduction>(tid, p, b_rr[p], b_ii[p]);
    a_ok[p] = m0 + a_ii[p] < m_size;
    b_ok[p] = n0 + b_ii[p] < n_size;
    a_line[p] = a_ok[p] ? a.line(m0 + a_ii[p]) : 0;
    b_line[p] = b_ok[p] ? b.line(n0 + b_ii[p]) : 0;
  }

  float acc[kMicro][kMicro];
  V3D_UNROLL
  for (int i = 0; i < kMicro; ++i) V3D_UNROLL
  for (int j = 0; j < kMicro; ++j) acc[i][j] = 0.0f;

  float a_next[kLoads], b_next[kLoads];
  fetch_slice(a, a_line, a_ok, a_rr, r_begin, r_end, a_next);
  fetch_slice(b, b_line, b_ok, b_rr, r_begin, r_end, b_next);
  for (int64_t r0 = r_begin; r0 < r_end; r0 += kSlice) {
    V3D_UNROLL
    for (int p = 0; p < kLoads; ++p) {
      a_tile[a_rr[p]][a_ii[p]] = a_next[p];
      b_tile[b_rr[p]][b_ii[p]] = b_next[p];
    }
    __syncthreads();
    // Issue the next slice's global loads now; they complete while this slice is multiplied.
    if (r0 + kSlice < r_end) {
      fetch_slice(a, a_line, a_ok, a_rr, r0 + kSlice, r_end, a_next);
      fetch_slice(b, b_line, b_ok, b_rr, r0 + kSlice, r_end, b_next);
    }
    V3D_UNROLL
    for (int kk = 0; kk < kSlice; ++kk) {
      float a_frag[kMicro], b_frag[kMicro];
      V3D_UNROLL
      for (int i = 0; i < kMicro; ++i) a_frag[i] = a_tile[kk][ty + kSide * i];
      V3D_UNROLL
      for (int j = 0; j < kMicro; ++j) b_frag[j] = b_tile[kk][tx + kSide * j];
      V3D_UNROLL
      for (int i = 0; i < kMicro; ++i) V3D_UNROLL
      for (int j = 0; j < kMicro; ++j) acc[i][j] += a_frag[i] * b_frag[j];
    }
    __syncthreads();  // the tiles are overwritten by the next slice
  }

  V3D_UNROLL
  for (int i = 0; i < kMicro; ++i) {
    const int64_t m = m0 + ty + kSide * i;
    V3D_UNROLL
    for (int j = 0; j < kMicro; ++j) {
      const int64_t n = n0 + tx + kSide * j;
      if (m < m_size && n < n_size) c.store(m, n, split, acc[i][j]);
    }
  }
}

// ---- bwd_data helpers --------------------------------------------------------------------------

// d_x: (B, T_in, C_in); frames no output reads are set to 0 (the direct store skips them).
__global__ void zero_unread_frames_kernel(TemporalConvShape s, float* d_x) {
  const int64_t n = s.batch * s.t_in * s.c_in;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const int64_t f = (i / s.c_in) % s.t_in;
    if (!s.frame_read(f)) d_x[i] = 0.0f;
  }
}

// col: (B*T_out, K*C_in) -> d_x: (B, T_in, C_in), a gather: each element sums the taps that read
// it in ascending k; unread frames get 0.
__global__ void col2im_kernel(TemporalConvShape s, const float* __restrict__ col, float* d_x) {
  const int64_t n = s.batch * s.t_in * s.c_in, t_out = s.t_out(), r = s.reduction();
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const int64_t ci = i % s.c_in, bf = i / s.c_in;
    const int64_t b = bf / s.t_in, f = bf - b * s.t_in;
    float acc = 0.0f;
    for (int64_t tap = 0; tap < s.k; ++tap) {
      const int64_t start = f - tap * s.dilation;
      if (start < 0 || start % s.stride != 0 || start / s.stride >= t_out) continue;
      acc += col[(b * t_out + start / s.stride) * r + tap * s.c_in + ci];
    }
    d_x[i] = acc;
  }
}

// ---- bwd_weight split reduction ----------------------------------------------------------------

// partial: (splits, C_out, K*C_in) -> d_w: (C_out, C_in, K), summed in split order.
__global__ void sum_splits_kernel(TemporalConvShape s, int splits,
                                  const float* __restrict__ partial, float* d_w) {
  const int64_t r = s.reduction(), n = s.c_out * r;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    float acc = 0.0f;
    for (int z = 0; z < splits; ++z) acc += partial[z * n + i];
    const int64_t co = i / r, rr = i - co * r;
    const int64_t tap = rr / s.c_in, ci = rr - tap * s.c_in;
    d_w[(co * s.c_in + ci) * s.k + tap] = acc;
  }
}

// ---- launch ------------------------------------------------------------------------------------

template <class LoadA, class LoadB, class Store>
void launch_gemm(const char* op, int64_t m_size, int64_t n_size, int64_t red_size, int64_t splits,
                 int64_t chunk, const LoadA& a, const LoadB& b, const Store& c,
                 gpu::Stream stream) {
  const int64_t m_tiles = (m_size + kTile - 1) / kTile, n_tiles = (n_size + kTile - 1) / kTile;
  V3D_CHECK(m_tiles >= 1 && m_tiles <= 0x7fffffff,
            op << ": " << m_size << " GEMM rows exceed the grid's x limit");
  V3D_CHECK(n_tiles >= 1 && n_tiles <= 65535,
            op << ": " << n_size << " GEMM columns exceed the grid's y limit (65535 tiles)");
  V3D_CHECK(splits >= 1 && splits <= 65535 && chunk % kSlice == 0 && splits * chunk >= red_size,
            op << ": bad reduction split " << splits << " x " << chunk << " for " << red_size);
  const dim3 grid(static_cast<unsigned>(m_tiles), static_cast<unsigned>(n_tiles),
                  static_cast<unsigned>(splits));
  GPU_LAUNCH((conv_gemm_kernel<LoadA, LoadB, Store>), grid, kThreads, 0, stream, m_size, n_size,
             red_size, chunk, a, b, c);
  V3D_LAUNCH_CHECK(op, stream);
}

// The whole reduction in one split, its length rounded up to whole slices.
int64_t whole(int64_t red_size) { return (red_size + kSlice - 1) / kSlice * kSlice; }

}  // namespace

void temporal_conv_zero_unread_frames(const TemporalConvShape& s, float* d_x, gpu::Stream stream) {
  if (s.t_out() * s.k >= s.t_in) return;  // disjoint windows: every frame is read
  GPU_LAUNCH(zero_unread_frames_kernel, grid_for(s.batch * s.t_in * s.c_in, kElementwiseThreads),
             kElementwiseThreads, 0, stream, s, d_x);
  V3D_LAUNCH_CHECK("temporal_conv_bwd_data (unread frames)", stream);
}

void temporal_conv_sum_splits(const TemporalConvShape& s, int64_t splits, const float* partial,
                              float* d_w, gpu::Stream stream) {
  GPU_LAUNCH(sum_splits_kernel, grid_for(s.c_out * s.reduction(), kElementwiseThreads),
             kElementwiseThreads, 0, stream, s, static_cast<int>(splits), partial, d_w);
  V3D_LAUNCH_CHECK("temporal_conv_bwd_weight (sum of splits)", stream);
}

}  // namespace v3d::kernels::V3D_GPU_NS

namespace v3d::kernels::launch {
namespace impl = ::v3d::kernels::V3D_GPU_NS;

template <>
void temporal_conv_fwd<V3D_GPU_KIND>(const TemporalConvShape& shape, const float* x, const float* w,
                                     float* y, float* workspace, StreamHandle s) {
  shape.validate();
  auto stream = static_cast<gpu::Stream>(s);
  if (shape.backend == ConvBackend::kCublasLt) {
    V3D_CHECK(shape.epilogue.y_bf16 == nullptr,
              "temporal_conv: the BF16 output is our kernels' (cuBLASLt: y, then to_bf16)");
    impl::temporal_conv_lt(shape, TemporalConvPass::kForward, x, w, y, workspace, stream);
    return;
  }
  if (shape.math != ConvMath::kFp32) {
    impl::temporal_conv_fwd_tc(shape, x, w, y, workspace, stream);
    return;
  }
  const int64_t t_out = shape.t_out(), r = shape.reduction();
  impl::launch_gemm("temporal_conv_fwd", shape.rows(), shape.c_out, r, 1, impl::whole(r),
                    impl::XWindowRows{x, shape, t_out}, impl::WeightByOutput{w, shape},
                    impl::conv_store::Forward{y, shape, t_out}, stream);
}

template <>
void temporal_conv_bwd_data<V3D_GPU_KIND>(const TemporalConvBwdDataArgs& shape, const float* d_y,
                                          const float* w, float* d_x, float* workspace,
                                          StreamHandle s) {
  shape.validate("temporal_conv_bwd_data");
  auto stream = static_cast<gpu::Stream>(s);
  if (shape.backend == ConvBackend::kCublasLt) {
    impl::temporal_conv_lt(shape, TemporalConvPass::kBackwardData, d_y, w, d_x, workspace, stream);
    return;
  }
  const int64_t t_out = shape.t_out(), r = shape.reduction(), rows = shape.rows();
  if (shape.math != ConvMath::kFp32) {
    impl::temporal_conv_bwd_data_tc(shape, d_y, w, d_x, workspace, stream);
    return;
  }
  const int64_t n_x = shape.batch * shape.t_in * shape.c_in;
  const impl::GradOutRows a{d_y, shape.c_out};
  const impl::WeightByInput b{w, shape};
  if (shape.disjoint_windows()) {
    impl::launch_gemm("temporal_conv_bwd_data", rows, r, shape.c_out, 1, impl::whole(shape.c_out),
                      a, b, impl::conv_store::IntoInputGrad{d_x, shape, t_out}, stream);
    impl::temporal_conv_zero_unread_frames(shape, d_x, stream);
    return;
  }
  V3D_CHECK(workspace != nullptr, "temporal_conv_bwd_data: overlapping windows need a workspace of "
                                      << shape.workspace_floats() << " floats");
  impl::launch_gemm("temporal_conv_bwd_data", rows, r, shape.c_out, 1, impl::whole(shape.c_out), a,
                    b, impl::conv_store::RowMajor{workspace, r}, stream);
  GPU_LAUNCH(impl::col2im_kernel, grid_for(n_x, impl::kElementwiseThreads),
             impl::kElementwiseThreads, 0, stream, shape, workspace, d_x);
  V3D_LAUNCH_CHECK("temporal_conv_bwd_data (col2im)", stream);
}

template <>
void temporal_conv_bwd_weight<V3D_GPU_KIND>(const TemporalConvBwdWeightArgs& shape, const float* x,
                                            const float* d_y, float* d_w, float* workspace,
                                            StreamHandle s) {
  shape.validate("temporal_conv_bwd_weight");
  auto stream = static_cast<gpu::Stream>(s);
  if (shape.backend == ConvBackend::kCublasLt) {
    impl::temporal_conv_lt(shape, TemporalConvPass::kBackwardWeight, x, d_y, d_w, workspace,
                           stream);
    return;
  }
  if (shape.math != ConvMath::kFp32) {
    impl::temporal_conv_bwd_weight_tc(shape, x, d_y, d_w, workspace, stream);
    return;
  }
  const int64_t t_out = shape.t_out(), r = shape.reduction(), rows = shape.rows();
  const TemporalConvSplit split = temporal_conv_weight_split(shape);
  const impl::GradOutColumns a{d_y, shape.c_out};
  const impl::XWindowColumns b{x, shape, t_out};
  if (split.splits == 1) {
    impl::launch_gemm("temporal_conv_bwd_weight", shape.c_out, r, rows, 1, split.chunk, a, b,
                      impl::conv_store::WeightGrad{d_w, shape}, stream);
    return;
  }
  V3D_CHECK(workspace != nullptr,
            "temporal_conv_bwd_weight: the split reduction needs a workspace of "
                << shape.workspace_floats() << " floats");
  impl::launch_gemm("temporal_conv_bwd_weight", shape.c_out, r, rows, split.splits, split.chunk, a,
                    b, impl::conv_store::WeightPartial{workspace, shape.c_out, r}, stream);
  impl::temporal_conv_sum_splits(shape, split.splits, workspace, d_w, stream);
}

template <>
void temporal_conv_fwd_bf16<V3D_GPU_KIND>(const TemporalConvBf16Args& shape, const uint16_t* x,
                                          const float* w, float* y, float* workspace,
                                          StreamHandle s) {
  shape.validate();
  impl::temporal_conv_fwd_tc_bf16(shape, x, w, y, workspace, static_cast<gpu::Stream>(s));
}

template <>
void temporal_conv_bwd_data_bf16<V3D_GPU_KIND>(const TemporalConvBwdDataBf16Args& shape,
                                               const uint16_t* d_y, const float* w, float* d_x,
                                               float* workspace, StreamHandle s) {
  shape.validate();
  impl::temporal_conv_bwd_data_tc_bf16(shape, d_y, w, d_x, workspace, static_cast<gpu::Stream>(s));
}

template <>
void temporal_conv_bwd_weight_bf16<V3D_GPU_KIND>(const TemporalConvBwdWeightBf16Args& shape,
                                                 const uint16_t* x, const uint16_t* d_y, float* d_w,
                                                 float* workspace, StreamHandle s) {
  shape.validate();
  impl::temporal_conv_bwd_weight_tc_bf16(shape, x, d_y, d_w, workspace,
                                         static_cast<gpu::Stream>(s));
}

template <>
void temporal_conv_prepare_weights<V3D_GPU_KIND>(const TemporalConvWeightsArgs& args,
                                                 const float* w, void* out, StreamHandle s) {
  args.validate();
  auto stream = static_cast<gpu::Stream>(s);
  using impl::WeightOrder;
  constexpr const char* kOp = "temporal_conv_weights";
  TemporalConvShape shape;
  shape.c_out = args.c_out;
  shape.c_in = args.c_in;
  shape.k = args.k;
  switch (args.math) {
    case ConvMath::kBf16:
      impl::temporal_conv_permute_weights(shape, WeightOrder::kPyTorch, WeightOrder::kTapMajor, w,
                                          static_cast<uint16_t*>(out), stream, kOp);
      return;
    case ConvMath::kTf32:
      impl::temporal_conv_permute_weights(shape, WeightOrder::kPyTorch, WeightOrder::kTapMajor, w,
                                          static_cast<uint32_t*>(out), stream, kOp);
      return;
    case ConvMath::kFp32:
      impl::temporal_conv_permute_weights(shape, WeightOrder::kPyTorch, WeightOrder::kTapMajor, w,
                                          static_cast<float*>(out), stream, kOp);
      return;
  }
}

}  // namespace v3d::kernels::launch
