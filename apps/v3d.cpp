// The v3d command: parses arguments and dispatches to the subcommands in apps/cmd_*.cpp.
#include <cstdio>
#include <exception>
#include <string>

#include "apps/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"v3d: video-based 3D human pose estimation with temporal convolution networks"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("v3d ") + V3D_VERSION);
  v3d::apps::add_info_command(app);
  v3d::apps::add_demo_command(app);
  v3d::apps::add_convert_command(app);
  v3d::apps::add_synth_command(app);
  v3d::apps::add_train_command(app);
  v3d::apps::add_eval_command(app);
  v3d::apps::add_infer_command(app);
  v3d::apps::add_ltb_command(app);
  v3d::apps::add_ltb_sweep_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "v3d: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
