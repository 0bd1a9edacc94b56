// A team of threads for short parallel loops on a latency path (the stream's products: a fraction
// of a millisecond each, a frame every 20 ms). An idle member polls for the next job for a while
// (`spin`) before it sleeps, so that a frame does not wait for its helpers to be woken: under a
// hypervisor a wake-up can take milliseconds, and OpenMP's teams sleep or poll by an environment
// variable read once at start (OMP_WAIT_POLICY, GOMP_SPINCOUNT), not per use. The price is a core
// kept busy while the team polls.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace v3d {

class SpinTeam {
 public:
  // size: the members, the caller included (1: no threads, run calls f itself); spin: how long an
  // idle member polls before it sleeps until the next job (0: at once).
  SpinTeam(int size, std::chrono::microseconds spin);
  ~SpinTeam();
  SpinTeam(const SpinTeam&) = delete;
  SpinTeam& operator=(const SpinTeam&) = delete;

  int size() const { return size_; }
  std::chrono::microseconds spin() const { return spin_; }

  // f(part) for part = 0 .. size() - 1, part 0 on the calling thread; returns when every part has
  // returned, rethrowing the first exception one threw. One caller at a time.
  template <class F>
  void run(F&& f) {
    using Fn = std::remove_reference_t<F>;
    run_erased([](void* c, int part) { (*static_cast<Fn*>(c))(part); }, &f);
  }

  // f(begin, end) over 0 .. count cut into about 4 ranges per member, each member taking the next
  // range until none is left: a member slowed down (by the memory it shares, or by another
  // process on its core) takes fewer, where a fixed split would make the others wait for it.
  template <class F>
  void parallel_for(int64_t count, F&& f) {
    if (size_ == 1 || count <= 1) {
      if (count > 0) f(int64_t{0}, count);
      return;
    }
    const int64_t grain = std::max<int64_t>(1, count / (4 * int64_t{size_}));
    std::atomic<int64_t> next{0};
    run([&](int) {
      for (;;) {
        const int64_t b = next.fetch_add(grain, std::memory_order_relaxed);
        if (b >= count) return;
        f(b, std::min(count, b + grain));
      }
    });
  }

 private:
  void run_erased(void (*fn)(void*, int), void* ctx);
  void work(int part);

  const int size_;
  const std::chrono::microseconds spin_;
  std::vector<std::thread> threads_;
  std::atomic<uint64_t> epoch_{0};  // bumped per job (and at the end)
  std::atomic<int> pending_{0};     // members still in the job
  std::atomic<bool> stop_{false};
  void (*fn_)(void*, int) = nullptr;  // the job, written before epoch_ is bumped
  void* ctx_ = nullptr;
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

}  // namespace v3d
