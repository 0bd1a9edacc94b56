// Tensor-level Long-term Pose Bank operations (kernels/pose_bank.h has the exact contract):
// similarity, bank maintenance, fusion into a (T, 2r + 1) index map, and the gather of fused
// windows. Every tensor of one call lives on one device (cpu, cuda or emu); int32 tensors carry
// offsets, frames and maps. Shape errors name the op and the argument before any kernel runs.
// Index contents (offsets, parents, bank_row, rows, row_base, index_map) are the caller's to build
// valid on the host; kernels check them where they read them: on the CPU the call throws, on a GPU
// the error (naming the op and the index) is thrown by the device's next synchronisation
// (runtime/device_error.h), and the outputs of that call are unspecified.
//
//   poses:   (total, J, 2) float32, sequences packed along frames
//   offsets: (num_seq + 1) int32, sequence k = frames offsets[k] .. offsets[k + 1] - 1
//   parents: (J) int32, the skeleton's parent of each joint, -1 for the root
#pragma once

#include "kernels/pose_bank.h"
#include "runtime/tensor.h"

namespace v3d::ops {

struct PoseBankOutput {
  Tensor frames;   // (num_seq, capacity) int32: each slot's local source frame, -1 when empty
  Tensor as;       // (num_seq, capacity) float32: accumulated similarity, 0 when empty
  Tensor size;     // (num_seq) int32
  Tensor history;  // (total, capacity) int32, the slots after each frame; undefined unless asked
};

// a: (N, J, 2), b: (M, J, 2) -> (N, M) float32, s[n, m] = S(a_n, b_m).
Tensor pose_similarity(const Tensor& a, const Tensor& b, const Tensor& parents,
                       kernels::PoseCenter center);

// Algorithm 1 over every sequence (one thread block per sequence on a GPU).
PoseBankOutput pose_bank(const Tensor& poses, const Tensor& offsets, const Tensor& parents,
                         kernels::PoseCenter center, const kernels::PoseBankSettings& settings,
                         bool with_history);

// banks: (rows, capacity) int32 (offline: the final banks, bank_row[g] = g's sequence; online:
// the history, bank_row[g] = g); bank_row: (total) int32
// -> index map (total, 2r + 1) int32.
// fused (optional, defined): (total) int32 set to 1 where the window differs from the plain one.
Tensor pose_bank_fuse(const Tensor& poses, const Tensor& offsets, const Tensor& parents,
                      kernels::PoseCenter center, const kernels::PoseFuseSettings& settings,
                      const Tensor& banks, const Tensor& bank_row, const Tensor& fused = Tensor());

// src: (total, C) or (total, J, 2) float32; index_map: (total, W) int32; rows, row_base: (n) int32
// -> (n, W, C) or (n, W, J, 2) float32 with out[k, w] = src[row_base[k] + index_map[rows[k], w]].
Tensor window_gather(const Tensor& src, const Tensor& index_map, const Tensor& rows,
                     const Tensor& row_base);

}  // namespace v3d::ops
