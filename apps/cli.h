// The v3d command line: every subcommand of apps/cmd_*.cpp registered on one CLI11 app, and the
// run that turns errors into one line on stderr and a non-zero exit status. main() calls it; the
// tests call it in-process.
#pragma once

namespace v3d::apps {

// Parses argv and runs the subcommand. Returns the exit status: 0 on success, 1 with one line
// "v3d: error: ..." on stderr for a v3d::Error or an unknown subcommand, CLI11's own status for
// other argument errors (after printing its message), 0 after --help or --version.
int run_cli(int argc, const char* const* argv);

}  // namespace v3d::apps
