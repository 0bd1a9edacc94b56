// Synchronised batch normalisation (runtime/sync_batch_norm.h), composed from the batch-norm ops:
// the statistics and the per-channel corrections are (C) vectors combined on the host.
#include "runtime/sync_batch_norm.h"

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/batch_norm.h"
#include "runtime/ops.h"

namespace v3d::ag {

namespace {

std::string pack(const std::vector<double>& v) {
  std::string s(v.size() * sizeof(double), '\0');
  std::memcpy(s.data(), v.data(), s.size());
  return s;
}

std::vector<double> unpack(const std::string& s) {
  std::vector<double> v(s.size() / sizeof(double));
  std::memcpy(v.data(), s.data(), v.size() * sizeof(double));
  return v;
}

Tensor from_doubles(const std::vector<double>& v, Device device) {
  std::vector<float> f(v.begin(), v.end());
  return Tensor::from_vector(f, {static_cast<int64_t>(f.size())}, device);
}

}  // namespace

Var sync_batch_norm(const Var& x, const Var& gamma, const Var& beta, Tensor running_mean,
                    Tensor running_var, float momentum, Communicator& comm, float eps) {
  const Tensor xv = x.value(), gv = gamma.value(), bv = beta.value();
  const Device device = xv.device();
  const int64_t channels = xv.size(xv.ndim() - 1);
  const int64_t rows = xv.numel() / channels;

  // This rank's statistics (the training kernel's, on scratch running statistics).
  const Tensor scratch_mean = Tensor::zeros({channels}, DType::kF32, device);
  const Tensor scratch_var = Tensor::full({channels}, 1.0f, device);
  const ops::BatchNormTrainResult local =
      ops::batch_norm_train(xv, gv, bv, scratch_mean, scratch_var, 0.0f, eps);
  const std::vector<float> mean_f = local.save_mean.to_vector();
  const std::vector<float> inv_std_f = local.save_inv_std.to_vector();
  std::vector<double> mine(static_cast<size_t>(1 + 2 * channels));
  mine[0] = static_cast<double>(rows);
  for (int64_t c = 0; c < channels; ++c) {
    const double is = inv_std_f[static_cast<size_t>(c)];
    mine[static_cast<size_t>(1 + c)] = mean_f[static_cast<size_t>(c)];
    mine[static_cast<size_t>(1 + channels + c)] = std::max(0.0, 1.0 / (is * is) - eps);
  }

  // Chan's combination in rank order: (n, mean, M2) per channel.
  double n = 0;
  std::vector<double> mean(static_cast<size_t>(channels), 0.0), m2(mean.size(), 0.0);
  for (const std::string& packed : comm.all_gather(pack(mine))) {
    const std::vector<double> r = unpack(packed);
    V3D_CHECK(r.size() == mine.size(), "sync_batch_norm: ranks disagree on the channel count");
    const double nb = r[0], total = n + nb;
    for (int64_t c = 0; c < channels; ++c) {
      const size_t i = static_cast<size_t>(c);
      const double delta = r[1 + i] - mean[i];
      mean[i] += delta * nb / total;
      m2[i] += r[1 + static_cast<size_t>(channels) + i] * nb + delta * delta * n * nb / total;
    }
    n = total;
  }
  std::vector<double> var(mean.size());
  for (size_t i = 0; i < var.size(); ++i) var[i] = m2[i] / n;
  const Tensor g_mean = from_doubles(mean, device), g_var = from_doubles(var, device);
  Tensor y = ops::batch_norm_infer(xv, gv, bv, g_mean, g_var, eps);

  // Running statistics, as the training kernel updates them, with the global statistics.
  std::vector<float> rm = running_mean.to_vector(), rv = running_var.to_vector();
  for (size_t i = 0; i < rm.size(); ++i) {
    rm[i] = (1.0f - momentum) * rm[i] + momentum * static_cast<float>(mean[i]);
    rv[i] = (1.0f - momentum) * rv[i] + momentum * static_cast<float>(var[i] * n / (n - 1.0));
  }
  running_mean.copy_from(Tensor::from_vector(rm, {channels}, device));
  running_var.copy_from(Tensor::from_vector(rv, {channels}, device));

  Communicator* comm_ptr = &comm;
  return make_result(
      y, "sync_batch_norm", {x, gamma, beta},
      [xv, gv, g_mean, g_var, mean, var, n, eps, comm_ptr](const Tensor& d,
                                                           const std::vector<bool>&) {
        // d_x = gamma inv_std d_y, and this rank's sums of d_y and d_y x_hat.
        ops::BatchNormGrads g = ops::batch_norm_infer_bwd(xv, d, gv, g_mean, g_var, eps);
        const Tensor sum_dy = g.d_beta.clone(), sum_dy_xhat = g.d_gamma.clone();
        comm_ptr->all_reduce_sum(sum_dy);
        comm_ptr->all_reduce_sum(sum_dy_xhat);
        const std::vector<float> gamma_h = gv.to_vector(), sb = sum_dy.to_vector(),
                                 sg = sum_dy_xhat.to_vector();
        // The statistics' part of d_x is per-channel affine in x: a x + b, with
        // a = -gamma inv_std^2 sg / N and b = -gamma inv_std sb / N - a mean. It is applied as
        // the inference form with gamma = a / s, beta = b, mean 0 and variance 1 - eps, where s is
        // that form's 1 / sqrt(1 - eps + eps) in float.
        const float unit_var = 1.0f - eps;
        const float s = 1.0f / std::sqrt(unit_var + eps);
        const size_t channels_n = gamma_h.size();
        std::vector<float> a(channels_n), b(channels_n);
        for (size_t c = 0; c < channels_n; ++c) {
          const double is = 1.0 / std::sqrt(static_cast<double>(static_cast<float>(var[c])) + eps);
          const double ac = -static_cast<double>(gamma_h[c]) * is * is * sg[c] / n;
          const double bc = -static_cast<double>(gamma_h[c]) * is * sb[c] / n - ac * mean[c];
          a[c] = static_cast<float>(ac / s);
          b[c] = static_cast<float>(bc);
        }
        const int64_t channels_i = static_cast<int64_t>(channels_n);
        const Device dev = xv.device();
        const Tensor correction =
            ops::batch_norm_infer(xv, Tensor::from_vector(a, {channels_i}, dev),
                                  Tensor::from_vector(b, {channels_i}, dev),
                                  Tensor::zeros({channels_i}, DType::kF32, dev),
                                  Tensor::full({channels_i}, unit_var, dev), eps);
        return std::vector<Tensor>{ops::add(g.d_x, correction), g.d_gamma, g.d_beta};
      });
}

}  // namespace v3d::ag
