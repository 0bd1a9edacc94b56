// The NCCL communicator on one GPU (a job of one rank: no MPI needed). The cuda0 test is labelled
// gpu and skips where the build has no NCCL or no CUDA device is usable; scripts/gpu-check runs
// it on a lent GPU and fails when it skips there.
#include <gtest/gtest.h>

#include <vector>

#include "runtime/communicator.h"
#include "runtime/device.h"
#include "tests/runtime/test_util.h"

namespace v3d {
namespace {

TEST(NcclCommunicator, RefusesWhatItCannotRun) {
  // Without NCCL the build says so; with it, a local rank beyond the node's GPUs is named.
  EXPECT_V3D_ERROR(make_nccl_communicator(make_single_communicator(), 99),
                   nccl_built() ? "local rank 99" : "no NCCL");
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
  c->barrier();
  EXPECT_EQ(c->all_gather("mine"), std::vector<std::string>{"mine"});
  EXPECT_V3D_ERROR(c->all_reduce_sum(Tensor::zeros({4}, DType::kI32, Device::cuda(0))), "f32 only");
}

}  // namespace
}  // namespace v3d
