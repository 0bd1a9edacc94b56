// What the emulator's misuse tests share: the fault a launch raised, and a substring test.
// Emulator only (cuemu::KernelFault).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "kernels/gpu/compat.h"

namespace v3d::emutest {

// The fault message of fn(), or "" when it completed; also checks the sticky error it left.
inline std::string fault_of(const std::function<void()>& fn) {
  std::string message;
  try {
    fn();
  } catch (const cuemu::KernelFault& e) {
    message = e.what();
    EXPECT_EQ(gpu::GetLastError(), cuemu::ErrorCode::kLaunchFailure);
  }
  return message;
}

inline bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace v3d::emutest
