// The MPI communicator under a real launcher. Run by ctest as
//   mpirun -np N v3d_mpi_check                 every collective against its expected result
//   mpirun -np 2 v3d_mpi_check --fault kill    rank 1 dies (SIGKILL) in a loop of all-reduces
//   mpirun -np 2 v3d_mpi_check --fault throw   rank 1 throws there and calls abort()
//   mpirun -np 2 v3d_mpi_check --fault mpi     rank 1 passes fewer values there: MPI reports
//                                              the mismatch as an error on some rank, which
//                                              aborts
// The fault modes never end by themselves on rank 0: the launcher must end the job
// (tests/distributed/mpi_fault checks the exit status and the time it took).
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "runtime/communicator.h"

namespace v3d {
namespace {

int failures = 0;

void expect(bool ok, const Communicator& c, const std::string& what) {
  if (ok) return;
  std::fprintf(stderr, "rank %d: FAILED: %s\n", c.rank(), what.c_str());
  ++failures;
}

std::string bytes_of(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

// Rank r's values of an order-sensitive test: magnitudes from 1e-3 to 1e7 with both signs, so
// float addition in another order gives other bits.
std::vector<float> order_sensitive(int rank, int64_t n) {
  std::mt19937 rng(static_cast<unsigned>(1000 + rank));
  std::uniform_real_distribution<float> mantissa(-1.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-3, 7);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = mantissa(rng) * std::pow(10.0f, static_cast<float>(exponent(rng)));
  return v;
}

// The sum over ranks 0..world-1 of values(r), added in rank order.
template <class Values>
std::vector<float> rank_order_sum(int world, Values&& values) {
  std::vector<float> sum = values(0);
  for (int r = 1; r < world; ++r) {
    const std::vector<float> v = values(r);
    for (size_t i = 0; i < sum.size(); ++i) sum[i] += v[i];
  }
  return sum;
}

// Every rank holds the same bytes.
bool same_on_every_rank(Communicator& c, const std::vector<float>& v) {
  const std::vector<std::string> all = c.all_gather(bytes_of(v));
  for (const std::string& s : all) {
    if (s != all[0]) return false;
  }
  return true;
}

void check_all_reduce(Communicator& c, int64_t n, Device device) {
  const int world = c.world_size();
  const Tensor t = Tensor::from_vector(order_sensitive(c.rank(), n), {n}, device);
  c.all_reduce_sum(t);
  const std::vector<float> got = t.to_vector();
  const std::vector<float> want =
      rank_order_sum(world, [&](int r) { return order_sensitive(r, n); });
  const std::string what = "all_reduce_sum of " + std::to_string(n) + " floats on " + device.str();
  expect(bytes_of(got) == bytes_of(want), c, what + ": the rank-order sum, bit for bit");
  expect(same_on_every_rank(c, got), c, what + ": identical bits on every rank");
}

void check_large_all_reduce(Communicator& c) {
  // 10M floats: three chunks of the communicator's 4M. Values are small multiples of 1/2, so
  // every sum is exact and a misplaced chunk or slice shows.
  const int64_t n = 10'000'000;
  auto values = [&](int r) {
    std::vector<float> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      v[static_cast<size_t>(i)] = 0.5f * static_cast<float>(i % 997) + static_cast<float>(r * 1000);
    return v;
  };
  const Tensor t = Tensor::from_vector(values(c.rank()), {n}, Device::cpu());
  c.all_reduce_sum(t);
  const std::vector<float> got = t.to_vector();
  const std::vector<float> want = rank_order_sum(c.world_size(), values);
  int64_t wrong = 0;
  for (int64_t i = 0; i < n; ++i)
    wrong += got[static_cast<size_t>(i)] != want[static_cast<size_t>(i)];
  expect(wrong == 0, c, "10M-float all_reduce_sum: " + std::to_string(wrong) + " wrong values");
}

void check_broadcast(Communicator& c, Device device) {
  const int root = c.world_size() - 1;
  const int64_t n = 4099;
  std::vector<float> mine(static_cast<size_t>(n), -1.0f);
  std::vector<float> want(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    want[static_cast<size_t>(i)] = 0.25f * static_cast<float>(i) - 7.0f;
  if (c.rank() == root) mine = want;
  const Tensor t = Tensor::from_vector(mine, {n}, device);
  c.broadcast(t, root);
  expect(t.to_vector() == want, c,
         "broadcast from rank " + std::to_string(root) + " on " + device.str());
}

void check_all_gather(Communicator& c) {
  // Rank 0's string is empty; the others have r * 3 bytes with a NUL inside.
  auto string_of = [](int r) {
    return r == 0 ? std::string()
                  : "rank" + std::string(1, '\0') +
                        std::string(static_cast<size_t>(r * 3 - 1), static_cast<char>('a' + r));
  };
  const std::vector<std::string> got = c.all_gather(string_of(c.rank()));
  bool ok = static_cast<int>(got.size()) == c.world_size();
  for (int r = 0; ok && r < c.world_size(); ++r) ok = got[static_cast<size_t>(r)] == string_of(r);
  expect(ok, c, "all_gather of strings in rank order");
}

int check_collectives() {
  const LaunchInfo info = launch_info_from_env();
  std::unique_ptr<Communicator> owned = make_mpi_communicator();
  Communicator& c = *owned;
  expect(c.name() == "mpi", c, "name() is mpi");
  expect(c.rank() == info.rank && c.world_size() == info.world_size, c,
         "rank " + std::to_string(c.rank()) + " of " + std::to_string(c.world_size()) +
             ", the launcher says " + std::to_string(info.rank) + " of " +
             std::to_string(info.world_size));
  Communicator& w = world();
  expect(w.name() == "mpi" && w.rank() == info.rank && w.world_size() == info.world_size, c,
         "world() is the MPI world of the launcher");
  expect(mpi_built(), c, "mpi_built()");

  for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{2}, int64_t{1001}})
    check_all_reduce(c, n, Device::cpu());
  check_large_all_reduce(c);
  check_broadcast(c, Device::cpu());
  check_all_gather(c);
  // GPU tensors are staged through host memory.
  check_all_reduce(c, 1001, Device::emu());
  check_broadcast(c, Device::emu());
  c.barrier();

  // Every rank's verdict on every rank, so that all exit with the same status.
  const std::vector<std::string> verdicts = c.all_gather(std::to_string(failures));
  int total = 0;
  for (const std::string& v : verdicts) total += std::stoi(v);
  if (c.rank() == 0) {
    std::printf("v3d_mpi_check: %d ranks, %s\n", c.world_size(),
                total == 0 ? "every collective right" : "FAILURES");
  }
  return total == 0 ? 0 : 1;
}

// All-reduces until the launcher ends the job; rank 1 dies, throws or passes a shorter tensor at
// the 20th. Whichever rank sees an error prints it on one line and aborts the job.
[[noreturn]] void fault(const std::string& how) {
  Communicator& c = world();
  const Tensor t = Tensor::full({1000}, 1.0f, Device::cpu());
  for (int i = 0;; ++i) {
    try {
      if (c.rank() == 1 && i == 20) {
        if (how == "kill") raise(SIGKILL);
        if (how == "throw")
          throw Error("rank 1 failed on purpose in all-reduce " + std::to_string(i));
        V3D_CHECK(how == "mpi", "unknown fault '" << how << "'");
        c.all_reduce_sum(Tensor::full({998}, 1.0f, Device::cpu()));
      }
      c.all_reduce_sum(t);
    } catch (const Error& e) {
      std::fprintf(stderr, "v3d: error: %s\n", e.what());
      c.abort(3);
    }
  }
}

}  // namespace
}  // namespace v3d

int main(int argc, char** argv) {
  try {
    if (argc == 3 && std::strcmp(argv[1], "--fault") == 0) v3d::fault(argv[2]);
    if (argc != 1) {
      std::fprintf(stderr, "usage: v3d_mpi_check [--fault kill|throw|mpi]\n");
      return 2;
    }
    return v3d::check_collectives();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "v3d_mpi_check: error: %s\n", e.what());
    return 1;
  }
}
