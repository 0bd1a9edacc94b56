// The autograd engine and the differentiable ops.
#include "runtime/autograd.h"

#include <unordered_map>
#include <unordered_set>

#include "kernels/dropout.h"
#include "runtime/ops.h"

namespace v3d {

namespace {
thread_local bool t_grad_enabled = true;
}  // namespace

bool grad_enabled() { return t_grad_enabled; }

NoGradGuard::NoGradGuard() : previous_(t_grad_enabled) { t_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { t_grad_enabled = previous_; }

Node::~Node() {
  std::vector<std::shared_ptr<Node>> pending = std::move(inputs);
  while (!pending.empty()) {
    std::shared_ptr<Node> n = std::move(pending.back());
    pending.pop_back();
    if (n.use_count() == 1) {
      // Last owner: take its inputs before it is destroyed, so its destructor has none.
      for (auto& in : n->inputs) pending.push_back(std::move(in));
      n->inputs.clear();
    }
  }
}

Var::Var(Tensor value, bool requires_grad) : node_(std::make_shared<Node>()) {
  node_->value = std::move(value);
  node_->requires_grad = requires_grad;
}

const Tensor& Var::value() const {
  V3D_CHECK(defined(), "value() of an undefined Var");
  return value_.defined() ? value_ : node_->value;
}

const Tensor& Var::grad() const {
  V3D_CHECK(defined(), "grad() of an undefined Var");
  return node_->grad;
}

bool Var::requires_grad() const { return defined() && node_->requires_grad; }
bool Var::is_leaf() const { return defined() && node_->op == "leaf"; }

const std::string& Var::op() const {
  V3D_CHECK(defined(), "op() of an undefined Var");
  return node_->op;
}

void Var::set_grad_buffer(const Tensor& buffer) {
  V3D_CHECK(is_leaf(), "only leaves take a gradient buffer");
  check_tensor(buffer, "gradient buffer", node_->value.device(), node_->value.shape());
  node_->grad = buffer;
  node_->grad_owned = true;
}

void Var::set_grad_ready_hook(std::function<void()> hook) {
  V3D_CHECK(is_leaf(), "only leaves take a gradient-ready hook");
  node_->grad_ready = std::move(hook);
}

void Var::zero_grad() {
  V3D_CHECK(defined(), "zero_grad() of an undefined Var");
  if (node_->grad.defined() && node_->grad_owned) {
    ops::fill_(node_->grad, 0.0f);
  } else {
    node_->grad = Tensor();
  }
}

void Var::set_value(const Tensor& value) {
  V3D_CHECK(defined(), "set_value() of an undefined Var");
  // Any device: a checkpoint is read on the host and copied to the value's device.
  check_tensor(value, "set_value", value.defined() ? value.device() : Device::cpu(),
               this->value().shape(), this->value().dtype());
  // Copy rather than rebind: a parameter's value is a view into its store's flat buffer.
  this->value().copy_from(value);
}

void accumulate_grad(Node& node, const Tensor& g) {
  if (!node.grad.defined()) {
    node.grad = g;
    node.grad_owned = false;
  } else if (!node.grad_owned) {
    node.grad = ops::add(node.grad, g);
    node.grad_owned = true;
  } else {
    ops::add_out(node.grad, g, node.grad);
  }
}

namespace {

// Nodes reachable from root through nodes that require gradients, parents after all of their
// inputs (post-order), computed with an explicit stack. The order holds owning pointers because
// the backward pass releases each node's inputs as it goes.
std::vector<std::shared_ptr<Node>> topological_order(const std::shared_ptr<Node>& root) {
  std::vector<std::shared_ptr<Node>> order;
  std::unordered_set<Node*> visited;
  std::vector<std::pair<Node*, size_t>> stack;  // node, index of the next input to visit
  std::vector<std::shared_ptr<Node>> owners;    // parallel to stack
  stack.emplace_back(root.get(), 0);
  owners.push_back(root);
  visited.insert(root.get());
  while (!stack.empty()) {
    Node* node = stack.back().first;
    const size_t next = stack.back().second;
    if (next < node->inputs.size()) {
      ++stack.back().second;
      const std::shared_ptr<Node>& in = node->inputs[next];
      if (in->requires_grad && visited.insert(in.get()).second) {
        stack.emplace_back(in.get(), 0);
        owners.push_back(in);
      }
    } else {
      order.push_back(std::move(owners.back()));
      owners.pop_back();
      stack.pop_back();
    }
  }
  return order;
}

}  // namespace

void Var::backward() const {
  V3D_CHECK(defined(), "backward() of an undefined Var");
  const Tensor& v = value();
  V3D_CHECK(v.numel() == 1, "backward() without a seed needs a one-element value, got " << v.str());
  Tensor seed = Tensor::empty(v.shape(), DType::kF32, v.device());
  ops::fill_(seed, 1.0f);
  backward(seed);
}

void Var::backward(const Tensor& d_out) const {
  V3D_CHECK(defined(), "backward() of an undefined Var");
  V3D_CHECK(node_->requires_grad, "backward() of a value that does not require a gradient");
  V3D_CHECK(!node_->freed, "backward() through a graph that was already freed by a backward pass");
  check_tensor(d_out, "backward seed", value().device(), value().shape());
  const std::vector<std::shared_ptr<Node>> order = topological_order(node_);
  // A freed intermediate would otherwise pass for a leaf and silently stop the gradient there.
  for (const auto& n : order)
    V3D_CHECK(!n->freed, "backward() through a '"
                             << n->op << "' result whose graph a previous backward pass freed");
  // Leaves with a gradient-ready hook: how many consumers (edges from nodes of this pass) have
  // still to run before the leaf's gradient is complete.
  std::unordered_map<Node*, int> consumers_left;
  for (const auto& n : order) {
    if (!n->backward) continue;
    for (const auto& in : n->inputs)
      if (in->requires_grad && in->grad_ready) ++consumers_left[in.get()];
  }
  accumulate_grad(*node_, d_out);
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* node = it->get();
    if (!node->backward) continue;  // a leaf
    if (node->grad.defined()) {
      std::vector<bool> needs(node->inputs.size());
      for (size_t i = 0; i < needs.size(); ++i) needs[i] = node->inputs[i]->requires_grad;
      std::vector<Tensor> grads = node->backward(node->grad, needs);
      V3D_CHECK(grads.size() == node->inputs.size(), node->op << " backward returned "
                                                              << grads.size() << " gradients for "
                                                              << node->inputs.size() << " inputs");
      for (size_t i = 0; i < grads.size(); ++i)
        if (needs[i] && grads[i].defined()) accumulate_grad(*node->inputs[i], grads[i]);
    }
    if (!consumers_left.empty()) {
      for (const auto& in : node->inputs) {
        const auto left = consumers_left.find(in.get());
        if (left != consumers_left.end() && --left->second == 0) in->grad_ready();
      }
    }
    // Free the graph behind us: closures hold saved tensors, and intermediate gradients are
    // not needed once propagated.
    node->backward = nullptr;
    node->inputs.clear();
    node->grad = Tensor();
    node->freed = true;
  }
}

Var make_result(Tensor value, const char* op, const std::vector<Var>& inputs, BackwardFn backward) {
  auto node = std::make_shared<Node>();
  node->op = op;
  bool any = false;
  for (const Var& v : inputs) any = any || v.requires_grad();
  if (grad_enabled() && any) {
    node->requires_grad = true;
    node->backward = std::move(backward);
    node->inputs.reserve(inputs.size());
    for (const Var& v : inputs) node->inputs.push_back(v.node());
  } else {
    node->value = value;  // no graph: the node is all there is
  }
  return Var(std::move(node), std::move(value));
}

namespace ag {

Var add(const Var& a, const Var& b) {
  return make_result(ops::add(a.value(), b.value()), "add", {a, b},
                     [](const Tensor& d, const std::vector<bool>&) {
                       return std::vector<Tensor>{d, d};
                     });
}

Var mul(const Var& a, const Var& b) {
  Tensor av = a.value(), bv = b.value();
  return make_result(ops::mul(av, bv), "mul", {a, b},
                     [av, bv](const Tensor& d, const std::vector<bool>& needs) {
                       return std::vector<Tensor>{needs[0] ? ops::mul(d, bv) : Tensor(),
                                                  needs[1] ? ops::mul(d, av) : Tensor()};
                     });
}

Var scale(const Var& x, float alpha) {
  return make_result(ops::scale(x.value(), alpha), "scale", {x},
                     [alpha](const Tensor& d, const std::vector<bool>&) {
                       return std::vector<Tensor>{ops::scale(d, alpha)};
                     });
}

Var relu(const Var& x) {
  // The output stands in for the input (y > 0 exactly where x > 0), so a caller's input that no
  // other closure keeps is freed.
  const Tensor y = ops::relu(x.value());
  return make_result(y, "relu", {x}, [y](const Tensor& d, const std::vector<bool>&) {
    Tensor dx = Tensor::empty(y.shape(), DType::kF32, y.device());
    ops::relu_bwd_out(y, d, dx);
    return std::vector<Tensor>{dx};
  });
}

Var dropout(const Var& x, float p, bool training, PhiloxState& rng) {
  V3D_CHECK(p >= 0.0f && p < 1.0f, "dropout probability must be in [0, 1), got " << p);
  if (!training || p == 0.0f) return x;
  const Tensor& xv = x.value();
  const uint64_t seed = rng.seed, offset = rng.offset;
  rng.offset += kernels::dropout_counter_advance(xv.numel());
  Tensor y = Tensor::empty(xv.shape(), DType::kF32, xv.device());
  ops::dropout_out(xv, y, p, seed, offset);
  return make_result(y, "dropout", {x},
                     [p, seed, offset](const Tensor& d, const std::vector<bool>&) {
                       Tensor dx = Tensor::empty(d.shape(), DType::kF32, d.device());
                       ops::dropout_bwd_out(d, dx, p, seed, offset);
                       return std::vector<Tensor>{dx};
                     });
}

Var relu_dropout(const Var& x, float p, bool training, PhiloxState& rng, DType out) {
  V3D_CHECK(p >= 0.0f && p < 1.0f, "dropout probability must be in [0, 1), got " << p);
  V3D_CHECK(out == DType::kF32 || out == DType::kBF16,
            "relu_dropout: the output is f32 or bf16, not " << dtype_name(out));
  if (out == DType::kF32 && (!training || p == 0.0f)) return relu(x);
  Tensor xv = x.value();
  uint64_t seed = 0, offset = 0;
  if (!training) {
    p = 0.0f;  // relu alone: every element kept, scale 1, no mask drawn
  } else if (p > 0.0f) {
    seed = rng.seed, offset = rng.offset;
    rng.offset += kernels::dropout_counter_advance(xv.numel());
  }
  Tensor y = Tensor::empty(xv.shape(), out, xv.device());
  if (out == DType::kBF16)
    ops::relu_dropout_bf16_out(xv, y, p, seed, offset);
  else
    ops::relu_dropout_out(xv, y, p, seed, offset);
  // A float32 output stands in for the input: y > 0 exactly where the element is kept and x > 0
  // (x * scale with scale >= 1 cannot round to 0), so the backward gives the same d_x from it, and
  // y is what the next convolution keeps anyway: the input (batch norm's output) is freed. A BF16
  // output could round a positive value below 2^-134 to 0, so that form keeps x.
  const Tensor saved = out == DType::kF32 ? y : xv;
  return make_result(y, "relu_dropout", {x},
                     [saved, p, seed, offset](const Tensor& d, const std::vector<bool>&) {
                       Tensor dx = Tensor::empty(d.shape(), DType::kF32, d.device());
                       ops::relu_dropout_bwd_out(saved, d, dx, p, seed, offset);
                       return std::vector<Tensor>{dx};
                     });
}

Var matmul(const Var& a, const Var& b, bool trans_a, bool trans_b) {
  Tensor av = a.value(), bv = b.value();
  // C = op(A) op(B); the gradients are products of d_C with the other operand, arranged so that
  // each comes out in its operand's stored layout.
  return make_result(
      ops::matmul(av, bv, trans_a, trans_b), "matmul", {a, b},
      [av, bv, trans_a, trans_b](const Tensor& d, const std::vector<bool>& needs) {
        Tensor da, db;
        if (needs[0])
          da = trans_a ? ops::matmul(bv, d, trans_b, true) : ops::matmul(d, bv, false, !trans_b);
        if (needs[1])
          db = trans_b ? ops::matmul(d, av, true, trans_a) : ops::matmul(av, d, !trans_a, false);
        return std::vector<Tensor>{da, db};
      });
}

namespace {
Var reduce(const Var& x, float alpha, const char* op) {
  Tensor xv = x.value();
  Tensor y = Tensor::empty({}, DType::kF32, xv.device());
  ops::sum_out(xv, y, alpha);
  const Shape shape = xv.shape();
  const Device device = xv.device();
  return make_result(y, op, {x}, [shape, device, alpha](const Tensor& d, const std::vector<bool>&) {
    Tensor dx = Tensor::empty(shape, DType::kF32, device);
    ops::broadcast_out(d, alpha, dx);
    return std::vector<Tensor>{dx};
  });
}
}  // namespace

Var sum(const Var& x) { return reduce(x, 1.0f, "sum"); }

Var mean(const Var& x) {
  V3D_CHECK(x.value().numel() > 0, "mean of an empty tensor " << x.value().str());
  return reduce(x, 1.0f / static_cast<float>(x.value().numel()), "mean");
}

Var view(const Var& x, const Shape& shape) {
  const Shape from = x.value().shape();
  return make_result(x.value().view(shape), "view", {x},
                     [from](const Tensor& d, const std::vector<bool>&) {
                       return std::vector<Tensor>{d.view(from)};
                     });
}

}  // namespace ag
}  // namespace v3d
