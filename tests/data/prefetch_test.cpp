// Tests of data/prefetch.h on the CPU and the emulated CUDA device: the prefetched batches are
// exactly the synchronous generator's (several depths, short last batch, two epochs), a checkpoint
// taken while the producer runs ahead resumes at the consumer's position, a producer exception
// reaches the consumer after the batches made before it, and shutdown mid-epoch joins cleanly.
#include <gtest/gtest.h>

#include <memory>
#include <ostream>
#include <stdexcept>

#include "data/prefetch.h"
#include "tests/runtime/test_util.h"

namespace v3d::data {
namespace {

constexpr int kJ = 17;

std::vector<Sequence> make_sequences() {
  std::vector<Sequence> out;
  uint32_t state = 7;
  for (int64_t frames : {41, 17, 3}) {
    Sequence s;
    s.subject = "S1";
    s.action = "Walking " + std::to_string(frames);
    s.frames = frames;
    for (int64_t i = 0; i < frames * kJ * 2; ++i) {
      state = state * 1664525u + 1013904223u;
      s.poses_2d.push_back(static_cast<float>(state >> 8) / 8388608.0f - 1.0f);
    }
    for (int64_t i = 0; i < frames * kJ * 3; ++i) {
      state = state * 1664525u + 1013904223u;
      s.poses_3d.push_back(static_cast<float>(state >> 8) / 16777216.0f - 0.5f);
    }
    out.push_back(std::move(s));
  }
  return out;
}

BatchSpec make_spec() {
  BatchSpec spec;
  spec.pad = 4;
  spec.batch_size = 23;  // 244 windows: a short last batch
  spec.mode = "Sample3/5/7+Sequential";
  return spec;
}

std::unique_ptr<WindowGenerator> make_generator() {
  return std::make_unique<WindowGenerator>(make_sequences(), Skeleton::h36m17(), Skeleton::h36m17(),
                                           make_spec());
}

void expect_same(const Batch& want, const DeviceBatch& got, Device device, const char* what) {
  ASSERT_EQ(got.size, want.size) << what;
  EXPECT_EQ(got.inputs_2d.device(), device);
  EXPECT_EQ(got.inputs_2d.shape(), (Shape{want.size, 9, kJ, 2})) << what;
  EXPECT_EQ(got.targets_3d.shape(), (Shape{want.size, 1, kJ, 3})) << what;
  EXPECT_EQ(got.inputs_2d.to_vector(), want.inputs_2d) << what;
  EXPECT_EQ(got.targets_3d.to_vector(), want.targets_3d) << what;
}

class PrefetchDevices : public test::DeviceTest {};

TEST_P(PrefetchDevices, YieldsExactlyTheSynchronousBatches) {
  const Device device = GetParam();
  for (int depth : {1, 2, 4}) {
    SCOPED_TRACE("depth " + std::to_string(depth));
    auto sync = make_generator();
    Prefetcher pre(make_generator(), device, depth);
    EXPECT_EQ(pre.num_batches(), sync->num_batches());
    for (int epoch = 0; epoch < 2; ++epoch) {
      sync->start_epoch();
      pre.start_epoch();
      Batch want;
      DeviceBatch got;
      int64_t n = 0;
      while (sync->next(want)) {
        ASSERT_TRUE(pre.next(got)) << "batch " << n;
        expect_same(want, got, device, "batch");
        ++n;
      }
      EXPECT_EQ(n, sync->num_batches());
      EXPECT_FALSE(pre.next(got));
      EXPECT_FALSE(pre.next(got));  // stays at the end
    }
  }
}

TEST_P(PrefetchDevices, SaveStateIsTheConsumersPosition) {
  const Device device = GetParam();
  auto sync = make_generator();
  sync->start_epoch();
  Batch b;
  std::vector<Batch> all;
  while (sync->next(b)) all.push_back(b);

  std::string state;
  {
    Prefetcher pre(make_generator(), device, 4);
    pre.start_epoch();
    DeviceBatch got;
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(pre.next(got));
    state = pre.save_state();  // the producer has run ahead by up to 4 batches
  }                            // and is stopped here, mid-epoch
  Prefetcher resumed(make_generator(), device, 2);
  resumed.load_state(state);
  DeviceBatch got;
  for (size_t i = 3; i < all.size(); ++i) {
    ASSERT_TRUE(resumed.next(got)) << "batch " << i;
    expect_same(all[i], got, device, "resumed batch");
  }
  EXPECT_FALSE(resumed.next(got));
}

TEST_P(PrefetchDevices, ShutdownWithAFullQueueJoins) {
  Prefetcher pre(make_generator(), GetParam(), 2);
  pre.start_epoch();
  DeviceBatch got;
  ASSERT_TRUE(pre.next(got));
  pre.start_epoch();  // restart while the producer waits for a free slot
  ASSERT_TRUE(pre.next(got));
}  // destroyed while the producer waits

INSTANTIATE_TEST_SUITE_P(Prefetch, PrefetchDevices, ::testing::ValuesIn(test::device_params()),
                         test::device_test_name);

// A source whose fill fails at batch `fail_at`.
class FailingSource final : public BatchSource {
 public:
  explicit FailingSource(int64_t fail_at) : fail_at_(fail_at) {}
  int64_t max_batch() const override { return 2; }
  std::array<int64_t, 3> input_window_shape() const override { return {1, 1, 2}; }
  std::array<int64_t, 3> target_window_shape() const override { return {1, 1, 3}; }
  int64_t num_batches() const override { return 10; }
  void start_epoch() override { cursor_ = 0; }
  int64_t fill_next(float* inputs, float* targets) override {
    if (cursor_ == fail_at_) throw std::runtime_error("sequence S1/Walking: broken batch");
    for (int i = 0; i < 4; ++i) inputs[i] = static_cast<float>(cursor_);
    for (int i = 0; i < 6; ++i) targets[i] = static_cast<float>(cursor_);
    return ++cursor_ <= 10 ? 2 : 0;
  }
  int64_t batches_done() const override { return cursor_; }
  std::string save_state_at(int64_t batches) const override { return std::to_string(batches); }
  void load_state(const std::string& state) override { cursor_ = std::stoll(state); }

 private:
  int64_t fail_at_;
  int64_t cursor_ = 0;
};

TEST_P(PrefetchDevices, ProducerExceptionReachesTheConsumer) {
  Prefetcher pre(std::make_unique<FailingSource>(3), GetParam(), 4);
  pre.start_epoch();
  DeviceBatch got;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(pre.next(got));
    EXPECT_EQ(got.inputs_2d.to_vector(), std::vector<float>(4, static_cast<float>(i)));
  }
  EXPECT_THROW(
      {
        try {
          pre.next(got);
        } catch (const std::runtime_error& e) {
          EXPECT_STREQ(e.what(), "sequence S1/Walking: broken batch");
          throw;
        }
      },
      std::runtime_error);
  EXPECT_THROW(pre.next(got), std::runtime_error);  // until the next epoch
  EXPECT_EQ(pre.save_state(), "3");
}

TEST(Prefetch, NextBeforeStartEpochAndBadDepthAreErrors) {
  Prefetcher pre(make_generator(), Device::cpu());
  DeviceBatch got;
  EXPECT_THROW(pre.next(got), Error);
  EXPECT_THROW(Prefetcher(make_generator(), Device::cpu(), 0), Error);
  EXPECT_THROW(Prefetcher(nullptr, Device::cpu()), Error);
}

}  // namespace
}  // namespace v3d::data
