// Batch normalisation with statistics over every rank of a data-parallel job (PyTorch's
// SyncBatchNorm): the forward normalises each rank's rows with the mean and variance of all ranks'
// rows, and the backward uses the gradient sums of all ranks, so W ranks holding parts of a batch
// compute what one process holding the whole batch would (up to float summation order).
//
// Forward: each rank's per-channel mean and biased variance (the batch_norm_train kernel's) are
// gathered as doubles and combined in rank order (Chan's parallel formula); y is then the
// inference form with those statistics, and the running statistics are updated with them and the
// global row count (unbiased variance), identically on every rank.
// Backward: with x_hat from the global statistics, the per-channel sums of d_y and d_y x_hat are
// all-reduced (rank order) and d_x = gamma inv_std (d_y - sum d_y / N - x_hat sum d_y x_hat / N)
// with the global N. The gradients returned for gamma and beta are this rank's own sums: the
// data-parallel gradient all-reduce adds the ranks' contributions, as for every other parameter.
// The incoming gradient must be of the global loss (each rank's loss weighted by its share), so
// that the summed statistics gradients are the global ones.
#pragma once

#include "runtime/autograd.h"
#include "runtime/communicator.h"

namespace v3d::ag {

// Training mode only (inference uses the running statistics, which need no synchronisation).
Var sync_batch_norm(const Var& x, const Var& gamma, const Var& beta, Tensor running_mean,
                    Tensor running_var, float momentum, Communicator& comm, float eps = 1e-5f);

}  // namespace v3d::ag
