// Self-test kernels of the tensor-core wrappers (kernels/cuda/mma.cuh): one warp's MMA from
// registers the test sets lane by lane, a 16 x 8 tile loaded with the documented fragment
// layouts, the conversions, cp.async pipelines, and misuse the emulator must report.
#include <cstdint>
#include <vector>

#include "kernels/cuda/mma.cuh"
#include "kernels/gpu/check.h"
#include "kernels/gpu/compat.h"
#include "tests/emu/device_buffer.h"
#include "tests/emu/emutest_kernels.h"

namespace v3d::emutest::V3D_GPU_NS {
namespace {

namespace tc = kernels::V3D_GPU_NS::tc;

// regs: 32 lanes x (4 a, 2 b) registers; c, d: 32 lanes x 4 floats.
template <bool kBf16>
__global__ void mma_registers_kernel(const uint32_t* regs, const float* c, float* d) {
  const unsigned lane = threadIdx.x;
  tc::FragAcc acc;
  for (int i = 0; i < 4; ++i) acc.x[i] = c[lane * 4 + i];
  const uint32_t* r = regs + lane * 6;
  if constexpr (kBf16) {
    const tc::FragABf16 a{{r[0], r[1], r[2], r[3]}};
    const tc::FragBBf16 b{{r[4], r[5]}};
    tc::mma_bf16(acc, a, b);
  } else {
    const tc::FragATf32 a{{r[0], r[1], r[2], r[3]}};
    const tc::FragBTf32 b{{r[4], r[5]}};
    tc::mma_tf32(acc, a, b);
  }
  for (int i = 0; i < 4; ++i) d[lane * 4 + i] = acc.x[i];
}

// a: (16, K) row-major, b: (K, 8) row-major, c and d: (16, 8); K = 8 (tf32) or 16 (bf16). Loads
// the fragments with the PTX ISA's layouts, converting with the device's cvt.
template <bool kBf16>
__global__ void mma_tile_kernel(const float* a, const float* b, const float* c, float* d) {
  const unsigned lane = threadIdx.x, g = lane >> 2, t = lane & 3u;
  tc::FragAcc acc{
      {c[g * 8 + 2 * t], c[g * 8 + 2 * t + 1], c[(g + 8) * 8 + 2 * t], c[(g + 8) * 8 + 2 * t + 1]}};
  if constexpr (kBf16) {
    constexpr unsigned K = 16;
    tc::FragABf16 fa;
    for (unsigned j = 0; j < 4; ++j) {
      const unsigned row = g + (j & 1u) * 8, col = 2 * t + (j >> 1) * 8;
      fa.x[j] = tc::pack_bf16x2(a[row * K + col], a[row * K + col + 1]);
    }
    tc::FragBBf16 fb;
    for (unsigned j = 0; j < 2; ++j) {
      const unsigned row = 2 * t + j * 8;
      fb.x[j] = tc::pack_bf16x2(b[row * 8 + g], b[(row + 1) * 8 + g]);
    }
    tc::mma_bf16(acc, fa, fb);
  } else {
    constexpr unsigned K = 8;
    const tc::FragATf32 fa{{tc::to_tf32(a[g * K + t]), tc::to_tf32(a[(g + 8) * K + t]),
                            tc::to_tf32(a[g * K + t + 4]), tc::to_tf32(a[(g + 8) * K + t + 4])}};
    const tc::FragBTf32 fb{{tc::to_tf32(b[t * 8 + g]), tc::to_tf32(b[(t + 4) * 8 + g])}};
    tc::mma_tf32(acc, fa, fb);
  }
  d[g * 8 + 2 * t] = acc.x[0];
  d[g * 8 + 2 * t + 1] = acc.x[1];
  d[(g + 8) * 8 + 2 * t] = acc.x[2];
  d[(g + 8) * 8 + 2 * t + 1] = acc.x[3];
}

__global__ void convert_kernel(const float* x, const float* y, uint32_t* tf32, uint32_t* bf16x2,
                               int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i >= n) return;
  tf32[i] = tc::to_tf32(x[i]);
  bf16x2[i] = tc::pack_bf16x2(x[i], y[i]);
}

// One block of 32 threads: thread i copies the kBytes chunk i of `in` into shared memory (the
// first src_bytes of it), waits, and after a barrier every thread writes its own element of
// another thread's chunk.
template <int kBytes>
__global__ void cp_async_roundtrip_kernel(const float* in, float* out, int src_bytes) {
  constexpr int kFloats = kBytes / 4;
  GPU_SHARED(float4, s4, [32 * kBytes / 16]);  // float4: 16-byte aligned
  float* s = &s4[0].x;
  const int i = static_cast<int>(threadIdx.x);
  tc::cp_async<kBytes>(&s[i * kFloats], in + i * kFloats, src_bytes);
  tc::cp_async_commit();
  tc::cp_async_wait<0>();
  __syncthreads();
  for (int j = 0; j < kFloats; ++j) {
    const int e = ((i + 1) % 32) * kFloats + j;
    out[e] = s[e];
  }
}

// Each thread: group 0 copies in[4i..4i+3], group 1 in[128 + 4i..]; after wait_group 1 it
// records both destinations (group 1 still in flight: poison), after wait_group 0 group 1 again.
// out: 12 ints per thread.
__global__ void cp_async_groups_kernel(const int* in, int* out) {
  GPU_SHARED(int4, s4, [2 * 128 / 4]);
  int* s = &s4[0].x;
  const int i = static_cast<int>(threadIdx.x);
  tc::cp_async<16>(&s[4 * i], in + 4 * i, 16);
  tc::cp_async_commit();
  tc::cp_async<16>(&s[128 + 4 * i], in + 128 + 4 * i, 16);
  tc::cp_async_commit();
  tc::cp_async_wait<1>();
  int* o = out + 12 * i;
  for (int j = 0; j < 4; ++j) o[j] = s[4 * i + j];
#if defined(CUEMU)
  // Reading a destination still in flight is a bug on a GPU; the emulator shows its poison.
  for (int j = 0; j < 4; ++j) o[4 + j] = s[128 + 4 * i + j];
#else
  for (int j = 0; j < 4; ++j) o[4 + j] = -1;
#endif
  tc::cp_async_wait<0>();
  for (int j = 0; j < 4; ++j) o[8 + j] = s[128 + 4 * i + j];
}

// ---- misuse (the emulator must fault) ---------------------------------------------------

// Thread i reads thread i+1's landed copy without the barrier after the waits.
__global__ void cp_async_no_barrier_kernel(const int* in, int* out) {
  GPU_SHARED(int4, s4, [64]);
  int* s = &s4[0].x;
  const int i = static_cast<int>(threadIdx.x);
  tc::cp_async<16>(&s[4 * i], in + 4 * i, 16);
  tc::cp_async_commit();
  tc::cp_async_wait<0>();
  out[i] = s[4 * ((i + 1) % 64)];
}

__global__ void cp_async_exit_pending_kernel(const int* in) {
  GPU_SHARED(int4, s4, [32]);
  int* s = &s4[0].x;
  const int i = static_cast<int>(threadIdx.x);
  tc::cp_async<16>(&s[4 * i], in + 4 * i, 16);
  tc::cp_async_commit();
}

__global__ void cp_async_misaligned_kernel(const int* in, int* out) {
  GPU_SHARED(int4, s4, [32 + 1]);
  int* s = &s4[0].x;
  const int i = static_cast<int>(threadIdx.x);
  tc::cp_async<16>(&s[4 * i + 1], in + 4 * i, 16);
  tc::cp_async_commit();
  tc::cp_async_wait<0>();
  out[i] = s[4 * i + 1];
}

__global__ void cp_async_to_global_kernel(const int* in, int* out) {
  const int i = static_cast<int>(threadIdx.x);
  tc::cp_async<16>(out + 4 * i, in + 4 * i, 16);
  tc::cp_async_commit();
  tc::cp_async_wait<0>();
}

__global__ void cp_async_past_end_kernel(const int* in, int* out) {
  GPU_SHARED(int4, s4, [32]);
  int* s = &s4[0].x;
  const int i = static_cast<int>(threadIdx.x);
  tc::cp_async<16>(&s[4 * i], in + 4 * i + 4, 16);  // the last thread reads past `in`
  tc::cp_async_commit();
  tc::cp_async_wait<0>();
  out[i] = s[4 * i];
}

// Thread i stages row i (4 words) in shared memory; after a barrier each lane names row rows[i]
// in an ldmatrix.x4 (.trans with kTrans) and stores its four registers.
template <bool kTrans>
__global__ void ldmatrix_kernel(const uint4* in, const int* rows, uint4* out) {
  GPU_SHARED(uint4, s, [32]);
  const int i = static_cast<int>(threadIdx.x);
  s[i] = in[i];
  __syncthreads();
  uint32_t r[4];
  tc::ldmatrix_x4<kTrans>(r, &s[rows[i]]);
  out[i] = uint4{r[0], r[1], r[2], r[3]};
}

__global__ void ldmatrix_global_kernel(const uint4* in, uint4* out) {
  uint32_t r[4];
  tc::ldmatrix_x4(r, in + threadIdx.x);
  out[threadIdx.x] = uint4{r[0], r[1], r[2], r[3]};
}

__global__ void ldmatrix_misaligned_kernel(uint4* out) {
  GPU_SHARED(uint4, s, [33]);
  const unsigned i = threadIdx.x;
  s[i] = uint4{i, i, i, i};
  __syncthreads();
  uint32_t r[4];
  tc::ldmatrix_x4(r, reinterpret_cast<const uint32_t*>(&s[i]) + 1);
  out[i] = uint4{r[0], r[1], r[2], r[3]};
}

__global__ void ldmatrix_divergent_kernel(uint4* out) {
  GPU_SHARED(uint4, s, [32]);
  const unsigned i = threadIdx.x;
  s[i] = uint4{i, i, i, i};
  __syncthreads();
  uint32_t r[4];
  if (i < 16) {
    tc::ldmatrix_x4(r, &s[i]);
  } else {
    tc::ldmatrix_x4(r, &s[i]);
  }
  out[i] = uint4{r[0], r[1], r[2], r[3]};
}

__global__ void mma_kernel_of(float* out) {
  tc::FragAcc acc{{0, 0, 0, 0}};
  const tc::FragATf32 a{{0, 0, 0, 0}};
  const tc::FragBTf32 b{{0, 0}};
  tc::mma_tf32(acc, a, b);
  out[threadIdx.x] = acc.x[0];
}

__global__ void mma_divergent_kernel(float* out) {
  tc::FragAcc acc{{0, 0, 0, 0}};
  const tc::FragATf32 a{{0, 0, 0, 0}};
  const tc::FragBTf32 b{{0, 0}};
  if (threadIdx.x < 16) {
    tc::mma_tf32(acc, a, b);
  } else {
    tc::mma_tf32(acc, a, b);
  }
  out[threadIdx.x] = acc.x[0];
}

__global__ void mma_exited_lane_kernel(float* out) {
  if (threadIdx.x == 7) return;
  tc::FragAcc acc{{0, 0, 0, 0}};
  const tc::FragATf32 a{{0, 0, 0, 0}};
  const tc::FragBTf32 b{{0, 0}};
  tc::mma_tf32(acc, a, b);
  out[threadIdx.x] = acc.x[0];
}

}  // namespace

std::vector<float> mma_registers(bool bf16, const std::vector<uint32_t>& regs,
                                 const std::vector<float>& c) {
  DeviceBuffer<uint32_t> d_regs(regs);
  DeviceBuffer<float> d_c(c), d_d(32 * 4);
  if (bf16) {
    GPU_LAUNCH((mma_registers_kernel<true>), 1, 32, 0, nullptr, d_regs.get(), d_c.get(), d_d.get());
  } else {
    GPU_LAUNCH((mma_registers_kernel<false>), 1, 32, 0, nullptr, d_regs.get(), d_c.get(),
               d_d.get());
  }
  V3D_LAUNCH_CHECK("mma_registers", nullptr);
  return d_d.download();
}

std::vector<float> mma_tile(bool bf16, const std::vector<float>& a, const std::vector<float>& b,
                            const std::vector<float>& c) {
  DeviceBuffer<float> d_a(a), d_b(b), d_c(c), d_d(16 * 8);
  if (bf16) {
    GPU_LAUNCH((mma_tile_kernel<true>), 1, 32, 0, nullptr, d_a.get(), d_b.get(), d_c.get(),
               d_d.get());
  } else {
    GPU_LAUNCH((mma_tile_kernel<false>), 1, 32, 0, nullptr, d_a.get(), d_b.get(), d_c.get(),
               d_d.get());
  }
  V3D_LAUNCH_CHECK("mma_tile", nullptr);
  return d_d.download();
}

std::vector<uint32_t> convert_tf32_bf16(const std::vector<float>& x, const std::vector<float>& y) {
  const int n = static_cast<int>(x.size());
  DeviceBuffer<float> d_x(x), d_y(y);
  DeviceBuffer<uint32_t> d_tf32(x.size()), d_bf16(x.size());
  GPU_LAUNCH(convert_kernel, (n + 63) / 64, 64, 0, nullptr, d_x.get(), d_y.get(), d_tf32.get(),
             d_bf16.get(), n);
  V3D_LAUNCH_CHECK("convert", nullptr);
  std::vector<uint32_t> out = d_tf32.download();
  const std::vector<uint32_t> packed = d_bf16.download();
  out.insert(out.end(), packed.begin(), packed.end());
  return out;
}

std::vector<float> cp_async_roundtrip(const std::vector<float>& in, int bytes, int src_bytes) {
  DeviceBuffer<float> d_in(in), d_out(in.size());
  switch (bytes) {
    case 4:
      GPU_LAUNCH((cp_async_roundtrip_kernel<4>), 1, 32, 0, nullptr, d_in.get(), d_out.get(),
                 src_bytes);
      break;
    case 8:
      GPU_LAUNCH((cp_async_roundtrip_kernel<8>), 1, 32, 0, nullptr, d_in.get(), d_out.get(),
                 src_bytes);
      break;
    default:
      GPU_LAUNCH((cp_async_roundtrip_kernel<16>), 1, 32, 0, nullptr, d_in.get(), d_out.get(),
                 src_bytes);
      break;
  }
  V3D_LAUNCH_CHECK("cp_async_roundtrip", nullptr);
  return d_out.download();
}

std::vector<int> cp_async_groups(const std::vector<int>& in) {
  DeviceBuffer<int> d_in(in), d_out(32 * 12);
  GPU_LAUNCH(cp_async_groups_kernel, 1, 32, 0, nullptr, d_in.get(), d_out.get());
  V3D_LAUNCH_CHECK("cp_async_groups", nullptr);
  return d_out.download();
}

void cp_async_no_barrier() {
  DeviceBuffer<int> d_in(4 * 64), d_out(64);
  GPU_LAUNCH(cp_async_no_barrier_kernel, 1, 64, 0, nullptr, d_in.get(), d_out.get());
  V3D_CUDA_CHECK(gpu::DeviceSynchronize());
}

void cp_async_exit_pending() {
  DeviceBuffer<int> d_in(4 * 32);
  GPU_LAUNCH(cp_async_exit_pending_kernel, 1, 32, 0, nullptr, d_in.get());
  V3D_CUDA_CHECK(gpu::DeviceSynchronize());
}

void cp_async_misaligned() {
  DeviceBuffer<int> d_in(4 * 32), d_out(32);
  GPU_LAUNCH(cp_async_misaligned_kernel, 1, 32, 0, nullptr, d_in.get(), d_out.get());
  V3D_CUDA_CHECK(gpu::DeviceSynchronize());
}

void cp_async_to_global() {
  DeviceBuffer<int> d_in(4 * 32), d_out(4 * 32);
  GPU_LAUNCH(cp_async_to_global_kernel, 1, 32, 0, nullptr, d_in.get(), d_out.get());
  V3D_CUDA_CHECK(gpu::DeviceSynchronize());
}

void cp_async_past_end() {
  DeviceBuffer<int> d_in(4 * 32), d_out(32);
  GPU_LAUNCH(cp_async_past_end_kernel, 1, 32, 0, nullptr, d_in.get(), d_out.get());
  V3D_CUDA_CHECK(gpu::DeviceSynchronize());
}

void mma_partial_warp() {
  DeviceBuffer<float> d_out(16);
  GPU_LAUNCH(mma_kernel_of, 1, 16, 0, nullptr, d_out.get());
  V3D_CUDA_CHECK(gpu::DeviceSynchronize());
}

void mma_divergent() {
  DeviceBuffer<float> d_out(32);
  GPU_LAUNCH(mma_divergent_kernel, 1, 32, 0, nullptr, d_out.get());
  V3D_CUDA_CHECK(gpu::DeviceSynchronize());
}

void mma_exited_lane() {
  DeviceBuffer<float> d_out(32);
  GPU_LAUNCH(mma_exited_lane_kernel, 1, 32, 0, nullptr, d_out.get());
  V3D_CUDA_CHECK(gpu::DeviceSynchronize());
}

std::vector<uint32_t> ldmatrix_x4(const std::vector<uint32_t>& in, const std::vector<int>& rows,
                                  bool trans) {
  DeviceBuffer<uint32_t> d_in(in), d_out(32 * 4);
  DeviceBuffer<int> d_rows(rows);
  const auto* src = reinterpret_cast<const uint4*>(d_in.get());
  auto* dst = reinterpret_cast<uint4*>(d_out.get());
  if (trans) {
    GPU_LAUNCH(ldmatrix_kernel<true>, 1, 32, 0, nullptr, src, d_rows.get(), dst);
  } else {
    GPU_LAUNCH(ldmatrix_kernel<false>, 1, 32, 0, nullptr, src, d_rows.get(), dst);
  }
  V3D_LAUNCH_CHECK("ldmatrix", nullptr);
  return d_out.download();
}

void ldmatrix_global() {
  DeviceBuffer<uint32_t> d_in(32 * 4), d_out(32 * 4);
  GPU_LAUNCH(ldmatrix_global_kernel, 1, 32, 0, nullptr, reinterpret_cast<const uint4*>(d_in.get()),
             reinterpret_cast<uint4*>(d_out.get()));
  V3D_CUDA_CHECK(gpu::DeviceSynchronize());
}

void ldmatrix_misaligned() {
  DeviceBuffer<uint32_t> d_out(32 * 4);
  GPU_LAUNCH(ldmatrix_misaligned_kernel, 1, 32, 0, nullptr, reinterpret_cast<uint4*>(d_out.get()));
  V3D_CUDA_CHECK(gpu::DeviceSynchronize());
}

void ldmatrix_divergent() {
  DeviceBuffer<uint32_t> d_out(32 * 4);
  GPU_LAUNCH(ldmatrix_divergent_kernel, 1, 32, 0, nullptr, reinterpret_cast<uint4*>(d_out.get()));
  V3D_CUDA_CHECK(gpu::DeviceSynchronize());
}

}  // namespace v3d::emutest::V3D_GPU_NS
