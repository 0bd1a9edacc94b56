// Helpers shared by the subcommands (apps/app_util.h).
#include "apps/app_util.h"

#include <CLI/CLI.hpp>
#include <cctype>
#include <fstream>
#include <system_error>

#include "kernels/common.h"

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

void write_text_atomically(const std::filesystem::path& path, const std::string& text) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text;
    f.close();
    if (!f) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      throw Error(path.string() + ": cannot write");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw Error(path.string() + ": cannot write: " + ec.message());
  }
}

void add_device_option(CLI::App& cmd, std::string& device) {
  cmd.add_option("--device", device,
                 "cpu, cuda, cuda:N or emu (default: the config's device, docs/config.md)");
}

std::vector<std::string> with_device(std::vector<std::string> overrides,
                                     const std::string& device) {
  if (!device.empty()) overrides.push_back("device=" + device);
  return overrides;
}

}  // namespace v3d::apps
