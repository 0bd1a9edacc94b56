// Fuzz target: the COCO-style detector JSON reader of `v3d infer` and `v3d ltb`
// (data/infer_input.h, docs/cli.md).
#include <cstddef>
#include <cstdint>

#include "data/infer_input.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = v3d::fuzz::input_file(data, size, ".json");
  v3d::fuzz::expect_clean([&] { v3d::data::read_infer_input_coco_json(path, 1000, 1000); });
  return 0;
}
