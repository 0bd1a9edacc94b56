// v3d info: what this build and machine offer.
#include <cblas.h>

#include <cstdio>
#include <string>

#include "apps/commands.h"
#include "runtime/device.h"

namespace v3d::apps {

void add_info_command(CLI::App& app) {
  auto* cmd =
      app.add_subcommand("info", "Show what this build and machine offer (CUDA, emulator, BLAS)");
  cmd->callback([] {
    std::printf("v3d %s\n", V3D_VERSION);
    std::printf("  CUDA backend built: %s\n", cuda_built() ? "yes" : "no");
    std::string why;
    const bool cuda = cuda_available(&why);
    std::printf("  CUDA device usable: %s%s%s\n", cuda ? "yes" : "no", cuda ? "" : " (",
                cuda ? "" : (why + ")").c_str());
    std::printf("  emulated CUDA device: emu (host emulation, for tests)\n");
    std::printf("  OpenBLAS: core %s, %d threads\n", openblas_get_corename(),
                openblas_get_num_threads());
  });
}

}  // namespace v3d::apps
