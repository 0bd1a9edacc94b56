// CPU backend of kernels/projection.h: loops over the per-row and per-sample math the header
// shares with the CUDA backend.
#include "kernels/projection.h"

namespace v3d::kernels::cpu {

namespace {
// Below this many points a parallel region costs more than it saves.
constexpr int64_t kParallelMin = 1 << 14;
}  // namespace

void project_2d(const Project2dArgs& args, const float* points, const float* root,
                const float* intrinsic, float* out) {
  args.validate("project_2d");
#pragma omp parallel for if (args.points() >= kParallelMin)
  for (int64_t r = 0; r < args.batch * args.frames; ++r)  // r = b * T + t
    project_2d_row(args, points, root, intrinsic, r, out);
}

void project_2d_bwd(const Project2dArgs& args, const float* points, const float* root,
                    const float* intrinsic, const float* d_out, float* d_points, float* d_root) {
  args.validate("project_2d_bwd");
#pragma omp parallel for if (args.points() >= kParallelMin)
  for (int64_t r = 0; r < args.batch * args.frames; ++r)
    project_2d_row_bwd(args, points, root, intrinsic, d_out, r, d_points, d_root);
}

void bone_lengths(const BoneLengthArgs& args, const float* points, float* len) {
  args.validate("bone_lengths");
#pragma omp parallel for if (args.n * args.joints >= kParallelMin)
  for (int64_t n = 0; n < args.n; ++n)
    bone_lengths_sample(args, points + n * args.joints * 3, len + n * args.joints);
}

void bone_lengths_bwd(const BoneLengthArgs& args, const float* points, const float* d_len,
                      float* d_points) {
  args.validate("bone_lengths_bwd");
#pragma omp parallel for if (args.n * args.joints >= kParallelMin)
  for (int64_t n = 0; n < args.n; ++n) {
    bone_lengths_sample_bwd(args, points + n * args.joints * 3, d_len + n * args.joints,
                            d_points + n * args.joints * 3);
  }
}

}  // namespace v3d::kernels::cpu
