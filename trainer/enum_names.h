// String enumerations (config values such as data.keypoints or eval.metrics): each enum has one
// table of (value, name) pairs, a specialisation of EnumTable, and every reader and writer goes
// through to_string / parse_enum, so a name is spelled once.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace v3d {

template <class E>
struct EnumName {
  E value;
  const char* name;
};

// Specialise with `static constexpr EnumName<E> kNames[] = {...};` in documentation order.
template <class E>
struct EnumTable;

template <class E>
concept NamedEnum = std::is_enum_v<E> && requires {
  EnumTable<E>::kNames;
};

template <NamedEnum E>
const char* to_string(E value) {
  for (const EnumName<E>& e : EnumTable<E>::kNames)
    if (e.value == value) return e.name;
  return "?";
}

// The value called `name`, or nothing.
template <NamedEnum E>
std::optional<E> parse_enum(std::string_view name) {
  for (const EnumName<E>& e : EnumTable<E>::kNames)
    if (name == e.name) return e.value;
  return std::nullopt;
}

// Every name, joined with `separator` ("h36m17, pseudo_coco").
template <NamedEnum E>
std::string enum_names(std::string_view separator = ", ") {
  std::string out;
  for (const EnumName<E>& e : EnumTable<E>::kNames) {
    if (!out.empty()) out += separator;
    out += e.name;
  }
  return out;
}

}  // namespace v3d
