// Shape-checked entry points over kernels/time_slice.h and the differentiable slice.
#include "runtime/time_slice.h"

#include "kernels/time_slice.h"
#include "runtime/op_run.h"

namespace v3d::ops {

namespace {

// Both tensors (B, T, C) f32 on one device with equal B and C.
void check_pair(const char* op, const Tensor& big, const Tensor& small) {
  for (const Tensor* t : {&big, &small}) {
    V3D_CHECK(t->defined() && t->dtype() == DType::kF32 && t->ndim() == 3,
              op << ": expected f32 (B, T, C) tensors, got "
                 << (t->defined() ? t->str() : std::string("undefined")));
  }
  V3D_CHECK(big.device() == small.device() && big.size(0) == small.size(0) &&
                big.size(2) == small.size(2),
            op << ": (B, T_in, C) " << big.str() << " and (B, T_out, C) " << small.str()
               << " disagree on device, B or C");
}

}  // namespace

void time_slice_out(const Tensor& x, int64_t start, int64_t step, const Tensor& y) {
  check_pair("time_slice", x, y);
  const kernels::TimeSliceArgs args{x.size(0), x.size(1), y.size(1), x.size(2), start, step};
  run_op<op_entry::time_slice>(x.device(), args, x.f32(), y.f32());
}

Tensor time_slice(const Tensor& x, int64_t start, int64_t step, int64_t t_out) {
  V3D_CHECK(x.defined() && x.ndim() == 3,
            "time_slice: expected x (B, T, C), got " << (x.defined() ? x.str() : "undefined"));
  V3D_CHECK(t_out >= 0, "time_slice: negative t_out " << t_out);
  Tensor y = Tensor::empty({x.size(0), t_out, x.size(2)}, DType::kF32, x.device());
  time_slice_out(x, start, step, y);
  return y;
}

void time_slice_bwd_out(const Tensor& d_y, int64_t start, int64_t step, const Tensor& d_x) {
  check_pair("time_slice_bwd", d_x, d_y);
  const kernels::TimeSliceArgs args{d_x.size(0), d_x.size(1), d_y.size(1),
                                    d_x.size(2), start,       step};
  run_op<op_entry::time_slice_bwd>(d_y.device(), args, d_y.f32(), d_x.f32());
}

Tensor time_slice_bwd(const Tensor& d_y, int64_t start, int64_t step, int64_t t_in) {
  V3D_CHECK(d_y.defined() && d_y.ndim() == 3, "time_slice_bwd: expected d_y (B, T, C), got "
                                                  << (d_y.defined() ? d_y.str() : "undefined"));
  V3D_CHECK(t_in >= 0, "time_slice_bwd: negative t_in " << t_in);
  Tensor d_x = Tensor::empty({d_y.size(0), t_in, d_y.size(2)}, DType::kF32, d_y.device());
  time_slice_bwd_out(d_y, start, step, d_x);
  return d_x;
}

}  // namespace v3d::ops

namespace v3d::ag {

Var time_slice(const Var& x, int64_t start, int64_t step, int64_t t_out) {
  Tensor y = ops::time_slice(x.value(), start, step, t_out);
  const int64_t t_in = x.value().size(1);
  return make_result(y, "time_slice", {x},
                     [start, step, t_in](const Tensor& d, const std::vector<bool>&) {
                       return std::vector<Tensor>{ops::time_slice_bwd(d, start, step, t_in)};
                     });
}

}  // namespace v3d::ag
