// The reports of `v3d study` (trainer/study.h), in the layouts of the V3D-LSFM paper's tables:
//
//   choice     each bank setting's MPJPE change on the validation subjects per test interval and
//              its validation figure, the chosen one marked;
//   Table 1/2  MPJPE / P-MPJPE on the test subjects: a row per test interval without and with the
//              chosen bank, a column per training mode;
//   Table 3/4  training data x testing data: a row per training mode, a column per test interval,
//              for MPJPE, P-MPJPE and MPJVE, without (3) and with (4) the chosen bank;
//   changes    the bank's effect per mode (paired per seed) and each mode's change against
//              Sequential (of the seed means), in percent.
//
// A cell is "mean ± std (n)" over the seeds of a mode (seed_stats), in mm (MPJVE mm per frame).
//
//   study_to_markdown  all of the above;
//   study_to_csv       every number: a row per (split, run, bank, with/without, interval);
//   study_to_json      the spec, the choice, every run's numbers and the aggregated tables;
//   write_study_files  study.md, study.csv, study.json, study_error_vs_interval.png (test MPJPE
//                      against the interval, a colour per mode, dashed with the bank) and
//                      study_validation.png (each bank's validation change against the interval),
//                      written atomically.
#pragma once

#include <string>
#include <vector>

#include "trainer/study.h"

namespace v3d {

std::string study_to_markdown(const StudyResult& result);
std::string study_to_csv(const StudyResult& result);
std::string study_to_json(const StudyResult& result);  // pretty-printed, newline-terminated

// The seed statistics of `metric` at test interval index `interval` (of spec.test_intervals) for
// the runs of `mode` on the test subjects, without (ltb false) or with the chosen bank: what a
// cell of Tables 1-4 shows.
SeedStats study_cell(const StudyResult& result, const std::string& mode, size_t interval, bool ltb,
                     Metric metric);

// Writes the files above into `dir` (created when missing); returns their paths in that order.
std::vector<std::string> write_study_files(const StudyResult& result, const std::string& dir);

}  // namespace v3d
