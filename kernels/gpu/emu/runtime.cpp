// The emulator's scheduler: fibers with pooled guard-paged stacks, the counting block barrier,
// warp-collective rendezvous and their resolution, launch checks and fault reports.
#include "kernels/gpu/emu/runtime.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/context/fiber.hpp>
#include <boost/context/stack_context.hpp>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <numeric>
#include <random>
#include <sstream>
#include <vector>

#include "kernels/gpu/emu/host_api.h"

namespace cuemu {

namespace detail {
// Defined in host_api.cpp.
size_t max_dynamic_smem(const void* kernel_key);
bool is_valid_stream(const void* stream);
}  // namespace detail

namespace {

namespace bctx = boost::context;
using detail::LaunchSpec;

constexpr unsigned kMaxThreads = 1024;
constexpr size_t kCanaryBytes = 64;
constexpr size_t kMaxParamBytes = 4096;

// Misuse detected inside a lane (as opposed to an exception thrown by kernel code).
class UsageError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

enum class LaneState : uint8_t { kRun, kBarrier, kWarp, kDone };

struct Lane {
  bctx::fiber fiber;  // the lane while it is suspended
  bctx::fiber sched;  // the scheduler while the lane runs
  uint3 tid{};
  unsigned linear = 0;
  LaneState state = LaneState::kDone;
  // Where and in what the lane waits.
  const char* file = "";
  unsigned line = 0;
  CollectiveOp op = CollectiveOp::kSyncWarp;
  BarrierOp bar_op = BarrierOp::kSync;
  uint32_t mask = 0;
  int width = 32;
  int param = 0;
  uint64_t value = 0;
  // Written by the scheduler when the rendezvous resolves; read only by this lane.
  uint64_t result = 0;
  uint32_t extra = 0;
  std::exception_ptr error;
};

size_t page_size() {
  static const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

size_t stack_bytes() {
  static const size_t bytes = [] {
    size_t kb = 64;
    if (const char* env = std::getenv("CUEMU_STACK_KB")) {
      const long v = std::atol(env);
      if (v >= 16) kb = static_cast<size_t>(v);
    }
    const size_t page = page_size();
    return (kb * 1024 + page - 1) / page * page;
  }();
  return bytes;
}

// Stacks are mapped once per OS thread and reused across blocks and launches: mapping and
// protecting a fresh stack per lane made a 100k-thread reduction 40x slower. The lowest page is
// a guard, so a stack overflow is a SIGSEGV instead of silent corruption.
class StackPool {
 public:
  StackPool() : usable_(stack_bytes()), mapped_(usable_ + page_size()) {
    free_.reserve(kMaxThreads);
  }
  ~StackPool() {
    for (void* base : free_) munmap(base, mapped_);
  }
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;

  bctx::stack_context allocate() {
    void* base = nullptr;
    if (!free_.empty()) {
      base = free_.back();
      free_.pop_back();
    } else {
      base = mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (base == MAP_FAILED) throw std::bad_alloc();
      if (mprotect(base, page_size(), PROT_NONE) != 0) {
        munmap(base, mapped_);
        throw std::bad_alloc();
      }
    }
    bctx::stack_context sc;
    sc.size = usable_;
    sc.sp = static_cast<char*>(base) + mapped_;
    return sc;
  }
  void release(bctx::stack_context& sc) noexcept {
    // Capacity was reserved for every stack that can be live at once, so this cannot throw.
    free_.push_back(static_cast<char*>(sc.sp) - mapped_);
  }

 private:
  size_t usable_;
  size_t mapped_;
  std::vector<void*> free_;
};

struct PooledStack {
  StackPool* pool;
  bctx::stack_context allocate() { return pool->allocate(); }
  void deallocate(bctx::stack_context& sc) noexcept { pool->release(sc); }
};

// Per-OS-thread state of the running launch.
struct Executor {
  StackPool stacks;
  std::unique_ptr<Lane[]> lanes = std::make_unique<Lane[]>(kMaxThreads);
  unsigned nlanes = 0;
  unsigned warp_waiting = 0;  // lanes currently at a warp collective
  Lane* current = nullptr;
  const LaunchSpec* spec = nullptr;
  std::byte* smem = nullptr;
  size_t smem_capacity = 0;
  std::vector<unsigned> order;
  std::mt19937_64 rng;
  uint64_t launch_index = 0;
  uint64_t block_serial = 0;  // blocks run on this OS thread, the running one included
  // Static shared memory the running block declared so far: (start, bytes).
  std::vector<std::pair<std::byte*, size_t>> static_shared;

  ~Executor() { std::free(smem); }
};

Executor& executor() {
  thread_local Executor ex;
  return ex;
}

uint64_t seed_from_env() {
  const char* env = std::getenv("CUEMU_SEED");
  return env ? std::strtoull(env, nullptr, 10) : 0;
}
std::atomic<uint64_t> g_seed{seed_from_env()};

std::mutex g_counts_mutex;
std::map<std::string, uint64_t>& counts() {
  static std::map<std::string, uint64_t> map;
  return map;
}

const char* op_name(CollectiveOp op) {
  switch (op) {
    case CollectiveOp::kShflIdx:
      return "__shfl_sync";
    case CollectiveOp::kShflUp:
      return "__shfl_up_sync";
    case CollectiveOp::kShflDown:
      return "__shfl_down_sync";
    case CollectiveOp::kShflXor:
      return "__shfl_xor_sync";
    case CollectiveOp::kSyncWarp:
      return "__syncwarp";
    case CollectiveOp::kBallot:
      return "__ballot_sync";
    case CollectiveOp::kAny:
      return "__any_sync";
    case CollectiveOp::kAll:
      return "__all_sync";
    case CollectiveOp::kMatchAny:
      return "__match_any_sync";
    case CollectiveOp::kMatchAll:
      return "__match_all_sync";
    case CollectiveOp::kReduceAddU:
      return "__reduce_add_sync";
    case CollectiveOp::kReduceMinU:
      return "__reduce_min_sync(unsigned)";
    case CollectiveOp::kReduceMaxU:
      return "__reduce_max_sync(unsigned)";
    case CollectiveOp::kReduceMinI:
      return "__reduce_min_sync(int)";
    case CollectiveOp::kReduceMaxI:
      return "__reduce_max_sync(int)";
    case CollectiveOp::kReduceAnd:
      return "__reduce_and_sync";
    case CollectiveOp::kReduceOr:
      return "__reduce_or_sync";
    case CollectiveOp::kReduceXor:
      return "__reduce_xor_sync";
  }
  return "?";
}

const char* barrier_name(BarrierOp op) {
  switch (op) {
    case BarrierOp::kSync:
      return "__syncthreads";
    case BarrierOp::kCount:
      return "__syncthreads_count";
    case BarrierOp::kAnd:
      return "__syncthreads_and";
    case BarrierOp::kOr:
      return "__syncthreads_or";
  }
  return "?";
}

const char* base_name(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash ? slash + 1 : path;
}

std::string hex(uint32_t v) {
  std::ostringstream os;
  os << "0x" << std::hex << v;
  return os.str();
}

std::string where(const Lane& l) {
  std::ostringstream os;
  switch (l.state) {
    case LaneState::kRun:
      os << "runnable";
      break;
    case LaneState::kDone:
      os << "exited";
      break;
    case LaneState::kBarrier:
      os << "waiting at " << barrier_name(l.bar_op) << " (" << base_name(l.file) << ":" << l.line
         << ")";
      break;
    case LaneState::kWarp:
      os << "waiting at " << op_name(l.op) << " mask " << hex(l.mask) << " (" << base_name(l.file)
         << ":" << l.line << ")";
      break;
  }
  return os.str();
}

std::string block_prefix(const Executor& ex) {
  std::ostringstream os;
  os << "kernel '" << ex.spec->name << "' block (" << blockIdx.x << "," << blockIdx.y << ","
     << blockIdx.z << ")";
  return os.str();
}

std::string thread_prefix(const Executor& ex, const Lane& l) {
  std::ostringstream os;
  os << block_prefix(ex) << " thread (" << l.tid.x << "," << l.tid.y << "," << l.tid.z << ")";
  return os.str();
}

// Each lane's state, consecutive lanes in the same state folded into one line.
std::string lane_report(const Executor& ex) {
  std::ostringstream os;
  unsigned i = 0;
  while (i < ex.nlanes) {
    const std::string w = where(ex.lanes[i]);
    unsigned j = i + 1;
    while (j < ex.nlanes && where(ex.lanes[j]) == w) ++j;
    os << "\n  threads " << i;
    if (j - i > 1) os << "-" << (j - 1);
    os << ": " << w;
    i = j;
  }
  return os.str();
}

// Drops every lane of the block; destroying a suspended fiber unwinds its stack.
void abandon_block(Executor& ex) {
  for (unsigned i = 0; i < ex.nlanes; ++i) {
    ex.lanes[i].fiber = bctx::fiber();
    ex.lanes[i].sched = bctx::fiber();
    ex.lanes[i].error = nullptr;
  }
  ex.current = nullptr;
  ex.warp_waiting = 0;
}

[[noreturn]] void fault(Executor& ex, const std::string& message) {
  abandon_block(ex);
  ex.spec = nullptr;
  detail::set_last_error(ErrorCode::kLaunchFailure);
  throw KernelFault("cuemu: " + message);
}

[[noreturn]] void deadlock(Executor& ex, const std::string& reason) {
  fault(ex, block_prefix(ex) + ": deadlock: " + reason + "; thread states:" + lane_report(ex));
}

Lane& current_lane(const char* what) {
  Executor& ex = executor();
  if (ex.current == nullptr) throw std::logic_error(std::string(what) + " called outside a kernel");
  return *ex.current;
}

void yield(Lane& l) { l.sched = std::move(l.sched).resume(); }

void resume(Executor& ex, Lane& l) {
  ex.current = &l;
  threadIdx = l.tid;
  l.fiber = std::move(l.fiber).resume();
  ex.current = nullptr;
  if (l.error) {
    std::string what;
    try {
      std::rethrow_exception(l.error);
    } catch (const UsageError& e) {
      what = e.what();
    } catch (const std::exception& e) {
      what = std::string("exception thrown by kernel code: ") + e.what();
    } catch (...) {
      what = "unknown exception thrown by kernel code";
    }
    fault(ex, thread_prefix(ex, l) + ": " + what);
  }
}

unsigned warp_lane_count(const Executor& ex, unsigned warp) {
  return std::min(32u, ex.nlanes - warp * 32);
}

uint32_t valid_mask(unsigned count) { return count >= 32 ? 0xffffffffu : (1u << count) - 1u; }

// Source lane of a shuffle under CUDA's segment rules, or `self` when CUDA returns the caller's
// own value.
unsigned shuffle_source(CollectiveOp op, unsigned self, int param, int width) {
  const unsigned w = static_cast<unsigned>(width);
  const unsigned seg_start = self & ~(w - 1);
  const unsigned in_seg = self & (w - 1);
  switch (op) {
    case CollectiveOp::kShflIdx:
      return seg_start + (static_cast<unsigned>(param) & (w - 1));
    case CollectiveOp::kShflUp: {
      const unsigned d = static_cast<unsigned>(param);
      return in_seg >= d ? self - d : self;
    }
    case CollectiveOp::kShflDown: {
      const unsigned d = static_cast<unsigned>(param);
      return in_seg + d < w ? self + d : self;
    }
    case CollectiveOp::kShflXor: {
      // Earlier segments may be read; later ones give the caller's own value.
      const unsigned src = self ^ (static_cast<unsigned>(param) & 31u);
      return src <= seg_start + w - 1 ? src : self;
    }
    default:
      return self;
  }
}

// Computes every result of one complete rendezvous (all lanes of `mask` arrived with the same
// op and mask) into each lane's own slot.
void resolve_group(Executor& ex, Lane* warp, uint32_t mask) {
  const Lane& first = warp[__builtin_ctz(mask)];
  const CollectiveOp op = first.op;
  uint64_t acc = 0;
  switch (op) {
    case CollectiveOp::kShflIdx:
    case CollectiveOp::kShflUp:
    case CollectiveOp::kShflDown:
    case CollectiveOp::kShflXor:
      for (uint32_t m = mask; m; m &= m - 1) {
        const unsigned i = static_cast<unsigned>(__builtin_ctz(m));
        const unsigned src = shuffle_source(op, i, warp[i].param, warp[i].width);
        if (!((mask >> src) & 1u)) {
          fault(ex, thread_prefix(ex, warp[i]) + ": " + op_name(op) + " (" +
                        base_name(warp[i].file) + ":" + std::to_string(warp[i].line) +
                        ") reads lane " + std::to_string(src) + ", which is outside mask " +
                        hex(mask));
        }
        warp[i].result = warp[src].value;
      }
      return;
    case CollectiveOp::kMatchAny:
      for (uint32_t m = mask; m; m &= m - 1) {
        const unsigned i = static_cast<unsigned>(__builtin_ctz(m));
        uint32_t same = 0;
        for (uint32_t n = mask; n; n &= n - 1) {
          const unsigned j = static_cast<unsigned>(__builtin_ctz(n));
          if (warp[j].value == warp[i].value) same |= 1u << j;
        }
        warp[i].result = same;
      }
      return;
    case CollectiveOp::kMatchAll: {
      bool all = true;
      for (uint32_t m = mask; m; m &= m - 1) all &= warp[__builtin_ctz(m)].value == first.value;
      for (uint32_t m = mask; m; m &= m - 1) {
        warp[__builtin_ctz(m)].result = all ? mask : 0;
        warp[__builtin_ctz(m)].extra = all ? 1 : 0;
      }
      return;
    }
    case CollectiveOp::kSyncWarp:
      break;
    case CollectiveOp::kBallot:
    case CollectiveOp::kAny:
    case CollectiveOp::kAll: {
      uint32_t bits = 0;
      for (uint32_t m = mask; m; m &= m - 1) {
        const unsigned j = static_cast<unsigned>(__builtin_ctz(m));
        if (warp[j].value) bits |= 1u << j;
      }
      acc = op == CollectiveOp::kBallot ? bits
            : op == CollectiveOp::kAny  ? (bits != 0)
                                        : (bits == mask);
      break;
    }
    default: {
      // Reductions over 32-bit values.
      bool init = false;
      uint32_t r = 0;
      for (uint32_t m = mask; m; m &= m - 1) {
        const uint32_t v = static_cast<uint32_t>(warp[__builtin_ctz(m)].value);
        if (!init) {
          r = v;
          init = true;
          continue;
        }
        switch (op) {
          case CollectiveOp::kReduceAddU:
            r += v;
            break;
          case CollectiveOp::kReduceMinU:
            r = std::min(r, v);
            break;
          case CollectiveOp::kReduceMaxU:
            r = std::max(r, v);
            break;
          case CollectiveOp::kReduceMinI:
            r = static_cast<uint32_t>(std::min(static_cast<int32_t>(r), static_cast<int32_t>(v)));
            break;
          case CollectiveOp::kReduceMaxI:
            r = static_cast<uint32_t>(std::max(static_cast<int32_t>(r), static_cast<int32_t>(v)));
            break;
          case CollectiveOp::kReduceAnd:
            r &= v;
            break;
          case CollectiveOp::kReduceOr:
            r |= v;
            break;
          case CollectiveOp::kReduceXor:
            r ^= v;
            break;
          default:
            break;
        }
      }
      acc = r;
      break;
    }
  }
  for (uint32_t m = mask; m; m &= m - 1) warp[__builtin_ctz(m)].result = acc;
}

// Resolves every complete rendezvous of one warp; faults on disagreement or on a lane that can
// never arrive. Returns whether any lane was released.
bool resolve_warp(Executor& ex, unsigned warp_index) {
  Lane* warp = &ex.lanes[warp_index * 32];
  const unsigned count = warp_lane_count(ex, warp_index);
  uint32_t handled = 0;
  bool progressed = false;
  for (unsigned k = 0; k < count; ++k) {
    const Lane& a = warp[k];
    if (a.state != LaneState::kWarp || ((handled >> k) & 1u)) continue;
    bool ready = true;
    for (uint32_t m = a.mask; m; m &= m - 1) {
      const unsigned j = static_cast<unsigned>(__builtin_ctz(m));
      const Lane& b = warp[j];
      switch (b.state) {
        case LaneState::kRun:
          ready = false;
          break;
        case LaneState::kDone:
          fault(ex, thread_prefix(ex, a) + ": " + op_name(a.op) + " (" + base_name(a.file) + ":" +
                        std::to_string(a.line) + ") mask " + hex(a.mask) + " names lane " +
                        std::to_string(j) + ", which has exited");
        case LaneState::kBarrier:
          deadlock(ex, "lane " + std::to_string(k) + " of warp " + std::to_string(warp_index) +
                           " waits at a warp collective whose mask names lane " +
                           std::to_string(j) + ", which waits at a block barrier");
        case LaneState::kWarp:
          if (b.op != a.op || b.mask != a.mask || b.width != a.width) {
            fault(ex, block_prefix(ex) + ": lanes disagree at a warp collective: lane " +
                          std::to_string(k) + " of warp " + std::to_string(warp_index) + " is " +
                          where(a) + " width " + std::to_string(a.width) + ", lane " +
                          std::to_string(j) + " is " + where(b) + " width " +
                          std::to_string(b.width));
          }
          break;
      }
    }
    if (!ready) continue;
    resolve_group(ex, warp, a.mask);
    for (uint32_t m = a.mask; m; m &= m - 1) warp[__builtin_ctz(m)].state = LaneState::kRun;
    ex.warp_waiting -= static_cast<unsigned>(__builtin_popcount(a.mask));
    handled |= a.mask;
    progressed = true;
  }
  return progressed;
}

// Releases the block barrier when every lane waits at it; otherwise reports why it cannot.
void resolve_barrier(Executor& ex) {
  unsigned done = 0;
  const Lane* ref = nullptr;
  for (unsigned i = 0; i < ex.nlanes; ++i) {
    const Lane& l = ex.lanes[i];
    if (l.state == LaneState::kDone) {
      ++done;
    } else if (l.state == LaneState::kBarrier) {
      if (ref == nullptr) ref = &l;
    } else {
      deadlock(ex, "no lane can make progress");
    }
  }
  if (done > 0) {
    deadlock(ex, std::to_string(done) + " thread(s) exited while others wait at " +
                     barrier_name(ref->bar_op) + " (" + base_name(ref->file) + ":" +
                     std::to_string(ref->line) + ")");
  }
  int count = 0;
  for (unsigned i = 0; i < ex.nlanes; ++i) {
    const Lane& l = ex.lanes[i];
    // Legal since sm_70 but nearly always a barrier inside a divergent branch.
    if (l.bar_op != ref->bar_op || l.line != ref->line || std::strcmp(l.file, ref->file) != 0) {
      deadlock(ex, "threads wait at different barriers (a barrier inside a divergent branch?)");
    }
    count += l.param != 0;
  }
  uint64_t result = 0;
  switch (ref->bar_op) {
    case BarrierOp::kSync:
      break;
    case BarrierOp::kCount:
      result = static_cast<uint64_t>(count);
      break;
    case BarrierOp::kAnd:
      result = static_cast<unsigned>(count) == ex.nlanes;
      break;
    case BarrierOp::kOr:
      result = count > 0;
      break;
  }
  for (unsigned i = 0; i < ex.nlanes; ++i) {
    ex.lanes[i].result = result;
    ex.lanes[i].state = LaneState::kRun;
  }
}

void run_block(Executor& ex, const LaunchSpec& spec, void (*body)(void*), void* arg,
               uint64_t seed) {
  // Poison the dynamic shared memory (0xFF is a NaN for floats) and arm the canary behind it.
  // Static shared memory is poisoned when the block first passes its declaration.
  ++ex.block_serial;
  ex.static_shared.clear();
  std::memset(ex.smem, 0xFF, spec.smem);
  for (size_t i = 0; i < kCanaryBytes; ++i) ex.smem[spec.smem + i] = std::byte(0xA5 ^ i);

  const unsigned bx = spec.block.x, by = spec.block.y;
  for (unsigned i = 0; i < ex.nlanes; ++i) {
    Lane& l = ex.lanes[i];
    l.linear = i;
    l.tid = uint3{i % bx, (i / bx) % by, i / (bx * by)};
    l.state = LaneState::kRun;
    l.error = nullptr;
    l.fiber = bctx::fiber(std::allocator_arg, PooledStack{&ex.stacks},
                          [lane = &l, body, arg](bctx::fiber&& sched) -> bctx::fiber {
                            lane->sched = std::move(sched);
                            try {
                              body(arg);
                            } catch (const bctx::detail::forced_unwind&) {
                              throw;  // abandoning the block: let Boost unwind this stack
                            } catch (...) {
                              lane->error = std::current_exception();
                            }
                            lane->state = LaneState::kDone;
                            return std::move(lane->sched);
                          });
  }

  for (;;) {
    if (seed != 0) std::shuffle(ex.order.begin(), ex.order.end(), ex.rng);
    for (unsigned i = 0; i < ex.nlanes; ++i) {
      Lane& l = ex.lanes[seed != 0 ? ex.order[i] : i];
      if (l.state == LaneState::kRun) resume(ex, l);
    }
    bool progressed = false;
    if (ex.warp_waiting > 0) {
      for (unsigned w = 0; w * 32 < ex.nlanes; ++w) progressed |= resolve_warp(ex, w);
    }
    if (progressed) continue;
    bool any_live = false;
    for (unsigned i = 0; i < ex.nlanes && !any_live; ++i) {
      any_live = ex.lanes[i].state != LaneState::kDone;
    }
    if (!any_live) break;
    resolve_barrier(ex);
  }

  for (size_t i = 0; i < kCanaryBytes; ++i) {
    if (ex.smem[spec.smem + i] != std::byte(0xA5 ^ i)) {
      fault(ex, block_prefix(ex) + ": dynamic shared memory overflow: byte " +
                    std::to_string(spec.smem + i) + " past the start of the " +
                    std::to_string(spec.smem) + "-byte buffer was overwritten");
    }
  }
}

}  // namespace

void set_seed(uint64_t s) { g_seed.store(s); }
uint64_t seed() { return g_seed.load(); }

std::map<std::string, uint64_t> launch_counts() {
  std::lock_guard<std::mutex> lock(g_counts_mutex);
  return counts();
}

void reset_launch_counts() {
  std::lock_guard<std::mutex> lock(g_counts_mutex);
  counts().clear();
}

namespace detail {

CollectiveResult warp_collective(CollectiveOp op, uint32_t mask, uint64_t value, int param,
                                 int width, const std::source_location& loc) {
  Lane& l = current_lane(op_name(op));
  Executor& ex = executor();
  l.file = loc.file_name();
  l.line = loc.line();
  const unsigned lane_id = l.linear % 32;
  const unsigned warp_index = l.linear / 32;
  const std::string at =
      std::string(op_name(op)) + " (" + base_name(l.file) + ":" + std::to_string(l.line) + ")";
  if (width < 1 || width > 32 || (width & (width - 1)) != 0) {
    throw UsageError(at + ": width " + std::to_string(width) + " is not a power of 2 in [1, 32]");
  }
  if (!((mask >> lane_id) & 1u)) {
    throw UsageError(at + ": the calling lane " + std::to_string(lane_id) + " is not in mask " +
                     hex(mask));
  }
  const uint32_t valid = valid_mask(warp_lane_count(ex, warp_index));
  if (mask & ~valid) {
    throw UsageError(at + ": mask " + hex(mask) + " names lanes beyond blockDim (this warp has " +
                     std::to_string(warp_lane_count(ex, warp_index)) + " threads)");
  }
  Lane* warp = &ex.lanes[warp_index * 32];
  for (uint32_t m = mask; m; m &= m - 1) {
    const unsigned j = static_cast<unsigned>(__builtin_ctz(m));
    if (warp[j].state == LaneState::kDone) {
      throw UsageError(at + ": mask " + hex(mask) + " names lane " + std::to_string(j) +
                       ", which has exited");
    }
  }
  l.op = op;
  l.mask = mask;
  l.value = value;
  l.param = param;
  l.width = width;
  l.state = LaneState::kWarp;
  ++ex.warp_waiting;
  yield(l);
  return CollectiveResult{l.result, l.extra};
}

int block_barrier(BarrierOp op, int predicate, const std::source_location& loc) {
  Lane& l = current_lane(barrier_name(op));
  l.file = loc.file_name();
  l.line = loc.line();
  l.bar_op = op;
  l.param = predicate != 0;
  l.state = LaneState::kBarrier;
  yield(l);
  return static_cast<int>(l.result);
}

uint32_t active_mask() {
  Lane& l = current_lane("__activemask");
  Executor& ex = executor();
  const unsigned warp_index = l.linear / 32;
  const Lane* warp = &ex.lanes[warp_index * 32];
  uint32_t mask = 0;
  for (unsigned j = 0; j < warp_lane_count(ex, warp_index); ++j) {
    if (warp[j].state != LaneState::kDone) mask |= 1u << j;
  }
  return mask;
}

void* dynamic_smem_base() { return executor().smem; }

void* enter_static_shared(SharedSlot& slot, void* storage, size_t bytes) {
  current_lane("static shared memory");
  Executor& ex = executor();
  if (slot.block != ex.block_serial) {
    slot.block = ex.block_serial;
    std::memset(storage, 0xFF, bytes);
    ex.static_shared.emplace_back(static_cast<std::byte*>(storage), bytes);
  }
  return storage;
}

bool check_launch(const LaunchSpec& spec) {
  const dim3 b = spec.block, g = spec.grid;
  const uint64_t threads = uint64_t{b.x} * b.y * b.z;
  const bool bad_block =
      threads == 0 || threads > kMaxThreads || b.x > 1024 || b.y > 1024 || b.z > 64;
  const bool bad_grid =
      g.x == 0 || g.y == 0 || g.z == 0 || g.x > 0x7fffffffu || g.y > 65535 || g.z > 65535;
  const bool bad_smem = spec.smem > max_dynamic_smem(spec.kernel_key);
  const bool bad_params = spec.param_bytes > kMaxParamBytes;
  if (bad_block || bad_grid || bad_smem || bad_params) {
    set_last_error(ErrorCode::kInvalidConfiguration);
    return false;
  }
  if (!is_valid_stream(spec.stream)) {
    set_last_error(ErrorCode::kInvalidResourceHandle);
    return false;
  }
  return true;
}

void run_grid(const LaunchSpec& spec, void (*body)(void*), void* ctx) {
  Executor& ex = executor();
  if (ex.spec != nullptr) {
    throw std::logic_error(std::string("cuemu: launching '") + spec.name +
                           "' from inside a kernel is not supported");
  }
  {
    std::lock_guard<std::mutex> lock(g_counts_mutex);
    ++counts()[spec.name];
  }
  const size_t need = spec.smem + kCanaryBytes;
  if (need > ex.smem_capacity) {
    std::free(ex.smem);
    ex.smem_capacity = (need + 127) / 128 * 128;
    ex.smem = static_cast<std::byte*>(std::aligned_alloc(128, ex.smem_capacity));
    if (ex.smem == nullptr) {
      ex.smem_capacity = 0;
      throw std::bad_alloc();
    }
  }
  ex.spec = &spec;
  ex.nlanes = spec.block.x * spec.block.y * spec.block.z;
  ex.warp_waiting = 0;
  blockDim = spec.block;
  gridDim = spec.grid;

  const uint64_t s = seed();
  const uint64_t nblocks = uint64_t{spec.grid.x} * spec.grid.y * spec.grid.z;
  // Seed mode visits blocks in the order b -> (a*b + c) mod n with a coprime to n: a cheap
  // permutation that needs no memory even for huge grids.
  uint64_t step = 1, offset = 0;
  if (s != 0) {
    ex.rng.seed(s * 0x9E3779B97F4A7C15ull + ex.launch_index);
    ex.order.resize(ex.nlanes);
    std::iota(ex.order.begin(), ex.order.end(), 0u);
    if (nblocks > 1) {
      step = ex.rng() % nblocks;
      while (std::gcd(step, nblocks) != 1) step = (step + 1) % nblocks;
      offset = ex.rng() % nblocks;
    }
  }
  ++ex.launch_index;
  const uint64_t gx = spec.grid.x, gy = spec.grid.y;
  try {
    for (uint64_t i = 0; i < nblocks; ++i) {
      const uint64_t b =
          s != 0
              ? static_cast<uint64_t>((static_cast<unsigned __int128>(step) * i + offset) % nblocks)
              : i;
      blockIdx = uint3{static_cast<unsigned>(b % gx), static_cast<unsigned>((b / gx) % gy),
                       static_cast<unsigned>(b / (gx * gy))};
      run_block(ex, spec, body, ctx, s);
    }
  } catch (...) {
    // KernelFault has already cleaned up; anything else (out of memory for stacks) must not
    // leave the executor looking busy.
    abandon_block(ex);
    ex.spec = nullptr;
    throw;
  }
  ex.spec = nullptr;
}

}  // namespace detail
}  // namespace cuemu
