// Atomic file output, shared by every writer of v3d (pose store, checkpoints, inference and bank
// output, reports, plots): the contents go to a temporary file next to the target, which is
// renamed onto it only when complete. A reader thus sees the old file or the new one, never half
// of one, and a failed write leaves no temporary file behind. Every write is checked: a full disk
// (ENOSPC, a quota's EDQUOT, or EFBIG past a file size limit) is one line "<path>: no space left
// (<the system's reason>)", other failures "<path>: cannot write (<reason>)".
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace v3d::data {

// Calls `fill` with the name of a fresh temporary file next to `path` ("<path>.tmp-<pid>-<n>",
// unique across the threads of a process), which `fill` creates and closes; then renames it onto
// `path`. If `fill` throws, or the rename fails ("<path>: cannot rename <tmp> into place: ..."),
// the temporary file is removed and the error propagates. First removes the temporary files of
// `path` that a process no longer running left (a killed run of the same command).
void write_atomically(const std::string& path, const std::function<void(const std::string&)>& fill);

// Removes every temporary file "<name>.tmp-<pid>-<n>" in `dir` (any name) whose process is no
// longer running: what killed runs left of files that no later write replaces (a checkpoint of an
// epoch the next run does not reach). Commands call it on their output directory before writing
// there. Files of running processes stay; a missing or unreadable directory is left to the writes
// to report.
void remove_stale_temporaries_in(const std::string& dir);

// `size` bytes at `data` as the whole contents of `path`, atomically, every write checked: a
// failure is "<path>: cannot create (<reason>)", "<path>: no space left (<reason>)" or "<path>:
// cannot write (<reason>)".
void write_bytes_atomically(const std::string& path, const void* data, size_t size);

// `text` as the whole contents of `path`, atomically (write_bytes_atomically).
void write_text_atomically(const std::string& path, const std::string& text);

// A file written in pieces with every write checked, for writers that stream (CSV): errors name
// `path` (the target) though the data goes to `file` (its temporary file, write_atomically).
// Buffers 1 MiB; close() (or the destructor, which ignores errors) flushes.
class CheckedFile {
 public:
  CheckedFile(std::string path, const std::string& file);
  ~CheckedFile();
  CheckedFile(const CheckedFile&) = delete;
  CheckedFile& operator=(const CheckedFile&) = delete;

  void write(std::string_view text);
  void close();  // flushes and closes; throws on any failure

 private:
  void flush();
  std::string path_;
  int fd_ = -1;
  std::string buffer_;
};

// Appends `text` to `path` (created if missing) whole or not at all: a failed write (a full disk)
// truncates the file back to its earlier length and throws "<path>: no space left (<reason>)", so
// a log never keeps a torn line.
void append_text(const std::string& path, const std::string& text);

// The message of a failed write of `path` with errno `err`: "no space left" for ENOSPC, EDQUOT
// and EFBIG, "cannot write" otherwise.
std::string write_error(const std::string& path, int err);

}  // namespace v3d::data
