// Evaluation input from prepared sequences, as VideoPose3D's UnchunkedGenerator, and the "TD N"
// test intervals of the paper.
//
//   split_phases        "TD N": a test sequence as its N phase sequences (frames p, p+N, ...).
//   make_eval_input     a whole sequence, edge-padded, for unchunked evaluation (+ flipped copy).
#pragma once

#include <cstdint>
#include <vector>

#include "data/prepare.h"
#include "data/skeleton.h"

namespace v3d::data {

// "TD N": phase p = frames p, p+N, p+2N, ... of `seq` (p = 0..N-1), each a Sequence of its own
// with ceil((frames - p) / N) frames (phases with no frame, when frames < N, are left out).
// N = 1 returns the sequence unchanged.
std::vector<Sequence> split_phases(const Sequence& seq, int n);

// VideoPose3D's UnchunkedGenerator input for one sequence: the 2D edge-padded by
// (pad + causal_shift, pad - causal_shift) frames, so a valid-convolution model outputs exactly
// `frames` frames; with flip, a second, flipped copy (test-time augmentation).
struct EvalInput {
  int64_t batch = 1;              // 1, or 2 with the flipped copy
  int64_t length = 0;             // frames + 2*pad
  std::vector<float> inputs_2d;   // (batch, length, J_in, 2)
  std::vector<float> targets_3d;  // (frames, J, 3), unflipped (empty for 2D-only sequences)
};
EvalInput make_eval_input(const Sequence& seq, const Skeleton& keypoints, const Skeleton& joints,
                          int64_t pad, int64_t causal_shift, bool flip);

}  // namespace v3d::data
