// A synthetic sequence to render, and pixel checks on the images: shared by the render tests.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "data/prepare.h"
#include "data/synth.h"
#include "report/render.h"

namespace v3d::test {

// S9's synthetic Walking, 60 frames seen by camera 0, prepared as for evaluation (normalised 2D,
// camera-space root-relative 3D); the "prediction" is the truth moved 0.4 m to the right, so
// that the two skeletons are apart and the frame's MPJPE is 400 mm.
inline report::RenderSequence synthetic_render_sequence() {
  data::SynthOptions so;
  so.subjects = {"S9"};
  so.actions = {"Walking"};
  so.frames_per_action = 60;
  data::PrepareSpec spec;
  spec.subjects = {"S9"};
  spec.cameras = {0};
  const std::vector<data::Sequence> seqs = data::prepare_sequences(data::synthesize(so), spec);
  std::vector<float> pred = seqs.at(0).poses_3d;
  for (size_t i = 0; i < pred.size(); i += 3) pred[i] += 0.4f;
  return report::render_sequence_of(seqs.at(0), std::move(pred), data::Skeleton::h36m17(),
                                    data::Skeleton::h36m17());
}

// An RGB image (3 bytes a pixel, row-major).
struct Image {
  int width = 0, height = 0;
  const std::vector<uint8_t>& rgb;

  // Whether a pixel within `radius` of p is within `tolerance` of `color` in each channel.
  bool has_color_near(const std::array<double, 2>& p, uint32_t color, int radius,
                      int tolerance) const {
    const int cx = static_cast<int>(std::floor(p[0])), cy = static_cast<int>(std::floor(p[1]));
    for (int y = cy - radius; y <= cy + radius; ++y) {
      for (int x = cx - radius; x <= cx + radius; ++x) {
        if (x < 0 || y < 0 || x >= width || y >= height) continue;
        const uint8_t* px = &rgb[(static_cast<size_t>(y) * width + x) * 3];
        const int want[3] = {static_cast<int>((color >> 16) & 0xff),
                             static_cast<int>((color >> 8) & 0xff), static_cast<int>(color & 0xff)};
        if (std::abs(px[0] - want[0]) <= tolerance && std::abs(px[1] - want[1]) <= tolerance &&
            std::abs(px[2] - want[2]) <= tolerance) {
          return true;
        }
      }
    }
    return false;
  }
};

}  // namespace v3d::test
