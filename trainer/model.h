// VideoPose3D's temporal model (VideoPose3D common/model.py: TemporalModel and
// TemporalModelOptimized1f) in the two forms that share one set of weights:
//
//   strided (TemporalModelOptimized1f, training): x (B, RF, J_in*F_in) -> (B, 1, J_out*3). Each
//     conv of width W has stride W; block i's residual is time_slice(h, start, W) with start W//2
//     (centre tap) or W-1 (causal: last tap). BN uses batch statistics and updates its running
//     statistics with the current momentum; ReLU and dropout follow every BN.
//   dilated (TemporalModel, whole-sequence inference): x (B, T, J_in*F_in) ->
//     (B, T-RF+1, J_out*3). Block i's conv has dilation d_i = W_0 * ... * W_{i-1}; the residual is
//     frames [p+s, T-p+s) with p = (W_i-1) d_i / 2 and s = p when causal, else 0. BN is folded into
//     the bias-free convs (W' = W gamma / sqrt(var + eps), b' = beta - gamma mean / sqrt(var +
//     eps)), then bias + ReLU in one op; no dropout. trainer/dilated.h runs it block by block.
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
#include "trainer/dilated.h"

namespace v3d {

class Communicator;

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
  // The dilated form's weights with BN folded into every convolution (trainer/dilated.h), for many
  // forward_eval calls over unchanged weights (evaluation and inference fold once per run).
  using FoldedWeights = v3d::FoldedWeights;
  // prepare: also prepare the CPU layouts of the K > 1 convolutions (ops::prepare_temporal_conv;
  // worth it for more than one call).
  FoldedWeights fold_weights(bool prepare = true) const;

  // Dilated form with BN folded (DilatedBlocks::forward): x (B, T, J_in*F_in) or
  // (B, T, J_in, F_in) on the model's device, T >= RF -> (B, T-RF+1, J_out*3). Without `folded`,
  // the weights are folded for this call (one pass over the weights).
  Tensor forward_eval(const Tensor& x, const FoldedWeights* folded = nullptr);

  // The momentum of every BN for the next training forwards (VideoPose3D decays it per epoch).
  void set_bn_momentum(float momentum);
  float bn_momentum() const { return bn_momentum_; }
  // Training forwards normalise with the statistics of every rank of `comm` (runtime/
  // sync_batch_norm.h); nullptr (the default) uses this process's batch alone.
  void set_sync_bn(Communicator* comm) { sync_bn_ = comm; }
  // The arithmetic of forward_train's convolutions and their two backward passes
  // (kernels/temporal_conv.h, ConvMath; `train.precision`): operands rounded to TF32 or BF16,
  // float32 accumulation. Weights, activations, gradients, BN and the loss stay float32.
  // forward_eval has its own (set_eval_math).
  void set_conv_math(kernels::ConvMath math) { conv_math_ = math; }
  kernels::ConvMath conv_math() const { return conv_math_; }
  // The arithmetic of the dilated form's convolutions (FoldedWeights::math, set by fold_weights
  // from this): kFp32 (the default, and what training's evaluation uses), or TF32 / BF16 operands
  // with float32 sums, the tensor cores on a GPU (`v3d eval|infer --precision`). Applies to the
  // weights folded after the call.
  void set_eval_math(kernels::ConvMath math) { eval_math_ = math; }
  kernels::ConvMath eval_math() const { return eval_math_; }

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

  // next_pointwise (optional): the weights of the pointwise convolution that alone reads the
  // result; in bf16 training, where that convolution keeps its input as BF16, the result is
  // written as BF16 in the ReLU/dropout pass itself.
  Var bn_relu_drop(const Var& h, Bn& bn, PhiloxState& rng, bool training,
                   const Var* next_pointwise = nullptr);
  Tensor check_input(const Tensor& x, const char* form) const;

  TemporalModelConfig config_;
  ParameterStore params_;
  Var expand_conv_;
  std::vector<Var> layers_conv_;  // 2 per block: dilated W_i, then 1x1
  Var shrink_weight_, shrink_bias_;
  Bn expand_bn_;
  std::vector<Bn> layers_bn_;
  float bn_momentum_ = kBnMomentum;
  Communicator* sync_bn_ = nullptr;
  kernels::ConvMath conv_math_ = kernels::ConvMath::kFp32;
  kernels::ConvMath eval_math_ = kernels::ConvMath::kFp32;
};

// (B, T, J*3) -> (B, T, J, 3) as a differentiable view (for ag::mpjpe on the model's output).
Var channels_to_poses(const Var& y, int64_t joints);

}  // namespace v3d
