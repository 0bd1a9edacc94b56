// The training loop (trainer/train.h).
#include "trainer/train.h"

#include <algorithm>
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
#include "kernels/text.h"
#include "runtime/autograd.h"
#include "runtime/communicator.h"
#include "runtime/device.h"
#include "runtime/grad_buckets.h"
#include "runtime/loss.h"
#include "runtime/ops.h"
#include "runtime/optimizer.h"
#include "runtime/stream.h"
#include "runtime/temporal_conv.h"
#include "trainer/checkpoint.h"
#include "trainer/model.h"
#include "trainer/progress.h"
#include "trainer/restore.h"
#include "trainer/semi.h"
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

// Keeps the header (a first line that does not start with a digit or '{') and the complete lines
// of epochs <= `last_epoch` of an existing log, so a resumed run does not repeat epochs that a
// longer earlier run logged after its checkpoint, nor keep a line torn by a killed run (a JSON
// line without its closing '}', a CSV line without all the header's fields).
void truncate_log(const fs::path& path, int64_t last_epoch) {
  std::ifstream in(path);
  if (!in) return;
  std::ostringstream kept;
  std::string line;
  std::optional<size_t> csv_fields;  // the header's comma count
  while (std::getline(in, line)) {
    const size_t digit = line.find_first_of("0123456789");
    const bool data_line = !line.empty() && (line[0] == '{' || (line[0] >= '0' && line[0] <= '9'));
    if (!data_line) {
      if (!csv_fields) csv_fields = static_cast<size_t>(std::count(line.begin(), line.end(), ','));
      kept << line << '\n';
      continue;
    }
    const bool complete = line[0] == '{'
                              ? line.back() == '}'
                              : csv_fields && static_cast<size_t>(std::count(
                                                  line.begin(), line.end(), ',')) == *csv_fields;
    const std::optional<int64_t> epoch = parse_integer<int64_t>(
        line.substr(digit, line.find_first_not_of("0123456789", digit) - digit));
    if (!complete || !epoch || *epoch > last_epoch) continue;
    kept << line << '\n';
  }
  in.close();
  data::write_text_atomically(path.string(), kept.str());
}

// FNV-1a over the bits of the model's weights and BN running statistics.
uint64_t weights_checksum(const TemporalModel& model) {
  uint64_t h = 0xcbf29ce484222325ull;
  const auto mix = [&](const Tensor& t) {
    const std::vector<float> v = t.to_vector();
    const auto* p = reinterpret_cast<const unsigned char*>(v.data());
    for (size_t i = 0; i < v.size() * sizeof(float); ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  };
  mix(model.parameters().flat_values());
  for (const auto& [name, buffer] : model.buffers()) mix(buffer);
  return h;
}

std::string fmt(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), format, value);
  return buf;
}

class EpochLogWriter {
 public:
  // precision: train.precision, recorded in every JSONL line.
  EpochLogWriter(const fs::path& dir, int64_t resumed_epoch, std::string precision)
      : jsonl_(dir / "train_log.jsonl"),
        csv_(dir / "train_log.csv"),
        precision_(std::move(precision)) {
    if (resumed_epoch > 0) {
      truncate_log(jsonl_, resumed_epoch);
      truncate_log(csv_, resumed_epoch);
    } else {
      data::write_text_atomically(jsonl_.string(), "");
      data::write_text_atomically(csv_.string(), "");
    }
    if (!fs::exists(csv_) || fs::file_size(csv_) == 0) {
      data::append_text(csv_.string(),
                        "epoch,train_mpjpe_mm,samples,seconds,samples_per_second,lr,bn_momentum\n");
    }
  }

  // One line per file, each appended whole or not at all (a full disk fails the epoch with
  // "<file>: no space left (...)" and leaves no torn line).
  void write(const EpochLog& e) {
    std::ostringstream json, csv;
    json << "{\"epoch\": " << e.epoch << ", \"train_mpjpe_mm\": " << fmt("%.6f", e.train_mpjpe_mm)
         << ", \"samples\": " << e.samples << ", \"seconds\": " << fmt("%.3f", e.seconds)
         << ", \"samples_per_second\": " << fmt("%.1f", e.samples_per_second)
         << ", \"lr\": " << fmt("%.9g", e.lr) << ", \"bn_momentum\": " << fmt("%.9g", e.bn_momentum)
         << ", \"precision\": \"" << precision_ << "\"}\n";
    csv << e.epoch << ',' << fmt("%.6f", e.train_mpjpe_mm) << ',' << e.samples << ','
        << fmt("%.3f", e.seconds) << ',' << fmt("%.1f", e.samples_per_second) << ','
        << fmt("%.9g", e.lr) << ',' << fmt("%.9g", e.bn_momentum) << '\n';
    data::append_text(jsonl_.string(), json.str());
    data::append_text(csv_.string(), csv.str());
  }

 private:
  fs::path jsonl_, csv_;
  std::string precision_;
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
  Communicator& comm = options.comm != nullptr ? *options.comm : world();
  const int rank = comm.rank(), ranks = comm.world_size();
  const bool writer = writes_files(comm);
  const bool quiet = options.quiet || !writer;
  const TrainConfig& tc = config.train;
  const Device device = parse_device(config.device);
  // Forwards and backward passes of the whole run under one backend (runtime/temporal_conv.h).
  const ops::ConvBackendGuard conv_backend(config.model.conv_backend);
  const ops::ConvTileGuard conv_tile(config.model.conv_tile);
  const int64_t epochs = tc.epochs;
  const int64_t stop_epoch = options.max_epochs < 0 ? epochs : options.max_epochs;
  const fs::path out_dir =
      options.out_dir.empty() ? fs::path(tc.checkpoint_dir) : fs::path(options.out_dir);
  const bool semi_supervised = tc.semi_supervised.enabled;
  V3D_REQUIRE(!semi_supervised || ranks == 1,
              "train.semi_supervised.enabled: data-parallel training ("
                  << ranks << " ranks) is not supported with semi-supervision; run one process");
  V3D_REQUIRE(!semi_supervised || options.resume.empty(),
              options.resume << ": --resume is not supported with "
                                "train.semi_supervised.enabled (the trajectory model and the "
                                "unlabelled stream are not checkpointed); train from scratch");

  // Data: the whole training set is prepared once, then windowed per epoch.
  LoadedSequences loaded = load_sequences(config.data, Split::kTrain);
  const data::Skeleton& joints = loaded.joints;
  const data::Skeleton& keypoints = config.data.keypoints == Keypoints::kH36m17
                                        ? joints
                                        : keypoint_skeleton(config.data.keypoints);
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
  spec.shard = rank;
  spec.shards = ranks;
  spec.camera_targets = semi_supervised;
  std::optional<SemiSupervisedTrainer> semi;
  if (semi_supervised) semi.emplace(config, model.config(), device, spec, keypoints, joints);
  auto generator =
      std::make_unique<data::WindowGenerator>(std::move(loaded.sequences), keypoints, joints, spec);
  const int64_t batches_per_epoch = generator->num_batches();
  // The global batch sizes (fixed after construction, so readable while the prefetcher runs).
  const data::WindowGenerator* window_source = generator.get();
  data::Prefetcher batches(std::move(generator), device);

  AdamOptions adam;
  adam.lr = static_cast<float>(tc.lr);
  AdamAmsgrad optimizer(model.parameters(), adam);
  // Rank r > 0 draws dropout from its own stream (the checkpoint keeps rank 0's).
  const auto rank_seed = [&](uint64_t seed) {
    return rank == 0 ? seed : seed ^ (0x9E3779B97F4A7C15ull * static_cast<uint64_t>(rank));
  };
  PhiloxState dropout_rng{rank_seed(tc.seed), 0};
  int64_t epoch = 0;  // epochs complete
  float lr = static_cast<float>(tc.lr);

  TrainResult result;
  if (!options.resume.empty()) {
    const Checkpoint ckpt = load_checkpoint(options.resume, device);
    check_checkpoint_values(ckpt, options.resume);
    const std::string arch = join_widths(model.config().filter_widths);
    V3D_CHECK(ckpt.architecture == arch, options.resume << ": architecture " << ckpt.architecture
                                                        << " does not match the config's " << arch);
    check_checkpoint_layout(ckpt, options.resume, config);
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
    dropout_rng = PhiloxState{rank_seed(ckpt.dropout_seed), ckpt.dropout_offset};
    epoch = ckpt.epoch;
    lr = ckpt.lr;
    result.checkpoint = options.resume;
  }
  result.epochs = epoch;
  if (epoch >= stop_epoch) return result;
  if (ranks > 1) comm.broadcast(model.parameters().flat_values(), 0);  // rank 0's weights
  if (ranks > 1 && tc.sync_bn) model.set_sync_bn(&comm);
  model.set_conv_math(parse_precision(tc.precision));
  // A job of one rank reduces too when NCCL was asked for by name: the one-GPU check of the path.
  const bool reduce = ranks > 1 || comm.name() == "nccl";
  std::optional<GradientBuckets> buckets;
  if (reduce) {
    buckets.emplace(model.parameters(), comm, static_cast<int64_t>(tc.bucket_mb * 1024.0 * 1024.0));
  }

  std::optional<EpochLogWriter> log_writer;
  if (writer) {
    std::error_code ec;
    fs::create_directories(out_dir, ec);
    V3D_CHECK(!ec && fs::is_directory(out_dir), out_dir.string()
                                                    << ": cannot create the output directory"
                                                    << (ec ? ": " + ec.message() : std::string()));
    // Checkpoints a killed run was writing, of epochs this run may never reach.
    data::remove_stale_temporaries_in(out_dir.string());
    log_writer.emplace(out_dir, epoch, tc.precision);
  }
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
    ckpt.metadata["precision"] = tc.precision;  // also in config_yaml, as train.precision
    const std::string path = (out_dir / ("epoch_" + std::to_string(completed) + ".h5")).string();
    save_checkpoint(ckpt, path);
    if (semi) semi->save(out_dir.string(), completed, config_yaml);
    result.checkpoint = path;
  };

  std::optional<Progress> progress;
  if (!quiet) progress.emplace("train", (stop_epoch - epoch) * batches_per_epoch);
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
    if (semi) semi->start_epoch(lr, e.bn_momentum);

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
    int64_t batch_index = 0;    // in the epoch
    int64_t local_samples = 0;  // this rank's windows (loss_sum's weights until the epoch ends)
    while (batches.next(batch)) {
      ++batches_done;
      const int64_t global_size = window_source->global_batch_size(batch_index++);
      // BN with batch statistics needs two windows; a last batch of one is skipped (PyTorch's
      // BatchNorm1d would refuse it too). Sharded batches always give every rank two.
      if (batch.size < 2) continue;
      model.parameters().zero_grad();
      Var loss;
      Tensor pose_loss;  // the 3D loss the logs report
      if (semi) {
        semi->trajectory_model().parameters().zero_grad();
        SemiStepLosses parts;
        loss = semi->step_loss(model, batch, epoch, dropout_rng, &parts);
        pose_loss = parts.pose;
      } else {
        loss = ag::mpjpe(
            channels_to_poses(model.forward_train(batch.inputs_2d, dropout_rng), joints_out),
            batch.targets_3d);
        pose_loss = loss.value();
      }
      if (reduce) {
        // The global batch's mean loss is sum_r (n_r / N) loss_r: each rank back-propagates its
        // weighted share (which synchronised BN needs), and the gradients are summed, bucket by
        // bucket as the backward pass completes them.
        buckets->begin();
        ag::scale(loss, static_cast<float>(batch.size) / static_cast<float>(global_size))
            .backward();
        buckets->finish();
      } else {
        loss.backward();
      }
      optimizer.step();
      if (semi) semi->optimizer_step();
      unread.emplace_back(pose_loss, batch.size);
      if (device.is_cpu()) read_losses();
      e.samples += global_size;
      local_samples += batch.size;
      samples_done += global_size;
      if (progress && progress->due()) {
        read_losses();
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - train_start).count();
        progress->update(batches_done,
                         "epoch " + std::to_string(e.epoch) + "/" + std::to_string(stop_epoch) +
                             " loss " + fmt("%.1f", 1000.0 * loss_sum / local_samples) + " mm, " +
                             fmt("%.0f", s > 0 ? static_cast<double>(samples_done) / s : 0.0) +
                             " samples/s");
      }
    }
    read_losses();
    if (ranks > 1) {
      // The epoch's loss over all ranks (doubles, added in rank order), and rank 0's BN running
      // statistics on every replica.
      double all = 0;
      for (const std::string& s : comm.all_gather(fmt("%.17g", loss_sum))) all += std::stod(s);
      loss_sum = all;
      for (const auto& [name, buffer] : model.buffers()) comm.broadcast(buffer, 0);
      // Replicas that drifted apart (a non-deterministic reduction, a rank on other data) would
      // silently train different models: check every epoch.
      const std::vector<std::string> sums =
          comm.all_gather(std::to_string(weights_checksum(model)));
      for (int r = 1; r < ranks; ++r) {
        V3D_CHECK(sums[static_cast<size_t>(r)] == sums[0],
                  "data-parallel replicas diverged in epoch " << e.epoch << ": rank " << r
                                                              << "'s weights differ from rank 0's");
      }
    }
    synchronize(device);
    // Non-finite weights follow a non-finite loss: stop before they are logged or saved, so the
    // last checkpoint written stays the last good one. (Every rank sees the same global sum.)
    if (!std::isfinite(loss_sum)) {
      throw Error(out_dir.string() + ": epoch " + std::to_string(e.epoch) +
                  ": the training loss is " + fmt("%g", loss_sum) +
                  " (expected a finite loss; a smaller train.lr may help); training stopped, "
                  "the last good checkpoint is " +
                  (result.checkpoint.empty() ? std::string("none") : result.checkpoint));
    }
    e.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
    e.train_mpjpe_mm = e.samples > 0 ? 1000.0 * loss_sum / static_cast<double>(e.samples) : 0.0;
    e.samples_per_second = e.seconds > 0 ? static_cast<double>(e.samples) / e.seconds : 0.0;
    // The lr of the next epoch, rounded to the float32 a checkpoint stores, so a resumed run
    // continues from exactly the same value.
    lr = static_cast<float>(static_cast<double>(lr) * tc.lr_decay);

    if (log_writer) log_writer->write(e);
    result.log.push_back(e);
    result.epochs = epoch + 1;
    if (!quiet) {
      std::printf("[%lld] time %s lr %.6g bn_momentum %.5g 3d_train %.2f mm, %.0f samples/s\n",
                  static_cast<long long>(e.epoch), Progress::format_duration(e.seconds).c_str(),
                  static_cast<double>(e.lr), static_cast<double>(e.bn_momentum), e.train_mpjpe_mm,
                  e.samples_per_second);
      std::fflush(stdout);  // the progress line goes to stderr; keep the two in order
    }
    if (writer && ((epoch + 1) % tc.checkpoint_every == 0 || epoch + 1 == stop_epoch)) {
      save(epoch + 1);
    }
    if (writer && options.on_epoch) options.on_epoch(e);
  }
  if (progress)
    progress->finish("epoch " + std::to_string(result.epochs) + "/" + std::to_string(stop_epoch));
  result.weights_checksum = weights_checksum(model);
  return result;
}

}  // namespace v3d
