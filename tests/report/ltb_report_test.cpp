// The long-term bank's reports: `v3d ltb`'s HDF5 output (report/ltb_output.h), a plan of synthetic
// sequences written and read back, duplicate names refused before anything is written; the
// evaluation rows with and without the bank and the sweep (report/eval_report.h), agreeing with
// single runs.
#include "report/eval_report.h"
#include "report/ltb_output.h"

#include <gtest/gtest.h>

#include <H5Cpp.h>

#include <algorithm>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "data/synth.h"
#include "kernels/common.h"
#include "tests/test_util.h"
#include "tests/trainer/ltb_test_util.h"

namespace v3d {
namespace {

using ltb_test::fusing_options;
using ltb_test::sequences;
using ltb_test::tiny_model;
using ltb_test::views;

const data::Skeleton& h36m() { return data::Skeleton::h36m17(); }

TEST(Ltb, HdfDumpRoundTrips) {
  const auto seqs = sequences(30);
  const LtbOptions o = fusing_options();
  const LtbPlan plan = plan_ltb(views(seqs), 17, ltb_parents(h36m()), 4, o, Device::cpu(), true);
  std::vector<std::string> names;
  for (size_t k = 0; k < seqs.size(); ++k) names.push_back("seq" + std::to_string(k) + "/cam");
  const test_util::TempDir dir("v3d-ltb");
  const std::string path = dir / "ltb.h5";
  write_ltb_h5(path, names, plan, o);
  H5::H5File f(path, H5F_ACC_RDONLY);
  for (size_t k = 0; k < seqs.size(); ++k) {
    const int64_t b = plan.offsets[k], t = plan.offsets[k + 1] - b;
    std::vector<int32_t> hist(static_cast<size_t>(t * o.capacity)), map(static_cast<size_t>(t * 9));
    f.openDataSet("/" + names[k] + "/history").read(hist.data(), H5::PredType::NATIVE_INT32);
    f.openDataSet("/" + names[k] + "/index_map").read(map.data(), H5::PredType::NATIVE_INT32);
    EXPECT_TRUE(std::equal(hist.begin(), hist.end(), plan.history.begin() + b * o.capacity));
    EXPECT_TRUE(std::equal(map.begin(), map.end(), plan.index_map.begin() + b * 9));
    std::vector<float> as(static_cast<size_t>(o.capacity));
    f.openDataSet("/" + names[k] + "/bank_as").read(as.data(), H5::PredType::NATIVE_FLOAT);
    EXPECT_TRUE(std::equal(as.begin(), as.end(), plan.bank_as.begin() + k * o.capacity));
  }
  f.close();
  // Duplicate names are refused before anything is written.
  names[1] = names[0];
  EXPECT_THROW(write_ltb_h5(dir / "dup.h5", names, plan, o), Error);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"ltb.h5"});
}

TEST(Ltb, EvaluateBothAndSweepAgreeWithSingleRuns) {
  TemporalModel model(tiny_model(), Device::cpu(), 7);
  const auto seqs = sequences(60);
  EvalOptions opt;
  opt.test_intervals = {1, 3};
  const EvalReport off = evaluate(model, seqs, opt);
  opt.ltb_options = fusing_options();
  opt.ltb = LtbEval::kOn;
  const EvalReport on = evaluate(model, seqs, opt);
  opt.ltb = LtbEval::kBoth;
  const EvalReport both = evaluate(model, seqs, opt);
  ASSERT_EQ(off.intervals.size(), 2u);
  ASSERT_EQ(on.intervals.size(), 2u);
  ASSERT_EQ(both.intervals.size(), 4u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_FALSE(both.intervals[2 * i].ltb);
    EXPECT_TRUE(both.intervals[2 * i + 1].ltb);
    EXPECT_EQ(both.intervals[2 * i].mean.mpjpe, off.intervals[i].mean.mpjpe);
    EXPECT_EQ(both.intervals[2 * i + 1].mean.mpjpe, on.intervals[i].mean.mpjpe);
    EXPECT_GT(on.intervals[i].ltb_stats.fused_frames, 0);
    EXPECT_NE(on.intervals[i].mean.mpjpe, off.intervals[i].mean.mpjpe);
  }
  const std::string md = to_markdown(both, "t");
  EXPECT_NE(md.find("| TD 3 | w/o |"), std::string::npos) << md;
  EXPECT_NE(md.find("| TD 3 | w |"), std::string::npos) << md;
  EXPECT_NE(md.find("Long-term pose bank"), std::string::npos);

  LtbOptions other = fusing_options();
  other.capacity = 3;
  opt.ltb = LtbEval::kOff;
  const LtbSweepReport sweep = sweep_ltb(model, seqs, opt, {fusing_options(), other});
  ASSERT_EQ(sweep.points.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(sweep.plain.intervals[i].mean.mpjpe, off.intervals[i].mean.mpjpe);
    EXPECT_EQ(sweep.points[0].intervals[i].mean.mpjpe, on.intervals[i].mean.mpjpe);
    EXPECT_EQ(sweep.points[1].intervals[i].ltb_stats.bank_entries <=
                  3 * sweep.points[1].intervals[i].ltb_stats.sequences,
              true);
  }
  EXPECT_NE(sweep_to_markdown(sweep, "s").find("| w/o LTB |"), std::string::npos);
  EXPECT_NE(sweep_to_csv(sweep).find("ltb,capacity,threshold"), std::string::npos);
}

TEST(Ltb, SweepFilesAreWritten) {
  TemporalModel model(tiny_model(), Device::cpu(), 7);
  EvalOptions opt;
  opt.test_intervals = {3};
  LtbOptions small = fusing_options();
  small.capacity = 3;
  const LtbSweepReport sweep = sweep_ltb(model, sequences(30), opt, {small, fusing_options()});
  const test_util::TempDir dir("v3d-sweep-report");
  const std::vector<std::string> files = write_sweep_files(sweep, "s", dir / "out");
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0], dir / "out/ltb_sweep.md");
  EXPECT_EQ(files[1], dir / "out/ltb_sweep.csv");
  EXPECT_EQ(files[2], dir / "out/ltb_sweep.png");
  EXPECT_EQ(test_util::read_text(files[1]), sweep_to_csv(sweep));
  EXPECT_GT(std::filesystem::file_size(files[2]), 0u);
}

}  // namespace
}  // namespace v3d
