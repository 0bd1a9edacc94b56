// The launch environment and the single-process and in-process (thread) communicators. The MPI
// communicator is tested under mpirun (tests/distributed).
#include "runtime/communicator.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "tests/runtime/test_util.h"

namespace v3d {
namespace {

// Sets environment variables for one test and restores them.
class ScopedEnv {
 public:
  void set(const char* name, const char* value) {
    const char* old = std::getenv(name);
    saved_.push_back({name, old ? std::string(old) : std::string(), old != nullptr});
    if (value == nullptr) {
      unsetenv(name);
    } else {
      setenv(name, value, 1);
    }
  }
  ~ScopedEnv() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->had) {
        setenv(it->name.c_str(), it->value.c_str(), 1);
      } else {
        unsetenv(it->name.c_str());
      }
    }
  }

 private:
  struct Saved {
    std::string name, value;
    bool had;
  };
  std::vector<Saved> saved_;
};

// Clears every launcher variable the parser reads.
void clear_launchers(ScopedEnv& env) {
  for (const char* v :
       {"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK",
        "OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS", "SLURM_STEP_NUM_TASKS", "SLURM_PROCID",
        "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE", "SLURM_STEP_TASKS_PER_NODE", "PMI_SIZE",
        "PMI_RANK", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"}) {
    env.set(v, nullptr);
  }
}

TEST(LaunchInfo, AloneIsRankZeroOfOne) {
  ScopedEnv env;
  clear_launchers(env);
  const LaunchInfo info = launch_info_from_env();
  EXPECT_EQ(info.rank, 0);
  EXPECT_EQ(info.world_size, 1);
  EXPECT_EQ(info.local_rank, 0);
  EXPECT_EQ(info.launcher, "none");
}

TEST(LaunchInfo, OpenMpiAndSlurmAndPmi) {
  ScopedEnv env;
  clear_launchers(env);
  env.set("OMPI_COMM_WORLD_SIZE", "8");
  env.set("OMPI_COMM_WORLD_RANK", "5");
  env.set("OMPI_COMM_WORLD_LOCAL_RANK", "1");
  env.set("OMPI_COMM_WORLD_LOCAL_SIZE", "4");
  LaunchInfo info = launch_info_from_env();
  EXPECT_EQ(info.launcher, "openmpi");
  EXPECT_EQ(info.rank, 5);
  EXPECT_EQ(info.world_size, 8);
  EXPECT_EQ(info.local_rank, 1);
  EXPECT_EQ(info.local_size, 4);

  clear_launchers(env);
  // A batch script's own environment: the allocation's task count, but no job step.
  env.set("SLURM_NTASKS", "16");
  env.set("SLURM_PROCID", "0");
  env.set("SLURM_NTASKS_PER_NODE", "8");
  EXPECT_EQ(launch_info_from_env().launcher, "none");
  EXPECT_EQ(launch_info_from_env().world_size, 1);
  // A task of `srun` in it.
  env.set("SLURM_STEP_NUM_TASKS", "16");
  env.set("SLURM_PROCID", "9");
  env.set("SLURM_LOCALID", "3");
  env.set("SLURM_STEP_TASKS_PER_NODE", "8(x2)");
  info = launch_info_from_env();
  EXPECT_EQ(info.launcher, "slurm");
  EXPECT_EQ(info.rank, 9);
  EXPECT_EQ(info.world_size, 16);
  EXPECT_EQ(info.local_rank, 3);
  EXPECT_EQ(info.local_size, 8);

  clear_launchers(env);
  env.set("PMI_SIZE", "2");
  env.set("PMI_RANK", "1");
  info = launch_info_from_env();
  EXPECT_EQ(info.launcher, "pmi");
  EXPECT_EQ(info.rank, 1);
  EXPECT_EQ(info.world_size, 2);
}

TEST(LaunchInfo, BadValuesNameTheVariable) {
  ScopedEnv env;
  clear_launchers(env);
  env.set("OMPI_COMM_WORLD_SIZE", "2");
  env.set("OMPI_COMM_WORLD_RANK", "2");
  EXPECT_V3D_ERROR(launch_info_from_env(), "OMPI_COMM_WORLD_RANK=2 is not below",
                   "OMPI_COMM_WORLD_SIZE=2");
  env.set("OMPI_COMM_WORLD_RANK", "one");
  EXPECT_V3D_ERROR(launch_info_from_env(), "OMPI_COMM_WORLD_RANK='one'");
  clear_launchers(env);
  env.set("SLURM_STEP_NUM_TASKS", "0");
  env.set("SLURM_PROCID", "0");
  EXPECT_V3D_ERROR(launch_info_from_env(), "SLURM_STEP_NUM_TASKS must be at least 1");
}

TEST(LaunchInfo, RanksOfOneNodeShareItsCores) {
  ScopedEnv env;
  env.set("OMP_NUM_THREADS", nullptr);
  const int saved = omp_get_max_threads();
  LaunchInfo info;
  EXPECT_EQ(share_cores_among_ranks(info), 0) << "alone: nothing changes";
  info.world_size = 4;
  info.local_size = 2;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int expected = std::max(1, cores / 2);
  EXPECT_EQ(share_cores_among_ranks(info), expected);
  EXPECT_EQ(omp_get_max_threads(), expected);
  EXPECT_EQ(std::string(std::getenv("OMP_NUM_THREADS")), std::to_string(expected));
  EXPECT_EQ(share_cores_among_ranks(info), 0) << "an explicit OMP_NUM_THREADS wins";
  omp_set_num_threads(saved);
}

TEST(Communicator, SingleIsRankZeroOfOne) {
  const auto c = make_single_communicator();
  EXPECT_EQ(c->name(), "single");
  EXPECT_EQ(c->rank(), 0);
  EXPECT_EQ(c->world_size(), 1);
  EXPECT_TRUE(writes_files(*c));
  const Tensor t = Tensor::from_vector({1, 2, 3}, {3});
  c->all_reduce_sum(t);
  c->broadcast(t, 0);
  c->barrier();
  EXPECT_EQ(t.to_vector(), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(c->all_gather("x"), std::vector<std::string>{"x"});
}

// Runs fn(rank, communicator) on n threads, one rank each.
template <class Fn>
void run_ranks(int n, Fn fn) {
  auto comms = make_thread_communicators(n);
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] { fn(r, *comms[static_cast<size_t>(r)]); });
  for (std::thread& t : threads) t.join();
}

TEST(Communicator, ThreadRanksReduceInRankOrderWithIdenticalBits) {
  const std::vector<Device> devices = {Device::cpu(), Device::emu(), Device::emu(1)};
  std::vector<std::vector<float>> got(3);
  run_ranks(3, [&](int r, Communicator& c) {
    EXPECT_EQ(c.rank(), r);
    EXPECT_EQ(c.world_size(), 3);
    EXPECT_EQ(writes_files(c), r == 0);
    // Values whose sum depends on the order: 1e8 + 1 - 1e8 is 0 in float, not 1.
    const std::vector<float> mine = {r == 0 ? 1e8f : r == 1 ? 1.0f : -1e8f, static_cast<float>(r)};
    const Tensor t = Tensor::from_vector(mine, {2}, devices[static_cast<size_t>(r)]);
    c.all_reduce_sum(t);
    got[static_cast<size_t>(r)] = t.to_vector();
    EXPECT_EQ(c.all_gather("rank" + std::to_string(r)),
              (std::vector<std::string>{"rank0", "rank1", "rank2"}));
    const Tensor b =
        Tensor::from_vector({static_cast<float>(10 * r)}, {1}, devices[static_cast<size_t>(r)]);
    c.broadcast(b, 2);
    EXPECT_EQ(b.to_vector(), std::vector<float>{20.0f});
    c.barrier();
  });
  const float expected0 = (1e8f + 1.0f) + -1e8f;  // rank order
  for (const auto& v : got) {
    ASSERT_EQ(v.size(), 2u);
    EXPECT_EQ(v[0], expected0);
    EXPECT_EQ(v[1], 3.0f);
  }
}

TEST(Communicator, AnAbortingThreadRankReleasesTheOthers) {
  std::vector<std::string> errors(2);
  run_ranks(2, [&](int r, Communicator& c) {
    try {
      if (r == 1) c.abort(3);
      c.barrier();
    } catch (const Error& e) {
      errors[static_cast<size_t>(r)] = e.what();
    }
  });
  EXPECT_NE(errors[0].find("another rank of the thread world aborted"), std::string::npos)
      << errors[0];
  EXPECT_NE(errors[1].find("rank 1 aborted (exit code 3)"), std::string::npos) << errors[1];
}

}  // namespace
}  // namespace v3d
