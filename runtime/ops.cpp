// Shape-checked entry points over kernels/*.h.
#include "runtime/ops.h"

#include "kernels/dropout.h"
#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "kernels/reduce.h"
#include "runtime/dispatch.h"

namespace v3d::ops {

namespace {

using kernels::StreamHandle;

void check_same(const Tensor& ref, const Tensor& t, const char* what) {
  check_tensor(t, what, ref.device(), ref.shape());
}

}  // namespace

void add_out(const Tensor& a, const Tensor& b, const Tensor& y) {
  check_f32(a, "add: a");
  check_same(a, b, "add: b");
  check_same(a, y, "add: y");
  const int64_t n = a.numel();
  dispatch(
      a.device(), [&] { kernels::cpu::add(a.f32(), b.f32(), y.f32(), n); },
      [&](auto kind, StreamHandle s) {
        kernels::launch::add<decltype(kind)::value>(a.f32(), b.f32(), y.f32(), n, s);
      });
}

Tensor add(const Tensor& a, const Tensor& b) {
  check_f32(a, "add: a");
  Tensor y = Tensor::empty(a.shape(), DType::kF32, a.device());
  add_out(a, b, y);
  return y;
}

void mul_out(const Tensor& a, const Tensor& b, const Tensor& y) {
  check_f32(a, "mul: a");
  check_same(a, b, "mul: b");
  check_same(a, y, "mul: y");
  const int64_t n = a.numel();
  dispatch(
      a.device(), [&] { kernels::cpu::mul(a.f32(), b.f32(), y.f32(), n); },
      [&](auto kind, StreamHandle s) {
        kernels::launch::mul<decltype(kind)::value>(a.f32(), b.f32(), y.f32(), n, s);
      });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  check_f32(a, "mul: a");
  Tensor y = Tensor::empty(a.shape(), DType::kF32, a.device());
  mul_out(a, b, y);
  return y;
}

void scale_out(const Tensor& x, float alpha, const Tensor& y) {
  check_f32(x, "scale: x");
  check_same(x, y, "scale: y");
  const int64_t n = x.numel();
  dispatch(
      x.device(), [&] { kernels::cpu::scale(x.f32(), alpha, y.f32(), n); },
      [&](auto kind, StreamHandle s) {
        kernels::launch::scale<decltype(kind)::value>(x.f32(), alpha, y.f32(), n, s);
      });
}

Tensor scale(const Tensor& x, float alpha) {
  check_f32(x, "scale: x");
  Tensor y = Tensor::empty(x.shape(), DType::kF32, x.device());
  scale_out(x, alpha, y);
  return y;
}

void fill_(const Tensor& t, float value) {
  check_f32(t, "fill: t");
  const int64_t n = t.numel();
  dispatch(
      t.device(), [&] { kernels::cpu::fill(t.f32(), value, n); },
      [&](auto kind, StreamHandle s) {
        kernels::launch::fill<decltype(kind)::value>(t.f32(), value, n, s);
      });
}

void broadcast_out(const Tensor& s, float alpha, const Tensor& y) {
  check_f32(s, "broadcast: s");
  check_f32(y, "broadcast: y");
  V3D_CHECK(s.numel() == 1 && s.device() == y.device(),
            "broadcast: source must be one element on " << y.device().str() << ", got " << s.str());
  const int64_t n = y.numel();
  dispatch(
      y.device(), [&] { kernels::cpu::broadcast(s.f32(), alpha, y.f32(), n); },
      [&](auto kind, StreamHandle st) {
        kernels::launch::broadcast<decltype(kind)::value>(s.f32(), alpha, y.f32(), n, st);
      });
}

void relu_out(const Tensor& x, const Tensor& y) {
  check_f32(x, "relu: x");
  check_same(x, y, "relu: y");
  const int64_t n = x.numel();
  dispatch(
      x.device(), [&] { kernels::cpu::relu_fwd(x.f32(), y.f32(), n); },
      [&](auto kind, StreamHandle s) {
        kernels::launch::relu_fwd<decltype(kind)::value>(x.f32(), y.f32(), n, s);
      });
}

Tensor relu(const Tensor& x) {
  check_f32(x, "relu: x");
  Tensor y = Tensor::empty(x.shape(), DType::kF32, x.device());
  relu_out(x, y);
  return y;
}

void relu_bwd_out(const Tensor& x, const Tensor& d_y, const Tensor& d_x) {
  check_f32(x, "relu_bwd: x");
  check_same(x, d_y, "relu_bwd: d_y");
  check_same(x, d_x, "relu_bwd: d_x");
  const int64_t n = x.numel();
  dispatch(
      x.device(), [&] { kernels::cpu::relu_bwd(x.f32(), d_y.f32(), d_x.f32(), n); },
      [&](auto kind, StreamHandle s) {
        kernels::launch::relu_bwd<decltype(kind)::value>(x.f32(), d_y.f32(), d_x.f32(), n, s);
      });
}

void dropout_out(const Tensor& x, const Tensor& y, float p, uint64_t seed, uint64_t offset) {
  check_f32(x, "dropout: x");
  check_same(x, y, "dropout: y");
  const int64_t n = x.numel();
  dispatch(
      x.device(), [&] { kernels::cpu::dropout_fwd(x.f32(), y.f32(), n, p, seed, offset); },
      [&](auto kind, StreamHandle s) {
        kernels::launch::dropout_fwd<decltype(kind)::value>(x.f32(), y.f32(), n, p, seed, offset,
                                                            s);
      });
}

void dropout_bwd_out(const Tensor& d_y, const Tensor& d_x, float p, uint64_t seed,
                          uint64_t offset) {
  check_f32(d_y, "dropout_bwd: d_y");
  check_same(d_y, d_x, "dropout_bwd: d_x");
  const int64_t n = d_y.numel();
  dispatch(
      d_y.device(), [&] { kernels::cpu::dropout_bwd(d_y.f32(), d_x.f32(), n, p, seed, offset); },
      [&](auto kind, StreamHandle s) {
        kernels::launch::dropout_bwd<decltype(kind)::value>(d_y.f32(), d_x.f32(), n, p, seed,
                                                            offset, s);
      });
}

void relu_dropout_out(const Tensor& x, const Tensor& y, float p, uint64_t seed, uint64_t offset) {
  check_f32(x, "relu_dropout: x");
  check_same(x, y, "relu_dropout: y");
  const int64_t n = x.numel();
  dispatch(
      x.device(), [&] { kernels::cpu::relu_dropout_fwd(x.f32(), y.f32(), n, p, seed, offset); },
      [&](auto kind, StreamHandle s) {
        kernels::launch::relu_dropout_fwd<decltype(kind)::value>(x.f32(), y.f32(), n, p, seed,
                                                                 offset, s);
      });
}

void relu_dropout_bwd_out(const Tensor& x, const Tensor& d_y, const Tensor& d_x, float p,
                               uint64_t seed, uint64_t offset) {
  check_f32(x, "relu_dropout_bwd: x");
  check_same(x, d_y, "relu_dropout_bwd: d_y");
  check_same(x, d_x, "relu_dropout_bwd: d_x");
  const int64_t n = x.numel();
  dispatch(
      x.device(),
      [&] { kernels::cpu::relu_dropout_bwd(x.f32(), d_y.f32(), d_x.f32(), n, p, seed, offset); },
      [&](auto kind, StreamHandle s) {
        kernels::launch::relu_dropout_bwd<decltype(kind)::value>(x.f32(), d_y.f32(), d_x.f32(), n,
                                                                 p, seed, offset, s);
      });
}

void matmul_out(const Tensor& a, const Tensor& b, const Tensor& c, bool trans_a, bool trans_b,
                float alpha, float beta) {
  check_f32(a, "matmul: a");
  check_f32(b, "matmul: b");
  check_f32(c, "matmul: c");
  V3D_CHECK(a.ndim() == 2 && b.ndim() == 2 && c.ndim() == 2,
            "matmul: expected 2-D tensors, got " << a.str() << ", " << b.str() << ", " << c.str());
  V3D_CHECK(
      a.device() == b.device() && a.device() == c.device(),
      "matmul: tensors on different devices: " << a.str() << ", " << b.str() << ", " << c.str());
  kernels::GemmArgs g;
  g.trans_a = trans_a;
  g.trans_b = trans_b;
  g.m = trans_a ? a.size(1) : a.size(0);
  g.k = trans_a ? a.size(0) : a.size(1);
  const int64_t kb = trans_b ? b.size(1) : b.size(0);
  g.n = trans_b ? b.size(0) : b.size(1);
  V3D_CHECK(kb == g.k, "matmul: inner dimensions differ: op(a) is ("
                           << g.m << ", " << g.k << "), op(b) is (" << kb << ", " << g.n << ")");
  V3D_CHECK(c.size(0) == g.m && c.size(1) == g.n,
            "matmul: c is " << c.shape().str() << ", expected (" << g.m << ", " << g.n << ")");
  g.alpha = alpha;
  g.beta = beta;
  g.a = a.f32();
  g.lda = std::max<int64_t>(1, a.size(1));
  g.b = b.f32();
  g.ldb = std::max<int64_t>(1, b.size(1));
  g.c = c.f32();
  g.ldc = std::max<int64_t>(1, c.size(1));
  dispatch(
      a.device(), [&] { kernels::cpu::gemm(g); },
      [&](auto kind, StreamHandle s) { kernels::launch::gemm<decltype(kind)::value>(g, s); });
}

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  check_f32(a, "matmul: a");
  check_f32(b, "matmul: b");
  V3D_CHECK(a.ndim() == 2 && b.ndim() == 2,
            "matmul: expected 2-D tensors, got " << a.str() << ", " << b.str());
  const int64_t m = trans_a ? a.size(1) : a.size(0);
  const int64_t n = trans_b ? b.size(0) : b.size(1);
  Tensor c = Tensor::empty({m, n}, DType::kF32, a.device());
  matmul_out(a, b, c, trans_a, trans_b);
  return c;
}

void sum_out(const Tensor& x, const Tensor& y, float alpha) {
  check_f32(x, "sum: x");
  check_f32(y, "sum: y");
  V3D_CHECK(y.numel() == 1 && y.device() == x.device(),
            "sum: output must be one element on " << x.device().str() << ", got " << y.str());
  const int64_t n = x.numel();
  dispatch(
      x.device(), [&] { kernels::cpu::sum(x.f32(), n, alpha, y.f32()); },
      [&](auto kind, StreamHandle s) {
        Tensor workspace =
            Tensor::empty({kernels::sum_workspace_floats(n)}, DType::kF32, x.device());
        kernels::launch::sum<decltype(kind)::value>(x.f32(), n, alpha, y.f32(), workspace.f32(), s);
      });
}

Tensor sum(const Tensor& x) {
  check_f32(x, "sum: x");
  Tensor y = Tensor::empty({}, DType::kF32, x.device());
  sum_out(x, y, 1.0f);
  return y;
}

Tensor mean(const Tensor& x) {
  check_f32(x, "mean: x");
  V3D_CHECK(x.numel() > 0, "mean of an empty tensor " << x.str());
  Tensor y = Tensor::empty({}, DType::kF32, x.device());
  sum_out(x, y, 1.0f / static_cast<float>(x.numel()));
  return y;
}

}  // namespace v3d::ops
