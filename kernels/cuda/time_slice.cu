// CUDA backend of kernels/time_slice.h. Both directions write whole destination rows of C floats:
// grid.y walks the destination rows (b, t), a RowMap names the source row (or -1 for a zero row),
// and the threads of grid.x copy the row's channels, consecutive threads on consecutive floats.
#include "kernels/gpu/check.h"
#include "kernels/gpu/compat.h"
#include "kernels/gpu/kind.h"
#include "kernels/time_slice.h"

namespace v3d::kernels::V3D_GPU_NS {
namespace {

constexpr int kThreads = 128;

// Forward: destination row (b, t) of (B, T_out) reads source row (b, start + t * step) of
// (B, T_in).
struct GatherRows {
  int64_t t_in, t_out, start, step;
  __device__ int64_t operator()(int64_t r) const {
    const int64_t b = r / t_out, t = r % t_out;
    return b * t_in + start + t * step;
  }
};

// Backward: destination row (b, t_x) of (B, T_in) reads d_y row (b, (t_x - start) / step) of
// (B, T_out) when t_x lies on the slice's grid, and is zero otherwise.
struct ScatterRows {
  int64_t t_in, t_out, start, step;
  __device__ int64_t operator()(int64_t r) const {
    const int64_t b = r / t_in, u = r % t_in - start;
    if (u < 0 || u % step != 0 || u / step >= t_out) return -1;
    return b * t_out + u / step;
  }
};

// src: (src rows, C) -> dst: (dst_rows, C); dst row r = src row map(r), or zeros when it is -1.
template <class RowMap>
__global__ void time_rows_kernel(const float* __restrict__ src, float* __restrict__ dst,
                                 int64_t dst_rows, int64_t channels, RowMap map) {
  for (int64_t r = blockIdx.y; r < dst_rows; r += gridDim.y) {
    const int64_t from = map(r);
    float* d = dst + r * channels;
    const float* s = from >= 0 ? src + from * channels : nullptr;
    for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < channels;
         c += static_cast<int64_t>(gridDim.x) * blockDim.x)
      d[c] = s != nullptr ? s[c] : 0.0f;
  }
}

template <class RowMap>
void launch_rows(const char* op, const float* src, float* dst, int64_t dst_rows, int64_t channels,
                 RowMap map, StreamHandle s) {
  if (dst_rows == 0 || channels == 0) return;
  auto stream = static_cast<gpu::Stream>(s);
  // grid.x covers a row's channels (1024 channels: 8 blocks); grid.y the rows, capped by CUDA's
  // grid.y limit and walked with a stride beyond it.
  const unsigned gx = grid_for(channels, kThreads, 64);
  const int64_t gy = dst_rows < 65535 ? dst_rows : 65535;
  GPU_LAUNCH((time_rows_kernel<RowMap>), dim3(gx, static_cast<unsigned>(gy)), kThreads, 0, stream,
             src, dst, dst_rows, channels, map);
  V3D_LAUNCH_CHECK(op, stream);
}

}  // namespace
}  // namespace v3d::kernels::V3D_GPU_NS

namespace v3d::kernels::launch {
namespace impl = ::v3d::kernels::V3D_GPU_NS;

template <>
void time_slice<V3D_GPU_KIND>(const TimeSliceArgs& a, const float* x, float* y, StreamHandle s) {
  a.validate("time_slice");
  impl::launch_rows("time_slice", x, y, a.batch * a.t_out, a.channels,
                    impl::GatherRows{a.t_in, a.t_out, a.start, a.step}, s);
}

template <>
void time_slice_bwd<V3D_GPU_KIND>(const TimeSliceArgs& a, const float* d_y, float* d_x,
                                  StreamHandle s) {
  a.validate("time_slice_bwd");
  impl::launch_rows("time_slice_bwd", d_y, d_x, a.batch * a.t_in, a.channels,
                    impl::ScatterRows{a.t_in, a.t_out, a.start, a.step}, s);
}

}  // namespace v3d::kernels::launch
