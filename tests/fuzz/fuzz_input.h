// What the fuzz targets share: the input bytes as a file (the readers take paths), and the rule
// that a reader may refuse an input only with a v3d::Error. Anything else (another exception, a
// crash, a sanitizer report, a hang) is a finding: the exception escapes LLVMFuzzerTestOneInput
// and libFuzzer (or tests/fuzz/driver.cpp) stops on it.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "kernels/common.h"

namespace v3d::fuzz {

// `size` bytes at `data` written to this process's scratch file, whose path is returned. The file
// is named after the process (several fuzzers may run at once), reused for every input and removed
// when the process exits normally.
inline std::string input_file(const uint8_t* data, size_t size, const char* suffix) {
  struct Scratch {
    std::string path;
    ~Scratch() { std::remove(path.c_str()); }
  };
  static const Scratch scratch{
      (std::filesystem::temp_directory_path() /
       ("v3d-fuzz-" + std::to_string(static_cast<long>(getpid())) + suffix))
          .string()};
  const std::string& path = scratch.path;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) throw std::runtime_error("cannot create " + path);
  const bool ok = std::fwrite(data, 1, size, f) == size;
  if (std::fclose(f) != 0 || !ok) throw std::runtime_error("cannot write " + path);
  return path;
}

// Runs `read`; a v3d::Error is a clean refusal (its message must be one line).
template <class F>
void expect_clean(F&& read) {
  try {
    read();
  } catch (const Error& e) {
    const std::string msg = e.what();
    if (msg.find('\n') != std::string::npos)
      throw std::logic_error("error message of more than one line: " + msg);
  }
}

}  // namespace v3d::fuzz
