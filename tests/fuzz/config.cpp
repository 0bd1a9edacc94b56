// Fuzz target: the experiment config reader (trainer/config.h, docs/config.md). A config it
// accepts must also survive to_yaml: written out and read back, it must give the same YAML.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "tests/fuzz/fuzz_input.h"
#include "trainer/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  v3d::fuzz::expect_clean([&] {
    const std::string yaml = v3d::to_yaml(v3d::parse_config(text, "fuzz.yaml"));
    std::string again;
    try {
      again = v3d::to_yaml(v3d::parse_config(yaml, "fuzz.yaml (written back)"));
    } catch (const v3d::Error& e) {
      throw std::logic_error(std::string("an accepted config does not read back: ") + e.what());
    }
    if (again != yaml) throw std::logic_error("an accepted config reads back differently");
  });
  return 0;
}
