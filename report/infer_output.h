// Output of inference (`v3d infer`): 3D poses per input sequence, written as
//
//   write_infer_h5   /<name>/positions_3d (N, J, 3) float32, and
//   write_infer_csv  name,frame,joint,x,y,z rows,
//
// both atomic (data/atomic_file.h). Errors are one v3d::Error line naming the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/infer_input.h"

namespace v3d {

struct InferResult {
  std::string name;
  std::string track;  // the input's person track ("" when it has none)
  int64_t frames = 0;
  int joints = 0;
  int64_t first_frame = 0;
  std::vector<float> positions_3d;  // (frames, joints, 3), camera space, metres, root-relative
};

// One result per input (its name, track, frames and first frame) with its poses ((frames, joints,
// 3) each, as infer_3d returns them; moved in). Throws when the counts differ.
std::vector<InferResult> infer_results(const std::vector<data::InferInput>& inputs,
                                       std::vector<std::vector<float>> poses, int joints);

// /<name>/positions_3d (frames, joints, 3) float32 with attribute first_frame (int64) and, for a
// result with a track, attribute track (string); root
// attributes format "v3d-infer", version 1. Atomic; names must be distinct, non-empty, and have
// no empty, "." or ".." '/'-separated component.
void write_infer_h5(const std::string& path, const std::vector<InferResult>& results);
// Header "name,frame,joint,x,y,z", one row per joint and frame; frame = first_frame + row;
// names quoted as RFC 4180 when they hold a comma, quote or line break; values %.9g (exact
// float round trip). Atomic.
void write_infer_csv(const std::string& path, const std::vector<InferResult>& results);

}  // namespace v3d
