// From a Dataset to training batches and evaluation inputs, as VideoPose3D's run.py and
// common/generators.py, plus the paper's interval resampling (V3D-LSFM, "Data augmentation",
// Tables 3-4). Three parts, each its own header:
//   data/prepare.h     Sequence, prepare_sequences (camera space, normalised 2D, subset,
//                      downsample), validate_sequence, flip_poses
//   data/windows.h     training windows: the resampling modes and WindowGenerator
//   data/eval_input.h  "TD N" phases (split_phases) and unchunked input (make_eval_input)
// (data/sha256.h holds the SHA-256 behind VideoPose3D's deterministic subset start.)
#pragma once

#include "data/eval_input.h"
#include "data/prepare.h"
#include "data/windows.h"
