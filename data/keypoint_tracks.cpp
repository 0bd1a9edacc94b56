// Tracks of several people and their gap filling (data/keypoint_tracks.h).
#include "data/keypoint_tracks.h"

#include <algorithm>
#include <tuple>

#include "kernels/common.h"

namespace v3d::data {

namespace {

struct Box {
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  double cx() const { return 0.5 * (x0 + x1); }
  double cy() const { return 0.5 * (y0 + y1); }
  Box shifted(double dx, double dy) const { return {x0 + dx, y0 + dy, x1 + dx, y1 + dy}; }
};

// The bounding box of the keypoints scored >= min_score, or of all keypoints when none is.
Box keypoint_box(const Detection& d, int joints, float min_score) {
  bool any = false;
  for (int j = 0; j < joints; ++j)
    any = any || d.keypoints[static_cast<size_t>(3 * j + 2)] >= min_score;
  Box b{1e300, 1e300, -1e300, -1e300};
  for (int j = 0; j < joints; ++j) {
    const float* k = d.keypoints.data() + 3 * j;
    if (any && k[2] < min_score) continue;
    b.x0 = std::min(b.x0, double{k[0]});
    b.y0 = std::min(b.y0, double{k[1]});
    b.x1 = std::max(b.x1, double{k[0]});
    b.y1 = std::max(b.y1, double{k[1]});
  }
  return b;
}

double iou(const Box& a, const Box& b) {
  const double w = std::min(a.x1, b.x1) - std::max(a.x0, b.x0);
  const double h = std::min(a.y1, b.y1) - std::max(a.y0, b.y0);
  if (w <= 0 || h <= 0) return 0.0;
  const double inter = w * h;
  const double uni = (a.x1 - a.x0) * (a.y1 - a.y0) + (b.x1 - b.x0) * (b.y1 - b.y0) - inter;
  return uni > 0 ? inter / uni : 0.0;
}

struct LiveTrack {
  Box box;                // of its last detection
  int64_t frame = 0;      // of its last detection
  double vx = 0, vy = 0;  // box centre shift per frame between its last two detections
};

}  // namespace

std::vector<int> assign_tracks(const std::vector<Detection>& detections, int joints,
                               const TrackerOptions& options) {
  for (const auto& d : detections)
    V3D_CHECK(static_cast<int64_t>(d.keypoints.size()) == int64_t{joints} * 3,
              "assign_tracks: a detection has " << d.keypoints.size() << " values for " << joints
                                                << " keypoints");
  std::vector<size_t> order(detections.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return detections[a].frame < detections[b].frame; });
  std::vector<int> track(detections.size(), -1);
  std::vector<LiveTrack> tracks;
  std::vector<int> live;  // the tracks seen at most max_gap + 1 frames before, oldest first
  for (size_t begin = 0; begin < order.size();) {
    const int64_t frame = detections[order[begin]].frame;
    size_t end = begin;
    while (end < order.size() && detections[order[end]].frame == frame) ++end;
    std::vector<Box> boxes;
    for (size_t i = begin; i < end; ++i)
      boxes.push_back(keypoint_box(detections[order[i]], joints, options.min_score));
    // (IoU, track, detection) of every live pair above the threshold, best first.
    std::vector<std::tuple<double, int, size_t>> pairs;
    std::erase_if(live, [&](int k) {
      return frame - tracks[static_cast<size_t>(k)].frame > options.max_gap + 1;
    });
    for (int k : live) {
      const LiveTrack& t = tracks[static_cast<size_t>(k)];
      const int64_t gap = frame - t.frame;
      const Box predicted =
          t.box.shifted(t.vx * static_cast<double>(gap), t.vy * static_cast<double>(gap));
      for (size_t i = 0; i < boxes.size(); ++i) {
        const double v = iou(predicted, boxes[i]);
        if (v >= options.min_iou) pairs.emplace_back(v, k, i);
      }
    }
    std::stable_sort(pairs.begin(), pairs.end(), [](const auto& a, const auto& b) {
      if (std::get<0>(a) != std::get<0>(b)) return std::get<0>(a) > std::get<0>(b);
      if (std::get<1>(a) != std::get<1>(b)) return std::get<1>(a) < std::get<1>(b);
      return std::get<2>(a) < std::get<2>(b);
    });
    std::vector<bool> track_taken(tracks.size(), false);
    for (const auto& [v, k, i] : pairs) {
      const size_t d = order[begin + i];
      if (track_taken[static_cast<size_t>(k)] || track[d] >= 0) continue;
      track_taken[static_cast<size_t>(k)] = true;
      track[d] = k;
      LiveTrack& t = tracks[static_cast<size_t>(k)];
      const double gap = static_cast<double>(frame - t.frame);
      t.vx = (boxes[i].cx() - t.box.cx()) / gap;
      t.vy = (boxes[i].cy() - t.box.cy()) / gap;
      t.box = boxes[i];
      t.frame = frame;
    }
    for (size_t i = 0; i < boxes.size(); ++i) {
      const size_t d = order[begin + i];
      if (track[d] >= 0) continue;
      track[d] = static_cast<int>(tracks.size());
      live.push_back(track[d]);
      tracks.push_back({boxes[i], frame, 0.0, 0.0});
    }
    begin = end;
  }
  return track;
}

std::vector<float> fill_track(const std::vector<const Detection*>& detections, int joints,
                              float min_score) {
  V3D_CHECK(!detections.empty() && joints >= 1, "fill_track: no detections");
  for (size_t i = 1; i < detections.size(); ++i)
    V3D_CHECK(detections[i]->frame > detections[i - 1]->frame,
              "fill_track: frames not increasing at " << detections[i]->frame);
  const int64_t first = detections.front()->frame;
  const int64_t frames = detections.back()->frame - first + 1;
  std::vector<float> out(static_cast<size_t>(frames * joints * 2));
  for (int j = 0; j < joints; ++j) {
    const auto score = [&](const Detection* d) {
      return d->keypoints[static_cast<size_t>(3 * j + 2)];
    };
    const bool any_valid = std::any_of(detections.begin(), detections.end(),
                                       [&](const Detection* d) { return score(d) >= min_score; });
    // The valid samples of keypoint j, by frame.
    std::vector<const Detection*> valid;
    for (const Detection* d : detections)
      if (!any_valid || score(d) >= min_score) valid.push_back(d);
    size_t next = 0;  // the first valid sample at or after row t
    for (int64_t t = 0; t < frames; ++t) {
      const int64_t f = first + t;
      while (next < valid.size() && valid[next]->frame < f) ++next;
      const Detection* n = next < valid.size() ? valid[next] : nullptr;
      const Detection* p = next > 0 ? valid[next - 1] : nullptr;
      float* o = out.data() + (t * joints + j) * 2;
      for (int c = 0; c < 2; ++c) {
        const auto at = [&](const Detection* d) {
          return d->keypoints[static_cast<size_t>(3 * j + c)];
        };
        if (n != nullptr && (n->frame == f || p == nullptr)) {
          o[c] = at(n);
        } else if (n == nullptr) {
          o[c] = at(p);
        } else {
          const double w =
              static_cast<double>(f - p->frame) / static_cast<double>(n->frame - p->frame);
          o[c] = static_cast<float>(at(p) + (double{at(n)} - at(p)) * w);
        }
      }
    }
  }
  return out;
}

}  // namespace v3d::data
