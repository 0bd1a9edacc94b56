// All-reduce cost of the process's communicator (runtime/communicator.h): microseconds per call
// and bandwidth for tensors of 4 KB to 64 MB. Run it under the launcher, e.g.
//
//   mpirun -np 2 build/bin/bench_allreduce [--sizes 4K,64K,1M,16M,64M] [--device cpu|emu]
//                                          [--seconds 0.5] [--json FILE]
//
// Napkin math: the MPI communicator sends each rank's tensor in one slice per rank
// (MPI_Alltoallv) and gathers the summed slices back (MPI_Allgatherv), so every rank sends and
// receives 2 (n-1)/n of the tensor's bytes, as a ring all-reduce does; the "bus" bandwidth below is
// that traffic per second (NCCL's busbw convention), comparable with NCCL's published figures.
// Between processes of one node the bound is the memory bandwidth of the shared-memory copies plus
// one pass of additions; on few cores a rank busy-polling for its peer competes with it. A call's
// time is the slowest rank's median; every rank runs the same number of calls (a collective).
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "benchmarks/bench_common.h"
#include "runtime/communicator.h"

namespace {

// "4K" -> 4096, "16M" -> 16 MiB, "100" -> 100 bytes.
int64_t parse_size(const std::string& s) {
  V3D_REQUIRE(!s.empty(), "empty size in --sizes");
  int64_t unit = 1;
  std::string digits = s;
  const char last = s.back();
  if (last == 'K' || last == 'k') unit = int64_t{1} << 10;
  if (last == 'M' || last == 'm') unit = int64_t{1} << 20;
  if (last == 'G' || last == 'g') unit = int64_t{1} << 30;
  if (unit != 1) digits.pop_back();
  char* end = nullptr;
  const long long n = std::strtoll(digits.c_str(), &end, 10);
  V3D_REQUIRE(end != digits.c_str() && *end == '\0' && n > 0,
              "--sizes: '" << s << "' is not a size like 4K, 16M or 4096");
  const int64_t bytes = n * unit;
  V3D_REQUIRE(bytes % 4 == 0, "--sizes: " << s << " is not a whole number of floats");
  return bytes;
}

std::string size_name(int64_t bytes) {
  char buf[32];
  if (bytes >= (int64_t{1} << 20) && bytes % (int64_t{1} << 20) == 0) {
    std::snprintf(buf, sizeof(buf), "%lld MB", static_cast<long long>(bytes >> 20));
  } else if (bytes >= 1024 && bytes % 1024 == 0) {
    std::snprintf(buf, sizeof(buf), "%lld KB", static_cast<long long>(bytes >> 10));
  } else {
    std::snprintf(buf, sizeof(buf), "%lld B", static_cast<long long>(bytes));
  }
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"All-reduce cost of the process's communicator (run under mpirun)"};
  std::string sizes = "4K,16K,64K,256K,1M,4M,16M,64M";
  std::string device_name = "cpu";
  double seconds = 0.5;
  std::string json_path;
  app.add_option("--sizes", sizes, "tensor sizes in bytes (K, M suffixes), comma-separated");
  app.add_option("--device", device_name, "where the tensor lives (GPU tensors go through host)");
  app.add_option("--seconds", seconds, "time spent on each size, about");
  app.add_option("--json", json_path, "write the results as JSON");
  CLI11_PARSE(app, argc, argv);
  try {
    v3d::Communicator& c = v3d::world();
    const v3d::Device device = v3d::parse_device(device_name);
    if (c.world_size() == 1) {
      std::printf("bench_allreduce: one rank, nothing to measure (run it under mpirun -np N)\n");
      return 0;
    }
    const bool root = c.rank() == 0;
    if (root) {
      std::printf("bench_allreduce: %s communicator, %d ranks, tensors on %s\n", c.name().c_str(),
                  c.world_size(), device.str().c_str());
      std::printf("cpu: %s\n", v3d::bench::cpu_description().c_str());
      std::printf("%10s %8s %12s %12s %12s\n", "size", "calls", "us/call", "algo MB/s", "bus MB/s");
    }
    nlohmann::json rows = nlohmann::json::array();
    std::mt19937_64 rng(7 + static_cast<uint64_t>(c.rank()));
    std::stringstream list(sizes);
    std::string item;
    while (std::getline(list, item, ',')) {
      const int64_t bytes = parse_size(item);
      const int64_t n = bytes / 4;
      const v3d::Tensor t =
          v3d::Tensor::from_vector(v3d::bench::random_vector(rng, n), {n}, device);
      // The call count comes from rank 0's estimate (the median of three warm-up calls), so every
      // rank makes the same calls.
      std::vector<double> warm;
      for (int i = 0; i < 3; ++i) {
        c.barrier();
        const auto t0 = std::chrono::steady_clock::now();
        c.all_reduce_sum(t);
        warm.push_back(v3d::bench::seconds_since(t0));
      }
      std::vector<float> estimate = {static_cast<float>(v3d::bench::median(warm))};
      const v3d::Tensor e = v3d::Tensor::from_vector(estimate, {1}, v3d::Device::cpu());
      c.broadcast(e, 0);
      const int calls =
          std::max(3, std::min(1000, static_cast<int>(seconds / std::max(e.item(), 1e-6f))));
      std::vector<double> times;
      for (int i = 0; i < calls; ++i) {
        c.barrier();
        const auto t0 = std::chrono::steady_clock::now();
        c.all_reduce_sum(t);
        times.push_back(v3d::bench::seconds_since(t0));
      }
      // The slowest rank's median.
      double s = 0.0;
      char mine[32];
      std::snprintf(mine, sizeof(mine), "%.9g", v3d::bench::median(times));
      for (const std::string& m : c.all_gather(mine)) {
        s = std::max(s, std::stod(m));
      }
      const double algo = static_cast<double>(bytes) / s / 1e6;
      const int p = c.world_size();
      const double bus = algo * 2.0 * (p - 1) / p;
      if (root) {
        std::printf("%10s %8d %12.1f %12.1f %12.1f\n", size_name(bytes).c_str(), calls, s * 1e6,
                    algo, bus);
      }
      rows.push_back({{"bytes", bytes},
                      {"calls", calls},
                      {"us_per_call", s * 1e6},
                      {"algo_mb_per_s", algo},
                      {"bus_mb_per_s", bus}});
    }
    if (root && !json_path.empty()) {
      v3d::bench::write_json(json_path, {{"benchmark", "bench_allreduce"},
                                         {"communicator", c.name()},
                                         {"ranks", c.world_size()},
                                         {"device", device.str()},
                                         {"cpu", v3d::bench::cpu_description()},
                                         {"sizes", rows}});
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_allreduce: %s\n", e.what());
    return 1;
  }
  return 0;
}
