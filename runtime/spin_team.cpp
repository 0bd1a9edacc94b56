// A polling thread team (runtime/spin_team.h).
#include "runtime/spin_team.h"

#include "kernels/common.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace v3d {

namespace {

// A hint to the core that this thread is polling (x86's PAUSE: less power, and a sibling
// hyperthread gets the pipeline).
inline void relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

}  // namespace

SpinTeam::SpinTeam(int size, std::chrono::microseconds spin) : size_(size), spin_(spin) {
  V3D_CHECK(size >= 1, "SpinTeam: " << size << " members");
  V3D_CHECK(spin.count() >= 0, "SpinTeam: spin of " << spin.count() << " us");
  threads_.reserve(static_cast<size_t>(size - 1));
  for (int part = 1; part < size; ++part) threads_.emplace_back([this, part] { work(part); });
}

SpinTeam::~SpinTeam() {
  stop_.store(true, std::memory_order_relaxed);
  epoch_.fetch_add(1, std::memory_order_release);
  epoch_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void SpinTeam::run_erased(void (*fn)(void*, int), void* ctx) {
  if (size_ == 1) {
    fn(ctx, 0);
    return;
  }
  fn_ = fn;
  ctx_ = ctx;
  error_ = nullptr;
  pending_.store(size_ - 1, std::memory_order_relaxed);
  epoch_.fetch_add(1, std::memory_order_release);  // publishes fn_, ctx_ and pending_
  epoch_.notify_all();  // for sleeping members; no system call when none sleeps
  std::exception_ptr mine;
  try {
    fn(ctx, 0);
  } catch (...) {
    mine = std::current_exception();
  }
  while (pending_.load(std::memory_order_acquire) != 0) relax();
  if (mine) std::rethrow_exception(mine);
  if (error_) std::rethrow_exception(error_);
}

void SpinTeam::work(int part) {
  using Clock = std::chrono::steady_clock;
  uint64_t seen = 0;
  Clock::time_point idle_since = Clock::now();
  for (;;) {
    uint64_t e = epoch_.load(std::memory_order_acquire);
    for (uint32_t polls = 1; e == seen; ++polls) {
      relax();
      // The clock read every 256 polls (a few microseconds): past the spin, sleep until the
      // epoch moves (wait returns at once if it already has).
      if (polls % 256 == 0 && Clock::now() - idle_since >= spin_)
        epoch_.wait(seen, std::memory_order_acquire);
      e = epoch_.load(std::memory_order_acquire);
    }
    seen = e;
    if (stop_.load(std::memory_order_relaxed)) return;
    try {
      fn_(ctx_, part);
    } catch (...) {
      const std::lock_guard<std::mutex> lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
    }
    idle_since = Clock::now();
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace v3d
