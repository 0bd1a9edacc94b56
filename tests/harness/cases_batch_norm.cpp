// Cases for batch_norm_train, batch_norm_infer, batch_norm_bwd (training and inference
// statistics), batch_norm_fold and bias_add (forward and the bias gradient).
// Sizes: channel counts 1, 3, 31, 32, 33 (around the 32-channel tile) and 1024 (the model's, with
// few rows, and 1153 rows: a partial last chunk and the kernels' 4-row unrolled loops); rows 2, 3,
// 255, 256, 257 (around the 8-row phase and the 64-row chunk) and a few thousand (many chunks).
// Channels whose mean is 1000 std catch a variance that cancels (E[x^2] - E[x]^2 fails them).
#include <cmath>
#include <string>

#include "runtime/batch_norm.h"
#include "tests/harness/harness.h"
#include "tests/reference/batch_norm.h"

namespace v3d::harness {
namespace {

struct Size {
  int64_t rows, channels;
};

// Every channel count meets a short and a long row count; the large ones stay cheap to emulate.
const Size kSizes[] = {{2, 1},     {3, 1},    {257, 1},  {4099, 1}, {2, 3},
                       {255, 3},   {4099, 3}, {3, 31},   {255, 31}, {256, 31},
                       {2, 32},    {256, 32}, {257, 32}, {3, 33},   {257, 33},
                       {2049, 33}, {2, 1024}, {3, 1024}, {9, 1024}, {1153, 1024}};

std::string size_params(const Size& s) {
  return "rows=" + std::to_string(s.rows) + " C=" + std::to_string(s.channels);
}

// (rows, C) as a channels-last activation: (B, T, C) when rows splits into B x 8 frames, so both
// 2-D and 3-D inputs are exercised.
Shape activation_shape(const Size& s) {
  if (s.rows % 8 == 0) return Shape{s.rows / 8, 8, s.channels};
  return Shape{s.rows, s.channels};
}

// x[r, c] = offset + mu_c + sigma_c * z: per-channel means and spreads, all shifted by `offset`
// (1000 makes E[x^2] - E[x]^2 lose every digit in float). z is N(0, 1), except that with 2 or 3
// rows it is spread around the row index, so no channel's sample std falls below ~0.35 sigma:
// the float32 mean's rounding is amplified by 1 / std, and the tolerances assume std >= 0.35.
constexpr double kMinStd = 0.35;
std::vector<float> activation(Rng& r, const Size& s, float offset) {
  const std::vector<float> mu = random_normal(r, s.channels);
  const std::vector<float> sigma = random_uniform(r, s.channels, 0.5f, 2.0f);
  std::vector<float> x = random_normal(r, s.rows * s.channels);
  for (int64_t i = 0; i < s.rows; ++i)
    for (int64_t c = 0; c < s.channels; ++c) {
      float& v = x[static_cast<size_t>(i * s.channels + c)];
      if (s.rows <= 3)
        v = 2.0f * (static_cast<float>(i) - 0.5f * static_cast<float>(s.rows - 1)) + 0.25f * v;
      v = offset + mu[c] + sigma[c] * v;
    }
  return x;
}

// gamma around 1 with either sign possible, beta N(0, 1), running statistics of a trained layer.
std::vector<float> gamma_values(Rng& r, int64_t c) {
  std::vector<float> g = random_normal(r, c, 0.5f);
  for (auto& v : g) v += 1.0f;
  return g;
}

// The y / x_hat error is dominated by the float32 mean: it is off by up to a few ulps of |mean|
// (4 * 2^-24 * offset), which shifts y by that * |gamma| (<= 3.5) / std (>= kMinStd); the
// reductions add float32 summation error over `rows` terms.
Tolerance forward_tol(const Size& s, float offset) {
  return {2e-5,
          1e-5 + 2e-7 * std::sqrt(static_cast<double>(s.rows)) +
              4.0 * std::ldexp(1.0, -24) * offset * 3.5 / kMinStd,
          "float32 statistics: the mean rounded at a few ulps of |mean| shifts every x_hat by "
          "that / std; sums over rows in float on the GPU"};
}

// Batch statistics of x in double, rounded to float: realistic save_mean / save_inv_std inputs.
void batch_stats(const std::vector<float>& x, const Size& s, std::vector<float>& mean,
                 std::vector<float>& inv_std) {
  const ref::Vec xd(x.begin(), x.end());
  const ref::Vec zeros(static_cast<size_t>(s.channels), 0.0);
  const auto r =
      ref::batch_norm_train(xd, zeros, zeros, zeros, zeros, s.rows, s.channels, 0.0, 1e-5);
  mean.assign(r.mean.begin(), r.mean.end());
  inv_std.assign(r.inv_std.begin(), r.inv_std.end());
}

constexpr float kEps = 1e-5f;

void add_train_cases(std::vector<OpCase>& cases) {
  for (const Size s : kSizes) {
    for (const float offset : {0.0f, 1000.0f}) {
      // Large means on a representative subset: short, long, and the wide 1024-channel layer.
      if (offset != 0.0f && !(s.rows == 2 || s.rows == 257 || s.rows == 4099 || s.channels == 1024))
        continue;
      const float momentum = (s.rows == 257 || s.rows == 3) ? 0.001f : 0.1f;
      const Shape xs = activation_shape(s);
      const int64_t c = s.channels;
      OpCase k;
      k.op = "batch_norm_train";
      k.params = size_params(s) + " shape=" + xs.str() + " offset=" + std::to_string(offset) +
                 " momentum=" + std::to_string(momentum) + " eps=1e-5";
      k.make_inputs = [=](Rng& r) {
        return std::vector<Input>{{xs, activation(r, s, offset)},
                                  {{c}, gamma_values(r, c)},
                                  {{c}, random_normal(r, c)},
                                  {{c}, random_normal(r, c)},
                                  {{c}, random_uniform(r, c, 0.5f, 2.0f)}};
      };
      // y, save_mean, save_inv_std, running_mean, running_var (updated in place: the run copies
      // the inputs into the last two outputs first).
      k.outputs = {xs, {c}, {c}, {c}, {c}};
      k.run = [=](const std::vector<Tensor>& in, const std::vector<Tensor>& out) {
        out[3].copy_from(in[3]);
        out[4].copy_from(in[4]);
        ops::batch_norm_train_out(in[0], in[1], in[2], out[3], out[4], momentum, kEps, out[0],
                                  out[1], out[2]);
      };
      k.reference = [=](const std::vector<ref::Vec>& in) {
        auto r =
            ref::batch_norm_train(in[0], in[1], in[2], in[3], in[4], s.rows, c, momentum, kEps);
        return std::vector<ref::Vec>{r.y, r.mean, r.inv_std, r.running_mean, r.running_var};
      };
      k.tol = forward_tol(s, offset);
      if (offset == 0.0f && s.rows * c <= 20000) {
        // Gradient through the batch statistics; the running tensors are scratch here.
        k.forward_var = [=](const std::vector<Var>& v) {
          const Device d = v[0].value().device();
          return ag::batch_norm(v[0], v[1], v[2], Tensor::zeros({c}, DType::kF32, d),
                                Tensor::full({c}, 1.0f, d), momentum, true, kEps);
        };
        k.grad_inputs = {true, true, true, false, false};
      }
      const double n = static_cast<double>(s.rows * c);
      k.flops = 8.0 * n;
      k.bytes = 4.0 * 3.0 * n;  // the GPU reads x twice and writes y
      cases.push_back(k);
    }
  }
  // N = 1: PyTorch refuses a training batch with one value per channel, and so must we (the
  // unbiased variance divides by N - 1). The run records whether the op threw naming itself.
  for (const Shape xs : {Shape{1, 5}, Shape{1, 1, 3}}) {
    OpCase k;
    k.op = "batch_norm_train";
    k.params = "shape=" + xs.str() + " expect=error naming the op";
    const int64_t c = xs[xs.ndim() - 1];
    k.make_inputs = [=](Rng& r) {
      return std::vector<Input>{
          {xs, random_normal(r, c)}, {{c}, random_normal(r, c)}, {{c}, random_normal(r, c)}};
    };
    k.outputs = {{}};
    k.run = [=](const std::vector<Tensor>& in, const std::vector<Tensor>& out) {
      const Device d = in[0].device();
      Tensor rm = Tensor::zeros({c}, DType::kF32, d), rv = Tensor::full({c}, 1.0f, d);
      float threw = 0.0f;
      try {
        ops::batch_norm_train(in[0], in[1], in[2], rm, rv, 0.1f, kEps);
      } catch (const Error& e) {
        threw = std::string(e.what()).find("batch_norm_train") != std::string::npos ? 1.0f : 0.5f;
      }
      out[0].copy_from(Tensor::full({}, threw, Device::cpu()));
    };
    k.reference = [](const std::vector<ref::Vec>&) { return std::vector<ref::Vec>{{1.0}}; };
    cases.push_back(k);
  }
}

void add_infer_cases(std::vector<OpCase>& cases) {
  for (const Size s : kSizes) {
    const float offset = s.rows == 257 ? 1000.0f : 0.0f;
    const Shape xs = activation_shape(s);
    const int64_t c = s.channels;
    OpCase k;
    k.op = "batch_norm_infer";
    k.params =
        size_params(s) + " shape=" + xs.str() + " offset=" + std::to_string(offset) + " eps=1e-5";
    k.make_inputs = [=](Rng& r) {
      std::vector<float> rm = random_normal(r, c);
      for (auto& v : rm) v += offset;
      return std::vector<Input>{{xs, activation(r, s, offset)},
                                {{c}, gamma_values(r, c)},
                                {{c}, random_normal(r, c)},
                                {{c}, rm},
                                {{c}, random_uniform(r, c, 0.5f, 2.0f)}};
    };
    k.outputs = {xs};
    k.run = [](const std::vector<Tensor>& in, const std::vector<Tensor>& out) {
      ops::batch_norm_infer_out(in[0], in[1], in[2], in[3], in[4], kEps, out[0]);
    };
    k.reference = [=](const std::vector<ref::Vec>& in) {
      return std::vector<ref::Vec>{
          ref::batch_norm_infer(in[0], in[1], in[2], in[3], in[4], s.rows, c, kEps)};
    };
    // x - running_mean is exact for nearby values; then a few float32 roundings.
    k.tol = {1e-5, 1e-6 + 2e-8 * offset,
             "a few float32 roundings of (x - rm) * gamma * inv_std + beta"};
    if (s.rows * c <= 20000) {
      k.forward_var = [](const std::vector<Var>& v) {
        return ag::batch_norm(v[0], v[1], v[2], v[3].value(), v[4].value(), 0.1f, false, kEps);
      };
      k.grad_inputs = {true, true, true, false, false};
    }
    const double n = static_cast<double>(s.rows * c);
    k.flops = 3.0 * n;
    k.bytes = 8.0 * n;
    cases.push_back(k);
  }
}

void add_bwd_cases(std::vector<OpCase>& cases) {
  for (const Size s : kSizes) {
    for (const bool running : {false, true}) {
      const float offset = s.rows == 257 ? 1000.0f : 0.0f;
      const Shape xs = activation_shape(s);
      const int64_t c = s.channels;
      OpCase k;
      k.op = "batch_norm_bwd";
      k.params = size_params(s) + " shape=" + xs.str() + " offset=" + std::to_string(offset) +
                 (running ? " stats=running (inference backward)" : " stats=batch");
      // x, d_y, gamma, then (save_mean, save_inv_std) of x or (running_mean, running_var).
      k.make_inputs = [=](Rng& r) {
        std::vector<float> x = activation(r, s, offset), m, v;
        if (running) {
          m = random_normal(r, c);
          for (auto& e : m) e += offset;
          v = random_uniform(r, c, 0.5f, 2.0f);
        } else {
          batch_stats(x, s, m, v);
        }
        return std::vector<Input>{{xs, x},
                                  {xs, random_normal(r, s.rows * c)},
                                  {{c}, gamma_values(r, c)},
                                  {{c}, m},
                                  {{c}, v}};
      };
      k.outputs = {xs, {c}, {c}};
      k.run = [=](const std::vector<Tensor>& in, const std::vector<Tensor>& out) {
        if (running)
          ops::batch_norm_infer_bwd_out(in[0], in[1], in[2], in[3], in[4], kEps, out[0], out[1],
                                        out[2]);
        else
          ops::batch_norm_bwd_out(in[0], in[1], in[2], in[3], in[4], out[0], out[1], out[2]);
      };
      k.reference = [=](const std::vector<ref::Vec>& in) {
        ref::Vec inv_std = in[4];
        if (running)
          for (auto& v : inv_std) v = 1.0 / std::sqrt(v + static_cast<double>(kEps));
        auto g = ref::batch_norm_bwd(in[0], in[1], in[2], in[3], inv_std, s.rows, c, !running);
        return std::vector<ref::Vec>{g.d_x, g.d_gamma, g.d_beta};
      };
      // d_gamma and d_beta are sums of rows N(0, 1)-sized terms: float32 error ~ sqrt(rows) ulps
      // of the typical term; d_x inherits that / rows plus a few roundings.
      k.tol = {
          2e-5,
          1e-5 + 2e-7 * std::sqrt(static_cast<double>(s.rows)) + (running ? 1e-7 * offset : 0.0),
          "float32 sums of rows terms for d_gamma and d_beta; d_x a few roundings"};
      const double n = static_cast<double>(s.rows * c);
      k.flops = 12.0 * n;
      k.bytes = 4.0 * 5.0 * n;  // x and d_y read twice, d_x written
      cases.push_back(k);
    }
  }
}

void add_fold_cases(std::vector<OpCase>& cases) {
  struct Conv {
    int64_t c_out, c_in, k;
  };
  for (const Conv w :
       {Conv{1, 1, 1}, Conv{3, 34, 3}, Conv{33, 31, 3}, Conv{64, 64, 1}, Conv{1024, 32, 3}}) {
    const Shape ws{w.c_out, w.c_in, w.k};
    OpCase k;
    k.op = "batch_norm_fold";
    k.params = "C_out=" + std::to_string(w.c_out) + " C_in=" + std::to_string(w.c_in) +
               " K=" + std::to_string(w.k) + " eps=1e-5";
    k.make_inputs = [=](Rng& r) {
      const int64_t c = w.c_out;
      return std::vector<Input>{{ws, random_normal(r, ws.numel())},
                                {{c}, gamma_values(r, c)},
                                {{c}, random_normal(r, c)},
                                {{c}, random_normal(r, c)},
                                {{c}, random_uniform(r, c, 0.01f, 4.0f)}};
    };
    k.outputs = {ws, {w.c_out}};
    k.run = [](const std::vector<Tensor>& in, const std::vector<Tensor>& out) {
      ops::batch_norm_fold_out(in[0], in[1], in[2], in[3], in[4], kEps, out[0], out[1]);
    };
    k.reference = [=](const std::vector<ref::Vec>& in) {
      return ref::batch_norm_fold(in[0], in[1], in[2], in[3], in[4], w.c_out, w.c_in * w.k, kEps);
    };
    k.tol = {1e-6, 1e-7, "gamma / sqrt(var + eps) and one product: a few float32 roundings"};
    k.flops = 2.0 * static_cast<double>(ws.numel());
    k.bytes = 8.0 * static_cast<double>(ws.numel());
    cases.push_back(k);
  }
}

void add_bias_cases(std::vector<OpCase>& cases) {
  for (const Size s : kSizes) {
    const Shape xs = activation_shape(s);
    const int64_t c = s.channels;
    const double n = static_cast<double>(s.rows * c);
    for (const bool relu : {false, true}) {
      OpCase k;
      k.op = "bias_add";
      k.params = size_params(s) + " shape=" + xs.str() + " relu=" + std::to_string(relu);
      // x + b kept at least 0.05 from ReLU's kink, so finite differences stay on one side.
      k.make_inputs = [=](Rng& r) {
        std::vector<float> b = random_normal(r, c);
        std::vector<float> x = random_away_from_zero(r, s.rows * c, 0.05f);
        for (int64_t i = 0; i < s.rows; ++i)
          for (int64_t j = 0; j < c; ++j) x[static_cast<size_t>(i * c + j)] -= b[j];
        return std::vector<Input>{{xs, x}, {{c}, b}};
      };
      k.outputs = {xs};
      k.run = [relu](const std::vector<Tensor>& in, const std::vector<Tensor>& out) {
        ops::bias_add_out(in[0], in[1], relu, out[0]);
      };
      k.reference = [=](const std::vector<ref::Vec>& in) {
        return std::vector<ref::Vec>{ref::bias_add(in[0], in[1], s.rows, c, relu)};
      };
      k.tol = {6e-8, 0.0, "one float32 addition (and a max): within half an ulp"};
      k.bitwise_across_backends = true;
      if (s.rows * c <= 20000) {
        k.forward_var = [relu](const std::vector<Var>& v) {
          return ag::bias_add(v[0], v[1], relu);
        };
        k.grad_inputs = {true, true};
        k.grad_tol = {1e-3, 1e-4 * std::sqrt(static_cast<double>(s.rows)),
                      "d_b sums rows float32 terms"};
      }
      k.flops = n * (relu ? 2.0 : 1.0);
      k.bytes = 8.0 * n;
      cases.push_back(k);
    }
    // The bias gradient alone: d_b = column sums of d_y (the reduction ag::bias_add runs).
    OpCase k;
    k.op = "bias_add";
    k.params = size_params(s) + " shape=" + xs.str() + " pass=backward d_b";
    k.make_inputs = [=](Rng& r) { return std::vector<Input>{{xs, random_normal(r, s.rows * c)}}; };
    k.outputs = {{c}};
    k.run = [](const std::vector<Tensor>& in, const std::vector<Tensor>& out) {
      ops::bias_add_bwd_out(in[0], out[0]);
    };
    k.reference = [=](const std::vector<ref::Vec>& in) {
      return std::vector<ref::Vec>{ref::column_sums(in[0], s.rows, c)};
    };
    k.tol = {1e-5, 2e-7 * std::sqrt(static_cast<double>(s.rows)),
             "float32 sum of rows N(0, 1) terms: error ~ sqrt(rows) ulps"};
    k.flops = n;
    k.bytes = 4.0 * n;
    cases.push_back(k);
  }
}

}  // namespace

V3D_HARNESS_CASES(cases) {
  add_train_cases(cases);
  add_infer_cases(cases);
  add_bwd_cases(cases);
  add_fold_cases(cases);
  add_bias_cases(cases);
}

}  // namespace v3d::harness
