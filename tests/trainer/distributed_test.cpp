// Data-parallel training (trainer/train.h) with in-process ranks (runtime/communicator.h's thread
// communicators): the shards partition every global batch, replicas stay bit-identical, rank 0
// alone writes, logged numbers are global, and checkpoints resume with another rank count. The
// same code runs between processes under mpirun (tests/distributed).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "data/synth.h"
#include "data/windows.h"
#include "runtime/communicator.h"
#include "tests/runtime/test_util.h"
#include "tests/test_util.h"
#include "tests/trainer/state_near.h"
#include "trainer/checkpoint.h"
#include "trainer/config.h"
#include "trainer/evaluate.h"
#include "trainer/model.h"
#include "trainer/sequences.h"
#include "trainer/train.h"

namespace v3d {
namespace {

namespace fs = std::filesystem;

// 1 subject x 2 actions x 4 cameras x 60 frames x 2 flips = 960 windows: 15 batches of 64.
ExperimentConfig tiny_config() {
  ExperimentConfig c;
  c.model.filter_widths = {3, 3};
  c.model.channels = 16;
  c.model.dropout = 0.25;
  c.data.source = SyntheticSourceConfig{3, 60};
  c.data.train_subjects = {"S1"};
  c.data.actions = {"Walking", "Boxing"};
  c.train.epochs = 2;
  c.train.batch_size = 64;
  c.train.lr = 3e-3;
  c.train.seed = 11;
  c.train.checkpoint_every = 1;
  c.device = "cpu";
  return c;
}

// Trains on `ranks` thread ranks; rank r uses devices[r % devices.size()] and out_dir/rank<r>.
// nccl_on_emu: the ranks form an NCCL job on the emulated devices (rank r on emu:r).
std::vector<TrainResult> train_ranks(ExperimentConfig config, int ranks, const fs::path& out_dir,
                                     const std::vector<std::string>& devices = {"cpu"},
                                     const std::string& resume = "", int64_t max_epochs = -1,
                                     bool nccl_on_emu = false) {
  auto comms = make_thread_communicators(ranks);
  std::vector<TrainResult> results(static_cast<size_t>(ranks));
  std::vector<std::string> errors(static_cast<size_t>(ranks));
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r) {
    threads.emplace_back([&, r] {
      ExperimentConfig c = config;
      c.device = devices[static_cast<size_t>(r) % devices.size()];
      TrainOptions o;
      o.out_dir = (out_dir / ("rank" + std::to_string(r))).string();
      o.quiet = true;
      o.resume = resume;
      o.max_epochs = max_epochs;
      std::unique_ptr<Communicator>& comm = comms[static_cast<size_t>(r)];
      try {
        if (nccl_on_emu) comm = make_nccl_communicator(std::move(comm), r, DeviceType::kEmu);
        o.comm = comm.get();
        results[static_cast<size_t>(r)] = train(c, o);
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(r)] = e.what();
        try {
          if (comm) comm->abort(1);
        } catch (const std::exception&) {
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int r = 0; r < ranks; ++r) EXPECT_EQ(errors[static_cast<size_t>(r)], "") << "rank " << r;
  return results;
}

TEST(DataParallel, ShardsPartitionEveryGlobalBatch) {
  const ExperimentConfig c = tiny_config();
  LoadedSequences loaded = load_sequences(c.data, Split::kTrain);
  data::BatchSpec spec;
  spec.batch_size = 100;  // 960 windows: 9 full batches and a last one of 60
  spec.pad = 2;
  spec.seed = 5;
  data::WindowGenerator whole(loaded.sequences, loaded.joints, loaded.joints, spec);
  std::vector<std::unique_ptr<data::WindowGenerator>> parts;
  for (int s = 0; s < 3; ++s) {
    data::BatchSpec sharded = spec;
    sharded.shard = s;
    sharded.shards = 3;
    parts.push_back(std::make_unique<data::WindowGenerator>(loaded.sequences, loaded.joints,
                                                            loaded.joints, sharded));
    EXPECT_EQ(parts.back()->max_batch(), 34);
  }
  EXPECT_EQ(whole.num_batches(), 10);
  EXPECT_EQ(parts[0]->num_batches(), 10);
  whole.start_epoch();
  for (auto& p : parts) p->start_epoch();
  data::Batch all, part;
  while (whole.next(all)) {
    std::vector<float> joined;
    int64_t n = 0;
    for (auto& p : parts) {
      ASSERT_TRUE(p->next(part));
      EXPECT_GE(part.size, 2);
      n += part.size;
      joined.insert(joined.end(), part.inputs_2d.begin(), part.inputs_2d.end());
    }
    EXPECT_EQ(n, all.size);
    EXPECT_EQ(joined, all.inputs_2d);
  }
  for (auto& p : parts) EXPECT_FALSE(p->next(part));

  // A last batch that would leave a rank fewer than two windows ends the epoch on every rank.
  data::BatchSpec odd = spec;
  odd.batch_size = 191;  // 5 full batches, then 5 windows: fewer than 2 for each of 3 ranks
  odd.shards = 3;
  EXPECT_EQ(
      data::WindowGenerator(loaded.sequences, loaded.joints, loaded.joints, odd).num_batches(), 5);
  odd.batch_size = 5;  // under two windows per rank even when full
  EXPECT_V3D_ERROR(data::WindowGenerator(loaded.sequences, loaded.joints, loaded.joints, odd),
                   "gives fewer than two windows");
}

TEST(DataParallel, ReplicasStayIdenticalAndOnlyRankZeroWrites) {
  test_util::TempDir dir("v3d-ddp");
  const fs::path root(dir.path());
  const std::vector<TrainResult> r = train_ranks(tiny_config(), 2, root);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].weights_checksum, r[1].weights_checksum);
  ASSERT_EQ(r[0].log.size(), 2u);
  for (size_t e = 0; e < 2; ++e) {
    // Logged numbers are over all ranks, identical on each.
    EXPECT_EQ(r[0].log[e].samples, 960);
    EXPECT_EQ(r[1].log[e].samples, 960);
    EXPECT_EQ(r[0].log[e].train_mpjpe_mm, r[1].log[e].train_mpjpe_mm);
    EXPECT_TRUE(std::isfinite(r[0].log[e].train_mpjpe_mm));
  }
  EXPECT_LT(r[0].log[1].train_mpjpe_mm, r[0].log[0].train_mpjpe_mm);
  EXPECT_TRUE(fs::exists(root / "rank0" / "epoch_2.h5"));
  EXPECT_TRUE(fs::exists(root / "rank0" / "train_log.jsonl"));
  EXPECT_FALSE(fs::exists(root / "rank1")) << "rank 1 wrote files";

  // The saved weights are the replicas'.
  const Checkpoint ckpt = load_checkpoint((root / "rank0" / "epoch_2.h5").string());
  EXPECT_EQ(ckpt.epoch, 2);

  // Two devices of the emulated GPU, one per rank, train the same replicas as the CPU within
  // the device tolerance (the all-reduce itself is exact and rank-ordered everywhere).
  const std::vector<TrainResult> g =
      train_ranks(tiny_config(), 2, root / "emu", {"emu:0", "emu:1"}, "", 1);
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[0].weights_checksum, g[1].weights_checksum);
  EXPECT_NEAR(g[0].log[0].train_mpjpe_mm, r[0].log[0].train_mpjpe_mm,
              1e-4 * r[0].log[0].train_mpjpe_mm);
  // Synchronised BN on the two devices (statistics staged through the host).
  ExperimentConfig sync = tiny_config();
  sync.train.sync_bn = true;
  const std::vector<TrainResult> s =
      train_ranks(sync, 2, root / "emu-sync", {"emu:0", "emu:1"}, "", 1);
  EXPECT_EQ(s[0].weights_checksum, s[1].weights_checksum);
  EXPECT_TRUE(std::isfinite(s[0].log[0].train_mpjpe_mm));
}

// The gradient all-reduce in buckets started during the backward pass gives the same sums as one
// all-reduce after it, bit for bit (every communicator adds elementwise): replicas trained with
// any bucket size are identical. On the CPU (thread ranks) and as an NCCL job on the two emulated
// devices, where the buckets run on the communicator's own stream.
TEST(DataParallel, BucketedGradientAllReduceTrainsTheSameBits) {
  test_util::TempDir dir("v3d-ddp-buckets");
  const fs::path root(dir.path());
  ExperimentConfig c = tiny_config();
  std::vector<uint64_t> sums;
  for (const double mb : {0.0, 0.001, 25.0}) {
    c.train.bucket_mb = mb;  // 0.001 MiB: 262 floats, a bucket for nearly every parameter
    const std::vector<TrainResult> r = train_ranks(c, 2, root / "cpu" / std::to_string(mb));
    ASSERT_EQ(r.size(), 2u);
    EXPECT_EQ(r[0].weights_checksum, r[1].weights_checksum);
    sums.push_back(r[0].weights_checksum);
  }
  EXPECT_EQ(sums[1], sums[0]);
  EXPECT_EQ(sums[2], sums[0]);

  // With synchronised BN, whose backward pass runs collectives of its own between the buckets'.
  for (const bool sync_bn : {false, true}) {
    c.train.sync_bn = sync_bn;
    std::vector<uint64_t> emu;
    for (const double mb : {0.0, 0.001}) {
      c.train.bucket_mb = mb;
      const std::vector<TrainResult> r =
          train_ranks(c, 2, root / (sync_bn ? "emu-sync" : "emu") / std::to_string(mb),
                      {"emu:0", "emu:1"}, "", 1, true);
      ASSERT_EQ(r.size(), 2u);
      EXPECT_EQ(r[0].weights_checksum, r[1].weights_checksum);
      emu.push_back(r[0].weights_checksum);
    }
    EXPECT_EQ(emu[1], emu[0]) << "sync_bn " << sync_bn;
  }
}

// Two ranks with synchronised batch norm train what one process trains on the whole global batch:
// the same mathematics, added up in another order (each rank's GEMMs and BN sums cover its half
// of the rows, then the halves are added), so within float tolerance, not bit for bit. Dropout is
// off: its masks are drawn per rank. Without sync BN each rank normalises with its own half's
// statistics, a different model (checked to differ, so the comparison can fail).
TEST(DataParallel, TwoRanksWithSyncBnTrainWhatOneProcessTrains) {
  test_util::TempDir dir("v3d-ddp-sync");
  const fs::path root(dir.path());
  ExperimentConfig c = tiny_config();
  c.model.dropout = 0.0;
  const std::vector<TrainResult> one = train_ranks(c, 1, root / "one");
  c.train.sync_bn = true;
  const std::vector<TrainResult> two = train_ranks(c, 2, root / "two");
  c.train.sync_bn = false;
  const std::vector<TrainResult> local = train_ranks(c, 2, root / "local");
  ASSERT_EQ(one[0].log.size(), 2u);
  ASSERT_EQ(two[0].log.size(), 2u);
  for (size_t e = 0; e < 2; ++e) {
    EXPECT_EQ(two[0].log[e].samples, one[0].log[e].samples);
    EXPECT_NEAR(two[0].log[e].train_mpjpe_mm, one[0].log[e].train_mpjpe_mm,
                1e-4 * one[0].log[e].train_mpjpe_mm)
        << "epoch " << e + 1;
  }
  EXPECT_EQ(two[0].weights_checksum, two[1].weights_checksum);
  const Checkpoint want = load_checkpoint((root / "one" / "rank0" / "epoch_2.h5").string());
  const Checkpoint got = load_checkpoint((root / "two" / "rank0" / "epoch_2.h5").string());
  const TemporalModelConfig mc = temporal_model_config(c.model, 17, 2, 17);
  const test::NamedTensors initial = TemporalModel(mc, Device::cpu(), c.train.seed).state_dict();
  test::expect_state_near(want.tensors, got.tensors, &initial);
  EXPECT_EQ(want.generator_state, got.generator_state);
  EXPECT_EQ(want.optimizer.steps, got.optimizer.steps);
  // Per-rank statistics are another model: its losses differ by far more than the tolerance.
  EXPECT_GT(std::fabs(local[0].log[1].train_mpjpe_mm - one[0].log[1].train_mpjpe_mm),
            1e-3 * one[0].log[1].train_mpjpe_mm);
}

// Runs fn(comm) on `ranks` thread ranks and returns each rank's result.
template <class R>
std::vector<R> on_ranks(int ranks, const std::function<R(Communicator*)>& fn) {
  auto comms = make_thread_communicators(ranks);
  std::vector<R> out(static_cast<size_t>(ranks));
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r) {
    threads.emplace_back(
        [&, r] { out[static_cast<size_t>(r)] = fn(comms[static_cast<size_t>(r)].get()); });
  }
  for (std::thread& t : threads) t.join();
  return out;
}

void expect_same_rows(const std::vector<IntervalReport>& want,
                      const std::vector<IntervalReport>& got) {
  ASSERT_EQ(want.size(), got.size());
  for (size_t k = 0; k < want.size(); ++k) {
    const IntervalReport &w = want[k], &g = got[k];
    SCOPED_TRACE("TD " + std::to_string(w.interval) + (w.ltb ? " with the bank" : ""));
    EXPECT_EQ(w.interval, g.interval);
    EXPECT_EQ(w.ltb, g.ltb);
    EXPECT_EQ(w.phases, g.phases);
    EXPECT_EQ(w.ltb_stats.frames, g.ltb_stats.frames);
    EXPECT_EQ(w.ltb_stats.fused_frames, g.ltb_stats.fused_frames);
    EXPECT_EQ(w.ltb_stats.bank_entries, g.ltb_stats.bank_entries);
    EXPECT_EQ(w.ltb_stats.sequences, g.ltb_stats.sequences);
    ASSERT_EQ(w.actions.size(), g.actions.size());
    EXPECT_EQ(w.mean.frames, g.mean.frames);
    // A GEMM's rounding may depend on its row count, which the split changes.
    EXPECT_NEAR(g.mean.mpjpe, w.mean.mpjpe, 1e-6 * w.mean.mpjpe);
    EXPECT_NEAR(g.mean.p_mpjpe, w.mean.p_mpjpe, 1e-6 * w.mean.p_mpjpe);
    EXPECT_NEAR(g.mean.mpjve, w.mean.mpjve, 1e-6 * w.mean.mpjve);
  }
}

// Evaluation and the bank sweep split the phases across ranks and give every rank the
// single-process report.
TEST(DataParallel, EvaluationSplitAcrossRanksGivesTheSingleProcessReport) {
  ExperimentConfig c = tiny_config();
  c.data.source = SyntheticSourceConfig{3, 90};
  const std::vector<data::Sequence> seqs = load_test_sequences(c);
  const TemporalModelConfig mc = temporal_model_config(c.model, 17, 2, 17);
  EvalOptions o = eval_options(c);
  o.test_intervals = {1, 2, 3};
  o.ltb = LtbEval::kBoth;
  o.ltb_options.capacity = 12;
  o.ltb_options.threshold = 0.9f;
  o.ltb_options.fusion_threshold = 0.8f;
  const auto run = [&](Communicator* comm) {
    TemporalModel model(mc, Device::cpu(), 5);
    EvalOptions mine = o;
    mine.comm = comm;
    return evaluate(model, seqs, mine);
  };
  const EvalReport alone = run(nullptr);
  int64_t fused = 0;
  for (const auto& ir : alone.intervals) fused += ir.ltb_stats.fused_frames;
  EXPECT_GT(fused, 0) << "the bank must fuse something for the comparison to mean anything";
  for (const EvalReport& r : on_ranks<EvalReport>(3, run))
    expect_same_rows(alone.intervals, r.intervals);

  const std::vector<LtbOptions> settings = ltb_sweep_settings(o.ltb_options, {6, 12}, {0.9}, {0.8});
  const auto sweep = [&](Communicator* comm) {
    TemporalModel model(mc, Device::cpu(), 5);
    EvalOptions mine = o;
    mine.comm = comm;
    return sweep_ltb(model, seqs, mine, settings);
  };
  const LtbSweepReport sweep_alone = sweep(nullptr);
  for (const LtbSweepReport& r : on_ranks<LtbSweepReport>(2, sweep)) {
    expect_same_rows(sweep_alone.plain.intervals, r.plain.intervals);
    ASSERT_EQ(r.points.size(), sweep_alone.points.size());
    for (size_t i = 0; i < r.points.size(); ++i)
      expect_same_rows(sweep_alone.points[i].intervals, r.points[i].intervals);
  }
}

TEST(DataParallel, CheckpointsResumeWithAnotherRankCount) {
  test_util::TempDir dir("v3d-ddp-resume");
  const fs::path root(dir.path());
  ExperimentConfig c = tiny_config();
  c.train.epochs = 3;
  // 2 ranks for one epoch, then 1 rank, then 2 ranks again.
  train_ranks(c, 2, root / "a", {"cpu"}, "", 1);
  const std::string first = (root / "a" / "rank0" / "epoch_1.h5").string();
  ASSERT_TRUE(fs::exists(first));
  const std::vector<TrainResult> one = train_ranks(c, 1, root / "b", {"cpu"}, first, 2);
  ASSERT_EQ(one[0].log.size(), 1u);
  EXPECT_EQ(one[0].log[0].epoch, 2);
  EXPECT_EQ(one[0].log[0].samples, 960);
  const std::string second = (root / "b" / "rank0" / "epoch_2.h5").string();
  const std::vector<TrainResult> two = train_ranks(c, 2, root / "c", {"cpu"}, second);
  ASSERT_EQ(two[0].log.size(), 1u);
  EXPECT_EQ(two[0].log[0].epoch, 3);
  EXPECT_EQ(two[0].weights_checksum, two[1].weights_checksum);
  // The data order is global: two epochs on 2 ranks leave the generator where one epoch on 2
  // ranks and one on 1 rank left it.
  train_ranks(c, 2, root / "d", {"cpu"}, "", 2);
  EXPECT_EQ(load_checkpoint((root / "d" / "rank0" / "epoch_2.h5").string()).generator_state,
            load_checkpoint(second).generator_state);
}

}  // namespace
}  // namespace v3d
