// Synthetic sequences for the tests of data/prepare.h, data/windows.h and data/eval_input.h.
// They encode their indices in their values: 2D (t, j, f) = 100*t + 2*j + f + 1 and 3D (t, j, c) =
// 100*t + 3*j + c + 1, so a gathered window can be decoded back to its frames.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>

#include "data/prepare.h"
#include "data/skeleton.h"
#include "kernels/common.h"

namespace v3d::data::test {

constexpr int kJ = 17;

inline float v2(int64_t t, int j, int f) { return static_cast<float>(100 * t + 2 * j + f + 1); }
inline float v3(int64_t t, int j, int c) { return static_cast<float>(100 * t + 3 * j + c + 1); }

inline Sequence make_seq(const std::string& subject, const std::string& action, int64_t frames) {
  Sequence s;
  s.subject = subject;
  s.action = action;
  s.frames = frames;
  for (int64_t t = 0; t < frames; ++t) {
    for (int j = 0; j < kJ; ++j) {
      for (int f = 0; f < 2; ++f) s.poses_2d.push_back(v2(t, j, f));
      for (int c = 0; c < 3; ++c) s.poses_3d.push_back(v3(t, j, c));
    }
  }
  return s;
}

inline const Skeleton& h36m() { return Skeleton::h36m17(); }

// The frame a gathered (unflipped) 2D row came from, checking the whole row is that frame.
inline int64_t decode_frame(const float* row) {
  const int64_t t = static_cast<int64_t>(std::lround((row[0] - 1.0f) / 100.0f));
  for (int j = 0; j < kJ; ++j) {
    for (int f = 0; f < 2; ++f) EXPECT_EQ(row[j * 2 + f], v2(t, j, f)) << "joint " << j;
  }
  return t;
}

inline std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace v3d::data::test
