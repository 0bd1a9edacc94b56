// The tensor-core forward temporal convolution (kernels/cuda/temporal_conv_tc.cu), called by the
// temporal_conv_fwd launcher (kernels/cuda/temporal_conv.cu) when shape.math is kTf32 or kBf16.
#pragma once

#include "kernels/gpu/compat.h"
#include "kernels/temporal_conv.h"

namespace v3d::kernels::V3D_GPU_NS {

// y (B, T_out, C_out) = conv(x, w) with TF32 or BF16 operands (s.math) and float32 accumulation;
// s is validated.
void temporal_conv_fwd_tc(const TemporalConvShape& s, const float* x, const float* w, float* y,
                          gpu::Stream stream);

}  // namespace v3d::kernels::V3D_GPU_NS
