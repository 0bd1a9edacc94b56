// Helpers shared by data/prepare.cpp, data/windows.cpp and data/eval_input.cpp: naming a sequence
// in errors, copying (and mirroring) one frame, taking a strided range of rows.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "data/prepare.h"

namespace v3d::data::detail {

inline std::string sequence_name(const Sequence& seq) {
  return seq.subject + "/" + seq.action + " (camera " + std::to_string(seq.camera) + ")";
}

// Copies one frame of J joints x F features; with a flip permutation, joint j takes the mirrored
// values of joint perm[j] (x negated), so no second pass over the window is needed.
inline void copy_frame(float* dst, const float* src, int joints, int features, const int* perm) {
  if (perm == nullptr) {
    std::memcpy(dst, src, sizeof(float) * static_cast<size_t>(joints * features));
    return;
  }
  for (int j = 0; j < joints; ++j) {
    const float* s = src + perm[j] * features;
    float* d = dst + j * features;
    d[0] = -s[0];
    for (int f = 1; f < features; ++f) d[f] = s[f];
  }
}

// Rows [start, start + count*step) with stride `step` of a (frames, row) array.
inline std::vector<float> take_rows(const std::vector<float>& a, int64_t row,
                                    const SubsetRange& r) {
  std::vector<float> out(static_cast<size_t>(r.count * row));
  for (int64_t i = 0; i < r.count; ++i) {
    std::memcpy(out.data() + i * row, a.data() + (r.start + i * r.step) * row,
                sizeof(float) * static_cast<size_t>(row));
  }
  return out;
}

}  // namespace v3d::data::detail
