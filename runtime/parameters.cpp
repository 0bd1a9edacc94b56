// ParameterStore.
#include "runtime/parameters.h"

#include <sstream>

#include "runtime/ops.h"

namespace v3d {

Var ParameterStore::add(const std::string& name, const Shape& shape) {
  V3D_CHECK(!finalized(), "parameter '" << name << "' declared after finalize()");
  for (const auto& p : params_)
    V3D_CHECK(p.first != name, "parameter '" << name << "' declared twice");
  // The value is a placeholder until finalize() points it into the flat buffer.
  Var v(Tensor::empty(shape, DType::kF32, Device::cpu()), true);
  params_.emplace_back(name, v);
  return v;
}

void ParameterStore::finalize() {
  V3D_CHECK(!finalized(), "finalize() called twice");
  int64_t total = 0;
  offsets_.clear();
  for (const auto& p : params_) {
    offsets_.push_back(total);
    const int64_t n = p.second.value().numel();
    total += (n + kAlign - 1) / kAlign * kAlign;
  }
  flat_values_ = Tensor::zeros({total}, DType::kF32, device_);
  flat_grads_ = Tensor::zeros({total}, DType::kF32, device_);
  for (size_t i = 0; i < params_.size(); ++i) {
    Node& node = *params_[i].second.node();
    const Shape shape = node.value.shape();
    node.value = flat_values_.narrow(offsets_[i], shape.numel()).view(shape);
    node.grad = flat_grads_.narrow(offsets_[i], shape.numel()).view(shape);
    node.grad_owned = true;
  }
}

Var ParameterStore::find(const std::string& name) const {
  for (const auto& p : params_)
    if (p.first == name) return p.second;
  std::ostringstream known;
  for (const auto& p : params_) known << (known.tellp() > 0 ? ", " : "") << p.first;
  throw Error("unknown parameter '" + name + "'; known: " + known.str());
}

int64_t ParameterStore::offset_of(const std::string& name) const {
  V3D_CHECK(finalized(), "offset_of() before finalize()");
  for (size_t i = 0; i < params_.size(); ++i)
    if (params_[i].first == name) return offsets_[i];
  find(name);  // throws with the list of known names
  return -1;
}

int64_t ParameterStore::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : params_) n += p.second.value().numel();
  return n;
}

void ParameterStore::zero_grad() {
  V3D_CHECK(finalized(), "zero_grad() before finalize()");
  ops::fill_(flat_grads_, 0.0f);
}

}  // namespace v3d
