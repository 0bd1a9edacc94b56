// Streams, events and the per-thread current stream of a GPU device.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <thread>
#include <utility>
#include <vector>

#include "runtime/ops.h"
#include "runtime/stream.h"
#include "runtime/tensor.h"
#include "tests/runtime/test_util.h"

namespace v3d {
namespace {

class StreamTest : public test::DeviceTest {};

TEST_P(StreamTest, CreateGivesAnOwnedNonDefaultStream) {
  const Stream s = Stream::create(dev());
  EXPECT_EQ(s.device(), dev());
  EXPECT_NE(s.handle(), nullptr);
  const Stream t = Stream::create(dev());
  EXPECT_NE(t.handle(), s.handle());
  s.synchronize();
  t.synchronize();
}

TEST_P(StreamTest, DefaultStreamHasANullHandle) {
  const Stream s = Stream::default_stream(dev());
  EXPECT_EQ(s.device(), dev());
  EXPECT_EQ(s.handle(), nullptr);
  s.synchronize();
}

TEST_P(StreamTest, GuardSwitchesTheCurrentStreamAndRestoresIt) {
  EXPECT_EQ(current_stream(dev()), nullptr);
  const Stream s1 = Stream::create(dev());
  const Stream s2 = Stream::create(dev());
  {
    StreamGuard g1(s1);
    EXPECT_EQ(current_stream(dev()), s1.handle());
    EXPECT_EQ(current_stream(Device::cpu()), nullptr);  // CPU ops have no stream
    {
      StreamGuard g2(s2);
      EXPECT_EQ(current_stream(dev()), s2.handle());
    }
    EXPECT_EQ(current_stream(dev()), s1.handle());
    {
      // A guard over the default stream switches back to it.
      const Stream def = Stream::default_stream(dev());
      StreamGuard g3(def);
      EXPECT_EQ(current_stream(dev()), nullptr);
    }
    EXPECT_EQ(current_stream(dev()), s1.handle());
  }
  EXPECT_EQ(current_stream(dev()), nullptr);
}

TEST_P(StreamTest, CurrentStreamIsPerThread) {
  const Stream s = Stream::create(dev());
  StreamGuard g(s);
  ASSERT_EQ(current_stream(dev()), s.handle());
  kernels::StreamHandle seen = s.handle();
  std::thread other([&] { seen = current_stream(dev()); });
  other.join();
  EXPECT_EQ(seen, nullptr);
  EXPECT_EQ(current_stream(dev()), s.handle());
}

TEST_P(StreamTest, OpsRunOnTheGuardedStream) {
  const Stream s = Stream::create(dev());
  std::vector<float> got;
  {
    StreamGuard g(s);
    const Tensor a = Tensor::from_vector({1, 2, 3, 4}, {4}, dev());
    const Tensor z = Tensor::zeros({4}, DType::kF32, dev());
    Tensor y = ops::add(ops::scale(a, 2.0f), z);
    ops::add_out(y, a, y);
    EXPECT_EQ(ops::sum(y).item(), 30.0f);
    s.synchronize();
    synchronize(dev());
    got = y.to_vector();
  }
  EXPECT_EQ(got, (std::vector<float>{3, 6, 9, 12}));
}

TEST_P(StreamTest, SynchronizeIsHarmlessOnEveryDevice) {
  synchronize(dev());
  synchronize(Device::cpu());
  const Stream s = Stream::create(dev());
  StreamGuard g(s);
  synchronize(dev());
}

TEST_P(StreamTest, MoveTransfersOwnership) {
  Stream a = Stream::create(dev());
  const kernels::StreamHandle h = a.handle();
  Stream b = std::move(a);
  EXPECT_EQ(b.handle(), h);
  EXPECT_EQ(b.device(), dev());
  EXPECT_EQ(a.handle(), nullptr);  // NOLINT(bugprone-use-after-move): checking the moved-from state
  b.synchronize();

  // Move assignment into a stream that owns one: both handles are destroyed exactly once (a
  // double destroy would throw from a destructor and terminate the test program).
  Stream c = Stream::create(dev());
  const kernels::StreamHandle hc = c.handle();
  c = std::move(b);
  EXPECT_EQ(c.handle(), h);
  EXPECT_NE(hc, h);
  c.synchronize();

  Stream d;
  d = Stream::create(dev());
  EXPECT_NE(d.handle(), nullptr);
  EXPECT_EQ(d.device(), dev());
}

TEST_P(StreamTest, EventElapsedTimeIsNonNegative) {
  const Stream s = Stream::create(dev());
  Event start(dev()), end(dev());
  EXPECT_NE(start.handle(), nullptr);
  start.record(s.handle());
  {
    StreamGuard g(s);
    Tensor t = Tensor::full({4096}, 1.0f, dev());
    for (int i = 0; i < 5; ++i) ops::scale_out(t, 1.5f, t);
  }
  end.record(s.handle());
  end.synchronize();
  const float ms = end.elapsed_ms_since(start);
  EXPECT_TRUE(std::isfinite(ms));
  EXPECT_GE(ms, 0.0f);
}

TEST_P(StreamTest, EventElapsedTimeMeasuresTime) {
  Event start(dev()), end(dev());
  start.record(nullptr);
  start.synchronize();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  end.record(nullptr);
  const float ms = end.elapsed_ms_since(start);
  // A sleep of 30 ms lies between the two events; the timer must see at least most of it.
  EXPECT_GE(ms, 20.0f);
}

TEST_P(StreamTest, ElapsedBeforeRecordingFails) {
  Event start(dev()), end(dev());
  start.record(nullptr);
  // `end` was never recorded: the backend reports an error, which must surface as v3d::Error.
  EXPECT_V3D_ERROR(end.elapsed_ms_since(start), "GPU error");
  // The failure is reported once: it must not linger as the thread's last GPU error and be
  // blamed on the next, unrelated kernel launch.
  const Tensor t = Tensor::zeros({8}, DType::kF32, dev());
  EXPECT_NO_THROW(ops::fill_(t, 2.0f));
  EXPECT_EQ(t.to_vector(), std::vector<float>(8, 2.0f));
}

INSTANTIATE_TEST_SUITE_P(GpuDevices, StreamTest, ::testing::ValuesIn(test::gpu_device_params()),
                         test::device_test_name);

TEST(StreamCpu, StreamsExistOnGpuDevicesOnly) {
  EXPECT_V3D_ERROR(Stream::create(Device::cpu()), "streams exist on GPU devices only", "cpu");
  const Stream s;
  EXPECT_EQ(s.device(), Device::cpu());
  EXPECT_EQ(s.handle(), nullptr);
  s.synchronize();  // a no-op
  EXPECT_EQ(current_stream(Device::cpu()), nullptr);
}

TEST(StreamCpu, CpuEventsHaveNoTiming) {
  Event start(Device::cpu()), end(Device::cpu());
  EXPECT_EQ(start.handle(), nullptr);
  start.record(nullptr);  // no-ops
  end.record(nullptr);
  end.synchronize();
  EXPECT_V3D_ERROR(end.elapsed_ms_since(start), "event timing needs GPU events");
  Event gpu(Device::emu());
  gpu.record(nullptr);
  EXPECT_V3D_ERROR(gpu.elapsed_ms_since(start), "event timing needs GPU events");
}

}  // namespace
}  // namespace v3d
