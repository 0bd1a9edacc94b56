// The dilated form of VideoPose3D's temporal model (trainer/model.h) over its folded weights,
// block by block. TemporalModel::forward_eval runs every block and the head; the long-term bank's
// executor (trainer/ltb.h) stops the pass before the last block, keeps the block outputs in
// buffers of its own, and evaluates single blocks on gathered windows.
//
//   block i (dilated)   h (B, T, C_i) -> (B, T - (W_i - 1) d_i, C), d_i = W_0 * ... * W_{i-1}:
//                       block 0 (expand) conv(W_0) + bias + ReLU on the input rows (C_0 = J_in *
//                       F_in); block i >= 1 conv(W_i, dilation d_i) + bias + ReLU, 1x1 conv + bias
//                       + ReLU, plus the residual: rows [p + s, T - p + s) of h, p = (W_i - 1) d_i
//                       / 2, s = p when causal, else 0. Output row q sees input rows q .. q + rf_i
//                       - 1, rf_i = W_0 * ... * W_i.
//   window i            the same block on (n, W_i, C_i) gathered rows without dilation -> (n, 1, C)
//                       (the residual is the middle row; causal models the last): equal to block
//                       i's output at the position whose input rows were gathered.
//   head                the shrink conv (1x1) + bias: (B, T, C) -> (B, T, J_out * 3).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/batch_norm.h"
#include "runtime/temporal_conv.h"
#include "runtime/tensor.h"

namespace v3d {

// The dilated form's weights: BN folded into every convolution (convs[0] the expand conv; block
// i >= 1 has convs[2i - 1], its conv of width W_i, and convs[2i], its 1x1 conv), the head's (the
// shrink conv, which folding leaves alone: the model's own tensors), and the residual tap. Made by
// TemporalModel::fold_weights; stale as soon as the parameters or the BN statistics change (a
// training step, load_state_dict): fold again then.
struct FoldedWeights {
  std::vector<ops::FoldedConv> convs;
  std::vector<ops::PreparedConv> prepared;  // per conv: layouts prepared for many calls
  Tensor head_weight, head_bias;            // (J_out * 3, C, 1), (J_out * 3)
  bool causal = false;
  // The arithmetic of every convolution, the head's too (kernels/temporal_conv.h, ConvMath).
  kernels::ConvMath math = kernels::ConvMath::kFp32;
};

// A view of the dilated blocks over folded weights (which must outlive it).
class DilatedBlocks {
 public:
  // Throws when the weights are not a temporal model's (conv count, shapes).
  explicit DilatedBlocks(const FoldedWeights& weights);

  size_t size() const { return widths_.size(); }
  int64_t width(size_t i) const { return widths_.at(i); }
  int64_t dilation(size_t i) const;         // d_i = W_0 * ... * W_{i-1}
  int64_t receptive_field(size_t i) const;  // rf_i = W_0 * ... * W_i
  int64_t receptive_field() const { return receptive_field(size() - 1); }
  int64_t channels() const;        // C
  int64_t in_channels() const;     // C_0 = J_in * F_in
  int64_t inputs(size_t i) const;  // C_i: C_0 for block 0, else C

  // Block i over whole sequences (see the file comment). `out` (optional): a (B, T_out, C) tensor
  // the output is written into (e.g. the first rows of a larger buffer), and returned.
  Tensor block(size_t i, const Tensor& h, const Tensor& out = Tensor()) const;
  // Block i on gathered windows: (n, W_i, C_i) -> (n, 1, C).
  Tensor window(size_t i, const Tensor& inputs) const;
  // (B, T, C) -> (B, T, J_out * 3).
  Tensor head(const Tensor& h) const;
  // Every block, then the head: x (B, T, C_0), T >= the receptive field -> (B, T - RF + 1, J_out *
  // 3). blocks (optional) receives every block's output.
  Tensor forward(const Tensor& x, std::vector<Tensor>* blocks = nullptr) const;

 private:
  const FoldedWeights* w_;
  std::vector<int64_t> widths_;
};

}  // namespace v3d
