// Collectives between the ranks (processes, or threads in tests) of one data-parallel job. Four
// kinds: single (rank 0 of 1, the default: every collective is a no-op), MPI between processes
// (CPU tensors; GPU tensors go through host memory), in-process threads (tests: several ranks
// in one program, e.g. one per emulated device) and NCCL between processes with one GPU each
// (CUDA tensors). docs/distributed.md says how to launch and build them.
//
// Determinism: the single, MPI and thread communicators' all_reduce_sum adds the ranks' values in
// rank order (rank 0 + rank 1 + ...) and hands every rank the same bits, so data-parallel replicas
// never drift apart and a run repeats exactly for a given world size. NCCL adds in its own order
// (ring or tree, chosen by message size and topology): every rank still receives the same bits,
// but they differ from the rank-order sum and may change with NCCL's version or NCCL_ALGO.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace v3d {

// Where this process sits in the job, as its launcher says: OpenMPI's mpirun
// (OMPI_COMM_WORLD_RANK, _SIZE, _LOCAL_RANK, _LOCAL_SIZE), SLURM's srun (SLURM_PROCID,
// SLURM_STEP_NUM_TASKS, SLURM_LOCALID, SLURM_STEP_TASKS_PER_NODE; a batch script's own
// SLURM_NTASKS is the allocation's, not a launch) or a PMI launcher (PMI_RANK, PMI_SIZE);
// rank 0 of 1 when none launched it.
struct LaunchInfo {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;  // among the ranks on this node: picks the node's GPU
  int local_size = 1;
  std::string launcher = "none";  // "openmpi", "slurm", "pmi" or "none"
};
// From the environment; throws v3d::Error naming the variable when a value is malformed or
// inconsistent (a rank outside the world size).
LaunchInfo launch_info_from_env();

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual std::string name() const = 0;  // "single", "mpi", "threads", "nccl"
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // Every rank's t (f32, same shape on every rank) becomes the sum over the ranks, added in rank
  // order, with identical bits on every rank.
  virtual void all_reduce_sum(const Tensor& t) = 0;
  // all_reduce_sum(t), possibly still running when this returns: t holds the sum once
  // wait_all_reduces() has returned (on a GPU: for work then queued on the device's current
  // stream). Every rank starts the reductions of same-shaped tensors in the same order. Until the
  // wait the caller leaves t alone; any other collective waits for the started reductions first.
  // The NCCL communicator runs them on a stream of its own, after the work queued so far on the
  // current stream, so that they overlap what is queued next (the rest of a backward pass); the
  // others reduce at once.
  virtual void start_all_reduce_sum(const Tensor& t) { all_reduce_sum(t); }
  // Returns once every started reduction is complete; throws as all_reduce_sum would.
  virtual void wait_all_reduces() {}
  // root's t is copied into every rank's t.
  virtual void broadcast(const Tensor& t, int root) = 0;
  // Every rank's string, in rank order, on every rank.
  virtual std::vector<std::string> all_gather(const std::string& mine) = 0;
  virtual void barrier() = 0;
  // Ends the whole job after a fatal error on this rank, so that no other rank waits forever in a
  // collective. Does not return.
  [[noreturn]] virtual void abort(int exit_code) = 0;
};

// Rank 0 of 1.
std::unique_ptr<Communicator> make_single_communicator();

// n ranks in one process, one per thread: communicator i is rank i. Collectives block until all n
// ranks have entered them. For tests.
std::vector<std::unique_ptr<Communicator>> make_thread_communicators(int n);

// Whether this build has MPI (configure found it: V3D_MPI).
bool mpi_built();
// The MPI world of this process (MPI_Init_thread on first call, MPI_Finalize at exit); throws
// when the build has no MPI. Its collectives may be called from any thread, one at a time
// (MPI_THREAD_SERIALIZED); a failing MPI call throws v3d::Error naming the call.
std::unique_ptr<Communicator> make_mpi_communicator();

// Whether this build has the NCCL communicator (configure found CUDA and libnccl).
bool nccl_built();
// NCCL between the processes of `host`, one GPU each: this process's device is cuda:local_rank
// (LaunchInfo::local_rank), and CUDA tensors passed to it must live there. `host` connects the
// same processes (MPI, or single for a job of one rank, which then needs no MPI): rank 0's NCCL
// unique id reaches the others through it, and it carries all_gather and the collectives of
// tensors on other devices; the NCCL communicator owns it. Collectives run on the device's current
// stream and return when complete; a collective that fails or does not complete within
// V3D_NCCL_TIMEOUT_S seconds (300 by default: a dead peer) aborts the NCCL communicator and throws
// v3d::Error, and so does every later collective. abort() aborts NCCL, then the host communicator
// (MPI_Abort). Throws when the build has no NCCL.
//
// type kEmu runs the same communicator on emu:local_rank with a stand-in for NCCL whose
// collectives are the host communicator's (rank order): for tests without a GPU, e.g. two thread
// ranks on the two emulated devices. It exists in every build.
std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<Communicator> host,
                                                     int local_rank,
                                                     DeviceType type = DeviceType::kCUDA);

// The process's communicator, created on first use: MPI when a launcher started more than one
// rank, single otherwise. A job launched with several ranks by a build without MPI is an error.
Communicator& world();

// Several ranks on one node share its cores: unless OMP_NUM_THREADS is set, each rank's OpenMP
// (and OpenBLAS, loaded later) gets cores / local ranks threads, at least 1, as PyTorch's
// launchers do. Idle OpenMP threads spin: oversubscribed ranks slowed each other 40-fold here.
// Returns the threads per rank (0 when nothing was changed). Call before the first parallel work.
int share_cores_among_ranks(const LaunchInfo& info);

// Rank 0 writes the job's files (logs, plots, checkpoints); the others only compute.
inline bool writes_files(const Communicator& c) { return c.rank() == 0; }

}  // namespace v3d
