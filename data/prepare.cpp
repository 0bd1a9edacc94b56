// Selection and preparation of sequences (data/prepare.h).
#include "data/prepare.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "data/camera.h"
#include "data/frame_util.h"
#include "data/sha256.h"
#include "kernels/common.h"

namespace v3d::data {

using detail::copy_frame;
using detail::sequence_name;
using detail::take_rows;

namespace {

bool starts_with_any(const std::string& name, const std::vector<std::string>& prefixes) {
  if (prefixes.empty()) return true;
  for (const auto& p : prefixes) {
    if (name.compare(0, p.size(), p) == 0) return true;
  }
  return false;
}

int root_joint(const Skeleton& skeleton) {
  for (size_t j = 0; j < skeleton.parents.size(); ++j) {
    if (skeleton.parents[j] < 0) return static_cast<int>(j);
  }
  return 0;
}

}  // namespace

int64_t deterministic_random(int64_t min_value, int64_t max_value, const std::string& data) {
  const auto digest = sha256(data);
  const uint32_t raw = uint32_t{digest[0]} | (uint32_t{digest[1]} << 8) |
                       (uint32_t{digest[2]} << 16) | (uint32_t{digest[3]} << 24);
  // Python: int(raw / (2**32 - 1) * (max - min)) + min, in float64, int() truncating.
  const double scaled =
      static_cast<double>(raw) / 4294967295.0 * static_cast<double>(max_value - min_value);
  return static_cast<int64_t>(std::trunc(scaled)) + min_value;
}

SubsetRange subset_range(int64_t frames, double subset, int downsample) {
  V3D_CHECK(subset > 0.0 && subset <= 1.0, "subset must be in (0, 1], got " << subset);
  V3D_CHECK(downsample >= 1, "downsample must be >= 1, got " << downsample);
  const int64_t ds = downsample;
  if (subset < 1.0) {
    // Python's round() rounds half to even, as nearbyint does in the default rounding mode.
    const double kept = static_cast<double>(frames / ds) * subset;
    const int64_t n = static_cast<int64_t>(std::nearbyint(kept)) * ds;
    const int64_t start = deterministic_random(0, frames - n + 1, std::to_string(frames));
    return {start, (n + ds - 1) / ds, ds};
  }
  return {0, (frames + ds - 1) / ds, ds};
}

const std::vector<std::string>& default_train_subjects() {
  static const std::vector<std::string> s = {"S1", "S5", "S6", "S7", "S8"};
  return s;
}

const std::vector<std::string>& default_test_subjects() {
  static const std::vector<std::string> s = {"S9", "S11"};
  return s;
}

void validate_sequence(const Sequence& seq, int keypoints, int joints, bool need_3d) {
  const std::string name = sequence_name(seq);
  V3D_CHECK(seq.frames > 0, "sequence " << name << " is empty (0 frames)");
  V3D_CHECK(static_cast<int64_t>(seq.poses_2d.size()) == seq.frames * keypoints * 2,
            "sequence " << name << ": poses_2d has " << seq.poses_2d.size() << " values, expected ("
                        << seq.frames << ", " << keypoints << ", 2)");
  if (need_3d || !seq.poses_3d.empty()) {
    V3D_CHECK(static_cast<int64_t>(seq.poses_3d.size()) == seq.frames * joints * 3,
              "sequence " << name << ": poses_3d has " << seq.poses_3d.size()
                          << " values, expected (" << seq.frames << ", " << joints << ", 3)");
  }
  auto check_finite = [&](const std::vector<float>& a, int per_frame, const char* field) {
    for (size_t i = 0; i < a.size(); ++i) {
      if (!std::isfinite(a[i])) {
        const int64_t frame = static_cast<int64_t>(i) / per_frame;
        // Readers refuse non-finite input, so from a file this is a finite value that overflowed
        // when normalised or projected.
        V3D_REQUIRE(false, "sequence " << name << ": " << field << " is " << a[i] << " at frame "
                                       << frame << ", value " << static_cast<int64_t>(i) % per_frame
                                       << " (expected finite values; a finite input this large "
                                          "overflows float32 when normalised or projected)");
      }
    }
  };
  check_finite(seq.poses_2d, keypoints * 2, "poses_2d");
  check_finite(seq.poses_3d, joints * 3, "poses_3d");
}

std::vector<Sequence> prepare_sequences(const Dataset& dataset, const PrepareSpec& spec) {
  const Skeleton& skeleton = dataset.skeleton;
  const int joints = skeleton.num_joints();
  V3D_CHECK(joints > 0, "prepare: the dataset's skeleton has no joints");
  V3D_CHECK(
      !spec.pseudo_coco || (skeleton.name == "h36m17" && joints == 17),
      "prepare: pseudo_coco needs the h36m17 skeleton, the dataset has '" << skeleton.name << "'");
  // The 2D's own layout (a detector's keypoints) is read as stored, and only when asked for.
  const std::string file_layout =
      dataset.keypoints_2d.empty() ? skeleton.name : dataset.keypoints_2d;
  const std::string wanted_layout = spec.keypoints_2d.empty() ? skeleton.name : spec.keypoints_2d;
  V3D_CHECK(file_layout == wanted_layout, "prepare: the file's 2D keypoints are "
                                              << file_layout << ", the model reads "
                                              << wanted_layout
                                              << " (data.keypoints must match the file's "
                                                 "keypoints_2d)");
  const bool own_layout = !dataset.keypoints_2d.empty();
  V3D_CHECK(!own_layout || (!spec.ground_truth_2d && !spec.pseudo_coco),
            "prepare: the file's 2D is " << file_layout
                                         << " keypoints, which neither ground-truth projection "
                                            "nor pseudo_coco can make from the 3D");
  const int keypoints = dataset.skeleton_2d().num_joints();
  // Fail on bad arguments before any work.
  (void)subset_range(1, spec.subset, spec.downsample);
  const int root = root_joint(skeleton);

  std::vector<Sequence> out;
  for (const std::string& subject : spec.subjects) {
    const auto sit = dataset.subjects.find(subject);
    V3D_CHECK(sit != dataset.subjects.end(),
              "prepare: subject " << subject << " is not in the dataset");
    const SubjectData& sd = sit->second;
    std::vector<int> cams = spec.cameras;
    if (cams.empty()) {
      for (const auto& [k, cam] : sd.cameras) cams.push_back(k);
    }
    for (const auto& [action, ad] : sd.actions) {
      if (!starts_with_any(action, spec.actions)) continue;
      const std::string where = subject + "/" + action;
      V3D_CHECK(ad.frames > 0, "prepare: sequence " << where << " is empty (0 frames)");
      const bool has_3d = !ad.positions_3d.empty();
      V3D_CHECK(!has_3d || static_cast<int64_t>(ad.positions_3d.size()) == ad.frames * joints * 3,
                "prepare: " << where << " positions_3d has " << ad.positions_3d.size()
                            << " values, expected (" << ad.frames << ", " << joints << ", 3)");
      const SubsetRange range = subset_range(ad.frames, spec.subset, spec.downsample);
      V3D_CHECK(range.count > 0,
                "prepare: sequence " << where << " is empty after subset " << spec.subset);
      const std::vector<float> world =
          has_3d ? take_rows(ad.positions_3d, joints * 3, range) : std::vector<float>{};

      for (int k : cams) {
        const auto cit = sd.cameras.find(k);
        V3D_CHECK(cit != sd.cameras.end(),
                  "prepare: " << where << " camera " << k << " is not a camera of " << subject);
        const Camera& cam = cit->second;
        const auto two_d = ad.positions_2d.find(k);
        const bool stored_2d = two_d != ad.positions_2d.end() && !spec.ground_truth_2d;
        if (!stored_2d && !has_3d) continue;  // nothing for this view
        V3D_CHECK(stored_2d || !own_layout,
                  "prepare: " << where << " camera " << k << " has no stored " << file_layout
                              << " 2D (which cannot be projected from the 3D)");

        Sequence seq;
        seq.subject = subject;
        seq.action = action;
        seq.camera = k;
        seq.frames = range.count;
        seq.intrinsic = cam.intrinsic();

        std::vector<float> camera_3d;
        if (has_3d && cam.has_extrinsics) camera_3d = world_to_camera(world, cam);
        if (stored_2d) {
          V3D_CHECK(cam.res_w > 0 && cam.res_h > 0,
                    "prepare: " << where << " camera " << k << " has no resolution (res_w "
                                << cam.res_w << ", res_h " << cam.res_h << ")");
          const std::vector<float>& px = two_d->second;
          const int64_t row = int64_t{keypoints} * 2;
          V3D_CHECK(static_cast<int64_t>(px.size()) % row == 0 &&
                        static_cast<int64_t>(px.size()) / row >= ad.frames,
                    "prepare: " << where << " positions_2d/" << k << " has " << px.size()
                                << " values, expected at least (" << ad.frames << ", " << keypoints
                                << ", 2)");
          // Rows past the mocap length (extra video frames) are dropped by the range.
          seq.poses_2d =
              normalize_screen_coordinates(take_rows(px, row, range), cam.res_w, cam.res_h);
        } else {
          V3D_CHECK(cam.has_extrinsics, "prepare: " << where << " camera " << k
                                                    << " has no 2D and no extrinsics to project "
                                                       "the 3D with");
          seq.poses_2d = project_to_2d(camera_3d, cam);  // normalised screen units already
        }
        if (!camera_3d.empty()) {
          seq.trajectory.resize(static_cast<size_t>(seq.frames * 3));
          for (int64_t t = 0; t < seq.frames; ++t)
            for (int c = 0; c < 3; ++c)
              seq.trajectory[static_cast<size_t>(t * 3 + c)] =
                  camera_3d[static_cast<size_t>((t * joints + root) * 3 + c)];
          make_root_relative(camera_3d, seq.frames, joints, root);
          seq.poses_3d = std::move(camera_3d);
        }
        if (spec.pseudo_coco) seq.poses_2d = to_pseudo_coco(seq.poses_2d, seq.frames, 2);
        validate_sequence(seq, keypoints, joints, false);
        out.push_back(std::move(seq));
      }
    }
  }
  V3D_CHECK(!out.empty(), "prepare: no sequence matches the selection ("
                              << spec.subjects.size() << " subjects, " << spec.actions.size()
                              << " action prefixes)");
  return out;
}

void flip_poses(std::vector<float>& poses, int64_t frames, const Skeleton& skeleton, int features) {
  const int joints = skeleton.num_joints();
  V3D_CHECK(static_cast<int64_t>(poses.size()) == frames * joints * features,
            "flip_poses: " << poses.size() << " values, expected (" << frames << ", " << joints
                           << ", " << features << ")");
  const std::vector<int> perm = skeleton.flip_permutation();
  std::vector<float> frame(static_cast<size_t>(joints * features));
  for (int64_t t = 0; t < frames; ++t) {
    float* p = poses.data() + t * joints * features;
    std::copy(p, p + joints * features, frame.begin());
    copy_frame(p, frame.data(), joints, features, perm.data());
  }
}

}  // namespace v3d::data
