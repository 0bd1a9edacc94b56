// The operations runtime/ offers. The op harness (tests/harness) fails when one of these has no
// registered case, so a new op cannot land untested: add it here and give it cases.
#pragma once

#include <array>
#include <string_view>

namespace v3d::ops {

inline constexpr auto kOpNames = std::to_array<std::string_view>({
    // elementwise and reductions (runtime/ops.h)
    "add",
    "mul",
    "scale",
    "fill",
    "broadcast",
    "relu",
    "relu_bwd",
    "dropout",
    "dropout_bwd",
    "relu_dropout",
    "relu_dropout_bwd",
    "matmul",
    "sum",
    "mean",
    // temporal convolution (runtime/temporal_conv.h)
    "temporal_conv",
    "temporal_conv_bwd_data",
    "temporal_conv_bwd_weight",
    // batch norm, bias and the residual slice (runtime/batch_norm.h, runtime/time_slice.h)
    "batch_norm_train",
    "batch_norm_infer",
    "batch_norm_bwd",
    "batch_norm_fold",
    "bias_add",
    "time_slice",
    "time_slice_bwd",
    // loss and optimizer (runtime/loss.h, runtime/optimizer.h)
    "mpjpe",
    "mpjpe_bwd",
    "adam_amsgrad",
    // the Long-term Pose Bank (runtime/pose_bank.h)
    "pose_similarity",
    "pose_bank",
    "pose_bank_fuse",
    "window_gather",
});

}  // namespace v3d::ops
