// Reverse-mode automatic differentiation, shaped like flashlight's Variable and small like
// micrograd: a Var is a tensor plus a shared node; differentiable ops are free functions in
// namespace v3d::ag that record a backward closure keeping only what it needs. backward() sorts
// the graph iteratively (no recursion, so deep graphs cannot overflow the stack), accumulates
// gradients with +=, and frees the graph as it goes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace v3d {

struct Node;

// Given d(loss)/d(output) and which inputs need a gradient, returns d(loss)/d(input) for those
// (undefined tensors elsewhere).
using BackwardFn =
    std::function<std::vector<Tensor>(const Tensor& d_out, const std::vector<bool>& needs)>;

struct Node {
  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  // Releases the graph behind this node iteratively, so dropping a very deep graph cannot
  // overflow the stack through nested shared_ptr destructors.
  ~Node();

  // Leaves (and results recorded without a graph) only. A result's value lives in the Vars that
  // name it and in the closures that saved it, so an intermediate that no backward closure needs
  // is freed as soon as its last Var goes, not kept until the backward pass by the graph.
  Tensor value;
  Tensor grad;              // undefined until a backward pass reaches the node
  bool grad_owned = false;  // grad may be updated in place (not shared with another node)
  bool requires_grad = false;
  bool freed = false;  // backward already ran through this node and released its closure
  std::string op = "leaf";
  std::vector<std::shared_ptr<Node>> inputs;
  BackwardFn backward;
  // Leaves only: called by a backward pass once this leaf's gradient holds every contribution of
  // that pass (its last consumer has run), before the pass goes on. A gradient all-reduce starts
  // on a parameter's bucket from here while the rest of the backward pass still runs. Not called
  // for leaves the pass does not reach.
  std::function<void()> grad_ready;
};

class Var {
 public:
  Var() = default;
  explicit Var(Tensor value, bool requires_grad = false);
  // A handle on an existing node; its value is the node's (leaves).
  explicit Var(std::shared_ptr<Node> node) : node_(std::move(node)) {}
  // An op's result: its value, held by this Var rather than by the node of its graph.
  Var(std::shared_ptr<Node> node, Tensor value)
      : node_(std::move(node)), value_(std::move(value)) {}

  bool defined() const { return node_ != nullptr; }
  const Tensor& value() const;
  const Tensor& grad() const;
  bool requires_grad() const;
  bool is_leaf() const;
  const std::string& op() const;
  const std::shared_ptr<Node>& node() const { return node_; }

  // Leaf only: gradients accumulate in place into `buffer` (same shape and device as the value).
  // This is how parameter gradients become views into one flat buffer.
  void set_grad_buffer(const Tensor& buffer);
  // Leaf only: the hook a backward pass calls once this leaf's gradient is complete (Node::
  // grad_ready); an empty function removes it.
  void set_grad_ready_hook(std::function<void()> hook);
  // Zeroes an owned gradient buffer, forgets a shared one.
  void zero_grad();
  // Overwrites the value's elements from `value` (same shape and dtype, any device), e.g. after
  // loading a checkpoint; the value tensor itself (for parameters a view into the flat buffer)
  // is kept.
  void set_value(const Tensor& value);

  // Back-propagates from this one-element value (seed 1), or with an explicit seed d_out.
  void backward() const;
  void backward(const Tensor& d_out) const;

 private:
  std::shared_ptr<Node> node_;
  Tensor value_;  // results only; a leaf's value is its node's (a parameter's is rebound there)
};

// Whether ops record graphs on this thread (true unless a NoGradGuard is alive).
bool grad_enabled();

class NoGradGuard {
 public:
  NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;
  ~NoGradGuard();

 private:
  bool previous_;
};

// For op implementations: wraps `value` as the result of `op`. A node with a backward closure is
// recorded only when grad is enabled and some input requires a gradient.
Var make_result(Tensor value, const char* op, const std::vector<Var>& inputs, BackwardFn backward);

// Adds g to the node's gradient (sharing g when the node has none yet).
void accumulate_grad(Node& node, const Tensor& g);

// Counter-based random state for dropout: each call consumes counter words, so successive masks
// differ and the whole sequence is reproducible from (seed, offset), which checkpoints store.
struct PhiloxState {
  uint64_t seed = 0;
  uint64_t offset = 0;
};

namespace ag {

Var add(const Var& a, const Var& b);
Var mul(const Var& a, const Var& b);
Var scale(const Var& x, float alpha);
Var relu(const Var& x);
// Identity when !training or p == 0; otherwise draws a mask from `rng` and advances it.
Var dropout(const Var& x, float p, bool training, PhiloxState& rng);
// dropout(relu(x), p, training, rng) in one pass, with the same result, mask and counter advance;
// keeps only its output for the backward (which the next op usually keeps too), not x.
// out kBF16: the output rounded to bfloat16 in the same pass (ops::relu_dropout_bf16_out), for a
// BF16 training convolution that keeps its input as BF16 anyway (the float32 output is never
// written); the gradient is float32 and the same as for kF32.
Var relu_dropout(const Var& x, float p, bool training, PhiloxState& rng, DType out = DType::kF32);
Var matmul(const Var& a, const Var& b, bool trans_a = false, bool trans_b = false);
Var sum(const Var& x);
Var mean(const Var& x);
// The same elements in another shape (Tensor::view, one dimension may be -1); the gradient is
// viewed back. Shares storage with x.
Var view(const Var& x, const Shape& shape);

}  // namespace ag
}  // namespace v3d
