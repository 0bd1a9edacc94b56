// The gradient all-reduce of data-parallel training, in buckets started during the backward pass
// (PyTorch DDP's reducer, in small). The flat gradient buffer (runtime/parameters.h) is cut into
// contiguous buckets, last parameters first: parameters declared late (in the model's layout, the
// batch norms and the later blocks) tend to complete early in a backward pass. Each parameter's
// autograd leaf gets a gradient-ready hook; once every parameter of a bucket is complete, the
// bucket's all-reduce starts (Communicator:: start_all_reduce_sum): on GPUs with NCCL it runs on
// the communicator's own stream while the backward pass goes on queueing the earlier layers'
// kernels. Buckets start strictly in order, so every rank issues the same collectives in the same
// sequence whatever order its hooks fire in.
//
// The sums are the unbucketed all-reduce's, bit for bit: every communicator adds elementwise, so
// where the buffer is cut does not change any element's sum.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/communicator.h"
#include "runtime/parameters.h"

namespace v3d {

class GradientBuckets {
 public:
  struct Bucket {
    int64_t offset = 0;              // floats into the flat gradient buffer
    int64_t numel = 0;               // floats, the parameters' alignment padding included
    std::vector<size_t> parameters;  // indices into ParameterStore::parameters(), descending
  };

  // bucket_bytes: a bucket takes parameters (last first) while it stays within this size; a
  // parameter larger than it gets a bucket of its own. 0: the whole buffer is one bucket, reduced
  // after the backward pass. `params` must be finalized; both must outlive this object.
  GradientBuckets(ParameterStore& params, Communicator& comm, int64_t bucket_bytes);
  // Removes the hooks.
  ~GradientBuckets();
  GradientBuckets(const GradientBuckets&) = delete;
  GradientBuckets& operator=(const GradientBuckets&) = delete;

  // Call before the step's one backward pass; the hooks do nothing outside begin() ... finish().
  void begin();
  // After the backward pass: starts the buckets still waiting (parameters the pass did not reach
  // keep their zeroed or earlier gradient, as in the unbucketed all-reduce), then returns once
  // every bucket holds the sum over the ranks.
  void finish();

  const std::vector<Bucket>& buckets() const { return buckets_; }

 private:
  void on_ready(size_t parameter);
  void start_ready_buckets();

  ParameterStore& params_;
  Communicator& comm_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_;  // per parameter
  std::vector<int64_t> waiting_;   // per bucket: parameters not complete yet
  std::vector<char> complete_;     // per parameter, this step
  size_t next_ = 0;                // the first bucket not started this step
  bool active_ = false;
};

}  // namespace v3d
