// ParameterStore: parameters and gradients as aligned views into two flat, zero-padded buffers.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "runtime/autograd.h"
#include "runtime/ops.h"
#include "runtime/parameters.h"
#include "tests/runtime/test_util.h"

namespace v3d {
namespace {

using test::iota_vec;

class ParameterStoreTest : public test::DeviceTest {
 protected:
  // w: (3, 5) = 15 floats at 0, b: (5) at 16, s: scalar at 32, v: (4, 4) = 16 floats at 48;
  // 64 floats in all.
  void declare(ParameterStore& store) {
    store.add("w", {3, 5});
    store.add("b", {5});
    store.add("s", {});
    store.add("v", {4, 4});
  }
};

TEST_P(ParameterStoreTest, OffsetsAreAlignedAndPacked) {
  ParameterStore store(dev());
  declare(store);
  EXPECT_FALSE(store.finalized());
  store.finalize();
  EXPECT_TRUE(store.finalized());
  EXPECT_EQ(store.device(), dev());
  EXPECT_EQ(store.offset_of("w"), 0);
  EXPECT_EQ(store.offset_of("b"), 16);
  EXPECT_EQ(store.offset_of("s"), 32);
  EXPECT_EQ(store.offset_of("v"), 48);
  for (const auto& [name, var] : store.parameters())
    EXPECT_EQ(store.offset_of(name) % ParameterStore::kAlign, 0) << name;
  EXPECT_EQ(store.parameter_count(), 15 + 5 + 1 + 16);
  EXPECT_EQ(store.flat_values().shape(), Shape({64}));
  EXPECT_EQ(store.flat_grads().shape(), Shape({64}));
  EXPECT_EQ(store.flat_values().device(), dev());
  EXPECT_EQ(store.flat_grads().device(), dev());
  EXPECT_FALSE(store.flat_values().shares_storage(store.flat_grads()));
  ASSERT_EQ(store.parameters().size(), 4u);
  EXPECT_EQ(store.parameters()[0].first, "w");  // declaration order
  EXPECT_EQ(store.parameters()[3].first, "v");
}

TEST_P(ParameterStoreTest, ValuesAndGradsAreViewsIntoTheFlatBuffers) {
  ParameterStore store(dev());
  declare(store);
  const Var w_before = store.find("w");
  store.finalize();
  for (const auto& [name, var] : store.parameters()) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(var.value().shares_storage(store.flat_values()));
    EXPECT_TRUE(var.grad().shares_storage(store.flat_grads()));
    EXPECT_EQ(var.value().offset(), store.offset_of(name));
    EXPECT_EQ(var.grad().offset(), store.offset_of(name));
    EXPECT_EQ(var.value().device(), dev());
    EXPECT_EQ(var.grad().shape(), var.value().shape());
    EXPECT_TRUE(var.is_leaf());
    EXPECT_TRUE(var.requires_grad());
  }
  // The Var returned before finalize() is the same parameter and sees the views.
  EXPECT_EQ(w_before.node(), store.find("w").node());
  EXPECT_EQ(w_before.value().shape(), Shape({3, 5}));
  EXPECT_TRUE(w_before.value().shares_storage(store.flat_values()));
  EXPECT_EQ(store.find("s").value().shape(), Shape());
  EXPECT_EQ(store.find("v").value().shape(), Shape({4, 4}));
}

TEST_P(ParameterStoreTest, BuffersStartZeroAndPaddingStaysZero) {
  ParameterStore store(dev());
  declare(store);
  store.finalize();
  EXPECT_EQ(store.flat_values().to_vector(), std::vector<float>(64, 0.0f));
  EXPECT_EQ(store.flat_grads().to_vector(), std::vector<float>(64, 0.0f));

  // Writing every parameter through its view fills exactly its range of the flat buffer.
  for (const auto& [name, var] : store.parameters()) {
    Tensor v = var.value();
    v.copy_from(Tensor::full(v.shape(), 1.0f, Device::cpu()));
  }
  std::vector<float> expect(64, 0.0f);
  for (int i = 0; i < 15; ++i) expect[i] = 1;   // w
  for (int i = 16; i < 21; ++i) expect[i] = 1;  // b
  expect[32] = 1;                               // s
  for (int i = 48; i < 64; ++i) expect[i] = 1;  // v
  EXPECT_EQ(store.flat_values().to_vector(), expect);
}

TEST_P(ParameterStoreTest, FlatWritesAreSeenByEveryParameter) {
  ParameterStore store(dev());
  declare(store);
  store.finalize();
  Tensor flat = store.flat_values();
  flat.copy_from(Tensor::from_vector(iota_vec(64), {64}, Device::cpu()));
  EXPECT_EQ(store.find("b").value().to_vector(), (std::vector<float>{16, 17, 18, 19, 20}));
  EXPECT_EQ(store.find("s").value().item(), 32.0f);
  EXPECT_EQ(store.find("w").value().to_vector(), iota_vec(15));
  EXPECT_EQ(store.find("v").value().to_vector(), iota_vec(16, 48.0f));
}

TEST_P(ParameterStoreTest, GradientsOfATinyModelLandInFlatGrads) {
  // loss = sum((x @ W) * c) + sum(2 * bias)   with x: (2, 3), W: (3, 4), c: (2, 4), bias: (5)
  // d_W = x^T @ c, d_bias = 2
  ParameterStore store(dev());
  const Var w = store.add("W", {3, 4});
  const Var bias = store.add("bias", {5});
  store.finalize();
  Tensor wv = w.value();
  wv.copy_from(Tensor::from_vector(iota_vec(12, -6.0f), {3, 4}, Device::cpu()));

  const std::vector<float> x = {1, 2, 3, -1, 0, 2};
  const std::vector<float> c = {1, 0, 2, -1, 3, 1, 0, 2};
  const Var vx(Tensor::from_vector(x, {2, 3}, dev()), false);
  const Var vc(Tensor::from_vector(c, {2, 4}, dev()), false);
  auto loss_fn = [&] {
    return ag::add(ag::sum(ag::mul(ag::matmul(vx, w), vc)), ag::sum(ag::scale(bias, 2.0f)));
  };
  loss_fn().backward();

  std::vector<float> d_w(12);
  for (int p = 0; p < 3; ++p)
    for (int j = 0; j < 4; ++j)
      d_w[p * 4 + j] = x[0 * 3 + p] * c[0 * 4 + j] + x[1 * 3 + p] * c[1 * 4 + j];
  std::vector<float> expect(32, 0.0f);  // W at 0 (12 floats), bias at 16 (5 floats)
  for (int i = 0; i < 12; ++i) expect[i] = d_w[i];
  for (int i = 16; i < 21; ++i) expect[i] = 2.0f;
  EXPECT_EQ(store.offset_of("bias"), 16);
  EXPECT_EQ(store.flat_grads().to_vector(), expect);
  // The gradients are still the views, not copies that replaced them.
  EXPECT_TRUE(w.grad().shares_storage(store.flat_grads()));
  EXPECT_TRUE(bias.grad().shares_storage(store.flat_grads()));

  // A second pass accumulates in place.
  loss_fn().backward();
  for (float& e : expect) e *= 2.0f;
  EXPECT_EQ(store.flat_grads().to_vector(), expect);

  store.zero_grad();
  EXPECT_EQ(store.flat_grads().to_vector(), std::vector<float>(32, 0.0f));
  EXPECT_TRUE(w.grad().shares_storage(store.flat_grads()));
  loss_fn().backward();
  for (float& e : expect) e *= 0.5f;
  EXPECT_EQ(store.flat_grads().to_vector(), expect);
}

TEST_P(ParameterStoreTest, VarZeroGradOfAParameterZeroesOnlyItsView) {
  ParameterStore store(dev());
  declare(store);
  store.finalize();
  Tensor g = store.flat_grads();
  g.copy_from(Tensor::full({64}, 3.0f, Device::cpu()));
  Var b = store.find("b");
  b.zero_grad();
  EXPECT_TRUE(b.grad().defined());
  EXPECT_TRUE(b.grad().shares_storage(store.flat_grads()));
  const std::vector<float> flat = store.flat_grads().to_vector();
  for (int i = 0; i < 64; ++i) EXPECT_EQ(flat[i], (i >= 16 && i < 21) ? 0.0f : 3.0f) << i;
}

TEST_P(ParameterStoreTest, SetValueKeepsTheParameterInTheFlatBuffer) {
  // Loading a checkpoint into one parameter must update the flat buffer that the optimizer,
  // the all-reduce and checkpoints see.
  ParameterStore store(dev());
  declare(store);
  store.finalize();
  Var b = store.find("b");
  b.set_value(Tensor::from_vector({1, 2, 3, 4, 5}, {5}, dev()));
  EXPECT_EQ(b.value().to_vector(), (std::vector<float>{1, 2, 3, 4, 5}));
  EXPECT_TRUE(b.value().shares_storage(store.flat_values()));
  EXPECT_EQ(store.flat_values().narrow(16, 5).to_vector(), (std::vector<float>{1, 2, 3, 4, 5}));
}

TEST_P(ParameterStoreTest, ExactMultipleOfTheAlignmentNeedsNoPadding) {
  ParameterStore store(dev());
  store.add("a", {ParameterStore::kAlign});
  store.add("b", {2, ParameterStore::kAlign});
  store.add("c", {1});
  store.finalize();
  EXPECT_EQ(store.offset_of("a"), 0);
  EXPECT_EQ(store.offset_of("b"), ParameterStore::kAlign);
  EXPECT_EQ(store.offset_of("c"), 3 * ParameterStore::kAlign);
  EXPECT_EQ(store.flat_values().numel(), 4 * ParameterStore::kAlign);
}

TEST_P(ParameterStoreTest, EmptyStore) {
  ParameterStore store(dev());
  store.finalize();
  EXPECT_TRUE(store.finalized());
  EXPECT_EQ(store.parameter_count(), 0);
  EXPECT_EQ(store.flat_values().numel(), 0);
  EXPECT_NO_THROW(store.zero_grad());
}

TEST_P(ParameterStoreTest, Errors) {
  ParameterStore store(dev());
  store.add("w", {2});
  EXPECT_V3D_ERROR(store.add("w", {3}), "parameter 'w' declared twice");
  EXPECT_V3D_ERROR(store.offset_of("w"), "before finalize");
  EXPECT_V3D_ERROR(store.zero_grad(), "before finalize");
  store.add("bias", {3});
  store.finalize();
  EXPECT_V3D_ERROR(store.finalize(), "finalize() called twice");
  EXPECT_V3D_ERROR(store.add("late", {1}), "parameter 'late' declared after finalize()");
  EXPECT_EQ(store.parameters().size(), 2u);
}

TEST_P(ParameterStoreTest, UnknownNamesListTheKnownOnes) {
  ParameterStore store(dev());
  declare(store);
  EXPECT_V3D_ERROR(store.find("weight"), "unknown parameter 'weight'", "known: w, b, s, v");
  store.finalize();
  EXPECT_V3D_ERROR(store.offset_of("bais"), "unknown parameter 'bais'", "known: w, b, s, v");
  const ParameterStore empty(dev());
  EXPECT_V3D_ERROR(empty.find("w"), "unknown parameter 'w'");
}

INSTANTIATE_TEST_SUITE_P(Devices, ParameterStoreTest, ::testing::ValuesIn(test::device_params()),
                         test::device_test_name);

}  // namespace
}  // namespace v3d
