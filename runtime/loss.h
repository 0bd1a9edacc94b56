// The MPJPE loss (kernels/loss.h): VideoPose3D's `mpjpe` and `weighted_mpjpe`.
//
//   pred, target: (..., J, 3), every leading dimension flattened into N (B * T' for a batch of
//                 output windows), or (..., J, 2) for a 2D error (the reprojection loss of
//                 semi-supervised training); weights: N elements (e.g. (B, T') or (B, T', 1)) or
//                 undefined
//   loss = (1 / (N * J)) * sum_{n, j} w_n * ||pred[n, j] - target[n, j]||
//
// The normalisation is N * J with or without weights, as VideoPose3D's torch.mean; at a zero
// distance the gradient is 0. Errors name the op and what is wrong before any kernel runs.
#pragma once

#include "runtime/autograd.h"
#include "runtime/tensor.h"

namespace v3d::ops {

// loss: a one-element tensor on pred's device, overwritten.
void mpjpe_out(const Tensor& pred, const Tensor& target, const Tensor& weights, const Tensor& loss);
// A scalar (shape ()) on pred's device.
Tensor mpjpe(const Tensor& pred, const Tensor& target, const Tensor& weights = Tensor());
// d_pred (pred's shape) = d loss / d pred scaled by d_loss, a one-element tensor on pred's device
// read there (no host round trip); d_pred is overwritten.
void mpjpe_bwd_out(const Tensor& pred, const Tensor& target, const Tensor& weights,
                   const Tensor& d_loss, const Tensor& d_pred);

}  // namespace v3d::ops

namespace v3d::ag {

// Differentiable in pred only: the target and the weights are data.
Var mpjpe(const Var& pred, const Tensor& target, const Tensor& weights = Tensor());

}  // namespace v3d::ag
