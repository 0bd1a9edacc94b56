// The experiment config: defaults, every file in configs/, strictness (unknown keys and types,
// wrong types, ranges), --set overrides and the to_yaml round trip.
#include "trainer/config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "kernels/common.h"

namespace v3d {
namespace {

// The message of the v3d::Error that parsing `yaml` with `overrides` throws ("" if none).
std::string error_of(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  try {
    parse_config(yaml, "test.yaml", overrides);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_ERROR_HAS(message, text)                                                \
  do {                                                                                 \
    const std::string v3d_msg_ = (message);                                            \
    EXPECT_NE(v3d_msg_.find(text), std::string::npos) << "message: " << v3d_msg_;      \
    EXPECT_EQ(v3d_msg_.find('\n'), std::string::npos) << "not one line: " << v3d_msg_; \
  } while (0)

TEST(Config, DefaultsAreVideoPose3DsRecipe) {
  const ExperimentConfig c = parse_config("", "empty.yaml");
  EXPECT_EQ(c, ExperimentConfig{});
  EXPECT_EQ(c.model.filter_widths, (std::vector<int>{3, 3, 3}));
  EXPECT_EQ(c.model.receptive_field(), 27);
  EXPECT_EQ(c.model.pad(), 13);
  EXPECT_EQ(c.model.channels, 1024);
  EXPECT_DOUBLE_EQ(c.model.dropout, 0.25);
  EXPECT_FALSE(c.model.causal);
  EXPECT_EQ(source_type(c.data.source), "synthetic");
  EXPECT_EQ(c.data.train_subjects, (std::vector<std::string>{"S1", "S5", "S6", "S7", "S8"}));
  EXPECT_EQ(c.data.test_subjects, (std::vector<std::string>{"S9", "S11"}));
  EXPECT_TRUE(c.data.actions.empty());
  EXPECT_EQ(to_string(c.data.keypoints), std::string("h36m17"));
  EXPECT_EQ(c.train.epochs, 80);
  EXPECT_EQ(c.train.batch_size, 1024);
  EXPECT_DOUBLE_EQ(c.train.lr, 1e-3);
  EXPECT_DOUBLE_EQ(c.train.lr_decay, 0.95);
  EXPECT_DOUBLE_EQ(c.train.bn_momentum.start, 0.1);
  EXPECT_DOUBLE_EQ(c.train.bn_momentum.end, 0.001);
  EXPECT_TRUE(c.train.flip);
  EXPECT_EQ(c.train.mode, "Sequential");
  EXPECT_EQ(c.train.seed, 1234u);
  EXPECT_EQ(c.device, "cpu");
  EXPECT_EQ(c.eval.test_intervals, (std::vector<int>{1, 3, 5, 7}));
  EXPECT_TRUE(c.eval.flip_tta);
  EXPECT_EQ(c.ltb.capacity, 80);
  EXPECT_EQ(to_string(c.ltb.mode), std::string("offline"));
  EXPECT_NO_THROW(validate_config(ExperimentConfig{}));
  // Empty sections are allowed and mean "all defaults".
  EXPECT_EQ(parse_config("model:\nltb: {}\n", "t.yaml"), ExperimentConfig{});
}

TEST(Config, EveryFileInConfigsParsesAndRoundTrips) {
  const std::filesystem::path dir = std::filesystem::path(V3D_SOURCE_DIR) / "configs";
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml") continue;
    SCOPED_TRACE(entry.path().string());
    names.push_back(entry.path().filename().string());
    ExperimentConfig c;
    ASSERT_NO_THROW(c = load_config(entry.path().string()));
    EXPECT_EQ(parse_config(to_yaml(c), "round trip"), c);
  }
  for (const char* expected :
       {"demo.yaml", "paper_27f_sequential.yaml", "paper_27f_sequential_x2.yaml",
        "paper_27f_sample5_sequential.yaml", "paper_27f_sample357_sequential.yaml",
        "videopose3d_81f.yaml", "videopose3d_243f.yaml"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
  }
  const std::string d = (dir / "").string();
  EXPECT_EQ(load_config(d + "paper_27f_sample357_sequential.yaml").train.mode,
            "Sample3/5/7+Sequential");
  EXPECT_EQ(load_config(d + "paper_27f_sequential_x2.yaml").train.mode, "Sequential x2");
  EXPECT_EQ(load_config(d + "videopose3d_81f.yaml").model.receptive_field(), 81);
  EXPECT_EQ(load_config(d + "videopose3d_243f.yaml").model.receptive_field(), 243);
  EXPECT_EQ(source_type(load_config(d + "demo.yaml").data.source), "synthetic");
}

TEST(Config, MissingFileIsAnError) {
  try {
    load_config("/nonexistent/x.yaml");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_ERROR_HAS(e.what(), "/nonexistent/x.yaml: cannot open");
  }
}

TEST(Config, UnknownKeysListTheValidOnes) {
  const std::string e1 = error_of("model:\n  channels: 8\n  chanels: 8\n");
  EXPECT_ERROR_HAS(e1, "test.yaml:3: unknown key 'model.chanels'");
  EXPECT_ERROR_HAS(e1, "valid keys of section 'model': filter_widths, channels, dropout, causal");

  const std::string e2 = error_of("trian:\n  lr: 1\n");
  EXPECT_ERROR_HAS(e2, "test.yaml:1: unknown key 'trian'");
  EXPECT_ERROR_HAS(e2, "model, data, train, eval, ltb");

  const std::string e3 = error_of("train:\n  bn_momentum: {start: 0.1, stop: 0.01}\n");
  EXPECT_ERROR_HAS(e3, "unknown key 'train.bn_momentum.stop'");
  EXPECT_ERROR_HAS(e3, "start, end");

  const std::string e4 = error_of("", {"train.lrr=1e-4"});
  EXPECT_ERROR_HAS(e4, "--set train.lrr=1e-4: unknown key 'train.lrr'");
  EXPECT_ERROR_HAS(e4, "epochs, batch_size, lr, lr_decay");

  const std::string e5 = error_of("model:\n  channels: 1\n  channels: 2\n");
  EXPECT_ERROR_HAS(e5, "duplicate key 'model.channels'");
}

TEST(Config, DataSourceTypeRegistry) {
  EXPECT_EQ(config_types("data.source"), (std::vector<std::string>{"synthetic", "h5"}));
  EXPECT_THROW(config_types("model"), Error);

  const ExperimentConfig h5 = parse_config("data:\n  source: {type: h5, path: a.h5}\n", "t");
  ASSERT_TRUE(std::holds_alternative<H5SourceConfig>(h5.data.source));
  EXPECT_EQ(std::get<H5SourceConfig>(h5.data.source).path, "a.h5");

  const ExperimentConfig syn = parse_config("data:\n  source: {seed: 7, frames: 50}\n", "t");
  ASSERT_TRUE(std::holds_alternative<SyntheticSourceConfig>(syn.data.source));
  EXPECT_EQ(std::get<SyntheticSourceConfig>(syn.data.source).seed, 7u);
  EXPECT_EQ(std::get<SyntheticSourceConfig>(syn.data.source).frames, 50);

  EXPECT_ERROR_HAS(error_of("data:\n  source: {type: npz}\n"),
                   "unknown data.source type 'npz'; valid types: synthetic, h5");
  // Keys belong to their type: a synthetic key under h5 is unknown.
  const std::string e = error_of("data:\n  source: {type: h5, path: a.h5, seed: 3}\n");
  EXPECT_ERROR_HAS(e, "unknown key 'data.source.seed'");
  EXPECT_ERROR_HAS(e, "(type h5): type, path");
  EXPECT_ERROR_HAS(error_of("data:\n  source: {type: h5}\n"), "'data.source.path' must name");
  // Switching type from the command line: replace the whole map.
  const ExperimentConfig sw = parse_config("data:\n  source: {type: h5, path: a.h5}\n", "t",
                                           {"data.source={type: synthetic}"});
  EXPECT_TRUE(std::holds_alternative<SyntheticSourceConfig>(sw.data.source));
}

TEST(Config, Overrides) {
  const std::string file = "model:\n  filter_widths: [3, 3, 3]\ntrain:\n  lr: 1.0e-3\n";
  const ExperimentConfig c =
      parse_config(file, "t",
                   {"train.lr=5e-4", "model.filter_widths=3,3,3,3", "train.bn_momentum.end=0.01",
                    "data.actions=Walking, Sitting", "train.mode=Sample5+Sequential",
                    "eval.flip_tta=false", "data.source.seed=9", "train.seed=18446744073709551615",
                    "eval.test_intervals=[1, 5]", "train.lr=2e-4"});
  EXPECT_DOUBLE_EQ(c.train.lr, 2e-4);  // the last override wins
  EXPECT_EQ(c.model.filter_widths, (std::vector<int>{3, 3, 3, 3}));
  EXPECT_EQ(c.model.receptive_field(), 81);
  EXPECT_DOUBLE_EQ(c.train.bn_momentum.end, 0.01);
  EXPECT_DOUBLE_EQ(c.train.bn_momentum.start, 0.1);
  EXPECT_EQ(c.data.actions, (std::vector<std::string>{"Walking", "Sitting"}));
  EXPECT_EQ(c.train.mode, "Sample5+Sequential");
  EXPECT_FALSE(c.eval.flip_tta);
  EXPECT_EQ(std::get<SyntheticSourceConfig>(c.data.source).seed, 9u);
  EXPECT_EQ(c.train.seed, 18446744073709551615u);
  EXPECT_EQ(c.eval.test_intervals, (std::vector<int>{1, 5}));

  // An empty value empties a list.
  EXPECT_TRUE(
      parse_config("data:\n  actions: [Walking]\n", "t", {"data.actions="}).data.actions.empty());

  EXPECT_ERROR_HAS(error_of("", {"train.lr"}), "--set train.lr: expected key.sub=value");
  EXPECT_ERROR_HAS(error_of("", {"train..lr=1"}), "empty component");
  EXPECT_ERROR_HAS(error_of("", {"train.lr.x=1"}),
                   "--set train.lr.x=1: 'train.lr' must be a finite number, got a map");
  EXPECT_ERROR_HAS(error_of("train:\n  lr: 0.1\n", {"train.lr.x=1"}),
                   "--set train.lr.x=1: 'train.lr' is not a section");
  EXPECT_ERROR_HAS(error_of("", {"model.filter_widths=3,x,3"}),
                   "--set model.filter_widths=3,x,3: 'model.filter_widths' must be a list of an "
                   "integer");
}

TEST(Config, LtbPresets) {
  // The v3d preset, key by key: the reading v3d implemented first, the defaults of earlier
  // releases (Ltb.PresetsAsOptions pins it against the kernel options of that reading).
  const LtbConfig v3d{.enabled = false,
                      .preset = LtbPreset::kV3d,
                      .capacity = 80,
                      .threshold = 0.7,
                      .accumulate = LtbAccumulate::kEntries,
                      .fusion_threshold = 0.7,
                      .max_insert = -1,
                      .placement = LtbPlacement::kNextToCenter,
                      .gate = LtbGate::kNone,
                      .gate_threshold = 0.7,
                      .mode = LtbMode::kOffline,
                      .center = LtbCenter::kCentroid};
  EXPECT_EQ(ltb_preset(LtbPreset::kV3d), v3d);
  EXPECT_EQ(parse_config("ltb: {preset: v3d}\n", "t").ltb, v3d);
  // The paper preset: the v3d reading plus the incoherence gate (min over the local frames, 0.7).
  LtbConfig paper = v3d;
  paper.preset = LtbPreset::kPaper;
  paper.gate = LtbGate::kMin;
  EXPECT_EQ(ltb_preset(LtbPreset::kPaper), paper);
  EXPECT_EQ(parse_config("ltb: {preset: paper}\n", "t").ltb, paper);
  // The validated preset is the defaults, exactly: the paper preset with at most two poses per
  // window, each replacing a local frame least similar to the centre (docs/results.md).
  LtbConfig validated = paper;
  validated.preset = LtbPreset::kValidated;
  validated.max_insert = 2;
  validated.placement = LtbPlacement::kLeastSimilar;
  EXPECT_EQ(ltb_preset(LtbPreset::kValidated), validated);
  EXPECT_EQ(LtbConfig{}, validated);
  EXPECT_EQ(parse_config("ltb: {preset: validated}\n", "t"), ExperimentConfig{});
  EXPECT_EQ(
      parse_config("ltb: {preset: v3d, max_insert: 2, placement: least_similar, gate: min}\n", "t")
          .ltb.preset,
      LtbPreset::kV3d);
  // Keys given with the preset override it, in whatever order the file lists them; enabled is
  // not part of a reading.
  const LtbConfig c =
      parse_config("ltb:\n  gate: mean\n  enabled: true\n  preset: paper\n  placement: outermost\n",
                   "t")
          .ltb;
  EXPECT_TRUE(c.enabled);
  EXPECT_EQ(c.preset, LtbPreset::kPaper);
  EXPECT_EQ(c.gate, LtbGate::kMean);
  EXPECT_EQ(c.placement, LtbPlacement::kOutermost);
  EXPECT_DOUBLE_EQ(c.gate_threshold, 0.7);
  // --set ltb.preset replaces the reading given before it (a checkpoint writes every key), the
  // overrides after it still apply.
  ExperimentConfig custom;
  custom.ltb.enabled = true;
  custom.ltb.capacity = 40;
  custom.ltb.accumulate = LtbAccumulate::kOffered;
  custom.ltb.placement = LtbPlacement::kOutermost;
  const LtbConfig o =
      parse_config(to_yaml(custom), "ckpt",
                   {"ltb.max_insert=3", "ltb.preset=paper", "ltb.gate_threshold=0.5"})
          .ltb;
  LtbConfig want = ltb_preset(LtbPreset::kPaper, true);
  want.gate_threshold = 0.5;
  EXPECT_EQ(o, want);
  // Every reading key round-trips, and the preset keys are exactly the ltb keys but two.
  ExperimentConfig all;
  all.ltb = ltb_preset(LtbPreset::kPaper, true);
  all.ltb.accumulate = LtbAccumulate::kOffered;
  all.ltb.placement = LtbPlacement::kLeastSimilar;
  all.ltb.gate = LtbGate::kMean;
  all.ltb.gate_threshold = 0.25;
  EXPECT_EQ(parse_config(to_yaml(all), "t"), all);
  EXPECT_EQ(ltb_preset_keys().size(), 10u);
  for (const std::string& k : ltb_preset_keys())
    EXPECT_EQ(error_of("", {"ltb." + k + "=" +
                            (k == "accumulate"  ? "offered"
                             : k == "placement" ? "outermost"
                             : k == "gate"      ? "min"
                             : k == "mode"      ? "online"
                             : k == "center"    ? "root"
                                                : "1")}),
              "")
        << k;
  EXPECT_ERROR_HAS(error_of("ltb: {preset: vp3d}\n"), "'ltb.preset'");
  EXPECT_ERROR_HAS(error_of("", {"ltb.placement=centre"}), "next_to_center");
  EXPECT_ERROR_HAS(error_of("", {"ltb.gate_threshold=1e39"}),
                   "'ltb.gate_threshold' must be a finite float32");
}

TEST(Config, TypeErrorsNameKeyAndType) {
  EXPECT_ERROR_HAS(error_of("train:\n  epochs: many\n"),
                   "test.yaml:2: 'train.epochs' must be an integer, got 'many'");
  EXPECT_ERROR_HAS(error_of("train:\n  epochs: 1.5\n"), "'train.epochs' must be an integer");
  EXPECT_ERROR_HAS(error_of("train:\n  lr: fast\n"), "'train.lr' must be a finite number");
  EXPECT_ERROR_HAS(error_of("train:\n  lr: .nan\n"), "'train.lr' must be a finite number");
  EXPECT_ERROR_HAS(error_of("train:\n  flip: yes\n"),
                   "'train.flip' must be a boolean (true or false), got 'yes'");
  EXPECT_ERROR_HAS(error_of("train:\n  seed: -1\n"), "'train.seed' must be a non-negative integer");
  EXPECT_ERROR_HAS(error_of("train:\n  lr: [1]\n"),
                   "'train.lr' must be a finite number, got a list");
  EXPECT_ERROR_HAS(error_of("train:\n  lr:\n"), "got nothing (null)");
  EXPECT_ERROR_HAS(error_of("model:\n  filter_widths: [3, x]\n"),
                   "'model.filter_widths[1]' must be an integer");
  EXPECT_ERROR_HAS(error_of("model:\n  filter_widths: {a: 1}\n"), "got a map");
  EXPECT_ERROR_HAS(error_of("model: 3\n"), "'model' must be a map of keys");
  EXPECT_ERROR_HAS(error_of("[1, 2]\n"), "test.yaml: the config must be a map of sections");
  EXPECT_ERROR_HAS(error_of("model: [\n"), "test.yaml:");
  EXPECT_ERROR_HAS(error_of("", {"model.channels=4096x"}),
                   "--set model.channels=4096x: 'model.channels' must be an integer");
  EXPECT_ERROR_HAS(error_of("", {"model.channels=99999999999"}), "must be an integer");
}

TEST(Config, RangeErrors) {
  EXPECT_ERROR_HAS(error_of("train:\n  lr: -1e-3\n"),
                   "test.yaml:2: 'train.lr' must be in (0, 1], got -0.001");
  EXPECT_ERROR_HAS(error_of("", {"train.lr=0"}), "--set train.lr=0: 'train.lr' must be in (0, 1]");
  // Finite as a double but infinite as the float32 the optimizer takes.
  EXPECT_ERROR_HAS(error_of("train:\n  lr: 1e308\n"), "'train.lr' must be in (0, 1], got 1e+308");
  EXPECT_ERROR_HAS(error_of("", {"train.lr=2"}), "'train.lr' must be in (0, 1], got 2");
  EXPECT_ERROR_HAS(error_of("ltb:\n  threshold: 1e300\n"),
                   "'ltb.threshold' must be a finite float32");
  EXPECT_ERROR_HAS(error_of("", {"ltb.fusion_threshold=-1e39"}),
                   "'ltb.fusion_threshold' must be a finite float32");
  EXPECT_EQ(error_of("ltb:\n  threshold: -3.4e38\n"), "");
  EXPECT_ERROR_HAS(error_of("model:\n  filter_widths: [3, 4]\n"),
                   "'model.filter_widths' must hold odd widths >= 1, got 4");
  EXPECT_ERROR_HAS(error_of("model:\n  filter_widths: []\n"), "at least one width");
  EXPECT_ERROR_HAS(error_of("model:\n  dropout: 1\n"), "'model.dropout' must be in [0, 1)");
  EXPECT_ERROR_HAS(error_of("model:\n  dropout: -0.1\n"), "'model.dropout' must be in [0, 1)");
  EXPECT_ERROR_HAS(error_of("model:\n  channels: 0\n"), "'model.channels' must be >= 1");
  EXPECT_ERROR_HAS(error_of("train:\n  lr_decay: 1.5\n"), "'train.lr_decay' must be in (0, 1]");
  EXPECT_ERROR_HAS(error_of("train:\n  bn_momentum: {end: 0}\n"), "'train.bn_momentum.end'");
  EXPECT_ERROR_HAS(error_of("train:\n  epochs: 0\n"), "'train.epochs' must be >= 1");
  EXPECT_ERROR_HAS(error_of("train:\n  batch_size: -5\n"), "'train.batch_size' must be >= 1");
  EXPECT_ERROR_HAS(error_of("data:\n  subset: 0\n"), "'data.subset' must be in (0, 1]");
  EXPECT_ERROR_HAS(error_of("data:\n  downsample: 0\n"), "'data.downsample' must be >= 1");
  EXPECT_ERROR_HAS(error_of("data:\n  train_subjects: []\n"), "at least one subject");
  EXPECT_ERROR_HAS(error_of("data:\n  test_subjects: [S9, S9]\n"), "lists 'S9' twice");
  EXPECT_ERROR_HAS(error_of("data:\n  keypoints: coco\n"),
                   "'data.keypoints' is 'coco'; valid values: h36m17, pseudo_coco");
  EXPECT_ERROR_HAS(error_of("data:\n  source: {frames: 0}\n"), "'data.source.frames' must be >= 1");
  EXPECT_ERROR_HAS(error_of("train:\n  mode: Sample1+Sequential\n"),
                   "'train.mode' is invalid: unknown training-data mode 'Sample1+Sequential'");
  EXPECT_EQ(error_of("train:\n  mode: Sample1+Sequential\n").find("[check"), std::string::npos);
  EXPECT_ERROR_HAS(error_of("train:\n  device: tpu\n"), "'train.device' is invalid");
  EXPECT_ERROR_HAS(error_of("train:\n  checkpoint_every: 0\n"), "'train.checkpoint_every'");
  EXPECT_ERROR_HAS(error_of("eval:\n  test_intervals: [1, 0]\n"), "intervals >= 1, got 0");
  EXPECT_ERROR_HAS(error_of("eval:\n  test_intervals: [3, 3]\n"), "lists '3' twice");
  EXPECT_ERROR_HAS(error_of("eval:\n  metrics: [mpjpe, pck]\n"),
                   "'eval.metrics' is 'pck'; valid values: mpjpe, p_mpjpe, n_mpjpe, mpjve");
  EXPECT_ERROR_HAS(error_of("eval:\n  metrics: []\n"), "at least one metric");
  EXPECT_ERROR_HAS(error_of("ltb:\n  capacity: 0\n"), "'ltb.capacity' must be in [1, 256], got 0");
  EXPECT_ERROR_HAS(error_of("ltb:\n  capacity: 257\n"), "'ltb.capacity' must be in [1, 256]");
  EXPECT_ERROR_HAS(error_of("ltb:\n  max_insert: -2\n"), "'ltb.max_insert'");
  EXPECT_ERROR_HAS(error_of("ltb:\n  mode: batch\n"), "valid values: offline, online");
  EXPECT_ERROR_HAS(error_of("ltb:\n  center: mean\n"), "valid values: centroid, root");
  EXPECT_ERROR_HAS(error_of("model:\n  conv_tile: big\n"),
                   "valid values: default, narrow, wide, hopper");
  EXPECT_ERROR_HAS(error_of("train:\n  precision: fp16\n"),
                   "'train.precision' must be fp32, tf32 or bf16, got 'fp16'");

  ExperimentConfig c;
  c.model.filter_widths = {3, 2};
  try {
    validate_config(c);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_ERROR_HAS(e.what(), "config: 'model.filter_widths' must hold odd widths");
  }
}

TEST(Config, PrecisionNamesTheConvolutionsArithmetic) {
  EXPECT_EQ(ExperimentConfig().train.precision, "fp32");
  EXPECT_EQ(parse_precision("fp32"), kernels::ConvMath::kFp32);
  EXPECT_EQ(parse_precision("tf32"), kernels::ConvMath::kTf32);
  EXPECT_EQ(parse_precision("bf16"), kernels::ConvMath::kBf16);
  EXPECT_EQ(parse_config("train:\n  precision: bf16\n", "test.yaml").train.precision, "bf16");
  try {
    parse_precision("BF16");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_ERROR_HAS(e.what(), "must be fp32, tf32 or bf16, got 'BF16'");
  }
}

TEST(Config, ASecondYamlDocumentIsRefused) {
  // yaml-cpp's Load reads the first document only: the second's keys would be silently ignored.
  EXPECT_ERROR_HAS(error_of("train:\n  epochs: 3\n---\ntrain:\n  epochs: 80\n"),
                   "test.yaml:4: a second YAML document");
  EXPECT_ERROR_HAS(error_of("---\ntrain: {epochs: 3}\n---\n"), "a second YAML document");
  EXPECT_EQ(error_of("---\ntrain:\n  epochs: 3\n...\n"), "");
}

// Inputs the config fuzz target found (tests/fuzz/config.cpp): yaml-cpp 0.7's LoadAll never ends
// on a lone ',' (it returns documents until memory runs out), and keys or values holding line
// breaks made messages of several lines.
TEST(Config, MalformedStreamsEndInAnError) {
  EXPECT_ERROR_HAS(error_of(","), "test.yaml");
  EXPECT_ERROR_HAS(error_of("train:\n  epochs: 3\n,\n"), "test.yaml");
}

TEST(Config, KeysAndValuesWithLineBreaksGiveOneLine) {
  EXPECT_ERROR_HAS(error_of("model:\n  \"cha\\nnels\": 8\n"), "unknown key 'cha nels'");
  EXPECT_ERROR_HAS(error_of("train:\n  mode: \"Seq\\nuential\"\n"),
                   "unknown training-data mode 'Seq uential'");
  EXPECT_ERROR_HAS(error_of("train:\n  epochs: \"3\\n4\"\n"), "got '3 4'");
  const std::string long_key = "model:\n  ? " + std::string(5000, 'k') + "\n  : 1\n";
  EXPECT_ERROR_HAS(error_of(long_key), "unknown key 'kkkk");
  EXPECT_LT(error_of(long_key).size(), 400u);
  EXPECT_LT(error_of("train:\n  epochs: " + std::string(100000, '9') + "x\n").size(), 400u);
}

TEST(Config, ToYamlRoundTrips) {
  ExperimentConfig c;
  EXPECT_EQ(parse_config(to_yaml(c), "rt"), c);

  c.model = {{1, 5, 3}, 17, 0.1, true};
  c.data.source = H5SourceConfig{"dir with space/h36m #1.h5"};
  c.data.train_subjects = {"S1"};
  c.data.test_subjects = {"Validate/S1", "true", "123"};
  c.data.actions = {"Walking, fast", "Sitting"};
  c.data.subset = 1.0 / 3.0;
  c.data.downsample = 3;
  c.data.keypoints = Keypoints::kPseudoCoco;
  c.data.ground_truth_2d = true;
  c.train.epochs = 3;
  c.train.batch_size = 7;
  c.train.lr = 0.1 + 0.2;  // not a short decimal
  c.train.lr_decay = 1.0;
  c.train.bn_momentum = {0.3, 1e-7};
  c.train.flip = false;
  c.train.mode = "Sample3/5/7+Sequential";
  c.train.seed = 18446744073709551615u;
  c.device = "cuda:1";
  c.train.checkpoint_dir = "";
  c.train.checkpoint_every = 2;
  c.eval.test_intervals = {7, 1};
  c.eval.flip_tta = false;
  c.eval.metrics = {Metric::kMpjve};
  c.ltb = {.enabled = true,
           .preset = LtbPreset::kPaper,
           .capacity = 5,
           .threshold = -0.25,
           .accumulate = LtbAccumulate::kOffered,
           .fusion_threshold = 0.9,
           .max_insert = 0,
           .placement = LtbPlacement::kOutermost,
           .gate = LtbGate::kMean,
           .gate_threshold = 0.125,
           .mode = LtbMode::kOnline,
           .center = LtbCenter::kRoot};
  const std::string yaml = to_yaml(c);
  EXPECT_EQ(parse_config(yaml, "rt"), c) << yaml;

  // Synthetic source and empty lists.
  c.data.source = SyntheticSourceConfig{42, 12};
  c.data.actions.clear();
  EXPECT_EQ(parse_config(to_yaml(c), "rt"), c) << to_yaml(c);

  // Human-readable numbers.
  const std::string d = to_yaml(ExperimentConfig{});
  EXPECT_NE(d.find("lr: 0.001"), std::string::npos) << d;
  EXPECT_NE(d.find("dropout: 0.25"), std::string::npos) << d;
}

// docs/config.md's full example is what to_yaml writes for the defaults, so it cannot go stale.
TEST(Config, DocsExampleIsToYamlOfTheDefaults) {
  std::ifstream in(std::string(V3D_SOURCE_DIR) + "/docs/config.md");
  ASSERT_TRUE(in);
  const std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string head = "## Example: everything at its default\n\n```yaml\n";
  const size_t b = doc.find(head);
  ASSERT_NE(b, std::string::npos);
  const size_t e = doc.find("```", b + head.size());
  ASSERT_NE(e, std::string::npos);
  EXPECT_EQ(doc.substr(b + head.size(), e - b - head.size()), to_yaml(ExperimentConfig{}));
}

// docs/config.md's key tables are config_reference_markdown(), generated from the field table.
TEST(Config, DocsKeyTablesAreTheFieldTable) {
  std::ifstream in(std::string(V3D_SOURCE_DIR) + "/docs/config.md");
  ASSERT_TRUE(in);
  const std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t b = doc.find(kConfigDocsBegin);
  const size_t e = doc.find(kConfigDocsEnd);
  ASSERT_TRUE(b != std::string::npos && e != std::string::npos && b < e)
      << "docs/config.md lacks the markers " << kConfigDocsBegin;
  const size_t from = b + std::string(kConfigDocsBegin).size();
  EXPECT_TRUE(doc.substr(from, e - from) == "\n" + config_reference_markdown() + "\n")
      << "docs/config.md's key tables differ from the field table in trainer/config.cpp; "
         "regenerate them with: build/bin/v3d_config_docs docs/config.md";
}

TEST(Config, EnumsHaveOneNameTable) {
  EXPECT_EQ(enum_names<Keypoints>(), "h36m17, pseudo_coco, coco17, mpii16");
  EXPECT_EQ(enum_names<LtbMode>(), "offline, online");
  EXPECT_EQ(enum_names<LtbCenter>(), "centroid, root");
  EXPECT_EQ(enum_names<Metric>(), "mpjpe, p_mpjpe, n_mpjpe, mpjve");
  for (Keypoints k : {Keypoints::kH36m17, Keypoints::kPseudoCoco})
    EXPECT_EQ(parse_enum<Keypoints>(to_string(k)), k);
  for (LtbMode m : {LtbMode::kOffline, LtbMode::kOnline})
    EXPECT_EQ(parse_enum<LtbMode>(to_string(m)), m);
  for (LtbCenter m : {LtbCenter::kCentroid, LtbCenter::kRoot})
    EXPECT_EQ(parse_enum<LtbCenter>(to_string(m)), m);
  EXPECT_FALSE(parse_enum<LtbMode>("batch").has_value());
  EXPECT_EQ(metric_name(Metric::kNMpjpe), std::string("n_mpjpe"));

  const ExperimentConfig c = parse_config(
      "data: {keypoints: pseudo_coco}\neval: {metrics: [mpjve, mpjpe]}\n"
      "ltb: {mode: online, center: root}\n",
      "t");
  EXPECT_EQ(c.data.keypoints, Keypoints::kPseudoCoco);
  EXPECT_EQ(c.eval.metrics, (std::vector<Metric>{Metric::kMpjve, Metric::kMpjpe}));
  EXPECT_EQ(c.ltb.mode, LtbMode::kOnline);
  EXPECT_EQ(c.ltb.center, LtbCenter::kRoot);
  EXPECT_EQ(c.model.conv_tile, kernels::ConvTile::kDefault);
  EXPECT_EQ(parse_config("model: {conv_tile: hopper}\n", "t").model.conv_tile,
            kernels::ConvTile::kHopper);
  EXPECT_EQ(parse_config("", "t", {"model.conv_tile=wide"}).model.conv_tile,
            kernels::ConvTile::kWide);
  EXPECT_EQ(parse_config("", "t", {"eval.metrics=p_mpjpe,mpjpe"}).eval.metrics,
            (std::vector<Metric>{Metric::kPMpjpe, Metric::kMpjpe}));
  EXPECT_ERROR_HAS(error_of("", {"eval.metrics=mpjpe,pck"}),
                   "--set eval.metrics=mpjpe,pck: 'eval.metrics' is 'pck'; valid values: mpjpe");
  EXPECT_ERROR_HAS(error_of("eval:\n  metrics: [mpjpe, mpjpe]\n"), "lists 'mpjpe' twice");
}

// One device for every subcommand: the top-level key; train.device, where checkpoints written
// before kept it, is still read.
TEST(Config, DeviceIsTopLevelAndTrainDeviceItsOldName) {
  EXPECT_EQ(parse_config("device: emu\n", "t").device, "emu");
  EXPECT_EQ(parse_config("", "t", {"device=cuda:2"}).device, "cuda:2");
  EXPECT_ERROR_HAS(error_of("device: tpu\n"), "test.yaml:1: 'device' is invalid");
  EXPECT_ERROR_HAS(error_of("trian: 1\n"),
                   "valid keys of the top level: device, blas, model, data");

  const std::string yaml = to_yaml(ExperimentConfig{});
  EXPECT_EQ(yaml.rfind("device: cpu\n", 0), 0u) << yaml;
  EXPECT_EQ(yaml.find("  device:"), std::string::npos) << yaml;

  // A checkpoint's config from before the key moved.
  const std::string old =
      "model: {filter_widths: [3, 3, 3], channels: 16}\ntrain:\n"
      "  epochs: 2\n  device: emu\n  checkpoint_every: 1\n";
  const ExperimentConfig c = parse_config(old, "old.h5");
  EXPECT_EQ(c.device, "emu");
  EXPECT_EQ(c.train.epochs, 2);
  EXPECT_EQ(parse_config(to_yaml(c), "rt"), c);
  // The key itself wins: --device (an override of device) over the stored train.device.
  EXPECT_EQ(parse_config(old, "old.h5", {"device=cpu"}).device, "cpu");
  EXPECT_EQ(parse_config("device: cpu\ntrain: {device: emu}\n", "t").device, "cpu");
  EXPECT_ERROR_HAS(error_of("train:\n  device: tpu\n"), "test.yaml:2: 'train.device' is invalid");
  EXPECT_ERROR_HAS(error_of("", {"train.device=tpu"}), "--set train.device=tpu: 'train.device'");
}

}  // namespace
}  // namespace v3d
