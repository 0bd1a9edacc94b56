// Background batch prefetching: a producer thread fills batches of a BatchSource (data/batches.h)
// ahead of the training loop, through a bounded queue of `depth` slots, and next() hands them out
// as Tensors on the target device, in exactly the order the source produces them synchronously.
//
//   CPU device: the producer writes each batch straight into freshly allocated (64-byte aligned)
//               CPU tensors; next() hands them out without a copy.
//   GPU device (CUDA or emu): each slot is a page-locked host buffer (GpuApi::malloc_host), filled
//               by the producer; next() allocates the device tensors, issues the host-to-device
//               copies on the calling thread's current stream (so they are ordered with the
//               training step that consumes them) and records an event; the producer refills the
//               slot only after that event, so copies overlap the producer's next batch.
//
// The producer runs one epoch at a time; start_epoch() and load_state() stop it, drive the source
// on the calling thread and restart it. An exception in the producer is rethrown by next() after
// the batches produced before it. The destructor stops and joins the producer.
//
// Threading: one consumer thread calls every method; the source must not be used elsewhere while
// the prefetcher owns it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "data/batches.h"
#include "runtime/device.h"
#include "runtime/tensor.h"

namespace v3d::data {

struct DeviceBatch {
  int64_t size = 0;
  Tensor inputs_2d;   // (size, RF, J_in, 2) f32 on the prefetcher's device
  Tensor targets_3d;  // (size, 1, J, 3)
};

class Prefetcher {
 public:
  static constexpr int kDefaultDepth = 4;

  Prefetcher(std::unique_ptr<BatchSource> source, Device device, int depth = kDefaultDepth);
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;
  ~Prefetcher();

  Device device() const { return device_; }
  int depth() const { return depth_; }
  int64_t num_batches() const { return source_->num_batches(); }
  // The source; read-only, since the producer may be using it.
  const BatchSource& source() const { return *source_; }

  // Starts the source's next epoch and the producer.
  void start_epoch();
  // The next batch of the epoch; false at its end. Rethrows a producer exception.
  bool next(DeviceBatch& out);

  // The source's state after the batches handed out so far (not those prefetched ahead), so a
  // checkpoint taken mid-epoch resumes at the next batch the consumer would have seen.
  std::string save_state() const;
  // Loads a source state and, mid-epoch, restarts the producer at its cursor.
  void load_state(const std::string& state);

 private:
  struct Slot {
    float* inputs = nullptr;   // pinned (max_batch, RF, J_in, 2), GPU devices only
    float* targets = nullptr;  // pinned (max_batch, 1, J, 3)
    void* copied = nullptr;    // event: the last copies out of this slot were issued before it
    bool copy_pending = false;
  };
  struct Ready {
    int slot = -1;
    int64_t size = 0;        // 0: end of epoch
    Tensor inputs, targets;  // CPU device: the batch itself
    std::exception_ptr error;
  };

  void launch();
  void stop();
  void produce();

  std::unique_ptr<BatchSource> source_;
  Device device_;
  int depth_;
  int64_t input_floats_ = 0, target_floats_ = 0;  // per window
  std::vector<Slot> slots_;

  std::mutex mutex_;
  std::condition_variable slot_free_, batch_ready_;
  std::deque<int> free_;
  std::deque<Ready> ready_;
  std::vector<Tensor> retired_;  // CPU batches handed back by next(), freed by the producer
  bool stopping_ = false;
  std::thread producer_;

  bool epoch_over_ = false;
  std::exception_ptr error_;  // rethrown by every next() once seen
  int64_t consumed_ = 0;      // batches handed out in the current epoch
};

}  // namespace v3d::data
