// The operations runtime/ops.h offers. The op harness (tests/harness) fails when one of these has
// no registered case, so a new op cannot land untested: add it here and give it cases.
#pragma once

#include <array>
#include <string_view>

namespace v3d::ops {

inline constexpr std::array<std::string_view, 12> kOpNames = {
    "add",           "mul",       "scale",
    "fill",          "broadcast", "relu",
    "relu_backward", "dropout",   "dropout_backward",
    "matmul",        "sum",       "mean",
};

}  // namespace v3d::ops
