// CUDA's global-namespace device helpers for the host emulation: min/max, fast-math intrinsics,
// bit manipulation, reinterpretation, fences and atomics with CUDA's exact semantics.
// Every free function here is `static inline` (internal linkage) so it cannot clash with the
// host-side definitions that CUDA headers give objects compiled by nvcc in the same program.
#pragma once

#include <math.h>
#include <cassert>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace cuemu::detail {

// Reports an atomic access to the emulator's access checks (runtime.cpp): an atomic conflicts
// only with plain writes. The atomics themselves are not instrumented (CUEMU_ATOMIC_FN), so they
// do not also count as plain accesses.
void atomic_access(const void* addr, size_t bytes);
#define CUEMU_ATOMIC_FN __attribute__((no_sanitize_thread)) static inline

template <class To, class From>
inline To bits_as(From v) {
  static_assert(sizeof(To) == sizeof(From));
  To out;
  std::memcpy(&out, &v, sizeof(out));
  return out;
}

template <class A, class B>
using ArithmeticCommon =
    std::enable_if_t<std::is_arithmetic_v<A> && std::is_arithmetic_v<B>, std::common_type_t<A, B>>;

// Lock-free compare-and-swap loop for the operations CUDA has but GCC's builtins lack (float add,
// wrap-around increment). Atomic builtins keep it correct even if two host threads launch
// kernels over the same memory.
template <class T, class Op>
__attribute__((no_sanitize_thread)) inline T atomic_update(T* addr, Op op) {
  atomic_access(addr, sizeof(T));
  if constexpr (std::is_integral_v<T>) {
    T old = __atomic_load_n(addr, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(addr, &old, op(old), false, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED)) {
    }
    return old;
  } else {
    using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
    U* ua = reinterpret_cast<U*>(addr);
    U old = __atomic_load_n(ua, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(ua, &old, bits_as<U>(op(bits_as<T>(old))), false,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
    return bits_as<T>(old);
  }
}

}  // namespace cuemu::detail

// ---- min / max (CUDA overloads these for every integer and floating type; mixed arguments take
// the usual arithmetic conversions, as CUDA's mixed overloads do) ---------------------------------
template <class A, class B>
static inline cuemu::detail::ArithmeticCommon<A, B> min(A a, B b) {
  using C = std::common_type_t<A, B>;
  return static_cast<C>(b) < static_cast<C>(a) ? static_cast<C>(b) : static_cast<C>(a);
}
template <class A, class B>
static inline cuemu::detail::ArithmeticCommon<A, B> max(A a, B b) {
  using C = std::common_type_t<A, B>;
  return static_cast<C>(a) < static_cast<C>(b) ? static_cast<C>(b) : static_cast<C>(a);
}
static inline unsigned umin(unsigned a, unsigned b) { return a < b ? a : b; }
static inline unsigned umax(unsigned a, unsigned b) { return a < b ? b : a; }
static inline long long llmin(long long a, long long b) { return a < b ? a : b; }
static inline long long llmax(long long a, long long b) { return a < b ? b : a; }

// ---- floating point ------------------------------------------------------------------------
// glibc's <math.h> already declares __expf, __logf, __sinf, ... (extern, as aliases of expf ...),
// so those are plain inline definitions here; CUDA defines them for the device only, so they do
// not clash with nvcc-compiled objects either.
static inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
static inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
static inline float rcbrtf(float x) { return 1.0f / std::cbrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __exp10f(float x) { return std::pow(10.0f, x); }
inline float __logf(float x) { return std::log(x); }
inline float __log2f(float x) { return std::log2(x); }
inline float __log10f(float x) { return std::log10(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __tanf(float x) { return std::tan(x); }
inline void __sincosf(float x, float* s, float* c) {
  *s = std::sin(x);
  *c = std::cos(x);
}
static inline float __fdividef(float a, float b) { return a / b; }
static inline float __frcp_rn(float x) { return 1.0f / x; }
static inline float __fsqrt_rn(float x) { return std::sqrt(x); }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
static inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }
static inline float __saturatef(float x) {
  // CUDA maps NaN to 0.
  return x > 0.0f ? (x < 1.0f ? x : 1.0f) : 0.0f;
}

// ---- reinterpretation ------------------------------------------------------------------------
static inline unsigned __float_as_uint(float x) { return cuemu::detail::bits_as<unsigned>(x); }
static inline float __uint_as_float(unsigned x) { return cuemu::detail::bits_as<float>(x); }
static inline int __float_as_int(float x) { return cuemu::detail::bits_as<int>(x); }
static inline float __int_as_float(int x) { return cuemu::detail::bits_as<float>(x); }
static inline long long __double_as_longlong(double x) {
  return cuemu::detail::bits_as<long long>(x);
}
static inline double __longlong_as_double(long long x) { return cuemu::detail::bits_as<double>(x); }

// ---- integer and bit manipulation ---------------------------------------------------------------
static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
static inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
static inline int __clzll(long long x) {
  return x == 0 ? 64 : __builtin_clzll(static_cast<unsigned long long>(x));
}
static inline int __ffs(int x) { return __builtin_ffs(x); }
static inline int __ffsll(long long x) { return __builtin_ffsll(x); }
static inline unsigned __brev(unsigned x) {
  x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
  x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
  x = ((x >> 4) & 0x0F0F0F0Fu) | ((x & 0x0F0F0F0Fu) << 4);
  return __builtin_bswap32(x);
}
static inline unsigned __umulhi(unsigned a, unsigned b) {
  return static_cast<unsigned>((static_cast<uint64_t>(a) * b) >> 32);
}
static inline int __mulhi(int a, int b) {
  return static_cast<int>((static_cast<int64_t>(a) * b) >> 32);
}
static inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
  return static_cast<unsigned long long>((static_cast<unsigned __int128>(a) * b) >> 64);
}
static inline int __mul24(int a, int b) { return a * b; }
static inline unsigned __umul24(unsigned a, unsigned b) { return a * b; }

// ---- memory ---------------------------------------------------------------------------------
template <class T>
static inline T __ldg(const T* p) {
  return *p;
}
// Lanes run one at a time with sequentially consistent memory, so fences only stop the compiler.
static inline void __threadfence() { __atomic_signal_fence(__ATOMIC_SEQ_CST); }
static inline void __threadfence_block() { __atomic_signal_fence(__ATOMIC_SEQ_CST); }
static inline void __threadfence_system() { __atomic_signal_fence(__ATOMIC_SEQ_CST); }
// Host ticks: emulator timings are meaningless, only monotonicity is kept.
static inline long long clock64() {
  return std::chrono::steady_clock::now().time_since_epoch().count();
}
static inline void __nanosleep(unsigned) {}

// ---- atomics (CUDA semantics; each returns the old value)
// ----------------------------------------
#define CUEMU_ATOMIC_BUILTIN(name, builtin, T)     \
  CUEMU_ATOMIC_FN T name(T* addr, T val) {         \
    cuemu::detail::atomic_access(addr, sizeof(T)); \
    return builtin(addr, val, __ATOMIC_RELAXED);   \
  }
CUEMU_ATOMIC_BUILTIN(atomicAdd, __atomic_fetch_add, int)
CUEMU_ATOMIC_BUILTIN(atomicAdd, __atomic_fetch_add, unsigned)
CUEMU_ATOMIC_BUILTIN(atomicAdd, __atomic_fetch_add, unsigned long long)
CUEMU_ATOMIC_BUILTIN(atomicSub, __atomic_fetch_sub, int)
CUEMU_ATOMIC_BUILTIN(atomicSub, __atomic_fetch_sub, unsigned)
CUEMU_ATOMIC_BUILTIN(atomicExch, __atomic_exchange_n, int)
CUEMU_ATOMIC_BUILTIN(atomicExch, __atomic_exchange_n, unsigned)
CUEMU_ATOMIC_BUILTIN(atomicExch, __atomic_exchange_n, unsigned long long)
CUEMU_ATOMIC_BUILTIN(atomicAnd, __atomic_fetch_and, int)
CUEMU_ATOMIC_BUILTIN(atomicAnd, __atomic_fetch_and, unsigned)
CUEMU_ATOMIC_BUILTIN(atomicAnd, __atomic_fetch_and, unsigned long long)
CUEMU_ATOMIC_BUILTIN(atomicOr, __atomic_fetch_or, int)
CUEMU_ATOMIC_BUILTIN(atomicOr, __atomic_fetch_or, unsigned)
CUEMU_ATOMIC_BUILTIN(atomicOr, __atomic_fetch_or, unsigned long long)
CUEMU_ATOMIC_BUILTIN(atomicXor, __atomic_fetch_xor, int)
CUEMU_ATOMIC_BUILTIN(atomicXor, __atomic_fetch_xor, unsigned)
CUEMU_ATOMIC_BUILTIN(atomicXor, __atomic_fetch_xor, unsigned long long)
#undef CUEMU_ATOMIC_BUILTIN

static inline float atomicAdd(float* addr, float val) {
  return cuemu::detail::atomic_update(addr, [val](float old) { return old + val; });
}
static inline double atomicAdd(double* addr, double val) {
  return cuemu::detail::atomic_update(addr, [val](double old) { return old + val; });
}
CUEMU_ATOMIC_FN float atomicExch(float* addr, float val) {
  return __uint_as_float(atomicExch(reinterpret_cast<unsigned*>(addr), __float_as_uint(val)));
}

#define CUEMU_ATOMIC_MINMAX(T)                                                                 \
  static inline T atomicMin(T* addr, T val) {                                                  \
    return cuemu::detail::atomic_update(addr, [val](T old) { return val < old ? val : old; }); \
  }                                                                                            \
  static inline T atomicMax(T* addr, T val) {                                                  \
    return cuemu::detail::atomic_update(addr, [val](T old) { return old < val ? val : old; }); \
  }
CUEMU_ATOMIC_MINMAX(int)
CUEMU_ATOMIC_MINMAX(unsigned)
CUEMU_ATOMIC_MINMAX(long long)
CUEMU_ATOMIC_MINMAX(unsigned long long)
#undef CUEMU_ATOMIC_MINMAX

// atomicInc: ((old >= val) ? 0 : old + 1); atomicDec: ((old == 0 || old > val) ? val : old - 1).
static inline unsigned atomicInc(unsigned* addr, unsigned val) {
  return cuemu::detail::atomic_update(addr,
                                      [val](unsigned old) { return old >= val ? 0u : old + 1u; });
}
static inline unsigned atomicDec(unsigned* addr, unsigned val) {
  return cuemu::detail::atomic_update(
      addr, [val](unsigned old) { return (old == 0u || old > val) ? val : old - 1u; });
}

#define CUEMU_ATOMIC_CAS(T)                                                                       \
  CUEMU_ATOMIC_FN T atomicCAS(T* addr, T compare, T val) {                                        \
    cuemu::detail::atomic_access(addr, sizeof(T));                                                \
    T expected = compare;                                                                         \
    __atomic_compare_exchange_n(addr, &expected, val, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED); \
    return expected;                                                                              \
  }
CUEMU_ATOMIC_CAS(int)
CUEMU_ATOMIC_CAS(unsigned)
CUEMU_ATOMIC_CAS(unsigned long long)
CUEMU_ATOMIC_CAS(unsigned short)
#undef CUEMU_ATOMIC_CAS

// Scoped variants: with one OS thread per launch every scope is the same.
#define CUEMU_ATOMIC_SCOPED(name)                     \
  template <class T, class... V>                      \
  static inline auto name##_block(T* addr, V... v) {  \
    return name(addr, static_cast<T>(v)...);          \
  }                                                   \
  template <class T, class... V>                      \
  static inline auto name##_system(T* addr, V... v) { \
    return name(addr, static_cast<T>(v)...);          \
  }
CUEMU_ATOMIC_SCOPED(atomicAdd)
CUEMU_ATOMIC_SCOPED(atomicSub)
CUEMU_ATOMIC_SCOPED(atomicExch)
CUEMU_ATOMIC_SCOPED(atomicMin)
CUEMU_ATOMIC_SCOPED(atomicMax)
CUEMU_ATOMIC_SCOPED(atomicInc)
CUEMU_ATOMIC_SCOPED(atomicDec)
CUEMU_ATOMIC_SCOPED(atomicCAS)
CUEMU_ATOMIC_SCOPED(atomicAnd)
CUEMU_ATOMIC_SCOPED(atomicOr)
CUEMU_ATOMIC_SCOPED(atomicXor)
#undef CUEMU_ATOMIC_SCOPED
#undef CUEMU_ATOMIC_FN
