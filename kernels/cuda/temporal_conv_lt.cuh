// The cuBLASLt backend of the temporal convolution (kernels/cuda/temporal_conv_lt.cu), called by
// the three launchers of kernels/cuda/temporal_conv.cu when shape.backend is kCublasLt.
#pragma once

#include "kernels/gpu/compat.h"
#include "kernels/temporal_conv.h"

namespace v3d::kernels::V3D_GPU_NS {

// Runs `pass` (operands as in temporal_conv_lt_plan) with the workspace of
// temporal_conv_lt_workspace_floats(shape, pass) floats.
void temporal_conv_lt(const TemporalConvShape& shape, TemporalConvPass pass, const float* in0,
                      const float* in1, float* out, float* workspace, gpu::Stream stream);

}  // namespace v3d::kernels::V3D_GPU_NS
