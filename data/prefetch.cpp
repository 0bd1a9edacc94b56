// Background batch prefetching into pinned host memory (contract: data/prefetch.h).
#include "data/prefetch.h"

#include "runtime/gpu_api.h"
#include "runtime/stream.h"

namespace v3d::data {

namespace {
int64_t product(const std::array<int64_t, 3>& dims) { return dims[0] * dims[1] * dims[2]; }
}  // namespace

Prefetcher::Prefetcher(std::unique_ptr<BatchSource> source, Device device, int depth)
    : source_(std::move(source)), device_(device), depth_(depth) {
  V3D_CHECK(source_ != nullptr, "Prefetcher: no batch source");
  V3D_CHECK(depth_ >= 1, "Prefetcher: depth must be >= 1, got " << depth_);
  V3D_CHECK(source_->max_batch() >= 1, "Prefetcher: the source's batch size must be >= 1");
  input_floats_ = product(source_->input_window_shape());
  target_floats_ = product(source_->target_window_shape());
  slots_.resize(static_cast<size_t>(depth_));
  if (device_.is_gpu()) {
    const DeviceGuard guard(device_);
    GpuApi& api = gpu_api(device_.gpu_kind());
    const size_t in_bytes =
        sizeof(float) * static_cast<size_t>(source_->max_batch() * input_floats_);
    const size_t out_bytes =
        sizeof(float) * static_cast<size_t>(source_->max_batch() * target_floats_);
    for (Slot& s : slots_) {
      s.inputs = static_cast<float*>(api.malloc_host(in_bytes));
      s.targets = static_cast<float*>(api.malloc_host(out_bytes));
      V3D_CHECK(s.inputs != nullptr && s.targets != nullptr,
                "Prefetcher: out of page-locked host memory for "
                    << depth_ << " slots of " << in_bytes + out_bytes << " bytes");
      s.copied = api.event_create();
    }
  }
  for (int i = 0; i < depth_; ++i) free_.push_back(i);
}

Prefetcher::~Prefetcher() {
  stop();
  if (device_.is_gpu()) {
    const DeviceGuard guard(device_);
    GpuApi& api = gpu_api(device_.gpu_kind());
    for (Slot& s : slots_) {
      // The last copies out of a slot may still be in flight on the consumer's stream.
      if (s.copy_pending) api.event_synchronize(s.copied);
      if (s.copied != nullptr) api.event_destroy(s.copied);
      if (s.inputs != nullptr) api.free_host(s.inputs);
      if (s.targets != nullptr) api.free_host(s.targets);
    }
  }
}

void Prefetcher::launch() {
  epoch_over_ = false;
  error_ = nullptr;
  producer_ = std::thread(&Prefetcher::produce, this);
}

void Prefetcher::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  slot_free_.notify_all();
  if (producer_.joinable()) producer_.join();
  // Batches prefetched but not handed out are dropped: the source will be re-driven from the
  // consumer's position.
  ready_.clear();
  retired_.clear();
  free_.clear();
  for (int i = 0; i < depth_; ++i) free_.push_back(i);
  stopping_ = false;
}

void Prefetcher::produce() {
  const int64_t max_batch = source_->max_batch();
  const auto in_shape = source_->input_window_shape();
  const auto out_shape = source_->target_window_shape();
  try {
    for (;;) {
      int slot = -1;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        slot_free_.wait(lock, [&] { return stopping_ || !free_.empty(); });
        if (stopping_) return;
        slot = free_.front();
        free_.pop_front();
      }
      {
        // Frees the batches the consumer handed back here, off its thread (a large CPU batch is
        // an munmap of tens of MB).
        std::vector<Tensor> retired;
        {
          std::lock_guard<std::mutex> lock(mutex_);
          retired.swap(retired_);
        }
      }
      Ready r;
      r.slot = slot;
      float* inputs = nullptr;
      float* targets = nullptr;
      if (device_.is_cpu()) {
        // A fresh tensor per batch: the consumer may keep a batch as long as it likes.
        r.inputs = Tensor::empty({max_batch, in_shape[0], in_shape[1], in_shape[2]});
        r.targets = Tensor::empty({max_batch, out_shape[0], out_shape[1], out_shape[2]});
        inputs = r.inputs.f32();
        targets = r.targets.f32();
      } else {
        Slot& s = slots_[static_cast<size_t>(slot)];
        // The consumer's copies out of this slot must have finished before it is overwritten.
        if (s.copy_pending) {
          const DeviceGuard guard(device_);
          gpu_api(device_.gpu_kind()).event_synchronize(s.copied);
        }
        s.copy_pending = false;
        inputs = s.inputs;
        targets = s.targets;
      }
      r.size = source_->fill_next(inputs, targets);
      const bool end = r.size == 0;
      if (device_.is_cpu() && r.size > 0 && r.size < max_batch) {
        r.inputs = r.inputs.narrow(0, r.size);
        r.targets = r.targets.narrow(0, r.size);
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ready_.push_back(std::move(r));
      }
      batch_ready_.notify_one();
      if (end) return;
    }
  } catch (...) {
    Ready r;
    r.error = std::current_exception();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.push_back(std::move(r));
    }
    batch_ready_.notify_one();
  }
}

void Prefetcher::start_epoch() {
  stop();
  source_->start_epoch();
  consumed_ = 0;
  launch();
}

bool Prefetcher::next(DeviceBatch& out) {
  if (error_) std::rethrow_exception(error_);
  V3D_CHECK(producer_.joinable(), "Prefetcher: next() before start_epoch()");
  if (epoch_over_) return false;
  Ready r;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    batch_ready_.wait(lock, [&] { return !ready_.empty(); });
    r = std::move(ready_.front());
    ready_.pop_front();
  }
  if (r.error) {
    error_ = r.error;
    std::rethrow_exception(error_);
  }
  if (device_.is_cpu()) {
    // The previous batch in `out` is released by the producer (see produce()).
    std::lock_guard<std::mutex> lock(mutex_);
    if (out.inputs_2d.defined()) retired_.push_back(std::move(out.inputs_2d));
    if (out.targets_3d.defined()) retired_.push_back(std::move(out.targets_3d));
  }
  if (r.size > 0) {
    out.size = r.size;
    if (device_.is_cpu()) {
      out.inputs_2d = std::move(r.inputs);
      out.targets_3d = std::move(r.targets);
    } else {
      const auto in_shape = source_->input_window_shape();
      const auto out_shape = source_->target_window_shape();
      out.inputs_2d =
          Tensor::empty({r.size, in_shape[0], in_shape[1], in_shape[2]}, DType::kF32, device_);
      out.targets_3d =
          Tensor::empty({r.size, out_shape[0], out_shape[1], out_shape[2]}, DType::kF32, device_);
      const DeviceGuard guard(device_);
      GpuApi& api = gpu_api(device_.gpu_kind());
      const kernels::StreamHandle stream = current_stream(device_);
      Slot& s = slots_[static_cast<size_t>(r.slot)];
      api.copy(out.inputs_2d.raw(), s.inputs, out.inputs_2d.nbytes(), CopyDir::kHostToDevice,
               stream);
      api.copy(out.targets_3d.raw(), s.targets, out.targets_3d.nbytes(), CopyDir::kHostToDevice,
               stream);
      api.event_record(s.copied, stream);
      s.copy_pending = true;
    }
    ++consumed_;
  } else {
    epoch_over_ = true;
    out = DeviceBatch{};
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(r.slot);
  }
  slot_free_.notify_one();
  return r.size > 0;
}

std::string Prefetcher::save_state() const { return source_->save_state_at(consumed_); }

void Prefetcher::load_state(const std::string& state) {
  stop();
  source_->load_state(state);
  consumed_ = source_->batches_done();
  launch();
}

}  // namespace v3d::data
