// Cases for dropout, dropout_bwd and the fused relu_dropout, relu_dropout_bwd and
// relu_dropout_bf16. The
// mask is recomputed by the reference from its own Philox implementation, and outputs must match
// the CPU backend bit for bit.
#include "kernels/dropout.h"
#include "kernels/float_round.h"
#include "runtime/ops.h"
#include "tests/harness/harness.h"

namespace v3d::harness {

V3D_HARNESS_CASES(cases) {
  // scale = 1 / (1 - p) is rounded to float once and the product once: two half-ulp errors.
  const Tolerance tol{1.3e-7, 0.0, "float32 scale times input: two roundings"};
  for (const int64_t n :
       {int64_t{1}, int64_t{5}, int64_t{1023}, int64_t{65537}, int64_t{1} << 20}) {
    for (const float p : {0.25f, 0.5f}) {
      for (const uint64_t offset : {uint64_t{0}, uint64_t{0x1234567890ull}}) {
        const uint64_t seed = 0xC0FFEE0000000001ull + static_cast<uint64_t>(n);
        const std::string params = "n=" + std::to_string(n) + " p=" + std::to_string(p) +
                                   " seed=" + std::to_string(seed) +
                                   " offset=" + std::to_string(offset);
        OpCase c;
        c.op = "dropout";
        c.params = params;
        c.make_inputs = [n](Rng& r) { return std::vector<Input>{{{n}, random_normal(r, n)}}; };
        c.outputs = {{n}};
        c.run = [=](const auto& in, const auto& out) {
          ops::dropout_out(in[0], out[0], p, seed, offset);
        };
        c.reference = [=](const auto& in) {
          return std::vector<ref::Vec>{ref::dropout(in[0], p, seed, offset)};
        };
        c.tol = tol;
        c.bitwise_across_backends = true;
        c.forward_var = [=](const std::vector<Var>& v) {
          PhiloxState rng{seed, offset};
          return ag::dropout(v[0], p, /*training=*/true, rng);
        };
        c.grad_inputs = {true};
        const kernels::DropoutArgs args{n, p, seed, offset};
        c.flops = args.flops();
        c.bytes = args.bytes();
        cases.push_back(c);

        OpCase b = c;
        b.op = "dropout_bwd";
        b.run = [=](const auto& in, const auto& out) {
          ops::dropout_bwd_out(in[0], out[0], p, seed, offset);
        };
        b.forward_var = nullptr;
        b.grad_inputs.clear();
        cases.push_back(b);

        // ReLU then dropout: inputs away from zero so that finite differences do not straddle
        // the kink.
        OpCase rd = c;
        rd.op = "relu_dropout";
        rd.make_inputs = [n](Rng& r) {
          return std::vector<Input>{{{n}, random_away_from_zero(r, n, 0.01f)}};
        };
        rd.run = [=](const auto& in, const auto& out) {
          ops::relu_dropout_out(in[0], out[0], p, seed, offset);
        };
        rd.reference = [=](const auto& in) {
          return std::vector<ref::Vec>{ref::dropout(ref::relu(in[0]), p, seed, offset)};
        };
        rd.forward_var = [=](const std::vector<Var>& v) {
          PhiloxState rng{seed, offset};
          return ag::relu_dropout(v[0], p, /*training=*/true, rng);
        };
        cases.push_back(rd);

        // The same written as BF16 (widened back into the output for the comparison).
        OpCase r16 = rd;
        r16.op = "relu_dropout_bf16";
        r16.run = [=](const auto& in, const auto& out) {
          const Tensor y16 = Tensor::empty(in[0].shape(), DType::kBF16, in[0].device());
          ops::relu_dropout_bf16_out(in[0], y16, p, seed, offset);
          ops::from_bf16_out(y16, out[0]);
        };
        r16.reference = [=](const auto& in) {
          ref::Vec y = ref::dropout(ref::relu(in[0]), p, seed, offset);
          for (double& v : y) v = kernels::round_bf16(static_cast<float>(v));
          return std::vector<ref::Vec>{y};
        };
        // Bit for bit across backends; against the reference, the float32 value's two roundings
        // can move a value across a BF16 rounding boundary: one BF16 ulp (2^-7 relative).
        r16.tol = {1.0 / 128, 0.0, "float32 result rounded to BF16: within one BF16 ulp"};
        r16.forward_var = nullptr;  // relu_dropout's gradient (its grad cases)
        r16.grad_inputs.clear();
        r16.bytes = args.bytes() * 0.75;  // writes 2 bytes per element
        cases.push_back(r16);

        // Its backward from the ReLU input x and d_y; x includes the kink itself (gradient 0).
        OpCase rb = c;
        rb.op = "relu_dropout_bwd";
        rb.make_inputs = [n](Rng& r) {
          std::vector<float> x = random_normal(r, n);
          if (n > 2) x[1] = 0.0f;
          return std::vector<Input>{{{n}, x}, {{n}, random_normal(r, n)}};
        };
        rb.run = [=](const auto& in, const auto& out) {
          ops::relu_dropout_bwd_out(in[0], in[1], out[0], p, seed, offset);
        };
        rb.reference = [=](const auto& in) {
          return std::vector<ref::Vec>{ref::relu_bwd(in[0], ref::dropout(in[1], p, seed, offset))};
        };
        rb.forward_var = nullptr;
        rb.grad_inputs.clear();
        rb.bytes = args.bytes() * 1.5;  // reads x too
        cases.push_back(rb);
      }
    }
  }
}

}  // namespace v3d::harness
