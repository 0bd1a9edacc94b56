// `v3d ltb`'s output: the long-term pose bank and the fused windows of a plan (trainer/ltb.h) in
// HDF5, for inspection and independent checking (docs/long-term-bank.md documents the file).
#pragma once

#include <string>
#include <vector>

#include "trainer/ltb.h"

namespace v3d {

// `v3d ltb`'s output (docs/long-term-bank.md): root attributes format "v3d-ltb", version 1 and the
// settings; per sequence k, group /<names[k]> with history (T, capacity) int32 (the slots after
// every frame; -1 = empty), bank_frames (capacity) int32, bank_as (capacity) float32, index_map
// (T, 2r + 1) int32 and fused (T) int32, and attribute bank_size. The plan needs its history.
// Atomic.
void write_ltb_h5(const std::string& path, const std::vector<std::string>& names,
                  const LtbPlan& plan, const LtbOptions& options);

}  // namespace v3d
