// The emulator's execution model: kernel launch, block barriers, warp collectives and dynamic
// shared memory. A launch is queued on its stream (host_api.h); when the queue runs, one OS thread
// runs the blocks of the launch one after another; a block is one
// fiber per CUDA thread ("lane"), and a scheduler sweeps the lanes in ascending order, each
// running until it reaches __syncthreads, a warp collective or its end. Collectives are
// rendezvous: every participating lane records its arrival, the scheduler checks that they agree
// and writes each lane's result into that lane's own slot, so no lane can race ahead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <source_location>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "kernels/gpu/emu/types.h"

namespace cuemu {

// A fault during kernel execution: deadlock, collective misuse, shared-memory overflow or an
// exception thrown by kernel code. The message names the kernel, the block and the thread.
class KernelFault : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// 0 = deterministic order (blocks and lanes ascending). Any other value permutes the block order
// and the lane order of every sweep with an RNG seeded from it, which exposes order-dependent
// kernels. The initial value comes from the environment variable CUEMU_SEED.
void set_seed(uint64_t seed);
uint64_t seed();

// Race mode: records, per barrier interval, which thread read and wrote each shared and global
// address and faults on conflicting accesses of two threads that no __syncthreads or __syncwarp
// orders, and on conflicting global accesses of two blocks of one launch (atomics conflict only
// with plain writes). On unless the environment variable
// CUEMU_RACECHECK is 0: it about doubles the time of emulated kernels, which tests can afford.
// Bounds checks of kernel loads and stores are always on.
void set_race_check(bool on);
bool race_check();

// Launches per kernel, keyed by the kernel expression as written in GPU_LAUNCH.
std::map<std::string, uint64_t> launch_counts();
void reset_launch_counts();

enum class CollectiveOp : uint8_t {
  kShflIdx,
  kShflUp,
  kShflDown,
  kShflXor,
  kSyncWarp,
  kBallot,
  kAny,
  kAll,
  kMatchAny,
  kMatchAll,
  kReduceAddU,
  kReduceMinU,
  kReduceMaxU,
  kReduceMinI,
  kReduceMaxI,
  kReduceAnd,
  kReduceOr,
  kReduceXor,
  kMma,       // mma.sync.aligned: param is the MmaKind, value points to the lane's MmaFragments
  kLdMatrix,  // ldmatrix.sync.aligned: param is the matrix count, value points to LdMatrixLane
  kWgmma,  // wgmma.mma_async.sync.aligned: param is the WgmmaType and N, value points to WgmmaLane
};

enum class BarrierOp : uint8_t { kSync, kCount, kAnd, kOr };

// The warp-level MMA instructions the emulator implements (PTX ISA semantics and fragment layouts;
// docs/gpu.md lists them and the arithmetic):
//   kM16N8K8Tf32   mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32
//   kM16N8K16Bf16  mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
enum class MmaKind : int { kM16N8K8Tf32 = 0, kM16N8K16Bf16 = 1 };

// One lane's registers of an MMA: a (4 x .b32), b (2 x .b32), the accumulator c and the result d.
struct MmaFragments {
  uint32_t a[4];
  uint32_t b[2];
  float c[4];
  float d[4];
};

// The warpgroup MMA instructions the emulator implements (sm_90a; docs/gpu.md, "Hopper's warpgroup
// MMA"), both operands from shared memory through matrix descriptors:
//   kTf32  wgmma.mma_async.sync.aligned.m64nNk8.f32.tf32.tf32    (K-major operands only)
//   kBf16  wgmma.mma_async.sync.aligned.m64nNk16.f32.bf16.bf16   (K-major, or MN-major where
//          imm-trans-a / imm-trans-b is 1)
enum class WgmmaType : int { kTf32 = 0, kBf16 = 1 };

// One lane's operands of a wgmma: the descriptors, its N / 2 accumulator registers, scale-d and
// the transpose immediates (an operand MN-major).
struct WgmmaLane {
  uint64_t desc_a, desc_b;
  float* d;
  bool scale_d, trans_a, trans_b;
  uintptr_t pc;
};

// One lane's part of an ldmatrix: the 16-byte row it read (lanes 8q .. 8q+7 give the rows of
// matrix q) and the words it receives, one per matrix.
struct LdMatrixLane {
  uint32_t row[4];
  uint32_t out[4];
};

namespace detail {

struct CollectiveResult {
  uint64_t value;
  uint32_t extra;  // __match_all_sync's predicate
};

// Called from inside a lane: record the arrival and yield until the scheduler resolved it.
CollectiveResult warp_collective(CollectiveOp op, uint32_t mask, uint64_t value, int param,
                                 int width, const std::source_location& loc);
int block_barrier(BarrierOp op, int predicate, const std::source_location& loc);
// d = a * b + c over the warp: a rendezvous of all 32 lanes at the same instruction (source
// line), like every mma.sync.aligned; a lane that exited, waits elsewhere or lies beyond
// blockDim faults.
void warp_mma(MmaKind kind, MmaFragments& f, const std::source_location& loc);
// ldmatrix.sync.aligned.m8n8.x{1,2,4}.shared.b16 with 32-bit words: lane 8q + r gives the
// address of row r of matrix q (16 bytes of the block's shared memory, 16-byte aligned; lanes
// past 8 * matrices give none), and lane l receives word l % 4 of row l / 4 of each matrix in
// out[q]. With trans (.trans), the matrices are read transposed: lane l receives the 16-bit
// elements l / 4 of rows 2 (l % 4) (low half) and 2 (l % 4) + 1 (high half). A rendezvous of the
// whole warp at one instruction, as mma.sync (trans or not, one instruction); each row is read (and
// checked: bounds, poison, races) by the lane that names it, when it arrives.
void warp_ldmatrix(const void* row, int matrices, bool trans, uint32_t* out,
                   const std::source_location& loc);
// cp.async.{ca,cg}.shared.global [dst], [src], cp_bytes, src_bytes: src_bytes (0..cp_bytes) bytes
// of src, then zeros. Emulated strictly: the destination is poisoned at issue and written only
// when a cp.async.wait_group (or wait_all) of this thread completes the copy's group, so a read
// before the wait sees poison; in race mode the destination counts as written both at issue
// and at completion. A thread that exits with copies no wait completed faults.
void cp_async(void* dst, const void* src, int cp_bytes, int src_bytes, bool cache_global,
              const std::source_location& loc);
// cp.async.commit_group: the thread's uncommitted copies form a new group (possibly empty).
void cp_async_commit();
// cp.async.wait_group n: completes every committed group but the n most recent.
void cp_async_wait(int n);
// ---- Hopper's warpgroup MMA and the async proxy (docs/gpu.md, "Hopper's warpgroup MMA") ----
// The shared-memory address of p (__cvta_generic_to_shared), for matrix descriptors: only the
// dynamic shared memory is mapped, at window offset kDynamicSharedWindow (16-byte aligned and no
// more, as CUDA promises, so a kernel that needs a 1024-byte aligned swizzle atom must align it).
inline constexpr uint32_t kDynamicSharedWindow = 0x410;
uint32_t shared_address(const void* p);
// wgmma.fence.sync.aligned: this thread's register accesses are ordered before its next wgmma.
void wgmma_fence();
// wgmma.mma_async over the warpgroup (warps 4w .. 4w + 3 of the block) with D (64 x n) in the
// registers d (n / 2 floats per thread): each warp's rendezvous computes its 16 rows from shared
// memory as it is at issue, then d reads as NaN until a wgmma_wait completes the op's group
// (a read in between is undefined on hardware); shared memory the op read must not change before
// that wait (checked there). Faults: no wgmma_fence since the thread's last wait; shared-memory
// writes of any thread of the block not followed by its fence_proxy_async; an incomplete
// warpgroup; descriptors that differ between lanes, use a base offset, or leave the dynamic
// shared memory; a transposed (MN-major) TF32 operand. trans_a / trans_b: A / B MN-major.
void wgmma_mma(WgmmaType type, int n, uint64_t desc_a, uint64_t desc_b, float* d, bool scale_d,
               bool trans_a, bool trans_b, const std::source_location& loc);
// wgmma.commit_group.sync.aligned: this thread's uncommitted wgmma ops form a group.
void wgmma_commit();
// wgmma.wait_group n: completes every committed group but the n most recent, writing their
// results to the registers.
void wgmma_wait(int n);
// fence.proxy.async.shared::cta: this thread's shared-memory writes (stores, landed cp.async)
// become visible to the async proxy (wgmma's operand reads).
void fence_proxy_async();
uint32_t active_mask();
void* dynamic_smem_base();

// Per declaration of static shared memory (GPU_SHARED): the block it was last poisoned for.
struct SharedSlot {
  uint64_t block = 0;
};
// Poisons [storage, storage + bytes) when `slot` was not yet seen in the running block (block
// numbers count every block run on this OS thread from 1, across launches) and registers it as
// this block's shared memory. Returns `storage`, through an opaque call so that the compiler
// cannot see that accesses go to a thread_local and the access checks observe them.
void* enter_static_shared(SharedSlot& slot, void* storage, size_t bytes);
template <class T>
inline T& static_shared(SharedSlot& slot, T& storage) {
  static_assert(std::is_trivially_destructible_v<T>, "shared memory has no destructors");
  return *static_cast<T*>(enter_static_shared(slot, &storage, sizeof(T)));
}

struct LaunchSpec {
  const char* name;
  dim3 grid;
  dim3 block;
  size_t smem;
  const void* stream;
  const void* kernel_key;
  const void* params;  // the parameter buffer, which lanes read when they start
  size_t param_bytes;
  int device = 0;  // the emulated device it runs on (set when it is queued)
};

// Validates the configuration; false (and the sticky error set) when CUDA would refuse it.
bool check_launch(const LaunchSpec& spec);
// Queues the launch on its stream (refused, with the sticky error set, for a stream that is not a
// stream of the current device); run(spec) executes it when the stream's queue runs.
void enqueue_launch(const LaunchSpec& spec, std::function<void(const LaunchSpec&)> run);
// Runs every block; body(ctx) is one lane's kernel invocation.
void run_grid(const LaunchSpec& spec, void (*body)(void*), void* ctx);

template <class T>
inline uint64_t to_bits(const T& v) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8,
                "warp collectives move values of at most 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  return bits;
}
template <class T>
inline T from_bits(uint64_t bits) {
  T v;
  std::memcpy(&v, &bits, sizeof(T));
  return v;
}

template <class Kernel, class Params>
struct LaunchBody {
  Kernel kernel;
  const Params* params;
  // Not instrumented: `self` lives on the launching thread's stack. The kernel pointer is copied
  // to the lane's stack too: std::apply reads it through a reference, and where it is not inlined
  // (-O1, as in the sanitizer build) that read is instrumented.
  __attribute__((no_sanitize_thread)) static void run(void* self) {
    auto* b = static_cast<LaunchBody*>(self);
    // Each lane gets its own copy of the parameter buffer, so by-value parameters are per-thread
    // copies, as in CUDA.
    Params local = *b->params;
    Kernel kernel = b->kernel;
    std::apply(kernel, std::move(local));
  }
};

}  // namespace detail

// Dynamic shared memory of the running block (GPU_DYNAMIC_SHARED): every declaration aliases one
// 128-byte aligned buffer, filled with 0xFF at block start and guarded by a canary.
template <class T>
inline T* dynamic_smem() {
  return static_cast<T*>(detail::dynamic_smem_base());
}

template <class... P, class... A>
void launch(const char* name, dim3 grid, dim3 block, size_t smem, const void* stream,
            void (*kernel)(P...), A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "GPU_LAUNCH: wrong number of kernel arguments");
  using Params = std::tuple<std::decay_t<P>...>;
  using Body = detail::LaunchBody<void (*)(P...), Params>;
  // Converted once, like CUDA's parameter buffer, and kept until the queued launch has run.
  const std::shared_ptr<const Params> params = std::make_shared<Params>(std::forward<A>(args)...);
  const detail::LaunchSpec spec{name,         grid,          block,
                                smem,         stream,        reinterpret_cast<const void*>(kernel),
                                params.get(), sizeof(Params)};
  if (!detail::check_launch(spec)) return;
  detail::enqueue_launch(spec, [kernel, params](const detail::LaunchSpec& s) {
    Body body{kernel, params.get()};
    detail::run_grid(s, &Body::run, &body);
  });
}

}  // namespace cuemu

// ---- block barriers ------------------------------------------------------------------------
// The source location is recorded so that a deadlock report names the line each lane waits at.
static inline void __syncthreads(std::source_location loc = std::source_location::current()) {
  cuemu::detail::block_barrier(cuemu::BarrierOp::kSync, 0, loc);
}
static inline int __syncthreads_count(int pred,
                                      std::source_location loc = std::source_location::current()) {
  return cuemu::detail::block_barrier(cuemu::BarrierOp::kCount, pred, loc);
}
static inline int __syncthreads_and(int pred,
                                    std::source_location loc = std::source_location::current()) {
  return cuemu::detail::block_barrier(cuemu::BarrierOp::kAnd, pred, loc);
}
static inline int __syncthreads_or(int pred,
                                   std::source_location loc = std::source_location::current()) {
  return cuemu::detail::block_barrier(cuemu::BarrierOp::kOr, pred, loc);
}

// ---- warp collectives ------------------------------------------------------------------------
template <class T>
static inline T __shfl_sync(unsigned mask, T var, int src_lane, int width = warpSize,
                            std::source_location loc = std::source_location::current()) {
  using namespace cuemu::detail;
  return from_bits<T>(
      warp_collective(cuemu::CollectiveOp::kShflIdx, mask, to_bits(var), src_lane, width, loc)
          .value);
}
template <class T>
static inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                               std::source_location loc = std::source_location::current()) {
  using namespace cuemu::detail;
  return from_bits<T>(warp_collective(cuemu::CollectiveOp::kShflUp, mask, to_bits(var),
                                      static_cast<int>(delta), width, loc)
                          .value);
}
template <class T>
static inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                                 std::source_location loc = std::source_location::current()) {
  using namespace cuemu::detail;
  return from_bits<T>(warp_collective(cuemu::CollectiveOp::kShflDown, mask, to_bits(var),
                                      static_cast<int>(delta), width, loc)
                          .value);
}
template <class T>
static inline T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize,
                                std::source_location loc = std::source_location::current()) {
  using namespace cuemu::detail;
  return from_bits<T>(
      warp_collective(cuemu::CollectiveOp::kShflXor, mask, to_bits(var), lane_mask, width, loc)
          .value);
}
static inline void __syncwarp(unsigned mask = 0xffffffffu,
                              std::source_location loc = std::source_location::current()) {
  cuemu::detail::warp_collective(cuemu::CollectiveOp::kSyncWarp, mask, 0, 0, warpSize, loc);
}
static inline unsigned __ballot_sync(unsigned mask, int pred,
                                     std::source_location loc = std::source_location::current()) {
  return static_cast<unsigned>(cuemu::detail::warp_collective(cuemu::CollectiveOp::kBallot, mask,
                                                              pred != 0, 0, warpSize, loc)
                                   .value);
}
static inline int __any_sync(unsigned mask, int pred,
                             std::source_location loc = std::source_location::current()) {
  return static_cast<int>(
      cuemu::detail::warp_collective(cuemu::CollectiveOp::kAny, mask, pred != 0, 0, warpSize, loc)
          .value);
}
static inline int __all_sync(unsigned mask, int pred,
                             std::source_location loc = std::source_location::current()) {
  return static_cast<int>(
      cuemu::detail::warp_collective(cuemu::CollectiveOp::kAll, mask, pred != 0, 0, warpSize, loc)
          .value);
}
// The lanes of the calling warp that have not exited. On hardware this also depends on
// convergence; lanes here never run in lockstep, so exited lanes are the only inactive ones.
static inline unsigned __activemask() { return cuemu::detail::active_mask(); }
template <class T>
static inline unsigned __match_any_sync(
    unsigned mask, T value, std::source_location loc = std::source_location::current()) {
  using namespace cuemu::detail;
  return static_cast<unsigned>(
      warp_collective(cuemu::CollectiveOp::kMatchAny, mask, to_bits(value), 0, warpSize, loc)
          .value);
}
template <class T>
static inline unsigned __match_all_sync(
    unsigned mask, T value, int* pred, std::source_location loc = std::source_location::current()) {
  using namespace cuemu::detail;
  const CollectiveResult r =
      warp_collective(cuemu::CollectiveOp::kMatchAll, mask, to_bits(value), 0, warpSize, loc);
  *pred = static_cast<int>(r.extra);
  return static_cast<unsigned>(r.value);
}

#define CUEMU_WARP_REDUCE(name, T, op)                                                           \
  static inline T name(unsigned mask, T value,                                                   \
                       std::source_location loc = std::source_location::current()) {             \
    return static_cast<T>(static_cast<uint32_t>(                                                 \
        cuemu::detail::warp_collective(op, mask, static_cast<uint32_t>(value), 0, warpSize, loc) \
            .value));                                                                            \
  }
CUEMU_WARP_REDUCE(__reduce_add_sync, unsigned, cuemu::CollectiveOp::kReduceAddU)
CUEMU_WARP_REDUCE(__reduce_add_sync, int, cuemu::CollectiveOp::kReduceAddU)
CUEMU_WARP_REDUCE(__reduce_min_sync, unsigned, cuemu::CollectiveOp::kReduceMinU)
CUEMU_WARP_REDUCE(__reduce_min_sync, int, cuemu::CollectiveOp::kReduceMinI)
CUEMU_WARP_REDUCE(__reduce_max_sync, unsigned, cuemu::CollectiveOp::kReduceMaxU)
CUEMU_WARP_REDUCE(__reduce_max_sync, int, cuemu::CollectiveOp::kReduceMaxI)
CUEMU_WARP_REDUCE(__reduce_and_sync, unsigned, cuemu::CollectiveOp::kReduceAnd)
CUEMU_WARP_REDUCE(__reduce_or_sync, unsigned, cuemu::CollectiveOp::kReduceOr)
CUEMU_WARP_REDUCE(__reduce_xor_sync, unsigned, cuemu::CollectiveOp::kReduceXor)
#undef CUEMU_WARP_REDUCE
