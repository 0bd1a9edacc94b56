// The MPI communicator (runtime/communicator.h). Built with MPI when configure found it
// (V3D_WITH_MPI=1); otherwise the functions say the build has none.
//
// all_reduce_sum does not use MPI_Allreduce, whose summation order is the library's choice (it
// depends on the algorithm, the message size and the world size). Each chunk of the tensor is cut
// into one slice per rank; MPI_Alltoallv hands rank r every rank's copy of slice r, rank r adds
// them in rank order (rank 0 + rank 1 + ...), and MPI_Allgatherv hands every rank every summed
// slice. Each element is added by exactly one rank, in the same order as the thread communicator,
// so every rank receives the same bits. Chunks bound the extra memory to a few times 16 MiB.
#include "runtime/communicator.h"

#if V3D_WITH_MPI
// The C API only: OpenMPI's and MPICH's mpi.h otherwise pull in the deprecated C++ bindings,
// which need a library we do not link.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#endif

namespace v3d {

#if V3D_WITH_MPI
namespace {

// Floats per all-reduce or broadcast round.
constexpr int64_t kChunkFloats = int64_t{4} << 20;

// Throws v3d::Error naming the call and MPI's message when rc is not MPI_SUCCESS (the world's
// error handler is MPI_ERRORS_RETURN, so errors come back instead of ending the process).
void mpi_check(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(rc, text, &length) != MPI_SUCCESS) {
    length = std::snprintf(text, sizeof(text), "error code %d", rc);
  }
  throw Error(std::string(call) + " failed: " + std::string(text, static_cast<size_t>(length)));
}

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

// MPI_Init_thread once per process. SERIALIZED: any thread may call MPI, one at a time (a trainer
// may run its gradient all-reduces on a helper thread while the main thread waits).
void ensure_initialized() {
  static std::once_flag once;
  std::call_once(once, [] {
    int initialized = 0;
    mpi_check(MPI_Initialized(&initialized), "MPI_Initialized");
    if (!initialized) {
      int provided = 0;
      mpi_check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided),
                "MPI_Init_thread");
      V3D_REQUIRE(provided >= MPI_THREAD_SERIALIZED, "this MPI library provides thread level "
                                                         << provided
                                                         << ", below MPI_THREAD_SERIALIZED");
      std::atexit(finalize_at_exit);
    }
    mpi_check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN),
              "MPI_Comm_set_errhandler");
  });
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    ensure_initialized();
    mpi_check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
    mpi_check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
  }

  std::string name() const override { return "mpi"; }
  int rank() const override { return rank_; }
  int world_size() const override { return size_; }

  void all_reduce_sum(const Tensor& t) override {
    V3D_CHECK(t.dtype() == DType::kF32, "all_reduce_sum of " << t.str() << ": f32 only");
    if (size_ == 1) return;
    // GPU tensors go through host memory: NCCL is the communicator for device memory.
    std::vector<float> staged;
    float* data = nullptr;
    if (t.device().is_gpu()) {
      staged = t.to_vector();
      data = staged.data();
    } else {
      data = t.f32();
    }
    for (int64_t start = 0; start < t.numel(); start += kChunkFloats) {
      reduce_chunk(data + start, static_cast<int>(std::min(kChunkFloats, t.numel() - start)));
    }
    if (!staged.empty()) t.copy_from(Tensor::from_vector(staged, t.shape(), Device::cpu()));
  }

  void broadcast(const Tensor& t, int root) override {
    V3D_CHECK(t.dtype() == DType::kF32, "broadcast of " << t.str() << ": f32 only");
    V3D_CHECK(root >= 0 && root < size_,
              "broadcast from rank " << root << " in a world of " << size_);
    if (size_ == 1) return;
    std::vector<float> staged;
    float* data = nullptr;
    if (t.device().is_gpu()) {
      if (rank_ == root) staged = t.to_vector();
      staged.resize(static_cast<size_t>(t.numel()));
      data = staged.data();
    } else {
      data = t.f32();
    }
    for (int64_t start = 0; start < t.numel(); start += kChunkFloats) {
      const int n = static_cast<int>(std::min(kChunkFloats, t.numel() - start));
      mpi_check(MPI_Bcast(data + start, n, MPI_FLOAT, root, MPI_COMM_WORLD), "MPI_Bcast");
    }
    if (!staged.empty() && rank_ != root) {
      t.copy_from(Tensor::from_vector(staged, t.shape(), Device::cpu()));
    }
  }

  std::vector<std::string> all_gather(const std::string& mine) override {
    V3D_CHECK(mine.size() < (size_t{1} << 30), "all_gather of " << mine.size() << " bytes");
    const int length = static_cast<int>(mine.size());
    std::vector<int> lengths(static_cast<size_t>(size_));
    mpi_check(MPI_Allgather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, MPI_COMM_WORLD),
              "MPI_Allgather");
    std::vector<int> displs(static_cast<size_t>(size_));
    int64_t total = 0;
    for (int r = 0; r < size_; ++r) {
      displs[static_cast<size_t>(r)] = static_cast<int>(total);
      total += lengths[static_cast<size_t>(r)];
    }
    V3D_CHECK(total < (int64_t{1} << 31), "all_gather of " << total << " bytes in all");
    std::string all(static_cast<size_t>(std::max<int64_t>(total, 1)), '\0');
    mpi_check(MPI_Allgatherv(mine.data(), length, MPI_CHAR, all.data(), lengths.data(),
                             displs.data(), MPI_CHAR, MPI_COMM_WORLD),
              "MPI_Allgatherv");
    std::vector<std::string> out;
    for (int r = 0; r < size_; ++r) {
      out.push_back(all.substr(static_cast<size_t>(displs[static_cast<size_t>(r)]),
                               static_cast<size_t>(lengths[static_cast<size_t>(r)])));
    }
    return out;
  }

  void barrier() override { mpi_check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

  [[noreturn]] void abort(int exit_code) override {
    std::fflush(nullptr);
    MPI_Abort(MPI_COMM_WORLD, exit_code);
    std::_Exit(exit_code);  // MPI_Abort returned (it should not): end this rank at least
  }

 private:
  // Sums n floats of every rank into data, in rank order, identically on every rank.
  void reduce_chunk(float* data, int n) {
    const auto p = static_cast<size_t>(size_);
    // Slice r: [displs[r], displs[r] + counts[r]); the first n % size slices are one longer.
    counts_.assign(p, n / size_);
    displs_.assign(p, 0);
    for (int r = 0; r < n % size_; ++r) ++counts_[static_cast<size_t>(r)];
    for (size_t r = 1; r < p; ++r) displs_[r] = displs_[r - 1] + counts_[r - 1];
    const int mine = counts_[static_cast<size_t>(rank_)];
    // Every rank's copy of my slice, rank after rank.
    recv_counts_.assign(p, mine);
    recv_displs_.resize(p);
    for (size_t r = 0; r < p; ++r) recv_displs_[r] = static_cast<int>(r) * mine;
    slices_.resize(p * static_cast<size_t>(mine));
    mpi_check(MPI_Alltoallv(data, counts_.data(), displs_.data(), MPI_FLOAT, slices_.data(),
                            recv_counts_.data(), recv_displs_.data(), MPI_FLOAT, MPI_COMM_WORLD),
              "MPI_Alltoallv");
    float* sum = data + displs_[static_cast<size_t>(rank_)];
    for (int i = 0; i < mine; ++i) {
      float s = slices_[static_cast<size_t>(i)];
      for (size_t r = 1; r < p; ++r) s += slices_[r * static_cast<size_t>(mine) + i];
      sum[i] = s;
    }
    mpi_check(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, data, counts_.data(),
                             displs_.data(), MPI_FLOAT, MPI_COMM_WORLD),
              "MPI_Allgatherv");
  }

  int rank_ = 0;
  int size_ = 1;
  std::vector<int> counts_, displs_, recv_counts_, recv_displs_;
  std::vector<float> slices_;
};

}  // namespace

bool mpi_built() { return true; }

std::unique_ptr<Communicator> make_mpi_communicator() {
  return std::make_unique<MpiCommunicator>();
}
#else
bool mpi_built() { return false; }

std::unique_ptr<Communicator> make_mpi_communicator() {
  throw Error(
      "this build of v3d has no MPI (install libopenmpi-dev, then configure again: V3D_MPI)");
}
#endif

}  // namespace v3d
