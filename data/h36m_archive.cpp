// Importers of data/h36m_archive.h: the 3d-pose-baseline archive (HDF5, read here) and
// VideoPose3D's npz files (through scripts/convert_npz.py, run as a child process).
//
// Archive file: dataset /3D_positions, (96, N) float, millimetres; row r = j * 3 + c for mocap
// joint j in [0, 32) and coordinate c, column n = frame (VideoPose3D reshapes it to (32, 3, N)
// and transposes to (N, 32, 3)). We keep kH36mKeptJoints and divide by 1000 in double before the
// float32 cast, as numpy does, so values match VideoPose3D's data_3d_h36m.npz bit for bit.
#include <fcntl.h>
#include <hdf5.h>
#include <sys/wait.h>
#include <unistd.h>

#include <H5Cpp.h>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include "data/camera.h"
#include "data/dataset.h"
#include "data/h36m_archive.h"
#include "data/h5_util.h"
#include "kernels/common.h"

namespace v3d::data {

namespace fs = std::filesystem;

namespace {

constexpr int kMocapJoints = 32;

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
}

// One archive file -> (N, 17, 3) metres.
std::vector<float> read_archive_file(const std::string& file, int64_t& frames) {
  const std::string object = "/3D_positions";
  const h5::ObjectReader reader(file);
  H5::H5File f = reader.open();
  const bool exists =
      reader.has(f, "3D_positions", "/") && reader.kind(f, "3D_positions", "/") == H5O_TYPE_DATASET;
  V3D_CHECK(exists, file << ": " << object << ": missing dataset");
  H5::DataSet ds = h5::call(file, object, "cannot open", [&] { return f.openDataSet(object); });
  const H5T_class_t cls =
      h5::call(file, object, "cannot read type", [&] { return ds.getTypeClass(); });
  V3D_CHECK(cls == H5T_FLOAT, file << ": " << object << ": expected float values");
  std::vector<hsize_t> dims = h5::call(file, object, "cannot read shape", [&] {
    H5::DataSpace space = ds.getSpace();
    std::vector<hsize_t> d(static_cast<size_t>(std::max(space.getSimpleExtentNdims(), 0)));
    if (!d.empty()) space.getSimpleExtentDims(d.data());
    return d;
  });
  std::string shape = "(";
  for (size_t i = 0; i < dims.size(); ++i) shape += (i ? ", " : "") + std::to_string(dims[i]);
  shape += dims.size() == 1 ? ",)" : ")";
  V3D_CHECK(dims.size() == 2 && dims[0] == kMocapJoints * 3,
            file << ": " << object << ": expected (96, N) (32 joints x 3, frames), got " << shape);
  V3D_CHECK(dims[1] > 0, file << ": " << object << ": 0 frames");
  // Before allocating: a few KB of file can declare any frame count.
  V3D_REQUIRE(dims[1] <= static_cast<hsize_t>(kMaxFrames), file << ": " << object << ": " << dims[1]
                                                                << " frames (expected at most "
                                                                << kMaxFrames << ")");
  const size_t N = dims[1];
  // raw: (96, N) float64, millimetres
  std::vector<double> raw(kMocapJoints * 3 * N);
  h5::call(file, object, "cannot read values",
           [&] { ds.read(raw.data(), H5::PredType::NATIVE_DOUBLE); });
  frames = static_cast<int64_t>(N);
  const int J = static_cast<int>(kH36mKeptJoints.size());
  std::vector<float> out(N * J * 3);  // (N, 17, 3) metres
  for (size_t n = 0; n < N; ++n) {
    for (int j = 0; j < J; ++j) {
      for (int c = 0; c < 3; ++c) {
        const double mm = raw[(static_cast<size_t>(kH36mKeptJoints[j]) * 3 + c) * N + n];
        V3D_CHECK(std::isfinite(mm), file << ": " << object << ": NaN or Inf at frame " << n
                                          << ", mocap joint " << kH36mKeptJoints[j]);
        out[(n * J + j) * 3 + c] = static_cast<float>(mm / 1000.0);
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Child processes: argv only (no shell), stderr captured for the error message.

struct ProcessResult {
  int status = 0;  // exit status, or 128 + signal
  std::string err;
};

ProcessResult run_process(const std::vector<std::string>& argv) {
  // Everything the child needs is prepared before fork: between fork and exec a child of a
  // multi-threaded process may only make async-signal-safe calls (no malloc).
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const std::string exec_failed = "cannot execute " + argv[0] + "\n";
  int pipe_fd[2];
  V3D_CHECK(pipe(pipe_fd) == 0, "cannot create a pipe to run " << argv[0]);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(pipe_fd[1], STDERR_FILENO);
    close(pipe_fd[0]);
    close(pipe_fd[1]);
    execv(args[0], args.data());
    (void)!write(STDERR_FILENO, exec_failed.data(), exec_failed.size());
    _exit(127);
  }
  close(pipe_fd[1]);
  if (pid < 0) {
    close(pipe_fd[0]);
    V3D_CHECK(pid >= 0, "cannot fork to run " << argv[0]);
  }
  ProcessResult result;
  char buf[4096];
  for (ssize_t n; (n = read(pipe_fd[0], buf, sizeof(buf))) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    result.err.append(buf, static_cast<size_t>(n));
  }
  close(pipe_fd[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

std::string last_line(const std::string& text) {
  size_t end = text.find_last_not_of("\n\r ");
  if (end == std::string::npos) return "";
  const size_t begin = text.rfind('\n', end);
  return text.substr(begin == std::string::npos ? 0 : begin + 1,
                     end + 1 - (begin == std::string::npos ? 0 : begin + 1));
}

std::string python_interpreter() {
  const char* env = std::getenv("V3D_PYTHON");
  return env != nullptr && env[0] != '\0' ? env : "/usr/bin/python3";
}

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

}  // namespace

// ---------------------------------------------------------------------------------------------

std::string canonical_h36m_action(const std::string& name) {
  std::string out = name;
  replace_all(out, "TakingPhoto", "Photo");
  replace_all(out, "WalkingDog", "WalkDog");
  return out;
}

bool h36m_action_dropped(const std::string& subject, const std::string& canonical_action) {
  return subject == "S11" && canonical_action == "Directions";
}

void attach_h36m_cameras(Dataset& dataset) {
  for (auto& [name, subject] : dataset.subjects) {
    for (int k = 0; k < 4; ++k) subject.cameras[k] = h36m_camera(name, k);
  }
}

std::vector<CameraCoverage> camera_coverage(const Dataset& dataset) {
  std::vector<CameraCoverage> out;
  for (const auto& [name, subject] : dataset.subjects) {
    for (const auto& [k, cam] : subject.cameras) {
      CameraCoverage c;
      c.subject = name;
      c.index = k;
      c.id = cam.id;
      c.extrinsics = cam.has_extrinsics;
      c.res_w = cam.res_w;
      c.res_h = cam.res_h;
      if (cam.has_extrinsics) {
        for (const auto& [action, a] : subject.actions) {
          if (a.positions_3d.empty()) continue;
          const std::vector<float> xyz = world_to_camera(a.positions_3d, cam);
          const std::vector<float> px =
              image_coordinates(project_to_2d(xyz, cam), cam.res_w, cam.res_h);
          // xyz (N, 3) camera space, px (N, 2) pixels
          const int64_t n = static_cast<int64_t>(xyz.size()) / 3;
          for (int64_t i = 0; i < n; ++i) {
            const float x = px[2 * i], y = px[2 * i + 1];
            const bool in = xyz[3 * i + 2] > 0.0f && x >= 0.0f && y >= 0.0f &&
                            x <= static_cast<float>(cam.res_w) &&
                            y <= static_cast<float>(cam.res_h);
            c.outside += in ? 0 : 1;
          }
          c.keypoints += n;
        }
      }
      out.push_back(std::move(c));
    }
  }
  return out;
}

std::string coverage_warning(const CameraCoverage& c) {
  if (c.outside == 0) return "";
  char pct[32];
  std::snprintf(pct, sizeof(pct), "%.1f%%", 100.0 * c.outside_fraction());
  return c.subject + " camera " + std::to_string(c.index) + " (" + c.id + "): " + pct +
         " of the projected 2D keypoints (" + std::to_string(c.outside) + " of " +
         std::to_string(c.keypoints) + ") fall outside its " + std::to_string(c.res_w) + "x" +
         std::to_string(c.res_h) + " image or behind it";
}

Dataset import_h36m_archive(const std::string& root_dir, std::vector<CameraCoverage>* coverage) {
  std::error_code ec;
  V3D_CHECK(fs::is_directory(root_dir, ec), root_dir << ": not a directory");
  Dataset d;
  d.skeleton = Skeleton::h36m17();
  d.fps = 50.0f;
  std::vector<fs::path> subject_dirs;
  for (const auto& e : fs::directory_iterator(root_dir)) {
    if (fs::is_directory(e.path() / "MyPoses" / "3D_positions", ec))
      subject_dirs.push_back(e.path());
  }
  std::sort(subject_dirs.begin(), subject_dirs.end());
  V3D_CHECK(!subject_dirs.empty(),
            root_dir << ": no <subject>/MyPoses/3D_positions/ folders (expected the extracted "
                        "3d-pose-baseline archive, e.g. h36m/ holding S1, S5, ...)");
  for (const auto& sdir : subject_dirs) {
    const std::string subject = sdir.filename().string();
    const fs::path pose_dir = sdir / "MyPoses" / "3D_positions";
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(pose_dir)) {
      if (e.path().extension() == ".h5") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    V3D_CHECK(!files.empty(), pose_dir.string() << ": no .h5 files");
    std::map<std::string, std::string> source_of;  // action -> file, to report collisions
    SubjectData& s = d.subjects[subject];
    for (const auto& file : files) {
      const std::string action = canonical_h36m_action(file.stem().string());
      if (h36m_action_dropped(subject, action)) continue;
      V3D_CHECK(source_of.count(action) == 0, file.string()
                                                  << ": action \"" << action
                                                  << "\" also comes from " << source_of[action]);
      source_of[action] = file.string();
      ActionData a;
      a.positions_3d = read_archive_file(file.string(), a.frames);
      s.actions[action] = std::move(a);
    }
  }
  for (auto& [name, subject] : d.subjects) {
    try {
      for (int k = 0; k < 4; ++k) subject.cameras[k] = h36m_camera(name, k);
    } catch (const Error& e) {
      throw Error((fs::path(root_dir) / name).string() + ": " + e.what());
    }
  }
  try {
    d.validate();
  } catch (const Error& e) {
    throw Error(root_dir + ": " + e.what());
  }
  if (coverage != nullptr) *coverage = camera_coverage(d);
  return d;
}

std::string find_convert_npz_script() {
  const char* env = std::getenv("V3D_SCRIPTS_DIR");
  if (env != nullptr && env[0] != '\0') {
    const fs::path p = fs::path(env) / "convert_npz.py";
    V3D_CHECK(is_file(p), "V3D_SCRIPTS_DIR=" << env << ": no convert_npz.py there");
    return p.string();
  }
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  std::vector<std::string> tried;
  if (!ec) {
    for (fs::path dir = exe.parent_path(); !dir.empty(); dir = dir.parent_path()) {
      const fs::path here = dir / "scripts" / "convert_npz.py";
      if (is_file(here)) return here.string();
      tried.push_back(here.string());
      // A build tree: its CMakeCache.txt names the source directory.
      std::ifstream cache(dir / "CMakeCache.txt");
      const std::string key = "CMAKE_HOME_DIRECTORY:INTERNAL=";
      for (std::string line; std::getline(cache, line);) {
        if (line.compare(0, key.size(), key) == 0) {
          const fs::path p = fs::path(line.substr(key.size())) / "scripts" / "convert_npz.py";
          if (is_file(p)) return p.string();
          tried.push_back(p.string());
        }
      }
      if (dir == dir.root_path()) break;
    }
  }
  V3D_CHECK(false,
            "cannot find convert_npz.py (set V3D_SCRIPTS_DIR to the scripts/ folder of a "
            "v3d checkout; tried "
                << tried.size() << " places from " << exe.string() << ")");
  return "";
}

void run_convert_npz(const std::vector<std::string>& args, const std::string& script_arg) {
  const std::string script = script_arg.empty() ? find_convert_npz_script() : script_arg;
  const std::string python = python_interpreter();
  V3D_CHECK(access(python.c_str(), X_OK) == 0,
            python << " not found: the npz converter needs Python 3 with numpy and h5py "
                      "(Debian/Ubuntu: sudo apt-get install python3 python3-numpy python3-h5py)");
  std::vector<std::string> argv = {python, script};
  argv.insert(argv.end(), args.begin(), args.end());
  const ProcessResult r = run_process(argv);
  if (r.status != 0) {
    std::string line = last_line(r.err);
    if (line.empty()) line = "exit status " + std::to_string(r.status);
    throw Error(line);
  }
}

Dataset import_vp3d_npz(const std::string& npz_3d, const std::string& npz_2d,
                        const std::string& script) {
  const fs::path tmp = fs::temp_directory_path() /
                       ("v3d-npz-" + std::to_string(static_cast<long>(getpid())) + ".h5");
  struct Remove {
    fs::path p;
    ~Remove() {
      std::error_code ignored;
      fs::remove(p, ignored);
    }
  } remove_tmp{tmp};
  std::vector<std::string> args = {"to-h5", "--npz-3d", npz_3d, "--out", tmp.string()};
  if (!npz_2d.empty()) args.insert(args.end(), {"--npz-2d", npz_2d});
  run_convert_npz(args, script);
  Dataset d = read_dataset(tmp.string());
  // The script writes the h36m17 structure with its own copy of the names; the shipped skeleton
  // is the one source of truth, provided the structure agrees.
  const Skeleton& h36m = Skeleton::h36m17();
  V3D_CHECK(d.skeleton.parents == h36m.parents && d.skeleton.joints_left == h36m.joints_left &&
                d.skeleton.joints_right == h36m.joints_right,
            npz_3d << ": convert_npz.py wrote a skeleton that is not h36m17 ('" << d.skeleton.name
                   << "')");
  d.skeleton = h36m;
  try {
    attach_h36m_cameras(d);
  } catch (const Error& e) {
    throw Error(npz_3d + ": " + e.what());
  }
  d.validate();
  return d;
}

void export_vp3d_npz(const std::string& h5, const std::string& out_3d, const std::string& out_2d,
                     const std::string& script) {
  V3D_CHECK(!out_3d.empty() || !out_2d.empty(),
            h5 << ": no output asked (out_3d and out_2d empty)");
  std::vector<std::string> args = {"to-npz", "--h5", h5};
  if (!out_3d.empty()) args.insert(args.end(), {"--out-3d", out_3d});
  if (!out_2d.empty()) args.insert(args.end(), {"--out-2d", out_2d});
  run_convert_npz(args, script);
}

}  // namespace v3d::data
