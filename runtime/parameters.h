// All trainable parameters of a model in one flat buffer, and all their gradients in another
// (llm.c's layout): each parameter's value and gradient are views into the flat buffers, so an
// all-reduce of gradients is one call, a checkpoint one write, and the optimizer one kernel.
// Each parameter starts at a multiple of kAlign floats; the padding stays zero.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "runtime/autograd.h"

namespace v3d {

class ParameterStore {
 public:
  static constexpr int64_t kAlign = 16;  // floats: 64 bytes

  explicit ParameterStore(Device device) : device_(device) {}

  // Declares a parameter; returns its Var, whose value and gradient exist after finalize().
  // Names are unique.
  Var add(const std::string& name, const Shape& shape);
  // Allocates both flat buffers (zeroed) and points every parameter at its views.
  void finalize();
  bool finalized() const { return flat_values_.defined(); }

  const std::vector<std::pair<std::string, Var>>& parameters() const { return params_; }
  Var find(const std::string& name) const;  // throws naming the known parameters when absent
  int64_t offset_of(const std::string& name) const;  // in floats, into the flat buffers
  int64_t parameter_count() const;                   // sum of numel, padding excluded
  const Tensor& flat_values() const { return flat_values_; }
  const Tensor& flat_grads() const { return flat_grads_; }
  Device device() const { return device_; }
  void zero_grad();

 private:
  Device device_;
  std::vector<std::pair<std::string, Var>> params_;
  std::vector<int64_t> offsets_;
  Tensor flat_values_, flat_grads_;
};

}  // namespace v3d
