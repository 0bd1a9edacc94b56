// Shape-checked entry points over kernels/temporal_conv.h and the autograd wrapper.
#include "runtime/temporal_conv.h"

#include "kernels/temporal_conv.h"
#include "runtime/op_run.h"

namespace v3d {
namespace {

using kernels::TemporalConvShape;

void check_params(const char* op, int64_t dilation, int64_t stride) {
  V3D_CHECK(dilation >= 1 && stride >= 1, op << ": dilation and stride must be >= 1, got dilation="
                                             << dilation << " stride=" << stride);
}

// The sizes implied by x (B, T_in, C_in) and w (C_out, C_in, K), checked against each other.
TemporalConvShape shape_of(const char* op, const Tensor& x, const char* x_name, const Tensor& w,
                           const char* w_name, int64_t dilation, int64_t stride) {
  check_f32(x, x_name);
  check_f32(w, w_name);
  check_params(op, dilation, stride);
  V3D_CHECK(x.ndim() == 3, op << ": " << x_name << " must be (B, T, C_in), got " << x.str());
  V3D_CHECK(w.ndim() == 3, op << ": " << w_name << " must be (C_out, C_in, K), got " << w.str());
  V3D_CHECK(w.device() == x.device(), op << ": " << w_name << " is on " << w.device().str() << ", "
                                         << x_name << " on " << x.device().str());
  V3D_CHECK(x.size(2) == w.size(1), op << ": " << x_name << " has " << x.size(2) << " channels but "
                                       << w_name << " expects C_in = " << w.size(1) << " ("
                                       << x_name << " " << x.str() << ", " << w_name << " "
                                       << w.str() << ")");
  TemporalConvShape s;
  s.batch = x.size(0);
  s.t_in = x.size(1);
  s.c_in = w.size(1);
  s.c_out = w.size(0);
  s.k = w.size(2);
  s.dilation = dilation;
  s.stride = stride;
  V3D_CHECK(s.t_in >= s.receptive_field(),
            op << ": " << x_name << " has " << s.t_in << " frames, fewer than the receptive field "
               << s.receptive_field() << " = (K-1)*dilation+1 with K=" << s.k
               << ", dilation=" << dilation);
  s.validate();
  return s;
}

// d_y must be (B, T_out, C_out) for the shape.
void check_grad_out(const char* op, const Tensor& d_y, const TemporalConvShape& s, Device device) {
  check_tensor(d_y, op, device, Shape{s.batch, s.t_out(), s.c_out});
}

}  // namespace

namespace ops {

int64_t temporal_conv_out_frames(int64_t t_in, int64_t k, int64_t dilation, int64_t stride) {
  check_params("temporal_conv", dilation, stride);
  V3D_CHECK(k >= 1, "temporal_conv: kernel width must be >= 1, got " << k);
  const int64_t field = (k - 1) * dilation + 1;
  V3D_CHECK(t_in >= field, "temporal_conv: a sequence of " << t_in
                                                           << " frames is shorter than the "
                                                              "receptive field "
                                                           << field);
  return (t_in - field) / stride + 1;
}

void temporal_conv_out(const Tensor& x, const Tensor& w, const Tensor& y, int64_t dilation,
                       int64_t stride, const PreparedConv* prepared, kernels::ConvMath math) {
  TemporalConvShape s = shape_of("temporal_conv", x, "x", w, "w", dilation, stride);
  s.math = math;
  check_tensor(y, "temporal_conv: y", x.device(), Shape{s.batch, s.t_out(), s.c_out});
  const float *v = nullptr, *tap = nullptr;
  if (prepared != nullptr && x.device().is_cpu() && math == kernels::ConvMath::kFp32) {
    if (prepared->winograd.defined() && s.k == 3) {
      check_tensor(
          prepared->winograd, "temporal_conv: prepared Winograd weights", x.device(),
          Shape{kernels::cpu::winograd_weight_floats(s) / (s.c_out * s.c_in), s.c_out, s.c_in});
      v = prepared->winograd.f32();
    }
    if (prepared->tap_major.defined()) {
      check_tensor(prepared->tap_major, "temporal_conv: prepared tap-major weights", x.device(),
                   Shape{s.c_out, s.k, s.c_in});
      tap = prepared->tap_major.f32();
    }
  }
  if (v != nullptr || tap != nullptr) {  // prepared weights exist for the CPU forward only
    s.validate("temporal_conv");
    kernels::cpu::temporal_conv_fwd(s, x.f32(), w.f32(), y.f32(), v, tap);
    return;
  }
  run_op<op_entry::temporal_conv>(x.device(), s, x.f32(), w.f32(), y.f32());
}

Tensor temporal_conv(const Tensor& x, const Tensor& w, int64_t dilation, int64_t stride,
                     const PreparedConv* prepared, kernels::ConvMath math) {
  const TemporalConvShape s = shape_of("temporal_conv", x, "x", w, "w", dilation, stride);
  Tensor y = Tensor::empty({s.batch, s.t_out(), s.c_out}, DType::kF32, x.device());
  temporal_conv_out(x, w, y, dilation, stride, prepared, math);
  return y;
}

PreparedConv prepare_temporal_conv(const Tensor& w) {
  V3D_CHECK(w.defined() && w.dtype() == DType::kF32 && w.ndim() == 3,
            "prepare_temporal_conv: w must be (C_out, C_in, K) float32, got " << w.str());
  PreparedConv p;
  if (!w.device().is_cpu() || w.size(2) == 1) return p;
  kernels::TemporalConvShape s;
  s.batch = 1;
  s.c_out = w.size(0);
  s.c_in = w.size(1);
  s.k = w.size(2);
  s.t_in = s.k;
  p.tap_major = Tensor::empty({s.c_out, s.k, s.c_in}, DType::kF32, w.device());
  kernels::cpu::temporal_conv_tap_major(s, w.f32(), p.tap_major.f32());
  if (s.k == 3) {
    const int64_t floats = kernels::cpu::winograd_weight_floats(s);
    p.winograd =
        Tensor::empty({floats / (s.c_out * s.c_in), s.c_out, s.c_in}, DType::kF32, w.device());
    kernels::cpu::temporal_conv_winograd_weights(s, w.f32(), p.winograd.f32());
  }
  return p;
}

void temporal_conv_bwd_data_out(const Tensor& d_y, const Tensor& w, const Tensor& d_x,
                                int64_t dilation, int64_t stride, kernels::ConvMath math) {
  TemporalConvShape s = shape_of("temporal_conv_bwd_data", d_x, "d_x", w, "w", dilation, stride);
  s.math = math;
  check_grad_out("temporal_conv_bwd_data: d_y", d_y, s, d_x.device());
  run_op<op_entry::temporal_conv_bwd_data>(d_x.device(), kernels::TemporalConvBwdDataArgs{s},
                                           d_y.f32(), w.f32(), d_x.f32());
}

void temporal_conv_bwd_weight_out(const Tensor& x, const Tensor& d_y, const Tensor& d_w,
                                  int64_t dilation, int64_t stride, kernels::ConvMath math) {
  TemporalConvShape s = shape_of("temporal_conv_bwd_weight", x, "x", d_w, "d_w", dilation, stride);
  s.math = math;
  check_grad_out("temporal_conv_bwd_weight: d_y", d_y, s, x.device());
  run_op<op_entry::temporal_conv_bwd_weight>(x.device(), kernels::TemporalConvBwdWeightArgs{s},
                                             x.f32(), d_y.f32(), d_w.f32());
}

}  // namespace ops

namespace ag {

Var temporal_conv(const Var& x, const Var& w, int64_t dilation, int64_t stride,
                  kernels::ConvMath math) {
  // d_x needs only w and d_w only x: keep each input only when the other one's gradient is wanted.
  const Tensor x_saved = w.requires_grad() ? x.value() : Tensor();
  const Tensor w_saved = x.requires_grad() ? w.value() : Tensor();
  const Shape x_shape = x.value().shape(), w_shape = w.value().shape();
  const Device device = x.value().device();
  return make_result(ops::temporal_conv(x.value(), w.value(), dilation, stride, nullptr, math),
                     "temporal_conv", {x, w},
                     [x_saved, w_saved, x_shape, w_shape, device, dilation, stride, math](
                         const Tensor& d, const std::vector<bool>& needs) {
                       Tensor d_x, d_w;
                       if (needs[0]) {
                         d_x = Tensor::empty(x_shape, DType::kF32, device);
                         ops::temporal_conv_bwd_data_out(d, w_saved, d_x, dilation, stride, math);
                       }
                       if (needs[1]) {
                         d_w = Tensor::empty(w_shape, DType::kF32, device);
                         ops::temporal_conv_bwd_weight_out(x_saved, d, d_w, dilation, stride, math);
                       }
                       return std::vector<Tensor>{d_x, d_w};
                     });
}

}  // namespace ag
}  // namespace v3d
