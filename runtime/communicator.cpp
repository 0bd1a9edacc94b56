// The launch environment, the single-process and in-process (thread) communicators, and the
// process's world (runtime/communicator.h). MPI lives in runtime/mpi/.
#include "runtime/communicator.h"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include <omp.h>

namespace v3d {

namespace {

// The integer in environment variable `name`, or `fallback` when it is unset.
int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  V3D_REQUIRE(end != v && *end == '\0' && n >= 0 && n < (1L << 24),
              "environment variable " << name << "='" << v << "' is not a rank count or index");
  return static_cast<int>(n);
}

bool env_set(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0';
}

}  // namespace

LaunchInfo launch_info_from_env() {
  LaunchInfo info;
  const char* rank_var = nullptr;
  const char* size_var = nullptr;
  if (env_set("OMPI_COMM_WORLD_SIZE")) {
    info.launcher = "openmpi";
    rank_var = "OMPI_COMM_WORLD_RANK";
    size_var = "OMPI_COMM_WORLD_SIZE";
    info.rank = env_int(rank_var, 0);
    info.world_size = env_int(size_var, 1);
    info.local_rank = env_int("OMPI_COMM_WORLD_LOCAL_RANK", 0);
    info.local_size = env_int("OMPI_COMM_WORLD_LOCAL_SIZE", 1);
  } else if (env_set("SLURM_STEP_NUM_TASKS") && env_set("SLURM_PROCID")) {
    // srun's job-step variables. A batch script itself also sees SLURM_NTASKS and
    // SLURM_PROCID=0 (of the allocation), but it is one process: only a step started by srun is
    // a job of several ranks.
    info.launcher = "slurm";
    rank_var = "SLURM_PROCID";
    size_var = "SLURM_STEP_NUM_TASKS";
    info.rank = env_int(rank_var, 0);
    info.world_size = env_int(size_var, 1);
    info.local_rank = env_int("SLURM_LOCALID", 0);
    // The tasks-per-node lists read "4" or "4(x2)"; the leading count is this node's.
    const char* per_node = std::getenv("SLURM_STEP_TASKS_PER_NODE");
    if (per_node == nullptr) per_node = std::getenv("SLURM_NTASKS_PER_NODE");
    info.local_size = per_node != nullptr ? std::max(1, std::atoi(per_node)) : 1;
  } else if (env_set("PMI_SIZE")) {
    info.launcher = "pmi";
    rank_var = "PMI_RANK";
    size_var = "PMI_SIZE";
    info.rank = env_int(rank_var, 0);
    info.world_size = env_int(size_var, 1);
    info.local_rank = env_int("MPI_LOCALRANKID", 0);
    info.local_size = env_int("MPI_LOCALNRANKS", 1);
  } else {
    return info;
  }
  V3D_REQUIRE(info.world_size >= 1, "environment variable " << size_var << " must be at least 1");
  V3D_REQUIRE(info.rank < info.world_size, "environment variable " << rank_var << "=" << info.rank
                                                                   << " is not below " << size_var
                                                                   << "=" << info.world_size);
  V3D_REQUIRE(info.local_rank < std::max(info.local_size, info.local_rank + 1) &&
                  info.local_rank < info.world_size,
              "the launcher's local rank " << info.local_rank << " is not below the world size "
                                           << info.world_size);
  info.local_size = std::max(info.local_size, info.local_rank + 1);
  return info;
}

int share_cores_among_ranks(const LaunchInfo& info) {
  if (info.local_size <= 1 || env_set("OMP_NUM_THREADS")) return 0;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int threads = std::max(1, cores / info.local_size);
  setenv("OMP_NUM_THREADS", std::to_string(threads).c_str(), 1);  // OpenBLAS reads it at load
  omp_set_num_threads(threads);
  return threads;
}

namespace {

class SingleCommunicator final : public Communicator {
 public:
  std::string name() const override { return "single"; }
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  void all_reduce_sum(const Tensor& t) override {
    V3D_CHECK(t.dtype() == DType::kF32, "all_reduce_sum of " << t.str() << ": f32 only");
  }
  void broadcast(const Tensor&, int root) override {
    V3D_CHECK(root == 0, "broadcast from rank " << root << " in a world of 1");
  }
  std::vector<std::string> all_gather(const std::string& mine) override { return {mine}; }
  void barrier() override {}
  [[noreturn]] void abort(int exit_code) override {
    std::fflush(nullptr);
    std::_Exit(exit_code);
  }
};

// What the ranks of a thread world share: one slot per rank and a generation-counting barrier.
struct ThreadWorld {
  explicit ThreadWorld(int n)
      : size(n), floats(static_cast<size_t>(n)), strings(static_cast<size_t>(n)) {}
  const int size;
  std::mutex mutex;
  std::condition_variable cv;
  int arrived = 0;
  uint64_t generation = 0;
  std::vector<std::vector<float>> floats;
  std::vector<std::string> strings;
  bool aborted = false;

  void barrier() {
    std::unique_lock<std::mutex> lock(mutex);
    V3D_CHECK(!aborted, "another rank of the thread world aborted");
    const uint64_t g = generation;
    if (++arrived == size) {
      arrived = 0;
      ++generation;
      cv.notify_all();
      return;
    }
    cv.wait(lock, [&] { return generation != g || aborted; });
    // A barrier every rank reached has completed, even when a rank aborted right after it.
    V3D_CHECK(generation != g, "another rank of the thread world aborted");
  }
};

class ThreadCommunicator final : public Communicator {
 public:
  ThreadCommunicator(std::shared_ptr<ThreadWorld> w, int rank) : w_(std::move(w)), rank_(rank) {}
  std::string name() const override { return "threads"; }
  int rank() const override { return rank_; }
  int world_size() const override { return w_->size; }

  void all_reduce_sum(const Tensor& t) override {
    V3D_CHECK(t.dtype() == DType::kF32, "all_reduce_sum of " << t.str() << ": f32 only");
    w_->floats[static_cast<size_t>(rank_)] = t.to_vector();
    w_->barrier();
    std::vector<float> sum = w_->floats[0];
    for (int r = 1; r < w_->size; ++r) {
      const std::vector<float>& v = w_->floats[static_cast<size_t>(r)];
      V3D_CHECK(v.size() == sum.size(), "all_reduce_sum: rank " << r << " has " << v.size()
                                                                << " values, rank 0 "
                                                                << sum.size());
      for (size_t i = 0; i < sum.size(); ++i) sum[i] += v[i];
    }
    w_->barrier();  // every rank has read the slots before any rank writes them again
    t.copy_from(Tensor::from_vector(sum, t.shape(), Device::cpu()));
  }

  void broadcast(const Tensor& t, int root) override {
    V3D_CHECK(root >= 0 && root < w_->size, "broadcast from rank " << root);
    if (rank_ == root) w_->floats[static_cast<size_t>(root)] = t.to_vector();
    w_->barrier();
    if (rank_ != root) {
      t.copy_from(
          Tensor::from_vector(w_->floats[static_cast<size_t>(root)], t.shape(), Device::cpu()));
    }
    w_->barrier();
  }

  std::vector<std::string> all_gather(const std::string& mine) override {
    w_->strings[static_cast<size_t>(rank_)] = mine;
    w_->barrier();
    std::vector<std::string> out = w_->strings;
    w_->barrier();
    return out;
  }

  void barrier() override { w_->barrier(); }

  [[noreturn]] void abort(int exit_code) override {
    {
      std::lock_guard<std::mutex> lock(w_->mutex);
      w_->aborted = true;
    }
    w_->cv.notify_all();
    // A thread rank cannot end the process for the others; its error propagates as an exception.
    throw Error("rank " + std::to_string(rank_) + " aborted (exit code " +
                std::to_string(exit_code) + ")");
  }

 private:
  std::shared_ptr<ThreadWorld> w_;
  int rank_;
};

}  // namespace

std::unique_ptr<Communicator> make_single_communicator() {
  return std::make_unique<SingleCommunicator>();
}

std::vector<std::unique_ptr<Communicator>> make_thread_communicators(int n) {
  V3D_CHECK(n >= 1, "a thread world needs at least one rank, got " << n);
  auto w = std::make_shared<ThreadWorld>(n);
  std::vector<std::unique_ptr<Communicator>> out;
  for (int r = 0; r < n; ++r) out.push_back(std::make_unique<ThreadCommunicator>(w, r));
  return out;
}

Communicator& world() {
  static Communicator* w = [] {
    const LaunchInfo info = launch_info_from_env();
    if (info.world_size == 1) return make_single_communicator().release();
    V3D_REQUIRE(mpi_built(), "launched as rank " << info.rank << " of " << info.world_size << " by "
                                                 << info.launcher
                                                 << ", but this build of v3d has no MPI "
                                                    "(install libopenmpi-dev and reconfigure)");
    return make_mpi_communicator().release();
  }();
  return *w;
}

}  // namespace v3d
