// Reports of evaluation (`v3d eval`) and of the long-term bank sweep (`v3d ltb-sweep`):
//
//   to_markdown        a summary table with one row per "TD N" (and with the bank, per TD N
//                      without and with it) and one column per metric, then one per-action table
//                      per metric: rows "TD N", columns the action groups and their mean;
//   to_json            every number of the report;
//   sweep_to_markdown  a row per bank setting, the plain row first (MPJPE and P-MPJPE means and
//                      the share of fused frames per test interval);
//   sweep_to_csv       every number of the sweep;
//   write_*_files      each command's files, written atomically (data/atomic_file.h), with the
//                      plot (report/plot.h).
//
// Errors are in mm (EvalReport's unit), rounded as VideoPose3D prints them.
#pragma once

#include <string>
#include <vector>

#include "trainer/evaluate.h"

namespace v3d {

// `title` heads the document (e.g. the checkpoint's name).
std::string to_markdown(const EvalReport& report, const std::string& title);
std::string to_json(const EvalReport& report);  // pretty-printed, newline-terminated

// `title` heads the document.
std::string sweep_to_markdown(const LtbSweepReport& report, const std::string& title);
std::string sweep_to_csv(const LtbSweepReport& report);

// `v3d eval`'s files in `dir` (created when missing): eval.md (to_markdown with `title`),
// eval.json (to_json) and error_vs_interval.png (plot_error_vs_interval). Returns their paths in
// that order.
std::vector<std::string> write_eval_files(const EvalReport& report, const std::string& title,
                                          const std::string& dir);

// `v3d ltb-sweep`'s files in `dir` (created when missing): ltb_sweep.md (sweep_to_markdown with
// `title`), ltb_sweep.csv (sweep_to_csv) and ltb_sweep.png (plot_ltb_sweep). Returns their paths
// in that order.
std::vector<std::string> write_sweep_files(const LtbSweepReport& report, const std::string& title,
                                           const std::string& dir);

}  // namespace v3d
