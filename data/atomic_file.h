// Atomic file output, shared by every writer of v3d (pose store, checkpoints, inference and bank
// output, reports, plots): the contents go to a temporary file next to the target, which is
// renamed onto it only when complete. A reader thus sees the old file or the new one, never half
// of one, and a failed write leaves no temporary file behind.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace v3d::data {

// Calls `fill` with the name of a fresh temporary file next to `path` ("<path>.tmp-<pid>-<n>",
// unique across the threads of a process), which `fill` creates and closes; then renames it onto
// `path`. If `fill` throws, or the rename fails ("<path>: cannot rename <tmp> into place: ..."),
// the temporary file is removed and the error propagates.
void write_atomically(const std::string& path, const std::function<void(const std::string&)>& fill);

// `size` bytes at `data` as the whole contents of `path`, atomically, every write checked: a
// failure is "<path>: cannot create (<reason>)" or "<path>: cannot write (<reason>)", the
// reason the system's ("No space left on device", "File too large" past a size limit).
void write_bytes_atomically(const std::string& path, const void* data, size_t size);

// `text` as the whole contents of `path`, atomically (write_bytes_atomically).
void write_text_atomically(const std::string& path, const std::string& text);

}  // namespace v3d::data
