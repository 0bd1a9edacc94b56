// Metrics and aggregation (trainer/metrics.h). Everything is double precision: the per-frame
// Procrustes and the sums over long sequences must not add float rounding to the reported mm.
#include "trainer/metrics.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "kernels/common.h"

namespace v3d {

namespace {

// Returns frames; checks that both arrays are (frames, joints, 3) with frames >= 1.
int64_t check_poses(std::span<const double> pred, std::span<const double> target, int64_t joints,
                    const char* what) {
  V3D_CHECK(joints >= 1, what << ": joints must be >= 1, got " << joints);
  V3D_CHECK(pred.size() == target.size(),
            what << ": prediction has " << pred.size() << " values, target " << target.size());
  const auto per_frame = static_cast<size_t>(joints) * 3;
  V3D_CHECK(!pred.empty() && pred.size() % per_frame == 0,
            what << ": " << pred.size() << " values are not (frames >= 1, " << joints << ", 3)");
  return static_cast<int64_t>(pred.size() / per_frame);
}

double norm3(double x, double y, double z) { return std::sqrt(x * x + y * y + z * z); }

// Mean over joints of ||scale * p_j R + t - x_j|| for one frame. p, x: (joints, 3).
double aligned_error(const double* p, const double* x, int64_t joints, const Similarity& sim) {
  const auto& r = sim.rotation;
  double sum = 0;
  for (int64_t j = 0; j < joints; ++j) {
    const double* pj = p + 3 * j;
    const double* xj = x + 3 * j;
    double d[3];
    for (int c = 0; c < 3; ++c) {
      // Row vector times R: (p R)_c = sum_k p_k R[k][c].
      const double pr = pj[0] * r[0 * 3 + c] + pj[1] * r[1 * 3 + c] + pj[2] * r[2 * 3 + c];
      d[c] = sim.scale * pr + sim.translation[c] - xj[c];
    }
    sum += norm3(d[0], d[1], d[2]);
  }
  return sum / static_cast<double>(joints);
}

// r = a b^T for row-major 3x3 a, b.
std::array<double, 9> mul_abt(const std::array<double, 9>& a, const std::array<double, 9>& b) {
  std::array<double, 9> r{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 3; ++k) r[i * 3 + j] += a[i * 3 + k] * b[j * 3 + k];
  return r;
}

}  // namespace

double det3x3(const std::array<double, 9>& a) {
  return a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6]) +
         a[2] * (a[3] * a[7] - a[4] * a[6]);
}

Svd3 svd3x3(const std::array<double, 9>& a) {
  // Rotate column pairs of w = a v until they are orthogonal; then w = u diag(s).
  std::array<double, 9> w = a;
  std::array<double, 9> v{1, 0, 0, 0, 1, 0, 0, 0, 1};
  auto col_dot = [](const std::array<double, 9>& m, int p, int q) {
    return m[p] * m[q] + m[3 + p] * m[3 + q] + m[6 + p] * m[6 + q];
  };
  auto rotate = [](std::array<double, 9>& m, int p, int q, double c, double s) {
    for (int i = 0; i < 3; ++i) {
      const double mp = m[i * 3 + p], mq = m[i * 3 + q];
      m[i * 3 + p] = c * mp - s * mq;
      m[i * 3 + q] = s * mp + c * mq;
    }
  };
  constexpr double kEps = 1e-15;
  for (int sweep = 0; sweep < 64; ++sweep) {
    bool rotated = false;
    for (int p = 0; p < 2; ++p) {
      for (int q = p + 1; q < 3; ++q) {
        const double alpha = col_dot(w, p, p), beta = col_dot(w, q, q), gamma = col_dot(w, p, q);
        if (gamma == 0 || std::abs(gamma) <= kEps * std::sqrt(alpha * beta)) continue;
        rotated = true;
        const double zeta = (beta - alpha) / (2 * gamma);
        const double t = (zeta >= 0 ? 1.0 : -1.0) / (std::abs(zeta) + std::sqrt(1 + zeta * zeta));
        const double c = 1 / std::sqrt(1 + t * t);
        rotate(w, p, q, c, c * t);
        rotate(v, p, q, c, c * t);
      }
    }
    if (!rotated) break;
  }
  // Sort columns by descending norm.
  std::array<double, 3> norms;
  for (int k = 0; k < 3; ++k) norms[k] = std::sqrt(col_dot(w, k, k));
  std::array<int, 3> order{0, 1, 2};
  std::sort(order.begin(), order.end(), [&](int x, int y) { return norms[x] > norms[y]; });
  Svd3 out;
  const double tiny = std::max(norms[order[0]], 1.0) * 1e-300;
  std::array<bool, 3> have{};
  for (int k = 0; k < 3; ++k) {
    const int src = order[k];
    out.s[k] = norms[src];
    for (int i = 0; i < 3; ++i) out.v[i * 3 + k] = v[i * 3 + src];
    if (norms[src] > tiny) {
      for (int i = 0; i < 3; ++i) out.u[i * 3 + k] = w[i * 3 + src] / norms[src];
      have[k] = true;
    }
  }
  // Complete u for zero singular values (only the last one or two can be zero).
  auto col = [&](int k) { return std::array<double, 3>{out.u[k], out.u[3 + k], out.u[6 + k]}; };
  auto set_col = [&](int k, const std::array<double, 3>& c) {
    for (int i = 0; i < 3; ++i) out.u[i * 3 + k] = c[i];
  };
  if (!have[0]) set_col(0, {1, 0, 0});
  if (!have[1]) {
    // Any unit vector orthogonal to column 0: cross it with the axis it is least aligned with.
    const auto c0 = col(0);
    int axis = 0;
    for (int i = 1; i < 3; ++i)
      if (std::abs(c0[i]) < std::abs(c0[axis])) axis = i;
    std::array<double, 3> e{};
    e[axis] = 1;
    std::array<double, 3> c1{c0[1] * e[2] - c0[2] * e[1], c0[2] * e[0] - c0[0] * e[2],
                             c0[0] * e[1] - c0[1] * e[0]};
    const double n = norm3(c1[0], c1[1], c1[2]);
    for (auto& x : c1) x /= n;
    set_col(1, c1);
  }
  if (!have[2]) {
    const auto c0 = col(0), c1 = col(1);
    set_col(2, {c0[1] * c1[2] - c0[2] * c1[1], c0[2] * c1[0] - c0[0] * c1[2],
                c0[0] * c1[1] - c0[1] * c1[0]});
  }
  return out;
}

double mpjpe(std::span<const double> pred, std::span<const double> target, int64_t joints) {
  const int64_t frames = check_poses(pred, target, joints, "mpjpe");
  double sum = 0;
  for (size_t i = 0; i < pred.size(); i += 3)
    sum += norm3(pred[i] - target[i], pred[i + 1] - target[i + 1], pred[i + 2] - target[i + 2]);
  return sum / static_cast<double>(frames * joints);
}

Similarity procrustes_fit(std::span<const double> pred, std::span<const double> target,
                          int64_t joints) {
  const int64_t frames = check_poses(pred, target, joints, "procrustes_fit");
  V3D_CHECK(frames == 1, "procrustes_fit: expected one frame of " << joints << " joints, got "
                                                                  << frames << " frames");
  // X = target, Y = pred (VideoPose3D's names): centre, normalise, H = X0^T Y0.
  std::array<double, 3> mu_x{}, mu_y{};
  for (int64_t j = 0; j < joints; ++j)
    for (int c = 0; c < 3; ++c) {
      mu_x[c] += target[3 * j + c];
      mu_y[c] += pred[3 * j + c];
    }
  for (int c = 0; c < 3; ++c) {
    mu_x[c] /= static_cast<double>(joints);
    mu_y[c] /= static_cast<double>(joints);
  }
  double norm_x = 0, norm_y = 0;
  std::array<double, 9> h{};
  for (int64_t j = 0; j < joints; ++j) {
    double x0[3], y0[3];
    for (int c = 0; c < 3; ++c) {
      x0[c] = target[3 * j + c] - mu_x[c];
      y0[c] = pred[3 * j + c] - mu_y[c];
      norm_x += x0[c] * x0[c];
      norm_y += y0[c] * y0[c];
    }
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) h[a * 3 + b] += x0[a] * y0[b];
  }
  norm_x = std::sqrt(norm_x);
  norm_y = std::sqrt(norm_y);
  Similarity sim;
  if (norm_x == 0 || norm_y == 0) {
    // Degenerate (VideoPose3D divides by zero here): the best fit collapses pred onto the
    // target's centroid.
    sim.scale = 0;
    sim.translation = mu_x;
    return sim;
  }
  for (auto& x : h) x /= norm_x * norm_y;
  Svd3 svd = svd3x3(h);
  // R = V U^T; the reflection fix makes it a proper rotation at the cost of the smallest
  // singular value's sign.
  std::array<double, 9> r = mul_abt(svd.v, svd.u);
  if (det3x3(r) < 0) {
    for (int i = 0; i < 3; ++i) svd.v[i * 3 + 2] = -svd.v[i * 3 + 2];
    svd.s[2] = -svd.s[2];
    r = mul_abt(svd.v, svd.u);
  }
  sim.rotation = r;
  sim.scale = (svd.s[0] + svd.s[1] + svd.s[2]) * norm_x / norm_y;
  for (int c = 0; c < 3; ++c) {
    const double mr = mu_y[0] * r[0 * 3 + c] + mu_y[1] * r[1 * 3 + c] + mu_y[2] * r[2 * 3 + c];
    sim.translation[c] = mu_x[c] - sim.scale * mr;
  }
  return sim;
}

double p_mpjpe(std::span<const double> pred, std::span<const double> target, int64_t joints) {
  const int64_t frames = check_poses(pred, target, joints, "p_mpjpe");
  const auto n = static_cast<size_t>(joints) * 3;
  double sum = 0;
  for (int64_t f = 0; f < frames; ++f) {
    const auto p = pred.subspan(static_cast<size_t>(f) * n, n);
    const auto x = target.subspan(static_cast<size_t>(f) * n, n);
    sum += aligned_error(p.data(), x.data(), joints, procrustes_fit(p, x, joints));
  }
  return sum / static_cast<double>(frames);
}

double n_mpjpe(std::span<const double> pred, std::span<const double> target, int64_t joints) {
  const int64_t frames = check_poses(pred, target, joints, "n_mpjpe");
  const auto n = static_cast<size_t>(joints) * 3;
  double sum = 0;
  for (int64_t f = 0; f < frames; ++f) {
    const double* p = pred.data() + static_cast<size_t>(f) * n;
    const double* x = target.data() + static_cast<size_t>(f) * n;
    double tp = 0, pp = 0;
    for (size_t i = 0; i < n; ++i) {
      tp += x[i] * p[i];
      pp += p[i] * p[i];
    }
    const double scale = pp > 0 ? tp / pp : 1.0;  // pp = 0: pred is all zeros, any scale
    for (size_t i = 0; i < n; i += 3)
      sum += norm3(scale * p[i] - x[i], scale * p[i + 1] - x[i + 1], scale * p[i + 2] - x[i + 2]);
  }
  return sum / static_cast<double>(frames * joints);
}

double mpjve(std::span<const double> pred, std::span<const double> target, int64_t joints) {
  const int64_t frames = check_poses(pred, target, joints, "mpjve");
  if (frames < 2) return 0;
  const auto n = static_cast<size_t>(joints) * 3;
  double sum = 0;
  for (size_t i = n; i < pred.size(); i += 3) {
    double d[3];
    for (int c = 0; c < 3; ++c)
      d[c] = (pred[i + c] - pred[i + c - n]) - (target[i + c] - target[i + c - n]);
    sum += norm3(d[0], d[1], d[2]);
  }
  return sum / static_cast<double>((frames - 1) * joints);
}

Metric parse_metric(const std::string& name) {
  if (const auto m = parse_enum<Metric>(name)) return *m;
  throw Error("unknown metric '" + name + "' (choose from " + enum_names<Metric>() + ")");
}

const char* metric_name(Metric m) { return to_string(m); }

const char* metric_title(Metric m) {
  switch (m) {
    case Metric::kMpjpe:
      return "MPJPE";
    case Metric::kPMpjpe:
      return "P-MPJPE";
    case Metric::kNMpjpe:
      return "N-MPJPE";
    case Metric::kMpjve:
      return "MPJVE";
  }
  return "?";
}

double Errors::get(Metric m) const {
  switch (m) {
    case Metric::kMpjpe:
      return mpjpe;
    case Metric::kPMpjpe:
      return p_mpjpe;
    case Metric::kNMpjpe:
      return n_mpjpe;
    case Metric::kMpjve:
      return mpjve;
  }
  return 0;
}

Errors sequence_errors(std::span<const double> pred, std::span<const double> target,
                       int64_t joints) {
  Errors e;
  e.frames = check_poses(pred, target, joints, "sequence_errors");
  e.velocity_frames = e.frames >= 2 ? e.frames : 0;
  e.mpjpe = mpjpe(pred, target, joints);
  e.p_mpjpe = p_mpjpe(pred, target, joints);
  e.n_mpjpe = n_mpjpe(pred, target, joints);
  e.mpjve = mpjve(pred, target, joints);
  return e;
}

std::string action_group(const std::string& action) { return action.substr(0, action.find(' ')); }

void ErrorAggregator::add(const std::string& action, const Errors& sequence) {
  const std::string group = action_group(action);
  auto it =
      std::find_if(sums_.begin(), sums_.end(), [&](const Sum& s) { return s.action == group; });
  if (it == sums_.end()) {
    sums_.push_back(Sum{group});
    it = sums_.end() - 1;
  }
  // VideoPose3D accumulates each sequence's mean times its frame count.
  const auto w = static_cast<double>(sequence.frames);
  const auto wv = static_cast<double>(sequence.velocity_frames);
  it->mpjpe += sequence.mpjpe * w;
  it->p_mpjpe += sequence.p_mpjpe * w;
  it->n_mpjpe += sequence.n_mpjpe * w;
  it->mpjve += sequence.mpjve * wv;
  it->frames += sequence.frames;
  it->velocity_frames += sequence.velocity_frames;
}

std::vector<ActionErrors> ErrorAggregator::actions() const {
  std::vector<ActionErrors> out;
  for (const Sum& s : sums_) {
    ActionErrors a{s.action, {}};
    const auto w = static_cast<double>(s.frames);
    if (s.frames > 0) {
      a.errors.mpjpe = s.mpjpe / w;
      a.errors.p_mpjpe = s.p_mpjpe / w;
      a.errors.n_mpjpe = s.n_mpjpe / w;
    }
    if (s.velocity_frames > 0) a.errors.mpjve = s.mpjve / static_cast<double>(s.velocity_frames);
    a.errors.frames = s.frames;
    a.errors.velocity_frames = s.velocity_frames;
    out.push_back(std::move(a));
  }
  return out;
}

Errors ErrorAggregator::mean() const {
  Errors m;
  const auto groups = actions();
  if (groups.empty()) return m;
  for (const auto& a : groups) {
    m.mpjpe += a.errors.mpjpe;
    m.p_mpjpe += a.errors.p_mpjpe;
    m.n_mpjpe += a.errors.n_mpjpe;
    m.mpjve += a.errors.mpjve;
    m.frames += a.errors.frames;
    m.velocity_frames += a.errors.velocity_frames;
  }
  const auto n = static_cast<double>(groups.size());
  m.mpjpe /= n;
  m.p_mpjpe /= n;
  m.n_mpjpe /= n;
  m.mpjve /= n;
  return m;
}

}  // namespace v3d
