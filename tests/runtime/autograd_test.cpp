// Autograd: gradients of every differentiable op against hand-computed values on small tensors,
// accumulation (diamonds, repeated inputs, repeated backward passes), graph freeing, NoGradGuard,
// deep graphs, and dropout's reproducible masks. Inputs are small integers so that every
// expected value is exact in float32 and comparisons can be exact.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "kernels/dropout.h"
#include "kernels/dropout_mask.h"
#include "runtime/allocator.h"
#include "runtime/autograd.h"
#include "runtime/ops.h"
#include "runtime/stream.h"
#include "tests/runtime/test_util.h"

namespace v3d {
namespace {

using test::iota_vec;

class AutogradTest : public test::DeviceTest {
 protected:
  Var leaf(const std::vector<float>& v, const Shape& shape, bool requires_grad = true) const {
    return Var(Tensor::from_vector(v, shape, dev()), requires_grad);
  }
  Var constant(const std::vector<float>& v, const Shape& shape) const {
    return leaf(v, shape, false);
  }
};

std::vector<float> grad_of(const Var& v) {
  EXPECT_TRUE(v.grad().defined()) << "no gradient reached this Var";
  return v.grad().defined() ? v.grad().to_vector() : std::vector<float>{};
}

// ---- Var basics -------------------------------------------------------------------------------

TEST_P(AutogradTest, LeafProperties) {
  const Var x = leaf({1, 2}, {2});
  EXPECT_TRUE(x.defined());
  EXPECT_TRUE(x.is_leaf());
  EXPECT_TRUE(x.requires_grad());
  EXPECT_EQ(x.op(), "leaf");
  EXPECT_FALSE(x.grad().defined());
  const Var c = constant({1, 2}, {2});
  EXPECT_FALSE(c.requires_grad());
  const Var undefined;
  EXPECT_FALSE(undefined.defined());
  EXPECT_FALSE(undefined.requires_grad());
  EXPECT_V3D_ERROR(undefined.value(), "undefined Var");
  EXPECT_V3D_ERROR(undefined.grad(), "undefined Var");
  EXPECT_V3D_ERROR(undefined.backward(), "undefined Var");
}

TEST_P(AutogradTest, ResultsRecordTheirOpOnlyWhenAnInputNeedsAGradient) {
  const Var x = leaf({1, 2}, {2});
  const Var c = constant({3, 4}, {2});
  const Var y = ag::mul(x, c);
  EXPECT_EQ(y.op(), "mul");
  EXPECT_FALSE(y.is_leaf());
  EXPECT_TRUE(y.requires_grad());
  EXPECT_EQ(y.node()->inputs.size(), 2u);
  const Var z = ag::add(c, c);
  EXPECT_FALSE(z.requires_grad());
  EXPECT_TRUE(z.node()->inputs.empty());
  EXPECT_EQ(z.value().to_vector(), (std::vector<float>{6, 8}));
  EXPECT_V3D_ERROR(ag::sum(z).backward(), "does not require a gradient");
}

// ---- gradients of each op ---------------------------------------------------------------------

TEST_P(AutogradTest, AddGradient) {
  const Var a = leaf({1, 2, 3}, {3});
  const Var b = leaf({4, 5, 6}, {3});
  const Var y = ag::add(a, b);
  EXPECT_EQ(y.value().to_vector(), (std::vector<float>{5, 7, 9}));
  ag::sum(y).backward();
  EXPECT_EQ(grad_of(a), (std::vector<float>{1, 1, 1}));
  EXPECT_EQ(grad_of(b), (std::vector<float>{1, 1, 1}));
}

TEST_P(AutogradTest, MulGradient) {
  const Var a = leaf({1, -2, 3, 4}, {2, 2});
  const Var b = leaf({5, 6, -7, 8}, {2, 2});
  const Var y = ag::mul(a, b);
  EXPECT_EQ(y.value().to_vector(), (std::vector<float>{5, -12, -21, 32}));
  ag::sum(y).backward();
  EXPECT_EQ(grad_of(a), (std::vector<float>{5, 6, -7, 8}));
  EXPECT_EQ(grad_of(b), (std::vector<float>{1, -2, 3, 4}));
}

TEST_P(AutogradTest, MulWithAConstantLeavesTheConstantWithoutGradient) {
  const Var a = leaf({1, 2, 3}, {3});
  const Var c = constant({4, 5, 6}, {3});
  ag::sum(ag::mul(c, a)).backward();
  EXPECT_EQ(grad_of(a), (std::vector<float>{4, 5, 6}));
  EXPECT_FALSE(c.grad().defined());
}

TEST_P(AutogradTest, ScaleGradient) {
  const Var x = leaf({1, 2, 3}, {3});
  const Var y = ag::scale(x, -2.5f);
  EXPECT_EQ(y.value().to_vector(), (std::vector<float>{-2.5f, -5.0f, -7.5f}));
  ag::sum(y).backward();
  EXPECT_EQ(grad_of(x), (std::vector<float>{-2.5f, -2.5f, -2.5f}));
}

TEST_P(AutogradTest, ReluGradient) {
  const Var x = leaf({-1, 0, 2, -3, 4}, {5});
  const Var y = ag::relu(x);
  EXPECT_EQ(y.value().to_vector(), (std::vector<float>{0, 0, 2, 0, 4}));
  // Weight each output so that a wrong routing of gradients shows.
  ag::sum(ag::mul(y, constant({10, 20, 30, 40, 50}, {5}))).backward();
  EXPECT_EQ(grad_of(x), (std::vector<float>{0, 0, 30, 0, 50}));  // x = 0 gives 0
}

TEST_P(AutogradTest, SumAndMeanGradients) {
  const Var x = leaf({1, 2, 3, 4, 6}, {5});
  const Var s = ag::sum(x);
  EXPECT_EQ(s.value().shape(), Shape());
  EXPECT_EQ(s.value().item(), 16.0f);
  s.backward();
  EXPECT_EQ(grad_of(x), std::vector<float>(5, 1.0f));

  const Var z = leaf({1, 2, 3, 4, 6}, {5});
  const Var m = ag::mean(z);
  EXPECT_FLOAT_EQ(m.value().item(), 3.2f);
  m.backward();
  EXPECT_EQ(grad_of(z), std::vector<float>(5, 1.0f / 5.0f));
}

TEST_P(AutogradTest, ViewSharesTheValueAndViewsTheGradientBack) {
  const Var x = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  const Var v = ag::view(x, Shape{3, 2});
  EXPECT_EQ(v.value().shape(), Shape({3, 2}));
  EXPECT_TRUE(v.value().shares_storage(x.value()));
  // d/dx sum(v * w) = w, laid out as x.
  const Var w = leaf({1, -1, 2, -2, 3, -3}, {3, 2});
  ag::sum(ag::mul(v, w)).backward();
  EXPECT_EQ(x.grad().shape(), Shape({2, 3}));
  EXPECT_EQ(grad_of(x), (std::vector<float>{1, -1, 2, -2, 3, -3}));
  EXPECT_V3D_ERROR(ag::view(x, Shape{4, 2}), "view");
}

TEST_P(AutogradTest, MeanOfEmptyThrows) {
  const Var x(Tensor::zeros({0}, DType::kF32, dev()), true);
  EXPECT_V3D_ERROR(ag::mean(x), "mean of an empty tensor");
}

TEST_P(AutogradTest, MatmulByHand) {
  const Var a = leaf({1, 2, 3, 4}, {2, 2});
  const Var b = leaf({5, 6, 7, 8}, {2, 2});
  const Var c = ag::matmul(a, b);
  EXPECT_EQ(c.value().to_vector(), (std::vector<float>{19, 22, 43, 50}));
  ag::sum(c).backward();
  // d_a = ones @ b^T, d_b = a^T @ ones
  EXPECT_EQ(grad_of(a), (std::vector<float>{11, 15, 11, 15}));
  EXPECT_EQ(grad_of(b), (std::vector<float>{4, 4, 6, 6}));
}

struct MatmulCase {
  bool trans_a, trans_b;
};

// Gradients of loss = sum(W * (op(A) @ op(B))) with op(A): (m, k), op(B): (k, n), all sizes
// different so that any transposition mistake changes a shape or a value.
void check_matmul_gradients(Device dev, bool ta, bool tb) {
  SCOPED_TRACE(std::string("trans_a=") + (ta ? "1" : "0") + " trans_b=" + (tb ? "1" : "0"));
  const int m = 2, k = 3, n = 4;
  std::vector<float> a(m * k), b(k * n), w(m * n);
  for (int i = 0; i < m * k; ++i) a[i] = static_cast<float>(i % 5 - 2);
  for (int i = 0; i < k * n; ++i) b[i] = static_cast<float>((3 * i) % 7 - 3);
  for (int i = 0; i < m * n; ++i) w[i] = static_cast<float>(i % 3 + 1);
  const Shape a_shape = ta ? Shape{k, m} : Shape{m, k};
  const Shape b_shape = tb ? Shape{n, k} : Shape{k, n};
  auto op_a = [&](int i, int p) { return static_cast<double>(ta ? a[p * m + i] : a[i * k + p]); };
  auto op_b = [&](int p, int j) { return static_cast<double>(tb ? b[j * k + p] : b[p * n + j]); };

  std::vector<float> c_ref(m * n), da_ref(m * k), db_ref(k * n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double acc = 0;
      for (int p = 0; p < k; ++p) acc += op_a(i, p) * op_b(p, j);
      c_ref[i * n + j] = static_cast<float>(acc);
    }
  for (int i = 0; i < m; ++i)
    for (int p = 0; p < k; ++p) {
      double acc = 0;  // d op(A)(i, p) = sum_j W(i, j) op(B)(p, j)
      for (int j = 0; j < n; ++j) acc += w[i * n + j] * op_b(p, j);
      da_ref[ta ? p * m + i : i * k + p] = static_cast<float>(acc);
    }
  for (int p = 0; p < k; ++p)
    for (int j = 0; j < n; ++j) {
      double acc = 0;  // d op(B)(p, j) = sum_i op(A)(i, p) W(i, j)
      for (int i = 0; i < m; ++i) acc += op_a(i, p) * w[i * n + j];
      db_ref[tb ? j * k + p : p * n + j] = static_cast<float>(acc);
    }

  const Var va(Tensor::from_vector(a, a_shape, dev), true);
  const Var vb(Tensor::from_vector(b, b_shape, dev), true);
  const Var vw(Tensor::from_vector(w, {m, n}, dev), false);
  const Var c = ag::matmul(va, vb, ta, tb);
  ASSERT_EQ(c.value().shape(), Shape({m, n}));
  EXPECT_EQ(c.value().to_vector(), c_ref);
  ag::sum(ag::mul(c, vw)).backward();
  ASSERT_TRUE(va.grad().defined());
  ASSERT_TRUE(vb.grad().defined());
  EXPECT_EQ(va.grad().shape(), a_shape);
  EXPECT_EQ(vb.grad().shape(), b_shape);
  EXPECT_EQ(va.grad().to_vector(), da_ref);
  EXPECT_EQ(vb.grad().to_vector(), db_ref);
}

TEST_P(AutogradTest, MatmulGradientNN) { check_matmul_gradients(dev(), false, false); }
TEST_P(AutogradTest, MatmulGradientTN) { check_matmul_gradients(dev(), true, false); }
TEST_P(AutogradTest, MatmulGradientNT) { check_matmul_gradients(dev(), false, true); }
TEST_P(AutogradTest, MatmulGradientTT) { check_matmul_gradients(dev(), true, true); }

TEST_P(AutogradTest, MatmulGradientOnlyForTheInputThatNeedsIt) {
  const Var a = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  const Var b = constant({1, 0, 0, 1, 1, 1}, {3, 2});
  ag::sum(ag::matmul(a, b)).backward();
  // d_a = ones(2, 2) @ b^T = row sums of b for each column of a.
  EXPECT_EQ(grad_of(a), (std::vector<float>{1, 1, 2, 1, 1, 2}));
  EXPECT_FALSE(b.grad().defined());
}

// ---- accumulation -----------------------------------------------------------------------------

TEST_P(AutogradTest, SameInputTwiceGetsTwiceTheGradient) {
  const Var x = leaf({1, 2, 3}, {3});
  ag::sum(ag::add(x, x)).backward();
  EXPECT_EQ(grad_of(x), (std::vector<float>{2, 2, 2}));

  const Var z = leaf({1, -2, 3}, {3});
  ag::sum(ag::mul(z, z)).backward();
  EXPECT_EQ(grad_of(z), (std::vector<float>{2, -4, 6}));
}

TEST_P(AutogradTest, DiamondAccumulates) {
  // h = relu(x); loss = sum(h * h + 3 h)  ->  d_x = (x > 0) (2x + 3)
  const Var x = leaf({-1, 2, 0.5f, 3}, {4});
  const Var h = ag::relu(x);
  const Var loss = ag::sum(ag::add(ag::mul(h, h), ag::scale(h, 3.0f)));
  EXPECT_EQ(loss.value().item(), 4.0f + 6.0f + 0.25f + 1.5f + 9.0f + 9.0f);
  loss.backward();
  EXPECT_EQ(grad_of(x), (std::vector<float>{0, 7, 4, 9}));
}

TEST_P(AutogradTest, NodeGradientIsCompleteBeforeItPropagates) {
  // a = 2x is used by b = a * a and by c = a + b: a's backward may run only after both b and c
  // have contributed, or part of d_a never reaches x. d_x = 2 (1 + 2a) = 2 + 8x.
  const Var x = leaf({1, -1, 0.5f}, {3});
  const Var a = ag::scale(x, 2.0f);
  const Var loss = ag::sum(ag::add(a, ag::mul(a, a)));
  EXPECT_EQ(loss.value().item(), (2 + 4) + (-2 + 4) + (1 + 1));
  loss.backward();
  EXPECT_EQ(grad_of(x), (std::vector<float>{10, -6, 6}));
}

// The gradient-ready hook runs once per pass, when the leaf's gradient holds every contribution:
// x feeds three ops (so it completes after the last of them), w is used once near the loss (so it
// completes first), an unused leaf's hook never runs, and a leaf without a hook needs none.
TEST_P(AutogradTest, GradReadyHookRunsOnceTheLeafsGradientIsComplete) {
  const Var x = leaf({1, -2, 3}, {3});
  const Var w = leaf({2, 2, 2}, {3});
  const Var unused = leaf({5}, {1});
  const Var plain = leaf({1, 1, 1}, {3});
  std::vector<std::string> fired;
  std::vector<std::vector<float>> seen;
  x.node()->grad_ready = [&] {
    fired.push_back("x");
    seen.push_back(x.grad().to_vector());
  };
  Var(w.node()).set_grad_ready_hook([&] {
    fired.push_back("w");
    seen.push_back(w.grad().to_vector());
  });
  Var(unused.node()).set_grad_ready_hook([&] { fired.push_back("unused"); });
  // loss = sum(w * (x*x + 3x + relu(x)) + plain): d_x = w (2x + 3 + (x > 0)), d_w = x*x + 3x +
  // relu(x)
  const Var inner = ag::add(ag::add(ag::mul(x, x), ag::scale(x, 3.0f)), ag::relu(x));
  const Var loss = ag::sum(ag::add(ag::mul(w, inner), plain));
  loss.backward();
  EXPECT_EQ(fired, (std::vector<std::string>{"w", "x"}));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], (std::vector<float>{1 + 3 + 1, 4 - 6 + 0, 9 + 9 + 3}));
  EXPECT_EQ(seen[1], (std::vector<float>{2 * (2 + 3 + 1), 2 * (-4 + 3 + 0), 2 * (6 + 3 + 1)}));
  EXPECT_EQ(grad_of(plain), (std::vector<float>{1, 1, 1}));

  // Each pass runs them again (here both complete at the one mul, in its input order); an empty
  // hook removes it; only leaves take one.
  ag::sum(ag::mul(x, w)).backward();
  EXPECT_EQ(fired, (std::vector<std::string>{"w", "x", "x", "w"}));
  Var(x.node()).set_grad_ready_hook({});
  ag::sum(ag::mul(x, w)).backward();
  EXPECT_EQ(fired, (std::vector<std::string>{"w", "x", "x", "w", "w"}));
  EXPECT_V3D_ERROR(Var(inner.node()).set_grad_ready_hook([] {}), "only leaves");
}

TEST_P(AutogradTest, ResultsNameTheirOps) {
  PhiloxState rng{1, 0};
  const Var x = leaf({1, 2, 3, 4}, {2, 2});
  EXPECT_EQ(ag::add(x, x).op(), "add");
  EXPECT_EQ(ag::mul(x, x).op(), "mul");
  EXPECT_EQ(ag::scale(x, 2.0f).op(), "scale");
  EXPECT_EQ(ag::relu(x).op(), "relu");
  EXPECT_EQ(ag::dropout(x, 0.5f, true, rng).op(), "dropout");
  EXPECT_EQ(ag::matmul(x, x).op(), "matmul");
  EXPECT_EQ(ag::sum(x).op(), "sum");
  EXPECT_EQ(ag::mean(x).op(), "mean");
}

TEST_P(AutogradTest, ThreeWayFanOutAccumulates) {
  // y = 2x + x * x + 5x: d_x = 7 + 2x. The third contribution exercises in-place accumulation
  // into a gradient the engine already owns.
  const Var x = leaf({1, 2, -3}, {3});
  const Var y = ag::add(ag::add(ag::scale(x, 2.0f), ag::mul(x, x)), ag::scale(x, 5.0f));
  ag::sum(y).backward();
  EXPECT_EQ(grad_of(x), (std::vector<float>{9, 11, 1}));
}

TEST_P(AutogradTest, GradientsOfDistinctInputsAreNotShared) {
  // add's backward hands the same tensor to both inputs; later accumulation into one of them
  // must not show in the other.
  const Var a = leaf({1, 2}, {2});
  const Var b = leaf({3, 4}, {2});
  ag::sum(ag::add(a, b)).backward();
  EXPECT_EQ(grad_of(a), (std::vector<float>{1, 1}));
  EXPECT_EQ(grad_of(b), (std::vector<float>{1, 1}));
  ag::sum(ag::scale(a, 5.0f)).backward();
  EXPECT_EQ(grad_of(a), (std::vector<float>{6, 6}));
  EXPECT_EQ(grad_of(b), (std::vector<float>{1, 1}));
  ag::sum(ag::scale(a, 10.0f)).backward();  // now accumulated in place into a's own gradient
  EXPECT_EQ(grad_of(a), (std::vector<float>{16, 16}));
  EXPECT_EQ(grad_of(b), (std::vector<float>{1, 1}));
}

TEST_P(AutogradTest, ExplicitSeedIsNotModifiedByAccumulation) {
  const Var x = leaf({1, 2, 3, 4}, {2, 2});
  const Tensor seed = Tensor::from_vector({1, 2, 3, 4}, {2, 2}, dev());
  x.backward(seed);  // backward from a leaf: its gradient is the seed
  EXPECT_EQ(grad_of(x), (std::vector<float>{1, 2, 3, 4}));
  x.backward(seed);
  x.backward(seed);
  EXPECT_EQ(grad_of(x), (std::vector<float>{3, 6, 9, 12}));
  EXPECT_EQ(seed.to_vector(), (std::vector<float>{1, 2, 3, 4}));
}

TEST_P(AutogradTest, RepeatedBackwardPassesAccumulateIntoLeaves) {
  const Var x = leaf({1, 2}, {2});
  for (int i = 0; i < 3; ++i) ag::sum(ag::scale(x, 2.0f)).backward();
  EXPECT_EQ(grad_of(x), (std::vector<float>{6, 6}));
}

TEST_P(AutogradTest, IntermediateNodesHeldOnlyByTheGraph) {
  // Only the leaf and the root are held by the caller: the backward pass must keep every
  // intermediate node alive until it has been processed.
  const Var x = leaf(iota_vec(64, -31.5f), {8, 8});
  const Var w = constant(iota_vec(64, 0.25f), {8, 8});
  Var loss = ag::sum(ag::scale(ag::relu(ag::add(ag::matmul(x, w), ag::scale(x, 2.0f))), 0.5f));
  loss.backward();
  // Reference: d_x = 0.5 * mask @ w^T + 0.5 * 2 * mask, mask = (x @ w + 2 x > 0).
  const std::vector<float> xv = x.value().to_vector(), wv = w.value().to_vector();
  std::vector<float> expect(64);
  std::vector<double> mask(64);
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 8; ++j) {
      double acc = 2.0 * xv[i * 8 + j];
      for (int p = 0; p < 8; ++p) acc += static_cast<double>(xv[i * 8 + p]) * wv[p * 8 + j];
      mask[i * 8 + j] = acc > 0 ? 1.0 : 0.0;
    }
  for (int i = 0; i < 8; ++i)
    for (int p = 0; p < 8; ++p) {
      double acc = mask[i * 8 + p];
      for (int j = 0; j < 8; ++j) acc += 0.5 * mask[i * 8 + j] * wv[p * 8 + j];
      expect[i * 8 + p] = static_cast<float>(acc);
    }
  const std::vector<float> got = grad_of(x);
  ASSERT_EQ(got.size(), expect.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expect[i], 1e-4) << i;
}

// ---- graph lifetime ---------------------------------------------------------------------------

TEST_P(AutogradTest, BackwardTwiceThroughAFreedGraphThrows) {
  const Var x = leaf({1, 2}, {2});
  const Var loss = ag::sum(ag::mul(x, x));
  loss.backward();
  EXPECT_EQ(grad_of(x), (std::vector<float>{2, 4}));
  EXPECT_V3D_ERROR(loss.backward(), "already freed");
  EXPECT_EQ(grad_of(x), (std::vector<float>{2, 4}));  // unchanged by the refused pass
}

TEST_P(AutogradTest, BackwardThroughAFreedIntermediateThrows) {
  // y's closure and inputs were released by the first pass; a new graph built on y cannot reach
  // x any more, so a second pass must fail rather than silently leave x's gradient unchanged.
  const Var x = leaf({1, 2}, {2});
  const Var y = ag::scale(x, 3.0f);
  ag::sum(y).backward();
  EXPECT_EQ(grad_of(x), (std::vector<float>{3, 3}));
  const Var loss2 = ag::sum(ag::scale(y, 2.0f));
  EXPECT_V3D_ERROR(loss2.backward(), "freed");
  EXPECT_EQ(grad_of(x), (std::vector<float>{3, 3}));
}

TEST_P(AutogradTest, BackwardFreesTheGraph) {
  const Var x = leaf({1, 2}, {2});
  const Var y = ag::mul(x, x);
  const Var loss = ag::sum(y);
  loss.backward();
  EXPECT_TRUE(y.node()->freed);
  EXPECT_TRUE(y.node()->inputs.empty());
  EXPECT_FALSE(static_cast<bool>(y.node()->backward));
  EXPECT_FALSE(y.grad().defined());  // intermediate gradients are released
  EXPECT_TRUE(loss.node()->inputs.empty());
  EXPECT_TRUE(x.grad().defined());  // leaf gradients stay
}

TEST_P(AutogradTest, BackwardOnNonScalarNeedsASeed) {
  const Var x = leaf({1, 2, 3, 4}, {2, 2});
  const Var y = ag::scale(x, 3.0f);
  EXPECT_V3D_ERROR(y.backward(), "one-element", "f32(2, 2)");
  EXPECT_FALSE(x.grad().defined());
  EXPECT_V3D_ERROR(y.backward(Tensor::zeros({4}, DType::kF32, dev())), "backward seed",
                   "expected shape (2, 2)");
  const Device other = dev().is_cpu() ? Device::emu() : Device::cpu();
  EXPECT_V3D_ERROR(y.backward(Tensor::zeros({2, 2}, DType::kF32, other)), "backward seed",
                   "expected a tensor on " + dev().str());
  y.backward(Tensor::from_vector({1, -1, 2, 0.5f}, {2, 2}, dev()));
  EXPECT_EQ(grad_of(x), (std::vector<float>{3, -3, 6, 1.5f}));
}

TEST_P(AutogradTest, BackwardOfAOneElementNonScalarWorksWithoutSeed) {
  const Var x = leaf({2, 3}, {2});
  const Var y = ag::matmul(Var(x.value().view({1, 2}), false), Var(x.value().view({2, 1}), false));
  EXPECT_FALSE(y.requires_grad());
  const Var a = leaf({2, 3}, {1, 2});
  const Var b = leaf({4, 5}, {2, 1});
  const Var z = ag::matmul(a, b);  // (1, 1)
  EXPECT_EQ(z.value().item(), 23.0f);
  z.backward();
  EXPECT_EQ(grad_of(a), (std::vector<float>{4, 5}));
  EXPECT_EQ(grad_of(b), (std::vector<float>{2, 3}));
}

TEST_P(AutogradTest, NoGradGuardRecordsNoGraph) {
  const Var x = leaf({1, 2}, {2});
  EXPECT_TRUE(grad_enabled());
  {
    NoGradGuard guard;
    EXPECT_FALSE(grad_enabled());
    const Var y = ag::relu(ag::mul(x, x));
    EXPECT_FALSE(y.requires_grad());
    EXPECT_TRUE(y.node()->inputs.empty());
    EXPECT_FALSE(static_cast<bool>(y.node()->backward));
    EXPECT_EQ(y.value().to_vector(), (std::vector<float>{1, 4}));  // values are still computed
    EXPECT_V3D_ERROR(ag::sum(y).backward(), "does not require a gradient");
    {
      NoGradGuard nested;
      EXPECT_FALSE(grad_enabled());
    }
    EXPECT_FALSE(grad_enabled());  // the inner guard restores "disabled"
  }
  EXPECT_TRUE(grad_enabled());
  ag::sum(x).backward();
  EXPECT_EQ(grad_of(x), (std::vector<float>{1, 1}));
}

TEST_P(AutogradTest, NoGradGuardIsPerThread) {
  NoGradGuard guard;
  bool other_thread_enabled = false;
  std::thread t([&] { other_thread_enabled = grad_enabled(); });
  t.join();
  EXPECT_TRUE(other_thread_enabled);
  EXPECT_FALSE(grad_enabled());
}

TEST_P(AutogradTest, ZeroGradAndGradBuffers) {
  const Var x = leaf({1, 2, 3}, {3});
  ag::sum(ag::scale(x, 2.0f)).backward();
  EXPECT_EQ(grad_of(x), (std::vector<float>{2, 2, 2}));
  Var(x).zero_grad();
  EXPECT_FALSE(x.grad().defined());  // a shared gradient is forgotten

  // An owned buffer receives gradients in place and is zeroed in place.
  Var y = leaf({1, 2, 3}, {3});
  const Tensor buffer = Tensor::full({3}, 100.0f, dev());
  y.set_grad_buffer(buffer);
  ag::sum(ag::scale(y, 2.0f)).backward();
  EXPECT_EQ(buffer.to_vector(), (std::vector<float>{102, 102, 102}));  // accumulated with +=
  EXPECT_TRUE(y.grad().shares_storage(buffer));
  y.zero_grad();
  EXPECT_TRUE(y.grad().shares_storage(buffer));
  EXPECT_EQ(buffer.to_vector(), (std::vector<float>{0, 0, 0}));

  EXPECT_V3D_ERROR(y.set_grad_buffer(Tensor::zeros({4}, DType::kF32, dev())), "gradient buffer",
                   "expected shape (3)");
  const Var z = ag::scale(y, 1.0f);
  EXPECT_V3D_ERROR(Var(z).set_grad_buffer(buffer), "only leaves");
}

TEST_P(AutogradTest, SetValueChecksShapeAndReplaces) {
  Var x = leaf({1, 2}, {2});
  EXPECT_V3D_ERROR(x.set_value(Tensor::zeros({3}, DType::kF32, dev())), "set_value",
                   "expected shape (2)");
  EXPECT_V3D_ERROR(x.set_value(Tensor::zeros({2}, DType::kI32, dev())), "set_value", "f32");
  x.set_value(Tensor::from_vector({5, 6}, {2}, dev()));
  EXPECT_EQ(x.value().to_vector(), (std::vector<float>{5, 6}));
  ag::sum(ag::mul(x, x)).backward();
  EXPECT_EQ(grad_of(x), (std::vector<float>{10, 12}));
}

TEST_P(AutogradTest, MixedDeviceInputsNameTheOp) {
  const Device other = dev().is_cpu() ? Device::emu() : Device::cpu();
  const Var a = leaf({1, 2}, {2});
  const Var b(Tensor::from_vector({1, 2}, {2}, other), true);
  EXPECT_V3D_ERROR(ag::add(a, b), "add: b", "expected a tensor on " + dev().str());
  EXPECT_V3D_ERROR(ag::mul(a, b), "mul: b");
  EXPECT_V3D_ERROR(ag::matmul(Var(a.value().view({1, 2}), true), Var(b.value().view({2, 1}), true)),
                   "matmul", "different devices");
}

// ---- deep graphs ------------------------------------------------------------------------------

// Builds y = f(f(...f(x))) with 20,000 ops (alternately y -> -y and y -> y + 0.5, so that every
// two ops are the identity), back-propagates and checks the result. Returns an error or "".
std::string run_deep_chain(Device dev) {
  constexpr int kOps = 20000;
  const Var x(Tensor::from_vector({1.0f, -2.0f, 4.0f}, {3}, dev), true);
  const Var half(Tensor::full({3}, 0.5f, dev), false);
  Var loss;
  {
    Var y = x;
    for (int i = 0; i < kOps; ++i) y = (i % 2 == 0) ? ag::scale(y, -1.0f) : ag::add(y, half);
    if (y.value().to_vector() != std::vector<float>{1.0f, -2.0f, 4.0f}) return "wrong forward";
    loss = ag::sum(y);
  }  // only `loss` holds the chain now
  loss.backward();
  if (!x.grad().defined()) return "no gradient reached x";
  if (x.grad().to_vector() != std::vector<float>{1.0f, 1.0f, 1.0f}) return "wrong gradient";
  return "";
}

TEST_P(AutogradTest, DeepChainBackwardDoesNotOverflowTheStack) {
  // Run in a child process: a stack overflow must fail this test, not end the test program.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const Device d = dev();
  EXPECT_EXIT(
      {
        const std::string err = run_deep_chain(d);
        std::fprintf(stderr, "deep chain: %s\n", err.empty() ? "ok" : err.c_str());
        std::exit(err.empty() ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "deep chain: ok");
}

TEST_P(AutogradTest, DeepChainWithoutBackwardIsReleased) {
  // A graph that is never back-propagated is released when its last Var goes.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const Device d = dev();
  EXPECT_EXIT(
      {
        const Var x(Tensor::from_vector({1.0f}, {1}, d), true);
        {
          Var y = x;
          for (int i = 0; i < 20000; ++i) y = ag::scale(y, 1.0f);
        }
        std::fprintf(stderr, "released\n");
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "released");
}

// ---- dropout ----------------------------------------------------------------------------------

// The mask kernels/dropout.h specifies, evaluated on the host.
std::vector<bool> expected_keep(int64_t n, float p, uint64_t seed, uint64_t offset) {
  std::vector<bool> keep(static_cast<size_t>(n));
  for (int64_t g = 0; g < (n + 3) / 4; ++g) {
    bool k4[4];
    kernels::dropout_keep4(static_cast<uint64_t>(g), p, seed, offset, k4);
    for (int j = 0; j < 4 && 4 * g + j < n; ++j) keep[static_cast<size_t>(4 * g + j)] = k4[j];
  }
  return keep;
}

TEST_P(AutogradTest, DropoutForwardAndGradientFollowTheMask) {
  const int64_t n = 103;  // not a multiple of 4
  const float p = 0.25f;
  PhiloxState rng{0x1234567890abcdefull, 7};
  const Var x = leaf(iota_vec(n, 1.0f), {n});
  const Var y = ag::dropout(x, p, true, rng);
  EXPECT_EQ(y.op(), "dropout");
  const std::vector<bool> keep = expected_keep(n, p, 0x1234567890abcdefull, 7);
  const float scale = kernels::dropout_scale(p);
  const std::vector<float> yv = y.value().to_vector();
  int kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float want = keep[static_cast<size_t>(i)] ? static_cast<float>(i + 1) * scale : 0.0f;
    EXPECT_EQ(yv[static_cast<size_t>(i)], want) << i;
    kept += keep[static_cast<size_t>(i)] ? 1 : 0;
  }
  EXPECT_GT(kept, 0);
  EXPECT_LT(kept, n);

  ag::sum(ag::mul(y, constant(std::vector<float>(static_cast<size_t>(n), 3.0f), {n}))).backward();
  const std::vector<float> gx = grad_of(x);
  for (int64_t i = 0; i < n; ++i)
    EXPECT_EQ(gx[static_cast<size_t>(i)], keep[static_cast<size_t>(i)] ? 3.0f * scale : 0.0f) << i;
}

TEST_P(AutogradTest, DropoutAdvancesTheOffsetSoMasksDiffer) {
  const int64_t n = 10;
  PhiloxState rng{42, 0};
  const Var x = leaf(std::vector<float>(n, 1.0f), {n});
  const Var y1 = ag::dropout(x, 0.5f, true, rng);
  EXPECT_EQ(rng.seed, 42u);
  EXPECT_EQ(rng.offset, kernels::dropout_counter_advance(n));
  EXPECT_EQ(rng.offset, 3u);  // ceil(10 / 4)
  const Var y2 = ag::dropout(x, 0.5f, true, rng);
  EXPECT_EQ(rng.offset, 6u);
  EXPECT_NE(y1.value().to_vector(), y2.value().to_vector());

  // The sequence is reproducible from (seed, offset).
  PhiloxState replay{42, 3};
  EXPECT_EQ(ag::dropout(x, 0.5f, true, replay).value().to_vector(), y2.value().to_vector());
  PhiloxState other_seed{43, 0};
  EXPECT_NE(ag::dropout(x, 0.5f, true, other_seed).value().to_vector(), y1.value().to_vector());
}

TEST_P(AutogradTest, DropoutIsIdentityWhenNotTrainingOrPZero) {
  PhiloxState rng{9, 5};
  const Var x = leaf({1, 2, 3, 4, 5}, {5});
  const Var eval = ag::dropout(x, 0.5f, false, rng);
  EXPECT_EQ(eval.node(), x.node());
  EXPECT_EQ(eval.value().to_vector(), (std::vector<float>{1, 2, 3, 4, 5}));
  const Var p0 = ag::dropout(x, 0.0f, true, rng);
  EXPECT_EQ(p0.node(), x.node());
  EXPECT_EQ(rng.offset, 5u);  // no mask was drawn
  ag::sum(eval).backward();
  EXPECT_EQ(grad_of(x), std::vector<float>(5, 1.0f));
}

// The fused ReLU + dropout of the model's bn_relu_drop against the two ops it replaces: the same
// values and gradients bit for bit, the same counter advance, and plain ReLU when not training.
TEST_P(AutogradTest, ReluDropoutEqualsReluThenDropout) {
  const int64_t n = 1000 + 3;  // AVX-512 blocks of 64 plus a scalar tail
  std::vector<float> xs(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    xs[static_cast<size_t>(i)] = static_cast<float>((i * 37) % 101) - 50.0f;  // includes 0
  std::vector<float> w(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) w[static_cast<size_t>(i)] = 0.5f + static_cast<float>(i % 7);
  for (const bool training : {true, false}) {
    PhiloxState r1{0xfeedull, 11}, r2{0xfeedull, 11};
    const Var x1 = leaf(xs, {n}), x2 = leaf(xs, {n});
    const Var y1 = ag::relu_dropout(x1, 0.25f, training, r1);
    const Var y2 = ag::dropout(ag::relu(x2), 0.25f, training, r2);
    EXPECT_EQ(y1.op(), training ? "relu_dropout" : "relu");
    EXPECT_EQ(r1.offset, r2.offset);
    EXPECT_TRUE(test::bitwise_equal(y1.value().to_vector(), y2.value().to_vector()));
    ag::sum(ag::mul(y1, constant(w, {n}))).backward();
    ag::sum(ag::mul(y2, constant(w, {n}))).backward();
    EXPECT_TRUE(test::bitwise_equal(grad_of(x1), grad_of(x2))) << "training " << training;
  }
}

TEST_P(AutogradTest, DropoutRejectsInvalidProbability) {
  PhiloxState rng;
  const Var x = leaf({1, 2}, {2});
  EXPECT_V3D_ERROR(ag::dropout(x, 1.0f, true, rng), "dropout probability", "[0, 1)");
  EXPECT_V3D_ERROR(ag::dropout(x, -0.1f, true, rng), "dropout probability");
  EXPECT_EQ(rng.offset, 0u);
}

// The graph does not keep results alive: an intermediate that no backward closure saved is freed
// when its last Var goes, while one a closure saved lives until its backward has run. ReLU and
// ReLU/dropout keep their output, not their input.
TEST_P(AutogradTest, AnIntermediateNoClosureSavedIsFreedWithItsLastVar) {
  const Shape s{64, 64};  // 16 KiB: a multiple of every allocator's rounding
  const int64_t bytes = s.numel() * 4;
  Allocator& alloc = allocator_for(dev());
  const Var x(Tensor::from_vector(test::iota_vec(s.numel()), s, dev()), true);
  synchronize(dev());
  alloc.empty_cache();
  const int64_t base = alloc.stats().allocated_bytes;
  const auto held = [&] { return alloc.stats().allocated_bytes - base; };
  Var z;
  {
    const Var y = ag::scale(x, 2.0f);  // scale saves nothing
    z = ag::mul(y, y);                 // mul saves its inputs
    EXPECT_EQ(held(), 2 * bytes);
  }
  EXPECT_EQ(held(), 2 * bytes) << "mul's closure keeps y";
  Var w = ag::scale(z, 3.0f);
  z = Var();  // z's value: no closure saved it
  EXPECT_EQ(held(), 2 * bytes) << "y and w remain";
  w.backward(Tensor::from_vector(std::vector<float>(s.numel(), 1.0f), s, dev()));
  EXPECT_EQ(x.grad().to_vector()[5], 120.0f);  // d/dx 3 (2x)^2 = 24 x

  w = Var();
  ASSERT_EQ(held(), bytes) << "x's gradient";
  PhiloxState rng{3, 0};
  Var r, q;
  {
    const Var y = ag::scale(x, -1.0f);
    r = ag::relu(y);
    q = ag::relu_dropout(y, 0.25f, /*training=*/true, rng);
  }
  EXPECT_EQ(held(), 3 * bytes) << "relu and relu_dropout keep only their outputs";
}

INSTANTIATE_TEST_SUITE_P(Devices, AutogradTest, ::testing::ValuesIn(test::device_params()),
                         test::device_test_name);

TEST(DropoutAcrossDevices, MasksAreBitIdenticalOnCpuAndGpu) {
  const int64_t n = 4099;
  std::vector<float> xv(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    xv[static_cast<size_t>(i)] = 0.37f * static_cast<float>(i % 17) - 2.1f;
  std::vector<float> ref_y, ref_g;
  for (Device d : test::all_devices()) {
    SCOPED_TRACE(d.str());
    PhiloxState rng{0xfeedbeefull, 11};
    const Var x(Tensor::from_vector(xv, {n}, d), true);
    const Var y = ag::dropout(x, 0.3f, true, rng);
    const Var y2 = ag::dropout(y, 0.1f, true, rng);  // a second draw, at the advanced offset
    ag::sum(y2).backward();
    const std::vector<float> yv = y2.value().to_vector(), gv = x.grad().to_vector();
    if (d.is_cpu()) {
      ref_y = yv;
      ref_g = gv;
    } else {
      EXPECT_TRUE(test::bitwise_equal(yv, ref_y));
      EXPECT_TRUE(test::bitwise_equal(gv, ref_g));
    }
  }
  ASSERT_EQ(ref_y.size(), static_cast<size_t>(n));
}

}  // namespace
}  // namespace v3d
