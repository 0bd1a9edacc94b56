// Cases for add, mul, scale, fill, broadcast, relu, relu_bwd, to_bf16, from_bf16. Lengths straddle
// the block size (256) and the vector width, include 1 and a grid-stride length past the 4096-block
// cap.
#include "kernels/elementwise.h"

#include <cmath>

#include "kernels/float_round.h"
#include "runtime/ops.h"
#include "tests/harness/harness.h"

namespace v3d::harness {
namespace {

const int64_t kLengths[] = {1, 7, 255, 256, 257, 4097, 65537, (1 << 20) + 3};

// Elementwise results are single IEEE operations: exact against a double reference rounded once.
const Tolerance kExact{6e-8, 0.0, "one float32 operation: within half an ulp of the double result"};

std::string n_param(int64_t n) { return "n=" + std::to_string(n); }

// Normal values with the rounding's edge cases first: ties to even both ways (1 + 2^-8 down to 1,
// 1 + 3 * 2^-8 up to 1 + 2^-6), a value just above a tie, a subnormal, the largest float32 that
// rounds to a finite BF16 and negative zero.
std::vector<float> bf16_edge_values(Rng& r, int64_t n) {
  std::vector<float> v = random_normal(r, n);
  const float edges[] = {1.00390625f, -1.01171875f, 1.0039063f, 1e-40f, 3.3961e38f, -0.0f};
  for (size_t i = 0; i < std::size(edges) && i < v.size(); ++i) v[i] = edges[i];
  return v;
}

// x16 = BF16(x) on the device, then widened back into y: to_bf16 and from_bf16 together.
void bf16_round_trip(const Tensor& x, const Tensor& y) { ops::from_bf16_out(ops::to_bf16(x), y); }

ref::Vec bf16_rounded(const ref::Vec& x) {
  ref::Vec y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = kernels::round_bf16(static_cast<float>(x[i]));
  return y;
}

}  // namespace

V3D_HARNESS_CASES(cases) {
  for (const int64_t n : kLengths) {
    OpCase c;
    c.op = "to_bf16";
    c.params = n_param(n) + " (round trip through from_bf16; ties, a subnormal, near overflow)";
    c.make_inputs = [n](Rng& r) { return std::vector<Input>{{{n}, bf16_edge_values(r, n)}}; };
    c.outputs = {{n}};
    c.run = [](const auto& in, const auto& out) { bf16_round_trip(in[0], out[0]); };
    c.reference = [](const auto& in) { return std::vector<ref::Vec>{bf16_rounded(in[0])}; };
    c.tol = {0.0, 0.0, "round to nearest even, bit for bit"};
    c.bitwise_across_backends = true;
    c.bytes = kernels::ConvertArgs{n}.bytes();
    cases.push_back(c);
    // from_bf16 on BF16 values of every binade from subnormal to 2^127: exact widening, so the
    // output is the input.
    c.op = "from_bf16";
    c.params = n_param(n) + " (BF16 values of magnitudes 2^-133 to 2^127)";
    c.make_inputs = [n](Rng& r) {
      std::vector<float> v = random_normal(r, n);
      for (size_t i = 0; i < v.size(); ++i) {
        const int e = static_cast<int>(i % 261) - 133;
        v[i] = kernels::round_bf16(std::ldexp(v[i], e) == 0.0f ? std::ldexp(1.0f, e)
                                                               : std::ldexp(v[i], e));
        if (!std::isfinite(v[i])) v[i] = 0.5f;
      }
      return std::vector<Input>{{{n}, v}};
    };
    c.reference = [](const auto& in) { return std::vector<ref::Vec>{in[0]}; };
    c.tol = {0.0, 0.0, "widening is exact"};
    cases.push_back(c);
  }
}

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
