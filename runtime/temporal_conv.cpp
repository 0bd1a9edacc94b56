// Shape-checked entry points over kernels/temporal_conv.h and the autograd wrapper.
#include "runtime/temporal_conv.h"

#include <atomic>
#include <map>
#include <mutex>
#include <sstream>
#include <tuple>
#include <vector>

#include "kernels/temporal_conv.h"
#include "runtime/op_run.h"
#include "runtime/ops.h"
#include "runtime/stream.h"

namespace v3d {
namespace {

using kernels::ConvBackend;
using kernels::ConvTile;
using kernels::TemporalConvPass;
using kernels::TemporalConvShape;

std::atomic<ops::ConvBackendChoice>& backend_setting() {
  static std::atomic<ops::ConvBackendChoice> choice{ops::ConvBackendChoice::kV3d};
  return choice;
}

std::atomic<ConvTile>& tile_setting() {
  static std::atomic<ConvTile> tile{ConvTile::kDefault};
  return tile;
}

// kAuto's memory: (device, sizes, math, pass) -> algorithm, and the timer that fills it.
using ChoiceKey = std::tuple<std::string, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                             int64_t, int, int>;
struct AutoState {
  std::mutex mutex;
  std::map<ChoiceKey, std::pair<ops::ConvAlgo, std::string>> choices;
  ops::ConvBackendTimer timer;
};
AutoState& auto_state() {
  static AutoState state;
  return state;
}

const char* pass_name(TemporalConvPass pass) {
  switch (pass) {
    case TemporalConvPass::kForward:
      return "fwd";
    case TemporalConvPass::kBackwardData:
      return "bwd_data";
    case TemporalConvPass::kBackwardWeight:
      return "bwd_weight";
  }
  return "?";
}

// Runs `pass` of `shape` once on `device` on zero operands (the timing does not depend on values).
struct TimedConv {
  Tensor x, w, y;
  TimedConv(Device device, const TemporalConvShape& s)
      : x(Tensor::zeros({s.batch, s.t_in, s.c_in}, DType::kF32, device)),
        w(Tensor::zeros({s.c_out, s.c_in, s.k}, DType::kF32, device)),
        y(Tensor::zeros({s.batch, s.t_out(), s.c_out}, DType::kF32, device)) {}
  void run(const TemporalConvShape& s, TemporalConvPass pass) {
    switch (pass) {
      case TemporalConvPass::kForward:
        run_op<op_entry::temporal_conv>(x.device(), s, x.f32(), w.f32(), y.f32());
        return;
      case TemporalConvPass::kBackwardData:
        run_op<op_entry::temporal_conv_bwd_data>(x.device(), kernels::TemporalConvBwdDataArgs{s},
                                                 y.f32(), w.f32(), x.f32());
        return;
      case TemporalConvPass::kBackwardWeight:
        run_op<op_entry::temporal_conv_bwd_weight>(
            x.device(), kernels::TemporalConvBwdWeightArgs{s}, x.f32(), y.f32(), w.f32());
        return;
    }
  }
};

double default_timer(Device device, const TemporalConvShape& shape, TemporalConvPass pass,
                     ops::ConvAlgo algo) {
  TemporalConvShape s = shape;
  s.backend = algo.backend;
  s.tile = algo.tile;
  TimedConv conv(device, s);
  conv.run(s, pass);  // warm-up: first-use costs (heuristics, allocations) are not timed
  const kernels::StreamHandle stream = current_stream(device);
  Event start(device), end(device);
  start.record(stream);
  constexpr int kRuns = 3;
  for (int i = 0; i < kRuns; ++i) conv.run(s, pass);
  end.record(stream);
  return end.elapsed_ms_since(start) / kRuns;
}

void check_params(const char* op, int64_t dilation, int64_t stride) {
  V3D_CHECK(dilation >= 1 && stride >= 1, op << ": dilation and stride must be >= 1, got dilation="
                                             << dilation << " stride=" << stride);
}

// The sizes implied by x (B, T_in, C_in) and w (C_out, C_in, K), checked against each other.
TemporalConvShape shape_of(const char* op, const Tensor& x, const char* x_name, const Tensor& w,
                           const char* w_name, int64_t dilation, int64_t stride,
                           bool x_may_be_bf16 = false) {
  if (!x_may_be_bf16 || !x.defined() || x.dtype() != DType::kBF16) check_f32(x, x_name);
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

// Sets s.backend and s.tile for a call of `pass` on `device`.
TemporalConvShape with_backend(TemporalConvShape s, Device device, TemporalConvPass pass) {
  const ops::ConvAlgo algo = ops::conv_algo_for(device, s, pass);
  s.backend = algo.backend;
  s.tile = algo.tile;
  return s;
}

// Whether `pass` of s (math kBf16, its backend chosen) runs the op that takes its activation and
// gradient operands in BF16 as they are: always on the CPU; on a GPU where our kernels stage BF16
// (else the caller widens them to float32 and runs the float32-input op on the same values).
bool bf16_direct(Device device, const TemporalConvShape& s, TemporalConvPass pass) {
  return device.is_cpu() || kernels::temporal_conv_tc_bf16_staged(s, pass);
}

bool aligned16(const Tensor& t) { return reinterpret_cast<uintptr_t>(t.raw()) % 16 == 0; }

// A bf16 operand needs bf16 arithmetic (its values would otherwise pass for unrounded ones).
void check_bf16_math(const char* op, const Tensor& t, const char* name, kernels::ConvMath math) {
  V3D_CHECK(t.dtype() != DType::kBF16 || math == kernels::ConvMath::kBf16,
            op << ": " << name << " " << t.str() << " is bf16, so the arithmetic must be bf16");
}

// t as float32: itself, or widened from bf16 into a temporary.
Tensor as_f32(const Tensor& t) { return t.dtype() == DType::kBF16 ? ops::from_bf16(t) : t; }
// t as bf16: itself, or rounded into a temporary.
Tensor as_bf16(const Tensor& t) { return t.dtype() == DType::kBF16 ? t : ops::to_bf16(t); }

// d_y must be (B, T_out, C_out) for the shape, float32 or (with math kBf16) bf16.
void check_grad_out(const char* op, const Tensor& d_y, const TemporalConvShape& s, Device device) {
  check_tensor(d_y, op, device, Shape{s.batch, s.t_out(), s.c_out},
               d_y.defined() && d_y.dtype() == DType::kBF16 ? DType::kBF16 : DType::kF32);
  check_bf16_math(op, d_y, "d_y", s.math);
}

}  // namespace

namespace ops {

void set_conv_backend(ConvBackendChoice choice) { backend_setting().store(choice); }
ConvBackendChoice conv_backend() { return backend_setting().load(); }

void set_conv_tile(ConvTile tile) { tile_setting().store(tile); }
ConvTile conv_tile() { return tile_setting().load(); }

std::string ConvAlgo::str() const {
  if (backend == ConvBackend::kCublasLt) return "cublaslt";
  switch (tile) {
    case ConvTile::kNarrow:
      return "v3d narrow";
    case ConvTile::kWide:
      return "v3d wide";
    case ConvTile::kHopper:
      return "v3d hopper";
    case ConvTile::kDefault:
      break;
  }
  return "v3d";
}

void set_conv_backend_timer(ConvBackendTimer timer) {
  AutoState& state = auto_state();
  const std::lock_guard<std::mutex> lock(state.mutex);
  state.timer = std::move(timer);
  state.choices.clear();
}

std::vector<std::string> conv_backend_choices() {
  AutoState& state = auto_state();
  const std::lock_guard<std::mutex> lock(state.mutex);
  std::vector<std::string> lines;
  for (const auto& [key, choice] : state.choices) lines.push_back(choice.second);
  return lines;
}

ConvAlgo conv_algo_for(Device device, const TemporalConvShape& shape, TemporalConvPass pass) {
  if (device.is_cpu()) return {};
  switch (conv_backend()) {
    case ConvBackendChoice::kV3d:
      return {ConvBackend::kV3d, conv_tile()};
    case ConvBackendChoice::kCublasLt:
      return {ConvBackend::kCublasLt, ConvTile::kDefault};
    case ConvBackendChoice::kAuto:
      break;
  }
  const ChoiceKey key{device.str(),
                      shape.batch,
                      shape.t_in,
                      shape.c_in,
                      shape.c_out,
                      shape.k,
                      shape.dilation,
                      shape.stride,
                      static_cast<int>(shape.math),
                      static_cast<int>(pass)};
  AutoState& state = auto_state();
  ConvBackendTimer timer;
  {
    const std::lock_guard<std::mutex> lock(state.mutex);
    const auto it = state.choices.find(key);
    if (it != state.choices.end()) return it->second.first;
    timer = state.timer ? state.timer : ConvBackendTimer(default_timer);
  }
  // The candidates: our float32 kernel has one tile, the tensor-core kernels two. Not the Hopper
  // tile: auto times but does not check results, and that kernel has not yet run on a GPU (it
  // joins once a device check has validated it; docs/gpu.md, "The Hopper tile: wgmma").
  std::vector<ConvAlgo> candidates;
  if (shape.math == kernels::ConvMath::kFp32) {
    candidates.push_back({ConvBackend::kV3d, ConvTile::kDefault});
  } else {
    candidates.push_back({ConvBackend::kV3d, ConvTile::kNarrow});
    candidates.push_back({ConvBackend::kV3d, ConvTile::kWide});
  }
  candidates.push_back({ConvBackend::kCublasLt, ConvTile::kDefault});
  // Timed outside the lock (it runs ops); two threads meeting a new shape both time it and agree
  // on the first answer stored. Ties go to the earlier candidate.
  std::ostringstream line;
  line << device.str() << " " << pass_name(pass) << " batch=" << shape.batch
       << " t_in=" << shape.t_in << " c_in=" << shape.c_in << " c_out=" << shape.c_out
       << " k=" << shape.k << " dilation=" << shape.dilation << " stride=" << shape.stride << ":";
  ConvAlgo chosen;
  double best = 0.0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const double ms = timer(device, shape, pass, candidates[i]);
    line << (i == 0 ? " " : ", ") << candidates[i].str() << " " << ms << " ms";
    if (i == 0 || ms < best) chosen = candidates[i], best = ms;
  }
  line << " -> " << chosen.str();
  const std::lock_guard<std::mutex> lock(state.mutex);
  return state.choices.emplace(key, std::make_pair(chosen, line.str())).first->second.first;
}

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
                       int64_t stride, const PreparedConv* prepared, kernels::ConvMath math,
                       const ConvEpilogueTensors* epilogue) {
  TemporalConvShape s = shape_of("temporal_conv", x, "x", w, "w", dilation, stride, true);
  check_bf16_math("temporal_conv", x, "x", math);
  s.math = math;
  const bool y16 = y.defined() && y.dtype() == DType::kBF16;
  check_tensor(y, "temporal_conv: y", x.device(), Shape{s.batch, s.t_out(), s.c_out},
               y16 ? DType::kBF16 : DType::kF32);
  if (y16 &&
      (x.device().is_cpu() ||
       with_backend(s, x.device(), TemporalConvPass::kForward).backend != ConvBackend::kV3d)) {
    // Only our CUDA kernels write BF16 (kernels/temporal_conv.h): float32, then rounded.
    const Tensor yf = Tensor::empty(y.shape(), DType::kF32, y.device());
    temporal_conv_out(x, w, yf, dilation, stride, prepared, math, epilogue);
    ops::to_bf16_out(yf, y);
    return;
  }
  if (epilogue != nullptr) {
    kernels::ConvEpilogue& e = s.epilogue;
    if (epilogue->bias.defined()) {
      check_tensor(epilogue->bias, "temporal_conv: epilogue bias", x.device(), Shape{s.c_out});
      e.bias = epilogue->bias.f32();
    }
    e.relu = epilogue->relu;
    if (epilogue->residual.defined()) {
      const Tensor& r = epilogue->residual;
      check_f32(r, "temporal_conv: epilogue residual");
      V3D_CHECK(r.device() == x.device() && r.ndim() == 3 && r.size(0) == s.batch &&
                    r.size(2) == s.c_out && epilogue->residual_offset >= 0 &&
                    epilogue->residual_offset + s.t_out() <= r.size(1),
                "temporal_conv: the epilogue residual "
                    << r.str() << " has no frames [" << epilogue->residual_offset << ", "
                    << epilogue->residual_offset + s.t_out() << ") of (" << s.batch << ", T, "
                    << s.c_out << ") on " << x.device().str());
      e.residual = r.f32() + epilogue->residual_offset * s.c_out;
      e.residual_batch_stride = r.size(1) * s.c_out;
    }
  }
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
  s = with_backend(s, x.device(), TemporalConvPass::kForward);
  if (prepared != nullptr && prepared->device_tap_major.defined()) {
    const Tensor& p = prepared->device_tap_major;
    V3D_CHECK(prepared->device_math == math,
              "temporal_conv: the prepared weights are for another arithmetic than the call's");
    check_tensor(p, "temporal_conv: prepared weights", x.device(), Shape{s.c_out, s.k, s.c_in},
                 math == kernels::ConvMath::kBf16 ? DType::kBF16 : DType::kF32);
    if (s.backend == ConvBackend::kV3d) s.prepared_w = p.raw();
  }
  float* const y32 = y16 ? nullptr : y.f32();
  if (y16) s.epilogue.y_bf16 = y.bf16();
  if (x.dtype() == DType::kBF16 && bf16_direct(x.device(), s, TemporalConvPass::kForward) &&
      aligned16(x)) {
    run_op<op_entry::temporal_conv_bf16>(x.device(), kernels::TemporalConvBf16Args{s}, x.bf16(),
                                         w.f32(), y32);
    return;
  }
  const Tensor xf = as_f32(x);
  run_op<op_entry::temporal_conv>(x.device(), s, xf.f32(), w.f32(), y32);
}

Tensor temporal_conv(const Tensor& x, const Tensor& w, int64_t dilation, int64_t stride,
                     const PreparedConv* prepared, kernels::ConvMath math,
                     const ConvEpilogueTensors* epilogue) {
  const TemporalConvShape s = shape_of("temporal_conv", x, "x", w, "w", dilation, stride, true);
  Tensor y = Tensor::empty({s.batch, s.t_out(), s.c_out}, DType::kF32, x.device());
  temporal_conv_out(x, w, y, dilation, stride, prepared, math, epilogue);
  return y;
}

Tensor temporal_conv_weights(const Tensor& w, kernels::ConvMath math) {
  V3D_CHECK(w.defined() && w.dtype() == DType::kF32 && w.ndim() == 3,
            "temporal_conv_weights: w must be (C_out, C_in, K) float32, got "
                << (w.defined() ? w.str() : "undefined"));
  kernels::TemporalConvWeightsArgs a;
  a.c_out = w.size(0);
  a.c_in = w.size(1);
  a.k = w.size(2);
  a.math = math;
  const Tensor out =
      Tensor::empty({a.c_out, a.k, a.c_in},
                    math == kernels::ConvMath::kBf16 ? DType::kBF16 : DType::kF32, w.device());
  run_op<op_entry::temporal_conv_weights>(w.device(), a, w.f32(), out.raw());
  return out;
}

PreparedConv prepare_temporal_conv(const Tensor& w, kernels::ConvMath math) {
  V3D_CHECK(w.defined() && w.dtype() == DType::kF32 && w.ndim() == 3,
            "prepare_temporal_conv: w must be (C_out, C_in, K) float32, got " << w.str());
  PreparedConv p;
  if (!w.device().is_cpu()) {
    if (math != kernels::ConvMath::kFp32) {
      p.device_tap_major = temporal_conv_weights(w, math);
      p.device_math = math;
    }
    return p;
  }
  if (math != kernels::ConvMath::kFp32 || w.size(2) == 1) return p;
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
  s = with_backend(s, d_x.device(), TemporalConvPass::kBackwardData);
  check_grad_out("temporal_conv_bwd_data: d_y", d_y, s, d_x.device());
  if (d_y.dtype() == DType::kBF16 &&
      bf16_direct(d_x.device(), s, TemporalConvPass::kBackwardData) && aligned16(d_y)) {
    run_op<op_entry::temporal_conv_bwd_data_bf16>(
        d_x.device(), kernels::TemporalConvBwdDataBf16Args{s}, d_y.bf16(), w.f32(), d_x.f32());
    return;
  }
  const Tensor d_yf = as_f32(d_y);
  run_op<op_entry::temporal_conv_bwd_data>(d_x.device(), kernels::TemporalConvBwdDataArgs{s},
                                           d_yf.f32(), w.f32(), d_x.f32());
}

void temporal_conv_bwd_weight_out(const Tensor& x, const Tensor& d_y, const Tensor& d_w,
                                  int64_t dilation, int64_t stride, kernels::ConvMath math) {
  TemporalConvShape s =
      shape_of("temporal_conv_bwd_weight", x, "x", d_w, "d_w", dilation, stride, true);
  check_bf16_math("temporal_conv_bwd_weight", x, "x", math);
  s.math = math;
  s = with_backend(s, x.device(), TemporalConvPass::kBackwardWeight);
  check_grad_out("temporal_conv_bwd_weight: d_y", d_y, s, x.device());
  const bool any_bf16 = x.dtype() == DType::kBF16 || d_y.dtype() == DType::kBF16;
  if (any_bf16 && bf16_direct(x.device(), s, TemporalConvPass::kBackwardWeight)) {
    // Both in BF16 (the float32 one rounded here, as the float32-input op would round it).
    const Tensor x16 = as_bf16(x), d_y16 = as_bf16(d_y);
    if (aligned16(x16) && aligned16(d_y16)) {
      run_op<op_entry::temporal_conv_bwd_weight_bf16>(x.device(),
                                                      kernels::TemporalConvBwdWeightBf16Args{s},
                                                      x16.bf16(), d_y16.bf16(), d_w.f32());
      return;
    }
  }
  const Tensor xf = as_f32(x), d_yf = as_f32(d_y);
  run_op<op_entry::temporal_conv_bwd_weight>(x.device(), kernels::TemporalConvBwdWeightArgs{s},
                                             xf.f32(), d_yf.f32(), d_w.f32());
}

bool temporal_conv_keeps_bf16_input(const Tensor& x, const Tensor& w, int64_t dilation,
                                    int64_t stride) {
  TemporalConvShape s = shape_of("temporal_conv", x, "x", w, "w", dilation, stride, true);
  s.math = kernels::ConvMath::kBf16;
  const Device device = x.device();
  for (const TemporalConvPass pass :
       {TemporalConvPass::kForward, TemporalConvPass::kBackwardWeight})
    if (!bf16_direct(device, with_backend(s, device, pass), pass)) return false;
  return true;
}

}  // namespace ops

namespace {
// Whether both backward passes of s in bf16 take d_y in BF16 as it is (then converted once).
bool shares_bf16_grad(Device device, TemporalConvShape s) {
  s.math = kernels::ConvMath::kBf16;
  for (const TemporalConvPass pass :
       {TemporalConvPass::kBackwardData, TemporalConvPass::kBackwardWeight})
    if (!bf16_direct(device, with_backend(s, device, pass), pass)) return false;
  return true;
}

}  // namespace

namespace ag {

Var temporal_conv(const Var& x, const Var& w, int64_t dilation, int64_t stride,
                  kernels::ConvMath math) {
  // d_x needs only w and d_w only x: keep each input only when the other one's gradient is wanted.
  // In BF16 the kept x is a BF16 copy, made once and read by the forward and bwd_weight alike
  // (ops::temporal_conv_keeps_bf16_input): half the bytes held until the backward pass, and one
  // conversion of x per step instead of one per pass; likewise d_y for the two backward passes.
  // The results are bitwise the same.
  Tensor x_in = x.value();
  if (w.requires_grad() && math == kernels::ConvMath::kBf16 && x_in.dtype() == DType::kF32 &&
      ops::temporal_conv_keeps_bf16_input(x_in, w.value(), dilation, stride)) {
    x_in = ops::to_bf16(x_in);
  }
  const Tensor x_saved = w.requires_grad() ? x_in : Tensor();
  const Tensor w_saved = x.requires_grad() ? w.value() : Tensor();
  const Shape x_shape = x.value().shape(), w_shape = w.value().shape();
  const Device device = x.value().device();
  // Both backward passes in BF16 read d_y rounded: one BF16 copy for the two where both take it.
  const bool share_d16 =
      math == kernels::ConvMath::kBf16 && x.requires_grad() && w.requires_grad() &&
      shares_bf16_grad(
          device, shape_of("temporal_conv", x_in, "x", w.value(), "w", dilation, stride, true));
  return make_result(
      ops::temporal_conv(x_in, w.value(), dilation, stride, nullptr, math), "temporal_conv", {x, w},
      [x_saved, w_saved, x_shape, w_shape, device, dilation, stride, math, share_d16](
          const Tensor& d_out, const std::vector<bool>& needs) {
        const Tensor d = share_d16 && needs[0] && needs[1] ? ops::to_bf16(d_out) : d_out;
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
