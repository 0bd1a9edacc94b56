// Shape-checked entry points over kernels/*.h.
#include "runtime/ops.h"

#include "kernels/dropout.h"
#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "kernels/reduce.h"
#include "runtime/op_run.h"

namespace v3d::ops {

namespace {

void check_same(const Tensor& ref, const Tensor& t, const char* what) {
  check_tensor(t, what, ref.device(), ref.shape());
}

}  // namespace

void add_out(const Tensor& a, const Tensor& b, const Tensor& y) {
  check_f32(a, "add: a");
  check_same(a, b, "add: b");
  check_same(a, y, "add: y");
  run_op<op_entry::add>(a.device(), kernels::BinaryArgs{a.numel()}, a.f32(), b.f32(), y.f32());
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
  run_op<op_entry::mul>(a.device(), kernels::BinaryArgs{a.numel()}, a.f32(), b.f32(), y.f32());
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
  run_op<op_entry::scale>(x.device(), kernels::UnaryArgs{x.numel(), alpha}, x.f32(), y.f32());
}

Tensor scale(const Tensor& x, float alpha) {
  check_f32(x, "scale: x");
  Tensor y = Tensor::empty(x.shape(), DType::kF32, x.device());
  scale_out(x, alpha, y);
  return y;
}

void fill_(const Tensor& t, float value) {
  check_f32(t, "fill: t");
  kernels::FillArgs args;
  args.n = t.numel();
  args.value = value;
  run_op<op_entry::fill>(t.device(), args, t.f32());
}

void broadcast_out(const Tensor& s, float alpha, const Tensor& y) {
  check_f32(s, "broadcast: s");
  check_f32(y, "broadcast: y");
  V3D_CHECK(s.numel() == 1 && s.device() == y.device(),
            "broadcast: source must be one element on " << y.device().str() << ", got " << s.str());
  kernels::FillArgs args;
  args.n = y.numel();
  args.alpha = alpha;
  run_op<op_entry::broadcast>(y.device(), args, s.f32(), y.f32());
}

void to_bf16_out(const Tensor& x, const Tensor& y) {
  check_f32(x, "to_bf16: x");
  check_tensor(y, "to_bf16: y", x.device(), x.shape(), DType::kBF16);
  run_op<op_entry::to_bf16>(x.device(), kernels::ConvertArgs{x.numel()}, x.f32(), y.bf16());
}

Tensor to_bf16(const Tensor& x) {
  check_f32(x, "to_bf16: x");
  Tensor y = Tensor::empty(x.shape(), DType::kBF16, x.device());
  to_bf16_out(x, y);
  return y;
}

void from_bf16_out(const Tensor& x, const Tensor& y) {
  V3D_CHECK(x.defined() && x.dtype() == DType::kBF16,
            "from_bf16: x: expected bf16, got " << x.str());
  check_tensor(y, "from_bf16: y", x.device(), x.shape());
  run_op<op_entry::from_bf16>(x.device(), kernels::ConvertArgs{x.numel()}, x.bf16(), y.f32());
}

Tensor from_bf16(const Tensor& x) {
  V3D_CHECK(x.defined() && x.dtype() == DType::kBF16,
            "from_bf16: x: expected bf16, got " << x.str());
  Tensor y = Tensor::empty(x.shape(), DType::kF32, x.device());
  from_bf16_out(x, y);
  return y;
}

void relu_out(const Tensor& x, const Tensor& y) {
  check_f32(x, "relu: x");
  check_same(x, y, "relu: y");
  run_op<op_entry::relu>(x.device(), kernels::UnaryArgs{x.numel()}, x.f32(), y.f32());
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
  run_op<op_entry::relu_bwd>(x.device(), kernels::BinaryArgs{x.numel()}, x.f32(), d_y.f32(),
                             d_x.f32());
}

void dropout_out(const Tensor& x, const Tensor& y, float p, uint64_t seed, uint64_t offset) {
  check_f32(x, "dropout: x");
  check_same(x, y, "dropout: y");
  run_op<op_entry::dropout>(x.device(), kernels::DropoutArgs{x.numel(), p, seed, offset}, x.f32(),
                            y.f32());
}

void dropout_bwd_out(const Tensor& d_y, const Tensor& d_x, float p, uint64_t seed,
                     uint64_t offset) {
  check_f32(d_y, "dropout_bwd: d_y");
  check_same(d_y, d_x, "dropout_bwd: d_x");
  run_op<op_entry::dropout_bwd>(d_y.device(), kernels::DropoutArgs{d_y.numel(), p, seed, offset},
                                d_y.f32(), d_x.f32());
}

void relu_dropout_out(const Tensor& x, const Tensor& y, float p, uint64_t seed, uint64_t offset) {
  check_f32(x, "relu_dropout: x");
  check_same(x, y, "relu_dropout: y");
  run_op<op_entry::relu_dropout>(x.device(), kernels::DropoutArgs{x.numel(), p, seed, offset},
                                 x.f32(), y.f32());
}

void relu_dropout_bwd_out(const Tensor& x, const Tensor& d_y, const Tensor& d_x, float p,
                          uint64_t seed, uint64_t offset) {
  check_f32(x, "relu_dropout_bwd: x");
  check_same(x, d_y, "relu_dropout_bwd: d_y");
  check_same(x, d_x, "relu_dropout_bwd: d_x");
  run_op<op_entry::relu_dropout_bwd>(x.device(), kernels::DropoutArgs{x.numel(), p, seed, offset},
                                     x.f32(), d_y.f32(), d_x.f32());
}

void relu_dropout_bf16_out(const Tensor& x, const Tensor& y, float p, uint64_t seed,
                           uint64_t offset) {
  check_f32(x, "relu_dropout_bf16: x");
  check_tensor(y, "relu_dropout_bf16: y", x.device(), x.shape(), DType::kBF16);
  run_op<op_entry::relu_dropout_bf16>(x.device(), kernels::DropoutArgs{x.numel(), p, seed, offset},
                                      x.f32(), y.bf16());
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
  run_op<op_entry::matmul>(a.device(), g);
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
  run_op<op_entry::sum>(x.device(), kernels::SumArgs{x.numel(), alpha}, x.f32(), y.f32());
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
  run_op<op_entry::mean>(x.device(),
                         kernels::SumArgs{x.numel(), 1.0f / static_cast<float>(x.numel())}, x.f32(),
                         y.f32());
  return y;
}

}  // namespace v3d::ops
