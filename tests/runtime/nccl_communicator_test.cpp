// The NCCL communicator: its logic on the two emulated devices, one thread rank each, with the
// stand-in whose collectives are the thread communicator's (label emu); and on one GPU with NCCL
// itself (a job of one rank: no MPI needed). The cuda0 test is labelled gpu and skips where the
// build has no NCCL or no CUDA device is usable; scripts/gpu-check runs it on a lent GPU and fails
// when it skips there.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <utility>
#include <vector>

#include "runtime/communicator.h"
#include "runtime/device.h"
#include "runtime/ops.h"
#include "tests/runtime/test_util.h"
#include "tests/runtime/thread_ranks.h"

namespace v3d {
namespace {

TEST(NcclCommunicator, RefusesWhatItCannotRun) {
  // Without NCCL the build says so; with it, a local rank beyond the node's GPUs is named.
  EXPECT_V3D_ERROR(make_nccl_communicator(make_single_communicator(), 99),
                   nccl_built() ? "local rank 99" : "no NCCL");
  EXPECT_V3D_ERROR(make_nccl_communicator(make_single_communicator(), 2, DeviceType::kEmu),
                   "local rank 2", "2 usable emulated devices", "one process per GPU");
  EXPECT_V3D_ERROR(make_nccl_communicator(make_single_communicator(), 0, DeviceType::kCPU),
                   "cuda or emu");
}

// Values whose sum depends on the order of addition (magnitudes 1e-3 to 1e7, both signs).
std::vector<float> order_sensitive(int rank, size_t n) {
  std::mt19937 rng(static_cast<unsigned>(77 + rank));
  std::uniform_real_distribution<float> mantissa(-1.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-3, 7);
  std::vector<float> v(n);
  for (float& x : v) x = mantissa(rng) * std::pow(10.0f, static_cast<float>(exponent(rng)));
  return v;
}

// Ranks 0 and 1 of an emulated NCCL job, one thread each.
template <class Body>
void run_two_emulated_ranks(Body&& body) {
  test::run_thread_ranks(2, /*nccl_on_emu=*/true, std::forward<Body>(body));
}

TEST(NcclCommunicator, TwoRanksOnTheEmulatedDevices_emu) {
  const size_t n = 1001;
  std::vector<float> want = order_sensitive(0, n);
  for (size_t i = 0; i < n; ++i) want[i] += order_sensitive(1, n)[i];
  run_two_emulated_ranks([&](int r, Communicator& c) {
    EXPECT_EQ(c.name(), "nccl");
    EXPECT_EQ(c.rank(), r);
    EXPECT_EQ(c.world_size(), 2);
    // On the rank's own device (emu:r), and a CPU tensor through the host communicator.
    for (Device d : {Device::emu(r), Device::cpu()}) {
      const Tensor t = Tensor::from_vector(order_sensitive(r, n), {static_cast<int64_t>(n)}, d);
      c.all_reduce_sum(t);
      EXPECT_TRUE(test::bitwise_equal(t.to_vector(), want)) << "rank " << r << " on " << d.str();
      const Tensor b = Tensor::full({7}, static_cast<float>(r + 1), d);
      c.broadcast(b, 1);
      EXPECT_EQ(b.to_vector(), std::vector<float>(7, 2.0f)) << "rank " << r << " on " << d.str();
    }
    c.barrier();
    EXPECT_EQ(c.all_gather(std::to_string(r)), (std::vector<std::string>{"0", "1"}));
    // A tensor on the other rank's device is a caller's mistake.
    EXPECT_V3D_ERROR(c.all_reduce_sum(Tensor::zeros({4}, DType::kF32, Device::emu(1 - r))),
                     "by the NCCL rank on " + Device::emu(r).str());
  });
}

// A started reduction runs on the communicator's non-blocking stream: work queued afterwards on
// the current (legacy default) stream does not wait for it, which is what lets it overlap the
// rest of a backward pass. Here a read of t on the current stream before the wait still sees the
// rank's own values (the stand-in's copy back of the sum is queued on the other stream); on a GPU
// that read would race with NCCL, which is why callers leave t alone until the wait.
TEST(NcclCommunicator, StartedReductionsDoNotHoldBackTheCurrentStream_emu) {
  run_two_emulated_ranks([&](int r, Communicator& c) {
    const Tensor t = Tensor::full({300}, static_cast<float>(r + 1), Device::emu(r));
    const Tensor u = Tensor::full({5}, 10.0f * static_cast<float>(r + 1), Device::emu(r));
    c.start_all_reduce_sum(t);
    EXPECT_EQ(t.to_vector(), std::vector<float>(300, static_cast<float>(r + 1))) << "rank " << r;
    c.start_all_reduce_sum(u);
    c.wait_all_reduces();
    EXPECT_EQ(t.to_vector(), std::vector<float>(300, 3.0f)) << "rank " << r;
    EXPECT_EQ(u.to_vector(), std::vector<float>(5, 30.0f)) << "rank " << r;
    // Another collective first waits for the started ones.
    c.start_all_reduce_sum(t);
    const Tensor b = Tensor::full({3}, static_cast<float>(r), Device::emu(r));
    c.broadcast(b, 1);
    EXPECT_EQ(t.to_vector(), std::vector<float>(300, 6.0f)) << "rank " << r;
    EXPECT_EQ(b.to_vector(), std::vector<float>(3, 1.0f)) << "rank " << r;
    c.wait_all_reduces();  // nothing left: returns at once
  });
}

TEST(NcclCommunicator, AnAbortedRankFailsEveryCollective_emu) {
  run_two_emulated_ranks([&](int r, Communicator& c) {
    const Tensor t = Tensor::full({16}, 1.0f, Device::emu(r));
    c.all_reduce_sum(t);
    if (r == 1) {
      // A thread rank's abort throws (it cannot end the process); the NCCL side is aborted
      // first, so this rank's later collectives fail at once.
      EXPECT_V3D_ERROR(c.abort(3), "rank 1 aborted");
      EXPECT_V3D_ERROR(c.all_reduce_sum(t), "NCCL rank 1: all_reduce_sum failed", "aborted");
      EXPECT_V3D_ERROR(c.barrier(), "NCCL rank 1: barrier failed");
    } else {
      // The peer's abort reaches a rank waiting in a collective instead of leaving it there.
      EXPECT_V3D_ERROR(c.all_reduce_sum(t), "aborted");
    }
  });
}

TEST(NcclCommunicator, OneRankCollectives_cuda0) {
  if (!nccl_built()) GTEST_SKIP() << "this build has no NCCL";
  V3D_SKIP_UNLESS_USABLE(Device::cuda(0));
  std::unique_ptr<Communicator> c = make_nccl_communicator(make_single_communicator(), 0);
  EXPECT_EQ(c->name(), "nccl");
  EXPECT_EQ(c->rank(), 0);
  EXPECT_EQ(c->world_size(), 1);

  // The sum over one rank is the rank's values, bit for bit, on the GPU and through the host
  // communicator for a CPU tensor.
  std::vector<float> values(1000003);
  for (size_t i = 0; i < values.size(); ++i) values[i] = 0.001f * static_cast<float>(i) - 3.0f;
  for (Device d : {Device::cuda(0), Device::cpu()}) {
    const Tensor t = Tensor::from_vector(values, {static_cast<int64_t>(values.size())}, d);
    c->all_reduce_sum(t);
    EXPECT_TRUE(test::bitwise_equal(t.to_vector(), values)) << d.str();
    c->broadcast(t, 0);
    EXPECT_TRUE(test::bitwise_equal(t.to_vector(), values)) << d.str();
  }
  // Started reductions (the gradient buckets): on the communicator's own stream, after the work
  // queued on the current stream, complete at the wait.
  const Tensor started = Tensor::full({300000}, 0.5f, Device::cuda(0));
  ops::fill_(started, 1.5f);
  c->start_all_reduce_sum(started);
  c->start_all_reduce_sum(started.narrow(0, 10));
  c->wait_all_reduces();
  EXPECT_EQ(started.to_vector(), std::vector<float>(300000, 1.5f));
  c->barrier();
  EXPECT_EQ(c->all_gather("mine"), std::vector<std::string>{"mine"});
  EXPECT_V3D_ERROR(c->all_reduce_sum(Tensor::zeros({4}, DType::kI32, Device::cuda(0))), "f32 only");
}

}  // namespace
}  // namespace v3d
