// Atomic file output (data/atomic_file.h).
#include "data/atomic_file.h"

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "kernels/common.h"

namespace v3d::data {

void write_atomically(const std::string& path,
                      const std::function<void(const std::string&)>& fill) {
  // pid and a counter: concurrent writes from threads of one process must not share a file.
  static std::atomic<uint64_t> counter{0};
  const std::string tmp = path + ".tmp-" + std::to_string(static_cast<long>(getpid())) + "-" +
                          std::to_string(counter++);
  try {
    fill(tmp);
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) throw Error(path + ": cannot rename " + tmp + " into place: " + ec.message());
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw;
  }
}

void write_text_atomically(const std::string& path, const std::string& text) {
  write_atomically(path, [&](const std::string& tmp) {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text;
    f.close();
    if (!f) throw Error(path + ": cannot write");
  });
}

}  // namespace v3d::data
