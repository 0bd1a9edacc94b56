// The v3d command line (apps/cli.h).
#include "apps/cli.h"

#include <cstdio>
#include <exception>
#include <new>
#include <string>

#include "apps/commands.h"
#include "kernels/common.h"
#include "kernels/text.h"
#include "runtime/communicator.h"

namespace v3d::apps {

namespace {

constexpr size_t kMaxMessage = 4000;

// CLI11 handles --help before it notices an unexpected argument, so `v3d rendr --help` would
// print the main help and succeed; a word in a subcommand's place that names none is caught
// here instead. Apps with subcommands (v3d, v3d convert) take no option values, so the first
// argument of theirs that is not an option is the subcommand.
void check_subcommands(const CLI::App& app, int argc, const char* const* argv) {
  const CLI::App* current = &app;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto subs = current->get_subcommands([](const CLI::App*) { return true; });
    if (subs.empty()) return;
    if (arg == "--") return;
    if (arg.empty() || arg[0] == '-') continue;
    const CLI::App* next = nullptr;
    std::string names;
    for (const CLI::App* s : subs) {
      if (s->check_name(arg)) next = s;
      names += (names.empty() ? "" : ", ") + s->get_name();
    }
    if (next == nullptr) {
      const std::string where = current == &app ? "" : current->get_name() + ": ";
      throw Error(where + "unknown subcommand '" + arg + "' (choose from " + names + ")");
    }
    current = next;
  }
}

}  // namespace

int run_cli(int argc, const char* const* argv) {
  // Before any parallel work: ranks of a data-parallel job on one node share its cores.
  try {
    share_cores_among_ranks(launch_info_from_env());
  } catch (const std::exception&) {
    // A malformed launch environment is reported when a command needs it.
  }
  CLI::App app{"v3d: video-based 3D human pose estimation with temporal convolution networks"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("v3d ") + V3D_VERSION);
  add_info_command(app);
  add_convert_command(app);
  add_synth_command(app);
  add_train_command(app);
  add_eval_command(app);
  add_infer_command(app);
  add_ltb_command(app);
  add_ltb_sweep_command(app);
  add_study_command(app);
  add_stream_command(app);
  add_export_command(app);
  add_render_command(app);
  try {
    check_subcommands(app, argc, argv);
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    // Sizes are validated before allocating; what still runs out of memory is a real shortage.
    const std::string what = dynamic_cast<const std::bad_alloc*>(&e) != nullptr
                                 ? std::string("out of memory (") + e.what() + ")"
                                 : e.what();
    // One line, of a length a terminal shows, whatever a message quoted.
    std::fprintf(stderr, "v3d: error: %s\n", excerpt(what, kMaxMessage).c_str());
    // A failed rank of a data-parallel job ends the whole job, so no rank waits for it forever.
    try {
      if (launch_info_from_env().world_size > 1) {
        std::fflush(nullptr);
        world().abort(1);
      }
    } catch (const std::exception&) {
      // The launch environment itself was the error (reported above).
    }
    return 1;
  }
  return 0;
}

}  // namespace v3d::apps
