// A plain main for the fuzz targets where libFuzzer is not linked (builds with GCC, such as the
// test suite's): runs LLVMFuzzerTestOneInput on every input of the given files and folders, then
// on `-runs=N` inputs mutated from them (bit flips, interesting bytes and integers, erased,
// duplicated and inserted ranges, truncation), chosen by a generator seeded with `-seed=S`, so a
// run is the same every time and a failure names what reproduces it. It stands in for libFuzzer
// in the test suite; coverage-guided runs are scripts/fuzz's (docs/testing.md).
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

struct Rng {  // splitmix64
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(next() % n); }
};

void mutate_once(Bytes& b, Rng& rng) {
  static constexpr std::array<uint64_t, 10> kInteresting = {0,
                                                            1,
                                                            0x7f,
                                                            0x80,
                                                            0xff,
                                                            0x7fffffffull,
                                                            0x80000000ull,
                                                            0xffffffffull,
                                                            0x7fffffffffffffffull,
                                                            0xffffffffffffffffull};
  const size_t n = b.size();
  switch (rng.below(n == 0 ? 1 : 7)) {
    case 0: {  // insert a byte (the only mutation of an empty input)
      b.insert(b.begin() + static_cast<std::ptrdiff_t>(rng.below(n + 1)),
               static_cast<uint8_t>(rng.next()));
      break;
    }
    case 1:
      b[rng.below(n)] ^= static_cast<uint8_t>(1u << rng.below(8));
      break;
    case 2:
      b[rng.below(n)] = static_cast<uint8_t>(kInteresting[rng.below(5)]);
      break;
    case 3: {  // a little-endian integer of 1 to 8 bytes
      const size_t width = std::min(n, size_t{1} << rng.below(4));
      const size_t at = rng.below(n - width + 1);
      const uint64_t v = kInteresting[rng.below(kInteresting.size())];
      for (size_t i = 0; i < width; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
      break;
    }
    case 4: {  // erase a range
      const size_t at = rng.below(n), len = 1 + rng.below(std::min<size_t>(n - at, 64));
      b.erase(b.begin() + static_cast<std::ptrdiff_t>(at),
              b.begin() + static_cast<std::ptrdiff_t>(at + len));
      break;
    }
    case 5: {  // duplicate a range
      const size_t at = rng.below(n), len = 1 + rng.below(std::min<size_t>(n - at, 64));
      const Bytes piece(b.begin() + static_cast<std::ptrdiff_t>(at),
                        b.begin() + static_cast<std::ptrdiff_t>(at + len));
      b.insert(b.begin() + static_cast<std::ptrdiff_t>(rng.below(n + 1)), piece.begin(),
               piece.end());
      break;
    }
    default:
      b.resize(rng.below(n));
      break;
  }
}

// The input being run and where a crash saves it (set before the handlers are installed).
const Bytes* g_current = nullptr;
std::string g_crash_path;

// A crash (or a sanitizer's abort) writes the input being run to g_crash_path, then dies of the
// same signal. Only async-signal-safe calls.
extern "C" void save_input_and_die(int sig) {
  if (g_current != nullptr) {
    const int fd = ::open(g_crash_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ssize_t ignored = ::write(fd, g_current->data(), g_current->size());
      ::close(fd);
      static const char kMsg[] = "the crashing input is saved in ";
      ignored = ::write(2, kMsg, sizeof kMsg - 1);
      ignored = ::write(2, g_crash_path.data(), g_crash_path.size());
      ignored = ::write(2, "\n", 1);
      (void)ignored;
    }
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

bool run_one(const Bytes& input, const std::string& what) {
  g_current = &input;
  try {
    LLVMFuzzerTestOneInput(input.data(), input.size());
    return true;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "FINDING on %s: %s\n", what.c_str(), e.what());
  } catch (...) {
    std::fprintf(stderr, "FINDING on %s: an exception of unknown type\n", what.c_str());
  }
  std::ofstream(g_crash_path, std::ios::binary)
      .write(reinterpret_cast<const char*>(input.data()),
             static_cast<std::streamsize>(input.size()));
  std::fprintf(stderr, "the input is saved in %s\n", g_crash_path.c_str());
  return false;
}

Bytes read_file(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t runs = 0, seed = 1;
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("-runs=", 0) == 0) {
      runs = std::stoull(arg.substr(6));
    } else if (arg.rfind("-seed=", 0) == 0) {
      seed = std::stoull(arg.substr(6));
    } else if (fs::is_directory(arg)) {
      for (const auto& e : fs::directory_iterator(arg))
        if (e.is_regular_file()) inputs.push_back(e.path());
    } else if (fs::is_regular_file(arg)) {
      inputs.push_back(arg);
    } else {
      std::fprintf(stderr, "usage: %s [-runs=N] [-seed=S] FILE|DIR...  ('%s'?)\n", argv[0],
                   arg.c_str());
      return 2;
    }
  }
  std::sort(inputs.begin(), inputs.end());  // directory order is not stable
  if (inputs.empty()) {
    std::fprintf(stderr, "%s: no inputs\n", argv[0]);
    return 2;
  }
  g_crash_path = (fs::temp_directory_path() /
                  ("v3d-fuzz-crash-" + std::to_string(static_cast<long>(getpid()))))
                     .string();
  for (const int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT})
    ::signal(sig, save_input_and_die);
  std::vector<Bytes> corpus;
  corpus.reserve(inputs.size());  // g_current points into it
  for (const auto& path : inputs) {
    corpus.push_back(read_file(path));
    if (!run_one(corpus.back(), path.string())) return 1;
  }
  Rng rng{seed};
  for (uint64_t r = 0; r < runs; ++r) {
    Bytes b = corpus[r % corpus.size()];
    const size_t mutations = 1 + rng.below(4);
    for (size_t m = 0; m < mutations; ++m) mutate_once(b, rng);
    if (!run_one(b, "run " + std::to_string(r) + " (" + argv[0] +
                        " -runs=" + std::to_string(r + 1) + " -seed=" + std::to_string(seed) +
                        " with the same inputs)"))
      return 1;
  }
  std::printf("%s: %zu inputs and %llu mutated runs, no finding\n", argv[0], corpus.size(),
              static_cast<unsigned long long>(runs));
  return 0;
}
