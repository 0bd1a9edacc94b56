// The v3d command: parses arguments, calls the library, prints. Subcommands:
//   v3d info    what this build and machine offer (CUDA, emulator, BLAS kernel)
//   v3d demo    the built-in training job on synthetic data (see trainer/mlp_demo.h)
#include <cblas.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "runtime/allocator.h"
#include "runtime/device.h"
#include "trainer/mlp_demo.h"

namespace {

int run_info() {
  std::printf("v3d %s\n", V3D_VERSION);
  std::printf("  CUDA backend built: %s\n", v3d::cuda_built() ? "yes" : "no");
  std::string why;
  const bool cuda = v3d::cuda_available(&why);
  std::printf("  CUDA device usable: %s%s%s\n", cuda ? "yes" : "no", cuda ? "" : " (",
              cuda ? "" : (why + ")").c_str());
  std::printf("  emulated CUDA device: emu (host emulation, for tests)\n");
  std::printf("  OpenBLAS: core %s, %d threads\n", openblas_get_corename(),
              openblas_get_num_threads());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"v3d: video-based 3D human pose estimation with temporal convolution networks"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("v3d ") + V3D_VERSION);

  app.add_subcommand("info", "Show what this build and machine offer (CUDA, emulator, BLAS)");

  auto* demo = app.add_subcommand(
      "demo", "Train a small MLP on built-in synthetic data and report the held-out loss");
  v3d::MlpDemoOptions demo_opts;
  std::string device = "cpu";
  demo->add_option("--device", device, "cpu, cuda, cuda:N or emu (emulated CUDA, slow)")
      ->capture_default_str();
  demo->add_option("--steps", demo_opts.steps, "Training steps")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  demo->add_option("--batch", demo_opts.batch, "Samples per step")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  demo->add_option("--hidden", demo_opts.hidden, "Hidden units")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  demo->add_option("--lr", demo_opts.lr, "SGD learning rate")->capture_default_str();
  demo->add_option("--dropout", demo_opts.dropout, "Dropout probability in [0, 1)")
      ->capture_default_str()
      ->check(CLI::Range(0.0f, 0.999f));
  demo->add_option("--seed", demo_opts.seed, "Random seed (data, initialisation, dropout)")
      ->capture_default_str();

  CLI11_PARSE(app, argc, argv);

  try {
    if (app.got_subcommand("info")) return run_info();
    if (app.got_subcommand("demo")) {
      demo_opts.device = v3d::parse_device(device);
      const v3d::MlpDemoResult r = v3d::run_mlp_demo(demo_opts);
      if (!(r.final_loss < 0.5f * r.initial_loss)) {
        std::fprintf(stderr, "v3d demo: training did not converge (loss %.5f -> %.5f)\n",
                     r.initial_loss, r.final_loss);
        return 1;
      }
      return 0;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "v3d: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
