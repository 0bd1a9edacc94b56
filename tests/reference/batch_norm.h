// Naive double-precision references for batch norm, the channel bias, BN folding and the residual
// time slice (kernels/batch_norm.h, kernels/time_slice.h), written from the definitions: two
// passes per channel, no shifts or chunking, nothing shared with the kernels.
#pragma once

#include <cstdint>

#include "tests/reference/reference.h"

namespace v3d::ref {

struct BatchNormTrainRef {
  Vec y;             // (rows, C)
  Vec mean;          // (C) batch mean
  Vec inv_std;       // (C) 1 / sqrt(biased variance + eps)
  Vec running_mean;  // (C) after the update
  Vec running_var;   // (C) after the update, with the unbiased variance
};
// x: (rows, C); gamma, beta, running_mean, running_var: (C).
BatchNormTrainRef batch_norm_train(const Vec& x, const Vec& gamma, const Vec& beta,
                                   const Vec& running_mean, const Vec& running_var, int64_t rows,
                                   int64_t channels, double momentum, double eps);
Vec batch_norm_infer(const Vec& x, const Vec& gamma, const Vec& beta, const Vec& running_mean,
                     const Vec& running_var, int64_t rows, int64_t channels, double eps);

struct BatchNormGradsRef {
  Vec d_x;      // (rows, C)
  Vec d_gamma;  // (C)
  Vec d_beta;   // (C)
};
// through_batch_stats: the training backward (mean and inv_std are the batch's); otherwise they
// are constants (inference).
BatchNormGradsRef batch_norm_bwd(const Vec& x, const Vec& d_y, const Vec& gamma, const Vec& mean,
                                 const Vec& inv_std, int64_t rows, int64_t channels,
                                 bool through_batch_stats);

// w: (c_out, inner) -> {w_folded (c_out, inner), b_folded (c_out)}.
std::vector<Vec> batch_norm_fold(const Vec& w, const Vec& gamma, const Vec& beta,
                                 const Vec& running_mean, const Vec& running_var, int64_t c_out,
                                 int64_t inner, double eps);

// x: (rows, C), b: (C).
Vec bias_add(const Vec& x, const Vec& b, int64_t rows, int64_t channels, bool relu);
// d_b[c] = sum over rows of d_y[r, c].
Vec column_sums(const Vec& d_y, int64_t rows, int64_t channels);

// x: (batch, t_in, C) -> (batch, t_out, C), and the backward into zeros.
Vec time_slice(const Vec& x, int64_t batch, int64_t t_in, int64_t channels, int64_t start,
               int64_t step, int64_t t_out);
Vec time_slice_bwd(const Vec& d_y, int64_t batch, int64_t t_in, int64_t channels, int64_t start,
                   int64_t step, int64_t t_out);

}  // namespace v3d::ref
