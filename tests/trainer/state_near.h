// Comparing model states of two training runs that differ only in float summation order (another
// device, another rank count): per tensor in L2 norm, relative to how far training moved it.
// AMSGrad divides by the root of the second moment, so a gradient element that is pure rounding
// noise still takes a full learning-rate step of either sign: single elements may differ by far
// more than the rounding, while whole tensors stay within a small fraction of their movement.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "runtime/tensor.h"

namespace v3d::test {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// The tolerance on a tensor's difference, relative to how far it moved (or to its norm).
constexpr double kStateRel = 1e-3;

inline double l2_distance(const std::vector<float>& a, const std::vector<float>& b) {
  double sum = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    sum += d * d;
  }
  return std::sqrt(sum);
}

// Each f32 tensor of `got` within kStateRel * |want - origin| (L2) of `want`, where origin is the
// tensor's start (zeros: its own norm); the i32 ones (BN's batch counters) equal.
inline void expect_state_near(const NamedTensors& want, const NamedTensors& got,
                              const NamedTensors* origin = nullptr) {
  ASSERT_EQ(want.size(), got.size());
  if (origin != nullptr) {
    ASSERT_EQ(origin->size(), want.size());
  }
  for (size_t i = 0; i < want.size(); ++i) {
    const auto& [name, w] = want[i];
    ASSERT_EQ(name, got[i].first);
    if (origin != nullptr) {
      ASSERT_EQ(name, (*origin)[i].first);
    }
    const Tensor& g = got[i].second;
    ASSERT_EQ(w.shape(), g.shape()) << name;
    ASSERT_EQ(w.dtype(), g.dtype()) << name;
    if (w.dtype() != DType::kF32) {
      EXPECT_EQ(w.to_vector_i32(), g.to_vector_i32()) << name;
      continue;
    }
    const std::vector<float> wv = w.to_vector(), gv = g.to_vector();
    const std::vector<float> start =
        origin != nullptr ? (*origin)[i].second.to_vector() : std::vector<float>(wv.size(), 0.0f);
    const double diff = l2_distance(gv, wv), moved = l2_distance(wv, start);
    EXPECT_LE(diff, kStateRel * moved) << name << ": " << diff << " apart after moving " << moved;
  }
}

}  // namespace v3d::test
