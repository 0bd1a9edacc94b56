// What the x86 processor we run on can execute, read from CPUID and XGETBV. The CPU GEMM kernel is
// chosen from these feature bits (kernels/gemm_kernel.h), never from model numbers: a new
// processor with the same features gets the same kernel, and a library's table of known models
// (which is how OpenBLAS falls back to its generic kernel on processors newer than itself) plays no
// part. On other architectures every flag is false.
#pragma once

#include <string>
#include <vector>

namespace v3d::kernels {

struct CpuFeatures {
  std::string vendor;  // "GenuineIntel", "AuthenticAMD", ... (CPUID leaf 0)
  std::string brand;   // the processor's brand string (CPUID 0x80000002-4), trimmed
  int family = 0;      // display family and model, as /proc/cpuinfo prints them
  int model = 0;
  int stepping = 0;
  // Instruction sets the processor reports.
  bool sse3 = false, ssse3 = false, sse41 = false, sse42 = false;
  bool avx = false, avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512cd = false, avx512bw = false, avx512dq = false, avx512vl = false;
  bool avx512_vnni = false, avx512_bf16 = false, avx512_fp16 = false;
  bool amx_tile = false, amx_bf16 = false, amx_int8 = false;
  // Register state the operating system saves on a context switch (XCR0); an instruction set
  // is usable only when both the processor and the OS support it.
  bool os_ymm = false, os_zmm = false, os_amx = false;

  bool usable_avx() const { return avx && os_ymm; }
  bool usable_avx2_fma() const { return avx2 && fma && os_ymm; }
  // AVX-512 F, CD, BW, DQ and VL: the set every AVX-512 GEMM kernel here assumes.
  bool usable_avx512() const {
    return avx512f && avx512cd && avx512bw && avx512dq && avx512vl && os_zmm;
  }
  bool usable_avx512_bf16() const { return usable_avx512() && avx512_bf16; }
  bool usable_amx_bf16() const { return amx_tile && amx_bf16 && os_amx; }

  // The usable features by name ("avx2", "fma", "avx512f", ..., "amx_bf16"), as Linux names them.
  std::vector<std::string> names() const;
  // "AMD EPYC (AuthenticAMD family 25 model 17 stepping 1)".
  std::string describe() const;
};

// The features of the processor this process runs on (read once, then cached).
const CpuFeatures& cpu_features();

// Reads them afresh (for tests and `v3d info`).
CpuFeatures detect_cpu_features();

}  // namespace v3d::kernels
