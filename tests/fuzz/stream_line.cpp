// Fuzz target: one input line of `v3d stream` (data/infer_input.h, parse_stream_frame;
// docs/cli.md, "Streaming"), which may come from a TCP client.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "data/infer_input.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  v3d::fuzz::expect_clean([&] { v3d::data::parse_stream_frame(line, 17); });
  return 0;
}
