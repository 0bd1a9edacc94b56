// The NCCL communicator (runtime/communicator.h): one process per GPU. Built when configure found
// CUDA and libnccl (V3D_WITH_NCCL=1); otherwise the functions say the build has none.
//
// The communicator is non-blocking (ncclConfig_t::blocking = 0): every NCCL call returns at once
// and this file polls ncclCommGetAsyncError, and for collectives the stream, against a deadline.
// So a dead or stuck peer becomes a v3d::Error after the timeout (ncclCommAbort frees the GPU
// kernels waiting on it) instead of a hang in a later stream synchronisation.
#include "runtime/communicator.h"

#if V3D_WITH_NCCL
#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "runtime/stream.h"
#endif

namespace v3d {

#if V3D_WITH_NCCL
namespace {

void cuda_check(cudaError_t e, const char* call) {
  if (e != cudaSuccess) throw Error(std::string(call) + " failed: " + cudaGetErrorString(e));
}

// Seconds a collective may take before the job is declared broken: V3D_NCCL_TIMEOUT_S, 300 by
// default (a first all-reduce includes NCCL's connection setup).
double timeout_from_env() {
  const char* v = std::getenv("V3D_NCCL_TIMEOUT_S");
  if (v == nullptr || *v == '\0') return 300.0;
  char* end = nullptr;
  const double s = std::strtod(v, &end);
  V3D_REQUIRE(end != v && *end == '\0' && s > 0.0,
              "environment variable V3D_NCCL_TIMEOUT_S='" << v << "' is not a positive number");
  return s;
}

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(std::unique_ptr<Communicator> host, int local_rank)
      : host_(std::move(host)), device_(Device::cuda(local_rank)), timeout_s_(timeout_from_env()) {
    int count = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    V3D_REQUIRE(e == cudaSuccess && local_rank >= 0 && local_rank < count,
                "rank " << host_->rank() << " has local rank " << local_rank
                        << " but this node has " << (e == cudaSuccess ? count : 0)
                        << " usable CUDA devices"
                        << (e == cudaSuccess ? "" : std::string(" (") + cudaGetErrorString(e) + ")")
                        << "; the NCCL communicator runs one process per GPU");
    DeviceGuard guard(device_);
    // Rank 0's unique id reaches the others through the host communicator (MPI between
    // processes; nothing to send for one rank).
    ncclUniqueId id;
    std::string mine;
    if (host_->rank() == 0) {
      check(ncclGetUniqueId(&id), "ncclGetUniqueId");
      mine.assign(reinterpret_cast<const char*>(&id), sizeof(id));
    }
    const std::vector<std::string> ids = host_->all_gather(mine);
    V3D_CHECK(ids[0].size() == sizeof(id), "NCCL unique id of " << ids[0].size() << " bytes");
    std::memcpy(&id, ids[0].data(), sizeof(id));

    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    check(ncclCommInitRankConfig(&comm_, host_->world_size(), id, host_->rank(), &config),
          "ncclCommInitRankConfig");
    wait_ready("ncclCommInitRankConfig");
    cuda_check(cudaMalloc(&one_, sizeof(float)), "cudaMalloc");
    cuda_check(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming), "cudaEventCreate");
  }

  ~NcclCommunicator() override {
    if (comm_ == nullptr) return;
    DeviceGuard guard(device_);
    // A clean finish flushes NCCL's pending work; after an error fail() has aborted it instead.
    try {
      check(ncclCommFinalize(comm_), "ncclCommFinalize");
      wait_ready("ncclCommFinalize");
    } catch (const Error&) {
    }
    if (comm_ != nullptr) ncclCommDestroy(comm_);
    cudaEventDestroy(done_);
    cudaFree(one_);
  }

  std::string name() const override { return "nccl"; }
  int rank() const override { return host_->rank(); }
  int world_size() const override { return host_->world_size(); }

  // Returns when t holds the sum on this rank. NCCL's order of addition (ring or tree, chosen by
  // message size and topology) is not rank order: the bits differ from the MPI and thread
  // communicators' and may change with NCCL's version or NCCL_ALGO.
  void all_reduce_sum(const Tensor& t) override {
    V3D_CHECK(t.dtype() == DType::kF32, "all_reduce_sum of " << t.str() << ": f32 only");
    if (t.device().type != DeviceType::kCUDA) return host_->all_reduce_sum(t);
    V3D_CHECK(t.device() == device_,
              "all_reduce_sum of " << t.str() << " by the NCCL rank on " << device_.str());
    DeviceGuard guard(device_);
    cudaStream_t stream = static_cast<cudaStream_t>(current_stream(device_));
    check(ncclAllReduce(t.f32(), t.f32(), static_cast<size_t>(t.numel()), ncclFloat, ncclSum, comm_,
                        stream),
          "ncclAllReduce");
    wait_done(stream, "ncclAllReduce");
  }

  void broadcast(const Tensor& t, int root) override {
    V3D_CHECK(t.dtype() == DType::kF32, "broadcast of " << t.str() << ": f32 only");
    V3D_CHECK(root >= 0 && root < world_size(), "broadcast from rank " << root);
    if (t.device().type != DeviceType::kCUDA) return host_->broadcast(t, root);
    V3D_CHECK(t.device() == device_,
              "broadcast of " << t.str() << " by the NCCL rank on " << device_.str());
    DeviceGuard guard(device_);
    cudaStream_t stream = static_cast<cudaStream_t>(current_stream(device_));
    check(ncclBroadcast(t.f32(), t.f32(), static_cast<size_t>(t.numel()), ncclFloat, root, comm_,
                        stream),
          "ncclBroadcast");
    wait_done(stream, "ncclBroadcast");
  }

  std::vector<std::string> all_gather(const std::string& mine) override {
    return host_->all_gather(mine);
  }

  // A one-float all-reduce: every rank has reached it once it completes.
  void barrier() override {
    DeviceGuard guard(device_);
    cudaStream_t stream = static_cast<cudaStream_t>(current_stream(device_));
    check(ncclAllReduce(one_, one_, 1, ncclFloat, ncclSum, comm_, stream), "ncclAllReduce");
    wait_done(stream, "barrier (ncclAllReduce)");
  }

  [[noreturn]] void abort(int exit_code) override {
    if (comm_ != nullptr) ncclCommAbort(comm_);
    comm_ = nullptr;
    host_->abort(exit_code);
    std::_Exit(exit_code);  // not reached: the host's abort ends the process
  }

 private:
  void check(ncclResult_t r, const char* call) {
    if (r == ncclSuccess || r == ncclInProgress) return;
    fail(call, r);
  }

  [[noreturn]] void fail(const std::string& what, ncclResult_t r) {
    std::string detail = ncclGetErrorString(r);
    if (comm_ != nullptr) {
      const char* last = ncclGetLastError(comm_);
      if (last != nullptr && *last != '\0') detail += " (" + std::string(last) + ")";
      ncclCommAbort(comm_);  // frees the GPU kernels still waiting for a peer
      comm_ = nullptr;
    }
    throw Error("NCCL rank " + std::to_string(rank()) + ": " + what + " failed: " + detail);
  }

  // Until the communicator has no call in progress (non-blocking mode), or the timeout.
  void wait_ready(const char* call) {
    poll(call, [] { return true; });
  }

  // Until the collective just queued on `stream` has completed, or an error or the timeout.
  void wait_done(cudaStream_t stream, const char* call) {
    cuda_check(cudaEventRecord(done_, stream), "cudaEventRecord");
    poll(call, [&] {
      const cudaError_t e = cudaEventQuery(done_);
      if (e == cudaErrorNotReady) return false;
      cuda_check(e, "cudaEventQuery");
      return true;
    });
  }

  template <class Done>
  void poll(const char* call, Done&& done) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s_);
    for (;;) {
      ncclResult_t state = ncclSuccess;
      check(ncclCommGetAsyncError(comm_, &state), "ncclCommGetAsyncError");
      if (state != ncclSuccess && state != ncclInProgress) fail(call, state);
      if (state == ncclSuccess && done()) return;
      if (std::chrono::steady_clock::now() > deadline) {
        fail(std::string(call) + " did not complete within " + std::to_string(timeout_s_) +
                 " s (V3D_NCCL_TIMEOUT_S): a peer died or stopped",
             ncclRemoteError);
      }
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }

  std::unique_ptr<Communicator> host_;
  Device device_;
  double timeout_s_;
  ncclComm_t comm_ = nullptr;
  float* one_ = nullptr;
  cudaEvent_t done_ = nullptr;
};

}  // namespace

bool nccl_built() { return true; }

std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<Communicator> host,
                                                     int local_rank) {
  V3D_CHECK(host != nullptr, "make_nccl_communicator needs a host communicator");
  return std::make_unique<NcclCommunicator>(std::move(host), local_rank);
}
#else
bool nccl_built() { return false; }

std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<Communicator>, int) {
  throw Error("this build of v3d has no NCCL (it needs the CUDA backend and libnccl at configure)");
}
#endif

}  // namespace v3d
