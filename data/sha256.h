// SHA-256 (FIPS 180-4), for VideoPose3D's deterministic subset start (data/prepare.h).
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace v3d::data {

// SHA-256 of `data`.
std::array<uint8_t, 32> sha256(const std::string& data);

}  // namespace v3d::data
