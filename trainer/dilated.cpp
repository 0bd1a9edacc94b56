// The dilated blocks of the temporal model (trainer/dilated.h).
#include "trainer/dilated.h"

#include "kernels/common.h"
#include "runtime/ops.h"
#include "runtime/temporal_conv.h"

namespace v3d {

namespace {

// conv (BN already folded into f) + bias + ReLU, plus frames [residual_offset, + T_out) of
// `residual` when defined (one fused pass, kernels/temporal_conv.h), into `out` when defined;
// p: f's prepared weights.
Tensor conv_bias_relu(const Tensor& h, const ops::FoldedConv& f, int64_t dilation,
                      kernels::ConvMath math, const ops::PreparedConv* p = nullptr,
                      const Tensor& out = Tensor(), const Tensor& residual = Tensor(),
                      int64_t residual_offset = 0) {
  ops::ConvEpilogueTensors e;
  e.bias = f.bias;
  e.relu = true;
  e.residual = residual;
  e.residual_offset = residual_offset;
  if (!out.defined()) return ops::temporal_conv(h, f.weight, dilation, 1, p, math, &e);
  ops::temporal_conv_out(h, f.weight, out, dilation, 1, p, math, &e);
  return out;
}

// The output of a block's first convolution, which only its 1x1 convolution reads: in bf16 on a
// GPU written in BF16 by the convolution's epilogue (the 1x1 convolution would round it to BF16
// as it reads it: the same bits in half the bytes); otherwise float32, made by the convolution.
Tensor inner_activation(const Tensor& h, int64_t c, int64_t t_out, kernels::ConvMath math) {
  if (math != kernels::ConvMath::kBf16 || h.device().is_cpu()) return Tensor();
  return Tensor::empty({h.size(0), t_out, c}, DType::kBF16, h.device());
}

}  // namespace

DilatedBlocks::DilatedBlocks(const FoldedWeights& weights) : w_(&weights) {
  const auto& convs = weights.convs;
  V3D_CHECK(convs.size() % 2 == 1 && weights.prepared.size() == convs.size(),
            "dilated blocks: " << convs.size() << " convolutions and " << weights.prepared.size()
                               << " prepared ones are not a temporal model's folded weights");
  for (size_t k = 0; k < convs.size(); ++k)
    V3D_CHECK(convs[k].weight.defined() && convs[k].weight.ndim() == 3 && convs[k].bias.defined() &&
                  convs[k].bias.numel() == convs[k].weight.size(0),
              "dilated blocks: convolution " << k << " is not folded");
  widths_.push_back(convs[0].weight.size(2));
  for (size_t k = 1; k < convs.size(); k += 2) {
    V3D_CHECK(convs[k + 1].weight.size(2) == 1,
              "dilated blocks: convolution " << k + 1 << " is not 1x1");
    widths_.push_back(convs[k].weight.size(2));
  }
  V3D_CHECK(weights.head_weight.defined() && weights.head_weight.ndim() == 3 &&
                weights.head_weight.size(1) == channels() && weights.head_bias.defined(),
            "dilated blocks: no head");
}

int64_t DilatedBlocks::dilation(size_t i) const {
  V3D_CHECK(i < size(), "dilated blocks: block " << i << " of " << size());
  int64_t d = 1;
  for (size_t k = 0; k < i; ++k) d *= widths_[k];
  return d;
}

int64_t DilatedBlocks::receptive_field(size_t i) const { return dilation(i) * widths_[i]; }

int64_t DilatedBlocks::channels() const { return w_->convs[0].weight.size(0); }

int64_t DilatedBlocks::in_channels() const { return w_->convs[0].weight.size(1); }

int64_t DilatedBlocks::inputs(size_t i) const { return i == 0 ? in_channels() : channels(); }

Tensor DilatedBlocks::block(size_t i, const Tensor& h, const Tensor& out) const {
  V3D_CHECK(i < size(), "dilated blocks: block " << i << " of " << size());
  const int64_t d = dilation(i), span = (widths_[i] - 1) * d;
  V3D_CHECK(h.defined() && h.ndim() == 3 && h.size(2) == inputs(i) && h.size(1) > span,
            "dilated blocks: block " << i << " takes (B, T > " << span << ", " << inputs(i)
                                     << "), got " << (h.defined() ? h.str() : "undefined"));
  const int64_t c = channels(), t_out = h.size(1) - span;
  V3D_CHECK(!out.defined() || out.shape() == Shape({h.size(0), t_out, c}),
            "dilated blocks: block " << i << " writes (" << h.size(0) << ", " << t_out << ", " << c
                                     << "), not into " << out.str());
  const auto& convs = w_->convs;
  if (i == 0) return conv_bias_relu(h, convs[0], 1, w_->math, &w_->prepared[0], out);
  const size_t k = 2 * i - 1;
  const int64_t pad = span / 2, shift = w_->causal ? pad : 0;
  const Tensor y = conv_bias_relu(h, convs[k], d, w_->math, &w_->prepared[k],
                                  inner_activation(h, c, t_out, w_->math));
  // The residual: h's frames [pad + shift, + t_out), added in the 1x1 conv's epilogue.
  return conv_bias_relu(y, convs[k + 1], 1, w_->math, &w_->prepared[k + 1], out, h, pad + shift);
}

Tensor DilatedBlocks::window(size_t i, const Tensor& inputs_rows) const {
  V3D_CHECK(i < size(), "dilated blocks: block " << i << " of " << size());
  V3D_CHECK(inputs_rows.defined() && inputs_rows.ndim() == 3 && inputs_rows.size(1) == widths_[i] &&
                inputs_rows.size(2) == inputs(i),
            "dilated blocks: block " << i << " takes windows (n, " << widths_[i] << ", "
                                     << inputs(i) << "), got "
                                     << (inputs_rows.defined() ? inputs_rows.str() : "undefined"));
  const auto& convs = w_->convs;
  if (i == 0) return conv_bias_relu(inputs_rows, convs[0], 1, w_->math, &w_->prepared[0]);
  const size_t k = 2 * i - 1;
  const int64_t mid = w_->causal ? widths_[i] - 1 : widths_[i] / 2;
  const Tensor h = conv_bias_relu(inputs_rows, convs[k], 1, w_->math, &w_->prepared[k],
                                  inner_activation(inputs_rows, channels(), 1, w_->math));
  return conv_bias_relu(h, convs[k + 1], 1, w_->math, &w_->prepared[k + 1], Tensor(), inputs_rows,
                        mid);
}

Tensor DilatedBlocks::head(const Tensor& h) const {
  V3D_CHECK(h.defined() && h.ndim() == 3 && h.size(2) == channels(),
            "dilated blocks: the head takes (B, T, " << channels() << "), got "
                                                     << (h.defined() ? h.str() : "undefined"));
  Tensor y = ops::temporal_conv(h, w_->head_weight, 1, 1, nullptr, w_->math);
  ops::bias_add_out(y, w_->head_bias, false, y);
  return y;
}

Tensor DilatedBlocks::forward(const Tensor& x, std::vector<Tensor>* blocks) const {
  V3D_CHECK(x.defined() && x.ndim() == 3 && x.size(1) >= receptive_field(),
            "dilated blocks: x " << (x.defined() ? x.str() : "undefined")
                                 << " is shorter than the receptive field of " << receptive_field()
                                 << " frames");
  if (blocks != nullptr) blocks->clear();
  Tensor h = x;
  for (size_t i = 0; i < size(); ++i) {
    h = block(i, h);
    if (blocks != nullptr) blocks->push_back(h);
  }
  return head(h);
}

}  // namespace v3d
