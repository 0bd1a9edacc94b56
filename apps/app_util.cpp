// Helpers shared by the subcommands (apps/app_util.h).
#include "apps/app_util.h"

#include <CLI/CLI.hpp>
#include <cctype>
#include <filesystem>

#include "kernels/common.h"
#include "runtime/device.h"

namespace v3d::apps {

std::string lower_extension(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

std::pair<int, int> parse_res(const std::string& text) {
  const size_t x = text.find_first_of("xX");
  try {
    if (x != std::string::npos) {
      size_t used_w = 0, used_h = 0;
      const int w = std::stoi(text.substr(0, x), &used_w);
      const int h = std::stoi(text.substr(x + 1), &used_h);
      if (used_w == x && used_h == text.size() - x - 1 && w > 0 && h > 0) return {w, h};
    }
  } catch (const std::exception&) {
  }
  throw Error("--res: '" + text + "' is not WIDTHxHEIGHT in pixels (e.g. 1000x1002)");
}

std::string input_format(const std::string& path, const std::string& format) {
  const std::string f =
      format.empty() ? (lower_extension(path) == ".json" ? "coco-json" : "h5") : format;
  if (f != "h5" && f != "coco-json")
    throw Error("--format: '" + f + "' is not one of h5, coco-json");
  return f;
}

std::vector<data::InferInput> read_inputs(const std::string& path, const std::string& format,
                                          int camera, const std::string& res, bool pseudo_coco) {
  if (format == "h5") return data::read_infer_input_h5(path, camera, pseudo_coco);
  const auto [w, h] = parse_res(res);
  return data::read_infer_input_coco_json(path, w, h);
}

void add_device_option(CLI::App& cmd, std::string& device) {
  cmd.add_option("--device", device,
                 "cpu, cuda, cuda:N or emu (default: the config's device, docs/config.md)");
}

std::vector<std::string> with_device(std::vector<std::string> overrides,
                                     const std::string& device) {
  if (device.empty()) return overrides;
  // Checked here so that a bad value is reported against --device, where the user typed it.
  try {
    parse_device(device);
  } catch (const Error& e) {
    throw Error(std::string("--device: ") + e.what());
  }
  overrides.push_back("device=" + device);
  return overrides;
}

}  // namespace v3d::apps
