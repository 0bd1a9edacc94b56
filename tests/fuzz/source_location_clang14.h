// std::source_location for clang 14 with libstdc++ 12, whose <source_location> needs
// __builtin_source_location (clang 15 and later): the fuzz build (clang 14, V3D_FUZZ) includes this
// first in every file, so the emulator (kernels/gpu/emu/runtime.h) compiles. The same members,
// from the builtins clang 14 has.
#pragma once

#if defined(__clang__) && __clang_major__ < 15
#include <cstdint>

namespace std {  // NOLINT(cert-dcl58-cpp): the standard type the library leaves out here

struct source_location {
  static constexpr source_location current(const char* file = __builtin_FILE(),
                                           const char* function = __builtin_FUNCTION(),
                                           uint_least32_t line = __builtin_LINE(),
                                           uint_least32_t column = __builtin_COLUMN()) noexcept {
    source_location loc;
    loc.file_ = file;
    loc.function_ = function;
    loc.line_ = line;
    loc.column_ = column;
    return loc;
  }
  constexpr const char* file_name() const noexcept { return file_; }
  constexpr const char* function_name() const noexcept { return function_; }
  constexpr uint_least32_t line() const noexcept { return line_; }
  constexpr uint_least32_t column() const noexcept { return column_; }

 private:
  const char* file_ = "";
  const char* function_ = "";
  uint_least32_t line_ = 0;
  uint_least32_t column_ = 0;
};

}  // namespace std
#endif
