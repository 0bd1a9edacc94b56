// v3d convert: imports Human3.6M data into the v3d HDF5 store (docs/data-format.md), exports it
// back to VideoPose3D's npz files, and checks a file. The work is in data/h36m_archive.h and
// data/dataset.h; this file parses arguments and prints.
#include <cstdio>
#include <memory>
#include <string>

#include "apps/app_util.h"
#include "apps/commands.h"
#include "data/dataset.h"
#include "data/h36m_archive.h"

namespace v3d::apps {

namespace {

struct ConvertOptions {
  std::string root, out, npz_3d, npz_2d, h5, out_3d, out_2d, file;
};

// The cameras the archive importer attached, what each saw, and a warning on stderr for each
// camera some of whose projected keypoints miss its image (docs/data-format.md).
void print_coverage(const std::vector<data::CameraCoverage>& coverage) {
  std::printf("Attached the shipped Human3.6M cameras:\n");
  for (const auto& c : coverage) {
    if (!c.extrinsics) {
      std::printf("  %s camera %d (%s): intrinsics only, nothing projected\n", c.subject.c_str(),
                  c.index, c.id.c_str());
    } else {
      std::printf(
          "  %s camera %d (%s): %lld keypoints projected, %lld outside the %dx%d image "
          "or behind it (%.1f%%)\n",
          c.subject.c_str(), c.index, c.id.c_str(), static_cast<long long>(c.keypoints),
          static_cast<long long>(c.outside), c.res_w, c.res_h, 100.0 * c.outside_fraction());
    }
  }
  std::fflush(stdout);
  for (const auto& c : coverage) {
    const std::string w = data::coverage_warning(c);
    if (!w.empty()) std::fprintf(stderr, "v3d convert: warning: %s\n", w.c_str());
  }
}

void print_summary(const std::string& path, const data::Dataset& d) {
  int64_t actions = 0, frames = 0, takes_2d = 0;
  std::printf("%s: v3d-pose version %d, skeleton %s (%d joints), %g fps\n", path.c_str(),
              data::kFormatVersion, d.skeleton.name.c_str(), d.skeleton.num_joints(), d.fps);
  if (!d.keypoints_2d.empty()) {
    std::printf("2D keypoints: %s (%d), a detector's layout (data.keypoints: %s)\n",
                d.keypoints_2d.c_str(), d.skeleton_2d().num_joints(), d.keypoints_2d.c_str());
  }
  for (const auto& [name, s] : d.subjects) {
    int64_t s_frames = 0, s_2d = 0, s_3d = 0;
    for (const auto& [a_name, a] : s.actions) {
      s_frames += a.frames;
      s_2d += static_cast<int64_t>(a.positions_2d.size());
      s_3d += a.positions_3d.empty() ? 0 : 1;
    }
    std::string cams;
    for (const auto& [k, c] : s.cameras) {
      cams += (cams.empty() ? "" : ", ") + std::to_string(k) + ":" + c.id +
              (c.has_extrinsics ? "" : " (intrinsics only)");
    }
    std::printf(
        "  %-6s %3zu actions (%lld with 3D), %8lld frames, %3lld 2D sequences, cameras [%s]\n",
        name.c_str(), s.actions.size(), static_cast<long long>(s_3d),
        static_cast<long long>(s_frames), static_cast<long long>(s_2d), cams.c_str());
    actions += static_cast<int64_t>(s.actions.size());
    frames += s_frames;
    takes_2d += s_2d;
  }
  std::printf(
      "  total: %zu subjects, %lld actions, %lld frames (%.1f min at %g fps), %lld 2D "
      "sequences\n",
      d.subjects.size(), static_cast<long long>(actions), static_cast<long long>(frames),
      d.fps > 0 ? frames / d.fps / 60.0 : 0.0, d.fps, static_cast<long long>(takes_2d));
}

}  // namespace

void add_convert_command(CLI::App& app) {
  auto opt = std::make_shared<ConvertOptions>();
  auto* cmd = app.add_subcommand(
      "convert",
      "Import Human3.6M pose data into the v3d HDF5 store (docs/data-format.md), "
      "export it to VideoPose3D npz, or check a file");
  cmd->require_subcommand(1);

  auto* archive = cmd->add_subcommand(
      "h36m-archive",
      "Import the 3d-pose-baseline archive: <root>/<S>/MyPoses/3D_positions/<Action>.h5, dataset "
      "3D_positions (96, N) in mm. Keeps VideoPose3D's 17 joints, converts to metres, renames "
      "TakingPhoto -> Photo and WalkingDog -> WalkDog, drops S11 Directions, and adds the shipped "
      "Human3.6M cameras");
  archive->add_option("--root", opt->root, "folder holding S1, S5, ... (the extracted archive)")
      ->required();
  archive->add_option("--out", opt->out, "output .h5 (written to a temporary file, then renamed)")
      ->required();
  archive->callback([opt] {
    std::vector<data::CameraCoverage> coverage;
    const data::Dataset d = data::import_h36m_archive(opt->root, &coverage);
    remove_stale_temporaries_beside(opt->out);
    data::write_dataset(d, opt->out);
    print_summary(opt->out, d);
    print_coverage(coverage);
  });

  auto* npz = cmd->add_subcommand(
      "npz",
      "Import VideoPose3D's npz files (positions_3d (N, 32, 3) metres; positions_2d [cam0..cam3] "
      "(N, K, 2) pixels) through scripts/convert_npz.py, which needs /usr/bin/python3 with "
      "numpy and h5py (apt-get install python3-numpy python3-h5py; $V3D_PYTHON overrides the "
      "interpreter, $V3D_SCRIPTS_DIR the scripts folder). Adds the shipped Human3.6M cameras");
  npz->add_option("--npz-3d", opt->npz_3d, "data_3d_h36m.npz")->required();
  npz->add_option("--npz-2d", opt->npz_2d,
                  "data_2d_h36m_<k>.npz: H36M-17 (CPN, ground truth), COCO-17 "
                  "(detectron_pt_coco) or MPII-16 (stacked hourglass) keypoints, told by the "
                  "metadata; the latter two are kept in their layout (data.keypoints coco17 or "
                  "mpii16). 2D longer than the mocap is truncated to it");
  npz->add_option("--out", opt->out, "output .h5 (written to a temporary file, then renamed)")
      ->required();
  npz->callback([opt] {
    const data::Dataset d = data::import_vp3d_npz(opt->npz_3d, opt->npz_2d);
    remove_stale_temporaries_beside(opt->out);
    data::write_dataset(d, opt->out);
    print_summary(opt->out, d);
  });

  auto* to_npz = cmd->add_subcommand(
      "to-npz",
      "Export a v3d file to VideoPose3D-style npz files (17 joints, metadata says so), through "
      "scripts/convert_npz.py");
  to_npz->add_option("--h5", opt->h5, "input v3d .h5")->required();
  to_npz->add_option("--out-3d", opt->out_3d, "output npz with positions_3d");
  to_npz->add_option("--out-2d", opt->out_2d, "output npz with positions_2d and metadata");
  to_npz->callback([opt] {
    data::read_dataset(opt->h5);  // the same validation as every reader, before exporting
    data::export_vp3d_npz(opt->h5, opt->out_3d, opt->out_2d);
    std::printf("%s -> %s%s%s\n", opt->h5.c_str(), opt->out_3d.c_str(),
                opt->out_3d.empty() || opt->out_2d.empty() ? "" : ", ", opt->out_2d.c_str());
  });

  auto* check = cmd->add_subcommand(
      "check",
      "Read and validate a v3d file and print a summary (subjects, actions, frames, "
      "cameras); exits 1 with a one-line error naming the object at fault");
  check->add_option("file", opt->file, "v3d .h5 file")->required();
  check->callback([opt] { print_summary(opt->file, data::read_dataset(opt->file)); });
}

}  // namespace v3d::apps
