// CPU backend of kernels/loss.h. Distances are computed in float, as the CUDA kernels do, and
// summed in double over fixed chunks of points, so the result does not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/loss.h"

namespace v3d::kernels {

int64_t MpjpeArgs::workspace_floats() const {
  const int64_t points = n * joints;
  // Must match the launch geometry in kernels/cuda/loss.cu: 256 threads x 4 points per block, at
  // most 1024 partial sums.
  constexpr int64_t kPointsPerBlock = 256 * 4;
  return std::clamp<int64_t>((points + kPointsPerBlock - 1) / kPointsPerBlock, 1, 1024);
}

namespace cpu {

namespace {
// Below this many points a parallel region costs more than it saves.
constexpr int64_t kParallelMin = 1 << 15;
}  // namespace

void mpjpe_fwd(const MpjpeArgs& args, const float* pred, const float* target, const float* w,
               float* loss) {
  args.validate("mpjpe_fwd");
  const int64_t joints = args.joints, points = args.n * joints, coords = args.coords;
  const int64_t chunks = (points + kMpjpeChunk - 1) / kMpjpeChunk;
  std::vector<double> partial(static_cast<size_t>(chunks));
#pragma omp parallel for if (points >= kParallelMin)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t end = std::min(points, (c + 1) * kMpjpeChunk);
    double acc = 0.0;
    // points p in [c * kMpjpeChunk, end): pred, target rows (D) at p * D, weight of sample p / J
    for (int64_t p = c * kMpjpeChunk; p < end; ++p) {
      float d[3];
      const float dist = mpjpe_point_distance(pred, target, p, coords, d);
      acc += (w != nullptr ? static_cast<double>(w[p / joints]) : 1.0) * dist;
    }
    partial[static_cast<size_t>(c)] = acc;
  }
  double total = 0.0;
  for (double v : partial) total += v;
  loss[0] = static_cast<float>(total / static_cast<double>(points));
}

void mpjpe_bwd(const MpjpeBwdArgs& args, const float* pred, const float* target, const float* w,
               const float* d_loss, float* d_pred) {
  args.validate("mpjpe_bwd");
  const int64_t joints = args.joints, points = args.n * joints, coords = args.coords;
  if (points == 0) return;
  // The same float scale the CUDA kernel forms, so both backends round alike.
  const float scale = d_loss[0] * static_cast<float>(1.0 / static_cast<double>(points));
#pragma omp parallel for if (points >= kParallelMin)
  for (int64_t p = 0; p < points; ++p) {  // p = n * J + j; rows (D) at p * D
    float d[3];
    const float dist = mpjpe_point_distance(pred, target, p, coords, d);
    // Zero distance: subgradient 0 (see kernels/loss.h), never 0 / 0.
    const float k = dist > 0.0f ? (w != nullptr ? scale * w[p / joints] : scale) / dist : 0.0f;
    for (int64_t c = 0; c < coords; ++c) d_pred[p * coords + c] = k * d[c];
  }
}

}  // namespace cpu
}  // namespace v3d::kernels
