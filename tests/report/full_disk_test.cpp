// Every writer of report/ on a full disk (a file size limit in a child process, which fails a
// write as a full disk does): one line "<file>: no space left (...)", no temporary file, and the
// file an earlier run wrote unchanged.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "data/atomic_file.h"
#include "report/infer_output.h"
#include "report/plot.h"
#include "tests/test_util.h"

namespace v3d {
namespace {

using test_util::expect_full_disk_keeps_file;
using test_util::TempDir;

// `frames` frames of 17 joints, every coordinate distinct (so deflate cannot shrink it much).
std::vector<InferResult> results(int64_t frames) {
  std::vector<InferResult> rs(1);
  rs[0].name = "S9/Walking";
  rs[0].frames = frames;
  rs[0].joints = 17;
  uint32_t state = 1;
  for (int64_t i = 0; i < frames * 17 * 3; ++i) {
    state = state * 1664525u + 1013904223u;
    rs[0].positions_3d.push_back(static_cast<float>(state >> 8) / 16777216.0f);
  }
  return rs;
}

TEST(FullDisk, InferCsvFailsCleanlyAndKeepsTheEarlierFile) {
  const TempDir dir("v3d-full-disk");
  const std::string file = dir / "poses.csv";
  write_infer_csv(file, results(2));
  // 3000 frames of 17 joints are about 3 MB of CSV: they cannot fit in 64 KB (the 1 MiB buffer
  // of the writer is flushed into the limit).
  expect_full_disk_keeps_file(file, 64 * 1024, [&] { write_infer_csv(file, results(3000)); });
}

TEST(FullDisk, InferHdf5FailsCleanlyAndKeepsTheEarlierFile) {
  const TempDir dir("v3d-full-disk");
  const std::string file = dir / "poses.h5";
  write_infer_h5(file, results(2));
  expect_full_disk_keeps_file(file, 64 * 1024, [&] { write_infer_h5(file, results(3000)); });
}

TEST(FullDisk, PlotFailsCleanlyAndKeepsTheEarlierFile) {
  const TempDir dir("v3d-full-disk");
  const std::string file = dir / "curve.png";
  PlotSpec spec;
  spec.title = "curve";
  Series s;
  s.label = "a";
  s.x = {0, 1, 2};
  s.y = {3, 1, 2};
  spec.series.push_back(s);
  write_line_plot_png(spec, file);
  // The same plot at 4000 x 4000 pixels is far larger than 4 KB.
  spec.width = spec.height = 4000;
  expect_full_disk_keeps_file(file, 4096, [&] { write_line_plot_png(spec, file); });
}

TEST(FullDisk, TextReportFailsCleanlyAndKeepsTheEarlierFile) {
  const TempDir dir("v3d-full-disk");
  const std::string file = dir / "eval.json";
  data::write_text_atomically(file, "{}\n");
  expect_full_disk_keeps_file(file, 4096,
                              [&] { data::write_text_atomically(file, std::string(100000, ' ')); });
}

}  // namespace
}  // namespace v3d
