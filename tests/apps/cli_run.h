// Runs the v3d command line in-process (apps/cli.h) with its stdout and stderr captured, and the
// check that it failed with one `v3d: error:` line.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "apps/cli.h"

namespace v3d::apps {

struct CliRun {
  int status = 0;
  std::string out, err;
};

// `words` without the program name.
inline CliRun run(std::vector<std::string> words) {
  words.insert(words.begin(), "v3d");
  std::vector<const char*> args;
  for (const auto& w : words) args.push_back(w.c_str());
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  CliRun r;
  r.status = run_cli(static_cast<int>(args.size()), args.data());
  r.out = testing::internal::GetCapturedStdout();
  r.err = testing::internal::GetCapturedStderr();
  return r;
}

inline void expect_one_line_error(const CliRun& r, const std::string& contains) {
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err.rfind("v3d: error: ", 0), 0u) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not one line: " << r.err;
  EXPECT_NE(r.err.find(contains), std::string::npos) << r.err;
}

}  // namespace v3d::apps
