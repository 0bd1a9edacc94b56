// Atomic file output, shared by every writer of v3d (pose store, checkpoints, inference and bank
// output, reports, plots): the contents go to a temporary file next to the target, which is
// renamed onto it only when complete. A reader thus sees the old file or the new one, never half
// of one, and a failed write leaves no temporary file behind.
#pragma once

#include <functional>
#include <string>

namespace v3d::data {

// Calls `fill` with the name of a fresh temporary file next to `path` ("<path>.tmp-<pid>-<n>",
// unique across the threads of a process), which `fill` creates and closes; then renames it onto
// `path`. If `fill` throws, or the rename fails ("<path>: cannot rename <tmp> into place: ..."),
// the temporary file is removed and the error propagates.
void write_atomically(const std::string& path, const std::function<void(const std::string&)>& fill);

// `text` as the whole contents of `path`, atomically; "<path>: cannot write" on failure.
void write_text_atomically(const std::string& path, const std::string& text);

}  // namespace v3d::data
