// Several people in a 2D detector's output (`v3d infer`, `v3d ltb`): detections grouped into
// tracks, and each track made into one pose per frame.
//
//   assign_tracks  a greedy IoU tracker, for files without track ids: frame by frame, each
//                  detection goes to the live track whose predicted keypoint bounding box
//                  overlaps its own the most (IoU >= min_iou); the rest start new tracks.
//   fill_track     one track's detections -> (frames, J, 2) pixels from its first to its last
//                  frame: a keypoint scored below min_score, or in a frame without a detection,
//                  is linearly interpolated between the nearest frames of the track where that
//                  keypoint is valid, and held at the ends.
//
// docs/cli.md (`v3d infer`) documents both for users.
#pragma once

#include <cstdint>
#include <vector>

namespace v3d::data {

struct Detection {
  int64_t frame = 0;
  std::vector<float> keypoints;  // (J, 3): x, y in pixels and the detector's score
};

struct TrackerOptions {
  double min_iou = 0.3;    // the least IoU between a track's predicted box and a detection's box
  int64_t max_gap = 30;    // frames a track may miss and still continue
  float min_score = 0.3f;  // keypoints scored lower do not count towards a bounding box
};

// The track of every detection (0, 1, ... in order of first appearance), for detections of
// `joints` keypoints in any order. Detections are visited by frame, then in input order. A live
// track (last seen at most max_gap + 1 frames before) predicts its box by moving its last box at
// its last velocity (the shift of the box centre between its last two detections, per frame); the
// (track, detection) pairs of one frame are matched greedily, highest IoU first (ties: older
// track, earlier detection first). Each frame compares its detections with the live tracks only,
// so the work is bounded by (max_gap + 2) x the square of the most detections in one frame. A box
// spans the keypoints scored >= min_score (all keypoints when none is).
std::vector<int> assign_tracks(const std::vector<Detection>& detections, int joints,
                               const TrackerOptions& options);

// (last - first + 1, joints, 2) pixels for the detections of one track, sorted by frame with
// distinct frames (first = detections.front().frame). Keypoint j of frame t is valid when a
// detection exists at t and scores j >= min_score; an invalid keypoint takes
//   x(t) = x(p) + (x(n) - x(p)) (t - p) / (n - p)
// from the nearest valid frames p < t < n of keypoint j (likewise y), or x(p) / x(n) when only one
// side has one. A keypoint valid in no frame of the track keeps its detected values (the frames
// without a detection interpolated between them the same way).
std::vector<float> fill_track(const std::vector<const Detection*>& detections, int joints,
                              float min_score);

}  // namespace v3d::data
