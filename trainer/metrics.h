// Pose-error metrics and their aggregation, as VideoPose3D's common/loss.py and run.py's
// evaluate() (docs/cli.md, `v3d eval`).
//
// Every metric takes a prediction and a target of shape (frames, joints, 3), row-major, on the
// host, in double, and returns the mean over frames and joints (in the input's unit; v3d poses
// are metres, reports are millimetres). All joints count, the root included.
//   mpjpe     mean ||pred - target||
//   p_mpjpe   per frame, a similarity Procrustes fit of pred onto target (rotation with the
//             reflection fix, uniform scale, translation), then the mean error of the fit
//   n_mpjpe   per frame, pred times its least-squares scale sum(target.pred) / sum(pred.pred),
//             then mpjpe (Rhodin et al.'s Protocol #3)
//   mpjve     mean ||diff(pred) - diff(target)|| with first differences along frames
//
// Aggregation (ErrorAggregator): each sequence contributes its mean errors weighted by its frame
// count to the group of its action; actions are merged by the first word of their name
// ("Walking 1" -> "Walking"); the overall number is the unweighted mean over action groups.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "trainer/enum_names.h"

namespace v3d {

// a = u diag(s) v^T, row-major 3x3 matrices; s descending and >= 0, u and v orthogonal.
struct Svd3 {
  std::array<double, 9> u{}, v{};
  std::array<double, 3> s{};
};
// One-sided Jacobi (Hestenes) on the columns of `a`: converges to machine precision in a few
// sweeps for 3x3. Rank-deficient inputs get u completed to an orthonormal basis (the columns
// belonging to zero singular values are arbitrary, as in any SVD).
Svd3 svd3x3(const std::array<double, 9>& a);
double det3x3(const std::array<double, 9>& a);

// Throw v3d::Error when the sizes are not (frames, joints, 3) for one frames >= 1, or differ.
double mpjpe(std::span<const double> pred, std::span<const double> target, int64_t joints);
double p_mpjpe(std::span<const double> pred, std::span<const double> target, int64_t joints);
double n_mpjpe(std::span<const double> pred, std::span<const double> target, int64_t joints);
// 0 for a single frame (no differences; VideoPose3D's numpy would give NaN).
double mpjve(std::span<const double> pred, std::span<const double> target, int64_t joints);

// The similarity transform p_mpjpe applies to one frame: aligned_j = scale * pred_j R + t, with
// row vectors (VideoPose3D's convention). pred, target: (joints, 3). A frame whose prediction or
// target has all joints at one point gets scale 0 and t = the target's centroid.
struct Similarity {
  std::array<double, 9> rotation{1, 0, 0, 0, 1, 0, 0, 0, 1};  // R, row-major, det +1
  double scale = 1;
  std::array<double, 3> translation{};
};
Similarity procrustes_fit(std::span<const double> pred, std::span<const double> target,
                          int64_t joints);

enum class Metric { kMpjpe, kPMpjpe, kNMpjpe, kMpjve };
// The eval.metrics names.
template <>
struct EnumTable<Metric> {
  static constexpr EnumName<Metric> kNames[] = {{Metric::kMpjpe, "mpjpe"},
                                                {Metric::kPMpjpe, "p_mpjpe"},
                                                {Metric::kNMpjpe, "n_mpjpe"},
                                                {Metric::kMpjve, "mpjve"}};
};
// "mpjpe", "p_mpjpe", "n_mpjpe", "mpjve" (eval.metrics names); throws listing them.
Metric parse_metric(const std::string& name);
const char* metric_name(Metric m);   // to_string(m): "mpjpe", ...
const char* metric_title(Metric m);  // "MPJPE", "P-MPJPE", "N-MPJPE", "MPJVE"

// The four metrics of one sequence (or an aggregate), and the frames they are weighted by.
struct Errors {
  double mpjpe = 0, p_mpjpe = 0, n_mpjpe = 0, mpjve = 0;
  int64_t frames = 0;           // weight of mpjpe, p_mpjpe, n_mpjpe
  int64_t velocity_frames = 0;  // weight of mpjve: frames of sequences with >= 2 frames
  double get(Metric m) const;
};
// All four metrics of one sequence, pred and target (frames, joints, 3).
Errors sequence_errors(std::span<const double> pred, std::span<const double> target,
                       int64_t joints);

// VideoPose3D's action group: the name up to its first space ("Walking 1" -> "Walking").
std::string action_group(const std::string& action);

struct ActionErrors {
  std::string action;  // group name
  Errors errors;       // frame-weighted means
};

class ErrorAggregator {
 public:
  // Adds a sequence of action `action` (merged into action_group(action)).
  void add(const std::string& action, const Errors& sequence);
  // Per group, in the order groups were first added (VideoPose3D prints in dataset order).
  std::vector<ActionErrors> actions() const;
  // The unweighted mean over groups; frames and velocity_frames are the totals. Zeros when empty.
  Errors mean() const;

 private:
  struct Sum {
    std::string action;
    double mpjpe = 0, p_mpjpe = 0, n_mpjpe = 0, mpjve = 0;
    int64_t frames = 0, velocity_frames = 0;
  };
  std::vector<Sum> sums_;
};

}  // namespace v3d
