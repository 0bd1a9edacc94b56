// Small helpers shared by the subcommands: file extensions, image sizes and atomic text output.
#pragma once

#include <filesystem>
#include <string>
#include <utility>

namespace v3d::apps {

// The extension of `path`, lower-cased, with its dot (".json"); "" when none.
std::string lower_extension(const std::string& path);

// "WxH" -> (W, H), both >= 1; throws v3d::Error naming --res otherwise.
std::pair<int, int> parse_res(const std::string& text);

// Writes `text` to "<path>.tmp" and renames it onto `path`, so a reader never sees half a file;
// throws v3d::Error naming the path (and removes the temporary file) on failure.
void write_text_atomically(const std::filesystem::path& path, const std::string& text);

}  // namespace v3d::apps
