// Several devices of one backend in one process, and the caching allocator's stream order. The
// emulator has two devices (emu:0, emu:1); a kernel touching another device's memory faults there
// as on a GPU without peer access, so an op that ran on the thread's current device instead of
// its tensors' device would fail these tests. The cuda instances need two CUDA devices.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "runtime/allocator.h"
#include "runtime/gpu_api.h"
#include "runtime/ops.h"
#include "runtime/stream.h"
#include "runtime/tensor.h"
#include "tests/runtime/test_util.h"

namespace v3d {
namespace {

std::vector<float> ramp(int n, float scale) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<size_t>(i)] = scale * static_cast<float>(i % 7 - 3);
  return v;
}

// relu(a @ b) * 2 + a @ b, summed: a matmul (cuBLAS's place), elementwise ops and a reduction.
std::vector<float> compute(Device device) {
  const Tensor a = Tensor::from_vector(ramp(6 * 5, 0.5f), {6, 5}, device);
  const Tensor b = Tensor::from_vector(ramp(5 * 4, 0.25f), {5, 4}, device);
  const Tensor p = ops::matmul(a, b);
  const Tensor y = ops::add(ops::scale(ops::relu(p), 2.0f), p);
  std::vector<float> out = y.to_vector();
  out.push_back(ops::sum(y).item());
  return out;
}

// The parameter names the backend (emu:0 or cuda:0); the tests use its devices 0 and 1.
class MultiDevice : public test::DeviceTest {
 protected:
  void SetUp() override {
    test::DeviceTest::SetUp();
    if (IsSkipped()) return;
    std::string why;
    if (gpu_api(dev().gpu_kind()).device_count(&why) < 2) {
      GTEST_SKIP() << "needs two " << dev().str() << " devices";
    }
  }
  Device second() const { return Device{dev().type, 1}; }
};

TEST_P(MultiDevice, OpsRunOnTheirTensorsDeviceNotTheThreadsCurrentOne) {
  const std::vector<float> expected = compute(Device::cpu());
  GpuApi& api = gpu_api(dev().gpu_kind());
  ASSERT_EQ(api.current_device(), 0);
  EXPECT_EQ(compute(second()), expected);
  EXPECT_EQ(api.current_device(), 0) << "ops must restore the thread's current device";
  {
    const DeviceGuard guard(second());
    EXPECT_EQ(compute(dev()), expected);  // device 0 while device 1 is current
    EXPECT_EQ(api.current_device(), 1);
  }
}

TEST_P(MultiDevice, ThreadsDriveBothDevicesAtOnce) {
  const std::vector<float> expected = compute(Device::cpu());
  std::vector<float> got0, got1;
  std::thread t0([&] {
    for (int i = 0; i < 3; ++i) got0 = compute(dev());
  });
  std::thread t1([&] {
    for (int i = 0; i < 3; ++i) got1 = compute(second());
  });
  t0.join();
  t1.join();
  EXPECT_EQ(got0, expected);
  EXPECT_EQ(got1, expected);
}

TEST_P(MultiDevice, CopiesBetweenDevices) {
  const std::vector<float> v = ramp(1000, 1.5f);
  const Tensor a = Tensor::from_vector(v, {1000}, dev());
  Tensor b = Tensor::empty({1000}, DType::kF32, second());
  b.copy_from(ops::scale(a, 2.0f));  // the source's queued op must run before the copy
  std::vector<float> twice = v;
  for (float& x : twice) x *= 2.0f;
  EXPECT_EQ(b.to_vector(), twice);
  Tensor c = Tensor::empty({1000}, DType::kF32, dev());
  c.copy_from(b);
  EXPECT_EQ(c.to_vector(), twice);
}

INSTANTIATE_TEST_SUITE_P(GpuDevices, MultiDevice, ::testing::ValuesIn(test::gpu_device_params()),
                         test::device_test_name);

class StreamOrder : public test::DeviceTest {};

// A block freed on one stream while work queued on that stream may still use it must not serve an
// allocation on another stream; on its own stream it is reused at once.
TEST_P(StreamOrder, FreedBlocksAreReusedOnTheirOwnStreamOnly) {
  const Stream a = Stream::create(dev());
  const Stream b = Stream::create(dev());
  constexpr int64_t kFloats = int64_t{1} << 15;
  const void* first = nullptr;
  {
    const StreamGuard guard(a);
    const Tensor t = Tensor::empty({kFloats}, DType::kF32, dev());
    first = t.raw();
    ops::fill_(t, 1.0f);  // queued on a; t is freed with the fill still pending
  }
  Tensor u;
  {
    const StreamGuard guard(b);
    u = Tensor::empty({kFloats}, DType::kF32, dev());
    EXPECT_NE(u.raw(), first) << "stream b received a block stream a's queued work may write";
    ops::fill_(u, 2.0f);
  }
  a.synchronize();
  b.synchronize();
  EXPECT_EQ(u.to_vector(), std::vector<float>(kFloats, 2.0f));
  {
    const StreamGuard guard(a);
    const Tensor v = Tensor::empty({kFloats}, DType::kF32, dev());
    EXPECT_EQ(v.raw(), first) << "the block is reused on its own stream";
  }
}

// A destroyed stream's cached blocks pass to the default stream once its work has run.
TEST_P(StreamOrder, DestroyedStreamsBlocksPassToTheDefaultStream) {
  constexpr int64_t kFloats = (int64_t{1} << 15) + 128;
  {
    const Stream a = Stream::create(dev());
    const StreamGuard guard(a);
    const Tensor t = Tensor::full({kFloats}, 3.0f, dev());
  }
  const AllocatorStats before = allocator_for(dev()).stats();
  const Tensor v = Tensor::zeros({kFloats}, DType::kF32, dev());
  const AllocatorStats after = allocator_for(dev()).stats();
  EXPECT_EQ(after.backend_allocs, before.backend_allocs) << "served from the cache";
  EXPECT_EQ(after.cache_hits, before.cache_hits + 1);
  EXPECT_EQ(v.to_vector(), std::vector<float>(kFloats, 0.0f));
}

INSTANTIATE_TEST_SUITE_P(GpuDevices, StreamOrder, ::testing::ValuesIn(test::gpu_device_params()),
                         test::device_test_name);

}  // namespace
}  // namespace v3d
