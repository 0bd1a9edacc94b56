// References for the Long-term Pose Bank; see tests/reference/pose_bank.h.
#include "tests/reference/pose_bank.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace v3d::ref {

namespace {

template <class T>
bool all_finite(const T* p, int joints) {
  for (int i = 0; i < joints * 2; ++i)
    if (!std::isfinite(p[i])) return false;
  return true;
}

// The centre c(P) of (joints, 2) values of type T, accumulated in T.
template <class T>
void centre(const T* p, const PoseSkeletonRef& sk, T& cx, T& cy) {
  if (sk.root_center) {
    cx = p[0];
    cy = p[1];
    return;
  }
  T sx = 0, sy = 0;
  for (int j = 0; j < sk.joints; ++j) {
    sx += p[j * 2];
    sy += p[j * 2 + 1];
  }
  const T inv = static_cast<T>(1.0 / sk.joints);
  cx = sx * inv;
  cy = sy * inv;
}

int bone_count(const PoseSkeletonRef& sk) {
  int bones = 0;
  for (int q : sk.parents) bones += q >= 0 ? 1 : 0;
  return bones;
}

}  // namespace

Vec pose_similarity(const Vec& a, int64_t n, const Vec& b, int64_t m, const PoseSkeletonRef& sk) {
  const int J = sk.joints;
  const int bones = bone_count(sk);
  Vec s(static_cast<size_t>(n * m));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < m; ++k) {
      const double* pa = a.data() + i * J * 2;
      const double* pb = b.data() + k * J * 2;
      double& out = s[static_cast<size_t>(i * m + k)];
      if (!all_finite(pa, J) || !all_finite(pb, J)) {
        out = -std::numeric_limits<double>::infinity();
        continue;
      }
      double ax, ay, bx, by;
      centre(pa, sk, ax, ay);
      centre(pb, sk, bx, by);
      double length = 0.0;  // L(B): the mean bone length of b
      for (int j = 0; j < J; ++j) {
        const int q = sk.parents[static_cast<size_t>(j)];
        if (q >= 0) length += std::hypot(pb[j * 2] - pb[q * 2], pb[j * 2 + 1] - pb[q * 2 + 1]);
      }
      length = bones > 0 ? length / bones : 0.0;
      const double denom = std::max(J * length, 1e-6);
      double sum = 0.0;
      for (int j = 0; j < J; ++j)
        sum += std::hypot(pa[j * 2] - ax + bx - pb[j * 2], pa[j * 2 + 1] - ay + by - pb[j * 2 + 1]);
      out = 1.0 - sum / denom;
    }
  }
  return s;
}

float pose_similarity_f32(const float* a, const float* b, const PoseSkeletonRef& sk) {
  const int J = sk.joints;
  if (!all_finite(a, J) || !all_finite(b, J)) return -std::numeric_limits<float>::infinity();
  float ax, ay, bx, by;
  centre(a, sk, ax, ay);
  centre(b, sk, bx, by);
  float bone_sum = 0.0f;
  for (int j = 0; j < J; ++j) {
    const int q = sk.parents[static_cast<size_t>(j)];
    if (q < 0) continue;
    const float ex = b[j * 2] - b[q * 2], ey = b[j * 2 + 1] - b[q * 2 + 1];
    bone_sum += std::sqrt(ex * ex + ey * ey);
  }
  const int bones = bone_count(sk);
  const float inv_bones = bones > 0 ? static_cast<float>(1.0 / bones) : 0.0f;
  const float denom = std::max(static_cast<float>(J) * (bone_sum * inv_bones), 1e-6f);
  float sum = 0.0f;
  for (int j = 0; j < J; ++j) {
    const float dx = (a[j * 2] - ax) + (bx - b[j * 2]);
    const float dy = (a[j * 2 + 1] - ay) + (by - b[j * 2 + 1]);
    sum += std::sqrt(dx * dx + dy * dy);
  }
  return 1.0f - sum / denom;
}

PoseBankRef pose_bank(const std::vector<float>& poses, const std::vector<int32_t>& offsets,
                      const PoseSkeletonRef& sk, int capacity, float threshold, bool offered) {
  const size_t num_seq = offsets.size() - 1, cap = static_cast<size_t>(capacity);
  const int64_t stride = sk.joints * 2;
  PoseBankRef out;
  out.frames.assign(num_seq * cap, -1);
  out.as.assign(num_seq * cap, 0.0f);
  out.size.assign(num_seq, 0);
  out.history.assign(static_cast<size_t>(offsets.back()) * cap, -1);
  for (size_t k = 0; k < num_seq; ++k) {
    const float* seq = poses.data() + offsets[k] * stride;
    std::vector<int32_t> slot(cap, -1);  // source frames, filled from slot 0
    std::vector<float> as(cap, 0.0f);
    int size = 0;
    auto pose = [&](int32_t f) { return seq + f * stride; };
    for (int32_t f = 0; f < offsets[k + 1] - offsets[k]; ++f) {
      const bool valid = all_finite(pose(f), sk.joints);
      bool insert = valid;
      std::vector<float> s_x(cap, 0.0f);  // S(x, entry_i)
      for (int i = 0; valid && i < size; ++i) {
        s_x[static_cast<size_t>(i)] =
            pose_similarity_f32(pose(f), pose(slot[static_cast<size_t>(i)]), sk);
        if (s_x[static_cast<size_t>(i)] >= threshold) insert = false;
      }
      if (offered && valid && !insert)
        for (int i = 0; i < size; ++i) as[static_cast<size_t>(i)] += s_x[static_cast<size_t>(i)];
      if (insert) {
        size_t target = static_cast<size_t>(size);
        if (size < capacity) {
          ++size;
        } else {
          // The largest AS; among equal AS the smallest source frame.
          target = 0;
          for (size_t i = 0; i < cap; ++i)
            if (as[i] > as[target] || (as[i] == as[target] && slot[i] < slot[target])) target = i;
        }
        slot[target] = f;
        if (offered) {
          // The other entries add S(x, entry_i); the new one starts from 0.
          for (size_t i = 0; i < static_cast<size_t>(size); ++i)
            as[i] = i == target ? 0.0f : as[i] + s_x[i];
        }
        // Or AS from its definition, every similarity evaluated afresh.
        for (int i = 0; !offered && i < size; ++i) {
          float acc = 0.0f;
          for (int j = 0; j < size; ++j)
            if (j != i)
              acc += pose_similarity_f32(pose(slot[static_cast<size_t>(i)]),
                                         pose(slot[static_cast<size_t>(j)]), sk);
          as[static_cast<size_t>(i)] = acc;
        }
      }
      std::copy(slot.begin(), slot.end(),
                out.history.begin() + static_cast<int64_t>(offsets[k] + f) * capacity);
    }
    std::copy(slot.begin(), slot.end(), out.frames.begin() + static_cast<int64_t>(k * cap));
    std::copy(as.begin(), as.end(), out.as.begin() + static_cast<int64_t>(k * cap));
    out.size[k] = size;
  }
  return out;
}

PoseFuseRef pose_bank_fuse(const std::vector<float>& poses, const std::vector<int32_t>& offsets,
                           const PoseSkeletonRef& sk, int radius, float fusion_threshold,
                           int max_insert, int capacity, const std::vector<int32_t>& banks,
                           const std::vector<int32_t>& bank_row, const FuseRuleRef& rule) {
  const int r = radius, window = 2 * r + 1;
  // Centre slot and the halves' lengths: r, r on each side; causal: 2r past, none after.
  const int c = rule.causal ? 2 * r : r, half_right = window - 1 - c;
  const int keep = std::clamp(max_insert, 0, 2 * r);
  const int64_t stride = sk.joints * 2;
  PoseFuseRef out;
  out.index_map.assign(static_cast<size_t>(offsets.back()) * static_cast<size_t>(window), -1);
  out.fused.assign(static_cast<size_t>(offsets.back()), 0);
  for (size_t k = 0; k + 1 < offsets.size(); ++k) {
    const int32_t n = offsets[k + 1] - offsets[k];
    const float* seq = poses.data() + offsets[k] * stride;
    auto clamp = [n](int64_t i) { return static_cast<int32_t>(std::clamp<int64_t>(i, 0, n - 1)); };
    for (int32_t t = 0; t < n; ++t) {
      const int64_t g = offsets[k] + t;
      struct Cand {
        float s;
        int32_t frame;
      };
      std::vector<Cand> cands;
      if (all_finite(seq + t * stride, sk.joints)) {
        for (int i = 0; i < capacity; ++i) {
          const int32_t src = banks[static_cast<size_t>(
              static_cast<int64_t>(bank_row[static_cast<size_t>(g)]) * capacity + i)];
          if (src < 0 || src >= n || (src >= t - c && src <= t + half_right)) continue;
          if (!all_finite(seq + src * stride, sk.joints)) continue;
          const float s = pose_similarity_f32(seq + src * stride, seq + t * stride, sk);
          if (s >= fusion_threshold) cands.push_back({s, src});
        }
      }
      // Slot order is kept among full ties (stable sort).
      std::stable_sort(cands.begin(), cands.end(), [](const Cand& a, const Cand& b) {
        return a.s > b.s || (a.s == b.s && a.frame < b.frame);
      });
      if (static_cast<int>(cands.size()) > keep) cands.resize(static_cast<size_t>(keep));
      int32_t* row = out.index_map.data() + g * window;
      // l[w] = S(L_w, x_t) of the plain window's local frames (NaN counts as -inf).
      std::vector<float> l(static_cast<size_t>(window), 0.0f);
      for (int w = 0; w < window; ++w) {
        const float v = pose_similarity_f32(seq + clamp(t - c + w) * stride, seq + t * stride, sk);
        l[static_cast<size_t>(w)] = std::isnan(v) ? -std::numeric_limits<float>::infinity() : v;
      }
      if (rule.gate != 0 && !cands.empty()) {
        float gv = 0.0f;
        if (rule.gate == 2) {
          gv = std::numeric_limits<float>::infinity();
          for (int w = 0; w < window; ++w)
            if (w != c && l[static_cast<size_t>(w)] < gv) gv = l[static_cast<size_t>(w)];
        } else {
          for (int w = 0; w < window; ++w)
            if (w != c) gv += l[static_cast<size_t>(w)];
          gv /= static_cast<float>(2 * r);
        }
        if (!(gv < rule.gate_threshold)) cands.clear();
      }
      if (rule.placement != 0) {
        // Replace in place: per half, the chosen slots innermost first take the half's ranks.
        for (int w = 0; w < window; ++w) row[w] = clamp(t - c + w);
        for (int side = 0; side < 2; ++side) {
          std::vector<int32_t> mine;  // this half's candidates, best first
          for (size_t q = 0; q < cands.size(); ++q)
            if (rule.causal ? side == 0 : static_cast<int>(q % 2) == side)
              mine.push_back(cands[q].frame);
          std::vector<int> dists;  // distances from the centre of the replaced slots
          for (int d = 1; d <= (side == 0 ? c : half_right); ++d) dists.push_back(d);
          if (rule.placement == 2) {
            std::reverse(dists.begin(), dists.end());
          } else {
            auto lw = [&](int d) { return l[static_cast<size_t>(side == 0 ? c - d : c + d)]; };
            // Selection sort: least similar first, ties the farther slot.
            for (size_t a = 0; a < dists.size(); ++a)
              for (size_t b = a + 1; b < dists.size(); ++b)
                if (lw(dists[b]) < lw(dists[a]) ||
                    (lw(dists[b]) == lw(dists[a]) && dists[b] > dists[a]))
                  std::swap(dists[a], dists[b]);
          }
          dists.resize(mine.size());
          std::sort(dists.begin(), dists.end());
          for (size_t q = 0; q < mine.size(); ++q)
            row[side == 0 ? c - dists[q] : c + dists[q]] = mine[q];
        }
        out.fused[static_cast<size_t>(g)] = cands.empty() ? 0 : 1;
        continue;
      }
      // Each half from the centre outward: inserted poses (best innermost), then the local
      // frames; whatever lies past r slots drops out.
      std::vector<int32_t> left, right;
      for (size_t q = 0; q < cands.size(); ++q)
        (rule.causal || q % 2 == 0 ? left : right).push_back(cands[q].frame);
      for (int d = 1; d <= c; ++d) left.push_back(clamp(static_cast<int64_t>(t) - d));
      for (int d = 1; d <= half_right; ++d) right.push_back(clamp(static_cast<int64_t>(t) + d));
      row[c] = t;
      for (int d = 1; d <= c; ++d) row[c - d] = left[static_cast<size_t>(d - 1)];
      for (int d = 1; d <= half_right; ++d) row[c + d] = right[static_cast<size_t>(d - 1)];
      bool differs = false;
      for (int w = 0; w < window; ++w) differs = differs || row[w] != clamp(t - c + w);
      out.fused[static_cast<size_t>(g)] = differs ? 1 : 0;
    }
  }
  return out;
}

}  // namespace v3d::ref
