// The operations runtime/ offers, from kernels/op_list.inc (each op is declared there once). The
// op harness (tests/harness) fails when one of kOpNames has no registered case, or when the
// forward of a kGradOnly kernel has no grad case, so a new op cannot land untested.
#pragma once

#include <array>
#include <string_view>

namespace v3d::ops {

inline constexpr auto kOpNames = std::to_array<std::string_view>({
#define V3D_OP(op, kernel) #op,
#define V3D_OP_GRAD(op, kernel, forward)
#include "kernels/op_list.inc"
#undef V3D_OP
#undef V3D_OP_GRAD
});

// Kernels that serve only an op's autograd backward, with that op.
struct GradOnly {
  std::string_view kernel;
  std::string_view forward;
};
inline constexpr auto kGradOnly = std::to_array<GradOnly>({
#define V3D_OP(op, kernel)
#define V3D_OP_GRAD(op, kernel, forward) {#op, #forward},
#include "kernels/op_list.inc"
#undef V3D_OP
#undef V3D_OP_GRAD
});

}  // namespace v3d::ops
