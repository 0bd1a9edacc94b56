// The typed experiment configuration: one YAML file per experiment (configs/*.yaml), overridden
// from the command line with `--set key.sub=value`, stored verbatim in checkpoints (to_yaml).
//
// Each key is declared once: its member here (with its default) and one entry of the field table
// in config.cpp (path, member, check, doc), which drives reading, validation, to_yaml and the key
// tables of docs/config.md (config_reference_markdown; a test fails when the docs drift).
//
// Strict by design (STYLE.md point 13): an unknown key, a value of the wrong type, a value out of
// range or an unknown `type:` is an error, one line that names where it came from (the file and
// line, or the --set argument), the key path, and the valid keys, types or range.
//
// Components with a choice are picked by a `type:` name from a registry (config_types()). Today
// that is the data source, `data.source: {type: synthetic | h5, ...}`, whose keys depend on the
// type. Plain enumerations (data.keypoints, ltb.mode, ltb.center, eval.metrics) are enums with one
// name table each (trainer/enum_names.h); the training-data mode, a small grammar
// ("Sample3/5/7+Sequential"), stays a string checked by data::parse_resample_mode.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "kernels/temporal_conv.h"
#include "runtime/temporal_conv.h"
#include "trainer/enum_names.h"
#include "trainer/metrics.h"

namespace v3d {

// data.keypoints: the 2D layout the network reads: the skeleton's own (h36m17), COCO-17 made from
// it (pseudo_coco), or a detector's stored COCO-17 or MPII-16 keypoints (coco17, mpii16: a file
// whose keypoints_2d is that layout).
enum class Keypoints { kH36m17, kPseudoCoco, kCoco17, kMpii16 };
template <>
struct EnumTable<Keypoints> {
  static constexpr EnumName<Keypoints> kNames[] = {{Keypoints::kH36m17, "h36m17"},
                                                   {Keypoints::kPseudoCoco, "pseudo_coco"},
                                                   {Keypoints::kCoco17, "coco17"},
                                                   {Keypoints::kMpii16, "mpii16"}};
};

// ltb.mode: the bank from the whole sequence, or from the frames up to the current one.
enum class LtbMode { kOffline, kOnline };
template <>
struct EnumTable<LtbMode> {
  static constexpr EnumName<LtbMode> kNames[] = {{LtbMode::kOffline, "offline"},
                                                 {LtbMode::kOnline, "online"}};
};

// ltb.center: the similarity's reference point.
enum class LtbCenter { kCentroid, kRoot };
template <>
struct EnumTable<LtbCenter> {
  static constexpr EnumName<LtbCenter> kNames[] = {{LtbCenter::kCentroid, "centroid"},
                                                   {LtbCenter::kRoot, "root"}};
};

// model.conv_backend: the GPU implementation of the convolutions (runtime/temporal_conv.h).
template <>
struct EnumTable<ops::ConvBackendChoice> {
  static constexpr EnumName<ops::ConvBackendChoice> kNames[] = {
      {ops::ConvBackendChoice::kV3d, "v3d"},
      {ops::ConvBackendChoice::kCublasLt, "cublaslt"},
      {ops::ConvBackendChoice::kAuto, "auto"}};
};

// model.conv_tile: the block tile of our tensor-core kernels under model.conv_backend: v3d.
template <>
struct EnumTable<kernels::ConvTile> {
  static constexpr EnumName<kernels::ConvTile> kNames[] = {{kernels::ConvTile::kDefault, "default"},
                                                           {kernels::ConvTile::kNarrow, "narrow"},
                                                           {kernels::ConvTile::kWide, "wide"},
                                                           {kernels::ConvTile::kHopper, "hopper"}};
};

// ltb.preset: a named set of the bank's readings (docs/long-term-bank.md, "Readings"). `v3d` is the
// reading v3d implemented first, `paper` the paper-literal one, `validated` (the defaults) the
// reading chosen on held-out training subjects (docs/results.md).
enum class LtbPreset { kV3d, kPaper, kValidated };
template <>
struct EnumTable<LtbPreset> {
  static constexpr EnumName<LtbPreset> kNames[] = {
      {LtbPreset::kValidated, "validated"}, {LtbPreset::kV3d, "v3d"}, {LtbPreset::kPaper, "paper"}};
};

// ltb.placement: which window slots the fused poses take.
enum class LtbPlacement { kNextToCenter, kLeastSimilar, kOutermost };
template <>
struct EnumTable<LtbPlacement> {
  static constexpr EnumName<LtbPlacement> kNames[] = {
      {LtbPlacement::kNextToCenter, "next_to_center"},
      {LtbPlacement::kLeastSimilar, "least_similar"},
      {LtbPlacement::kOutermost, "outermost"}};
};

// ltb.gate: the local window's similarity to its centre that gates the fusion.
enum class LtbGate { kNone, kMean, kMin };
template <>
struct EnumTable<LtbGate> {
  static constexpr EnumName<LtbGate> kNames[] = {
      {LtbGate::kNone, "none"}, {LtbGate::kMean, "mean"}, {LtbGate::kMin, "min"}};
};

// ltb.accumulate: what an entry's accumulated similarity AS sums.
enum class LtbAccumulate { kEntries, kOffered };
template <>
struct EnumTable<LtbAccumulate> {
  static constexpr EnumName<LtbAccumulate> kNames[] = {{LtbAccumulate::kEntries, "entries"},
                                                       {LtbAccumulate::kOffered, "offered"}};
};

// VideoPose3D's TemporalModel (VideoPose3D common/model.py, TemporalModel).
struct ModelConfig {
  std::vector<int> filter_widths = {3, 3, 3};  // odd, >= 1; the first is the expand layer
  int channels = 1024;                         // >= 1
  double dropout = 0.25;                       // [0, 1)
  bool causal = false;
  // Not part of the architecture: a checkpoint runs under any backend and tile.
  ops::ConvBackendChoice conv_backend = ops::ConvBackendChoice::kV3d;
  kernels::ConvTile conv_tile = kernels::ConvTile::kDefault;

  int64_t receptive_field() const;  // product of filter_widths (27, 81, 243 for 3,3,3(,3(,3)))
  int64_t pad() const { return (receptive_field() - 1) / 2; }
  friend bool operator==(const ModelConfig&, const ModelConfig&) = default;
};

// data.source, type "synthetic": data::synthesize on the fly (all seven subjects, all actions).
struct SyntheticSourceConfig {
  static constexpr const char* kType = "synthetic";
  uint64_t seed = 1;
  int64_t frames = 600;  // frames per action, >= 1
  friend bool operator==(const SyntheticSourceConfig&, const SyntheticSourceConfig&) = default;
};

// data.source, type "h5": a v3d HDF5 dataset file (docs/data-format.md).
struct H5SourceConfig {
  static constexpr const char* kType = "h5";
  std::string path;  // required, non-empty
  friend bool operator==(const H5SourceConfig&, const H5SourceConfig&) = default;
};

// The registry of data sources: the alternatives in config_types("data.source") order.
using DataSourceConfig = std::variant<SyntheticSourceConfig, H5SourceConfig>;
std::string source_type(const DataSourceConfig& source);  // its kType

struct DataConfig {
  DataSourceConfig source;                                                   // default: synthetic
  std::vector<std::string> train_subjects = {"S1", "S5", "S6", "S7", "S8"};  // non-empty
  std::vector<std::string> test_subjects = {"S9", "S11"};                    // non-empty
  std::vector<std::string> actions;  // prefix filter (VideoPose3D's startswith); empty = all
  double subset = 1.0;               // (0, 1], fraction of each training sequence
  int downsample = 1;                // >= 1
  Keypoints keypoints = Keypoints::kH36m17;
  bool ground_truth_2d = false;  // 2D projected from the 3D even where detections are stored
  friend bool operator==(const DataConfig&, const DataConfig&) = default;
};

struct BnMomentumConfig {
  double start = 0.1;  // (0, 1]
  double end = 0.001;  // (0, 1]
  friend bool operator==(const BnMomentumConfig&, const BnMomentumConfig&) = default;
};

// VideoPose3D's semi-supervised training (run.py `-sun`; docs/training.md): the subjects of
// data.train_subjects are labelled (3D loss), these are seen through their 2D and cameras only.
struct SemiSupervisedConfig {
  bool enabled = false;
  std::vector<std::string> unlabelled_subjects;  // distinct, none in data.train_subjects
  int warmup_epochs = 1;                         // >= 0, supervised-only epochs first
  double projection_weight = 1.0;                // >= 0, the 2D reprojection loss
  double bone_length_weight = 1.0;               // >= 0, the bone-length term
  bool linear_projection = false;                // project without lens distortion
  friend bool operator==(const SemiSupervisedConfig&, const SemiSupervisedConfig&) = default;
};

// VideoPose3D's recipe (VideoPose3D run.py) with the paper's resampling modes.
struct TrainConfig {
  int epochs = 80;               // >= 1
  int64_t batch_size = 1024;     // >= 1, in output frames (windows)
  double lr = 1e-3;              // > 0
  double lr_decay = 0.95;        // (0, 1], multiplied in after every epoch
  BnMomentumConfig bn_momentum;  // decays from start to end over the epochs
  bool flip = true;              // train-time horizontal flip
  // The arithmetic of the convolutions' three passes: "fp32", "tf32" or "bf16" (parse_precision).
  std::string precision = "fp32";
  bool sync_bn = false;  // data parallel: BN statistics over all ranks
  // Data parallel: "auto" (MPI between CPU ranks, NCCL between GPU ranks, nothing alone) or
  // "nccl" (NCCL even for a job of one rank: the device check).
  std::string communicator = "auto";
  // Data parallel: the gradient all-reduce's bucket size in MiB (>= 0); buckets start during the
  // backward pass as their gradients complete. 0: one all-reduce after the backward pass.
  double bucket_mb = 25.0;
  std::string mode = "Sequential";  // data::parse_resample_mode names
  uint64_t seed = 1234;
  std::string checkpoint_dir = "checkpoint";
  int checkpoint_every = 10;  // >= 1, epochs
  SemiSupervisedConfig semi_supervised;
  friend bool operator==(const TrainConfig&, const TrainConfig&) = default;
};

struct EvalConfig {
  std::vector<int> test_intervals = {1, 3, 5, 7};  // "TD N", each >= 1, distinct, non-empty
  bool flip_tta = true;                            // test-time flip augmentation
  // Distinct, non-empty.
  std::vector<Metric> metrics = {Metric::kMpjpe, Metric::kPMpjpe, Metric::kNMpjpe, Metric::kMpjve};
  friend bool operator==(const EvalConfig&, const EvalConfig&) = default;
};

// Long-term pose bank (docs/long-term-bank.md, trainer/ltb.h): the settings of `v3d eval --ltb`,
// `v3d infer --ltb`, `v3d ltb` and `v3d ltb-sweep`; enabled turns it on in eval and infer.
// The defaults are the `validated` preset; reading `preset` sets every key of the reading (all but
// enabled and preset), and the keys given with it override it (apply_ltb_preset).
struct LtbConfig {
  bool enabled = false;
  LtbPreset preset = LtbPreset::kValidated;
  int capacity = 80;       // entries, in [1, kernels::kPoseBankMaxCapacity = 256]
  double threshold = 0.7;  // insertion: rejected when max similarity >= threshold; <= 1
  LtbAccumulate accumulate = LtbAccumulate::kEntries;
  double fusion_threshold = 0.7;  // fusion candidates need similarity >= this; <= 1
  int max_insert = 2;             // poses fused into a window; -1 = the radius (RF-1)/2; >= -1
  LtbPlacement placement = LtbPlacement::kLeastSimilar;
  LtbGate gate = LtbGate::kMin;
  double gate_threshold = 0.7;  // fuse only when the gate's similarity is below this
  LtbMode mode = LtbMode::kOffline;
  LtbCenter center = LtbCenter::kCentroid;
  friend bool operator==(const LtbConfig&, const LtbConfig&) = default;
};

// The preset's reading: every LtbConfig key except enabled, which keeps its value.
LtbConfig ltb_preset(LtbPreset preset, bool enabled = false);
// The config keys (without "ltb.") a preset sets.
const std::vector<std::string>& ltb_preset_keys();

struct ExperimentConfig {
  // The device of every subcommand (parse_device forms: cpu, cuda, cuda:N, emu, emu:N); a command's
  // --device overrides it. Checkpoints written before it existed store it as train.device.
  std::string device = "cpu";
  // The CPU GEMM kernel of `v3d train` (kernels/gemm_kernel.h names); "" = OPENBLAS_CORETYPE when
  // set, else chosen from the CPU's features. A machine setting: commands that restore a
  // checkpoint do not take it from the checkpoint (they take --blas).
  std::string blas;
  ModelConfig model;
  DataConfig data;
  TrainConfig train;
  EvalConfig eval;
  LtbConfig ltb;
  friend bool operator==(const ExperimentConfig&, const ExperimentConfig&) = default;
};

// Reads `path`, applies `overrides` ("key.sub=value", in order, later ones win) and validates.
// Keys the file leaves out keep their defaults. A list value in an override is comma-separated
// ("model.filter_widths=3,3,3,3", "data.actions=" for the empty list) or a YAML flow sequence
// ("[3, 3, 3]"). Throws v3d::Error, one line, on any unknown key, wrong type, out-of-range value,
// unknown type name, malformed override or unreadable file.
ExperimentConfig load_config(const std::string& path,
                             const std::vector<std::string>& overrides = {});
// The same from YAML text; `origin` names it in errors (e.g. a checkpoint's file name).
ExperimentConfig parse_config(const std::string& yaml, const std::string& origin,
                              const std::vector<std::string>& overrides = {});

// Every key with its value, in docs/config.md's order; parse_config(to_yaml(c), ...) == c for
// every valid c (doubles are written with enough digits to round-trip exactly).
std::string to_yaml(const ExperimentConfig& config);

// train.precision's names: "fp32", "tf32", "bf16" -> the convolutions' ConvMath; throws naming
// the valid ones otherwise.
kernels::ConvMath parse_precision(const std::string& name);

// Throws v3d::Error naming the first key whose value is out of range (for configs built in code;
// load_config already calls it).
void validate_config(const ExperimentConfig& config);

// The key tables of docs/config.md ("## Every key"), generated from the field table: the text
// between the markers kConfigDocsBegin and kConfigDocsEnd there.
std::string config_reference_markdown();
inline constexpr const char* kConfigDocsBegin =
    "<!-- generated from trainer/config.cpp by v3d_config_docs: begin -->\n";
inline constexpr const char* kConfigDocsEnd = "<!-- generated: end -->\n";

// The registry of `type:` names: for the component at `key` (e.g. "data.source"), the valid
// types in documentation order; throws for a key that is not a component.
const std::vector<std::string>& config_types(const std::string& key);

}  // namespace v3d
