// The bucketed gradient all-reduce (runtime/grad_buckets.h): how the flat gradient buffer is cut,
// that each bucket starts as soon as the backward pass has completed its gradients and in bucket
// order, and that the sums are the whole buffer's all-reduce bit for bit: between thread ranks on
// the CPU, and as an NCCL job on the two emulated devices, where the reductions run on the
// communicator's own stream and must wait for the kernels that wrote the gradients.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "runtime/autograd.h"
#include "runtime/communicator.h"
#include "runtime/grad_buckets.h"
#include "runtime/ops.h"
#include "runtime/parameters.h"
#include "tests/runtime/test_util.h"
#include "tests/runtime/thread_ranks.h"

namespace v3d {
namespace {

// Records what the reducer asks of it: each started bucket's offset into `base`, and the values
// the bucket held when its reduction started (a one-rank sum: the values stay).
class RecordingCommunicator final : public Communicator {
 public:
  explicit RecordingCommunicator(const Tensor& base) : base_(base) {}
  std::string name() const override { return "recording"; }
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  void all_reduce_sum(const Tensor&) override { events.push_back("all_reduce_sum"); }
  void start_all_reduce_sum(const Tensor& t) override {
    std::string e = "start ";
    e += std::to_string(t.f32() - base_.f32());
    events.push_back(e);
    started_values.push_back(base_.to_vector());
  }
  void wait_all_reduces() override { events.push_back("wait"); }
  void broadcast(const Tensor&, int) override {}
  std::vector<std::string> all_gather(const std::string& mine) override { return {mine}; }
  void barrier() override {}
  [[noreturn]] void abort(int) override { throw Error("abort"); }

  std::vector<std::string> events;
  std::vector<std::vector<float>> started_values;  // the whole flat buffer at each start

 private:
  Tensor base_;
};

TEST(GradientBuckets, CutTheFlatBufferLastParametersFirst) {
  ParameterStore store(Device::cpu());
  store.add("a", {10});   // [0, 16): padded to the 16-float alignment
  store.add("b", {40});   // [16, 64)
  store.add("c", {3});    // [64, 80)
  store.add("d", {100});  // [80, 192)
  store.finalize();
  RecordingCommunicator comm(store.flat_grads());
  {
    // 64 floats: d alone exceeds it (a bucket of its own), c and b fill one exactly, a is left.
    GradientBuckets b(store, comm, 64 * sizeof(float));
    ASSERT_EQ(b.buckets().size(), 3u);
    EXPECT_EQ(b.buckets()[0].offset, 80);
    EXPECT_EQ(b.buckets()[0].numel, 112);
    EXPECT_EQ(b.buckets()[0].parameters, (std::vector<size_t>{3}));
    EXPECT_EQ(b.buckets()[1].offset, 16);
    EXPECT_EQ(b.buckets()[1].numel, 64);
    EXPECT_EQ(b.buckets()[1].parameters, (std::vector<size_t>{2, 1}));
    EXPECT_EQ(b.buckets()[2].offset, 0);
    EXPECT_EQ(b.buckets()[2].numel, 16);
  }
  GradientBuckets whole(store, comm, 0);
  ASSERT_EQ(whole.buckets().size(), 1u);
  EXPECT_EQ(whole.buckets()[0].offset, 0);
  EXPECT_EQ(whole.buckets()[0].numel, 192);
  EXPECT_EQ(whole.buckets()[0].parameters, (std::vector<size_t>{3, 2, 1, 0}));
}

// loss = sum(d * (c * (b * a))): the backward pass completes d first, then c, then b and a.
Var chain_loss(const ParameterStore& store) {
  const Var a = store.find("a"), b = store.find("b"), c = store.find("c"), d = store.find("d");
  return ag::sum(ag::mul(d, ag::mul(c, ag::mul(b, a))));
}

ParameterStore chain_store(bool with_unused) {
  ParameterStore store(Device::cpu());
  for (const char* name : {"a", "b", "c", "d"}) store.add(name, {4});
  if (with_unused) store.add("unused", {4});
  store.finalize();
  const int64_t n = store.flat_values().numel();
  store.flat_values().copy_from(Tensor::from_vector(test::iota_vec(n, 1.0f), {n}, Device::cpu()));
  return store;
}

TEST(GradientBuckets, EachBucketStartsDuringTheBackwardPassOnceComplete) {
  ParameterStore store = chain_store(false);
  RecordingCommunicator comm(store.flat_grads());
  GradientBuckets buckets(store, comm, 16 * sizeof(float));  // one parameter each
  ASSERT_EQ(buckets.buckets().size(), 4u);
  for (int step = 0; step < 2; ++step) {
    comm.events.clear();
    comm.started_values.clear();
    store.zero_grad();
    buckets.begin();
    chain_loss(store).backward();
    EXPECT_EQ(comm.events,
              (std::vector<std::string>{"start 48", "start 32", "start 16", "start 0"}))
        << "step " << step;
    buckets.finish();
    EXPECT_EQ(comm.events.back(), "wait");
    ASSERT_EQ(comm.started_values.size(), 4u);
    // When d's bucket started, d's gradient was final and a's not computed yet.
    const std::vector<float> final_grads = store.flat_grads().to_vector();
    const std::vector<float>& at_d = comm.started_values[0];
    for (int i = 48; i < 52; ++i) EXPECT_EQ(at_d[i], final_grads[i]) << i;
    for (int i = 0; i < 4; ++i) EXPECT_EQ(at_d[i], 0.0f) << i;
    EXPECT_NE(final_grads[0], 0.0f);
  }
  // A second backward pass in one step would add to gradients already being reduced.
  store.zero_grad();
  buckets.begin();
  chain_loss(store).backward();
  EXPECT_V3D_ERROR(chain_loss(store).backward(), "completed twice", "one backward pass per step");
}

// Buckets start in order: a parameter the pass does not reach holds back its bucket and every
// later one until finish(), so all ranks issue the same collectives in the same sequence.
TEST(GradientBuckets, AnUnreachedParameterDefersItsBucketToFinish) {
  ParameterStore store = chain_store(true);
  RecordingCommunicator comm(store.flat_grads());
  GradientBuckets buckets(store, comm, 16 * sizeof(float));
  ASSERT_EQ(buckets.buckets().size(), 5u);
  store.zero_grad();
  buckets.begin();
  chain_loss(store).backward();
  EXPECT_TRUE(comm.events.empty());
  buckets.finish();
  EXPECT_EQ(comm.events, (std::vector<std::string>{"start 64", "start 48", "start 32", "start 16",
                                                   "start 0", "wait"}));
  // Outside begin() ... finish() the hooks do nothing.
  comm.events.clear();
  chain_loss(store).backward();
  EXPECT_TRUE(comm.events.empty());
}

// "p<i>" (built by appending: GCC 12 misreports `"p" + std::to_string(i)` under -Wrestrict).
std::string param_name(size_t i) {
  std::string name = "p";
  name += std::to_string(i);
  return name;
}

// Per rank, gradients whose sum over the ranks depends on nothing but the elementwise adds.
std::vector<float> rank_values(int rank, int64_t n) {
  std::mt19937 rng(static_cast<unsigned>(31 + rank));
  std::uniform_real_distribution<float> u(-3.0f, 3.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = u(rng);
  return v;
}

// Two ranks; each parameter p_i's gradient is the rank's values (loss = sum(p_i * v_i)), produced
// by queued kernels on the emulated devices. Every bucket size gives the whole-buffer sums.
void expect_bucketed_sums_match(bool nccl_on_emu) {
  const std::vector<Shape> shapes = {{7, 3}, {50}, {1}, {16, 4}, {33}};
  for (const int64_t bucket_floats : {int64_t{0}, int64_t{1}, int64_t{40}, int64_t{100}}) {
    std::vector<std::vector<float>> grads(2);
    test::run_thread_ranks(2, nccl_on_emu, [&](int r, Communicator& comm) {
      const Device device = nccl_on_emu ? Device::emu(r) : Device::cpu();
      ParameterStore store(device);
      for (size_t i = 0; i < shapes.size(); ++i) store.add(param_name(i), shapes[i]);
      store.finalize();
      GradientBuckets buckets(store, comm, bucket_floats * static_cast<int64_t>(sizeof(float)));
      for (int step = 0; step < 2; ++step) {
        store.zero_grad();
        buckets.begin();
        Var loss;
        int64_t seed = 0;
        for (const auto& [name, p] : store.parameters()) {
          const int64_t n = p.value().numel();
          const Var v(Tensor::from_vector(rank_values(r + 2 * static_cast<int>(seed++), n),
                                          p.value().shape(), device));
          const Var term = ag::sum(ag::mul(p, v));
          loss = loss.defined() ? ag::add(loss, term) : term;
        }
        loss.backward();
        buckets.finish();
      }
      grads[static_cast<size_t>(r)] = store.flat_grads().to_vector();
    });
    ASSERT_EQ(grads[0].size(), grads[1].size());
    EXPECT_TRUE(test::bitwise_equal(grads[0], grads[1]));
    // The expected sums, rank 0 + rank 1, parameter by parameter; the padding stays zero.
    ParameterStore layout(Device::cpu());
    for (size_t i = 0; i < shapes.size(); ++i) layout.add(param_name(i), shapes[i]);
    layout.finalize();
    std::vector<float> want(grads[0].size(), 0.0f);
    int64_t seed = 0;
    for (const auto& [name, p] : layout.parameters()) {
      const int64_t n = p.value().numel(), offset = layout.offset_of(name);
      const std::vector<float> v0 = rank_values(0 + 2 * static_cast<int>(seed), n);
      const std::vector<float> v1 = rank_values(1 + 2 * static_cast<int>(seed), n);
      ++seed;
      for (int64_t i = 0; i < n; ++i)
        want[static_cast<size_t>(offset + i)] =
            v0[static_cast<size_t>(i)] + v1[static_cast<size_t>(i)];
    }
    EXPECT_TRUE(test::bitwise_equal(grads[0], want)) << "buckets of " << bucket_floats << " floats";
  }
}

TEST(GradientBuckets, SumsEqualTheWholeBuffersAllReduceOnThreadRanks) {
  expect_bucketed_sums_match(false);
}

// On the NCCL stand-in each bucket is read and written back by copies on the communicator's
// non-blocking stream: without its wait for the training stream's kernels it would read stale
// gradients (zeros, or the 0xFF poison of fresh memory) and the sums would be wrong.
TEST(GradientBuckets, SumsEqualTheWholeBuffersAllReduceAsAnNcclJob_emu) {
  expect_bucketed_sums_match(true);
}

}  // namespace
}  // namespace v3d
