// Helpers shared by the test suites: a per-test temporary directory and the check that an error
// is one v3d::Error line naming what is wrong.
#pragma once

#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "kernels/common.h"

namespace v3d::test_util {

// Runs fn, expecting a one-line v3d::Error whose message contains every string of `parts`.
inline void expect_error(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "expected v3d::Error mentioning '" << parts.front() << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "not one line: " << msg;
    for (const auto& part : parts)
      EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' not in: " << msg;
  }
}

// The whole contents of a file ("" when it cannot be read).
inline std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Writes `text` to `path`, replacing it.
inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

// Where the continuation messages of an HDF5 file's version-1 object headers (as h5py and v3d
// write them) are in its bytes `image`: each the message's data, the continuation chunk's address
// (8 bytes) then its length (8 bytes). A message header of type 0x10, 16 bytes, no flags.
inline std::vector<size_t> hdf5_continuations(const std::string& image) {
  const std::string header("\x10\0\x10\0\0\0\0\0", 8);
  std::vector<size_t> out;
  for (size_t at = image.find(header); at != std::string::npos; at = image.find(header, at + 1))
    if (at + 24 <= image.size()) out.push_back(at + 8);
  return out;
}

// A COCO-style "keypoints" array for frame f: `count` numbers (51 = the 17 COCO keypoints as x, y,
// v triples), x and y distinct per frame and keypoint, v = 2.
inline std::string coco_keypoints(int f, int count = 51) {
  std::string s = "[";
  for (int i = 0; i < count; ++i) {
    const double v = i % 3 == 2 ? 2.0 : 100.0 + f * 10 + i;
    if (i > 0) s += ',';
    s += std::to_string(v);
  }
  return s + "]";
}

// The "keypoints" array of one COCO-17 person centred at (cx, cy) of size s: keypoint j at
// (cx + (j % 5 - 2) s, cy + (j / 5 - 1.5) 2 s), score 0.9, except keypoint `low` (score 0.1, at
// (999, 999)).
inline std::string coco_person(double cx, double cy, double s, int low = -1) {
  std::string out = "[";
  for (int j = 0; j < 17; ++j) {
    const bool bad = j == low;
    const double x = bad ? 999 : cx + (j % 5 - 2) * s, y = bad ? 999 : cy + (j / 5 - 1.5) * 2 * s;
    out +=
        (j ? ", " : "") + std::to_string(x) + ", " + std::to_string(y) + (bad ? ", 0.1" : ", 0.9");
  }
  return out + "]";
}

// max |a - b| / max |b| (a zero b counts as 1e-30), every a finite and the sizes equal.
inline double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double err = 0.0, scale = 0.0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    EXPECT_TRUE(std::isfinite(a[i])) << "element " << i;
    err = std::max(err, std::fabs(double(a[i]) - double(b[i])));
    scale = std::max(scale, std::fabs(double(b[i])));
  }
  return err / std::max(scale, 1e-30);
}

// Whether a and b hold the same bits (NaN payloads and signed zeros included). Not memcmp: an
// empty vector's data() may be null, which memcmp must not be given.
inline bool same_bits(std::span<const float> a, std::span<const float> b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// A pid that no process has: a child that has exited and been waited for (the pid of a killed
// run, for the files it left).
inline long finished_pid() {
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  int status = 0;
  waitpid(pid, &status, 0);
  return static_cast<long>(pid);
}

// Runs fn in a forked child whose files cannot grow past `limit_bytes` (RLIMIT_FSIZE, with SIGXFSZ
// ignored, so a write past the limit fails with EFBIG, as a full disk fails one with ENOSPC).
// Returns what the child saw: "ok" when fn returned, "error: <message>" for a v3d::Error,
// "exception: <what>" for another exception, "crashed: signal N" when it died.
inline std::string run_with_file_size_limit(rlim_t limit_bytes, const std::function<void()>& fn) {
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    close(fds[0]);
    std::string result;
    signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{limit_bytes, limit_bytes};
    if (setrlimit(RLIMIT_FSIZE, &limit) != 0) {
      result = "setrlimit failed";
    } else {
      try {
        fn();
        result = "ok";
      } catch (const Error& e) {
        result = std::string("error: ") + e.what();
      } catch (const std::exception& e) {
        result = std::string("exception: ") + e.what();
      }
    }
    for (size_t done = 0; done < result.size();) {
      const ssize_t n = write(fds[1], result.data() + done, result.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    _exit(0);  // no atexit handlers or gtest teardown in the child
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) return "crashed: signal " + std::to_string(WTERMSIG(status));
  return out;
}

// Runs `write` (a writer of `file`, which exists) in a child process whose files cannot grow past
// `limit_bytes`, expecting one error line "<file>: no space left (File too large)", no temporary
// file left in `file`'s directory and `file` as it was.
inline void expect_full_disk_keeps_file(const std::string& file, rlim_t limit_bytes,
                                        const std::function<void()>& write) {
  const std::string before = read_text(file);
  ASSERT_FALSE(before.empty()) << file << " must exist";
  const std::string got = run_with_file_size_limit(limit_bytes, write);
  EXPECT_EQ(got.rfind("error: ", 0), 0u) << got;
  EXPECT_NE(got.find(file + ": no space left (File too large)"), std::string::npos) << got;
  EXPECT_EQ(got.find('\n'), std::string::npos) << got;
  const std::filesystem::path dir = std::filesystem::path(file).parent_path();
  for (const auto& e : std::filesystem::directory_iterator(dir))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
  EXPECT_TRUE(read_text(file) == before) << file << " changed";
}

// A fresh directory under $TMPDIR ("<prefix>-XXXXXX"), removed with its contents when it goes.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "v3d-test") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    char* made = mkdtemp(tmpl.data());
    if (made == nullptr) throw std::runtime_error("mkdtemp failed for " + tmpl);
    path_ = made;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string operator/(const std::string& name) const { return file(name); }
  std::string str() const { return path_.string(); }
  std::string path() const { return path_.string(); }
  // Names of the directory's entries, sorted.
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path_))
      out.push_back(e.path().filename());
    std::sort(out.begin(), out.end());
    return out;
  }
  size_t regular_files() const {
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(path_)) n += e.is_regular_file();
    return n;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace v3d::test_util
