// `v3d study` end to end on a tiny grid (2 modes x 2 seeds, 9-frame models, 2 epochs of synthetic
// data): every test number it reports equals what `v3d eval --ltb both` with the chosen bank
// prints for the same checkpoint, a table cell is the mean over the seeds, a second call trains
// nothing, a partial run resumes to the same numbers, and bad study files are one-line errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/cli.h"
#include "tests/apps/cli_run.h"
#include "tests/test_util.h"
#include "trainer/study.h"

namespace v3d::apps {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char* kExperiment = R"(model: {filter_widths: [3, 3], channels: 16, dropout: 0.1}
data:
  source: {type: synthetic, seed: 3, frames: 60}
  train_subjects: [S1, S5]
  test_subjects: [S9]
  actions: [Walking, Boxing]
train: {epochs: 2, batch_size: 128, lr: 3.0e-3, checkpoint_every: 1}
)";

const char* kStudy = R"(experiment: experiment.yaml
set: [eval.flip_tta=true]
modes: [Sequential, Sample3/5/7+Sequential]
seeds: [1, 2]
test_intervals: [1, 3]
validation_subjects: [S5]
select_limit: 0.5
banks:
  v3d: {preset: v3d}
  paper: {preset: paper, placement: outermost}
)";

class Study : public testing::Test {
 protected:
  void SetUp() override {
    test_util::write_text(dir_.file("experiment.yaml"), kExperiment);
    test_util::write_text(dir_.file("study.yaml"), kStudy);
  }
  CliRun study() {
    return run({"study", dir_.file("study.yaml"), "--out", dir_.file("out"), "-q"});
  }
  json study_json() { return json::parse(test_util::read_text(dir_.file("out/study.json"))); }
  test_util::TempDir dir_{"v3d-study"};
};

TEST_F(Study, TinyGridMatchesEvalAndResumes) {
  const CliRun first = study();
  ASSERT_EQ(first.status, 0) << first.err;
  const json s = study_json();
  ASSERT_EQ(s["runs"].size(), 4u);
  EXPECT_EQ(s["epochs_trained"], 8);
  for (const char* f :
       {"study.md", "study.csv", "study_error_vs_interval.png", "study_validation.png"})
    EXPECT_TRUE(fs::exists(dir_.file(std::string("out/") + f))) << f;
  const std::string md = test_util::read_text(dir_.file("out/study.md"));
  for (const char* part :
       {"## Table 1: MPJPE", "## Table 2: P-MPJPE", "## Table 3", "## Table 4", "chosen",
        "validation subjects S5", "within +0.50% at every test interval"})
    EXPECT_NE(md.find(part), std::string::npos) << part;

  // The chosen bank's overrides, as `v3d eval --set` arguments.
  std::vector<std::string> sets;
  for (const auto& b : s["banks"]) {
    if (b["chosen"]) {
      for (const auto& o : b["overrides"]) sets.push_back(o.get<std::string>());
    }
  }
  ASSERT_FALSE(sets.empty());
  const char* metrics[] = {"mpjpe", "p_mpjpe", "mpjve"};
  // tables[mode][w/o | w][metric][interval] from the eval outputs, summed over the seeds.
  std::map<std::string, std::map<std::string, std::vector<double>>> sums;
  for (size_t k = 0; k < s["runs"].size(); ++k) {
    const json& r = s["runs"][k];
    const std::string out = dir_.file("eval" + std::to_string(k));
    std::vector<std::string> words = {
        "eval", "--checkpoint", r["checkpoint"].get<std::string>(), "--ltb", "both", "--out", out};
    for (const auto& o : sets) {
      words.push_back("--set");
      words.push_back(o);
    }
    const CliRun e = run(words);
    ASSERT_EQ(e.status, 0) << e.err;
    const json ev = json::parse(test_util::read_text(out + "/eval.json"));
    ASSERT_EQ(ev["intervals"].size(), 4u);  // TD 1 w/o, w, TD 3 w/o, w
    for (size_t i = 0; i < 2; ++i) {
      for (const bool ltb : {false, true}) {
        const json& row = ev["intervals"][2 * i + (ltb ? 1 : 0)];
        EXPECT_EQ(row["ltb"], ltb);
        const json& mine = r["test"][ltb ? "bank" : "plain"][i];
        for (const char* m : metrics) {
          EXPECT_EQ(row["mean"][m].get<double>(), mine[m].get<double>())
              << r["mode"] << " seed " << r["seed"] << " TD " << row["interval"] << " " << m;
          auto& v = sums[r["mode"].get<std::string>() + (ltb ? " w" : " w/o")][m];
          v.resize(2, 0.0);
          v[i] += row["mean"][m].get<double>() / 2.0;
        }
      }
    }
  }
  for (const std::string mode : {"Sequential", "Sample3/5/7+Sequential"}) {
    for (const bool ltb : {false, true}) {
      for (const char* m : metrics) {
        for (size_t i = 0; i < 2; ++i) {
          const json& cell = s["tables"][mode][ltb ? "w" : "w/o"][m][i];
          EXPECT_EQ(cell["n"], 2);
          EXPECT_NEAR(cell["mean"].get<double>(), sums[mode + (ltb ? " w" : " w/o")][m][i], 1e-9)
              << mode << " " << m;
        }
      }
    }
  }

  // Done: a second call trains nothing and reports the same numbers.
  const CliRun again = study();
  ASSERT_EQ(again.status, 0) << again.err;
  const json s2 = study_json();
  EXPECT_EQ(s2["epochs_trained"], 0);
  for (size_t k = 0; k < s["runs"].size(); ++k) {
    EXPECT_EQ(s2["runs"][k]["epochs_trained"], 0);
    EXPECT_EQ(s2["runs"][k]["test"], s["runs"][k]["test"]);
    EXPECT_EQ(s2["runs"][k]["validation"], s["runs"][k]["validation"]);
  }
  EXPECT_NE(again.out.find("Trained 0 epochs"), std::string::npos) << again.out;

  // A run that lost its last checkpoint resumes from the one before, to the same numbers.
  fs::remove(dir_.file("out/runs/Sample3-5-7_Sequential/seed2/epoch_2.h5"));
  ASSERT_EQ(study().status, 0);
  const json s3 = study_json();
  EXPECT_EQ(s3["epochs_trained"], 1);
  EXPECT_EQ(s3["runs"][3]["epochs_trained"], 1);
  EXPECT_EQ(s3["runs"][3]["test"], s["runs"][3]["test"]);
  EXPECT_EQ(s3["tables"], s["tables"]);

  // The same folder under a study that trains differently is refused, not mixed in.
  const CliRun other = run({"study", dir_.file("study.yaml"), "--out", dir_.file("out"), "-q",
                            "--set", "train.lr=1e-3"});
  expect_one_line_error(other, "holds a run of another experiment");
}

TEST_F(Study, BadStudyFilesAreOneLineErrors) {
  const auto check = [&](const std::string& text, const std::string& contains) {
    test_util::write_text(dir_.file("bad.yaml"), text);
    expect_one_line_error(run({"study", dir_.file("bad.yaml"), "--out", dir_.file("o")}), contains);
  };
  const std::string base =
      "experiment: experiment.yaml\nmodes: [Sequential]\nseeds: [1]\n"
      "validation_subjects: [S5]\n";
  const std::string banks = "banks: {v3d: {preset: v3d}}\n";
  check(base + banks + "seed: 3\n",
        "bad.yaml:6: unknown key 'seed'; valid keys of a study: experiment, set, modes, seeds");
  check(base + "banks: {v3d: {preset: v3d, gates: min}}\n",
        "bad.yaml:5: unknown key 'gates' in bank 'v3d'; valid keys of a bank: preset, capacity");
  check(base + "banks: {v3d: {gate: sometimes}}\n", "bank 'v3d'");
  check(
      "experiment: experiment.yaml\nmodes: [Sequential]\nseeds: [1]\n"
      "validation_subjects: [S9]\n" +
          banks,
      "bad.yaml:4: validation subject 'S9' is not a training subject");
  check(
      "experiment: experiment.yaml\nmodes: [Sample1+Sequential]\nseeds: [1]\n"
      "validation_subjects: [S5]\n" +
          banks,
      "bad.yaml:2: modes:");
  check("experiment: experiment.yaml\nseeds: [1]\nvalidation_subjects: [S5]\n" + banks,
        "'modes' (the training modes, train.mode) is required");
  check(
      "experiment: experiment.yaml\nmodes: [Sequential]\nseeds: [1, x]\n"
      "validation_subjects: [S5]\n" +
          banks,
      "bad.yaml:3: 'seeds' entries must be integers >= 0, got 'x'");
  check(base + banks + "modes: [Sequential]\n", "bad.yaml:6: duplicate key 'modes'");
  check(base + banks + "set: [model.chanels=3]\n", "unknown key 'model.chanels'");
  check(base + "banks: {}\n", "'banks' must be a non-empty map");
  check(base + banks + "select_limit: lots\n",
        "bad.yaml:6: 'select_limit' must be a number (percent), got 'lots'");
}

TEST(StudyChoice, LowestFigureAmongTheEligible) {
  // Bank 1 has the lowest figure but is over the limit somewhere: bank 2 wins; ties keep the
  // first; with none eligible, the lowest of all.
  EXPECT_EQ(choose_bank({0.5, -2.0, -1.0, -1.0}, {true, false, true, true}), 2u);
  EXPECT_EQ(choose_bank({0.5, -2.0, -1.0}, {false, false, false}), 1u);
  EXPECT_EQ(choose_bank({0.3}, {true}), 0u);
}

TEST(StudyFiles, ShippedStudiesLoad) {
  const fs::path dir = fs::path(V3D_SOURCE_DIR) / "configs" / "studies";
  int count = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml") continue;
    SCOPED_TRACE(entry.path().string());
    EXPECT_NO_THROW(load_study(entry.path().string()));
    ++count;
  }
  EXPECT_GE(count, 2);
}

}  // namespace
}  // namespace v3d::apps
