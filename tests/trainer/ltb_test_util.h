// Fixtures shared by the long-term bank's tests (tests/trainer/ltb_test.cpp) and its reports'
// (tests/report/ltb_report_test.cpp): a tiny model, fast synthetic sequences and bank settings
// that fuse many frames.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "data/synth.h"
#include "trainer/ltb.h"
#include "trainer/model.h"

namespace v3d::ltb_test {

// Widths 3, 3 (9 frames, r = 4), 16 channels, no dropout.
inline TemporalModelConfig tiny_model(bool causal = false) {
  TemporalModelConfig c;
  c.filter_widths = {3, 3};
  c.channels = 16;
  c.dropout = 0.0f;
  c.causal = causal;
  return c;
}

// S9 Boxing and Walking at every 3rd frame (fast motion), 4 cameras, `frames` frames.
inline std::vector<data::Sequence> sequences(int64_t frames = 90) {
  data::SynthOptions so;
  so.frames_per_action = frames;
  so.subjects = {"S9"};
  so.actions = {"Walking", "Boxing"};
  const data::Dataset ds = data::synthesize(so);
  data::PrepareSpec spec;
  spec.subjects = {"S9"};
  return data::prepare_sequences(ds, spec);
}

// A rich bank (few candidates rejected) and a low fusion threshold: many frames fused.
inline LtbOptions fusing_options() {
  LtbOptions o;
  o.capacity = 12;
  o.threshold = 0.9f;
  o.fusion_threshold = 0.8f;
  return o;
}

// Each sequence's normalised 2D, as plan_ltb takes it.
inline std::vector<std::span<const float>> views(const std::vector<data::Sequence>& seqs) {
  std::vector<std::span<const float>> v;
  for (const auto& s : seqs) v.emplace_back(s.poses_2d);
  return v;
}

}  // namespace v3d::ltb_test
