// Benchmark helpers.
#include "benchmarks/bench_common.h"

#include <cblas.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace v3d::bench {

void maybe_reexec_with_native_blas(bool native, char** argv) {
  if (!native) return;
  if (std::getenv("OPENBLAS_CORETYPE") == nullptr && std::getenv("OPENBLAS_L2_SIZE") == nullptr)
    return;
  unsetenv("OPENBLAS_CORETYPE");
  unsetenv("OPENBLAS_L2_SIZE");
  execv("/proc/self/exe", argv);
  std::perror("re-executing without OPENBLAS_CORETYPE failed");  // only reached on failure
  std::exit(1);
}

std::string blas_core_name() { return openblas_get_corename(); }
int blas_threads() { return openblas_get_num_threads(); }

}  // namespace v3d::bench
