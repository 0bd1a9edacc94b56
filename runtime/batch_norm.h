// Batch normalisation, the per-channel bias and BN folding (kernels/batch_norm.h) on tensors.
// Activations are channels-last: x may have any shape whose last dimension is C; each channel is
// normalised over the rows = numel / C (B * T for (B, T, C), PyTorch's BatchNorm1d over batch and
// time). Per-channel tensors (gamma, beta, running statistics, saved statistics) are (C).
// `_out` forms write into given tensors; the plain forms allocate on the input's device.
#pragma once

#include "runtime/autograd.h"
#include "runtime/tensor.h"

namespace v3d::ops {

// Training forward with the batch statistics (biased variance): y = gamma (x - mean) inv_std +
// beta; writes save_mean and save_inv_std (C) for the backward and updates running_mean and
// running_var IN PLACE: running = (1 - momentum) running + momentum batch_stat, with the unbiased
// variance. Needs at least 2 rows.
void batch_norm_train_out(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                          const Tensor& running_mean, const Tensor& running_var, float momentum,
                          float eps, const Tensor& y, const Tensor& save_mean,
                          const Tensor& save_inv_std);
struct BatchNormTrainResult {
  Tensor y;             // x's shape
  Tensor save_mean;     // (C)
  Tensor save_inv_std;  // (C)
};
BatchNormTrainResult batch_norm_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                      const Tensor& running_mean, const Tensor& running_var,
                                      float momentum, float eps = 1e-5f);

// Inference forward: y = gamma (x - running_mean) / sqrt(running_var + eps) + beta.
void batch_norm_infer_out(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                          const Tensor& running_mean, const Tensor& running_var, float eps,
                          const Tensor& y);
Tensor batch_norm_infer(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                        const Tensor& running_mean, const Tensor& running_var, float eps = 1e-5f);

// Backward of batch_norm_train through the batch statistics; d_x, d_gamma, d_beta OVERWRITTEN.
void batch_norm_bwd_out(const Tensor& x, const Tensor& d_y, const Tensor& gamma,
                        const Tensor& save_mean, const Tensor& save_inv_std, const Tensor& d_x,
                        const Tensor& d_gamma, const Tensor& d_beta);
struct BatchNormGrads {
  Tensor d_x;      // x's shape
  Tensor d_gamma;  // (C)
  Tensor d_beta;   // (C)
};
BatchNormGrads batch_norm_bwd(const Tensor& x, const Tensor& d_y, const Tensor& gamma,
                              const Tensor& save_mean, const Tensor& save_inv_std);

// Backward of batch_norm_infer (constant statistics: d_x = gamma inv_std d_y); OVERWRITTEN.
void batch_norm_infer_bwd_out(const Tensor& x, const Tensor& d_y, const Tensor& gamma,
                              const Tensor& running_mean, const Tensor& running_var, float eps,
                              const Tensor& d_x, const Tensor& d_gamma, const Tensor& d_beta);
BatchNormGrads batch_norm_infer_bwd(const Tensor& x, const Tensor& d_y, const Tensor& gamma,
                                    const Tensor& running_mean, const Tensor& running_var,
                                    float eps = 1e-5f);

// Folds an inference BN into the bias-free convolution before it. w: (C_out, C_in, K) in PyTorch
// order (any shape whose first dimension is C_out); w_folded: w's shape (may alias w);
// b_folded: (C_out). w_folded = w * gamma / sqrt(rv + eps), b_folded = beta - gamma rm /
// sqrt(rv + eps).
void batch_norm_fold_out(const Tensor& w, const Tensor& gamma, const Tensor& beta,
                         const Tensor& running_mean, const Tensor& running_var, float eps,
                         const Tensor& w_folded, const Tensor& b_folded);
struct FoldedConv {
  Tensor weight;  // w's shape
  Tensor bias;    // (C_out)
};
FoldedConv batch_norm_fold(const Tensor& w, const Tensor& gamma, const Tensor& beta,
                           const Tensor& running_mean, const Tensor& running_var,
                           float eps = 1e-5f);

// y = x + b over the last dimension, then ReLU when `relu`. y may alias x.
void bias_add_out(const Tensor& x, const Tensor& b, bool relu, const Tensor& y);
Tensor bias_add(const Tensor& x, const Tensor& b, bool relu);
// d_b[c] = sum over rows of d_y[., c] (OVERWRITTEN), d_b: (C).
void bias_add_bwd_out(const Tensor& d_y, const Tensor& d_b);
Tensor bias_add_bwd(const Tensor& d_y);

}  // namespace v3d::ops

namespace v3d::ag {

// training: batch statistics, running_mean/running_var updated in place, backward through the
// batch statistics. !training: running statistics, backward with them as constants. Gradients
// for x, gamma and beta in both modes.
Var batch_norm(const Var& x, const Var& gamma, const Var& beta, Tensor running_mean,
               Tensor running_var, float momentum, bool training, float eps = 1e-5f);
// y = x + b (last dimension), ReLU fused when `relu`.
Var bias_add(const Var& x, const Var& b, bool relu);

}  // namespace v3d::ag
