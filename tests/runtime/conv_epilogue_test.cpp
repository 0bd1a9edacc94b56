// The forward convolution's fused epilogue (kernels/temporal_conv.h, ConvEpilogue): bias, ReLU and
// a residual time slice fused into the convolution give bitwise the result of the unfused ops, on
// every device, backend and arithmetic; its arguments are checked. The op harness compares it with
// the double reference (tests/harness/cases_temporal_conv.cpp).
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "runtime/batch_norm.h"
#include "runtime/ops.h"
#include "runtime/temporal_conv.h"
#include "runtime/time_slice.h"
#include "tests/runtime/test_util.h"

namespace v3d {
namespace {

using kernels::ConvMath;
using ops::ConvBackendChoice;

class ConvEpilogueTest : public test::DeviceTest {};

Tensor normal(const Shape& shape, uint64_t seed, Device device) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(shape.numel()));
  for (float& x : v) x = dist(rng);
  return Tensor::from_vector(v, shape, device);
}

struct Form {
  Shape x, w;
  int64_t dilation, stride, offset;
  const char* what;
};

TEST_P(ConvEpilogueTest, FusedEqualsTheUnfusedOpsBitwise) {
  // A dilated block's 3-tap conv (residual from its own input), a 1x1 conv with a residual from a
  // longer tensor, and a strided conv; C_out = C_in where a residual is sliced from x.
  const Form forms[] = {{{2, 40, 48}, {48, 48, 3}, 9, 1, 9, "dilated K=3, residual from x"},
                        {{3, 20, 70}, {70, 70, 1}, 1, 1, 0, "pointwise"},
                        {{4, 27, 64}, {64, 64, 3}, 1, 3, 4, "strided K=3"}};
  for (const ConvBackendChoice backend : {ConvBackendChoice::kV3d, ConvBackendChoice::kCublasLt}) {
    const ops::ConvBackendGuard guard(backend);
    for (const ConvMath math : {ConvMath::kFp32, ConvMath::kTf32, ConvMath::kBf16}) {
      for (const Form& f : forms) {
        SCOPED_TRACE(std::string(f.what) + " backend " + std::to_string(static_cast<int>(backend)) +
                     " math " + std::to_string(static_cast<int>(math)));
        const Tensor x = normal(f.x, 1, dev());
        const Tensor w = normal(f.w, 2, dev());
        const Tensor bias = normal(Shape{f.w[0]}, 3, dev());
        const Tensor plain = ops::temporal_conv(x, w, f.dilation, f.stride, nullptr, math);
        const int64_t t_out = plain.size(1);
        for (const bool relu : {false, true}) {
          Tensor want = ops::bias_add(plain, bias, relu);
          const Tensor res = ops::time_slice(x, f.offset, 1, t_out);
          ops::add_out(res, want, want);
          ops::ConvEpilogueTensors e;
          e.bias = bias;
          e.relu = relu;
          e.residual = x;
          e.residual_offset = f.offset;
          const Tensor got = ops::temporal_conv(x, w, f.dilation, f.stride, nullptr, math, &e);
          EXPECT_TRUE(test::bitwise_equal(got.to_vector(), want.to_vector()));
        }
        // The bias alone.
        ops::ConvEpilogueTensors b;
        b.bias = bias;
        EXPECT_TRUE(test::bitwise_equal(
            ops::temporal_conv(x, w, f.dilation, f.stride, nullptr, math, &b).to_vector(),
            ops::bias_add(plain, bias, false).to_vector()));
      }
    }
  }
}

TEST_P(ConvEpilogueTest, ArgumentsAreChecked) {
  const Tensor x = normal({2, 10, 4}, 1, dev());
  const Tensor w = normal({4, 4, 3}, 2, dev());
  ops::ConvEpilogueTensors e;
  e.bias = normal({5}, 3, dev());
  EXPECT_V3D_ERROR(ops::temporal_conv(x, w, 1, 1, nullptr, ConvMath::kFp32, &e), "epilogue bias");
  e.bias = Tensor();
  e.residual = x;
  e.residual_offset = 3;  // frames [3, 11) of 10
  EXPECT_V3D_ERROR(ops::temporal_conv(x, w, 1, 1, nullptr, ConvMath::kFp32, &e),
                   "epilogue residual", "[3, 11)");
  e.residual_offset = 2;
  EXPECT_NO_THROW(ops::temporal_conv(x, w, 1, 1, nullptr, ConvMath::kFp32, &e));
}

INSTANTIATE_TEST_SUITE_P(Devices, ConvEpilogueTest, ::testing::ValuesIn(test::device_params()),
                         test::device_test_name);

}  // namespace
}  // namespace v3d
