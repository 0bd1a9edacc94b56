// Atomic file output (data/atomic_file.h).
#include "data/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
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

void write_bytes_atomically(const std::string& path, const void* data, size_t size) {
  write_atomically(path, [&](const std::string& tmp) {
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) throw Error(path + ": cannot create (" + std::strerror(errno) + ")");
    const char* p = static_cast<const char*>(data);
    size_t left = size;
    int err = 0;
    while (left > 0 && err == 0) {
      const ssize_t n = ::write(fd, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) err = errno;
      if (n == 0) err = ENOSPC;  // a regular file that takes nothing more
      if (n > 0) {
        p += n;
        left -= static_cast<size_t>(n);
      }
    }
    // Some file systems (NFS, quotas) report a failed write only when the file is closed.
    if (::close(fd) != 0 && err == 0) err = errno;
    if (err != 0) throw Error(path + ": cannot write (" + std::strerror(err) + ")");
  });
}

void write_text_atomically(const std::string& path, const std::string& text) {
  write_bytes_atomically(path, text.data(), text.size());
}

}  // namespace v3d::data
