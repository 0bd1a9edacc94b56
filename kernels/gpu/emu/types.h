// CUDA's qualifiers, built-in vector types and index variables for the host emulation.
// Everything with linkage lives in namespace cuemu and is brought into the global namespace by
// using-declarations, so objects built by nvcc (which define their own dim3, float2, ...) link
// into the same program without one-definition clashes.
#pragma once

#include <cstdint>

#if defined(__CUDACC__) || defined(__CUDA_ARCH__)
#error "kernels/gpu/emu is the host emulation; it must not be compiled by nvcc"
#endif

#define __global__
#define __device__
#define __host__
#define __constant__
#define __forceinline__ inline
#define __launch_bounds__(...)
// Static shared memory is declared with GPU_SHARED (compat.h), which the emulator can poison at
// every block start; a bare __shared__ would keep the previous block's values, so it is refused.
#define __shared__ \
  _Pragma("GCC error \"declare static shared memory with GPU_SHARED(T, name, dims)\"")

namespace cuemu {

struct uint3 {
  unsigned x, y, z;
};

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return uint3{x, y, z}; }
};

// CUDA's alignments matter: kernels vectorise loads through float4/int4 pointers.
struct alignas(8) float2 {
  float x, y;
};
struct float3 {
  float x, y, z;
};
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(8) int2 {
  int x, y;
};
struct int3 {
  int x, y, z;
};
struct alignas(16) int4 {
  int x, y, z, w;
};
struct alignas(8) uint2 {
  unsigned x, y;
};
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};
struct alignas(16) double2 {
  double x, y;
};

inline constexpr float2 make_float2(float x, float y) { return {x, y}; }
inline constexpr float3 make_float3(float x, float y, float z) { return {x, y, z}; }
inline constexpr float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline constexpr int2 make_int2(int x, int y) { return {x, y}; }
inline constexpr int3 make_int3(int x, int y, int z) { return {x, y, z}; }
inline constexpr int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
inline constexpr uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }
inline constexpr uint3 make_uint3(unsigned x, unsigned y, unsigned z) { return {x, y, z}; }
inline constexpr uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) {
  return {x, y, z, w};
}
inline constexpr double2 make_double2(double x, double y) { return {x, y}; }

// The scheduler writes these before it resumes a lane; reads are plain TLS loads. Safe because a
// lane (fiber) never migrates to another OS thread.
inline thread_local uint3 threadIdx{0, 0, 0};
inline thread_local uint3 blockIdx{0, 0, 0};
inline thread_local dim3 blockDim{1, 1, 1};
inline thread_local dim3 gridDim{1, 1, 1};
inline constexpr int warpSize = 32;

}  // namespace cuemu

using cuemu::blockDim;
using cuemu::blockIdx;
using cuemu::dim3;
using cuemu::double2;
using cuemu::float2;
using cuemu::float3;
using cuemu::float4;
using cuemu::gridDim;
using cuemu::int2;
using cuemu::int3;
using cuemu::int4;
using cuemu::make_double2;
using cuemu::make_float2;
using cuemu::make_float3;
using cuemu::make_float4;
using cuemu::make_int2;
using cuemu::make_int3;
using cuemu::make_int4;
using cuemu::make_uint2;
using cuemu::make_uint3;
using cuemu::make_uint4;
using cuemu::threadIdx;
using cuemu::uint2;
using cuemu::uint3;
using cuemu::uint4;
using cuemu::warpSize;
