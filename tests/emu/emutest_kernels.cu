// Self-test kernels of the CUDA host emulation. Built twice by v3d_add_gpu_library: executed
// under the emulator in ctest, and compiled by nvcc (run when a GPU is present) so the nvcc branch
// of compat.h is exercised with the same source.
#include <stdexcept>
#include <vector>

#include "kernels/gpu/check.h"
#include "kernels/gpu/compat.h"
#include "tests/emu/device_buffer.h"
#include "tests/emu/emutest_kernels.h"

namespace v3d::emutest::V3D_GPU_NS {
namespace {

constexpr unsigned kFull = 0xffffffffu;

unsigned ceil_div(size_t a, unsigned b) { return static_cast<unsigned>((a + b - 1) / b); }

// ---- kernels ----------------------------------------------------------------------------

// in: (n), out: (gridDim.x); block size a power of two <= 1024.
__global__ void block_reduce_kernel(const int* in, int* out, int n) {
  GPU_SHARED(int, s, [1024]);
  const unsigned t = threadIdx.x;
  const unsigned i = blockIdx.x * blockDim.x + t;
  s[t] = i < static_cast<unsigned>(n) ? in[i] : 0;
  __syncthreads();
  for (unsigned stride = blockDim.x / 2; stride > 0; stride >>= 1) {
    if (t < stride) s[t] += s[t + stride];
    __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = s[0];
}

__global__ void shuffle_kernel(const int* in, int* out, ShuffleParams p) {
  const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int v = in[i];
  out[4 * i + 0] = __shfl_sync(kFull, v, lane * 7 + p.src_offset, p.width);
  out[4 * i + 1] = __shfl_up_sync(kFull, v, p.delta, p.width);
  out[4 * i + 2] = __shfl_down_sync(kFull, v, p.delta, p.width);
  out[4 * i + 3] = __shfl_xor_sync(kFull, v, p.xor_mask, p.width);
}

__global__ void warp_ladder_kernel(const double* in, double* out) {
  const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  const unsigned lane = threadIdx.x % 32;
  const double v = in[i];
  double butterfly = v;
  for (int m = 16; m > 0; m >>= 1) butterfly += __shfl_xor_sync(kFull, butterfly, m);
  double down = v;
  for (unsigned d = 16; d > 0; d >>= 1) down += __shfl_down_sync(kFull, down, d);
  double scan = v;
  for (unsigned d = 1; d < 32; d <<= 1) {
    const double y = __shfl_up_sync(kFull, scan, d);
    if (lane >= d) scan += y;
  }
  out[3 * i + 0] = butterfly;
  out[3 * i + 1] = down;
  out[3 * i + 2] = scan;
}

__global__ void vote_kernel(const int* in, VoteResult* out) {
  const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  const unsigned lane = threadIdx.x % 32;
  const int v = in[i];
  VoteResult r;
  r.ballot = __ballot_sync(kFull, v > 0);
  r.any = static_cast<unsigned>(__any_sync(kFull, v > 5));
  r.all = static_cast<unsigned>(__all_sync(kFull, v >= 0));
  r.match_any = __match_any_sync(kFull, v % 3);
  int pred = 0;
  r.match_all = __match_all_sync(kFull, v / 1000, &pred);
  r.match_all_pred = static_cast<unsigned>(pred);
  r.active = __activemask();
  r.reduce_add = __reduce_add_sync(kFull, static_cast<unsigned>(v));
  r.reduce_max_u = __reduce_max_sync(kFull, static_cast<unsigned>(v));
  r.reduce_min_i = __reduce_min_sync(kFull, v - 50);
  // Two disjoint groups in one warp, each with its own mask.
  const unsigned half = lane < 16 ? 0x0000ffffu : 0xffff0000u;
  r.half_ballot = __ballot_sync(half, (v & 1) != 0);
  __syncwarp();
  out[i] = r;
}

__global__ void atomics_kernel(int* ints, unsigned* uints, unsigned long long* ulls, float* f,
                               double* d, unsigned* inc_old, unsigned* dec_old) {
  const unsigned t = blockIdx.x * blockDim.x + threadIdx.x;
  const int ti = static_cast<int>(t);
  atomicAdd(&ints[0], 1);
  atomicSub(&ints[1], 2);
  atomicMax(&ints[2], ti);
  atomicMin(&ints[3], -ti);
  int old = ints[4];
  int assumed = 0;
  do {
    assumed = old;
    old = atomicCAS(&ints[4], assumed, assumed + 1);
  } while (old != assumed);
  atomicExch(&ints[5], ti);
  atomicAdd_block(&ints[6], 1);
  atomicAnd(&uints[0], ~(1u << (t % 32)));
  atomicOr(&uints[1], 1u << (t % 32));
  atomicXor(&uints[2], t);
  inc_old[t] = atomicInc(&uints[3], 9u);
  dec_old[t] = atomicDec(&uints[4], 6u);
  atomicAdd(&ulls[0], 1ull << 33);
  atomicMax(&ulls[1], static_cast<unsigned long long>(t) << 40);
  atomicAdd(f, 0.5f);
  atomicAdd(d, 0.25);
}

__global__ void dyn_smem_kernel(const int* in, unsigned* initial, int* reversed) {
  GPU_DYNAMIC_SHARED(int, s);
  const unsigned t = threadIdx.x;
  const unsigned i = blockIdx.x * blockDim.x + t;
  initial[i] = static_cast<unsigned>(s[t]);
  __syncthreads();
  s[t] = in[i];
  __syncthreads();
  reversed[i] = s[blockDim.x - 1 - t];
}

__global__ void dyn_smem_double_kernel(const int* in, double* out) {
  GPU_DYNAMIC_SHARED(double, s);
  const unsigned t = threadIdx.x;
  const unsigned i = blockIdx.x * blockDim.x + t;
  s[t] = 2.0 * in[i];
  __syncthreads();
  out[i] = s[blockDim.x - 1 - t];
}

__global__ void index_kernel(int* out) {
  const unsigned threads = blockDim.x * blockDim.y * blockDim.z;
  const unsigned block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned local = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const unsigned packed =
      (((((blockIdx.z * 8 + blockIdx.y) * 8 + blockIdx.x) * 8 + threadIdx.z) * 8 + threadIdx.y) *
           8 +
       threadIdx.x);
  out[block * threads + local] = static_cast<int>(packed);
}

template <class T, int N>
__global__ void scale_k(T* x, T a, int n) {
  const int base = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x) * N;
  for (int k = 0; k < N; ++k) {
    if (base + k < n) x[base + k] *= a;
  }
}

__global__ void by_value_kernel(ByValueParams p, int v, int* out) {
  const int t = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  p.a[t % 4] += t;
  v += t;
  out[2 * t + 0] = v;
  out[2 * t + 1] = p.a[t % 4] + p.b;
}

__global__ void barrier_reduce_kernel(const int* pred, int* out) {
  const int p = pred[blockIdx.x * blockDim.x + threadIdx.x];
  const int count = __syncthreads_count(p);
  const int all = __syncthreads_and(p);
  const int any = __syncthreads_or(p);
  if (threadIdx.x == 0) {
    out[3 * blockIdx.x + 0] = count;
    out[3 * blockIdx.x + 1] = all;
    out[3 * blockIdx.x + 2] = any;
  }
}

__global__ void zero_arg_kernel() {}

__global__ void saxpy_kernel(int n, float a, const float* x, float* y) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) y[i] = a * x[i] + y[i];
}

__global__ void noop_kernel(int* out) {
  if (out != nullptr) out[0] = 1;
}

__global__ void last_writer_kernel(int* out) { out[blockIdx.x] = static_cast<int>(threadIdx.x); }

__global__ void ticket_kernel(int* counter, int* tickets) {
  if (threadIdx.x == 0) tickets[blockIdx.x] = atomicAdd(counter, 1);
}

// ---- misuse -----------------------------------------------------------------------------

__global__ void divergent_barrier_kernel(int* out) {
  if (threadIdx.x < 16) {
    __syncthreads();
  }
  __syncthreads();
  out[threadIdx.x] = 1;
}

__global__ void exit_before_barrier_kernel(int* out) {
  if (threadIdx.x >= 8) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}

__global__ void shuffle_outside_mask_kernel(int* out) {
  out[threadIdx.x] = __shfl_sync(0x1u, static_cast<int>(threadIdx.x), 0);
}

__global__ void mask_disagreement_kernel(int* out) {
  const unsigned mask = threadIdx.x < 16 ? kFull : 0xffff0000u;
  out[threadIdx.x] = __shfl_sync(mask, static_cast<int>(threadIdx.x), 0);
}

__global__ void op_disagreement_kernel(int* out) {
  const int v = static_cast<int>(threadIdx.x);
  if (threadIdx.x % 2 == 0) {
    out[threadIdx.x] = __shfl_up_sync(kFull, v, 1);
  } else {
    out[threadIdx.x] = __shfl_down_sync(kFull, v, 1);
  }
}

__global__ void warp_vs_barrier_kernel(int* out) {
  if (threadIdx.x < 16) {
    out[threadIdx.x] = __shfl_sync(kFull, static_cast<int>(threadIdx.x), 0);
  } else {
    __syncthreads();
  }
}

__global__ void smem_overflow_kernel(int* out) {
  GPU_DYNAMIC_SHARED(int, s);
  s[threadIdx.x + 1] = 7;  // the last thread writes one element past the buffer
  __syncthreads();
  out[threadIdx.x] = s[threadIdx.x];
}

__global__ void throwing_kernel(int* out) {
#if defined(CUEMU)
  if (threadIdx.x == 3) throw std::runtime_error("kernel-side failure");
#endif
  out[threadIdx.x] = 1;
}

// Planted bugs for the emulator's access checks. Deterministic order runs thread 0 first and
// each thread to its next barrier, so both broken copies below give the right numbers; only the
// race mode sees them.
// Thread 0 stages a value in shared memory and every thread reads it; BROKEN drops the barrier.
template <bool BROKEN>
__global__ void broadcast_kernel(int* out) {
  GPU_SHARED(int, value);
  if (threadIdx.x == 0) value = 42;
  if constexpr (!BROKEN) __syncthreads();
  out[blockIdx.x * blockDim.x + threadIdx.x] = value;
}

// Every thread increments out[0]; BROKEN uses a plain read-modify-write, which loses updates.
template <bool BROKEN>
__global__ void count_kernel(int* out) {
  if constexpr (BROKEN) {
    out[0] = out[0] + 1;
  } else {
    atomicAdd(out, 1);
  }
}

// One block writes all of out: (n), far more granules in one barrier interval than race mode
// tracks.
__global__ void fill_one_block_kernel(int* out, int n) {
  for (int i = static_cast<int>(threadIdx.x); i < n; i += static_cast<int>(blockDim.x)) out[i] = i;
}

// Every block's thread 0 stores its block index into out[0]: blocks are not ordered.
__global__ void last_block_wins_kernel(int* out) {
  if (threadIdx.x == 0) out[0] = static_cast<int>(blockIdx.x);
}

// The last thread stores one element past the end of `out`.
__global__ void store_past_end_kernel(int* out) { out[threadIdx.x + 1] = 1; }

// `in` is host memory, which a kernel cannot dereference.
__global__ void host_pointer_kernel(int* out, const int* in) { out[threadIdx.x] = in[threadIdx.x]; }

__global__ void fill_value_kernel(int* out, int n, int value) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) out[i] = value;
}

__global__ void copy_ints_kernel(const int* in, int* out, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) out[i] = in[i];
}

// A macro, not a function, so that GPU_LAUNCH sees (and the fault names) the kernel's own name.
#define V3D_RUN_MISUSE(kernel, threads, smem)                 \
  do {                                                        \
    DeviceBuffer<int> out(threads);                           \
    GPU_LAUNCH(kernel, 1, threads, smem, nullptr, out.get()); \
    V3D_CUDA_CHECK(gpu::DeviceSynchronize());                 \
  } while (0)

}  // namespace

// ---- launchers --------------------------------------------------------------------------

std::vector<int> block_reduce_sum(const std::vector<int>& in, int block) {
  const unsigned blocks = ceil_div(in.size(), static_cast<unsigned>(block));
  DeviceBuffer<int> d_in(in);
  DeviceBuffer<int> d_out(blocks);
  GPU_LAUNCH(block_reduce_kernel, blocks, block, 0, nullptr, d_in.get(), d_out.get(),
             static_cast<int>(in.size()));
  V3D_LAUNCH_CHECK("block_reduce_sum", nullptr);
  return d_out.download();
}

std::vector<int> shuffle_all(const std::vector<int>& in, int block, const ShuffleParams& p) {
  DeviceBuffer<int> d_in(in);
  DeviceBuffer<int> d_out(4 * in.size());
  GPU_LAUNCH(shuffle_kernel, ceil_div(in.size(), static_cast<unsigned>(block)), block, 0, nullptr,
             d_in.get(), d_out.get(), p);
  V3D_LAUNCH_CHECK("shuffle_all", nullptr);
  return d_out.download();
}

std::vector<double> warp_ladders(const std::vector<double>& in, int block) {
  DeviceBuffer<double> d_in(in);
  DeviceBuffer<double> d_out(3 * in.size());
  GPU_LAUNCH(warp_ladder_kernel, ceil_div(in.size(), static_cast<unsigned>(block)), block, 0,
             nullptr, d_in.get(), d_out.get());
  V3D_LAUNCH_CHECK("warp_ladders", nullptr);
  return d_out.download();
}

std::vector<VoteResult> votes(const std::vector<int>& in, int block) {
  DeviceBuffer<int> d_in(in);
  DeviceBuffer<VoteResult> d_out(in.size());
  GPU_LAUNCH(vote_kernel, ceil_div(in.size(), static_cast<unsigned>(block)), block, 0, nullptr,
             d_in.get(), d_out.get());
  V3D_LAUNCH_CHECK("votes", nullptr);
  return d_out.download();
}

AtomicsResult atomics(int threads, int block) {
  DeviceBuffer<int> ints(std::vector<int>{0, 0, -1000, 1000, 0, -1, 0});
  DeviceBuffer<unsigned> uints(std::vector<unsigned>{0xffffffffu, 0u, 0u, 0u, 0u});
  DeviceBuffer<unsigned long long> ulls(2);
  DeviceBuffer<float> f(1);
  DeviceBuffer<double> d(1);
  DeviceBuffer<unsigned> inc_old(static_cast<size_t>(threads));
  DeviceBuffer<unsigned> dec_old(static_cast<size_t>(threads));
  GPU_LAUNCH(atomics_kernel, static_cast<unsigned>(threads / block), block, 0, nullptr, ints.get(),
             uints.get(), ulls.get(), f.get(), d.get(), inc_old.get(), dec_old.get());
  V3D_LAUNCH_CHECK("atomics", nullptr);
  AtomicsResult r;
  r.ints = ints.download();
  r.uints = uints.download();
  const auto u = ulls.download();
  r.ull_sum = u[0];
  r.ull_max = u[1];
  r.float_sum = f.download()[0];
  r.double_sum = d.download()[0];
  r.inc_old = inc_old.download();
  r.dec_old = dec_old.download();
  return r;
}

DynSmemResult dynamic_smem(const std::vector<int>& in, int block) {
  const unsigned blocks = ceil_div(in.size(), static_cast<unsigned>(block));
  DeviceBuffer<int> d_in(in);
  DeviceBuffer<unsigned> initial(in.size());
  DeviceBuffer<int> reversed(in.size());
  DeviceBuffer<double> doubled(in.size());
  GPU_LAUNCH(dyn_smem_kernel, blocks, block, block * sizeof(int), nullptr, d_in.get(),
             initial.get(), reversed.get());
  V3D_LAUNCH_CHECK("dyn_smem_kernel", nullptr);
  GPU_LAUNCH(dyn_smem_double_kernel, blocks, block, block * sizeof(double), nullptr, d_in.get(),
             doubled.get());
  V3D_LAUNCH_CHECK("dyn_smem_double_kernel", nullptr);
  return DynSmemResult{initial.download(), reversed.download(), doubled.download()};
}

std::vector<int> index_map(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                           unsigned bz) {
  DeviceBuffer<int> out(size_t{gx} * gy * gz * bx * by * bz);
  GPU_LAUNCH(index_kernel, dim3(gx, gy, gz), dim3(bx, by, bz), 0, nullptr, out.get());
  V3D_LAUNCH_CHECK("index_map", nullptr);
  return out.download();
}

template <class T>
std::vector<T> scale(const std::vector<T>& x, T a) {
  DeviceBuffer<T> d_x(x);
  const unsigned per_block = 64 * 4;
  GPU_LAUNCH((scale_k<T, 4>), ceil_div(x.size(), per_block), 64, 0, nullptr, d_x.get(), a,
             static_cast<int>(x.size()));
  V3D_LAUNCH_CHECK("scale", nullptr);
  return d_x.download();
}

std::vector<float> scale_float(const std::vector<float>& x, float a) { return scale(x, a); }
std::vector<int> scale_int(const std::vector<int>& x, int a) { return scale(x, a); }

std::vector<int> by_value(const ByValueParams& p, int v, int threads) {
  DeviceBuffer<int> out(2 * static_cast<size_t>(threads));
  GPU_LAUNCH(by_value_kernel, static_cast<unsigned>(threads / 32), 32, 0, nullptr, p, v, out.get());
  V3D_LAUNCH_CHECK("by_value", nullptr);
  return out.download();
}

std::vector<int> barrier_reductions(const std::vector<int>& pred, int block) {
  const unsigned blocks = ceil_div(pred.size(), static_cast<unsigned>(block));
  DeviceBuffer<int> d_pred(pred);
  DeviceBuffer<int> out(3 * size_t{blocks});
  GPU_LAUNCH(barrier_reduce_kernel, blocks, block, 0, nullptr, d_pred.get(), out.get());
  V3D_LAUNCH_CHECK("barrier_reductions", nullptr);
  return out.download();
}

void zero_arg_launch() {
  GPU_LAUNCH(zero_arg_kernel, 2, 32, 0, nullptr);
  V3D_LAUNCH_CHECK("zero_arg", nullptr);
}

std::vector<float> saxpy(float a, const std::vector<float>& x, const std::vector<float>& y) {
  DeviceBuffer<float> d_x(x);
  DeviceBuffer<float> d_y(y);
  GPU_LAUNCH(saxpy_kernel, ceil_div(x.size(), 256), 256, 0, nullptr, static_cast<int>(x.size()), a,
             d_x.get(), d_y.get());
  V3D_LAUNCH_CHECK("saxpy", nullptr);
  return d_y.download();
}

int launch_config_error(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                        unsigned bz, size_t smem) {
  (void)gpu::GetLastError();
  GPU_LAUNCH(noop_kernel, dim3(gx, gy, gz), dim3(bx, by, bz), smem, nullptr, nullptr);
  return static_cast<int>(gpu::GetLastError());
}

void launch_checked(unsigned bx, size_t smem) {
  GPU_LAUNCH(noop_kernel, 1, bx, smem, nullptr, nullptr);
  V3D_LAUNCH_CHECK("launch_checked", nullptr);
}

int raise_smem_limit(int bytes) {
  return static_cast<int>(gpu::FuncSetMaxDynamicSharedMemory(noop_kernel, bytes));
}

float stream_and_events(int n) {
  gpu::Stream stream = nullptr;
  gpu::Event start = nullptr, stop = nullptr;
  V3D_CUDA_CHECK(gpu::StreamCreate(&stream));
  V3D_CUDA_CHECK(gpu::EventCreate(&start));
  V3D_CUDA_CHECK(gpu::EventCreate(&stop));
  DeviceBuffer<float> x(static_cast<size_t>(n));
  DeviceBuffer<float> y(static_cast<size_t>(n));
  V3D_CUDA_CHECK(gpu::MemsetAsync(y.get(), 0, sizeof(float) * static_cast<size_t>(n), stream));
  V3D_CUDA_CHECK(gpu::EventRecord(start, stream));
  GPU_LAUNCH(saxpy_kernel, ceil_div(static_cast<size_t>(n), 256), 256, 0, stream, n, 2.0f, x.get(),
             y.get());
  V3D_LAUNCH_CHECK("stream_and_events", stream);
  V3D_CUDA_CHECK(gpu::EventRecord(stop, stream));
  V3D_CUDA_CHECK(gpu::StreamWaitEvent(nullptr, stop));
  V3D_CUDA_CHECK(gpu::EventSynchronize(stop));
  float ms = -1.0f;
  V3D_CUDA_CHECK(gpu::EventElapsedTime(&ms, start, stop));
  V3D_CUDA_CHECK(gpu::StreamSynchronize(stream));
  V3D_CUDA_CHECK(gpu::EventDestroy(start));
  V3D_CUDA_CHECK(gpu::EventDestroy(stop));
  V3D_CUDA_CHECK(gpu::StreamDestroy(stream));
  return ms;
}

std::vector<int> last_writer(int blocks, int block) {
  DeviceBuffer<int> out(static_cast<size_t>(blocks));
  GPU_LAUNCH(last_writer_kernel, static_cast<unsigned>(blocks), block, 0, nullptr, out.get());
  V3D_LAUNCH_CHECK("last_writer", nullptr);
  return out.download();
}

std::vector<int> block_tickets(int blocks) {
  DeviceBuffer<int> counter(1);
  DeviceBuffer<int> tickets(static_cast<size_t>(blocks));
  GPU_LAUNCH(ticket_kernel, static_cast<unsigned>(blocks), 32, 0, nullptr, counter.get(),
             tickets.get());
  V3D_LAUNCH_CHECK("block_tickets", nullptr);
  return tickets.download();
}

int device_count(const char** error) {
  int count = 0;
  const gpu::Error e = gpu::GetDeviceCount(&count);
  *error = gpu::GetErrorString(e);
  return e == gpu::kSuccess ? count : 0;
}

void divergent_barrier() { V3D_RUN_MISUSE(divergent_barrier_kernel, 64, 0); }
void exit_before_barrier() { V3D_RUN_MISUSE(exit_before_barrier_kernel, 32, 0); }
void shuffle_outside_mask() { V3D_RUN_MISUSE(shuffle_outside_mask_kernel, 32, 0); }
void mask_disagreement() { V3D_RUN_MISUSE(mask_disagreement_kernel, 32, 0); }
void op_disagreement() { V3D_RUN_MISUSE(op_disagreement_kernel, 32, 0); }
void warp_op_against_barrier() { V3D_RUN_MISUSE(warp_vs_barrier_kernel, 32, 0); }
void smem_overflow() { V3D_RUN_MISUSE(smem_overflow_kernel, 32, 32 * sizeof(int)); }
void kernel_throws() { V3D_RUN_MISUSE(throwing_kernel, 32, 0); }

std::vector<int> broadcast(bool broken) {
  DeviceBuffer<int> out(2 * 64);
  if (broken) {
    GPU_LAUNCH((broadcast_kernel<true>), 2, 64, 0, nullptr, out.get());
  } else {
    GPU_LAUNCH((broadcast_kernel<false>), 2, 64, 0, nullptr, out.get());
  }
  V3D_LAUNCH_CHECK("broadcast_kernel", nullptr);
  return out.download();
}

int count_threads(bool broken) {
  DeviceBuffer<int> out(1);
  if (broken) {
    GPU_LAUNCH((count_kernel<true>), 1, 96, 0, nullptr, out.get());
  } else {
    GPU_LAUNCH((count_kernel<false>), 1, 96, 0, nullptr, out.get());
  }
  V3D_LAUNCH_CHECK("count_kernel", nullptr);
  return out.download()[0];
}

std::vector<int> fill_one_block(int n) {
  DeviceBuffer<int> out(static_cast<size_t>(n));
  GPU_LAUNCH(fill_one_block_kernel, 1, 256, 0, nullptr, out.get(), n);
  V3D_LAUNCH_CHECK("fill_one_block_kernel", nullptr);
  return out.download();
}

void blocks_write_one_address() {
  DeviceBuffer<int> out(1);
  GPU_LAUNCH(last_block_wins_kernel, 4, 32, 0, nullptr, out.get());
  V3D_CUDA_CHECK(gpu::DeviceSynchronize());
}

void store_past_end() { V3D_RUN_MISUSE(store_past_end_kernel, 32, 0); }

void read_host_pointer() {
  // 1 MiB, so the C library maps it apart from the heap that also holds emulated device memory.
  const std::vector<int> host(size_t{1} << 18, 5);
  DeviceBuffer<int> out(32);
  GPU_LAUNCH(host_pointer_kernel, 1, 32, 0, nullptr, out.get(), host.data());
  V3D_CUDA_CHECK(gpu::DeviceSynchronize());
}

std::vector<int> cross_stream_copy(int n, int value, bool wait) {
  gpu::Stream a = nullptr, b = nullptr;
  gpu::Event filled = nullptr;
  V3D_CUDA_CHECK(gpu::StreamCreate(&a));
  V3D_CUDA_CHECK(gpu::StreamCreate(&b));
  V3D_CUDA_CHECK(gpu::EventCreate(&filled));
  void* pd = nullptr;
  void* pout = nullptr;
  const size_t bytes = sizeof(int) * static_cast<size_t>(n);
  V3D_CUDA_CHECK(gpu::Malloc(&pd, bytes));
  V3D_CUDA_CHECK(gpu::Malloc(&pout, bytes));
  int* d = static_cast<int*>(pd);
  int* out = static_cast<int*>(pout);
  const unsigned blocks = ceil_div(static_cast<size_t>(n), 128);
  GPU_LAUNCH(fill_value_kernel, blocks, 128, 0, a, d, n, value);
  V3D_LAUNCH_CHECK("fill_value_kernel", a);
  V3D_CUDA_CHECK(gpu::EventRecord(filled, a));
  if (wait) V3D_CUDA_CHECK(gpu::StreamWaitEvent(b, filled));
  GPU_LAUNCH(copy_ints_kernel, blocks, 128, 0, b, d, out, n);
  V3D_LAUNCH_CHECK("copy_ints_kernel", b);
  std::vector<int> host(static_cast<size_t>(n));
  V3D_CUDA_CHECK(gpu::MemcpyAsync(host.data(), out, bytes, gpu::CopyKind::DeviceToHost, b));
  V3D_CUDA_CHECK(gpu::StreamSynchronize(b));
  V3D_CUDA_CHECK(gpu::DeviceSynchronize());
  V3D_CUDA_CHECK(gpu::Free(pd));
  V3D_CUDA_CHECK(gpu::Free(pout));
  V3D_CUDA_CHECK(gpu::EventDestroy(filled));
  V3D_CUDA_CHECK(gpu::StreamDestroy(a));
  V3D_CUDA_CHECK(gpu::StreamDestroy(b));
  return host;
}

std::vector<int> pinned_readback(int n, bool synchronise) {
  gpu::Stream s = nullptr;
  V3D_CUDA_CHECK(gpu::StreamCreate(&s));
  const size_t bytes = sizeof(int) * static_cast<size_t>(n);
  void* ph = nullptr;
  V3D_CUDA_CHECK(gpu::MallocHost(&ph, bytes));
  int* host = static_cast<int*>(ph);
  for (int i = 0; i < n; ++i) host[i] = 0;
  DeviceBuffer<int> d(static_cast<size_t>(n));
  GPU_LAUNCH(fill_value_kernel, ceil_div(static_cast<size_t>(n), 128), 128, 0, s, d.get(), n, 7);
  V3D_LAUNCH_CHECK("fill_value_kernel", s);
  V3D_CUDA_CHECK(gpu::MemcpyAsync(host, d.get(), bytes, gpu::CopyKind::DeviceToHost, s));
  if (synchronise) V3D_CUDA_CHECK(gpu::StreamSynchronize(s));
  std::vector<int> seen(host, host + n);
  V3D_CUDA_CHECK(gpu::StreamSynchronize(s));
  V3D_CUDA_CHECK(gpu::FreeHost(ph));
  V3D_CUDA_CHECK(gpu::StreamDestroy(s));
  return seen;
}

void store_to_other_device() {
  V3D_CUDA_CHECK(gpu::SetDevice(1));
  void* p = nullptr;
  V3D_CUDA_CHECK(gpu::Malloc(&p, 32 * sizeof(int)));
  V3D_CUDA_CHECK(gpu::SetDevice(0));
  GPU_LAUNCH(fill_value_kernel, 1, 32, 0, nullptr, static_cast<int*>(p), 32, 1);
  const gpu::Error e = gpu::DeviceSynchronize();
  (void)gpu::Free(p);
  V3D_CUDA_CHECK(e);
}

int launch_into_other_device_stream() {
  V3D_CUDA_CHECK(gpu::SetDevice(1));
  gpu::Stream s = nullptr;
  V3D_CUDA_CHECK(gpu::StreamCreate(&s));
  V3D_CUDA_CHECK(gpu::SetDevice(0));
  DeviceBuffer<int> out(32);
  GPU_LAUNCH(fill_value_kernel, 1, 32, 0, s, out.get(), 32, 1);
  const int e = static_cast<int>(gpu::GetLastError());
  V3D_CUDA_CHECK(gpu::SetDevice(1));
  V3D_CUDA_CHECK(gpu::StreamDestroy(s));
  V3D_CUDA_CHECK(gpu::SetDevice(0));
  return e;
}

}  // namespace v3d::emutest::V3D_GPU_NS
