// Cases for add, mul, scale, fill, broadcast, relu, relu_bwd. Lengths straddle the block size
// (256) and the vector width, include 1 and a grid-stride length past the 4096-block cap.
#include "kernels/elementwise.h"
#include "runtime/ops.h"
#include "tests/harness/harness.h"

namespace v3d::harness {
namespace {

const int64_t kLengths[] = {1, 7, 255, 256, 257, 4097, 65537, (1 << 20) + 3};

// Elementwise results are single IEEE operations: exact against a double reference rounded once.
const Tolerance kExact{6e-8, 0.0, "one float32 operation: within half an ulp of the double result"};

std::string n_param(int64_t n) { return "n=" + std::to_string(n); }

}  // namespace

V3D_HARNESS_CASES(cases) {
  for (const int64_t n : kLengths) {
    {
      OpCase c;
      c.op = "add";
      c.params = n_param(n);
      c.make_inputs = [n](Rng& r) {
        return std::vector<Input>{{{n}, random_normal(r, n)}, {{n}, random_normal(r, n)}};
      };
      c.outputs = {{n}};
      c.run = [](const auto& in, const auto& out) { ops::add_out(in[0], in[1], out[0]); };
      c.reference = [](const auto& in) { return std::vector<ref::Vec>{ref::add(in[0], in[1])}; };
      c.tol = kExact;
      c.bitwise_across_backends = true;
      c.forward_var = [](const std::vector<Var>& v) { return ag::add(v[0], v[1]); };
      c.grad_inputs = {true, true};
      c.bytes = kernels::BinaryArgs{n}.bytes();
      c.flops = kernels::BinaryArgs{n}.flops();
      cases.push_back(c);
    }
    {
      OpCase c;
      c.op = "mul";
      c.params = n_param(n);
      c.make_inputs = [n](Rng& r) {
        return std::vector<Input>{{{n}, random_normal(r, n)}, {{n}, random_normal(r, n)}};
      };
      c.outputs = {{n}};
      c.run = [](const auto& in, const auto& out) { ops::mul_out(in[0], in[1], out[0]); };
      c.reference = [](const auto& in) { return std::vector<ref::Vec>{ref::mul(in[0], in[1])}; };
      c.tol = kExact;
      c.bitwise_across_backends = true;
      c.forward_var = [](const std::vector<Var>& v) { return ag::mul(v[0], v[1]); };
      c.grad_inputs = {true, true};
      c.bytes = kernels::BinaryArgs{n}.bytes();
      c.flops = kernels::BinaryArgs{n}.flops();
      cases.push_back(c);
    }
    for (const float alpha : {-0.5f, 3.0f}) {
      OpCase c;
      c.op = "scale";
      c.params = n_param(n) + " alpha=" + std::to_string(alpha);
      c.make_inputs = [n](Rng& r) { return std::vector<Input>{{{n}, random_normal(r, n)}}; };
      c.outputs = {{n}};
      c.run = [alpha](const auto& in, const auto& out) { ops::scale_out(in[0], alpha, out[0]); };
      c.reference = [alpha](const auto& in) {
        return std::vector<ref::Vec>{ref::scale(in[0], alpha)};
      };
      c.tol = kExact;
      c.bitwise_across_backends = true;
      c.forward_var = [alpha](const std::vector<Var>& v) { return ag::scale(v[0], alpha); };
      c.grad_inputs = {true};
      c.bytes = kernels::UnaryArgs{n}.bytes();
      c.flops = kernels::UnaryArgs{n}.flops();
      cases.push_back(c);
    }
    {
      OpCase c;
      c.op = "fill";
      c.params = n_param(n) + " value=-1.25";
      c.make_inputs = [](Rng&) { return std::vector<Input>{}; };
      c.outputs = {{n}};
      c.run = [](const auto&, const auto& out) { ops::fill_(out[0], -1.25f); };
      c.reference = [n](const auto&) {
        return std::vector<ref::Vec>{ref::Vec(static_cast<size_t>(n), -1.25)};
      };
      c.bitwise_across_backends = true;
      c.bytes = kernels::FillArgs{n}.bytes();
      cases.push_back(c);
    }
    {
      OpCase c;
      c.op = "broadcast";
      c.params = n_param(n) + " alpha=0.5";
      c.make_inputs = [](Rng& r) { return std::vector<Input>{{{}, random_normal(r, 1)}}; };
      c.outputs = {{n}};
      c.run = [](const auto& in, const auto& out) { ops::broadcast_out(in[0], 0.5f, out[0]); };
      c.reference = [n](const auto& in) {
        return std::vector<ref::Vec>{ref::Vec(static_cast<size_t>(n), 0.5 * in[0][0])};
      };
      c.tol = kExact;
      c.bitwise_across_backends = true;
      c.bytes = kernels::FillArgs{n}.bytes();
      cases.push_back(c);
    }
    {
      OpCase c;
      c.op = "relu";
      c.params = n_param(n);
      // Away from zero so that finite differences do not straddle the kink.
      c.make_inputs = [n](Rng& r) {
        return std::vector<Input>{{{n}, random_away_from_zero(r, n, 0.01f)}};
      };
      c.outputs = {{n}};
      c.run = [](const auto& in, const auto& out) { ops::relu_out(in[0], out[0]); };
      c.reference = [](const auto& in) { return std::vector<ref::Vec>{ref::relu(in[0])}; };
      c.bitwise_across_backends = true;
      c.forward_var = [](const std::vector<Var>& v) { return ag::relu(v[0]); };
      c.grad_inputs = {true};
      c.bytes = kernels::UnaryArgs{n}.bytes();
      c.flops = kernels::UnaryArgs{n}.flops();
      cases.push_back(c);
    }
    {
      OpCase c;
      c.op = "relu_bwd";
      c.params = n_param(n);
      c.make_inputs = [n](Rng& r) {
        std::vector<float> x = random_normal(r, n);
        if (n > 2) x[1] = 0.0f;  // the kink itself: gradient 0, as in PyTorch
        return std::vector<Input>{{{n}, x}, {{n}, random_normal(r, n)}};
      };
      c.outputs = {{n}};
      c.run = [](const auto& in, const auto& out) { ops::relu_bwd_out(in[0], in[1], out[0]); };
      c.reference = [](const auto& in) {
        return std::vector<ref::Vec>{ref::relu_bwd(in[0], in[1])};
      };
      c.bitwise_across_backends = true;
      c.bytes = kernels::BinaryArgs{n}.bytes();
      c.flops = kernels::BinaryArgs{n}.flops();
      cases.push_back(c);
    }
  }
}

}  // namespace v3d::harness
