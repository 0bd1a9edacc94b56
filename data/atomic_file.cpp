// Atomic file output (data/atomic_file.h).
#include "data/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <optional>
#include <system_error>
#include <utility>

#include "kernels/common.h"
#include "kernels/text.h"

namespace v3d::data {

namespace fs = std::filesystem;

namespace {

// The pid in a temporary file name "<name>.tmp-<pid>-<n>" of `name`, or nothing for any other
// name.
std::optional<long> temporary_pid(const std::string& entry, const std::string& name) {
  const std::string prefix = name + ".tmp-";
  if (entry.size() <= prefix.size() || entry.compare(0, prefix.size(), prefix) != 0)
    return std::nullopt;
  const std::string rest = entry.substr(prefix.size());
  const size_t dash = rest.find('-');
  if (dash == std::string::npos) return std::nullopt;
  const std::optional<long> pid = parse_integer<long>(rest.substr(0, dash));
  const std::optional<uint64_t> n = parse_integer<uint64_t>(rest.substr(dash + 1));
  if (!pid || !n || *pid <= 0 || rest[0] == '+' || rest[dash + 1] == '+') return std::nullopt;
  return pid;
}

// The pid in a temporary file name "<name>.tmp-<pid>-<n>" of any non-empty name.
std::optional<long> any_temporary_pid(const std::string& entry) {
  const size_t at = entry.rfind(".tmp-");
  if (at == std::string::npos || at == 0) return std::nullopt;
  return temporary_pid(entry, entry.substr(0, at));
}

// Removes the temporary files in `dir` whose process is gone (a run killed while writing them
// left them) among those `pid_of` recognises. Files of running processes (another writer) and of
// this one stay. A pid reused since by an unrelated process keeps its file until that process
// ends.
template <typename PidOf>
void remove_stale_temporaries(const fs::path& dir, PidOf pid_of) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) return;  // the write itself reports an unusable directory
  const long self = static_cast<long>(getpid());
  for (const auto& entry : it) {
    const std::optional<long> pid = pid_of(entry.path().filename().string());
    if (!pid || *pid == self || !entry.is_regular_file(ec)) continue;
    if (::kill(static_cast<pid_t>(*pid), 0) == 0 || errno != ESRCH) continue;  // still running
    fs::remove(entry.path(), ec);
  }
}

// The stale temporary files of `path` alone.
void remove_stale_temporaries(const std::string& path) {
  const fs::path target(path);
  const std::string name = target.filename().string();
  remove_stale_temporaries(target.has_parent_path() ? target.parent_path() : fs::path("."),
                           [&](const std::string& entry) { return temporary_pid(entry, name); });
}

}  // namespace

void remove_stale_temporaries_in(const std::string& dir) {
  remove_stale_temporaries(dir.empty() ? fs::path(".") : fs::path(dir), any_temporary_pid);
}

std::string write_error(const std::string& path, int err) {
  const bool full = err == ENOSPC || err == EDQUOT || err == EFBIG;
  return path + (full ? ": no space left (" : ": cannot write (") + std::strerror(err) + ")";
}

void write_atomically(const std::string& path,
                      const std::function<void(const std::string&)>& fill) {
  remove_stale_temporaries(path);
  // pid and a counter: concurrent writes from threads of one process must not share a file.
  static std::atomic<uint64_t> counter{0};
  const std::string tmp = path + ".tmp-" + std::to_string(static_cast<long>(getpid())) + "-" +
                          std::to_string(counter++);
  try {
    fill(tmp);
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) throw Error(path + ": cannot rename " + tmp + " into place: " + ec.message());
  } catch (...) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw;
  }
}

CheckedFile::CheckedFile(std::string path, const std::string& file) : path_(std::move(path)) {
  fd_ = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd_ < 0) {
    const int err = errno;
    if (err == ENOSPC || err == EDQUOT) throw Error(write_error(path_, err));
    throw Error(path_ + ": cannot create (" + std::strerror(err) + ")");
  }
}

CheckedFile::~CheckedFile() {
  if (fd_ >= 0) ::close(fd_);
}

void CheckedFile::write(std::string_view text) {
  buffer_.append(text);
  if (buffer_.size() >= (size_t{1} << 20)) flush();
}

void CheckedFile::flush() {
  const char* p = buffer_.data();
  size_t left = buffer_.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(write_error(path_, errno));
    if (n == 0) throw Error(write_error(path_, ENOSPC));  // a regular file that takes nothing more
    p += n;
    left -= static_cast<size_t>(n);
  }
  buffer_.clear();
}

void CheckedFile::close() {
  flush();
  const int fd = std::exchange(fd_, -1);
  // Some file systems (NFS, quotas) report a failed write only when the file is closed.
  if (::close(fd) != 0) throw Error(write_error(path_, errno));
}

void write_bytes_atomically(const std::string& path, const void* data, size_t size) {
  write_atomically(path, [&](const std::string& tmp) {
    CheckedFile f(path, tmp);
    f.write(std::string_view(static_cast<const char*>(data), size));
    f.close();
  });
}

void write_text_atomically(const std::string& path, const std::string& text) {
  write_bytes_atomically(path, text.data(), text.size());
}

void append_text(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
  if (fd < 0) throw Error(path + ": cannot open for appending (" + std::strerror(errno) + ")");
  struct stat st {};
  int err = ::fstat(fd, &st) == 0 ? 0 : errno;
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0 && err == 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) err = errno;
    if (n == 0) err = ENOSPC;
    if (n > 0) {
      p += n;
      left -= static_cast<size_t>(n);
    }
  }
  // A part of the text that did fit is cut off again: the file keeps whole lines only.
  if (err != 0 && left < text.size() && ::ftruncate(fd, st.st_size) != 0) {
    // The torn end stays; readers of the log (train --resume) drop torn lines.
  }
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) throw Error(write_error(path, err));
}

}  // namespace v3d::data
