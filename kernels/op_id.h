// One number per operation of kernels/op_list.inc, in list order: kernels record it in the device
// error record (kernels/device_error.h) so that the runtime can name the op that raised an error.
#pragma once

#include <array>
#include <string_view>

namespace v3d::kernels {

enum class OpId : int {
#define V3D_OP(op, kernel) op,
#define V3D_OP_GRAD(op, kernel, forward) op,
#include "kernels/op_list.inc"
#undef V3D_OP
#undef V3D_OP_GRAD
};

// The name of every OpId, indexed by its number.
inline constexpr auto kOpIdNames = std::to_array<std::string_view>({
#define V3D_OP(op, kernel) #op,
#define V3D_OP_GRAD(op, kernel, forward) #op,
#include "kernels/op_list.inc"
#undef V3D_OP
#undef V3D_OP_GRAD
});

}  // namespace v3d::kernels
