// Several people in a detector's output (data/keypoint_tracks.h): the IoU tracker keeps two
// crossing people apart through a missed detection, and fill_track's interpolation of low-score
// keypoints and missed frames against values computed by hand.
#include "data/keypoint_tracks.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace v3d::data {
namespace {

// Two keypoints: (x, y, score) each.
Detection two_points(int64_t frame, float x0, float y0, float s0, float x1, float y1, float s1) {
  return {frame, {x0, y0, s0, x1, y1, s1}};
}

TEST(KeypointTracks, FillTrackInterpolatesMissedFramesAndLowScores) {
  // Frames 10, 13, 14: frames 11 and 12 missed; keypoint 1 of frame 13 scored 0.1 (below 0.3).
  const std::vector<Detection> d = {two_points(10, 10, 100, 0.9f, 50, 500, 0.9f),
                                    two_points(13, 40, 70, 0.8f, 999, 999, 0.1f),
                                    two_points(14, 44, 66, 0.7f, 90, 460, 0.95f)};
  const std::vector<float> out = fill_track({&d[0], &d[1], &d[2]}, 2, 0.3f);
  ASSERT_EQ(out.size(), 5u * 2 * 2);  // frames 10..14, 2 keypoints, (x, y)
  // Keypoint 0, frame 11: 10 + (40 - 10) * 1/3 = 20, 100 + (70 - 100) * 1/3 = 90; frame 12: 30, 80.
  const float want0[5][2] = {{10, 100}, {20, 90}, {30, 80}, {40, 70}, {44, 66}};
  // Keypoint 1 is valid at 10 and 14 only: 50 + (90 - 50) * (t - 10) / 4, 500 + (460 - 500) * ...
  const float want1[5][2] = {{50, 500}, {60, 490}, {70, 480}, {80, 470}, {90, 460}};
  for (int t = 0; t < 5; ++t) {
    for (int c = 0; c < 2; ++c) {
      EXPECT_FLOAT_EQ(out[static_cast<size_t>((t * 2 + 0) * 2 + c)], want0[t][c]) << t;
      EXPECT_FLOAT_EQ(out[static_cast<size_t>((t * 2 + 1) * 2 + c)], want1[t][c]) << t;
    }
  }
}

TEST(KeypointTracks, FillTrackHoldsAtTheEndsAndKeepsANeverValidKeypoint) {
  // Keypoint 0 is low at the first and last frames: held from frame 1. Keypoint 1 is never valid:
  // its detected values stay, frame 2 (missed) interpolated between them.
  const std::vector<Detection> d = {two_points(0, 5, 5, 0.0f, 1, 2, 0.1f),
                                    two_points(1, 7, 8, 0.5f, 3, 4, 0.2f),
                                    two_points(3, 9, 9, 0.2f, 7, 10, 0.0f)};
  const std::vector<float> out = fill_track({&d[0], &d[1], &d[2]}, 2, 0.3f);
  ASSERT_EQ(out.size(), 4u * 2 * 2);
  const float want[4][4] = {{7, 8, 1, 2}, {7, 8, 3, 4}, {7, 8, 5, 7}, {7, 8, 7, 10}};
  for (int t = 0; t < 4; ++t)
    for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(out[static_cast<size_t>(t * 4 + i)], want[t][i]);
}

// A person of two keypoints, the corners of a box of half-size `half` around (cx, cy).
Detection person(int64_t frame, double cx, double cy, double half) {
  return two_points(frame, static_cast<float>(cx - half), static_cast<float>(cy - half), 1.0f,
                    static_cast<float>(cx + half), static_cast<float>(cy + half), 1.0f);
}

TEST(KeypointTracks, CrossingPeopleKeepTheirTracksThroughAMissedDetection) {
  // A (large) walks right, B (small) walks left; they overlap fully around frame 10. A is missed
  // at frames 6 and 7; the detections of a frame come in changing order.
  std::vector<Detection> d;
  std::vector<int> who;  // 0: A, 1: B
  for (int64_t t = 0; t < 20; ++t) {
    const Detection a = person(t, 100 + 10.0 * static_cast<double>(t), 300, 60);
    const Detection b = person(t, 300 - 10.0 * static_cast<double>(t), 310, 30);
    const bool a_seen = t != 6 && t != 7;
    if (t % 2 == 0) {
      d.push_back(b);
      who.push_back(1);
      if (a_seen) d.push_back(a), who.push_back(0);
    } else {
      if (a_seen) d.push_back(a), who.push_back(0);
      d.push_back(b);
      who.push_back(1);
    }
  }
  const std::vector<int> track = assign_tracks(d, 2, {});
  ASSERT_EQ(track.size(), d.size());
  // B comes first in frame 0, so it is track 0.
  for (size_t i = 0; i < d.size(); ++i)
    EXPECT_EQ(track[i], who[i] == 1 ? 0 : 1)
        << "detection " << i << " (frame " << d[i].frame << ")";
  // A gap longer than max_gap starts a new track.
  TrackerOptions short_gap;
  short_gap.max_gap = 1;
  const std::vector<int> split = assign_tracks(d, 2, short_gap);
  int most = 0;
  for (int t : split) most = std::max(most, t);
  EXPECT_EQ(most, 2);  // B, A before its gap, A after it
}

}  // namespace
}  // namespace v3d::data
