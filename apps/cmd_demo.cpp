// v3d demo: the built-in training job on synthetic data (trainer/mlp_demo.h).
#include <cstdio>
#include <memory>
#include <string>

#include "apps/commands.h"
#include "kernels/common.h"
#include "runtime/device.h"
#include "trainer/mlp_demo.h"

namespace v3d::apps {

void add_demo_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "demo", "Train a small MLP on built-in synthetic data and report the held-out loss");
  auto opts = std::make_shared<MlpDemoOptions>();
  auto device = std::make_shared<std::string>("cpu");
  cmd->add_option("--device", *device, "cpu, cuda, cuda:N or emu (emulated CUDA, slow)")
      ->capture_default_str();
  cmd->add_option("--steps", opts->steps, "Training steps")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--batch", opts->batch, "Samples per step")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--hidden", opts->hidden, "Hidden units")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--lr", opts->lr, "SGD learning rate")->capture_default_str();
  cmd->add_option("--dropout", opts->dropout, "Dropout probability in [0, 1)")
      ->capture_default_str()
      ->check(CLI::Range(0.0f, 0.999f));
  cmd->add_option("--seed", opts->seed, "Random seed (data, initialisation, dropout)")
      ->capture_default_str();
  cmd->callback([opts, device] {
    opts->device = parse_device(*device);
    const MlpDemoResult r = run_mlp_demo(*opts);
    if (!(r.final_loss < 0.5f * r.initial_loss))
      throw Error("training did not converge (held-out loss " + std::to_string(r.initial_loss) +
                  " -> " + std::to_string(r.final_loss) + ")");
  });
}

}  // namespace v3d::apps
