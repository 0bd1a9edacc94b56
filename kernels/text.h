// Text as error messages show it and as files and options spell integers: a bounded one-line
// excerpt of any value (a message must stay one line and short whatever a file holds), and strict
// integer parsing (all of the text, in range, or nothing, where std::stoll skips spaces, stops at
// the first non-digit and throws an exception whose message is "stoll").
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>

namespace v3d {

// At most `max` characters of `text`, control characters (newlines included) shown as spaces;
// longer text ends in "... (N characters)".
inline std::string excerpt(const std::string& text, size_t max = 80) {
  std::string out = text.substr(0, max);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  if (text.size() > max) out += "... (" + std::to_string(text.size()) + " characters)";
  return out;
}

// `text` as a decimal integer of type T: an optional sign ('+' or '-') and digits, nothing else,
// within T's range.
template <class T>
std::optional<T> parse_integer(const std::string& text) {
  const char* b = text.data();
  const char* e = b + text.size();
  if (b != e && *b == '+') ++b;
  if (b != e && b != text.data() && *b == '-') return std::nullopt;  // "+-1"
  T value{};
  const auto [end, ec] = std::from_chars(b, e, value);
  if (b == e || ec != std::errc() || end != e) return std::nullopt;
  return value;
}

}  // namespace v3d
