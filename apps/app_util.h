// Small helpers shared by the subcommands: file extensions, image sizes and atomic text output.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace CLI {
class App;
}

namespace v3d::apps {

// The extension of `path`, lower-cased, with its dot (".json"); "" when none.
std::string lower_extension(const std::string& path);

// "WxH" -> (W, H), both >= 1; throws v3d::Error naming --res otherwise.
std::pair<int, int> parse_res(const std::string& text);

// Writes `text` to "<path>.tmp" and renames it onto `path`, so a reader never sees half a file;
// throws v3d::Error naming the path (and removes the temporary file) on failure.
void write_text_atomically(const std::filesystem::path& path, const std::string& text);

// The device policy of every subcommand (docs/cli.md, "Devices"): the config's top-level `device`,
// and `--device D` as the override device=D, applied after the --set ones so that it wins.
// add_device_option adds --device to `cmd` storing into `device`; with_device appends the
// override when `device` is given.
void add_device_option(CLI::App& cmd, std::string& device);
std::vector<std::string> with_device(std::vector<std::string> overrides, const std::string& device);

}  // namespace v3d::apps
