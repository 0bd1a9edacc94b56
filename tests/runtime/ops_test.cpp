// ops: values of every shape-checked op on each device, and error messages that name the op and
// what is wrong (shapes, devices, dtypes) before any kernel runs.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "runtime/ops.h"
#include "runtime/tensor.h"
#include "tests/runtime/test_util.h"

namespace v3d {
namespace {

using test::iota_vec;

class OpsTest : public test::DeviceTest {
 protected:
  Device other() const { return dev().is_cpu() ? Device::emu() : Device::cpu(); }
  Tensor vec(const std::vector<float>& v, const Shape& s) const {
    return Tensor::from_vector(v, s, dev());
  }
};

// ---- values -----------------------------------------------------------------------------------

TEST_P(OpsTest, ElementwiseValues) {
  const Tensor a = vec({1, -2, 3.5f, 0}, {2, 2});
  const Tensor b = vec({4, 5, -6, 7}, {2, 2});
  EXPECT_EQ(ops::add(a, b).to_vector(), (std::vector<float>{5, 3, -2.5f, 7}));
  EXPECT_EQ(ops::mul(a, b).to_vector(), (std::vector<float>{4, -10, -21, 0}));
  EXPECT_EQ(ops::scale(a, -0.5f).to_vector(), (std::vector<float>{-0.5f, 1, -1.75f, -0.0f}));
  EXPECT_EQ(ops::relu(a).to_vector(), (std::vector<float>{1, 0, 3.5f, 0}));
  Tensor dx = Tensor::empty({2, 2}, DType::kF32, dev());
  ops::relu_bwd_out(a, b, dx);
  EXPECT_EQ(dx.to_vector(), (std::vector<float>{4, 0, -6, 0}));
  EXPECT_EQ(ops::add(a, b).shape(), Shape({2, 2}));
  EXPECT_EQ(ops::add(a, b).device(), dev());
}

TEST_P(OpsTest, OutFormsMayAliasTheirInputs) {
  const Tensor a = vec({1, 2, 3}, {3});
  const Tensor b = vec({10, 20, 30}, {3});
  ops::add_out(a, b, a);
  EXPECT_EQ(a.to_vector(), (std::vector<float>{11, 22, 33}));
  ops::mul_out(a, a, a);
  EXPECT_EQ(a.to_vector(), (std::vector<float>{121, 484, 1089}));
  ops::scale_out(b, 0.1f, b);
  EXPECT_EQ(b.to_vector(), (std::vector<float>{10 * 0.1f, 20 * 0.1f, 30 * 0.1f}));
  ops::relu_out(b, b);
  EXPECT_EQ(b.to_vector(), (std::vector<float>{10 * 0.1f, 20 * 0.1f, 30 * 0.1f}));
}

TEST_P(OpsTest, ElementwiseOnLargeBuffers) {
  // Past the CPU's parallel threshold and many GPU blocks.
  const int64_t n = (1 << 17) + 5;
  std::vector<float> av(static_cast<size_t>(n)), bv(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    av[static_cast<size_t>(i)] = static_cast<float>(i % 101) - 50;
    bv[static_cast<size_t>(i)] = static_cast<float>(i % 7);
  }
  const Tensor a = vec(av, {n}), b = vec(bv, {n});
  const std::vector<float> sum = ops::add(a, b).to_vector();
  const std::vector<float> prod = ops::mul(a, b).to_vector();
  const std::vector<float> r = ops::relu(a).to_vector();
  for (int64_t i = 0; i < n; i += 997) {
    const size_t k = static_cast<size_t>(i);
    ASSERT_EQ(sum[k], av[k] + bv[k]) << i;
    ASSERT_EQ(prod[k], av[k] * bv[k]) << i;
    ASSERT_EQ(r[k], av[k] > 0 ? av[k] : 0.0f) << i;
  }
  EXPECT_EQ(sum.back(), av.back() + bv.back());
}

TEST_P(OpsTest, FillAndBroadcast) {
  const Tensor t = Tensor::empty({3, 3}, DType::kF32, dev());
  ops::fill_(t, -4.0f);
  EXPECT_EQ(t.to_vector(), std::vector<float>(9, -4.0f));
  const Tensor s = vec({2.5f}, {});
  ops::broadcast_out(s, 3.0f, t);
  EXPECT_EQ(t.to_vector(), std::vector<float>(9, 7.5f));
  ops::fill_(Tensor::empty({0}, DType::kF32, dev()), 1.0f);  // nothing to do, no error
}

TEST_P(OpsTest, SumAndMean) {
  EXPECT_EQ(ops::sum(vec({1, 2, 3, 4}, {2, 2})).item(), 10.0f);
  EXPECT_EQ(ops::sum(vec({1, 2, 3, 4}, {2, 2})).shape(), Shape());
  EXPECT_EQ(ops::mean(vec({1, 2, 3, 6}, {4})).item(), 3.0f);
  EXPECT_EQ(ops::sum(Tensor::zeros({0}, DType::kF32, dev())).item(), 0.0f);
  // Integers whose partial sums stay exact in float: the result is exact on every backend.
  const int64_t n = 100003;
  std::vector<float> v(static_cast<size_t>(n));
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    v[static_cast<size_t>(i)] = static_cast<float>(i % 9) - 4;
    total += v[static_cast<size_t>(i)];
  }
  EXPECT_EQ(ops::sum(vec(v, {n})).item(), static_cast<float>(total));
  const Tensor y = Tensor::full({1}, 99.0f, dev());
  ops::sum_out(vec({1, 2, 3}, {3}), y, -2.0f);  // overwritten, scaled
  EXPECT_EQ(y.item(), -12.0f);
}

TEST_P(OpsTest, SumOfANarrowUsesOnlyTheNarrow) {
  const Tensor base = vec(iota_vec(12), {4, 3});
  EXPECT_EQ(ops::sum(base.narrow(1, 2)).item(), 3 + 4 + 5 + 6 + 7 + 8);
}

TEST_P(OpsTest, MatmulValuesAndTransposes) {
  // a: (2, 3), b: (3, 2)
  const Tensor a = vec({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor b = vec({7, 8, 9, 10, 11, 12}, {3, 2});
  EXPECT_EQ(ops::matmul(a, b).to_vector(), (std::vector<float>{58, 64, 139, 154}));
  // a^T a: (3, 3)
  EXPECT_EQ(ops::matmul(a, a, true, false).to_vector(),
            (std::vector<float>{17, 22, 27, 22, 29, 36, 27, 36, 45}));
  // a a^T: (2, 2)
  EXPECT_EQ(ops::matmul(a, a, false, true).to_vector(), (std::vector<float>{14, 32, 32, 77}));
  // a^T b^T: (3, 3)
  EXPECT_EQ(ops::matmul(a, b, true, true).to_vector(),
            (std::vector<float>{39, 49, 59, 54, 68, 82, 69, 87, 105}));
}

TEST_P(OpsTest, MatmulOutWithAlphaAndBeta) {
  const Tensor a = vec({1, 2, 3, 4}, {2, 2});
  const Tensor b = vec({1, 0, 0, 1}, {2, 2});
  const Tensor c = vec({10, 20, 30, 40}, {2, 2});
  ops::matmul_out(a, b, c, false, false, 2.0f, 0.5f);
  EXPECT_EQ(c.to_vector(), (std::vector<float>{7, 14, 21, 28}));
  // beta = 0 overwrites, even NaN.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor d = vec({nan, nan, nan, nan}, {2, 2});
  ops::matmul_out(a, b, d);
  EXPECT_EQ(d.to_vector(), (std::vector<float>{1, 2, 3, 4}));
}

TEST_P(OpsTest, MatmulWithEmptyInnerDimensionGivesZeros) {
  const Tensor a = Tensor::empty({2, 0}, DType::kF32, dev());
  const Tensor b = Tensor::empty({0, 3}, DType::kF32, dev());
  const Tensor c = ops::matmul(a, b);
  EXPECT_EQ(c.shape(), Shape({2, 3}));
  EXPECT_EQ(c.to_vector(), std::vector<float>(6, 0.0f));
}

TEST_P(OpsTest, DropoutOutAndBackwardUseTheSameMask) {
  const int64_t n = 64;
  const Tensor x = vec(std::vector<float>(n, 1.0f), {n});
  const Tensor y = Tensor::empty({n}, DType::kF32, dev());
  ops::dropout_out(x, y, 0.5f, 77, 3);
  const Tensor dx = Tensor::empty({n}, DType::kF32, dev());
  ops::dropout_bwd_out(x, dx, 0.5f, 77, 3);
  EXPECT_EQ(y.to_vector(), dx.to_vector());
  const std::vector<float> yv = y.to_vector();
  int kept = 0;
  for (float v : yv) {
    EXPECT_TRUE(v == 0.0f || v == 2.0f) << v;
    kept += v != 0.0f;
  }
  EXPECT_GT(kept, 8);
  EXPECT_LT(kept, 56);
  ops::dropout_out(x, y, 0.0f, 77, 3);  // p = 0 copies
  EXPECT_EQ(y.to_vector(), std::vector<float>(n, 1.0f));
}

// ---- errors -----------------------------------------------------------------------------------

TEST_P(OpsTest, DeviceMismatchNamesTheOp) {
  const Tensor a = vec({1, 2}, {2});
  const Tensor b = Tensor::from_vector({1, 2}, {2}, other());
  const std::string here = "expected a tensor on " + dev().str();
  const std::string there = "f32(2) on " + other().str();
  EXPECT_V3D_ERROR(ops::add(a, b), "add: b", here, there);
  EXPECT_V3D_ERROR(ops::mul(a, b), "mul: b", here, there);
  EXPECT_V3D_ERROR(ops::add_out(a, a, b), "add: y", here);
  EXPECT_V3D_ERROR(ops::mul_out(a, a, b), "mul: y", here);
  EXPECT_V3D_ERROR(ops::scale_out(a, 2.0f, b), "scale: y", here);
  EXPECT_V3D_ERROR(ops::relu_out(a, b), "relu: y", here);
  EXPECT_V3D_ERROR(ops::relu_bwd_out(a, b, a), "relu_bwd: d_y", here);
  EXPECT_V3D_ERROR(ops::relu_bwd_out(a, a, b), "relu_bwd: d_x", here);
  EXPECT_V3D_ERROR(ops::dropout_out(a, b, 0.5f, 1, 0), "dropout: y", here);
  EXPECT_V3D_ERROR(ops::dropout_bwd_out(a, b, 0.5f, 1, 0), "dropout_bwd: d_x", here);
  EXPECT_V3D_ERROR(ops::broadcast_out(Tensor::full({}, 1.0f, other()), 1.0f, a), "broadcast",
                   "one element on " + dev().str());
  EXPECT_V3D_ERROR(ops::sum_out(a, Tensor::zeros({}, DType::kF32, other())), "sum",
                   "one element on " + dev().str());
  const Tensor m = vec({1, 2, 3, 4}, {2, 2});
  const Tensor m_other = Tensor::from_vector({1, 2, 3, 4}, {2, 2}, other());
  EXPECT_V3D_ERROR(ops::matmul(m, m_other), "matmul", "different devices", "on " + dev().str(),
                   "on " + other().str());
  EXPECT_V3D_ERROR(ops::matmul_out(m, m, m_other), "matmul", "different devices");
  // Nothing was written into the operands.
  EXPECT_EQ(a.to_vector(), (std::vector<float>{1, 2}));
  EXPECT_EQ(b.to_vector(), (std::vector<float>{1, 2}));
}

TEST_P(OpsTest, ShapeMismatchNamesTheOp) {
  const Tensor a = Tensor::zeros({2, 3}, DType::kF32, dev());
  const Tensor b = Tensor::zeros({3, 2}, DType::kF32, dev());
  const Tensor flat = Tensor::zeros({6}, DType::kF32, dev());
  EXPECT_V3D_ERROR(ops::add(a, b), "add: b", "expected shape (2, 3)", "got (3, 2)");
  EXPECT_V3D_ERROR(ops::add(a, flat), "add: b", "expected shape (2, 3)", "got (6)");
  EXPECT_V3D_ERROR(ops::mul(a, b), "mul: b", "expected shape (2, 3)");
  EXPECT_V3D_ERROR(ops::add_out(a, a, b), "add: y", "expected shape (2, 3)");
  EXPECT_V3D_ERROR(ops::scale_out(a, 1.0f, flat), "scale: y", "expected shape (2, 3)");
  EXPECT_V3D_ERROR(ops::relu_out(a, b), "relu: y", "expected shape (2, 3)");
  EXPECT_V3D_ERROR(ops::relu_bwd_out(a, a, b), "relu_bwd: d_x");
  EXPECT_V3D_ERROR(ops::dropout_out(a, b, 0.1f, 0, 0), "dropout: y", "expected shape (2, 3)");
  EXPECT_V3D_ERROR(ops::broadcast_out(flat, 1.0f, a), "broadcast", "one element", "f32(6)");
  EXPECT_V3D_ERROR(ops::sum_out(a, flat), "sum", "one element", "f32(6)");
}

TEST_P(OpsTest, MatmulShapeErrors) {
  const Tensor a = Tensor::zeros({2, 3}, DType::kF32, dev());
  const Tensor b = Tensor::zeros({4, 5}, DType::kF32, dev());
  EXPECT_V3D_ERROR(ops::matmul(a, b), "matmul: inner dimensions differ", "op(a) is (2, 3)",
                   "op(b) is (4, 5)");
  EXPECT_V3D_ERROR(ops::matmul(a, a), "matmul: inner dimensions differ");
  EXPECT_V3D_ERROR(ops::matmul(a, b, true, false), "inner dimensions differ", "op(a) is (3, 2)");
  EXPECT_V3D_ERROR(ops::matmul(a, Tensor::zeros({3}, DType::kF32, dev())),
                   "matmul: expected 2-D tensors");
  EXPECT_V3D_ERROR(ops::matmul(Tensor::zeros({1, 2, 3}, DType::kF32, dev()), a),
                   "matmul: expected 2-D tensors");
  const Tensor c = Tensor::zeros({3, 3}, DType::kF32, dev());
  EXPECT_V3D_ERROR(ops::matmul_out(a, Tensor::zeros({3, 4}, DType::kF32, dev()), c),
                   "matmul: c is (3, 3), expected (2, 4)");
}

TEST_P(OpsTest, DtypeAndUndefinedErrorsNameTheOp) {
  const Tensor f = Tensor::zeros({2}, DType::kF32, dev());
  const Tensor i = Tensor::zeros({2}, DType::kI32, dev());
  EXPECT_V3D_ERROR(ops::add(i, f), "add: a", "expected f32", "i32(2)");
  EXPECT_V3D_ERROR(ops::add(f, i), "add: b", "expected f32");
  EXPECT_V3D_ERROR(ops::mul(i, i), "mul: a", "expected f32");
  EXPECT_V3D_ERROR(ops::scale(i, 1.0f), "scale: x", "expected f32");
  EXPECT_V3D_ERROR(ops::relu(i), "relu: x", "expected f32");
  EXPECT_V3D_ERROR(ops::fill_(i, 1.0f), "fill: t", "expected f32");
  EXPECT_V3D_ERROR(ops::sum(i), "sum: x", "expected f32");
  EXPECT_V3D_ERROR(ops::matmul(i.view({1, 2}), f.view({2, 1})), "matmul: a", "expected f32");
  EXPECT_V3D_ERROR(ops::add(Tensor(), f), "add: a: undefined tensor");
  EXPECT_V3D_ERROR(ops::add(f, Tensor()), "add: b: undefined tensor");
  EXPECT_V3D_ERROR(ops::relu(Tensor()), "relu: x: undefined tensor");
  EXPECT_V3D_ERROR(ops::mean(Tensor::zeros({0}, DType::kF32, dev())), "mean of an empty tensor");
}

TEST_P(OpsTest, DropoutRejectsInvalidProbability) {
  const Tensor x = vec({1, 2, 3, 4}, {4});
  const Tensor y = Tensor::zeros({4}, DType::kF32, dev());
  EXPECT_V3D_ERROR(ops::dropout_out(x, y, 1.0f, 0, 0), "dropout", "probability", "[0, 1)");
  EXPECT_V3D_ERROR(ops::dropout_bwd_out(x, y, -0.5f, 0, 0), "dropout", "probability");
}

INSTANTIATE_TEST_SUITE_P(Devices, OpsTest, ::testing::ValuesIn(test::device_params()),
                         test::device_test_name);

}  // namespace
}  // namespace v3d
