// Cases for time_slice and time_slice_bwd: the dilated model's residual (step 1, start = the pad
// for the centre tap, 2 * pad for the causal last tap), the strided model's (step K = 3, 5, start
// = K / 2 or K - 1), starts at 0, batch 1, T_out 1, channel counts off the 128-thread row.
#include <string>

#include "runtime/time_slice.h"
#include "tests/harness/harness.h"
#include "tests/reference/batch_norm.h"

namespace v3d::harness {
namespace {

struct Slice {
  int64_t batch, t_in, channels, start, step, t_out;
  const char* what;
};

const Slice kSlices[] = {
    {2, 27, 33, 13, 1, 1, "centre, T_out 1"},
    {3, 31, 64, 3, 1, 25, "dilated centre, pad 3"},
    {2, 31, 64, 6, 1, 25, "dilated causal last tap, pad 3"},
    {1, 250, 129, 9, 1, 232, "batch 1, long sequence"},
    {4, 9, 34, 1, 3, 3, "strided K=3 centre"},
    {4, 9, 34, 2, 3, 3, "strided K=3 causal"},
    {2, 25, 17, 2, 5, 5, "strided K=5 centre"},
    {3, 20, 1, 0, 5, 4, "start 0, step 5, C 1"},
    {2, 10, 3, 0, 1, 10, "start 0, identity"},
    {1, 5, 1030, 4, 1, 1, "last frame, C past 8 x 128"},
    {300, 3, 257, 1, 3, 1, "strided last layer, many batches"},
};

std::string params_of(const Slice& s) {
  return std::string(s.what) + ": B=" + std::to_string(s.batch) +
         " T_in=" + std::to_string(s.t_in) + " C=" + std::to_string(s.channels) +
         " start=" + std::to_string(s.start) + " step=" + std::to_string(s.step) +
         " T_out=" + std::to_string(s.t_out);
}

const Tolerance kCopy{0.0, 0.0, "copies and zeros: exact"};

}  // namespace

V3D_HARNESS_CASES(cases) {
  for (const Slice s : kSlices) {
    const Shape big{s.batch, s.t_in, s.channels}, small{s.batch, s.t_out, s.channels};
    const double moved = static_cast<double>(small.numel());
    {
      OpCase k;
      k.op = "time_slice";
      k.params = params_of(s);
      k.make_inputs = [=](Rng& r) {
        return std::vector<Input>{{big, random_normal(r, big.numel())}};
      };
      k.outputs = {small};
      k.run = [=](const std::vector<Tensor>& in, const std::vector<Tensor>& out) {
        ops::time_slice_out(in[0], s.start, s.step, out[0]);
      };
      k.reference = [=](const std::vector<ref::Vec>& in) {
        return std::vector<ref::Vec>{
            ref::time_slice(in[0], s.batch, s.t_in, s.channels, s.start, s.step, s.t_out)};
      };
      k.tol = kCopy;
      k.bitwise_across_backends = true;
      k.forward_var = [=](const std::vector<Var>& v) {
        return ag::time_slice(v[0], s.start, s.step, s.t_out);
      };
      k.grad_inputs = {true};
      k.bytes = 8.0 * moved;
      cases.push_back(k);
    }
    {
      OpCase k;
      k.op = "time_slice_bwd";
      k.params = params_of(s);
      k.make_inputs = [=](Rng& r) {
        return std::vector<Input>{{small, random_normal(r, small.numel())}};
      };
      k.outputs = {big};
      k.run = [=](const std::vector<Tensor>& in, const std::vector<Tensor>& out) {
        ops::time_slice_bwd_out(in[0], s.start, s.step, out[0]);
      };
      k.reference = [=](const std::vector<ref::Vec>& in) {
        return std::vector<ref::Vec>{
            ref::time_slice_bwd(in[0], s.batch, s.t_in, s.channels, s.start, s.step, s.t_out)};
      };
      k.tol = kCopy;
      k.bitwise_across_backends = true;
      k.bytes = 4.0 * (moved + static_cast<double>(big.numel()));
      cases.push_back(k);
    }
  }
  // Slices that do not fit must be refused, naming the op, on every backend.
  for (const Slice s : {Slice{2, 9, 4, 7, 1, 3, "past the end"}, Slice{2, 9, 4, 0, 0, 3, "step 0"},
                        Slice{2, 9, 4, 1, 5, 3, "strided past the end"}}) {
    OpCase k;
    k.op = "time_slice";
    k.params = params_of(s) + " expect=error naming the op";
    const Shape big{s.batch, s.t_in, s.channels};
    k.make_inputs = [=](Rng& r) {
      return std::vector<Input>{{big, random_normal(r, big.numel())}};
    };
    k.outputs = {{}};
    k.run = [=](const std::vector<Tensor>& in, const std::vector<Tensor>& out) {
      float threw = 0.0f;
      try {
        ops::time_slice(in[0], s.start, s.step, s.t_out);
      } catch (const Error& e) {
        threw = std::string(e.what()).find("time_slice") != std::string::npos ? 1.0f : 0.5f;
      }
      out[0].copy_from(Tensor::full({}, threw, Device::cpu()));
    };
    k.reference = [](const std::vector<ref::Vec>&) { return std::vector<ref::Vec>{{1.0}}; };
    cases.push_back(k);
  }
}

}  // namespace v3d::harness
