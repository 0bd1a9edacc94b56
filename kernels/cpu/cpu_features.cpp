// CPUID and XGETBV reading for kernels/cpu_features.h.
#include "kernels/cpu_features.h"

#include <cstdint>
#include <cstring>
#include <sstream>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define V3D_X86 1
#endif

namespace v3d::kernels {

namespace {

#ifdef V3D_X86
struct Regs {
  unsigned a = 0, b = 0, c = 0, d = 0;
};

Regs cpuid(unsigned leaf, unsigned sub = 0) {
  Regs r;
  if (!__get_cpuid_count(leaf, sub, &r.a, &r.b, &r.c, &r.d)) return Regs{};
  return r;
}

uint64_t xgetbv0() {
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

bool bit(unsigned v, int i) { return ((v >> i) & 1u) != 0; }
#endif

std::string trim(std::string s) {
  const auto b = s.find_first_not_of(' ');
  const auto e = s.find_last_not_of(' ');
  if (b == std::string::npos) return "";
  return s.substr(b, e - b + 1);
}

}  // namespace

CpuFeatures detect_cpu_features() {
  CpuFeatures f;
#ifdef V3D_X86
  const Regs r0 = cpuid(0);
  char vendor[13] = {};
  std::memcpy(vendor, &r0.b, 4);
  std::memcpy(vendor + 4, &r0.d, 4);
  std::memcpy(vendor + 8, &r0.c, 4);
  f.vendor = vendor;
  const unsigned max_leaf = r0.a;

  const Regs r1 = cpuid(1);
  const int base_family = static_cast<int>((r1.a >> 8) & 0xf);
  const int base_model = static_cast<int>((r1.a >> 4) & 0xf);
  f.family = base_family == 0xf ? base_family + static_cast<int>((r1.a >> 20) & 0xff) : base_family;
  f.model = (base_family == 0x6 || base_family == 0xf)
                ? base_model + (static_cast<int>((r1.a >> 16) & 0xf) << 4)
                : base_model;
  f.stepping = static_cast<int>(r1.a & 0xf);
  f.sse3 = bit(r1.c, 0);
  f.ssse3 = bit(r1.c, 9);
  f.fma = bit(r1.c, 12);
  f.sse41 = bit(r1.c, 19);
  f.sse42 = bit(r1.c, 20);
  f.avx = bit(r1.c, 28);
  f.f16c = bit(r1.c, 29);
  const bool osxsave = bit(r1.c, 27);
  if (osxsave) {
    const uint64_t xcr0 = xgetbv0();
    f.os_ymm = (xcr0 & 0x6) == 0x6;                // XMM and YMM state
    f.os_zmm = f.os_ymm && (xcr0 & 0xe0) == 0xe0;  // opmask, ZMM_Hi256, Hi16_ZMM
    f.os_amx = (xcr0 & 0x60000) == 0x60000;        // XTILECFG and XTILEDATA
  }
  if (max_leaf >= 7) {
    const Regs r7 = cpuid(7, 0);
    f.avx2 = bit(r7.b, 5);
    f.avx512f = bit(r7.b, 16);
    f.avx512dq = bit(r7.b, 17);
    f.avx512cd = bit(r7.b, 28);
    f.avx512bw = bit(r7.b, 30);
    f.avx512vl = bit(r7.b, 31);
    f.avx512_vnni = bit(r7.c, 11);
    f.avx512_fp16 = bit(r7.d, 23);
    f.amx_bf16 = bit(r7.d, 22);
    f.amx_tile = bit(r7.d, 24);
    f.amx_int8 = bit(r7.d, 25);
    if (r7.a >= 1) f.avx512_bf16 = bit(cpuid(7, 1).a, 5);
  }
  if (cpuid(0x80000000).a >= 0x80000004) {
    char brand[49] = {};
    for (unsigned i = 0; i < 3; ++i) {
      const Regs r = cpuid(0x80000002 + i);
      std::memcpy(brand + 16 * i, &r.a, 4);
      std::memcpy(brand + 16 * i + 4, &r.b, 4);
      std::memcpy(brand + 16 * i + 8, &r.c, 4);
      std::memcpy(brand + 16 * i + 12, &r.d, 4);
    }
    f.brand = trim(brand);
  }
#endif
  return f;
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect_cpu_features();
  return f;
}

std::vector<std::string> CpuFeatures::names() const {
  std::vector<std::string> out;
  auto add = [&](bool on, const char* name) {
    if (on) out.emplace_back(name);
  };
  add(sse3, "sse3");
  add(ssse3, "ssse3");
  add(sse41, "sse4_1");
  add(sse42, "sse4_2");
  add(avx && os_ymm, "avx");
  add(avx2 && os_ymm, "avx2");
  add(fma && os_ymm, "fma");
  add(f16c && os_ymm, "f16c");
  add(avx512f && os_zmm, "avx512f");
  add(avx512cd && os_zmm, "avx512cd");
  add(avx512bw && os_zmm, "avx512bw");
  add(avx512dq && os_zmm, "avx512dq");
  add(avx512vl && os_zmm, "avx512vl");
  add(avx512_vnni && os_zmm, "avx512_vnni");
  add(avx512_bf16 && os_zmm, "avx512_bf16");
  add(avx512_fp16 && os_zmm, "avx512_fp16");
  add(amx_tile && os_amx, "amx_tile");
  add(amx_bf16 && os_amx, "amx_bf16");
  add(amx_int8 && os_amx, "amx_int8");
  return out;
}

std::string CpuFeatures::describe() const {
  std::ostringstream os;
  os << (brand.empty() ? std::string("unknown processor") : brand) << " ("
     << (vendor.empty() ? std::string("unknown vendor") : vendor) << " family " << family
     << " model " << model << " stepping " << stepping << ")";
  return os.str();
}

}  // namespace v3d::kernels
