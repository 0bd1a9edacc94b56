// The v3d command line: a word in a subcommand's place that names none is a one-line error with
// exit status 1, even with --help after it; --help and --version still succeed; a bad --device
// is an error naming --device.
#include "apps/cli.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "apps/app_util.h"
#include "kernels/common.h"

namespace v3d::apps {
namespace {

struct CliRun {
  int status = 0;
  std::string err;
};

CliRun run(std::vector<const char*> args) {
  args.insert(args.begin(), "v3d");
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  CliRun r;
  r.status = run_cli(static_cast<int>(args.size()), args.data());
  testing::internal::GetCapturedStdout();
  r.err = testing::internal::GetCapturedStderr();
  return r;
}

void expect_one_line_error(const CliRun& r, const std::string& contains) {
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err.rfind("v3d: error: ", 0), 0u) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not one line: " << r.err;
  EXPECT_NE(r.err.find(contains), std::string::npos) << r.err;
}

TEST(Cli, UnknownSubcommandIsAnError) {
  expect_one_line_error(run({"render", "--help"}), "unknown subcommand 'render'");
  expect_one_line_error(run({"render"}), "unknown subcommand 'render'");
  expect_one_line_error(run({"--help", "render"}), "unknown subcommand 'render'");
  const CliRun nested = run({"convert", "bogus", "--help"});
  expect_one_line_error(nested, "convert: unknown subcommand 'bogus'");
  EXPECT_NE(nested.err.find("h36m-archive"), std::string::npos) << nested.err;
}

TEST(Cli, HelpAndVersionSucceed) {
  EXPECT_EQ(run({"--help"}).status, 0);
  EXPECT_EQ(run({"eval", "--help"}).status, 0);
  EXPECT_EQ(run({"convert", "check", "--help"}).status, 0);
  EXPECT_EQ(run({"--version"}).status, 0);
}

TEST(Cli, DeviceOptionIsCheckedAndNamed) {
  EXPECT_EQ(with_device({"eval.flip_tta=false"}, "emu"),
            (std::vector<std::string>{"eval.flip_tta=false", "device=emu"}));
  EXPECT_EQ(with_device({"a.b=1"}, ""), std::vector<std::string>{"a.b=1"});
  std::string msg;
  try {
    with_device({}, "tpu");
  } catch (const Error& e) {
    msg = e.what();
  }
  EXPECT_EQ(msg, "--device: invalid device 'tpu': expected cpu, cuda, cuda:N or emu");
}

}  // namespace
}  // namespace v3d::apps
