// The training loop (trainer/train.h).
#include "trainer/train.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "data/atomic_file.h"
#include "data/prefetch.h"
#include "data/skeleton.h"
#include "data/windows.h"
#include "kernels/common.h"
#include "runtime/autograd.h"
#include "runtime/device.h"
#include "runtime/loss.h"
#include "runtime/optimizer.h"
#include "runtime/stream.h"
#include "trainer/checkpoint.h"
#include "trainer/model.h"
#include "trainer/progress.h"
#include "trainer/sequences.h"

namespace v3d {

namespace fs = std::filesystem;

namespace {

std::string join_widths(const std::vector<int64_t>& widths) {
  std::string s;
  for (int64_t w : widths) {
    if (!s.empty()) s += ',';
    s += std::to_string(w);
  }
  return s;
}

// Keeps the header (a first line that does not start with a digit or '{') and the lines of
// epochs <= `last_epoch` of an existing log, so a resumed run does not repeat epochs that a
// longer earlier run logged after its checkpoint.
void truncate_log(const fs::path& path, int64_t last_epoch) {
  std::ifstream in(path);
  if (!in) return;
  std::ostringstream kept;
  std::string line;
  while (std::getline(in, line)) {
    const size_t digit = line.find_first_of("0123456789");
    const bool data_line = !line.empty() && (line[0] == '{' || (line[0] >= '0' && line[0] <= '9'));
    if (data_line && digit != std::string::npos && std::stoll(line.substr(digit)) > last_epoch)
      continue;
    kept << line << '\n';
  }
  in.close();
  data::write_text_atomically(path.string(), kept.str());
}

std::string fmt(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), format, value);
  return buf;
}

class EpochLogWriter {
 public:
  EpochLogWriter(const fs::path& dir, int64_t resumed_epoch)
      : jsonl_(dir / "train_log.jsonl"), csv_(dir / "train_log.csv") {
    if (resumed_epoch > 0) {
      truncate_log(jsonl_, resumed_epoch);
      truncate_log(csv_, resumed_epoch);
    } else {
      std::ofstream(jsonl_, std::ios::trunc);
      std::ofstream(csv_, std::ios::trunc);
    }
    if (!fs::exists(csv_) || fs::file_size(csv_) == 0)
      open(csv_) << "epoch,train_mpjpe_mm,samples,seconds,samples_per_second,lr,bn_momentum\n";
  }

  void write(const EpochLog& e) {
    open(jsonl_) << "{\"epoch\": " << e.epoch
                 << ", \"train_mpjpe_mm\": " << fmt("%.6f", e.train_mpjpe_mm)
                 << ", \"samples\": " << e.samples << ", \"seconds\": " << fmt("%.3f", e.seconds)
                 << ", \"samples_per_second\": " << fmt("%.1f", e.samples_per_second)
                 << ", \"lr\": " << fmt("%.9g", e.lr)
                 << ", \"bn_momentum\": " << fmt("%.9g", e.bn_momentum) << "}\n";
    open(csv_) << e.epoch << ',' << fmt("%.6f", e.train_mpjpe_mm) << ',' << e.samples << ','
               << fmt("%.3f", e.seconds) << ',' << fmt("%.1f", e.samples_per_second) << ','
               << fmt("%.9g", e.lr) << ',' << fmt("%.9g", e.bn_momentum) << '\n';
  }

 private:
  static std::ofstream open(const fs::path& path) {
    std::ofstream out(path, std::ios::app);
    V3D_CHECK(out, path.string() << ": cannot open for writing");
    return out;
  }
  fs::path jsonl_, csv_;
};

}  // namespace

float bn_momentum_at(const BnMomentumConfig& momentum, int64_t epoch, int64_t epochs) {
  V3D_CHECK(epochs >= 1 && epoch >= 0, "bn_momentum_at: epoch " << epoch << " of " << epochs);
  return static_cast<float>(momentum.start *
                            std::pow(momentum.end / momentum.start,
                                     static_cast<double>(epoch) / static_cast<double>(epochs)));
}

ExperimentConfig checkpoint_config(const std::string& path,
                                   const std::vector<std::string>& overrides) {
  const Checkpoint ckpt = load_checkpoint(path);
  V3D_CHECK(!ckpt.config_yaml.empty(), path << ": the checkpoint stores no experiment config");
  return parse_config(ckpt.config_yaml, path, overrides);
}

TrainResult train(const ExperimentConfig& config, const TrainOptions& options) {
  validate_config(config);
  const TrainConfig& tc = config.train;
  const Device device = parse_device(config.device);
  const int64_t epochs = tc.epochs;
  const int64_t stop_epoch = options.max_epochs < 0 ? epochs : options.max_epochs;
  const fs::path out_dir =
      options.out_dir.empty() ? fs::path(tc.checkpoint_dir) : fs::path(options.out_dir);

  // Data: the whole training set is prepared once, then windowed per epoch.
  LoadedSequences loaded = load_sequences(config.data, Split::kTrain);
  const data::Skeleton& joints = loaded.joints;
  const data::Skeleton& keypoints = config.data.keypoints == Keypoints::kPseudoCoco
                                        ? keypoint_skeleton(config.data.keypoints)
                                        : joints;
  const int64_t joints_out = joints.num_joints();

  TemporalModel model(temporal_model_config(config.model, keypoints.num_joints(), 2, joints_out),
                      device, tc.seed);
  const int64_t pad = (model.receptive_field() - 1) / 2;

  data::BatchSpec spec;
  spec.batch_size = tc.batch_size;
  spec.pad = pad;
  spec.causal_shift = config.model.causal ? pad : 0;
  spec.mode = tc.mode;
  spec.flip = tc.flip;
  spec.shuffle = true;
  spec.seed = tc.seed;
  auto generator =
      std::make_unique<data::WindowGenerator>(std::move(loaded.sequences), keypoints, joints, spec);
  const int64_t batches_per_epoch = generator->num_batches();
  data::Prefetcher batches(std::move(generator), device);

  AdamOptions adam;
  adam.lr = static_cast<float>(tc.lr);
  AdamAmsgrad optimizer(model.parameters(), adam);
  PhiloxState dropout_rng{tc.seed, 0};
  int64_t epoch = 0;  // epochs complete
  float lr = static_cast<float>(tc.lr);

  TrainResult result;
  if (!options.resume.empty()) {
    const Checkpoint ckpt = load_checkpoint(options.resume, device);
    const std::string arch = join_widths(model.config().filter_widths);
    V3D_CHECK(ckpt.architecture == arch, options.resume << ": architecture " << ckpt.architecture
                                                        << " does not match the config's " << arch);
    V3D_CHECK(ckpt.optimizer.exp_avg.defined(),
              options.resume << ": no optimizer state (a weights-only checkpoint cannot be "
                                "resumed)");
    V3D_CHECK(!ckpt.generator_state.empty(),
              options.resume << ": no batch generator state; cannot resume");
    model.load_state_dict(ckpt.tensors);
    optimizer.load_state(ckpt.optimizer.steps, ckpt.optimizer.exp_avg, ckpt.optimizer.exp_avg_sq,
                         ckpt.optimizer.max_exp_avg_sq);
    try {
      batches.load_state(ckpt.generator_state);
    } catch (const Error& e) {
      throw Error(options.resume + ": " + e.what() + " (the data config differs)");
    }
    dropout_rng = PhiloxState{ckpt.dropout_seed, ckpt.dropout_offset};
    epoch = ckpt.epoch;
    lr = ckpt.lr;
    result.checkpoint = options.resume;
  }
  result.epochs = epoch;
  if (epoch >= stop_epoch) return result;

  std::error_code ec;
  fs::create_directories(out_dir, ec);
  V3D_CHECK(!ec && fs::is_directory(out_dir), out_dir.string()
                                                  << ": cannot create the output directory"
                                                  << (ec ? ": " + ec.message() : std::string()));
  EpochLogWriter log_writer(out_dir, epoch);
  const std::string config_yaml = to_yaml(config);

  auto save = [&](int64_t completed) {
    Checkpoint ckpt;
    ckpt.tensors = model.state_dict();
    ckpt.architecture = join_widths(model.config().filter_widths);
    ckpt.config_yaml = config_yaml;
    ckpt.epoch = completed;
    ckpt.lr = lr;
    ckpt.optimizer.steps = optimizer.steps();
    ckpt.optimizer.exp_avg = optimizer.exp_avg();
    ckpt.optimizer.exp_avg_sq = optimizer.exp_avg_sq();
    ckpt.optimizer.max_exp_avg_sq = optimizer.max_exp_avg_sq();
    ckpt.generator_state = batches.save_state();
    ckpt.dropout_seed = dropout_rng.seed;
    ckpt.dropout_offset = dropout_rng.offset;
    ckpt.metadata["created_by"] = "v3d train";
    const std::string path = (out_dir / ("epoch_" + std::to_string(completed) + ".h5")).string();
    save_checkpoint(ckpt, path);
    result.checkpoint = path;
  };

  std::optional<Progress> progress;
  if (!options.quiet) progress.emplace("train", (stop_epoch - epoch) * batches_per_epoch);
  int64_t batches_done = 0, samples_done = 0;
  const auto train_start = std::chrono::steady_clock::now();
  data::DeviceBatch batch;
  for (; epoch < stop_epoch; ++epoch) {
    EpochLog e;
    e.epoch = epoch + 1;
    e.lr = lr;
    e.bn_momentum = bn_momentum_at(tc.bn_momentum, epoch, epochs);
    optimizer.set_lr(lr);
    model.set_bn_momentum(e.bn_momentum);

    const auto epoch_start = std::chrono::steady_clock::now();
    double loss_sum = 0;  // frame-weighted, metres
    // The step losses not yet read: reading one is a device-to-host copy that waits for the step,
    // so on a GPU they are read only when the progress line prints and at the end of the epoch,
    // in step order (the same sum as reading each at once).
    std::vector<std::pair<Tensor, int64_t>> unread;
    const auto read_losses = [&] {
      for (const auto& [value, windows] : unread)
        loss_sum += static_cast<double>(value.item()) * static_cast<double>(windows);
      unread.clear();
    };
    batches.start_epoch();
    while (batches.next(batch)) {
      ++batches_done;
      // BN with batch statistics needs two windows; a last batch of one is skipped (PyTorch's
      // BatchNorm1d would refuse it too).
      if (batch.size < 2) continue;
      model.parameters().zero_grad();
      const Var loss = ag::mpjpe(
          channels_to_poses(model.forward_train(batch.inputs_2d, dropout_rng), joints_out),
          batch.targets_3d);
      loss.backward();
      optimizer.step();
      unread.emplace_back(loss.value(), batch.size);
      if (device.is_cpu()) read_losses();
      e.samples += batch.size;
      samples_done += batch.size;
      if (progress && progress->due()) {
        read_losses();
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - train_start).count();
        progress->update(batches_done,
                         "epoch " + std::to_string(e.epoch) + "/" + std::to_string(stop_epoch) +
                             " loss " + fmt("%.1f", 1000.0 * loss_sum / e.samples) + " mm, " +
                             fmt("%.0f", s > 0 ? static_cast<double>(samples_done) / s : 0.0) +
                             " samples/s");
      }
    }
    read_losses();
    synchronize(device);
    e.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
    e.train_mpjpe_mm = e.samples > 0 ? 1000.0 * loss_sum / static_cast<double>(e.samples) : 0.0;
    e.samples_per_second = e.seconds > 0 ? static_cast<double>(e.samples) / e.seconds : 0.0;
    // The lr of the next epoch, rounded to the float32 a checkpoint stores, so a resumed run
    // continues from exactly the same value.
    lr = static_cast<float>(static_cast<double>(lr) * tc.lr_decay);

    log_writer.write(e);
    result.log.push_back(e);
    result.epochs = epoch + 1;
    if (!options.quiet) {
      std::printf("[%lld] time %s lr %.6g bn_momentum %.5g 3d_train %.2f mm, %.0f samples/s\n",
                  static_cast<long long>(e.epoch), Progress::format_duration(e.seconds).c_str(),
                  static_cast<double>(e.lr), static_cast<double>(e.bn_momentum), e.train_mpjpe_mm,
                  e.samples_per_second);
      std::fflush(stdout);  // the progress line goes to stderr; keep the two in order
    }
    if ((epoch + 1) % tc.checkpoint_every == 0 || epoch + 1 == stop_epoch) save(epoch + 1);
  }
  if (progress)
    progress->finish("epoch " + std::to_string(result.epochs) + "/" + std::to_string(stop_epoch));
  return result;
}

}  // namespace v3d
