// The emulator's scheduler: fibers with pooled guard-paged stacks, the counting block barrier,
// warp-collective rendezvous and their resolution, launch checks and fault reports.
#include "kernels/gpu/emu/runtime.h"

#include <dlfcn.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/context/fiber.hpp>
#include <boost/context/stack_context.hpp>
#include <cstdlib>
#include <deque>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <numeric>
#include <random>
#include <sstream>
#include <vector>

#include "kernels/gpu/emu/host_api.h"

#if defined(__SANITIZE_ADDRESS__)
#define CUEMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CUEMU_ASAN 1
#endif
#endif
#ifdef CUEMU_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace cuemu {

namespace detail {
// Defined in host_api.cpp.
size_t max_dynamic_smem(const void* kernel_key);
// The device or pinned host allocation containing p: [*lo, *hi) and its device (-1 for pinned
// host memory); false when none does.
bool allocation_containing(uintptr_t p, uintptr_t* lo, uintptr_t* hi, int* device);
// What lies at p, for reports: an overrun of a nearby allocation or an unknown address.
std::string describe_address(uintptr_t p);
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

// One cp.async in flight: it lands when a wait completes its group.
struct AsyncCopy {
  std::byte* dst;
  const std::byte* src;
  int cp_bytes, src_bytes;
  uintptr_t pc;  // the issuing code, for reports
};

// The shared-memory operand bytes one wgmma read at issue (16-byte chunks at host addresses),
// compared again when a wait completes it: the op may read them at any time until then.
struct WgmmaSnapshot {
  std::vector<const std::byte*> chunks;
  std::vector<std::array<std::byte, 16>> bytes;
  std::string at;  // "wgmma.mma_async (file:line)"
};

// One lane's in-flight wgmma: its registers and the values they receive when a wait completes it.
struct WgmmaPending {
  float* d;
  std::vector<float> result;
  std::shared_ptr<const WgmmaSnapshot> snap;
};

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
  uintptr_t stack_lo = 0, stack_hi = 0;  // the lane's own stack: private memory
  void* asan_fake_stack = nullptr;       // ASan's fake stack of the lane while it is suspended
  bool started = false;                  // the lane's body was entered (it has resumed once)
  bool at_hook = false;                  // suspended by seed mode at an access hook (maybe_preempt)
  // cp.async state: copies not yet committed, and the committed groups, oldest first.
  std::vector<AsyncCopy> async_open;
  std::deque<std::vector<AsyncCopy>> async_groups;
  size_t async_pending() const {
    size_t n = async_open.size();
    for (const auto& g : async_groups) n += g.size();
    return n;
  }
  // wgmma state: fenced since the last wait, shared-memory writes since the last
  // fence.proxy.async, and the ops in flight (uncommitted, then committed groups, oldest first).
  bool wg_fenced = false;
  bool smem_unfenced = false;
  std::vector<WgmmaPending> wg_open;
  std::deque<std::vector<WgmmaPending>> wg_groups;
  size_t wgmma_pending() const {
    size_t n = wg_open.size();
    for (const auto& g : wg_groups) n += g.size();
    return n;
  }
  // The value register d will hold when the ops in flight complete (the newest op writing it),
  // or null when none writes it.
  const WgmmaPending* wgmma_writing(const float* d) const {
    for (auto it = wg_open.rbegin(); it != wg_open.rend(); ++it) {
      if (it->d == d) return &*it;
    }
    for (auto g = wg_groups.rbegin(); g != wg_groups.rend(); ++g) {
      for (auto it = g->rbegin(); it != g->rend(); ++it) {
        if (it->d == d) return &*it;
      }
    }
    return nullptr;
  }
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

// ---- AddressSanitizer and the lanes' stacks -----------------------------------------------------
// In a build with ASan (docs/testing.md, "Sanitizers"), every switch between the scheduler and a
// lane is announced to ASan before it (start) and completed on the new stack (finish), the fiber
// interface of sanitizer/common_interface_defs.h. Without that ASan takes a lane's stack for the
// thread's: an exception thrown in a lane (a fault, the unwinding of an abandoned block) would not
// clear the poison of the frames it unwinds, and the next lane on that stack would report errors
// that are not there. Outside ASan builds these are empty.
void asan_switch_start(void** fake_stack_save, uintptr_t bottom, size_t size) {
#ifdef CUEMU_ASAN
  __sanitizer_start_switch_fiber(fake_stack_save, reinterpret_cast<const void*>(bottom), size);
#else
  (void)fake_stack_save, (void)bottom, (void)size;
#endif
}

void asan_switch_finish(void* fake_stack_save, uintptr_t* old_bottom, size_t* old_size) {
#ifdef CUEMU_ASAN
  const void* bottom = nullptr;
  __sanitizer_finish_switch_fiber(fake_stack_save, &bottom, old_size);
  if (old_bottom != nullptr) *old_bottom = reinterpret_cast<uintptr_t>(bottom);
#else
  (void)fake_stack_save, (void)old_bottom, (void)old_size;
#endif
}

// A stack handed to a new lane carries no poison from frames of its previous lane that never
// returned (Boost's fiber entry ends in a switch, not a return).
void asan_unpoison(void* p, size_t n) {
#ifdef CUEMU_ASAN
  ASAN_UNPOISON_MEMORY_REGION(p, n);
#else
  (void)p, (void)n;
#endif
}

// The OS thread's stack, where the scheduler runs, as ASan reported it when a lane last started
// or resumed; and the scheduler's fake stack while a lane runs.
struct HostStack {
  uintptr_t bottom = 0;
  size_t size = 0;
  void* asan_fake_stack = nullptr;
};

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
    asan_unpoison(static_cast<char*>(base) + page_size(), usable_);
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
  Lane* lane;
  bctx::stack_context allocate() {
    bctx::stack_context sc = pool->allocate();
    lane->stack_hi = reinterpret_cast<uintptr_t>(sc.sp);
    lane->stack_lo = lane->stack_hi - sc.size;
    return sc;
  }
  void deallocate(bctx::stack_context& sc) noexcept { pool->release(sc); }
};

// ---- access checks ------------------------------------------------------------------------
// The emulated copy of every .cu is compiled with GCC's thread-sanitizer instrumentation
// (cmake/V3dGpu.cmake): each load and store that is not of a register calls __tsan_readN or
// __tsan_writeN (bottom of this file). While a lane runs,
// each such access is classified (the lane's own stack, shared memory, a registered allocation,
// static data, the launch parameters); anything else is an out-of-bounds or host-pointer access
// and faults. In race mode shared and global accesses are also recorded per barrier interval,
// and two threads' conflicting accesses that no barrier or __syncwarp orders fault. Atomics
// conflict only with plain writes: a plain read of an atomically updated word (the first load
// of a compare-and-swap loop) sees one of its values.

struct Range {
  uintptr_t lo = 0, hi = 0;
  bool contains(uintptr_t a, size_t n) const { return a >= lo && a + n <= hi; }
};

enum class Access : uint8_t { kRead, kWrite, kAtomic };

const char* access_name(Access a) {
  return a == Access::kRead ? "read" : a == Access::kWrite ? "write" : "atomic";
}

// What one barrier interval did to one 4-byte granule. Lanes are linear thread indices.
struct Shadow {
  uintptr_t granule = 0;  // address / 4; 0 marks a free slot
  int16_t writer = -1;
  bool writer_atomic = false;
  uint8_t writer_bytes = 0;  // bit i: byte i of the granule
  uint8_t reader_bytes = 0;
  bool readers_in_many_warps = false;
  int16_t reader_warp = -1;
  int16_t other_warp_reader = -1;  // a reader outside reader_warp, when there are several warps
  uint32_t writer_epoch = 0;
  uint32_t reader_lanes = 0;  // lanes of reader_warp that read
  uintptr_t writer_pc = 0, reader_pc = 0;
  uint32_t reader_epoch[32];  // valid for the lanes in reader_lanes
};

// What the blocks of one launch did to one 4-byte granule of global memory. Blocks are not
// ordered against each other, so two blocks' conflicting accesses race whatever the barriers.
struct GridMark {
  uintptr_t granule = 0;  // address / 4; 0 marks a free slot
  uint64_t writer_block = 0, reader_block = 0, other_reader_block = 0;  // linear index + 1
  unsigned writer_lane = 0, reader_lane = 0, other_reader_lane = 0;
  bool writer_atomic = false;
  uint8_t writer_bytes = 0, reader_bytes = 0;
  uintptr_t writer_pc = 0, reader_pc = 0, other_reader_pc = 0;
};

// Open-addressing table of granule records: Shadow for the current barrier interval, GridMark
// for the current launch. Capped so that sweeping a huge buffer does not exhaust memory:
// granules beyond the cap are not tracked (their races go unseen).
template <class Entry>
class GranuleTable {
 public:
  static constexpr size_t kMaxGranules = size_t{1} << 18;  // 1 MiB of data, ~90 MiB of shadow

  // The granule's record, or null when it is new and the table is full.
  Entry* find(uintptr_t granule) {
    if (used_.size() < kMaxGranules) return &get(granule);
    const size_t mask = slots_.size() - 1;
    size_t i = (granule * 0x9E3779B97F4A7C15ull >> 20) & mask;
    while (slots_[i].granule != 0 && slots_[i].granule != granule) i = (i + 1) & mask;
    return slots_[i].granule == granule ? &slots_[i] : nullptr;
  }
  void clear() {
    for (const uint32_t i : used_) slots_[i].granule = 0;
    used_.clear();
  }

 private:
  Entry& get(uintptr_t granule) {
    if ((used_.size() + 1) * 2 > slots_.size()) grow();
    const size_t mask = slots_.size() - 1;
    size_t i = (granule * 0x9E3779B97F4A7C15ull >> 20) & mask;
    while (slots_[i].granule != 0 && slots_[i].granule != granule) i = (i + 1) & mask;
    Entry& sh = slots_[i];
    if (sh.granule == 0) {
      sh = Entry{};
      sh.granule = granule;
      used_.push_back(static_cast<uint32_t>(i));
    }
    return sh;
  }
  void grow() {
    std::vector<Entry> old;
    old.swap(slots_);
    slots_.resize(std::max<size_t>(1024, old.size() * 2));
    const std::vector<uint32_t> live = std::move(used_);
    used_.clear();
    for (const uint32_t i : live) get(old[i].granule) = old[i];
  }
  std::vector<Entry> slots_;
  std::vector<uint32_t> used_;
};

struct Checker {
  bool races = false;
  Range params;
  Range dyn_smem;        // the dynamic shared memory of this launch
  Range dyn_canary;      // the canary behind it
  Range alloc_cache[8];  // recently used allocations of this device, most kernels touch fewer
  unsigned alloc_next = 0;
  int device = 0;  // the emulated device the launch runs on
  // Warp-local vector clocks, 32 per lane: clock[lane * 32 + j] is what `lane` knows of lane j
  // of its warp. Own entries start at 1, so an access nobody synchronised with is unordered.
  std::vector<uint32_t> clock;
  GranuleTable<Shadow> shadow;
  GranuleTable<GridMark> grid;  // global memory, across the blocks of the launch
  uint64_t block = 0;           // linear index of the running block
};

// Per-OS-thread state of the running launch.
struct Executor {
  StackPool stacks;
  HostStack host;
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
  bool interleave = false;    // seed mode: threads may be preempted at loads and stores
  // Static shared memory the running block declared so far: (start, bytes).
  std::vector<std::pair<std::byte*, size_t>> static_shared;
  std::vector<uint64_t> wg_issued;  // wgmma ops issued per warp of the running block
  Checker check;

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
    case CollectiveOp::kMma:
      return "mma.sync";
    case CollectiveOp::kLdMatrix:
      return "ldmatrix.sync";
    case CollectiveOp::kWgmma:
      return "wgmma.mma_async";
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

// The executor whose lane is running on this OS thread, for the access hooks; null outside
// lanes, so instrumented host code in the same files costs one TLS load per access.
thread_local Executor* t_running = nullptr;

// Drops every lane of the block; destroying a suspended fiber unwinds its stack (Boost resumes the
// lane to unwind it, so ASan is told of that switch too).
// Lanes suspended at an access hook are the exception: GCC declares the __tsan_* entry points
// nothrow, so no exception may leave one, and unwinding such a lane would be std::terminate. Their
// fibers are kept, never resumed or destroyed (a stack of the pool each, only after a fault in
// seed mode).
void abandon_block(Executor& ex) {
  static auto* kept = new std::vector<bctx::fiber>();  // reachable, never destroyed
  for (unsigned i = 0; i < ex.nlanes; ++i) {
    Lane& l = ex.lanes[i];
    if (l.fiber && l.at_hook) {
      kept->push_back(std::move(l.fiber));
      l.at_hook = false;
    } else if (l.fiber && l.started) {
      asan_switch_start(&ex.host.asan_fake_stack, l.stack_lo, l.stack_hi - l.stack_lo);
      l.fiber = bctx::fiber();
      asan_switch_finish(ex.host.asan_fake_stack, nullptr, nullptr);
    } else if (l.fiber) {
      // A lane that never started is unwound inside Boost's fiber entry, which announces neither
      // switch: back here, ASan is told that the lane's stack was left (for the scheduler's).
      asan_switch_start(&ex.host.asan_fake_stack, l.stack_lo, l.stack_hi - l.stack_lo);
      l.fiber = bctx::fiber();
      uintptr_t bottom = 0;
      size_t size = 0;
      asan_switch_finish(nullptr, &bottom, &size);
      asan_switch_start(nullptr, bottom, size);
      asan_switch_finish(ex.host.asan_fake_stack, nullptr, nullptr);
    }
    ex.lanes[i].sched = bctx::fiber();
    ex.lanes[i].error = nullptr;
  }
  ex.current = nullptr;
  ex.warp_waiting = 0;
  // Unwinding a lane that waited inside the emulator restored its ChecksOff guard's pointer.
  t_running = nullptr;
}

[[noreturn]] void fault(Executor& ex, const std::string& message) {
  abandon_block(ex);
  ex.spec = nullptr;
  detail::set_last_error(ErrorCode::kLaunchFailure);
  // Under a permuted order the seed reproduces the failure.
  const uint64_t s = seed();
  throw KernelFault("cuemu: " + message +
                    (s != 0 ? " [CUEMU_SEED=" + std::to_string(s) + "]" : std::string()));
}

[[noreturn]] void deadlock(Executor& ex, const std::string& reason) {
  fault(ex, block_prefix(ex) + ": deadlock: " + reason + "; thread states:" + lane_report(ex));
}

Lane& current_lane(const char* what) {
  Executor& ex = executor();
  if (ex.current == nullptr) throw std::logic_error(std::string(what) + " called outside a kernel");
  return *ex.current;
}

// Suspends the running lane: back to the scheduler until it resumes the lane. Unwinding an
// abandoned block throws out of here, on the lane's stack.
void yield(Executor& ex, Lane& l) {
  asan_switch_start(&l.asan_fake_stack, ex.host.bottom, ex.host.size);
  try {
    l.sched = std::move(l.sched).resume();
  } catch (...) {
    asan_switch_finish(l.asan_fake_stack, &ex.host.bottom, &ex.host.size);
    throw;
  }
  asan_switch_finish(l.asan_fake_stack, &ex.host.bottom, &ex.host.size);
}

// Turns the hooks off while the emulator's own code runs inside a lane: template code of the
// standard library may be the instrumented copy from a kernel's object file.
class ChecksOff {
 public:
  ChecksOff() : saved_(t_running) { t_running = nullptr; }
  ~ChecksOff() { t_running = saved_; }
  ChecksOff(const ChecksOff&) = delete;
  ChecksOff& operator=(const ChecksOff&) = delete;

 private:
  Executor* saved_;
};

std::atomic<bool> g_race_check{[] {
  const char* env = std::getenv("CUEMU_RACECHECK");
  return env == nullptr || std::strcmp(env, "0") != 0;
}()};

// Loaded segments of the program and its libraries: __constant__ and __device__ variables,
// string literals and tables that kernel code may read.
const std::vector<Range>& static_segments() {
  static const std::vector<Range> segments = [] {
    std::vector<Range> out;
    dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void* data) {
          auto* v = static_cast<std::vector<Range>*>(data);
          for (int i = 0; i < info->dlpi_phnum; ++i) {
            const ElfW(Phdr)& ph = info->dlpi_phdr[i];
            if (ph.p_type != PT_LOAD) continue;
            const uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
            v->push_back(Range{lo, lo + ph.p_memsz});
          }
          return 0;
        },
        &out);
    return out;
  }();
  return segments;
}

// The built-in index variables: kernel code may reach them through references.
bool is_builtin_variable(uintptr_t a, size_t n) {
  const auto in = [a, n](const auto& var) {
    return Range{reinterpret_cast<uintptr_t>(&var), reinterpret_cast<uintptr_t>(&var + 1)}.contains(
        a, n);
  };
  return in(threadIdx) || in(blockIdx) || in(blockDim) || in(gridDim);
}

// "file+0xoffset (symbol)" for a code address, for addr2line.
std::string code_location(uintptr_t pc) {
  Dl_info info{};
  if (pc == 0 || dladdr(reinterpret_cast<void*>(pc), &info) == 0 || info.dli_fname == nullptr) {
    return "unknown code";
  }
  std::ostringstream os;
  // The hook's return address follows the call; one byte back lies on the access's line.
  os << base_name(info.dli_fname) << "+0x" << std::hex
     << (pc - 1 - reinterpret_cast<uintptr_t>(info.dli_fbase));
  if (info.dli_sname != nullptr) os << " (" << info.dli_sname << ")";
  return os.str();
}

std::string address(uintptr_t a) {
  std::ostringstream os;
  os << "0x" << std::hex << a;
  return os.str();
}

std::string tid_name(const Lane& l) {
  std::ostringstream os;
  os << "thread (" << l.tid.x << "," << l.tid.y << "," << l.tid.z << ")";
  return os.str();
}

// Where an address in shared memory or an allocation lies, for reports.
std::string memory_where(const Executor& ex, uintptr_t a, bool shared) {
  std::ostringstream os;
  if (!shared) {
    uintptr_t lo = 0, hi = 0;
    int device = 0;
    if (detail::allocation_containing(a, &lo, &hi, &device)) {
      os << "global memory at " << address(a) << " (byte " << (a - lo) << " of the " << (hi - lo)
         << "-byte allocation at " << address(lo) << ")";
    } else {
      os << "global memory at " << address(a);
    }
    return os.str();
  }
  if (ex.check.dyn_smem.contains(a, 1)) {
    os << "shared memory at " << address(a) << " (byte " << (a - ex.check.dyn_smem.lo)
       << " of the dynamic shared memory)";
    return os.str();
  }
  for (const auto& [p, bytes] : ex.static_shared) {
    const uintptr_t lo = reinterpret_cast<uintptr_t>(p);
    if (a >= lo && a < lo + bytes) {
      os << "shared memory at " << address(a) << " (byte " << (a - lo) << " of a " << bytes
         << "-byte static shared variable)";
      return os.str();
    }
  }
  return "shared memory at " + address(a);
}

// Records the lane's first check failure; the scheduler faults when the lane next yields (a
// throw cannot leave the hooks, which GCC declares nothrow).
void check_failed(Lane& l, const std::string& message) {
  if (!l.error) l.error = std::make_exception_ptr(UsageError(message));
}

bool ordered(const Checker& c, unsigned earlier, uint32_t epoch, unsigned later) {
  return earlier / 32 == later / 32 && c.clock[later * 32 + earlier % 32] >= epoch;
}

// A lane that read the granule without being ordered before `lane`, or -1.
int unordered_reader(const Checker& c, const Shadow& sh, unsigned lane) {
  if (sh.reader_warp < 0) return -1;
  const unsigned warp = lane / 32;
  if (static_cast<unsigned>(sh.reader_warp) != warp) {
    return sh.reader_warp * 32 + __builtin_ctz(sh.reader_lanes);
  }
  if (sh.readers_in_many_warps) return sh.other_warp_reader;
  for (uint32_t m = sh.reader_lanes; m; m &= m - 1) {
    const unsigned j = static_cast<unsigned>(__builtin_ctz(m));
    const unsigned reader = warp * 32 + j;
    if (reader != lane && !ordered(c, reader, sh.reader_epoch[j], lane)) {
      return static_cast<int>(reader);
    }
  }
  return -1;
}

void report_race(Executor& ex, Lane& l, uintptr_t a, bool shared, Access kind, uintptr_t pc,
                 unsigned other, const char* other_kind, uintptr_t other_pc) {
  check_failed(l, "data race on " + memory_where(ex, a, shared) + ": this thread's " +
                      access_name(kind) + " (" + code_location(pc) + ") and " +
                      tid_name(ex.lanes[other]) + "'s " + other_kind + " (" +
                      code_location(other_pc) +
                      ") fall in the same barrier interval and no __syncthreads or __syncwarp "
                      "orders them");
}

void record_access(Executor& ex, Lane& l, uintptr_t a, size_t n, Access kind, uintptr_t pc,
                   bool shared) {
  Checker& c = ex.check;
  const unsigned lane = l.linear;
  const uint32_t epoch = c.clock[lane * 32 + lane % 32];
  for (uintptr_t g = a >> 2; g <= (a + n - 1) >> 2; ++g) {
    const uintptr_t lo = std::max(a, g << 2), hi = std::min(a + n, (g + 1) << 2);
    const auto bytes = static_cast<uint8_t>(((1u << (hi - lo)) - 1u) << (lo & 3));
    Shadow* found = c.shadow.find(g);
    if (found == nullptr) continue;
    Shadow& sh = *found;
    const bool other_writer = sh.writer >= 0 && static_cast<unsigned>(sh.writer) != lane &&
                              (sh.writer_bytes & bytes) != 0 &&
                              !(kind != Access::kWrite && sh.writer_atomic) &&
                              !ordered(c, static_cast<unsigned>(sh.writer), sh.writer_epoch, lane);
    if (other_writer) {
      report_race(ex, l, lo, shared, kind, pc, static_cast<unsigned>(sh.writer),
                  sh.writer_atomic ? "atomic" : "write", sh.writer_pc);
      return;
    }
    if (kind == Access::kRead) {
      const unsigned warp = lane / 32;
      if (sh.reader_warp < 0) {
        sh.reader_warp = static_cast<int16_t>(warp);
        sh.reader_lanes = 0;
      }
      if (static_cast<unsigned>(sh.reader_warp) == warp) {
        sh.reader_lanes |= 1u << (lane % 32);
        sh.reader_epoch[lane % 32] = epoch;
      } else {
        sh.readers_in_many_warps = true;
        sh.other_warp_reader = static_cast<int16_t>(lane);
      }
      sh.reader_bytes |= bytes;
      sh.reader_pc = pc;
      continue;
    }
    if (kind == Access::kWrite && (sh.reader_bytes & bytes) != 0) {
      const int reader = unordered_reader(c, sh, lane);
      if (reader >= 0) {
        report_race(ex, l, lo, shared, kind, pc, static_cast<unsigned>(reader), "read",
                    sh.reader_pc);
        return;
      }
    }
    sh.writer_bytes = static_cast<unsigned>(sh.writer) == lane ? sh.writer_bytes | bytes : bytes;
    sh.writer = static_cast<int16_t>(lane);
    sh.writer_atomic = kind == Access::kAtomic;
    sh.writer_epoch = epoch;
    sh.writer_pc = pc;
    sh.reader_warp = -1;
    sh.reader_lanes = 0;
    sh.reader_bytes = 0;
    sh.readers_in_many_warps = false;
  }
}

std::string block_thread_name(const Executor& ex, uint64_t block, unsigned lane) {
  const dim3 g = ex.spec->grid, b = ex.spec->block;
  std::ostringstream os;
  os << "block (" << block % g.x << "," << (block / g.x) % g.y << ","
     << block / (uint64_t{g.x} * g.y) << ") thread (" << lane % b.x << "," << (lane / b.x) % b.y
     << "," << lane / (b.x * b.y) << ")";
  return os.str();
}

void report_grid_race(Executor& ex, Lane& l, uintptr_t a, Access kind, uintptr_t pc,
                      uint64_t other_block, unsigned other_lane, const char* other_kind,
                      uintptr_t other_pc) {
  check_failed(l, "data race on " + memory_where(ex, a, false) + ": this thread's " +
                      access_name(kind) + " (" + code_location(pc) + ") and " +
                      block_thread_name(ex, other_block, other_lane) + "'s " + other_kind + " (" +
                      code_location(other_pc) +
                      ") fall in the same launch, and nothing orders the blocks of a launch");
}

// Conflicts between blocks: any two accesses of different blocks to the same bytes, one a
// plain write (atomics against atomics and plain reads against atomics are allowed).
void record_grid_access(Executor& ex, Lane& l, uintptr_t a, size_t n, Access kind, uintptr_t pc) {
  Checker& c = ex.check;
  const uint64_t block = c.block + 1;
  for (uintptr_t g = a >> 2; g <= (a + n - 1) >> 2; ++g) {
    const uintptr_t lo = std::max(a, g << 2), hi = std::min(a + n, (g + 1) << 2);
    const auto bytes = static_cast<uint8_t>(((1u << (hi - lo)) - 1u) << (lo & 3));
    GridMark* m = c.grid.find(g);
    if (m == nullptr) continue;
    if (m->writer_block != 0 && m->writer_block != block && (m->writer_bytes & bytes) != 0 &&
        !(kind != Access::kWrite && m->writer_atomic)) {
      report_grid_race(ex, l, lo, kind, pc, m->writer_block - 1, m->writer_lane,
                       m->writer_atomic ? "atomic" : "write", m->writer_pc);
      return;
    }
    if (kind == Access::kRead) {
      if (m->reader_block == 0) {
        m->reader_block = block;
        m->reader_lane = l.linear;
        m->reader_pc = pc;
      } else if (m->reader_block != block && m->other_reader_block == 0) {
        m->other_reader_block = block;
        m->other_reader_lane = l.linear;
        m->other_reader_pc = pc;
      }
      m->reader_bytes |= bytes;
      continue;
    }
    if (kind == Access::kWrite && (m->reader_bytes & bytes) != 0) {
      if (m->reader_block != block) {
        report_grid_race(ex, l, lo, kind, pc, m->reader_block - 1, m->reader_lane, "read",
                         m->reader_pc);
        return;
      }
      if (m->other_reader_block != 0) {
        report_grid_race(ex, l, lo, kind, pc, m->other_reader_block - 1, m->other_reader_lane,
                         "read", m->other_reader_pc);
        return;
      }
    }
    const bool same = m->writer_block == block;
    m->writer_bytes = same ? m->writer_bytes | bytes : bytes;
    m->writer_atomic = kind == Access::kAtomic && (!same || m->writer_atomic);
    m->writer_block = block;
    m->writer_lane = l.linear;
    m->writer_pc = pc;
  }
}

void check_access(Executor& ex, uintptr_t a, size_t n, Access kind, uintptr_t pc) {
  Lane& l = *ex.current;
  if (l.error || n == 0) return;  // report the first failure only
  if (a >= l.stack_lo && a + n <= l.stack_hi) return;
  if (is_builtin_variable(a, n)) return;
  const ChecksOff off;
  Checker& c = ex.check;
  bool shared = c.dyn_smem.contains(a, n);
  for (size_t i = 0; !shared && i < ex.static_shared.size(); ++i) {
    const uintptr_t lo = reinterpret_cast<uintptr_t>(ex.static_shared[i].first);
    shared = Range{lo, lo + ex.static_shared[i].second}.contains(a, n);
  }
  if (!shared) {
    bool global = false;
    for (const Range& r : c.alloc_cache) global |= r.contains(a, n);
    uintptr_t lo = 0, hi = 0;
    int device = 0;
    if (!global && detail::allocation_containing(a, &lo, &hi, &device) && a + n <= hi) {
      if (device >= 0 && device != c.device) {
        // Without peer access a GPU faults on another device's memory.
        check_failed(l, std::string("invalid ") + access_name(kind) + " of " + std::to_string(n) +
                            " bytes at " + address(a) + ", memory of device " +
                            std::to_string(device) + " from a kernel on device " +
                            std::to_string(c.device) + " (peer access is not enabled) (" +
                            code_location(pc) + ")");
        return;
      }
      c.alloc_cache[c.alloc_next++ % 8] = Range{lo, hi};
      global = true;
    }
    if (!global) {
      if (kind == Access::kRead && c.params.contains(a, n)) return;
      for (const Range& r : static_segments()) {
        if (r.contains(a, n)) return;
      }
      std::string what;
      if (c.dyn_canary.lo <= a && a < c.dyn_canary.hi) {
        what = "a dynamic shared memory overflow: byte " + std::to_string(a - c.dyn_smem.lo) +
               " past the start of the " + std::to_string(c.dyn_smem.hi - c.dyn_smem.lo) +
               "-byte buffer";
      } else {
        what = detail::describe_address(a);
      }
      check_failed(l, std::string("invalid ") + access_name(kind) + " of " + std::to_string(n) +
                          " bytes at " + address(a) + ", " + what + " (" + code_location(pc) + ")");
      return;
    }
  }
  if (shared && kind != Access::kRead) l.smem_unfenced = true;
  if (!c.races) return;
  record_access(ex, l, a, n, kind, pc, shared);
  if (!shared && !l.error) record_grid_access(ex, l, a, n, kind, pc);
}

// A barrier orders everything before it: forget the interval.
void start_interval(Executor& ex) {
  Checker& c = ex.check;
  if (!c.races) return;
  c.clock.assign(size_t{ex.nlanes} * 32, 0);
  for (unsigned i = 0; i < ex.nlanes; ++i) c.clock[i * 32 + i % 32] = 1;
  c.shadow.clear();
}

// __syncwarp orders the accesses of the lanes in `mask` before it against theirs after it.
void sync_warp_clocks(Executor& ex, unsigned warp, uint32_t mask) {
  Checker& c = ex.check;
  if (!c.races) return;
  uint32_t joined[32] = {};
  for (uint32_t m = mask; m; m &= m - 1) {
    const uint32_t* v = &c.clock[(warp * 32 + static_cast<unsigned>(__builtin_ctz(m))) * 32];
    for (unsigned k = 0; k < 32; ++k) joined[k] = std::max(joined[k], v[k]);
  }
  for (uint32_t m = mask; m; m &= m - 1) {
    const unsigned j = static_cast<unsigned>(__builtin_ctz(m));
    uint32_t* v = &c.clock[(warp * 32 + j) * 32];
    std::copy(joined, joined + 32, v);
    ++v[j];
  }
}

void resume(Executor& ex, Lane& l) {
  ex.current = &l;
  threadIdx = l.tid;
  t_running = &ex;
  asan_switch_start(&ex.host.asan_fake_stack, l.stack_lo, l.stack_hi - l.stack_lo);
  l.fiber = std::move(l.fiber).resume();
  asan_switch_finish(ex.host.asan_fake_stack, nullptr, nullptr);
  t_running = nullptr;
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

// The value of one tensor-core operand element. TF32 operands are the upper 19 bits of their
// register (the MMA ignores the low 13, as the hardware does: rounding is the caller's cvt);
// BF16 operands are one half of a register, element 2i in the low half.
double tf32_operand(uint32_t r) {
  const uint32_t u = r & 0xFFFFE000u;
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}
double bf16_operand(uint32_t r, unsigned half) {
  const uint32_t u = ((r >> (16 * half)) & 0xFFFFu) << 16;
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

// D = A * B + C over the warp's fragments, with the PTX ISA's fragment layouts (groupID g =
// lane >> 2, threadID_in_group t = lane % 4):
//   m16n8k8 tf32   A (16 x 8): a0 (g, t), a1 (g+8, t), a2 (g, t+4), a3 (g+8, t+4)
//                  B (8 x 8):  b0 (t, g), b1 (t+4, g)
//   m16n8k16 bf16  A (16 x 16): register j holds elements 2j (low half) and 2j+1; element i at
//                  row g (i in 0,1,4,5) or g+8, column 2t + (i & 1) (+8 for i >= 4)
//                  B (16 x 8): element i at row 2t + (i & 1) (+8 for i >= 2), column g
//   C, D (16 x 8): c0 (g, 2t), c1 (g, 2t+1), c2 (g+8, 2t), c3 (g+8, 2t+1)
// The products are exact in double (11- or 8-bit significands) and summed in double with C, then
// rounded once to float32: the exact result correctly rounded. The hardware's internal sums may
// differ in the last bits (their order and rounding are unspecified), which the kernels'
// documented tolerances cover.
void resolve_mma(Lane* warp, MmaKind kind) {
  double a[16][16] = {}, b[16][8] = {}, c[16][8] = {};
  int kdim = 8;
  for (unsigned lane = 0; lane < 32; ++lane) {
    const auto* f = reinterpret_cast<const MmaFragments*>(warp[lane].value);
    const unsigned g = lane >> 2, t = lane & 3u;
    if (kind == MmaKind::kM16N8K8Tf32) {
      a[g][t] = tf32_operand(f->a[0]);
      a[g + 8][t] = tf32_operand(f->a[1]);
      a[g][t + 4] = tf32_operand(f->a[2]);
      a[g + 8][t + 4] = tf32_operand(f->a[3]);
      b[t][g] = tf32_operand(f->b[0]);
      b[t + 4][g] = tf32_operand(f->b[1]);
    } else {
      kdim = 16;
      for (unsigned i = 0; i < 8; ++i) {
        const unsigned row = (i < 2 || (i >= 4 && i < 6)) ? g : g + 8;
        const unsigned col = 2 * t + (i & 1u) + (i >= 4 ? 8 : 0);
        a[row][col] = bf16_operand(f->a[i / 2], i % 2);
      }
      for (unsigned i = 0; i < 4; ++i) {
        b[2 * t + (i & 1u) + (i >= 2 ? 8 : 0)][g] = bf16_operand(f->b[i / 2], i % 2);
      }
    }
    c[g][2 * t] = f->c[0];
    c[g][2 * t + 1] = f->c[1];
    c[g + 8][2 * t] = f->c[2];
    c[g + 8][2 * t + 1] = f->c[3];
  }
  for (unsigned lane = 0; lane < 32; ++lane) {
    auto* f = reinterpret_cast<MmaFragments*>(warp[lane].value);
    const unsigned g = lane >> 2, t = lane & 3u;
    for (unsigned i = 0; i < 4; ++i) {
      const unsigned row = i < 2 ? g : g + 8, col = 2 * t + (i & 1u);
      double sum = c[row][col];
      for (int k = 0; k < kdim; ++k) sum += a[row][k] * b[k][col];
      f->d[i] = static_cast<float>(sum);
    }
  }
}

// The host address of the shared-memory window address `a`, mapped back to the dynamic shared
// memory (kDynamicSharedWindow); 0 when outside it.
uintptr_t window_to_host(const Executor& ex, uint32_t a) {
  const uint64_t bytes = ex.check.dyn_smem.hi - ex.check.dyn_smem.lo;
  if (a < detail::kDynamicSharedWindow || a - detail::kDynamicSharedWindow >= bytes) return 0;
  return ex.check.dyn_smem.lo + (a - detail::kDynamicSharedWindow);
}

// The descriptor's fields: start address, leading and stride byte offsets, layout mode.
struct WgmmaDesc {
  uint32_t start, lbo, sbo;
  unsigned mode;  // 0 none; 1, 2, 3: the 128-, 64- and 32-byte swizzles
  explicit WgmmaDesc(uint64_t desc)
      : start(static_cast<uint32_t>(desc & 0x3FFFu) << 4),
        lbo(static_cast<uint32_t>((desc >> 16) & 0x3FFFu) << 4),
        sbo(static_cast<uint32_t>((desc >> 32) & 0x3FFFu) << 4),
        mode(static_cast<unsigned>(desc >> 62)) {}
  // Swizzled: rows of 16 << bits bytes, whose 16-byte chunk index (address bits 4-6) is XORed
  // with `bits` bits of the address from bit 7, on the shared-memory address itself.
  unsigned bits() const { return 4 - mode; }
  uint32_t swizzle(uint32_t a) const { return a ^ (((a >> 7) & ((1u << bits()) - 1u)) << 4); }
};

// The host address of byte `kbyte` (0..31: one wgmma's k extent of 32 bytes) of row `row` of a
// K-major operand, as the PTX ISA lays out its canonical K-major forms: 8-row core matrices;
// without swizzle each row of a core matrix is 16 bytes, the two 16-byte halves of the k extent
// lie LBO apart and the core matrices of successive 8-row groups SBO apart; swizzled, rows are
// 32/64/128 bytes and 8-row groups SBO apart (LBO unused).
uintptr_t wgmma_kmajor_byte(const Executor& ex, uint64_t desc, unsigned row, unsigned kbyte) {
  const WgmmaDesc d(desc);
  uint32_t a = d.start + (row / 8) * d.sbo;
  if (d.mode == 0) {
    a += (row % 8) * 16 + (kbyte / 16) * d.lbo + kbyte % 16;
  } else {
    a = d.swizzle(a + (row % 8) * (16u << d.bits()) + kbyte);
  }
  return window_to_host(ex, a);
}

// The host address of the 16 bytes holding the 16-bit elements mn .. mn + 7 (mn a multiple of 8)
// at reduction index k (0..15) of an MN-major operand, the canonical MN-major forms: without
// swizzle, 8 x 8 core matrices of 16-byte rows along MN, one per k, successive k 16 bytes apart,
// groups of 8 MN SBO apart and of 8 k LBO apart; swizzled, one row of 32/64/128 bytes along MN per
// k, 8 rows per atom, rows of the next 8 k SBO apart and the next run of MN (16/32/64 elements)
// LBO apart. (The leading and stride offsets trade roles against the K-major forms.)
uintptr_t wgmma_mnmajor_chunk(const Executor& ex, uint64_t desc, unsigned mn, unsigned k) {
  const WgmmaDesc d(desc);
  const uint32_t byte = 2 * mn;
  uint32_t a = d.start;
  if (d.mode == 0) {
    a += (byte / 16) * d.sbo + (k % 8) * 16 + (k / 8) * d.lbo;
  } else {
    const uint32_t width = 16u << d.bits();
    a = d.swizzle(a + (byte / width) * d.lbo + (k / 8) * d.sbo + (k % 8) * width + byte % width);
  }
  return window_to_host(ex, a);
}

// One warp's part of a wgmma.mma_async (every lane arrived at the same call with the same type and
// N): rows 16 (warp % 4) .. + 15 of D = A B^T (+ D), A (64 x k) and B (N x k) K-major in shared
// memory. Reads the operands now (and, in race mode, records the reads as lane 0's), snapshots them
// for the check at the wait, and queues each lane's results; products exact in double, summed with
// C and rounded once (as resolve_mma). C is the value each lane's registers will hold when its ops
// in flight complete: the hardware chains ops that accumulate into the same registers.
void resolve_wgmma(Executor& ex, Lane* warp, int param) {
  const auto type = static_cast<WgmmaType>(param >> 16);
  const int n = param & 0xFFFF;
  const unsigned warp_index = warp[0].linear / 32;
  const auto* first = reinterpret_cast<const WgmmaLane*>(warp[0].value);
  const std::string at = std::string("wgmma.mma_async (") + base_name(warp[0].file) + ":" +
                         std::to_string(warp[0].line) + ")";
  const unsigned group_end = (warp_index / 4 + 1) * 128;
  if (ex.nlanes < group_end) {
    fault(ex, block_prefix(ex) + ": " + at + " in warp " + std::to_string(warp_index) +
                  ": its warpgroup (warps " + std::to_string(warp_index / 4 * 4) + "-" +
                  std::to_string(warp_index / 4 * 4 + 3) + ") is incomplete: the block has " +
                  std::to_string(ex.nlanes) + " threads");
  }
  for (unsigned lane = 0; lane < 32; ++lane) {
    const auto* w = reinterpret_cast<const WgmmaLane*>(warp[lane].value);
    if (w->desc_a != first->desc_a || w->desc_b != first->desc_b || w->scale_d != first->scale_d ||
        w->trans_a != first->trans_a || w->trans_b != first->trans_b) {
      fault(ex, thread_prefix(ex, warp[lane]) + ": " + at +
                    ": descriptors, scale-d or transposes differ from lane 0's (they must be "
                    "warp-uniform)");
    }
    if (!warp[lane].wg_fenced) {
      fault(ex, thread_prefix(ex, warp[lane]) + ": " + at +
                    " without a wgmma.fence since the thread's start or its last "
                    "wgmma.wait_group");
    }
  }
  for (unsigned i = 0; i < ex.nlanes; ++i) {
    if (ex.lanes[i].smem_unfenced) {
      fault(ex, thread_prefix(ex, ex.lanes[i]) +
                    " wrote shared memory (a store or a landed "
                    "cp.async) and executed no fence.proxy.async since, when " +
                    at + " of warp " + std::to_string(warp_index) +
                    " reads shared memory through the async proxy");
    }
  }
  for (const uint64_t desc : {first->desc_a, first->desc_b}) {
    // Bits 14-15, 30-31, 46-48 and 52-61 are reserved; 49-51 is the base offset.
    if ((desc & 0x3FFEC000C000C000ull) != 0 || ((desc >> 49) & 7u) != 0) {
      fault(ex, block_prefix(ex) + ": " + at + ": descriptor " +
                    hex(static_cast<uint32_t>(desc >> 32)) + "_" +
                    hex(static_cast<uint32_t>(desc)) +
                    " sets reserved bits or a matrix base offset (not emulated)");
    }
    if ((desc >> 62) != 0 && ((static_cast<uint32_t>(desc & 0x3FFFu) << 4 >> 7) & 7u) != 0) {
      fault(ex, block_prefix(ex) + ": " + at +
                    ": a swizzled operand's start address has bits 7-9 set (a row phase the "
                    "emulator does not model: start it on a 1024-byte boundary plus k bytes)");
    }
  }
  const bool bf16 = type == WgmmaType::kBf16;
  if (!bf16 && (first->trans_a || first->trans_b)) {
    fault(ex,
          block_prefix(ex) + ": " + at +
              ": a transposed (MN-major) TF32 operand (imm-trans applies to 16-bit types only)");
  }
  const unsigned kdim = bf16 ? 16 : 8;
  const unsigned row0 = 16 * (warp_index % 4);
  auto snap = std::make_shared<WgmmaSnapshot>();
  snap->at = at;
  // One 16-byte chunk of an operand at host address p (0: outside the dynamic shared memory):
  // checked, snapshot, recorded as lane 0's read in race mode.
  const auto read_chunk = [&](uintptr_t p, const char* what, unsigned index) {
    if (p == 0 || p % 16 != 0) {
      fault(ex, block_prefix(ex) + ": " + at + ": row " + std::to_string(index) + " of " + what +
                    " lies outside the block's dynamic shared memory");
    }
    std::array<std::byte, 16> bytes;
    std::memcpy(bytes.data(), reinterpret_cast<const void*>(p), 16);
    snap->chunks.push_back(reinterpret_cast<const std::byte*>(p));
    snap->bytes.push_back(bytes);
    if (ex.check.races) {
      record_access(ex, warp[0], p, 16, Access::kRead, first->pc, true);
      if (warp[0].error) {
        try {
          std::rethrow_exception(warp[0].error);
        } catch (const std::exception& e) {
          fault(ex, thread_prefix(ex, warp[0]) + ": " + at + ": " + e.what());
        }
      }
    }
    std::array<uint32_t, 4> words;
    std::memcpy(words.data(), bytes.data(), 16);
    return words;
  };
  // Rows from .. from + rows - 1 of an operand (A: the warp's 16, B: all N), element k of row
  // from + r at out[r * kdim + k]. K-major: each row's 32 bytes as two chunks; MN-major (BF16):
  // the chunk of 8 rows at each k.
  const auto read = [&](uint64_t desc, bool trans, unsigned from, unsigned rows, double* out,
                        const char* what) {
    if (!trans) {
      for (unsigned r = 0; r < rows; ++r) {
        for (unsigned chunk = 0; chunk < 2; ++chunk) {
          const auto words =
              read_chunk(wgmma_kmajor_byte(ex, desc, from + r, 16 * chunk), what, from + r);
          for (unsigned e = 0; e < (bf16 ? 8u : 4u); ++e) {
            out[r * kdim + chunk * (bf16 ? 8 : 4) + e] =
                bf16 ? bf16_operand(words[e / 2], e % 2) : tf32_operand(words[e]);
          }
        }
      }
      return;
    }
    for (unsigned r = 0; r < rows; r += 8) {
      for (unsigned k = 0; k < kdim; ++k) {
        const auto words = read_chunk(wgmma_mnmajor_chunk(ex, desc, from + r, k), what, from + r);
        for (unsigned e = 0; e < 8; ++e)
          out[(r + e) * kdim + k] = bf16_operand(words[e / 2], e % 2);
      }
    }
  };
  std::vector<double> a(16 * kdim), b(static_cast<size_t>(n) * kdim);
  read(first->desc_a, first->trans_a, row0, 16, a.data(), "A");
  read(first->desc_b, first->trans_b, 0, static_cast<unsigned>(n), b.data(), "B");
  ++ex.wg_issued[warp_index];
  for (unsigned lane = 0; lane < 32; ++lane) {
    Lane& l = warp[lane];
    const auto* w = reinterpret_cast<const WgmmaLane*>(l.value);
    const unsigned g = lane >> 2, t = lane & 3u;
    const WgmmaPending* chained = l.wgmma_writing(w->d);
    WgmmaPending op{w->d, std::vector<float>(static_cast<size_t>(n) / 2), snap};
    for (int j = 0; j < n / 8; ++j) {
      for (unsigned i = 0; i < 4; ++i) {
        const size_t reg = static_cast<size_t>(4 * j + static_cast<int>(i));
        const unsigned row = g + 8 * (i >> 1);
        const size_t col = static_cast<size_t>(8 * j) + 2 * t + (i & 1u);
        double sum = 0.0;
        if (w->scale_d) sum = chained != nullptr ? chained->result[reg] : w->d[reg];
        for (unsigned k = 0; k < kdim; ++k) sum += a[row * kdim + k] * b[col * kdim + k];
        op.result[reg] = static_cast<float>(sum);
      }
    }
    // Until a wait completes the op the registers are undefined: NaN here.
    for (int i = 0; i < n / 2; ++i) w->d[i] = std::numeric_limits<float>::quiet_NaN();
    l.wg_open.push_back(std::move(op));
  }
}

// Computes every result of one complete rendezvous (all lanes of `mask` arrived with the same
// op and mask) into each lane's own slot.
void resolve_group(Executor& ex, Lane* warp, uint32_t mask) {
  const Lane& first = warp[__builtin_ctz(mask)];
  const CollectiveOp op = first.op;
  uint64_t acc = 0;
  switch (op) {
    case CollectiveOp::kMma:
      resolve_mma(warp, static_cast<MmaKind>(first.param));
      return;
    case CollectiveOp::kWgmma:
      resolve_wgmma(ex, warp, first.param);
      return;
    case CollectiveOp::kLdMatrix: {
      const int matrices = first.param & 7;
      const bool trans = (first.param & 8) != 0;
      for (unsigned lane = 0; lane < 32; ++lane) {
        auto* l = reinterpret_cast<LdMatrixLane*>(warp[lane].value);
        for (int q = 0; q < matrices; ++q) {
          if (!trans) {
            const auto* src = reinterpret_cast<const LdMatrixLane*>(warp[8 * q + lane / 4].value);
            l->out[q] = src->row[lane % 4];
            continue;
          }
          // Element lane / 4 (a 16-bit half of word lane / 8) of rows 2 (lane % 4) and + 1.
          uint32_t word = 0;
          for (unsigned h = 0; h < 2; ++h) {
            const auto* src =
                reinterpret_cast<const LdMatrixLane*>(warp[8 * q + 2 * (lane % 4) + h].value);
            const uint32_t element = (src->row[lane / 8] >> (16 * ((lane / 4) % 2))) & 0xffffu;
            word |= element << (16 * h);
          }
          l->out[q] = word;
        }
      }
      return;
    }
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
          // mma.sync.aligned, ldmatrix.sync.aligned: every lane must execute the same instruction.
          if ((a.op == CollectiveOp::kMma || a.op == CollectiveOp::kLdMatrix ||
               a.op == CollectiveOp::kWgmma) &&
              (b.param != a.param || b.line != a.line || std::strcmp(b.file, a.file) != 0)) {
            fault(ex, block_prefix(ex) + ": lanes disagree at " + op_name(a.op) +
                          ".aligned (inside a divergent branch?): lane " + std::to_string(k) +
                          " of warp " + std::to_string(warp_index) + " is " + where(a) + ", lane " +
                          std::to_string(j) + " is " + where(b));
          }
          break;
      }
    }
    if (!ready) continue;
    resolve_group(ex, warp, a.mask);
    if (a.op == CollectiveOp::kSyncWarp) sync_warp_clocks(ex, warp_index, a.mask);
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
  start_interval(ex);
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
    l.started = false;
    l.at_hook = false;
    l.async_open.clear();
    l.async_groups.clear();
    l.wg_fenced = false;
    l.smem_unfenced = false;
    l.wg_open.clear();
    l.wg_groups.clear();
    l.fiber = bctx::fiber(
        std::allocator_arg, PooledStack{&ex.stacks, &l},
        [ex = &ex, lane = &l, body, arg](bctx::fiber&& sched) -> bctx::fiber {
          asan_switch_finish(nullptr, &ex->host.bottom, &ex->host.size);
          lane->started = true;
          lane->sched = std::move(sched);
          try {
            body(arg);
            if (const size_t n = lane->async_pending()) {
              throw UsageError("exits with " + std::to_string(n) +
                               " cp.async copies that no cp.async.wait_group completed");
            }
            if (const size_t n = lane->wgmma_pending()) {
              throw UsageError("exits with " + std::to_string(n) +
                               " wgmma.mma_async ops that no wgmma.wait_group completed");
            }
          } catch (const bctx::detail::forced_unwind&) {
            // Abandoning the block: Boost unwinds this stack and switches to the scheduler, and
            // the lane ends (a null fake stack tells ASan so).
            asan_switch_start(nullptr, ex->host.bottom, ex->host.size);
            throw;
          } catch (...) {
            lane->error = std::current_exception();
          }
          lane->state = LaneState::kDone;
          asan_switch_start(nullptr, ex->host.bottom, ex->host.size);
          return std::move(lane->sched);
        });
  }

  ex.wg_issued.assign((ex.nlanes + 31) / 32, 0);
  start_interval(ex);
  for (;;) {
    if (seed != 0) std::shuffle(ex.order.begin(), ex.order.end(), ex.rng);
    bool preempted = false;  // a thread stopped at a load or store and still runs
    for (unsigned i = 0; i < ex.nlanes; ++i) {
      Lane& l = ex.lanes[seed != 0 ? ex.order[i] : i];
      if (l.state == LaneState::kRun) {
        resume(ex, l);
        preempted |= l.state == LaneState::kRun;
      }
    }
    if (preempted) continue;
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

  // wgmma.mma_async.sync.aligned: every warp of a warpgroup executes each op.
  for (size_t w = 0; w + 1 < ex.wg_issued.size(); ++w) {
    if (w % 4 != 3 && ex.wg_issued[w] != ex.wg_issued[w + 1]) {
      fault(ex, block_prefix(ex) + ": the warps of warpgroup " + std::to_string(w / 4) +
                    " issued different numbers of wgmma.mma_async (warp " + std::to_string(w) +
                    ": " + std::to_string(ex.wg_issued[w]) + ", warp " + std::to_string(w + 1) +
                    ": " + std::to_string(ex.wg_issued[w + 1]) + ")");
    }
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

void set_race_check(bool on) { g_race_check.store(on); }
bool race_check() { return g_race_check.load(); }
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
  const ChecksOff off;
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
  yield(ex, l);
  return CollectiveResult{l.result, l.extra};
}

void warp_mma(MmaKind kind, MmaFragments& f, const std::source_location& loc) {
  warp_collective(CollectiveOp::kMma, 0xffffffffu, reinterpret_cast<uintptr_t>(&f),
                  static_cast<int>(kind), 32, loc);
}

void warp_ldmatrix(const void* row, int matrices, bool trans, uint32_t* out,
                   const std::source_location& loc) {
  const uintptr_t pc = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
  LdMatrixLane slot{};
  {
    const ChecksOff off;
    Lane& l = current_lane("ldmatrix");
    Executor& ex = executor();
    const std::string at = std::string(trans ? "ldmatrix.trans (" : "ldmatrix (") +
                           base_name(loc.file_name()) + ":" + std::to_string(loc.line()) + ")";
    if (matrices != 1 && matrices != 2 && matrices != 4) {
      throw UsageError(at + ": " + std::to_string(matrices) + " matrices (.x1, .x2 or .x4)");
    }
    if (l.linear % 32 < static_cast<unsigned>(8 * matrices)) {
      const auto a = reinterpret_cast<uintptr_t>(row);
      if (a % 16 != 0) {
        throw UsageError(at + ": row address " + address(a) + " is not 16-byte aligned");
      }
      bool shared = ex.check.dyn_smem.contains(a, 16);
      for (const auto& [p, bytes] : ex.static_shared) {
        shared |=
            Range{reinterpret_cast<uintptr_t>(p), reinterpret_cast<uintptr_t>(p) + bytes}.contains(
                a, 16);
      }
      if (!shared) {
        throw UsageError(at + ": row address " + address(a) +
                         " is not the block's shared memory (" + memory_where(ex, a, false) + ")");
      }
      check_access(ex, a, 16, Access::kRead, pc);
      if (l.error) yield(ex, l);  // the scheduler reports the failed check
      std::memcpy(slot.row, row, 16);
    }
  }
  // param: the matrix count, 8 more for .trans (a different instruction: lanes that disagree
  // fault as at different call sites).
  warp_collective(CollectiveOp::kLdMatrix, 0xffffffffu, reinterpret_cast<uintptr_t>(&slot),
                  matrices + (trans ? 8 : 0), 32, loc);
  for (int q = 0; q < matrices; ++q) out[q] = slot.out[q];
}

void cp_async(void* dst, const void* src, int cp_bytes, int src_bytes, bool cache_global,
              const std::source_location& loc) {
  const uintptr_t pc = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
  const ChecksOff off;
  Lane& l = current_lane("cp.async");
  Executor& ex = executor();
  const std::string at = std::string(cache_global ? "cp.async.cg" : "cp.async.ca") + " (" +
                         base_name(loc.file_name()) + ":" + std::to_string(loc.line()) + ")";
  const auto d = reinterpret_cast<uintptr_t>(dst), s = reinterpret_cast<uintptr_t>(src);
  if (cache_global ? cp_bytes != 16 : (cp_bytes != 4 && cp_bytes != 8 && cp_bytes != 16)) {
    throw UsageError(at + ": copy size " + std::to_string(cp_bytes) +
                     " (.cg copies 16 bytes, .ca 4, 8 or 16)");
  }
  if (src_bytes < 0 || src_bytes > cp_bytes) {
    throw UsageError(at + ": source size " + std::to_string(src_bytes) + " outside [0, " +
                     std::to_string(cp_bytes) + "]");
  }
  if (d % static_cast<unsigned>(cp_bytes) != 0 || s % static_cast<unsigned>(cp_bytes) != 0) {
    throw UsageError(at + ": destination " + address(d) + " and source " + address(s) +
                     " must be aligned to the copy size " + std::to_string(cp_bytes));
  }
  bool shared = ex.check.dyn_smem.contains(d, static_cast<size_t>(cp_bytes));
  for (const auto& [p, bytes] : ex.static_shared) {
    shared |=
        Range{reinterpret_cast<uintptr_t>(p), reinterpret_cast<uintptr_t>(p) + bytes}.contains(
            d, static_cast<size_t>(cp_bytes));
  }
  if (!shared) {
    throw UsageError(at + ": the destination " + address(d) +
                     " is not the block's shared memory (" + memory_where(ex, d, false) + ")");
  }
  // The source is read and the destination written at some time before the wait: both are
  // checked (and, in race mode, recorded) now. A copy of 0 source bytes reads nothing.
  // Issuing is not yet a write the async proxy must be fenced against: the landing is.
  const bool unfenced = l.smem_unfenced;
  check_access(ex, s, static_cast<size_t>(src_bytes), Access::kRead, pc);
  check_access(ex, d, static_cast<size_t>(cp_bytes), Access::kWrite, pc);
  l.smem_unfenced = unfenced;
  if (l.error) yield(ex, l);  // the scheduler reports the failed check
  std::memset(dst, 0xFF, static_cast<size_t>(cp_bytes));
  l.async_open.push_back(AsyncCopy{static_cast<std::byte*>(dst), static_cast<const std::byte*>(src),
                                   cp_bytes, src_bytes, pc});
}

void cp_async_commit() {
  const ChecksOff off;
  Lane& l = current_lane("cp.async.commit_group");
  l.async_groups.push_back(std::move(l.async_open));
  l.async_open.clear();
}

void cp_async_wait(int n) {
  const ChecksOff off;
  Lane& l = current_lane("cp.async.wait_group");
  Executor& ex = executor();
  if (n < 0) throw UsageError("cp.async.wait_group " + std::to_string(n) + ": negative count");
  while (l.async_groups.size() > static_cast<size_t>(n)) {
    for (const AsyncCopy& c : l.async_groups.front()) {
      // Landing is a write of the whole destination by this thread, now.
      check_access(ex, reinterpret_cast<uintptr_t>(c.dst), static_cast<size_t>(c.cp_bytes),
                   Access::kWrite, c.pc);
      if (l.error) yield(ex, l);
      std::memcpy(c.dst, c.src, static_cast<size_t>(c.src_bytes));
      std::memset(c.dst + c.src_bytes, 0, static_cast<size_t>(c.cp_bytes - c.src_bytes));
    }
    l.async_groups.pop_front();
  }
}

uint32_t shared_address(const void* p) {
  const ChecksOff off;
  current_lane("__cvta_generic_to_shared");
  Executor& ex = executor();
  const auto a = reinterpret_cast<uintptr_t>(p);
  if (!ex.check.dyn_smem.contains(a, 1)) {
    throw UsageError("__cvta_generic_to_shared of " + address(a) +
                     ": the emulator maps only the block's dynamic shared memory into the shared "
                     "window (" +
                     memory_where(ex, a, false) + ")");
  }
  return kDynamicSharedWindow + static_cast<uint32_t>(a - ex.check.dyn_smem.lo);
}

void wgmma_fence() {
  const ChecksOff off;
  current_lane("wgmma.fence").wg_fenced = true;
}

void wgmma_mma(WgmmaType type, int n, uint64_t desc_a, uint64_t desc_b, float* d, bool scale_d,
               bool trans_a, bool trans_b, const std::source_location& loc) {
  const uintptr_t pc = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
  {
    const ChecksOff off;
    current_lane("wgmma.mma_async");
    if (n < 8 || n > 256 || n % 8 != 0) {
      throw UsageError("wgmma.mma_async (" + std::string(base_name(loc.file_name())) + ":" +
                       std::to_string(loc.line()) + "): N = " + std::to_string(n) +
                       " (8 to 256 in steps of 8)");
    }
  }
  WgmmaLane slot{desc_a, desc_b, d, scale_d, trans_a, trans_b, pc};
  warp_collective(CollectiveOp::kWgmma, 0xffffffffu, reinterpret_cast<uintptr_t>(&slot),
                  (static_cast<int>(type) << 16) | n, 32, loc);
}

void wgmma_commit() {
  const ChecksOff off;
  Lane& l = current_lane("wgmma.commit_group");
  l.wg_groups.push_back(std::move(l.wg_open));
  l.wg_open.clear();
}

void wgmma_wait(int n) {
  const ChecksOff off;
  Lane& l = current_lane("wgmma.wait_group");
  if (n < 0) throw UsageError("wgmma.wait_group " + std::to_string(n) + ": negative count");
  while (l.wg_groups.size() > static_cast<size_t>(n)) {
    for (const WgmmaPending& op : l.wg_groups.front()) {
      const WgmmaSnapshot& snap = *op.snap;
      for (size_t i = 0; i < snap.chunks.size(); ++i) {
        if (std::memcmp(snap.chunks[i], snap.bytes[i].data(), 16) != 0) {
          throw UsageError(
              "shared memory that " + snap.at +
              " reads was written before the wgmma.wait_group that completes it (" +
              memory_where(executor(), reinterpret_cast<uintptr_t>(snap.chunks[i]), true) + ")");
        }
      }
      std::copy(op.result.begin(), op.result.end(), op.d);
    }
    l.wg_groups.pop_front();
  }
  l.wg_fenced = false;
}

void fence_proxy_async() {
  const ChecksOff off;
  current_lane("fence.proxy.async").smem_unfenced = false;
}

int block_barrier(BarrierOp op, int predicate, const std::source_location& loc) {
  const ChecksOff off;
  Lane& l = current_lane(barrier_name(op));
  l.file = loc.file_name();
  l.line = loc.line();
  l.bar_op = op;
  l.param = predicate != 0;
  l.state = LaneState::kBarrier;
  yield(executor(), l);
  return static_cast<int>(l.result);
}

uint32_t active_mask() {
  const ChecksOff off;
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

void* dynamic_smem_base() {
  const ChecksOff off;
  return executor().smem;
}

void atomic_access(const void* addr, size_t bytes) {
  if (Executor* ex = t_running) {
    check_access(*ex, reinterpret_cast<uintptr_t>(addr), bytes, Access::kAtomic,
                 reinterpret_cast<uintptr_t>(__builtin_return_address(0)));
  }
}

void* enter_static_shared(SharedSlot& slot, void* storage, size_t bytes) {
  const ChecksOff off;
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
  return true;
}

void enqueue_launch(const LaunchSpec& spec, std::function<void(const LaunchSpec&)> run) {
  const Error e = enqueue_work(spec.stream, true, [spec, run = std::move(run)](int device) {
    LaunchSpec s = spec;
    s.device = device;
    run(s);
  });
  if (e != kSuccess) return;
  std::lock_guard<std::mutex> lock(g_counts_mutex);
  ++counts()[spec.name];
}

void run_grid(const LaunchSpec& spec, void (*body)(void*), void* ctx) {
  Executor& ex = executor();
  if (ex.spec != nullptr) {
    throw std::logic_error(std::string("cuemu: launching '") + spec.name +
                           "' from inside a kernel is not supported");
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
  Checker& c = ex.check;
  c.races = g_race_check.load(std::memory_order_relaxed);
  c.device = spec.device;
  c.params = Range{reinterpret_cast<uintptr_t>(spec.params),
                   reinterpret_cast<uintptr_t>(spec.params) + spec.param_bytes};
  c.dyn_smem =
      Range{reinterpret_cast<uintptr_t>(ex.smem), reinterpret_cast<uintptr_t>(ex.smem) + spec.smem};
  c.dyn_canary = Range{c.dyn_smem.hi, c.dyn_smem.hi + kCanaryBytes};
  // Allocations may have been freed since the last launch.
  for (Range& r : c.alloc_cache) r = Range{};
  c.grid.clear();
  ex.nlanes = spec.block.x * spec.block.y * spec.block.z;
  ex.warp_waiting = 0;
  ex.interleave = seed() != 0 && ex.nlanes > 1;
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
      c.block = b;
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

// ---- the instrumentation's entry points (GCC -fsanitize=thread) --------------------------------
// Declared here because no header declares them; GCC calls them with the accessed address.
// Outside lanes they only cost a TLS load: instrumented host code runs through them too.
namespace cuemu {
namespace {
// Seed mode interleaves threads between barriers too: before about one load or store in 16 the
// thread yields, and the scheduler's next sweep (in a new random order) resumes it.
// A lane suspended here is never unwound (abandon_block keeps its fiber): the hook's callers
// are nothrow.
void maybe_preempt(Executor& ex) {
  if ((ex.rng() & 15) != 0) return;
  Lane& l = *ex.current;
  if (l.error) return;
  const ChecksOff off;
  l.at_hook = true;
  yield(ex, l);
  l.at_hook = false;
}

inline void hook(uintptr_t a, size_t n, Access kind, void* pc) {
  if (Executor* ex = t_running) {
    check_access(*ex, a, n, kind, reinterpret_cast<uintptr_t>(pc));
    if (ex->interleave) maybe_preempt(*ex);
  }
}
}  // namespace
}  // namespace cuemu

extern "C" {
#define CUEMU_HOOK(name, bytes, kind)                                                      \
  void __tsan_##name(void* a);                                                             \
  void __tsan_##name(void* a) {                                                            \
    cuemu::hook(reinterpret_cast<uintptr_t>(a), bytes, kind, __builtin_return_address(0)); \
  }
CUEMU_HOOK(read1, 1, cuemu::Access::kRead)
CUEMU_HOOK(read2, 2, cuemu::Access::kRead)
CUEMU_HOOK(read4, 4, cuemu::Access::kRead)
CUEMU_HOOK(read8, 8, cuemu::Access::kRead)
CUEMU_HOOK(read16, 16, cuemu::Access::kRead)
CUEMU_HOOK(write1, 1, cuemu::Access::kWrite)
CUEMU_HOOK(write2, 2, cuemu::Access::kWrite)
CUEMU_HOOK(write4, 4, cuemu::Access::kWrite)
CUEMU_HOOK(write8, 8, cuemu::Access::kWrite)
CUEMU_HOOK(write16, 16, cuemu::Access::kWrite)
CUEMU_HOOK(unaligned_read2, 2, cuemu::Access::kRead)
CUEMU_HOOK(unaligned_read4, 4, cuemu::Access::kRead)
CUEMU_HOOK(unaligned_read8, 8, cuemu::Access::kRead)
CUEMU_HOOK(unaligned_read16, 16, cuemu::Access::kRead)
CUEMU_HOOK(unaligned_write2, 2, cuemu::Access::kWrite)
CUEMU_HOOK(unaligned_write4, 4, cuemu::Access::kWrite)
CUEMU_HOOK(unaligned_write8, 8, cuemu::Access::kWrite)
CUEMU_HOOK(unaligned_write16, 16, cuemu::Access::kWrite)
#undef CUEMU_HOOK

void __tsan_read_range(void* a, size_t n);
void __tsan_read_range(void* a, size_t n) {
  cuemu::hook(reinterpret_cast<uintptr_t>(a), n, cuemu::Access::kRead, __builtin_return_address(0));
}
void __tsan_write_range(void* a, size_t n);
void __tsan_write_range(void* a, size_t n) {
  cuemu::hook(reinterpret_cast<uintptr_t>(a), n, cuemu::Access::kWrite,
              __builtin_return_address(0));
}
void __tsan_init();
void __tsan_init() {}
void __tsan_func_entry(void*);
void __tsan_func_entry(void*) {}
void __tsan_func_exit();
void __tsan_func_exit() {}
void __tsan_vptr_update(void**, void*);
void __tsan_vptr_update(void**, void*) {}
void __tsan_vptr_read(void**);
void __tsan_vptr_read(void**) {}

// Atomics in instrumented host code (kernel code's atomics are not instrumented, see
// intrinsics.h): performed as they are, with the memory order GCC passes.
#define CUEMU_TSAN_ATOMICS(bits, T)                                                              \
  T __tsan_atomic##bits##_load(const volatile T* a, int mo);                                     \
  T __tsan_atomic##bits##_load(const volatile T* a, int mo) { return __atomic_load_n(a, mo); }   \
  void __tsan_atomic##bits##_store(volatile T* a, T v, int mo);                                  \
  void __tsan_atomic##bits##_store(volatile T* a, T v, int mo) { __atomic_store_n(a, v, mo); }   \
  T __tsan_atomic##bits##_exchange(volatile T* a, T v, int mo);                                  \
  T __tsan_atomic##bits##_exchange(volatile T* a, T v, int mo) {                                 \
    return __atomic_exchange_n(a, v, mo);                                                        \
  }                                                                                              \
  CUEMU_TSAN_RMW(bits, T, fetch_add)                                                             \
  CUEMU_TSAN_RMW(bits, T, fetch_sub)                                                             \
  CUEMU_TSAN_RMW(bits, T, fetch_and)                                                             \
  CUEMU_TSAN_RMW(bits, T, fetch_or)                                                              \
  CUEMU_TSAN_RMW(bits, T, fetch_xor)                                                             \
  CUEMU_TSAN_RMW(bits, T, fetch_nand)                                                            \
  int __tsan_atomic##bits##_compare_exchange_strong(volatile T* a, T* c, T v, int mo, int fmo);  \
  int __tsan_atomic##bits##_compare_exchange_strong(volatile T* a, T* c, T v, int mo, int fmo) { \
    return __atomic_compare_exchange_n(a, c, v, false, mo, fmo);                                 \
  }                                                                                              \
  int __tsan_atomic##bits##_compare_exchange_weak(volatile T* a, T* c, T v, int mo, int fmo);    \
  int __tsan_atomic##bits##_compare_exchange_weak(volatile T* a, T* c, T v, int mo, int fmo) {   \
    return __atomic_compare_exchange_n(a, c, v, true, mo, fmo);                                  \
  }                                                                                              \
  T __tsan_atomic##bits##_compare_exchange_val(volatile T* a, T c, T v, int mo, int fmo);        \
  T __tsan_atomic##bits##_compare_exchange_val(volatile T* a, T c, T v, int mo, int fmo) {       \
    __atomic_compare_exchange_n(a, &c, v, false, mo, fmo);                                       \
    return c;                                                                                    \
  }
#define CUEMU_TSAN_RMW(bits, T, op)                         \
  T __tsan_atomic##bits##_##op(volatile T* a, T v, int mo); \
  T __tsan_atomic##bits##_##op(volatile T* a, T v, int mo) { return __atomic_##op(a, v, mo); }
CUEMU_TSAN_ATOMICS(8, char)
CUEMU_TSAN_ATOMICS(16, short)
CUEMU_TSAN_ATOMICS(32, int)
CUEMU_TSAN_ATOMICS(64, long)
#undef CUEMU_TSAN_RMW
#undef CUEMU_TSAN_ATOMICS
void __tsan_atomic_thread_fence(int mo);
void __tsan_atomic_thread_fence(int mo) { __atomic_thread_fence(mo); }
void __tsan_atomic_signal_fence(int mo);
void __tsan_atomic_signal_fence(int mo) { __atomic_signal_fence(mo); }
}
