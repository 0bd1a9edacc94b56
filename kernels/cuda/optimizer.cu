// CUDA backend of kernels/optimizer.h: one grid-stride kernel over the flat buffers. Each element
// reads five floats and writes four, so the kernel is bound by memory bandwidth; the step's
// scalars arrive precomputed (kernels::adam_step_args) so no thread recomputes a power.
#include "kernels/gpu/check.h"
#include "kernels/gpu/compat.h"
#include "kernels/gpu/kind.h"
#include "kernels/optimizer.h"

namespace v3d::kernels::V3D_GPU_NS {
namespace {

constexpr int kThreads = 256;

// p, g, m, v, v_max: (n); p, m, v, v_max updated in place.
__global__ void adam_amsgrad_kernel(float* p, const float* __restrict__ g, float* m, float* v,
                                    float* v_max, int64_t n, AdamStepArgs a) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const float gi = g[i];
    const float mi = a.beta1 * m[i] + a.one_minus_beta1 * gi;
    const float vi = a.beta2 * v[i] + a.one_minus_beta2 * (gi * gi);
    const float vmax = v_max[i] > vi ? v_max[i] : vi;  // as the CPU: a NaN in v propagates
    const float denom = sqrtf(vmax) / a.bias_correction2_sqrt + a.eps;
    m[i] = mi;
    v[i] = vi;
    v_max[i] = vmax;
    p[i] = p[i] - a.step_size * (mi / denom);
  }
}

}  // namespace
}  // namespace v3d::kernels::V3D_GPU_NS

namespace v3d::kernels::launch {

template <>
void adam_amsgrad<V3D_GPU_KIND>(const AdamStepArgs& a, float* p, const float* g, float* m, float* v,
                                float* v_max, StreamHandle s) {
  namespace impl = ::v3d::kernels::V3D_GPU_NS;
  a.validate("adam_amsgrad");
  const int64_t n = a.n;
  if (n == 0) return;
  auto stream = static_cast<gpu::Stream>(s);
  GPU_LAUNCH(impl::adam_amsgrad_kernel, grid_for(n, impl::kThreads), impl::kThreads, 0, stream, p,
             g, m, v, v_max, n, a);
  V3D_LAUNCH_CHECK("adam_amsgrad", stream);
}

}  // namespace v3d::kernels::launch
