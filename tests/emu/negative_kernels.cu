// Negative tests of the emulator: correct kernels next to deliberately broken copies (a
// shared-memory reduction with its loop barrier removed, a tiled transpose with an off-by-one
// tile index). The tests require the emulator to show the broken ones wrong.
#include <vector>

#include "kernels/gpu/check.h"
#include "kernels/gpu/compat.h"
#include "tests/emu/emutest_kernels.h"

namespace v3d::emutest::V3D_GPU_NS {
namespace {

constexpr unsigned kReduceBlock = 256;
constexpr unsigned kTile = 16;

// in: (n), out: (gridDim.x) block sums. BROKEN drops the barrier inside the tree loop, so a lane
// reads its partner's slot before the partner has added into it.
template <bool BROKEN>
__global__ void tiled_reduce_kernel(const int* in, int* out, int n) {
  GPU_SHARED(int, tile, [kReduceBlock]);
  const unsigned t = threadIdx.x;
  const unsigned i = blockIdx.x * kReduceBlock + t;
  tile[t] = i < static_cast<unsigned>(n) ? in[i] : 0;
  __syncthreads();
  for (unsigned stride = kReduceBlock / 2; stride > 0; stride >>= 1) {
    if (t < stride) tile[t] += tile[t + stride];
    if constexpr (!BROKEN) __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = tile[0];
}

// in: (rows, cols) row-major, out: (cols, rows). BROKEN reads the staged tile one column off.
template <bool BROKEN>
__global__ void tiled_transpose_kernel(const float* in, float* out, int rows, int cols) {
  GPU_SHARED(float, tile, [kTile][kTile + 1]);  // +1 column: no bank conflicts on the column read
  const unsigned c = blockIdx.x * kTile + threadIdx.x;
  const unsigned r = blockIdx.y * kTile + threadIdx.y;
  if (r < static_cast<unsigned>(rows) && c < static_cast<unsigned>(cols)) {
    tile[threadIdx.y][threadIdx.x] = in[r * static_cast<unsigned>(cols) + c];
  }
  __syncthreads();
  const unsigned oc = blockIdx.y * kTile + threadIdx.x;  // output column = input row
  const unsigned orow = blockIdx.x * kTile + threadIdx.y;
  if (orow < static_cast<unsigned>(cols) && oc < static_cast<unsigned>(rows)) {
    out[orow * static_cast<unsigned>(rows) + oc] =
        tile[threadIdx.x][threadIdx.y + (BROKEN ? 1 : 0)];
  }
}

// Reads its slot of static shared memory before writing it (the planted bug), then writes it:
// out[t] = what the slot held on entry. Shared by two kernels, like a device helper.
__device__ void read_then_write_shared(unsigned* out, unsigned value) {
  GPU_SHARED(unsigned, slots, [kTile]);
  out[threadIdx.x] = slots[threadIdx.x];
  slots[threadIdx.x] = value;
}

// out: (gridDim.x, kTile).
__global__ void stale_shared_kernel_a(unsigned* out) {
  read_then_write_shared(out + blockIdx.x * kTile, blockIdx.x * 100 + threadIdx.x);
}
__global__ void stale_shared_kernel_b(unsigned* out) {
  read_then_write_shared(out + blockIdx.x * kTile, 7);
}

}  // namespace

std::vector<unsigned> shared_read_before_write() {
  unsigned* d_out = nullptr;
  const size_t bytes = 3 * kTile * sizeof(unsigned);
  V3D_CUDA_CHECK(gpu::Malloc(reinterpret_cast<void**>(&d_out), bytes));
  GPU_LAUNCH(stale_shared_kernel_a, 2, kTile, 0, nullptr, d_out);
  V3D_LAUNCH_CHECK("stale_shared_kernel_a", nullptr);
  GPU_LAUNCH(stale_shared_kernel_b, 1, kTile, 0, nullptr, d_out + 2 * kTile);
  V3D_LAUNCH_CHECK("stale_shared_kernel_b", nullptr);
  std::vector<unsigned> out(3 * kTile);
  V3D_CUDA_CHECK(gpu::Memcpy(out.data(), d_out, bytes, gpu::CopyKind::DeviceToHost));
  V3D_CUDA_CHECK(gpu::Free(d_out));
  return out;
}

std::vector<int> tiled_reduce(const std::vector<int>& in, bool broken) {
  const unsigned blocks = static_cast<unsigned>((in.size() + kReduceBlock - 1) / kReduceBlock);
  int* d_in = nullptr;
  int* d_out = nullptr;
  V3D_CUDA_CHECK(gpu::Malloc(reinterpret_cast<void**>(&d_in), in.size() * sizeof(int)));
  V3D_CUDA_CHECK(gpu::Malloc(reinterpret_cast<void**>(&d_out), blocks * sizeof(int)));
  V3D_CUDA_CHECK(
      gpu::Memcpy(d_in, in.data(), in.size() * sizeof(int), gpu::CopyKind::HostToDevice));
  if (broken) {
    GPU_LAUNCH((tiled_reduce_kernel<true>), blocks, kReduceBlock, 0, nullptr, d_in, d_out,
               static_cast<int>(in.size()));
  } else {
    GPU_LAUNCH((tiled_reduce_kernel<false>), blocks, kReduceBlock, 0, nullptr, d_in, d_out,
               static_cast<int>(in.size()));
  }
  V3D_LAUNCH_CHECK("tiled_reduce", nullptr);
  std::vector<int> out(blocks);
  V3D_CUDA_CHECK(gpu::Memcpy(out.data(), d_out, blocks * sizeof(int), gpu::CopyKind::DeviceToHost));
  V3D_CUDA_CHECK(gpu::Free(d_in));
  V3D_CUDA_CHECK(gpu::Free(d_out));
  return out;
}

std::vector<float> tiled_transpose(const std::vector<float>& in, int rows, int cols, bool broken) {
  const size_t bytes = in.size() * sizeof(float);
  float* d_in = nullptr;
  float* d_out = nullptr;
  V3D_CUDA_CHECK(gpu::Malloc(reinterpret_cast<void**>(&d_in), bytes));
  V3D_CUDA_CHECK(gpu::Malloc(reinterpret_cast<void**>(&d_out), bytes));
  V3D_CUDA_CHECK(gpu::Memcpy(d_in, in.data(), bytes, gpu::CopyKind::HostToDevice));
  V3D_CUDA_CHECK(gpu::Memset(d_out, 0, bytes));
  const dim3 grid((static_cast<unsigned>(cols) + kTile - 1) / kTile,
                  (static_cast<unsigned>(rows) + kTile - 1) / kTile);
  const dim3 block(kTile, kTile);
  if (broken) {
    GPU_LAUNCH((tiled_transpose_kernel<true>), grid, block, 0, nullptr, d_in, d_out, rows, cols);
  } else {
    GPU_LAUNCH((tiled_transpose_kernel<false>), grid, block, 0, nullptr, d_in, d_out, rows, cols);
  }
  V3D_LAUNCH_CHECK("tiled_transpose", nullptr);
  std::vector<float> out(in.size());
  V3D_CUDA_CHECK(gpu::Memcpy(out.data(), d_out, bytes, gpu::CopyKind::DeviceToHost));
  V3D_CUDA_CHECK(gpu::Free(d_in));
  V3D_CUDA_CHECK(gpu::Free(d_out));
  return out;
}

}  // namespace v3d::emutest::V3D_GPU_NS
