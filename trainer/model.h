// VideoPose3D's temporal model (common/model.py; ../shared/reference/videopose3d.md §1, §8) in the
// two forms that share one set of weights:
//
//   strided (TemporalModelOptimized1f, training): x (B, RF, J_in*F_in) -> (B, 1, J_out*3). Each
//     conv of width W has stride W; block i's residual is time_slice(h, start, W) with start W//2
//     (centre tap) or W-1 (causal: last tap). BN uses batch statistics and updates its running
//     statistics with the current momentum; ReLU and dropout follow every BN.
//   dilated (TemporalModel, whole-sequence inference): x (B, T, J_in*F_in) ->
//     (B, T-RF+1, J_out*3). Block i's conv has dilation d_i = W_0 * ... * W_{i-1}; the residual is
//     frames [p+s, T-p+s) with p = (W_i-1) d_i / 2 and s = p when causal, else 0. BN is folded into
//     the bias-free convs (W' = W gamma / sqrt(var + eps), b' = beta - gamma mean / sqrt(var +
//     eps)), then bias + ReLU in one op; no dropout.
//
// Layout: channels-last, input channel j*F_in + f, output channel j*3 + c. Parameters live in one
// flat ParameterStore under VideoPose3D's state_dict names and in its order (the order of
// PyTorch's named_parameters(), which its Adam state follows); BN running statistics are separate
// tensors on the model's device, and num_batches_tracked host counters.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "runtime/autograd.h"
#include "runtime/batch_norm.h"
#include "runtime/parameters.h"
#include "runtime/temporal_conv.h"
#include "runtime/tensor.h"
#include "trainer/config.h"

namespace v3d {

// Padded input frames per dilated pass when many sequences are evaluated together
// (predict_sequences in trainer/evaluate.h; a 1024-channel block output is then 64 MB per copy).
constexpr int64_t kEvalGroupRows = 16384;

struct TemporalModelConfig {
  std::vector<int64_t> filter_widths = {3, 3, 3};  // odd, >= 1 entry; {3,3,3} = 27 frames
  int64_t channels = 1024;
  int64_t joints_in = 17, features_in = 2, joints_out = 17;
  float dropout = 0.25f;
  bool causal = false;

  // Throws v3d::Error naming the offending field (even widths, non-positive sizes, p outside [0,
  // 1)).
  void validate() const;
  // 1 + 2 * sum(pad) = the product of the widths for odd widths.
  int64_t receptive_field() const;
  int64_t in_channels() const { return joints_in * features_in; }
  int64_t out_channels() const { return joints_out * 3; }
};

// The architecture an experiment config (trainer/config.h, section `model`) describes, for inputs
// of `joints_in` keypoints with `features_in` features and `joints_out` output joints.
TemporalModelConfig temporal_model_config(const ModelConfig& model, int64_t joints_in,
                                          int64_t features_in, int64_t joints_out);

// PyTorch's BatchNorm1d defaults.
inline constexpr float kBnEps = 1e-5f;
inline constexpr float kBnMomentum = 0.1f;

class TemporalModel {
 public:
  // Declares and initialises every parameter on `device` with PyTorch's defaults: conv weights
  // kaiming-uniform(a = sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)), shrink bias the same bound,
  // BN weight 1 and bias 0, running mean 0 and variance 1. Draws come from `seed` (PyTorch's own
  // stream cannot be reproduced; load_state_dict imports its weights).
  TemporalModel(const TemporalModelConfig& config, Device device, uint64_t seed = 0);
  TemporalModel(const TemporalModel&) = delete;
  TemporalModel& operator=(const TemporalModel&) = delete;

  const TemporalModelConfig& config() const { return config_; }
  Device device() const { return params_.device(); }
  int64_t receptive_field() const { return config_.receptive_field(); }
  int64_t parameter_count() const { return params_.parameter_count(); }
  ParameterStore& parameters() { return params_; }
  const ParameterStore& parameters() const { return params_; }

  // Strided form: x (B, RF, J_in*F_in) or (B, RF, J_in, F_in) on the model's device ->
  // (B, 1, J_out*3). training: BN with batch statistics (running statistics and
  // num_batches_tracked updated), dropout drawn from `rng`. !training: BN with the running
  // statistics, no dropout, nothing updated (the eval-equivalent of the strided form). BN with
  // batch statistics needs B >= 2.
  Var forward_train(const Tensor& x, PhiloxState& rng, bool training = true);
  // The dilated form's weights with BN folded into every convolution (convs[0] the expand conv,
  // then layers_conv in order), for many forward_eval / eval_block calls over unchanged weights
  // (evaluation and inference fold once per run). Stale as soon as the parameters or the BN
  // statistics change (a training step, load_state_dict): fold again then.
  struct FoldedWeights {
    std::vector<ops::FoldedConv> convs;
    std::vector<ops::PreparedConv> prepared;  // per conv: CPU layouts prepared for many calls
  };
  // prepare: also prepare the CPU layouts of the K > 1 convolutions (ops::prepare_temporal_conv;
  // worth it for more than one call).
  FoldedWeights fold_weights(bool prepare = true) const;

  // Dilated form with BN folded, under NoGradGuard: x (B, T, J_in*F_in) or (B, T, J_in, F_in),
  // T >= RF -> (B, T-RF+1, J_out*3). Without `folded`, the weights are folded for this call (one
  // pass over the weights).
  Tensor forward_eval(const Tensor& x);
  // The same, keeping every block's output for partial re-evaluation (the long-term bank,
  // trainer/ltb.h) when `blocks` is given: (*blocks)[i] is block i's output (B, T - rf_i + 1, C),
  // i = 0 the expand block, rf_i = filter_widths[0] * ... * filter_widths[i]; row p covers input
  // rows p .. p + rf_i - 1.
  Tensor forward_eval(const Tensor& x, std::vector<Tensor>* blocks,
                      const FoldedWeights* folded = nullptr);
  // The dilated form's first `count` blocks only (count <= filter_widths.size(), no head):
  // *blocks gets their outputs as in forward_eval. The long-term bank evaluates the last block of
  // a sequence with fused frames itself, batched with the fused windows.
  // With `room` (one entry per block), block i's output (B, T_i, C) is the first B * T_i rows of
  // a (B * T_i + room[i], C) buffer returned in (*buffers)[i], so a caller can append rows of its
  // own (the bank's computed nodes) without copying the pass's.
  void forward_blocks(const Tensor& x, size_t count, std::vector<Tensor>& blocks,
                      const FoldedWeights* folded = nullptr, const std::vector<int64_t>& room = {},
                      std::vector<Tensor>* buffers = nullptr);
  // The rest of the dilated form from block `first` (1 <= first < filter_widths.size()) on h,
  // block first - 1's output (B, T, C), through the head: forward_eval(x) equals
  // finish_eval(its block first - 1 output, first), bit for bit.
  Tensor finish_eval(const Tensor& h, size_t first, const FoldedWeights* folded = nullptr);
  // One block of the dilated form on gathered inputs, BN folded, without dilation: block 0 (the
  // expand block) takes (n, filter_widths[0], J_in*F_in) input rows, block i >= 1 takes
  // (n, filter_widths[i], C) outputs of block i - 1 (its residual is the middle one; causal
  // models the last) -> (n, 1, C). eval_head maps (n, 1, C) block outputs to (n, 1, J_out*3).
  // eval_block(i, the rows block i reads) equals forward_eval's block i output at that position.
  Tensor eval_block(size_t i, const Tensor& inputs, const FoldedWeights* folded = nullptr);
  Tensor eval_head(const Tensor& h);

  // The momentum of every BN for the next training forwards (VideoPose3D decays it per epoch).
  void set_bn_momentum(float momentum);
  float bn_momentum() const { return bn_momentum_; }

  // BN buffers: "<bn>.running_mean" / "<bn>.running_var", (C) on the model's device.
  const Tensor& buffer(const std::string& name) const;  // throws naming the known buffers
  std::vector<std::pair<std::string, Tensor>> buffers() const;
  int64_t num_batches_tracked(const std::string& bn) const;  // bn: "expand_bn", "layers_bn.3"

  // Every parameter and buffer under its VideoPose3D key, in PyTorch's state_dict order
  // (expand_bn.*, shrink.*, expand_conv.weight, layers_conv.*, layers_bn.*). Parameters and running
  // statistics are the model's own tensors (views, not copies); num_batches_tracked is a new i32
  // scalar (shape ()) on the CPU (PyTorch stores int64).
  std::vector<std::pair<std::string, Tensor>> state_dict() const;
  // Copies every entry in (any device; num_batches_tracked f32 or i32, any one-element shape, and
  // optional: absent means 0, as for PyTorch < 0.4.1 checkpoints). Everything is checked before
  // anything is written: a missing key, an unknown key or a wrong shape throws naming the key.
  void load_state_dict(const std::vector<std::pair<std::string, Tensor>>& state);

 private:
  struct Bn {
    std::string name;  // "expand_bn", "layers_bn.m"
    Var weight, bias;
    Tensor running_mean, running_var;
    int64_t num_batches_tracked = 0;
  };

  Var bn_relu_drop(const Var& h, Bn& bn, PhiloxState& rng, bool training);
  Tensor check_input(const Tensor& x, const char* form) const;
  // Blocks [first, last) of the dilated form on `in` (the input rows for first = 0, else block
  // first - 1's output), appending each output to *blocks when given; returns the last output.
  Tensor run_blocks(const Tensor& in, size_t first, size_t last, std::vector<Tensor>* blocks,
                    const FoldedWeights* folded, const std::vector<int64_t>* room = nullptr,
                    std::vector<Tensor>* buffers = nullptr);

  TemporalModelConfig config_;
  ParameterStore params_;
  Var expand_conv_;
  std::vector<Var> layers_conv_;  // 2 per block: dilated W_i, then 1x1
  Var shrink_weight_, shrink_bias_;
  Bn expand_bn_;
  std::vector<Bn> layers_bn_;
  float bn_momentum_ = kBnMomentum;
};

// (B, T, J*3) -> (B, T, J, 3) as a differentiable view (for ag::mpjpe on the model's output).
Var channels_to_poses(const Var& y, int64_t joints);

}  // namespace v3d
