// Fuzz target: the checkpoint reader (trainer/checkpoint.h, docs/checkpoints.md), the value
// checks a restore applies, and the experiment config the checkpoint stores.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_input.h"
#include "trainer/checkpoint.h"
#include "trainer/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = v3d::fuzz::input_file(data, size, ".ckpt");
  v3d::fuzz::expect_clean([&] {
    const v3d::Checkpoint ckpt = v3d::load_checkpoint(path);
    v3d::check_checkpoint_values(ckpt, path);
    if (!ckpt.config_yaml.empty()) v3d::parse_config(ckpt.config_yaml, path);
  });
  return 0;
}
