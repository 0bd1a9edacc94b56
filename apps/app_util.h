// Small helpers shared by the subcommands: file extensions, image sizes and the 2D inputs of
// `v3d infer` and `v3d ltb`.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "data/infer_input.h"

namespace CLI {
class App;
}

namespace v3d::apps {

// The extension of `path`, lower-cased, with its dot (".json"); "" when none.
std::string lower_extension(const std::string& path);

// "WxH" -> (W, H), both >= 1; throws v3d::Error naming --res otherwise.
std::pair<int, int> parse_res(const std::string& text);

// --format of a 2D input: "h5" or "coco-json"; "" picks coco-json for a .json file, else h5.
// Throws v3d::Error naming --format on another value.
std::string input_format(const std::string& path, const std::string& format);

// The 2D inputs in `format` (input_format's): a v3d pose file seen by `camera` (pseudo_coco: its
// H36M-17 2D mapped to COCO-17) or COCO-style JSON in pixels of a `res` ("WxH") image.
std::vector<data::InferInput> read_inputs(const std::string& path, const std::string& format,
                                          int camera, const std::string& res, bool pseudo_coco);

// The device policy of every subcommand (docs/cli.md, "Devices"): the config's top-level `device`,
// and `--device D` as the override device=D, applied after the --set ones so that it wins.
// add_device_option adds --device to `cmd` storing into `device`; with_device appends the
// override when `device` is given, after checking it (an error names --device).
void add_device_option(CLI::App& cmd, std::string& device);
std::vector<std::string> with_device(std::vector<std::string> overrides, const std::string& device);

}  // namespace v3d::apps
