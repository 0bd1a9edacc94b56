// GradientBuckets (runtime/grad_buckets.h).
#include "runtime/grad_buckets.h"

#include <algorithm>

namespace v3d {

GradientBuckets::GradientBuckets(ParameterStore& params, Communicator& comm, int64_t bucket_bytes)
    : params_(params), comm_(comm) {
  V3D_CHECK(params.finalized(), "GradientBuckets over a parameter store before finalize()");
  V3D_CHECK(bucket_bytes >= 0, "gradient bucket size " << bucket_bytes << " bytes");
  const auto& ps = params.parameters();
  const int64_t total = params.flat_grads().numel();
  const int64_t cap = bucket_bytes / static_cast<int64_t>(sizeof(float));
  bucket_of_.resize(ps.size());
  int64_t end = total;  // each parameter owns [its offset, the next one's): padding included
  for (size_t i = ps.size(); i-- > 0;) {
    const int64_t offset = params.offset_of(ps[i].first);
    const int64_t span = end - offset;
    if (buckets_.empty() ||
        (bucket_bytes > 0 && buckets_.back().numel + span > std::max<int64_t>(cap, 1))) {
      buckets_.push_back(Bucket{offset + span, 0, {}});
    }
    Bucket& b = buckets_.back();
    b.offset = offset;
    b.numel += span;
    b.parameters.push_back(i);
    bucket_of_[i] = buckets_.size() - 1;
    end = offset;
  }
  // The first parameters start at offset 0; anything before (nothing today) would be unreduced.
  V3D_CHECK(ps.empty() || end == 0, "the parameter store's first offset is " << end);
  waiting_.assign(buckets_.size(), 0);
  complete_.assign(ps.size(), 0);
  for (size_t i = 0; i < ps.size(); ++i) {
    Var v = ps[i].second;
    v.set_grad_ready_hook([this, i] { on_ready(i); });
  }
}

GradientBuckets::~GradientBuckets() {
  for (const auto& p : params_.parameters()) {
    Var v = p.second;
    v.set_grad_ready_hook({});
  }
}

void GradientBuckets::begin() {
  V3D_CHECK(!active_, "GradientBuckets::begin() twice without finish()");
  for (size_t b = 0; b < buckets_.size(); ++b)
    waiting_[b] = static_cast<int64_t>(buckets_[b].parameters.size());
  std::fill(complete_.begin(), complete_.end(), 0);
  next_ = 0;
  active_ = true;
}

void GradientBuckets::on_ready(size_t parameter) {
  if (!active_) return;
  // A second backward pass would add to gradients whose reduction may have started.
  V3D_CHECK(!complete_[parameter], "parameter '" << params_.parameters()[parameter].first
                                                 << "' completed twice between begin() and "
                                                    "finish(): one backward pass per step");
  complete_[parameter] = 1;
  --waiting_[bucket_of_[parameter]];
  start_ready_buckets();
}

void GradientBuckets::start_ready_buckets() {
  while (next_ < buckets_.size() && waiting_[next_] == 0) {
    const Bucket& b = buckets_[next_++];
    comm_.start_all_reduce_sum(params_.flat_grads().narrow(b.offset, b.numel));
  }
}

void GradientBuckets::finish() {
  V3D_CHECK(active_, "GradientBuckets::finish() without begin()");
  active_ = false;
  std::fill(waiting_.begin(), waiting_.end(), 0);
  start_ready_buckets();
  comm_.wait_all_reduces();
}

}  // namespace v3d
