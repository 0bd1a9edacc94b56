// The NCCL communicator (runtime/communicator.h): one process per GPU. The communicator's logic
// (the unique id handed over by the host communicator, the device from the local rank, the waits
// against a deadline, aborting on failure, delegating non-CUDA tensors) is written once over a
// small backend: NCCL itself (built when configure found CUDA and libnccl: V3D_WITH_NCCL=1), or,
// on the emulated device, a stand-in whose collectives are the host communicator's, so that tests
// without a GPU run the same logic (two emulated devices, one thread rank each).
//
// NCCL is used non-blocking (ncclConfig_t::blocking = 0): every NCCL call returns at once and the
// communicator polls ncclCommGetAsyncError, and for collectives an event on the stream, against a
// deadline. So a dead or stuck peer becomes a v3d::Error after the timeout (ncclCommAbort frees
// the GPU kernels waiting on it) instead of a hang in a later stream synchronisation.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <thread>

#include "runtime/communicator.h"
#include "runtime/gpu_api.h"
#include "runtime/stream.h"

#if V3D_WITH_NCCL
#include <cuda_runtime.h>
#include <nccl.h>
#endif

namespace v3d {

namespace {

// What the communicator needs of NCCL. Calls that fail throw v3d::Error naming the call; the
// asynchronous state is polled.
class CollectiveBackend {
 public:
  enum class State { kReady, kInProgress, kFailed };
  virtual ~CollectiveBackend() = default;
  virtual DeviceType device_type() const = 0;
  // Rank 0's id of the new communicator, as bytes.
  virtual std::string unique_id() = 0;
  // Joins rank `rank` of `ranks` to the communicator of `id` (may complete asynchronously).
  virtual void init(int ranks, const std::string& id, int rank) = 0;
  // kFailed with *why set after an asynchronous error.
  virtual State state(std::string* why) = 0;
  // Queued on `stream`.
  virtual void all_reduce_sum(const Tensor& t, kernels::StreamHandle stream) = 0;
  virtual void broadcast(const Tensor& t, int root, kernels::StreamHandle stream) = 0;
  virtual void barrier(kernels::StreamHandle stream) = 0;
  // Marks the work queued on `stream` so far; done() says when it has completed.
  virtual void record(kernels::StreamHandle stream) = 0;
  virtual bool done() = 0;
  // Frees whatever waits on a peer; the backend is unusable afterwards.
  virtual void abort() = 0;
};

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
  NcclCommunicator(std::unique_ptr<CollectiveBackend> backend, std::unique_ptr<Communicator> host,
                   int local_rank)
      : host_(std::move(host)),
        backend_(std::move(backend)),
        device_{backend_->device_type(), local_rank},
        timeout_s_(timeout_from_env()) {
    std::string why;
    const int count = local_rank >= 0 ? gpu_api(device_.gpu_kind()).device_count(&why) : 0;
    V3D_REQUIRE(local_rank >= 0 && local_rank < count,
                "rank " << host_->rank() << " has local rank " << local_rank
                        << " but this node has " << count << " usable "
                        << (device_.type == DeviceType::kEmu ? "emulated" : "CUDA") << " devices"
                        << (why.empty() ? "" : " (" + why + ")")
                        << "; the NCCL communicator runs one process per GPU");
    DeviceGuard guard(device_);
    // Rank 0's unique id reaches the others through the host communicator (MPI between
    // processes; nothing to send for one rank).
    const std::string mine = host_->rank() == 0 ? backend_->unique_id() : std::string();
    const std::vector<std::string> ids = host_->all_gather(mine);
    V3D_CHECK(!ids[0].empty(), "rank 0 sent no NCCL unique id");
    backend_->init(host_->world_size(), ids[0], host_->rank());
    wait("communicator initialisation");
  }

  ~NcclCommunicator() override {
    DeviceGuard guard(device_);
    backend_.reset();  // flushes what is still queued (the side stream's reductions too)
    written_.reset();
    side_.reset();
  }

  std::string name() const override { return "nccl"; }
  int rank() const override { return host_->rank(); }
  int world_size() const override { return host_->world_size(); }

  // Returns when t holds the sum on this rank. NCCL's order of addition (ring or tree, chosen by
  // message size and topology) is not rank order: the bits differ from the MPI and thread
  // communicators' and may change with NCCL's version or NCCL_ALGO.
  void all_reduce_sum(const Tensor& t) override {
    V3D_CHECK(t.dtype() == DType::kF32, "all_reduce_sum of " << t.str() << ": f32 only");
    wait_all_reduces();
    if (t.device().type != device_.type) return host_->all_reduce_sum(t);
    check_device(t, "all_reduce_sum");
    check_usable("all_reduce_sum");
    DeviceGuard guard(device_);
    const kernels::StreamHandle stream = current_stream(device_);
    backend_->all_reduce_sum(t, stream);
    wait("all_reduce_sum", stream);
  }

  // On the communicator's own stream, after what the current stream has queued so far (the
  // kernels that wrote t): the current stream goes on with later work meanwhile. Returns once
  // NCCL has queued the reduction.
  void start_all_reduce_sum(const Tensor& t) override {
    V3D_CHECK(t.dtype() == DType::kF32, "all_reduce_sum of " << t.str() << ": f32 only");
    if (t.device().type != device_.type) {
      wait_all_reduces();
      return host_->all_reduce_sum(t);
    }
    check_device(t, "all_reduce_sum");
    check_usable("all_reduce_sum");
    DeviceGuard guard(device_);
    if (!side_) {
      // Non-blocking: with a blocking stream, the kernels queued next on the legacy default
      // stream (where training runs) would wait for the reductions, and nothing would overlap.
      side_ = std::make_unique<Stream>(Stream::create(device_, /*non_blocking=*/true));
      written_ = std::make_unique<Event>(device_);
    }
    written_->record(current_stream(device_));
    gpu_api(device_.gpu_kind()).stream_wait_event(side_->handle(), written_->handle());
    pending_ = true;
    backend_->all_reduce_sum(t, side_->handle());
    wait("all_reduce_sum (queueing)");
  }

  // The host waits (against the deadline) until the side stream's reductions have completed, so
  // anything queued afterwards on any stream sees the sums.
  void wait_all_reduces() override {
    if (!pending_) return;
    pending_ = false;
    DeviceGuard guard(device_);
    wait("all_reduce_sum", side_->handle());
  }

  void broadcast(const Tensor& t, int root) override {
    V3D_CHECK(t.dtype() == DType::kF32, "broadcast of " << t.str() << ": f32 only");
    V3D_CHECK(root >= 0 && root < world_size(), "broadcast from rank " << root);
    wait_all_reduces();
    if (t.device().type != device_.type) return host_->broadcast(t, root);
    check_device(t, "broadcast");
    check_usable("broadcast");
    DeviceGuard guard(device_);
    const kernels::StreamHandle stream = current_stream(device_);
    backend_->broadcast(t, root, stream);
    wait("broadcast", stream);
  }

  std::vector<std::string> all_gather(const std::string& mine) override {
    wait_all_reduces();
    return host_->all_gather(mine);
  }

  // A one-float all-reduce: every rank has reached it once it completes.
  void barrier() override {
    wait_all_reduces();
    check_usable("barrier");
    DeviceGuard guard(device_);
    const kernels::StreamHandle stream = current_stream(device_);
    backend_->barrier(stream);
    wait("barrier", stream);
  }

  [[noreturn]] void abort(int exit_code) override {
    backend_->abort();
    host_->abort(exit_code);
    std::_Exit(exit_code);  // not reached: the host's abort ends the process (or throws)
  }

 private:
  void check_device(const Tensor& t, const char* what) const {
    V3D_CHECK(t.device() == device_,
              what << " of " << t.str() << " by the NCCL rank on " << device_.str());
  }

  // After a failure or an abort every collective fails at once.
  void check_usable(const char* what) {
    std::string why;
    if (backend_->state(&why) == CollectiveBackend::State::kFailed) {
      throw Error("NCCL rank " + std::to_string(rank()) + ": " + what + " failed: " + why);
    }
  }

  // Until the backend has nothing in progress, then, after a collective, until the work queued on
  // `stream` so far has completed; an asynchronous error or the deadline aborts the backend and
  // throws. A non-blocking NCCL call may still be queueing its work when it returns, so the
  // completion mark is recorded only once the backend is ready.
  void wait(const char* what, std::optional<kernels::StreamHandle> stream = std::nullopt) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s_);
    for (;;) {
      std::string why;
      const CollectiveBackend::State s = backend_->state(&why);
      if (s == CollectiveBackend::State::kFailed) fail(what, why);
      if (s == CollectiveBackend::State::kReady) {
        if (stream) {
          backend_->record(*stream);
          stream.reset();
        }
        if (backend_->done()) return;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        char limit[32];
        std::snprintf(limit, sizeof(limit), "%g", timeout_s_);
        fail(what, "not complete within " + std::string(limit) +
                       " s (V3D_NCCL_TIMEOUT_S): a peer died or stopped");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }

  [[noreturn]] void fail(const char* what, const std::string& why) {
    backend_->abort();
    throw Error("NCCL rank " + std::to_string(rank()) + ": " + what + " failed: " + why);
  }

  std::unique_ptr<Communicator> host_;
  std::unique_ptr<CollectiveBackend> backend_;
  Device device_;
  double timeout_s_;
  // start_all_reduce_sum's stream, and the mark of the current stream's work it waits for.
  std::unique_ptr<Stream> side_;
  std::unique_ptr<Event> written_;
  bool pending_ = false;  // reductions started and not yet waited for
};

// The emulated device's stand-in: the collectives are the host communicator's (rank order, with
// the stream drained first), the unique id is random bytes that every rank must receive intact.
class EmulatedBackend final : public CollectiveBackend {
 public:
  explicit EmulatedBackend(Communicator& host) : host_(host) {}
  DeviceType device_type() const override { return DeviceType::kEmu; }

  std::string unique_id() override {
    std::random_device rd;
    std::string id(128, '\0');
    for (char& c : id) c = static_cast<char>(rd());
    return id;
  }

  void init(int ranks, const std::string& id, int rank) override {
    V3D_CHECK(
        ranks == host_.world_size() && rank == host_.rank(),
        "rank " << rank << " of " << ranks << " joins a host world of " << host_.world_size());
    // Every rank must hold rank 0's id, as ncclCommInitRank needs.
    for (const std::string& other : host_.all_gather(id)) {
      V3D_CHECK(other == id, "the ranks hold different NCCL unique ids");
    }
  }

  State state(std::string* why) override {
    if (!aborted_) return State::kReady;
    *why = "the communicator was aborted";
    return State::kFailed;
  }

  // Reads t and writes the sum back by copies queued on `stream`: what the copies see is what a
  // collective queued there would see, so a stream that does not wait for the kernels writing t
  // reads stale values, as NCCL would on a GPU.
  void all_reduce_sum(const Tensor& t, kernels::StreamHandle stream) override {
    GpuApi& api = gpu_api(kernels::GpuKind::kEmu);
    const size_t bytes = static_cast<size_t>(t.numel()) * sizeof(float);
    const Tensor staged = Tensor::empty({t.numel()}, DType::kF32, Device::cpu());
    api.copy(staged.f32(), t.f32(), bytes, CopyDir::kDeviceToHost, stream);
    api.stream_synchronize(stream);
    host_.all_reduce_sum(staged);
    api.copy(t.f32(), staged.f32(), bytes, CopyDir::kHostToDevice, stream);
  }
  void broadcast(const Tensor& t, int root, kernels::StreamHandle stream) override {
    gpu_api(kernels::GpuKind::kEmu).stream_synchronize(stream);
    host_.broadcast(t, root);
  }
  void barrier(kernels::StreamHandle) override { host_.barrier(); }
  void record(kernels::StreamHandle stream) override { recorded_ = stream; }
  // The copy back of the last reduction has run once the recorded stream has drained.
  bool done() override {
    if (recorded_) gpu_api(kernels::GpuKind::kEmu).stream_synchronize(*recorded_);
    recorded_.reset();
    return true;
  }
  void abort() override { aborted_ = true; }

 private:
  Communicator& host_;
  bool aborted_ = false;
  std::optional<kernels::StreamHandle> recorded_;
};

#if V3D_WITH_NCCL
void cuda_check(cudaError_t e, const char* call) {
  if (e != cudaSuccess) throw Error(std::string(call) + " failed: " + cudaGetErrorString(e));
}

class NcclBackend final : public CollectiveBackend {
 public:
  ~NcclBackend() override {
    if (comm_ != nullptr) {
      // A clean finish flushes NCCL's pending work (non-blocking: poll it, briefly).
      ncclResult_t r = ncclCommFinalize(comm_);
      for (int i = 0; i < 100000 && (r == ncclSuccess || r == ncclInProgress); ++i) {
        ncclResult_t s = ncclSuccess;
        if (ncclCommGetAsyncError(comm_, &s) != ncclSuccess) break;
        r = s;
        if (s != ncclInProgress) break;
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
      if (r == ncclSuccess) {
        ncclCommDestroy(comm_);
      } else {
        ncclCommAbort(comm_);
      }
    }
    if (done_ != nullptr) cudaEventDestroy(done_);
    if (one_ != nullptr) cudaFree(one_);
  }

  DeviceType device_type() const override { return DeviceType::kCUDA; }

  std::string unique_id() override {
    ncclUniqueId id;
    check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    return std::string(reinterpret_cast<const char*>(&id), sizeof(id));
  }

  void init(int ranks, const std::string& id, int rank) override {
    ncclUniqueId uid;
    V3D_CHECK(id.size() == sizeof(uid), "NCCL unique id of " << id.size() << " bytes");
    std::memcpy(&uid, id.data(), sizeof(uid));
    cuda_check(cudaMalloc(&one_, sizeof(float)), "cudaMalloc");
    cuda_check(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming), "cudaEventCreate");
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    check(ncclCommInitRankConfig(&comm_, ranks, uid, rank, &config), "ncclCommInitRankConfig");
  }

  State state(std::string* why) override {
    if (comm_ == nullptr) {
      *why = "the communicator was aborted";
      return State::kFailed;
    }
    ncclResult_t s = ncclSuccess;
    const ncclResult_t r = ncclCommGetAsyncError(comm_, &s);
    if (r != ncclSuccess) s = r;
    if (s == ncclSuccess) return State::kReady;
    if (s == ncclInProgress) return State::kInProgress;
    *why = describe(s);
    return State::kFailed;
  }

  void all_reduce_sum(const Tensor& t, kernels::StreamHandle stream) override {
    const auto s = static_cast<cudaStream_t>(stream);
    check(ncclAllReduce(t.f32(), t.f32(), static_cast<size_t>(t.numel()), ncclFloat, ncclSum, comm_,
                        s),
          "ncclAllReduce");
  }

  void broadcast(const Tensor& t, int root, kernels::StreamHandle stream) override {
    const auto s = static_cast<cudaStream_t>(stream);
    check(
        ncclBroadcast(t.f32(), t.f32(), static_cast<size_t>(t.numel()), ncclFloat, root, comm_, s),
        "ncclBroadcast");
  }

  void barrier(kernels::StreamHandle stream) override {
    const auto s = static_cast<cudaStream_t>(stream);
    check(ncclAllReduce(one_, one_, 1, ncclFloat, ncclSum, comm_, s), "ncclAllReduce");
  }

  void record(kernels::StreamHandle stream) override {
    cuda_check(cudaEventRecord(done_, static_cast<cudaStream_t>(stream)), "cudaEventRecord");
  }

  bool done() override {
    const cudaError_t e = cudaEventQuery(done_);
    if (e == cudaErrorNotReady) return false;
    cuda_check(e, "cudaEventQuery");
    return true;
  }

  void abort() override {
    if (comm_ != nullptr) ncclCommAbort(comm_);  // frees the kernels still waiting for a peer
    comm_ = nullptr;
  }

 private:
  std::string describe(ncclResult_t r) const {
    std::string out = ncclGetErrorString(r);
    if (comm_ != nullptr) {
      const char* last = ncclGetLastError(comm_);
      if (last != nullptr && *last != '\0') out += " (" + std::string(last) + ")";
    }
    return out;
  }

  void check(ncclResult_t r, const char* call) {
    if (r == ncclSuccess || r == ncclInProgress) return;
    const std::string why = describe(r);
    abort();
    throw Error(std::string(call) + " failed: " + why);
  }

  ncclComm_t comm_ = nullptr;
  float* one_ = nullptr;
  cudaEvent_t done_ = nullptr;
};
#endif

}  // namespace

bool nccl_built() { return V3D_WITH_NCCL != 0; }

std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<Communicator> host,
                                                     int local_rank, DeviceType type) {
  V3D_CHECK(host != nullptr, "make_nccl_communicator needs a host communicator");
  std::unique_ptr<CollectiveBackend> backend;
  if (type == DeviceType::kEmu) {
    backend = std::make_unique<EmulatedBackend>(*host);
  } else {
    V3D_CHECK(type == DeviceType::kCUDA, "the NCCL communicator runs on cuda or emu devices");
#if V3D_WITH_NCCL
    backend = std::make_unique<NcclBackend>();
#else
    throw Error(
        "this build of v3d has no NCCL (it needs the CUDA backend and libnccl at configure)");
#endif
  }
  return std::make_unique<NcclCommunicator>(std::move(backend), std::move(host), local_rank);
}

}  // namespace v3d
