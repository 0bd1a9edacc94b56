// Fuzz target: the pose-file reader (data/dataset.h, docs/data-format.md), and the inference input
// reader of the same files (data/infer_input.h).
#include <cstddef>
#include <cstdint>

#include "data/dataset.h"
#include "data/infer_input.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = v3d::fuzz::input_file(data, size, ".h5");
  v3d::fuzz::expect_clean([&] { v3d::data::read_dataset(path); });
  v3d::fuzz::expect_clean([&] { v3d::data::read_infer_input_h5(path, 0); });
  return 0;
}
