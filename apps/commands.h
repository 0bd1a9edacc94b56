// Each subcommand of `v3d` lives in apps/cmd_<name>.cpp and registers itself on the app
// (apps/cli.cpp): its options, its help text and a callback that runs it. Callbacks throw
// v3d::Error on bad input; run_cli() turns that into one line on stderr and exit status 1.
#pragma once

#include <CLI/CLI.hpp>

namespace v3d::apps {

void add_info_command(CLI::App& app);
void add_convert_command(CLI::App& app);
void add_synth_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_infer_command(CLI::App& app);
void add_ltb_command(CLI::App& app);
void add_ltb_sweep_command(CLI::App& app);
void add_study_command(CLI::App& app);
void add_stream_command(CLI::App& app);
void add_export_command(CLI::App& app);
void add_render_command(CLI::App& app);

}  // namespace v3d::apps
