// v3d train: trains VideoPose3D's temporal model on an experiment config (trainer/train.h).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "apps/app_util.h"
#include "apps/commands.h"
#include "kernels/common.h"
#include "report/plot.h"
#include "runtime/communicator.h"
#include "runtime/device.h"
#include "trainer/config.h"
#include "trainer/train.h"

namespace v3d::apps {

namespace {

struct TrainArgs {
  std::string config;
  std::vector<std::string> sets;
  std::string device;
  std::string blas;
  std::string out;
  std::string resume;
  int64_t epochs = -1;
  bool quiet = false;
};

}  // namespace

void add_train_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "train",
      "Train the temporal model with VideoPose3D's recipe (AMSGrad, lr decay, BN momentum "
      "decay, flip augmentation) on an experiment config");
  cmd->footer(
      "Writes <out>/train_log.jsonl, <out>/train_log.csv and checkpoints <out>/epoch_<N>.h5 "
      "(every train.checkpoint_every epochs and after the last).\n"
      "Semi-supervised (train.semi_supervised.enabled, docs/training.md): also "
      "<out>/trajectory_model.h5; no --resume, one process.\n"
      "--resume continues a checkpoint bit-identically (on the CPU) to an uninterrupted run; "
      "without --config it uses the config stored in the checkpoint.\n"
      "Data parallel: launched by mpirun or srun with N ranks, each trains on its part of every "
      "global batch and gradients are all-reduced; on GPUs rank r of a node uses device r "
      "(docs/distributed.md). Rank 0 alone prints and writes.\n"
      "Examples:\n"
      "  v3d train --config configs/demo.yaml\n"
      "  v3d train --config configs/demo.yaml --device cuda --set model.channels=256\n"
      "  v3d train --resume checkpoints/demo/epoch_2.h5\n"
      "  mpirun -np 2 v3d train --config configs/demo.yaml");
  auto args = std::make_shared<TrainArgs>();
  cmd->add_option("--config", args->config, "Experiment config (YAML, docs/config.md)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--set", args->sets,
                  "Override a config key, e.g. --set train.lr=2e-3 (repeatable; later ones win)")
      ->allow_extra_args(false);
  add_device_option(*cmd, args->device);
  add_blas_option(*cmd, args->blas);
  cmd->add_option("--out", args->out,
                  "Output directory for checkpoints and logs (default: train.checkpoint_dir)");
  cmd->add_option("--resume", args->resume, "Checkpoint (.h5) to continue training from")
      ->check(CLI::ExistingFile);
  cmd->add_option("--epochs", args->epochs,
                  "Stop once N epochs in all are complete; the lr and BN momentum schedules "
                  "still follow train.epochs (use --set train.epochs=N to change those)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--quiet,-q", args->quiet, "No progress line and no per-epoch lines");
  cmd->callback([args] {
    if (args->config.empty() && args->resume.empty())
      throw Error("train: --config is required (or --resume with a checkpoint that stores one)");
    const std::vector<std::string> sets = with_device(args->sets, args->device);
    ExperimentConfig config = args->config.empty() ? checkpoint_config(args->resume, sets)
                                                   : load_config(args->config, sets);
    Communicator& host = world();
    config.device = rank_device(parse_device(config.device)).str();  // one GPU per rank
    // GPU ranks reduce with NCCL (on the emulated device its stand-in), bootstrapped over MPI.
    std::unique_ptr<Communicator> device_comm;
    const Device device = parse_device(config.device);
    const bool nccl_asked = config.train.communicator == "nccl";
    if (nccl_asked) {
      V3D_REQUIRE(device.is_gpu(),
                  "train.communicator=nccl needs a GPU device, not " << device.str());
    }
    if (device.is_gpu() && (host.world_size() > 1 || nccl_asked) &&
        (device.type == DeviceType::kEmu || nccl_built() || nccl_asked)) {
      device_comm = make_nccl_communicator(
          host.world_size() > 1 ? make_mpi_communicator() : make_single_communicator(),
          device.index, device.type);
    }
    Communicator& comm = device_comm ? *device_comm : host;
    const bool quiet = args->quiet || !writes_files(comm);
    // First line: the GEMM that will run (docs/cpu-gemm.md); chosen before any compute.
    const std::string gemm = apply_blas(args->blas, config.blas);
    if (!quiet) {
      const Device dev = parse_device(config.device);
      if (dev.is_cpu() || dev.gpu_kind() == kernels::GpuKind::kEmu)
        std::printf("%s\n", gemm.c_str());
      else
        std::printf("GEMM: cuBLAS on %s\n", dev.str().c_str());
      if (comm.world_size() > 1 || device_comm) {
        std::printf("Data parallel: %d rank(s), gradients reduced by %s\n", comm.world_size(),
                    comm.name().c_str());
      }
      std::fflush(stdout);
    }
    TrainOptions options;
    options.out_dir = args->out;
    options.resume = args->resume;
    options.max_epochs = args->epochs;
    options.quiet = args->quiet;
    options.comm = &comm;
    const TrainResult result = train(config, options);
    if (!writes_files(comm)) return;
    if (result.log.empty()) {
      std::printf("nothing to train: %lld epochs already complete\n",
                  static_cast<long long>(result.epochs));
      return;
    }
    const EpochLog& last = result.log.back();
    std::printf("trained %lld epochs (to epoch %lld): 3d_train %.2f mm, %.0f samples/s\n",
                static_cast<long long>(result.log.size()), static_cast<long long>(result.epochs),
                last.train_mpjpe_mm, last.samples_per_second);
    std::printf("checkpoint: %s\n", result.checkpoint.c_str());
    if (!result.checkpoint.empty()) {
      const std::filesystem::path png =
          std::filesystem::path(result.checkpoint).parent_path() / "training_curve.png";
      plot_training_curve(result.log, png.string());
      std::printf("training curve: %s\n", png.string().c_str());
    }
  });
}

}  // namespace v3d::apps
