// The training loop (trainer/train.h) on tiny configs: loss goes down, runs are deterministic,
// resuming is bit-identical to an uninterrupted run, checkpoints and logs hold what they should,
// and bad configs fail with one line.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "kernels/common.h"
#include "tests/test_util.h"
#include "trainer/checkpoint.h"
#include "trainer/config.h"
#include "trainer/evaluate.h"
#include "trainer/model.h"
#include "trainer/sequences.h"
#include "trainer/train.h"

namespace v3d {
namespace {

namespace fs = std::filesystem;

// A per-test directory ("v3d-train-XXXXXX" under $TMPDIR).
class TrainDir : public test_util::TempDir {
 public:
  TrainDir() : test_util::TempDir("v3d-train") {}
};

// 1 subject x 2 actions x 4 cameras x 80 frames x 2 flips = 1280 windows: 20 batches of 64.
ExperimentConfig tiny_config() {
  ExperimentConfig c;
  c.model.filter_widths = {3, 3, 3};
  c.model.channels = 32;
  c.model.dropout = 0.25;
  c.data.source = SyntheticSourceConfig{3, 80};
  c.data.train_subjects = {"S1"};
  c.data.actions = {"Walking", "Boxing"};
  c.train.epochs = 3;
  c.train.batch_size = 64;
  c.train.lr = 3e-3;
  c.train.lr_decay = 0.9;
  c.train.seed = 7;
  c.device = "cpu";
  c.train.checkpoint_every = 1;
  return c;
}

TrainOptions quiet_options(const std::string& out, int64_t max_epochs = -1) {
  TrainOptions o;
  o.out_dir = out;
  o.max_epochs = max_epochs;
  o.quiet = true;
  return o;
}

std::vector<uint8_t> bytes_of(const Tensor& t) {
  std::vector<uint8_t> b(t.nbytes());
  if (t.dtype() == DType::kI32) {
    const std::vector<int32_t> v = t.to_vector_i32();
    std::memcpy(b.data(), v.data(), b.size());
  } else {
    const std::vector<float> v = t.to_vector();
    std::memcpy(b.data(), v.data(), b.size());
  }
  return b;
}

// Everything that determines how training continues, byte for byte.
void expect_same_state(const Checkpoint& a, const Checkpoint& b) {
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    EXPECT_EQ(a.tensors[i].first, b.tensors[i].first);
    EXPECT_TRUE(bytes_of(a.tensors[i].second) == bytes_of(b.tensors[i].second))
        << a.tensors[i].first << " differs";
  }
  EXPECT_EQ(a.epoch, b.epoch);
  EXPECT_EQ(a.lr, b.lr);
  EXPECT_EQ(a.optimizer.steps, b.optimizer.steps);
  EXPECT_TRUE(bytes_of(a.optimizer.exp_avg) == bytes_of(b.optimizer.exp_avg));
  EXPECT_TRUE(bytes_of(a.optimizer.exp_avg_sq) == bytes_of(b.optimizer.exp_avg_sq));
  EXPECT_TRUE(bytes_of(a.optimizer.max_exp_avg_sq) == bytes_of(b.optimizer.max_exp_avg_sq));
  EXPECT_EQ(a.generator_state, b.generator_state);
  EXPECT_EQ(a.dropout_seed, b.dropout_seed);
  EXPECT_EQ(a.dropout_offset, b.dropout_offset);
}

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(Train, LossDecreasesAndFollowsTheSchedule) {
  TrainDir dir;
  ExperimentConfig c = tiny_config();
  c.train.epochs = 4;
  c.train.checkpoint_every = 10;
  const TrainResult r = train(c, quiet_options(dir.str()));
  ASSERT_EQ(r.epochs, 4);
  ASSERT_EQ(r.log.size(), 4u);
  EXPECT_LT(r.log.back().train_mpjpe_mm, 0.8 * r.log.front().train_mpjpe_mm)
      << r.log.front().train_mpjpe_mm << " mm -> " << r.log.back().train_mpjpe_mm << " mm";
  float lr = static_cast<float>(c.train.lr);
  for (int64_t k = 0; k < 4; ++k) {
    const EpochLog& e = r.log[static_cast<size_t>(k)];
    EXPECT_EQ(e.epoch, k + 1);
    EXPECT_EQ(e.samples, 1280);
    EXPECT_GT(e.samples_per_second, 0.0);
    EXPECT_EQ(e.lr, lr);
    lr = static_cast<float>(static_cast<double>(lr) * c.train.lr_decay);
    // 1.7: epoch k trains with start * (end/start)^(k/E).
    EXPECT_FLOAT_EQ(e.bn_momentum, static_cast<float>(0.1 * std::pow(0.01, k / 4.0)));
  }
  // checkpoint_every 10 > epochs: only the final checkpoint.
  EXPECT_EQ(r.checkpoint, dir / "epoch_4.h5");
  EXPECT_TRUE(fs::exists(dir / "epoch_4.h5"));
  EXPECT_FALSE(fs::exists(dir / "epoch_1.h5"));
}

TEST(Train, DeterministicForASeed) {
  TrainDir a, b;
  const ExperimentConfig c = tiny_config();
  const TrainResult ra = train(c, quiet_options(a.str(), 2));
  const TrainResult rb = train(c, quiet_options(b.str(), 2));
  ASSERT_EQ(ra.log.size(), 2u);
  for (size_t i = 0; i < 2; ++i) EXPECT_EQ(ra.log[i].train_mpjpe_mm, rb.log[i].train_mpjpe_mm);
  expect_same_state(load_checkpoint(ra.checkpoint), load_checkpoint(rb.checkpoint));

  ExperimentConfig other = c;
  other.train.seed = 8;
  TrainDir d;
  const TrainResult rc = train(other, quiet_options(d.str(), 1));
  EXPECT_NE(rc.log[0].train_mpjpe_mm, ra.log[0].train_mpjpe_mm) << "the seed changed nothing";
}

// The resampling mode with random strides exercises the generator's replayed draws too.
TEST(Train, ResumeIsBitIdentical) {
  ExperimentConfig c = tiny_config();
  c.train.mode = "Sample3/5/7+Sequential";
  c.train.checkpoint_every = 5;
  TrainDir whole, split;
  const TrainResult full = train(c, quiet_options(whole.str(), 2));
  ASSERT_EQ(full.checkpoint, whole / "epoch_2.h5");

  const TrainResult first = train(c, quiet_options(split.str(), 1));
  ASSERT_EQ(first.checkpoint, split / "epoch_1.h5");
  TrainOptions resume = quiet_options(split.str(), 2);
  resume.resume = first.checkpoint;
  const TrainResult second = train(c, resume);
  ASSERT_EQ(second.epochs, 2);
  ASSERT_EQ(second.log.size(), 1u);
  EXPECT_EQ(second.log[0].epoch, 2);
  EXPECT_EQ(second.log[0].train_mpjpe_mm, full.log[1].train_mpjpe_mm);
  EXPECT_EQ(second.log[0].bn_momentum, full.log[1].bn_momentum);
  expect_same_state(load_checkpoint(full.checkpoint), load_checkpoint(second.checkpoint));

  // The resumed run's logs hold both epochs, once each.
  EXPECT_EQ(lines_of(split / "train_log.jsonl").size(), 2u);
  EXPECT_EQ(lines_of(split / "train_log.csv").size(), 3u);

  // Resuming a finished run trains nothing.
  TrainOptions again = quiet_options(split.str(), 2);
  again.resume = second.checkpoint;
  const TrainResult none = train(c, again);
  EXPECT_EQ(none.epochs, 2);
  EXPECT_TRUE(none.log.empty());
}

TEST(Train, CheckpointContents) {
  TrainDir dir;
  const ExperimentConfig c = tiny_config();
  train(c, quiet_options(dir.str(), 2));
  ASSERT_TRUE(fs::exists(dir / "epoch_1.h5"));  // checkpoint_every 1
  const Checkpoint ckpt = load_checkpoint(dir / "epoch_2.h5");
  EXPECT_EQ(ckpt.epoch, 2);
  const float lr1 = static_cast<float>(static_cast<double>(static_cast<float>(c.train.lr)) * 0.9);
  EXPECT_EQ(ckpt.lr, static_cast<float>(static_cast<double>(lr1) * 0.9));
  EXPECT_EQ(ckpt.architecture, "3,3,3");
  EXPECT_EQ(parse_config(ckpt.config_yaml, "checkpoint"), c);
  EXPECT_EQ(ckpt.optimizer.steps, 2 * 20);
  EXPECT_EQ(ckpt.dropout_seed, c.train.seed);
  EXPECT_GT(ckpt.dropout_offset, 0u);
  EXPECT_NE(ckpt.generator_state.find("epoch 2"), std::string::npos) << ckpt.generator_state;

  const TemporalModel model(temporal_model_config(c.model, 17, 2, 17), Device::cpu());
  const auto expected = model.state_dict();
  ASSERT_EQ(ckpt.tensors.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(ckpt.tensors[i].first, expected[i].first);
    EXPECT_EQ(ckpt.tensors[i].second.shape(), expected[i].second.shape()) << expected[i].first;
  }
  const Tensor* tracked = ckpt.find("expand_bn.num_batches_tracked");
  ASSERT_NE(tracked, nullptr);
  EXPECT_EQ(tracked->to_vector_i32()[0], 2 * 20);
  EXPECT_EQ(ckpt.optimizer.exp_avg.numel(), model.parameters().flat_values().numel());
  EXPECT_EQ(checkpoint_config(dir / "epoch_2.h5"), c);
}

// A run killed while writing the checkpoint of an epoch that the next run never reaches left its
// temporary file: training removes it (and keeps a running process's).
TEST(Train, RemovesTemporaryFilesKilledRunsLeft) {
  TrainDir dir;
  const std::string stale = "epoch_9.h5.tmp-" + std::to_string(test_util::finished_pid()) + "-0";
  const std::string live = "epoch_8.h5.tmp-" + std::to_string(static_cast<long>(getppid())) + "-0";
  test_util::write_text(dir / stale, "partial");
  test_util::write_text(dir / live, "partial");
  train(tiny_config(), quiet_options(dir.str(), 1));
  EXPECT_TRUE(fs::exists(dir / "epoch_1.h5"));
  EXPECT_FALSE(fs::exists(dir / stale));
  EXPECT_TRUE(fs::exists(dir / live));
}

TEST(Train, WritesJsonlAndCsvLogs) {
  TrainDir dir;
  train(tiny_config(), quiet_options(dir.str()));
  const std::vector<std::string> jsonl = lines_of(dir / "train_log.jsonl");
  ASSERT_EQ(jsonl.size(), 3u);
  for (int k = 0; k < 3; ++k) {
    const std::string& line = jsonl[static_cast<size_t>(k)];
    EXPECT_EQ(line.rfind("{\"epoch\": " + std::to_string(k + 1) + ",", 0), 0u) << line;
    for (const char* key : {"train_mpjpe_mm", "samples_per_second", "lr", "bn_momentum"})
      EXPECT_NE(line.find(std::string("\"") + key + "\": "), std::string::npos) << line;
    EXPECT_EQ(line.back(), '}');
  }
  const std::vector<std::string> csv = lines_of(dir / "train_log.csv");
  ASSERT_EQ(csv.size(), 4u);
  EXPECT_EQ(csv[0], "epoch,train_mpjpe_mm,samples,seconds,samples_per_second,lr,bn_momentum");
  EXPECT_EQ(csv[3].rfind("3,", 0), 0u) << csv[3];
  EXPECT_EQ(std::count(csv[3].begin(), csv[3].end(), ','), 6);
  for (int n = 1; n <= 3; ++n)
    EXPECT_TRUE(fs::exists(dir / ("epoch_" + std::to_string(n) + ".h5")));

  // Resuming from an earlier checkpoint drops the epochs logged after it, then logs them anew.
  TrainOptions resume = quiet_options(dir.str(), 2);
  resume.resume = dir / "epoch_1.h5";
  train(tiny_config(), resume);
  const std::vector<std::string> resumed = lines_of(dir / "train_log.jsonl");
  ASSERT_EQ(resumed.size(), 2u);
  EXPECT_EQ(resumed[0], jsonl[0]);
  EXPECT_EQ(resumed[1].rfind("{\"epoch\": 2,", 0), 0u) << resumed[1];
  EXPECT_EQ(lines_of(dir / "train_log.csv").size(), 3u);

  // A line torn by a killed run (epoch 2's, written again after the checkpoint of epoch 2) does
  // not survive a resume from that checkpoint.
  {
    std::ofstream(dir / "train_log.jsonl", std::ios::app) << "{\"epoch\": 2, \"train_mpj";
    std::ofstream(dir / "train_log.csv", std::ios::app) << "2,31.5,1280";
  }
  resume = quiet_options(dir.str(), 3);
  resume.resume = dir / "epoch_2.h5";
  train(tiny_config(), resume);
  const std::vector<std::string> after_tear = lines_of(dir / "train_log.jsonl");
  ASSERT_EQ(after_tear.size(), 3u);
  EXPECT_EQ(after_tear[1], resumed[1]);
  EXPECT_EQ(after_tear[2].rfind("{\"epoch\": 3,", 0), 0u) << after_tear[2];
  const std::vector<std::string> csv_after = lines_of(dir / "train_log.csv");
  ASSERT_EQ(csv_after.size(), 4u);
  EXPECT_EQ(csv_after[3].rfind("3,", 0), 0u) << csv_after[3];
  EXPECT_EQ(std::count(csv_after[2].begin(), csv_after[2].end(), ','), 6) << csv_after[2];

  // A fresh run in the same directory starts the logs over.
  train(tiny_config(), quiet_options(dir.str(), 1));
  EXPECT_EQ(lines_of(dir / "train_log.jsonl").size(), 1u);
  EXPECT_EQ(lines_of(dir / "train_log.csv").size(), 2u);
}

void expect_one_line_error(const ExperimentConfig& c, const TrainOptions& o,
                           const std::string& needle) {
  try {
    train(c, o);
    ADD_FAILURE() << "no error; expected one naming '" << needle << "'";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(needle), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

TEST(Train, BadConfigsGiveOneLineErrors) {
  TrainDir dir;
  ExperimentConfig missing = tiny_config();
  missing.data.source = H5SourceConfig{dir / "no_such_data.h5"};
  expect_one_line_error(missing, quiet_options(dir.str()), "no_such_data.h5");

  ExperimentConfig subject = tiny_config();
  subject.data.train_subjects = {"S2"};
  expect_one_line_error(subject, quiet_options(dir.str()), "S2");

  ExperimentConfig mode = tiny_config();
  mode.train.mode = "Shuffled";
  expect_one_line_error(mode, quiet_options(dir.str()), "Shuffled");

  // A checkpoint of another architecture.
  const TrainResult r = train(tiny_config(), quiet_options(dir.str(), 1));
  ExperimentConfig wider = tiny_config();
  wider.model.filter_widths = {3, 3};
  TrainOptions resume = quiet_options(dir.str());
  resume.resume = r.checkpoint;
  expect_one_line_error(wider, resume, "architecture");
  resume.resume = dir / "missing.h5";
  expect_one_line_error(tiny_config(), resume, "missing.h5");
}

// A loss that overflows stops training with one line naming the epoch and the last good
// checkpoint, before the non-finite weights are logged or saved.
TEST(Train, NonFiniteLossStopsAndKeepsTheLastGoodCheckpoint) {
  TrainDir dir;
  const TrainResult first = train(tiny_config(), quiet_options(dir.str(), 1));
  Checkpoint ckpt = load_checkpoint(first.checkpoint);
  for (auto& [key, t] : ckpt.tensors) {
    // Finite weights whose outputs overflow float32.
    if (key == "shrink.weight")
      t = Tensor::from_vector(std::vector<float>(t.numel(), 1e38f), t.shape());
  }
  save_checkpoint(ckpt, first.checkpoint);
  const std::string before = test_util::read_text(first.checkpoint);
  TrainOptions resume = quiet_options(dir.str(), 3);
  resume.resume = first.checkpoint;
  expect_one_line_error(tiny_config(), resume, "epoch 2: the training loss is");
  expect_one_line_error(tiny_config(), resume, "the last good checkpoint is " + first.checkpoint);
  EXPECT_FALSE(fs::exists(dir / "epoch_2.h5"));
  EXPECT_TRUE(test_util::read_text(first.checkpoint) == before);
  EXPECT_EQ(lines_of(dir / "train_log.jsonl").size(), 1u);

  // Resuming from non-finite weights is refused outright.
  for (auto& [key, t] : ckpt.tensors)
    if (key == "shrink.weight")
      t = Tensor::from_vector(std::vector<float>(t.numel(), NAN), t.shape());
  save_checkpoint(ckpt, dir / "nan.h5");
  resume.resume = dir / "nan.h5";
  expect_one_line_error(tiny_config(), resume, "/model/shrink.weight: element 0 is nan");
}

// One loader for both splits: the training split takes train_subjects and the subset, the test
// split test_subjects and every frame; evaluation's load_test_sequences is the test split.
TEST(Sequences, OneLoaderForTrainingAndTest) {
  ExperimentConfig c = tiny_config();
  c.data.test_subjects = {"S9"};
  c.data.subset = 0.5;
  const LoadedSequences train = load_sequences(c.data, Split::kTrain);
  const LoadedSequences test = load_sequences(c.data, Split::kTest);
  ASSERT_EQ(train.sequences.size(), 8u);  // 2 actions x 4 cameras
  ASSERT_EQ(test.sequences.size(), 8u);
  for (const auto& s : train.sequences) {
    EXPECT_EQ(s.subject, "S1");
    EXPECT_EQ(s.frames, 40);
  }
  for (const auto& s : test.sequences) {
    EXPECT_EQ(s.subject, "S9");
    EXPECT_EQ(s.frames, 80);
  }
  EXPECT_EQ(train.joints.name, "h36m17");
  const std::vector<data::Sequence> eval = load_test_sequences(c);
  ASSERT_EQ(eval.size(), test.sequences.size());
  for (size_t i = 0; i < eval.size(); ++i) {
    EXPECT_EQ(eval[i].action, test.sequences[i].action);
    EXPECT_EQ(eval[i].poses_2d, test.sequences[i].poses_2d);
  }

  c.data.keypoints = Keypoints::kPseudoCoco;
  EXPECT_EQ(&keypoint_skeleton(c.data.keypoints), &data::Skeleton::coco17());
  EXPECT_EQ(load_sequences(c.data, Split::kTest).sequences[0].poses_2d.size(),
            static_cast<size_t>(80 * 17 * 2));

  c.data.source = H5SourceConfig{"/nonexistent/h36m.h5"};
  try {
    load_sequences(c.data, Split::kTest);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "data.source.path: /nonexistent/h36m.h5: no such file");
  }
}

}  // namespace
}  // namespace v3d
