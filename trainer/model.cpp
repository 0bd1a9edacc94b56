// TemporalModel: both forms of VideoPose3D's temporal model over one flat parameter store.
#include "trainer/model.h"

#include <cmath>
#include <random>
#include <sstream>

#include "kernels/common.h"
#include "runtime/batch_norm.h"
#include "runtime/layout.h"
#include "runtime/ops.h"
#include "runtime/sync_batch_norm.h"
#include "runtime/temporal_conv.h"
#include "runtime/time_slice.h"

namespace v3d {

void TemporalModelConfig::validate() const {
  V3D_CHECK(!filter_widths.empty(), "model: filter_widths is empty");
  for (size_t i = 0; i < filter_widths.size(); ++i)
    V3D_CHECK(filter_widths[i] >= 1 && filter_widths[i] % 2 == 1,
              "model: filter_widths[" << i << "] = " << filter_widths[i]
                                      << " must be odd and positive (VideoPose3D asserts this)");
  V3D_CHECK(channels >= 1, "model: channels must be positive, got " << channels);
  V3D_CHECK(joints_in >= 1 && features_in >= 1 && joints_out >= 1,
            "model: joints_in, features_in and joints_out must be positive, got "
                << joints_in << ", " << features_in << ", " << joints_out);
  V3D_CHECK(dropout >= 0.0f && dropout < 1.0f, "model: dropout must be in [0, 1), got " << dropout);
}

int64_t TemporalModelConfig::receptive_field() const {
  // 1 + 2 * sum(pad) with pad_0 = (W_0-1)/2 and pad_i = (W_i-1) d_i / 2 telescopes to prod(W).
  int64_t rf = 1;
  for (int64_t w : filter_widths) rf *= w;
  return rf;
}

namespace {

// U(-bound, bound) from a 64-bit generator: 24 high bits, so the draw is the same on every
// standard library (std::uniform_real_distribution is not).
void fill_uniform(std::vector<float>& v, float bound, std::mt19937_64& rng) {
  for (auto& x : v) {
    const float u = static_cast<float>(rng() >> 40) * (1.0f / 16777216.0f);  // [0, 1)
    x = (2.0f * u - 1.0f) * bound;
  }
}

void init_uniform(Var p, int64_t fan_in, std::mt19937_64& rng) {
  std::vector<float> v(static_cast<size_t>(p.value().numel()));
  fill_uniform(v, 1.0f / std::sqrt(static_cast<float>(fan_in)), rng);
  p.set_value(Tensor::from_vector(v, p.value().shape()));
}

std::string bn_key(const std::string& bn, const char* field) { return bn + "." + field; }

}  // namespace

TemporalModel::TemporalModel(const TemporalModelConfig& config, Device device, uint64_t seed)
    : config_(config), params_(device) {
  config_.validate();
  const int64_t c = config_.channels;
  const auto& fw = config_.filter_widths;
  // Declared in PyTorch's named_parameters() order (see the file comment in model.h).
  expand_bn_.name = "expand_bn";
  expand_bn_.weight = params_.add("expand_bn.weight", {c});
  expand_bn_.bias = params_.add("expand_bn.bias", {c});
  shrink_weight_ = params_.add("shrink.weight", {config_.out_channels(), c, 1});
  shrink_bias_ = params_.add("shrink.bias", {config_.out_channels()});
  expand_conv_ = params_.add("expand_conv.weight", {c, config_.in_channels(), fw[0]});
  for (size_t i = 1; i < fw.size(); ++i) {
    const size_t m = 2 * (i - 1);
    layers_conv_.push_back(
        params_.add("layers_conv." + std::to_string(m) + ".weight", {c, c, fw[i]}));
    layers_conv_.push_back(
        params_.add("layers_conv." + std::to_string(m + 1) + ".weight", {c, c, 1}));
  }
  layers_bn_.resize(layers_conv_.size());
  for (size_t m = 0; m < layers_bn_.size(); ++m) {
    Bn& bn = layers_bn_[m];
    bn.name = "layers_bn." + std::to_string(m);
    bn.weight = params_.add(bn_key(bn.name, "weight"), {c});
    bn.bias = params_.add(bn_key(bn.name, "bias"), {c});
  }
  params_.finalize();

  std::mt19937_64 rng(seed);
  init_uniform(shrink_weight_, c, rng);
  init_uniform(shrink_bias_, c, rng);
  init_uniform(expand_conv_, config_.in_channels() * fw[0], rng);
  for (Var& w : layers_conv_) init_uniform(w, c * w.value().size(2), rng);
  auto init_bn = [&](Bn& bn) {
    bn.weight.set_value(Tensor::full({c}, 1.0f));
    // The bias is already 0: finalize() zeroes the flat buffer.
    bn.running_mean = Tensor::zeros({c}, DType::kF32, device);
    bn.running_var = Tensor::full({c}, 1.0f, device);
  };
  init_bn(expand_bn_);
  for (Bn& bn : layers_bn_) init_bn(bn);
}

Tensor TemporalModel::check_input(const Tensor& x, const char* form) const {
  V3D_CHECK(x.defined(), form << ": x is undefined");
  V3D_CHECK(x.device() == device(),
            form << ": x " << x.str() << " is not on the model's device " << device().str());
  Tensor h = x;
  if (x.ndim() == 4) {
    V3D_CHECK(x.size(2) == config_.joints_in && x.size(3) == config_.features_in,
              form << ": x " << x.str() << " must be (B, T, " << config_.joints_in << ", "
                   << config_.features_in << ")");
    h = ops::poses_to_channels(x);
  }
  V3D_CHECK(h.ndim() == 3 && h.size(2) == config_.in_channels(),
            form << ": x " << x.str() << " must be (B, T, " << config_.in_channels()
                 << ") or (B, T, " << config_.joints_in << ", " << config_.features_in << ")");
  return h;
}

Var TemporalModel::bn_relu_drop(const Var& h, Bn& bn, PhiloxState& rng, bool training,
                                const Var* next_pointwise) {
  Var y = training && sync_bn_ != nullptr
              ? ag::sync_batch_norm(h, bn.weight, bn.bias, bn.running_mean, bn.running_var,
                                    bn_momentum_, *sync_bn_, kBnEps)
              : ag::batch_norm(h, bn.weight, bn.bias, bn.running_mean, bn.running_var, bn_momentum_,
                               training, kBnEps);
  if (training) ++bn.num_batches_tracked;
  const bool bf16_out =
      next_pointwise != nullptr && conv_math_ == kernels::ConvMath::kBf16 &&
      ops::temporal_conv_keeps_bf16_input(y.value(), next_pointwise->value(), 1, 1);
  return ag::relu_dropout(y, config_.dropout, training, rng, bf16_out ? DType::kBF16 : DType::kF32);
}

Var TemporalModel::forward_train(const Tensor& x, PhiloxState& rng, bool training) {
  const Tensor xc = check_input(x, "TemporalModel::forward_train");
  const int64_t rf = receptive_field();
  V3D_CHECK(xc.size(1) == rf, "TemporalModel::forward_train: x "
                                  << x.str() << " must hold exactly the receptive field of " << rf
                                  << " frames (the strided form gives one output frame)");
  const auto& fw = config_.filter_widths;
  const kernels::ConvMath math = conv_math_;
  Var h = ag::temporal_conv(Var(xc), expand_conv_, 1, fw[0], math);
  h = bn_relu_drop(h, expand_bn_, rng, training);
  for (size_t i = 1; i < fw.size(); ++i) {
    const int64_t k = fw[i];
    const size_t m = 2 * (i - 1);
    const int64_t start = config_.causal ? k - 1 : k / 2;
    const Var res = ag::time_slice(h, start, k, h.value().size(1) / k);
    h = bn_relu_drop(ag::temporal_conv(h, layers_conv_[m], 1, k, math), layers_bn_[m], rng,
                     training, &layers_conv_[m + 1]);
    h = bn_relu_drop(ag::temporal_conv(h, layers_conv_[m + 1], 1, 1, math), layers_bn_[m + 1], rng,
                     training);
    h = ag::add(res, h);
  }
  return ag::bias_add(ag::temporal_conv(h, shrink_weight_, 1, 1, math), shrink_bias_, false);
}

TemporalModel::FoldedWeights TemporalModel::fold_weights(bool prepare) const {
  NoGradGuard no_grad;
  auto fold = [](const Var& w, const Bn& bn) {
    return ops::batch_norm_fold(w.value(), bn.weight.value(), bn.bias.value(), bn.running_mean,
                                bn.running_var, kBnEps);
  };
  FoldedWeights f;
  f.convs.push_back(fold(expand_conv_, expand_bn_));
  for (size_t m = 0; m < layers_conv_.size(); ++m)
    f.convs.push_back(fold(layers_conv_[m], layers_bn_[m]));
  f.head_weight = shrink_weight_.value();
  f.head_bias = shrink_bias_.value();
  f.causal = config_.causal;
  f.math = eval_math_;
  // The weights' layouts made once here rather than on every call (ops::prepare_temporal_conv):
  // the CPU's for the float32 forward (K > 1), a GPU's for TF32 and BF16.
  f.prepared.resize(f.convs.size());
  if (!prepare) return f;
  for (size_t i = 0; i < f.convs.size(); ++i)
    f.prepared[i] = ops::prepare_temporal_conv(f.convs[i].weight, f.math);
  return f;
}

Tensor TemporalModel::forward_eval(const Tensor& x, const FoldedWeights* folded) {
  NoGradGuard no_grad;
  const Tensor h = check_input(x, "TemporalModel::forward_eval");
  FoldedWeights own;
  if (folded == nullptr) {
    own = fold_weights(false);
    folded = &own;
  }
  const DilatedBlocks blocks(*folded);
  V3D_CHECK(blocks.size() == config_.filter_widths.size() &&
                blocks.channels() == config_.channels && blocks.in_channels() == h.size(2) &&
                folded->causal == config_.causal,
            "TemporalModel::forward_eval: folded weights of another model");
  for (size_t i = 0; i < blocks.size(); ++i)
    V3D_CHECK(blocks.width(i) == config_.filter_widths[i],
              "TemporalModel::forward_eval: folded weights of another model");
  V3D_CHECK(h.size(1) >= blocks.receptive_field(), "TemporalModel::forward_eval: x "
                                                       << x.str()
                                                       << " is shorter than the receptive field of "
                                                       << blocks.receptive_field() << " frames");
  return blocks.forward(h);
}

void TemporalModel::set_bn_momentum(float momentum) {
  V3D_CHECK(momentum >= 0.0f && momentum <= 1.0f,
            "set_bn_momentum: momentum must be in [0, 1], got " << momentum);
  bn_momentum_ = momentum;
}

std::vector<std::pair<std::string, Tensor>> TemporalModel::buffers() const {
  std::vector<std::pair<std::string, Tensor>> out;
  auto add = [&](const Bn& bn) {
    out.emplace_back(bn_key(bn.name, "running_mean"), bn.running_mean);
    out.emplace_back(bn_key(bn.name, "running_var"), bn.running_var);
  };
  add(expand_bn_);
  for (const Bn& bn : layers_bn_) add(bn);
  return out;
}

const Tensor& TemporalModel::buffer(const std::string& name) const {
  auto find = [&](const Bn& bn) -> const Tensor* {
    if (name == bn_key(bn.name, "running_mean")) return &bn.running_mean;
    if (name == bn_key(bn.name, "running_var")) return &bn.running_var;
    return nullptr;
  };
  if (const Tensor* t = find(expand_bn_)) return *t;
  for (const Bn& bn : layers_bn_)
    if (const Tensor* t = find(bn)) return *t;
  std::ostringstream known;
  for (const auto& b : buffers()) known << (known.tellp() > 0 ? ", " : "") << b.first;
  throw Error("unknown buffer '" + name + "'; known: " + known.str());
}

int64_t TemporalModel::num_batches_tracked(const std::string& bn) const {
  if (bn == expand_bn_.name) return expand_bn_.num_batches_tracked;
  for (const Bn& b : layers_bn_)
    if (bn == b.name) return b.num_batches_tracked;
  throw Error("unknown batch norm '" + bn + "'; known: expand_bn, layers_bn.0 .. layers_bn." +
              std::to_string(layers_bn_.size() - 1));
}

std::vector<std::pair<std::string, Tensor>> TemporalModel::state_dict() const {
  std::vector<std::pair<std::string, Tensor>> out;
  auto add_bn = [&](const Bn& bn) {
    out.emplace_back(bn_key(bn.name, "weight"), bn.weight.value());
    out.emplace_back(bn_key(bn.name, "bias"), bn.bias.value());
    out.emplace_back(bn_key(bn.name, "running_mean"), bn.running_mean);
    out.emplace_back(bn_key(bn.name, "running_var"), bn.running_var);
    out.emplace_back(bn_key(bn.name, "num_batches_tracked"),
                     Tensor::from_vector_i32({static_cast<int32_t>(bn.num_batches_tracked)}, {}));
  };
  add_bn(expand_bn_);
  out.emplace_back("shrink.weight", shrink_weight_.value());
  out.emplace_back("shrink.bias", shrink_bias_.value());
  out.emplace_back("expand_conv.weight", expand_conv_.value());
  for (size_t m = 0; m < layers_conv_.size(); ++m)
    out.emplace_back("layers_conv." + std::to_string(m) + ".weight", layers_conv_[m].value());
  for (const Bn& bn : layers_bn_) add_bn(bn);
  return out;
}

void TemporalModel::load_state_dict(const std::vector<std::pair<std::string, Tensor>>& state) {
  const std::string nbt = ".num_batches_tracked";
  auto is_nbt = [&](const std::string& key) {
    return key.size() > nbt.size() && key.compare(key.size() - nbt.size(), nbt.size(), nbt) == 0;
  };
  const auto expected = state_dict();
  auto lookup = [&](const std::string& key) -> const Tensor* {
    const Tensor* found = nullptr;
    for (const auto& [k, t] : state)
      if (k == key) {
        V3D_CHECK(found == nullptr, "load_state_dict: key '" << key << "' appears twice");
        found = &t;
      }
    return found;
  };
  // Check everything first, so a bad state dict leaves the model untouched.
  for (const auto& [key, t] : state) {
    bool known = false;
    for (const auto& e : expected) known = known || e.first == key;
    V3D_CHECK(known, "load_state_dict: unexpected key '"
                         << key << "' (this model has " << config_.filter_widths.size() - 1
                         << " blocks, " << layers_conv_.size() << " layers_conv entries)");
  }
  std::vector<std::pair<const Tensor*, const Tensor*>> copies;  // (source, destination)
  std::vector<std::pair<std::string, int64_t>> counters;
  for (const auto& [key, dst] : expected) {
    const Tensor* src = lookup(key);
    if (is_nbt(key)) {
      if (src == nullptr) {
        counters.emplace_back(key.substr(0, key.size() - nbt.size()), 0);
        continue;
      }
      V3D_CHECK(src->defined() && src->numel() == 1,
                "load_state_dict: '" << key << "' must be a one-element tensor, got "
                                     << (src->defined() ? src->str() : "undefined"));
      const int64_t n = src->dtype() == DType::kI32 ? src->to_vector_i32()[0]
                                                    : static_cast<int64_t>(src->to_vector()[0]);
      counters.emplace_back(key.substr(0, key.size() - nbt.size()), n);
      continue;
    }
    V3D_CHECK(src != nullptr, "load_state_dict: missing key '" << key << "' (expected shape "
                                                               << dst.shape().str() << ")");
    V3D_CHECK(src->defined() && src->dtype() == DType::kF32,
              "load_state_dict: '" << key << "' must be f32, got "
                                   << (src->defined() ? src->str() : "undefined"));
    V3D_CHECK(src->shape() == dst.shape(), "load_state_dict: '"
                                               << key << "' has shape " << src->shape().str()
                                               << ", expected " << dst.shape().str());
    copies.emplace_back(src, &dst);
  }
  for (const auto& [src, dst] : copies) dst->copy_from(*src);
  for (const auto& [name, n] : counters) {
    if (name == expand_bn_.name) expand_bn_.num_batches_tracked = n;
    for (Bn& bn : layers_bn_)
      if (name == bn.name) bn.num_batches_tracked = n;
  }
}

Var channels_to_poses(const Var& y, int64_t joints) {
  const Tensor v = ops::channels_to_poses(y.value(), joints);
  const Shape shape = y.value().shape();
  return make_result(v, "channels_to_poses", {y},
                     [shape](const Tensor& d, const std::vector<bool>&) {
                       return std::vector<Tensor>{d.view(shape)};
                     });
}

TemporalModelConfig temporal_model_config(const ModelConfig& model, int64_t joints_in,
                                          int64_t features_in, int64_t joints_out) {
  TemporalModelConfig c;
  c.filter_widths.assign(model.filter_widths.begin(), model.filter_widths.end());
  c.channels = model.channels;
  c.joints_in = joints_in;
  c.features_in = features_in;
  c.joints_out = joints_out;
  c.dropout = static_cast<float>(model.dropout);
  c.causal = model.causal;
  c.validate();
  return c;
}

}  // namespace v3d
