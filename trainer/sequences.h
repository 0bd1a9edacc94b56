// The sequences of an experiment's data, one loader for training and evaluation: the config's
// source (synthetic: data::synthesize; h5: data::read_dataset) read for the split's subjects and
// data.actions, then data::prepare_sequences (downsample, ground-truth 2D, data.keypoints).
//   kTrain  data.train_subjects, data.subset
//   kTest   data.test_subjects, every frame (VideoPose3D subsets the training set only)
#pragma once

#include <vector>

#include "data/prepare.h"
#include "data/skeleton.h"
#include "trainer/config.h"

namespace v3d {

enum class Split { kTrain, kTest };

struct LoadedSequences {
  std::vector<data::Sequence> sequences;
  data::Skeleton joints;  // the dataset's 3D skeleton
};

// Throws v3d::Error, one line, on a missing or unreadable file or an empty selection.
LoadedSequences load_sequences(const DataConfig& data, Split split);

// The 2D layout the network reads: H36M-17, or COCO-17 for pseudo_coco.
const data::Skeleton& keypoint_skeleton(Keypoints keypoints);

}  // namespace v3d
