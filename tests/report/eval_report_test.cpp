// The evaluation report (report/eval_report.h) of a tiny random model on synthetic data: the
// Markdown and JSON of TD 1, 3, 5, 7 (with the long-term bank: tests/report/ltb_report_test.cpp).
#include "report/eval_report.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/synth.h"
#include "kernels/common.h"
#include "tests/test_util.h"

namespace v3d {
namespace {

TEST(Evaluate, EndToEndReportsForTd1357) {
  ExperimentConfig cfg;
  cfg.model.filter_widths = {3, 3};
  cfg.model.channels = 16;
  cfg.data.source = SyntheticSourceConfig{2, 30};
  cfg.data.test_subjects = {"S9", "S11"};
  cfg.data.actions = {"Walking", "Sitting"};
  const auto seqs = load_test_sequences(cfg);
  ASSERT_EQ(seqs.size(), 16u);  // 2 subjects x 2 actions x 4 cameras
  for (const auto& s : seqs) EXPECT_TRUE(s.subject == "S9" || s.subject == "S11");
  const EvalOptions opt = eval_options(cfg);
  TemporalModel model(temporal_model_config(cfg.model, 17, 2, 17), Device::cpu(), 8);
  const EvalReport r = evaluate(model, seqs, opt);

  const std::string md = to_markdown(r, "tiny");
  for (const char* needle :
       {"# tiny", "| TD 1 |", "| TD 3 |", "| TD 5 |", "| TD 7 |", "MPJPE", "P-MPJPE", "N-MPJPE",
        "MPJVE", "| Walking |", "| Sitting |", "Avg", "flip augmentation on"})
    EXPECT_NE(md.find(needle), std::string::npos) << needle << "\n" << md;

  const auto j = nlohmann::json::parse(to_json(r));
  EXPECT_EQ(j["unit"], "mm");
  EXPECT_EQ(j["frames"], 16 * 30);
  ASSERT_EQ(j["intervals"].size(), 4u);
  const int expected[] = {1, 3, 5, 7};
  for (size_t i = 0; i < 4; ++i) {
    const auto& ji = j["intervals"][i];
    EXPECT_EQ(ji["interval"], expected[i]);
    EXPECT_EQ(ji["mean"]["frames"], 16 * 30);
    EXPECT_DOUBLE_EQ(ji["mean"]["mpjpe"].get<double>(), r.intervals[i].mean.mpjpe);
    ASSERT_EQ(ji["actions"].size(), 2u);
    EXPECT_EQ(ji["actions"][0]["action"], "Sitting");  // prepare_sequences: name order
    for (const char* m : {"mpjpe", "p_mpjpe", "n_mpjpe", "mpjve"})
      EXPECT_TRUE(std::isfinite(ji["actions"][1][m].get<double>())) << m;
  }

  // eval.metrics picks the table columns; the JSON keeps every number.
  cfg.eval.metrics = {Metric::kMpjpe, Metric::kMpjve};
  cfg.eval.test_intervals = {1, 5};
  const EvalReport r2 = evaluate(model, seqs, eval_options(cfg));
  const std::string md2 = to_markdown(r2, "two");
  EXPECT_EQ(md2.find("P-MPJPE"), std::string::npos);
  EXPECT_EQ(md2.find("TD 3"), std::string::npos);
  EXPECT_NE(to_json(r2).find("p_mpjpe"), std::string::npos);
}

TEST(Evaluate, WritesTheCommandsFilesIntoANewDirectory) {
  ExperimentConfig cfg;
  cfg.model.filter_widths = {3, 3};
  cfg.model.channels = 16;
  cfg.data.source = SyntheticSourceConfig{2, 30};
  cfg.data.test_subjects = {"S9"};
  cfg.data.actions = {"Walking"};
  cfg.eval.test_intervals = {1, 3};
  TemporalModel model(temporal_model_config(cfg.model, 17, 2, 17), Device::cpu(), 8);
  const EvalReport r = evaluate(model, load_test_sequences(cfg), eval_options(cfg));
  const test_util::TempDir dir("v3d-eval-report");
  const std::string out = dir / "runs/eval";
  const std::vector<std::string> files = write_eval_files(r, "tiny", out);
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0], out + "/eval.md");
  EXPECT_EQ(files[1], out + "/eval.json");
  EXPECT_EQ(files[2], out + "/error_vs_interval.png");
  for (const auto& f : files) EXPECT_GT(std::filesystem::file_size(f), 0u) << f;
  EXPECT_EQ(test_util::read_text(files[0]), to_markdown(r, "tiny"));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(out),
                          std::filesystem::directory_iterator()),
            3);  // no temporary left behind
  std::ofstream(dir / "file") << "x";
  test_util::expect_error([&] { write_eval_files(r, "tiny", dir / "file/sub"); },
                          {"file/sub", "cannot create directory"});
}

}  // namespace
}  // namespace v3d
