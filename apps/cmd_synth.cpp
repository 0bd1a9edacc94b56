// v3d synth: generates the built-in synthetic dataset (data/synth.h) and writes it as a v3d
// HDF5 file (docs/data-format.md), atomically through write_dataset.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "apps/app_util.h"
#include "apps/commands.h"
#include "data/synth.h"
#include "kernels/common.h"

namespace v3d::apps {

namespace {

std::string join(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : ", ") + i;
  return s;
}

// One-line errors that name the option, before any work is done.
void check_names(const std::vector<std::string>& given, const std::vector<std::string>& known,
                 const char* option, const char* what) {
  for (size_t i = 0; i < given.size(); ++i) {
    if (std::find(known.begin(), known.end(), given[i]) == known.end())
      throw Error(std::string(option) + ": unknown " + what + " '" + given[i] + "' (choose from " +
                  join(known) + ")");
    if (std::find(given.begin(), given.begin() + i, given[i]) != given.begin() + i)
      throw Error(std::string(option) + ": " + what + " '" + given[i] + "' given twice");
  }
}

}  // namespace

void add_synth_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "synth",
      "Generate the built-in synthetic dataset (procedural motion on the H36M-17 skeleton, real "
      "H36M cameras, ground-truth 2D) and write it as a v3d HDF5 file");
  cmd->footer(
      "Slow actions: Walking, Waiting, Sitting. Fast actions: JumpingJacks, Boxing, TennisSwing, "
      "SkatingStride, Dance.\nTrain subjects S1 S5 S6 S7 S8, test subjects S9 S11 (the default "
      "split). The same seed gives the same file.");
  auto out = std::make_shared<std::string>();
  auto opts = std::make_shared<data::SynthOptions>();
  cmd->add_option("--out", *out, "Output file (.h5); written to a temporary file, then renamed")
      ->required();
  cmd->add_option("--seed", opts->seed, "Random seed of bodies and motions")->capture_default_str();
  cmd->add_option("--frames", opts->frames_per_action, "Frames per action and subject (>= 1)")
      ->capture_default_str();
  cmd->add_option("--fps", opts->fps, "Frame rate of the sequences")->capture_default_str();
  cmd->add_option("--subjects", opts->subjects,
                  "Comma-separated subjects among " + join(data::h36m_subjects_with_extrinsics()))
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--actions", opts->actions,
                  "Comma-separated actions among " + join(data::synth_action_names()))
      ->delimiter(',')
      ->capture_default_str();
  cmd->callback([out, opts] {
    if (opts->frames_per_action < 1)
      throw Error("--frames must be >= 1, got " + std::to_string(opts->frames_per_action));
    if (!(opts->fps > 0.0f)) throw Error("--fps must be > 0, got " + std::to_string(opts->fps));
    if (opts->subjects.empty()) throw Error("--subjects: no subject given");
    if (opts->actions.empty()) throw Error("--actions: no action given");
    check_names(opts->subjects, data::h36m_subjects_with_extrinsics(), "--subjects", "subject");
    check_names(opts->actions, data::synth_action_names(), "--actions", "action");

    const auto t0 = std::chrono::steady_clock::now();
    const data::Dataset dataset = data::synthesize(*opts);
    const auto t1 = std::chrono::steady_clock::now();
    remove_stale_temporaries_beside(*out);
    data::write_dataset(dataset, *out);
    const auto t2 = std::chrono::steady_clock::now();
    const double gen_s = std::chrono::duration<double>(t1 - t0).count();
    const double write_s = std::chrono::duration<double>(t2 - t1).count();
    const double mb = static_cast<double>(std::filesystem::file_size(*out)) / 1e6;
    const int64_t sequences = static_cast<int64_t>(opts->subjects.size() * opts->actions.size());

    std::printf("wrote %s (%.1f MB)\n", out->c_str(), mb);
    std::printf("  subjects: %s\n", join(opts->subjects).c_str());
    std::printf("  actions:  %s\n", join(opts->actions).c_str());
    std::printf("  frames:   %lld per sequence at %g fps (%.1f s), %lld sequences, %lld frames\n",
                static_cast<long long>(opts->frames_per_action), opts->fps,
                static_cast<double>(opts->frames_per_action) / opts->fps,
                static_cast<long long>(sequences),
                static_cast<long long>(sequences * opts->frames_per_action));
    std::printf("  cameras:  4 per subject (H36M), ground-truth 2D in pixels\n");
    std::printf("  seed %llu; generated in %.2f s, written in %.2f s\n",
                static_cast<unsigned long long>(opts->seed), gen_s, write_s);
  });
}

}  // namespace v3d::apps
