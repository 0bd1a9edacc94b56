// The loader of an experiment's sequences (trainer/sequences.h).
#include "trainer/sequences.h"

#include <filesystem>
#include <type_traits>
#include <variant>

#include "data/dataset.h"
#include "data/synth.h"
#include "kernels/common.h"

namespace v3d {

LoadedSequences load_sequences(const DataConfig& d, Split split) {
  const std::vector<std::string>& subjects =
      split == Split::kTrain ? d.train_subjects : d.test_subjects;
  const data::Dataset dataset = std::visit(
      [&](const auto& source) -> data::Dataset {
        using T = std::decay_t<decltype(source)>;
        if constexpr (std::is_same_v<T, SyntheticSourceConfig>) {
          data::SynthOptions o;
          o.seed = source.seed;
          o.frames_per_action = source.frames;
          o.subjects = subjects;
          return data::synthesize(o);
        } else {
          V3D_REQUIRE(std::filesystem::exists(source.path),
                      "data.source.path: " << source.path << ": no such file");
          data::ReadFilter filter;
          filter.subjects = subjects;
          filter.actions = d.actions;
          filter.positions_2d = !d.ground_truth_2d;
          return data::read_dataset(source.path, filter);
        }
      },
      d.source);
  data::PrepareSpec spec;
  spec.subjects = subjects;
  spec.actions = d.actions;
  spec.subset = split == Split::kTrain ? d.subset : 1.0;
  spec.downsample = d.downsample;
  spec.ground_truth_2d = d.ground_truth_2d;
  spec.pseudo_coco = d.keypoints == Keypoints::kPseudoCoco;
  if (d.keypoints == Keypoints::kCoco17) spec.keypoints_2d = "coco17";
  if (d.keypoints == Keypoints::kMpii16) spec.keypoints_2d = "mpii16";
  return {data::prepare_sequences(dataset, spec), dataset.skeleton};
}

const data::Skeleton& keypoint_skeleton(Keypoints keypoints) {
  switch (keypoints) {
    case Keypoints::kPseudoCoco:
    case Keypoints::kCoco17:
      return data::Skeleton::coco17();
    case Keypoints::kMpii16:
      return data::Skeleton::mpii16();
    case Keypoints::kH36m17:
      break;
  }
  return data::Skeleton::h36m17();
}

}  // namespace v3d
