// References for the Long-term Pose Bank (kernels/pose_bank.h), written from
// docs/long-term-bank.md, not from the kernels:
//   - the similarity of paper Eq. 2 in double precision, to check the kernels' accuracy;
//   - the same similarity in float, in the evaluation order the contract fixes, on which the
//     naive bank (Algorithm 1, AS recomputed from scratch after every change) and the fusion (the
//     prose version: each half as a list filled from the centre outward) are built, so that the
//     kernels' banks, AS values and index maps can be checked exactly, decision for decision.
// Poses are (count, joints, 2) row-major; parents (joints), -1 for the root; frames are local to
// their sequence.
#pragma once

#include <cstdint>
#include <vector>

#include "tests/reference/reference.h"

namespace v3d::ref {

struct PoseSkeletonRef {
  int joints = 0;
  std::vector<int> parents;
  bool root_center = false;  // c(P) = joint 0 instead of the centroid
};

// s (n, m) = S(a_n, b_m) in double; -inf where either pose has a non-finite coordinate.
Vec pose_similarity(const Vec& a, int64_t n, const Vec& b, int64_t m, const PoseSkeletonRef& sk);

// S(a, b) in float in the contract's evaluation order; a, b point at (joints, 2) floats.
float pose_similarity_f32(const float* a, const float* b, const PoseSkeletonRef& sk);

struct PoseBankRef {
  std::vector<int32_t> frames;   // (num_seq, capacity), -1 empty
  std::vector<float> as;         // (num_seq, capacity), 0 empty
  std::vector<int32_t> size;     // (num_seq)
  std::vector<int32_t> history;  // (total, capacity)
};

// Algorithm 1 over each sequence; poses: (offsets.back(), joints, 2).
PoseBankRef pose_bank(const std::vector<float>& poses, const std::vector<int32_t>& offsets,
                      const PoseSkeletonRef& sk, int capacity, float threshold,
                      bool offered = false);

struct PoseFuseRef {
  std::vector<int32_t> index_map;  // (total, 2r + 1)
  std::vector<int32_t> fused;      // (total)
};

// The fusion rules beside the default (kernels/pose_bank.h's PosePlacement and PoseGate values).
struct FuseRuleRef {
  int placement = 0;  // 0 next to the centre, 1 least similar, 2 outermost
  int gate = 0;       // 0 off, 1 mean, 2 min
  float gate_threshold = 0.7f;
  bool causal = false;  // the window ends at its frame: centre slot 2r, no future half
};

// banks: (rows, capacity); bank_row: (total).
PoseFuseRef pose_bank_fuse(const std::vector<float>& poses, const std::vector<int32_t>& offsets,
                           const PoseSkeletonRef& sk, int radius, float fusion_threshold,
                           int max_insert, int capacity, const std::vector<int32_t>& banks,
                           const std::vector<int32_t>& bank_row, const FuseRuleRef& rule = {});

}  // namespace v3d::ref
