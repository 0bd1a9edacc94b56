// The synthetic motion generator (data/synth.h): per-subject bodies, per-action joint-angle
// functions of time, forward kinematics, floor contact and placement, projection to the cameras.
//
// Body frame (also the rest frame of every bone): x = the performer's right, y = forward, z = up,
// right-handed like the z-up world. In the rest pose legs and arms hang straight down, the spine
// points up. Each non-root joint j owns the rotation L_j of the bone parent(j) -> j relative to
// the parent bone's frame:
//   F_root = Rz(heading + pelvis yaw) Rx(-pelvis pitch) Ry(pelvis roll)
//   F_j    = F_parent(j) L_j,   p_j = p_parent(j) + F_j (length_j * rest_dir_j)
// so a hip rotation moves thigh, shin and foot, a knee rotation shin and foot. Conventions (deg):
//   hip      L = Rz(s twist) Ry(-s abduction) Rx(flexion)          s = +1 right, -1 left
//   knee     L = Rx(-flexion)       flexion in (0, 150): the shin swings backward only
//   shoulder L = Rz(s horizontal adduction) Ry(-s abduction) Rx(flexion)
//   elbow    L = Rx(flexion)        flexion in (0, 150): the forearm swings forward only
//   spine, chest: Rz(twist) Ry(side bend) Rx(-forward flexion); neck Rz(yaw) Rx(-flexion)
// Every angle passes through smooth_clamp() to its limit (kLimits) after the action pattern and
// the seeded noise are summed, so limits hold whatever the random draws are.
#include "data/synth.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <random>
#include <set>

#include "kernels/common.h"

namespace v3d::data {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kDeg = kPi / 180.0;
constexpr int kJoints = 17;
constexpr int kCameras = 4;

// H36M-17 parents (Skeleton::h36m17(), checked in synthesize) and the joints placement uses.
constexpr std::array<int, kJoints> kParents = {-1, 0, 1, 2,  0,  4, 5,  0, 7,
                                               8,  9, 8, 11, 12, 8, 14, 15};
constexpr int kRightFoot = 3, kLeftFoot = 6;

using Vec3 = std::array<double, 3>;
using Mat3 = std::array<double, 9>;  // row-major

Mat3 mul(const Mat3& a, const Mat3& b) {
  Mat3 c{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      c[i * 3 + j] = a[i * 3] * b[j] + a[i * 3 + 1] * b[3 + j] + a[i * 3 + 2] * b[6 + j];
  return c;
}
Vec3 rotate(const Mat3& a, const Vec3& v) {
  return {a[0] * v[0] + a[1] * v[1] + a[2] * v[2], a[3] * v[0] + a[4] * v[1] + a[5] * v[2],
          a[6] * v[0] + a[7] * v[1] + a[8] * v[2]};
}
Mat3 rot_x(double a) {
  const double c = std::cos(a), s = std::sin(a);
  return {1, 0, 0, 0, c, -s, 0, s, c};
}
Mat3 rot_y(double a) {
  const double c = std::cos(a), s = std::sin(a);
  return {c, 0, s, 0, 1, 0, -s, 0, c};
}
Mat3 rot_z(double a) {
  const double c = std::cos(a), s = std::sin(a);
  return {c, -s, 0, s, c, 0, 0, 0, 1};
}
const Mat3 kIdentity = {1, 0, 0, 0, 1, 0, 0, 0, 1};

// ---- random numbers -------------------------------------------------------------------------

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

// mt19937_64 with our own double conversion: std::uniform_real_distribution is
// implementation-defined, and the dataset should not change with the standard library.
class Rng {
 public:
  Rng(uint64_t seed, const std::string& stream)
      : gen_(splitmix64(seed ^ splitmix64(fnv1a(stream)))) {}
  double uniform() { return static_cast<double>(gen_() >> 11) * 0x1.0p-53; }  // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  double angle() { return uniform(0.0, 2.0 * kPi); }

 private:
  std::mt19937_64 gen_;
};

// ---- smooth building blocks -----------------------------------------------------------------

// max(0, x)^2: C1, zero on half the cycle when fed a sinusoid (stance phases, ground time).
double bump(double x) { return x > 0 ? x * x : 0.0; }
// 0 -> 1 on [0, 1] with zero slope at both ends, so pieces joined with it stay C1.
double smoothstep(double x) {
  x = std::clamp(x, 0.0, 1.0);
  return x * x * (3.0 - 2.0 * x);
}
// sin^2(pi u) on [0, 1], 0 elsewhere: a C1 pulse (one punch).
double pulse(double u) {
  if (u <= 0.0 || u >= 1.0) return 0.0;
  const double s = std::sin(kPi * u);
  return s * s;
}
// k log(1 + e^(u/k)), computed without overflow.
double softplus(double u, double k) {
  return std::max(u, 0.0) + k * std::log1p(std::exp(-std::abs(u) / k));
}
// Maps R smoothly and monotonically into (lo, hi); identity in the middle of the range, bending
// over about k near the ends. A hard clamp would put kinks (velocity jumps) into the motion.
double smooth_clamp(double x, double lo, double hi, double k) {
  return lo + softplus(x - lo, k) - softplus(x - hi, k);
}
// The polynomial smooth minimum: min(a, b) - (k - |a - b|)^2 / (4k) when the two are within k,
// min(a, b) otherwise; C1, <= min(a, b), at most k/4 below it. The lowest-foot contact: when the
// feet swap at a relative vertical speed v, the root's vertical acceleration is v^2 / (2k)
// instead of a velocity jump. With k = 5 cm a walking foot landing at 1.5 m/s gives ~22 m/s^2,
// and feet level on the floor stand 1.25 cm above it. (An exponential soft minimum with the same
// gap bends over a few milliseconds, which frames at 50 fps see as a kink.)
double smooth_min(double a, double b, double k) {
  const double d = std::abs(a - b);
  return std::min(a, b) - (d < k ? (k - d) * (k - d) / (4.0 * k) : 0.0);
}
constexpr double kContactSoftness = 0.05;  // metres

// ---- joint angles ---------------------------------------------------------------------------

// Channel indices into Pose::deg (plain ints: they are added to side bases).
constexpr int kPelvisPitch = 0, kPelvisRoll = 1, kPelvisYaw = 2;
constexpr int kSpineFlex = 3, kSpineSide = 4, kSpineTwist = 5;
constexpr int kChestFlex = 6, kChestSide = 7, kChestTwist = 8;
constexpr int kNeckFlex = 9, kNeckYaw = 10, kHeadFlex = 11;
constexpr int kRightBase = 12, kLeftBase = 20, kNumChannels = 28;
// Offsets inside a side block (kRightBase or kLeftBase).
constexpr int kHipFlex = 0, kHipAbd = 1, kHipTwist = 2, kKnee = 3;
constexpr int kShFlex = 4, kShAbd = 5, kShHoriz = 6, kElbow = 7;

struct Limit {
  double lo, hi;  // degrees
};
// Ranges of motion, rounded from clinical tables; knees and elbows one-way hinges.
const std::array<Limit, kNumChannels> kLimits = [] {
  std::array<Limit, kNumChannels> l{};
  l[kPelvisPitch] = {-20, 40}, l[kPelvisRoll] = {-15, 15}, l[kPelvisYaw] = {-35, 35};
  l[kSpineFlex] = {-20, 45}, l[kSpineSide] = {-20, 20}, l[kSpineTwist] = {-30, 30};
  l[kChestFlex] = {-20, 35}, l[kChestSide] = {-20, 20}, l[kChestTwist] = {-30, 30};
  l[kNeckFlex] = {-40, 45}, l[kNeckYaw] = {-60, 60}, l[kHeadFlex] = {-20, 20};
  for (int b : {kRightBase, kLeftBase}) {
    l[b + kHipFlex] = {-30, 120}, l[b + kHipAbd] = {-20, 50}, l[b + kHipTwist] = {-25, 25};
    l[b + kKnee] = {0, 150};
    l[b + kShFlex] = {-60, 180}, l[b + kShAbd] = {-15, 175}, l[b + kShHoriz] = {-70, 110};
    l[b + kElbow] = {0, 150};
  }
  return l;
}();
constexpr double kClampSoftness = 2.0;  // degrees

// ---- bodies ---------------------------------------------------------------------------------

// Rest directions in the body frame and H36M mean bone lengths (metres) for the bone ending at
// each joint; joint 9 is H36M's "Neck/Nose", ahead of the neck, hence its forward component.
const std::array<Vec3, kJoints> kRestDir = {{{0, 0, 0},
                                             {1, 0, -0.15},
                                             {0, 0, -1},
                                             {0, 0, -1},
                                             {-1, 0, -0.15},
                                             {0, 0, -1},
                                             {0, 0, -1},
                                             {0, 0.03, 1},
                                             {0, 0, 1},
                                             {0, 0.45, 1},
                                             {0, -0.2, 1},
                                             {-1, 0, -0.2},
                                             {0, 0, -1},
                                             {0, 0, -1},
                                             {1, 0, -0.2},
                                             {0, 0, -1},
                                             {0, 0, -1}}};
constexpr std::array<double, kJoints> kMeanLength = {0,     0.132, 0.442, 0.454, 0.132, 0.442,
                                                     0.454, 0.233, 0.257, 0.121, 0.115, 0.151,
                                                     0.278, 0.252, 0.151, 0.278, 0.252};
// Left joints take their right counterpart's factor: bodies are symmetric.
constexpr std::array<int, kJoints> kMirror = {0, 1,  2,  3,  1,  2,  3,  7, 8,
                                              9, 10, 14, 15, 16, 14, 15, 16};

struct Body {
  std::array<Vec3, kJoints> offset{};  // length * unit rest direction, body frame
  double leg = 0;                      // thigh + shin, for the gait speed
};

Body make_body(uint64_t seed, const std::string& subject) {
  Rng rng(seed, "body/" + subject);
  const double scale = rng.uniform(0.94, 1.06);
  std::array<double, kJoints> factor{};
  for (int j = 1; j < kJoints; ++j) factor[j] = rng.uniform(0.97, 1.03);
  Body body;
  for (int j = 1; j < kJoints; ++j) {
    const Vec3& d = kRestDir[j];
    const double n = std::sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
    const double len = kMeanLength[j] * scale * factor[kMirror[j]];
    body.offset[j] = {d[0] / n * len, d[1] / n * len, d[2] / n * len};
  }
  body.leg = (kMeanLength[2] * factor[2] + kMeanLength[3] * factor[3]) * scale;
  return body;
}

// ---- actions --------------------------------------------------------------------------------

enum class Action {
  kWalking,
  kWaiting,
  kSitting,
  kJumpingJacks,
  kBoxing,
  kTennis,
  kSkating,
  kDance
};
const std::vector<std::string> kActionNames = {"Walking",       "Waiting", "Sitting",
                                               "JumpingJacks",  "Boxing",  "TennisSwing",
                                               "SkatingStride", "Dance"};
const std::vector<std::string> kFastActions = {"JumpingJacks", "Boxing", "TennisSwing",
                                               "SkatingStride", "Dance"};

struct Event {
  double start, duration;
  int kind;  // Boxing: hand (0 right, 1 left) + 2 * type (0 straight, 1 hook, 2 uppercut);
             // TennisSwing: 0 forehand, 1 backhand
};

// Everything random about one (subject, action): drawn once, then the pose is a pure function of
// time. Events (punches, swings) are drawn last and in time order, so a longer sequence only
// appends events and shares its prefix with a shorter one.
struct Motion {
  Action action{};
  double amp = 1, freq = 1;        // scale factors around 1 for amplitudes and tempo
  std::array<double, 12> phase{};  // radians
  struct Wave {
    double amp, freq, phase;  // degrees, Hz, radians
  };
  std::array<std::array<Wave, 2>, kNumChannels> noise{};
  double cx = 0, cy = 0;                   // anchor (feet midpoint) or path centre, world metres
  double heading0 = 0;                     // radians
  double radius = 1, turn = 1, speed = 1;  // paths: metres, +1 anticlockwise / -1, m/s
  double sit_period = 10, sit_offset = 0;  // Sitting: seconds
  std::vector<Event> events;               // sorted by start
};

struct Pose {
  std::array<double, kNumChannels> deg{};
  double heading = 0;    // radians; body forward = (-sin, cos)
  double lift = 0;       // metres above floor contact (jumps)
  bool on_path = false;  // true: the root is at (x, y); false: the feet midpoint is
  double x = 0, y = 0;
};

Motion make_motion(uint64_t seed, const std::string& subject, const std::string& action_name,
                   Action action, const Body& body, double cx, double cy, double duration) {
  Rng rng(seed, "motion/" + subject + "/" + action_name);
  Motion m;
  m.action = action;
  m.amp = rng.uniform(0.88, 1.12);
  m.freq = rng.uniform(0.9, 1.1);
  for (double& p : m.phase) p = rng.angle();
  for (auto& waves : m.noise)
    for (auto& w : waves) w = {rng.uniform(1.0, 3.0), rng.uniform(0.08, 0.4), rng.angle()};
  const double r = std::sqrt(rng.uniform()), a = rng.angle();
  const bool path = action == Action::kWalking || action == Action::kSkating;
  // Anchored actions wander up to 0.4 m from the middle of the cameras, paths are circles of
  // about 1.1 m around it: everything stays inside the H36M capture volume seen by all 4 cameras.
  m.cx = cx + (path ? 0.2 : 0.4) * r * std::cos(a);
  m.cy = cy + (path ? 0.2 : 0.4) * r * std::sin(a);
  m.heading0 = rng.angle();
  // Skating is faster and crouched (the feet reach the image border sooner near a camera).
  m.radius = action == Action::kSkating ? rng.uniform(0.9, 1.05) : rng.uniform(1.0, 1.2);
  m.turn = rng.uniform() < 0.5 ? 1.0 : -1.0;
  if (action == Action::kWalking) {
    // Stance-foot sweep per cycle = 2 L (sin(hip max) + sin(-hip min)), hip = 5 +- 18 amp deg:
    // the root advances as fast as the planted foot moves back, so feet barely slide.
    const double f = 0.9 * m.freq, amp = 18.0 * m.amp;
    m.speed = 2.0 * f * body.leg * (std::sin((5 + amp) * kDeg) + std::sin((amp - 5) * kDeg));
  } else {
    m.speed = 2.2 * m.amp;
  }
  m.sit_period = rng.uniform(9.0, 12.0);
  m.sit_offset = rng.uniform(0.0, m.sit_period);

  const double end = duration + 2.0;
  if (action == Action::kBoxing) {
    // Punches 0.15-0.4 s apart (combinations), hands mostly alternating, 60% straight, 20% hooks,
    // 20% uppercuts; a hand never starts a punch before its previous one ended, so each hand's
    // pulse stays in [0, 1].
    std::array<double, 2> free_at = {0.0, 0.0};
    int hand = rng.uniform() < 0.5 ? 0 : 1;
    for (double t = rng.uniform(0.0, 0.4); t < end;) {
      if (rng.uniform() < 0.7) hand = 1 - hand;
      const double u = rng.uniform();
      const int type = u < 0.6 ? 0 : (u < 0.8 ? 1 : 2);
      const double d = rng.uniform(0.18, 0.26), start = std::max(t, free_at[hand] + 0.02);
      m.events.push_back({start, d, hand + 2 * type});
      free_at[hand] = start + d;
      t = start + rng.uniform(0.15, 0.4);
    }
    std::sort(m.events.begin(), m.events.end(),
              [](const Event& x, const Event& y) { return x.start < y.start; });
  } else if (action == Action::kTennis) {
    for (double t = rng.uniform(0.0, 0.5); t < end;) {
      const double d = rng.uniform(0.85, 1.0);
      m.events.push_back({t, d, rng.uniform() < 0.5 ? 0 : 1});
      t += d + rng.uniform(0.05, 0.3);
    }
  }
  return m;
}

// Tennis swing profile on u in [0, 1]: backswing 0 -> 1, fast forward swing 1 -> -1, recovery
// -1 -> 0; smoothstep pieces keep it C1.
double swing_profile(double u) {
  if (u <= 0.0 || u >= 1.0) return 0.0;
  if (u < 0.36) return smoothstep(u / 0.36);
  if (u < 0.68) return 1.0 - 2.0 * smoothstep((u - 0.36) / 0.32);
  return -1.0 + smoothstep((u - 0.68) / 0.32);
}

// Sitting level in [0, 1] over one cycle of `period` s: stand, sit down, seated, stand up.
double sitting_level(double tau, double period) {
  if (tau < 1.2) return 0.0;
  if (tau < 2.7) return smoothstep((tau - 1.2) / 1.5);
  if (tau < period - 1.5) return 1.0;
  return 1.0 - smoothstep((tau - (period - 1.5)) / 1.5);
}

// Places the root on a near-circular path around (cx, cy): radius R(t) breathes by 15%, the
// heading follows the velocity (atan2 of its radial and tangential parts stays continuous).
void path_pose(const Motion& m, double t, Pose& p) {
  const double wr = 2.0 * kPi * 0.05, e = 0.15;
  const double radius = m.radius * (1.0 + e * std::sin(wr * t + m.phase[10]));
  const double d_radius = m.radius * e * wr * std::cos(wr * t + m.phase[10]);
  const double d_theta = m.turn * m.speed / m.radius;
  const double theta = m.phase[11] + d_theta * t;
  p.on_path = true;
  p.x = m.cx + radius * std::cos(theta);
  p.y = m.cy + radius * std::sin(theta);
  p.heading = theta + std::atan2(radius * d_theta, d_radius) - 0.5 * kPi;
}

// Anchored actions: the feet midpoint wanders on a small circle around the anchor.
void anchor_pose(const Motion& m, double t, double wander_m, double wander_hz, Pose& p) {
  const double a = 2.0 * kPi * wander_hz * t + m.phase[9];
  p.on_path = false;
  p.x = m.cx + wander_m * std::cos(a);
  p.y = m.cy + wander_m * std::sin(a);
}

// The action pattern at time t (seconds), before noise and limits.
void action_pose(const Motion& m, double t, Pose& p) {
  auto& d = p.deg;
  const double two_pi = 2.0 * kPi;
  const double A = m.amp;
  switch (m.action) {
    case Action::kWalking: {
      const double ph = two_pi * 0.9 * m.freq * t + m.phase[0];
      for (int s = 0; s < 2; ++s) {
        const int b = s == 0 ? kRightBase : kLeftBase;
        const double x = ph + s * kPi;
        d[b + kHipFlex] = 5 + 18 * A * std::sin(x);
        d[b + kHipAbd] = 3;
        // Knee peaks early in swing, just after the hip is most extended; straight in stance.
        d[b + kKnee] = 5 + 55 * A * bump(std::cos(x + 0.5 * kPi - 0.6));
        d[b + kShFlex] = 5 - 18 * A * std::sin(x);  // arms swing against the same-side leg
        d[b + kShAbd] = 8;
        d[b + kShHoriz] = 5;
        d[b + kElbow] = 18 - 12 * std::sin(x);
      }
      d[kPelvisYaw] = 6 * std::sin(ph);
      d[kChestTwist] = -8 * std::sin(ph);
      d[kPelvisRoll] = 3 * std::sin(2 * ph);
      d[kSpineFlex] = 4;
      d[kNeckFlex] = 8;
      path_pose(m, t, p);
      break;
    }
    case Action::kWaiting: {
      const double shift = std::sin(two_pi * 0.13 * m.freq * t + m.phase[0]);  // weight shift
      d[kPelvisRoll] = 4 * shift;
      d[kRightBase + kHipAbd] = 6 + 3 * shift;
      d[kLeftBase + kHipAbd] = 6 - 3 * shift;
      d[kRightBase + kKnee] = 4 + 8 * bump(shift);
      d[kLeftBase + kKnee] = 4 + 8 * bump(-shift);
      for (int s = 0; s < 2; ++s) {
        const int b = s == 0 ? kRightBase : kLeftBase;
        const double g = bump(std::sin(two_pi * 0.07 * m.freq * t + m.phase[1 + s]));  // gestures
        d[b + kShFlex] = 8 + 30 * A * g;
        d[b + kShAbd] = 8;
        d[b + kShHoriz] = 10 + 40 * g;
        d[b + kElbow] = 12 + 80 * A * g;
      }
      d[kNeckYaw] = 35 * std::sin(two_pi * 0.09 * t + m.phase[3]);
      d[kNeckFlex] = 8 + 8 * std::sin(two_pi * 0.05 * t + m.phase[4]);
      d[kSpineFlex] = 3 + 4 * std::sin(two_pi * 0.04 * t + m.phase[5]);
      p.heading = m.heading0 + 0.8 * std::sin(two_pi * 0.03 * t + m.phase[6]);
      anchor_pose(m, t, 0.0, 0.0, p);
      break;
    }
    case Action::kSitting: {
      const double tau = std::fmod(t + m.sit_offset, m.sit_period);
      const double s = sitting_level(tau, m.sit_period);
      for (int side = 0; side < 2; ++side) {
        const int b = side == 0 ? kRightBase : kLeftBase;
        const double g = bump(std::sin(two_pi * 0.09 * m.freq * t + m.phase[1 + side]));
        d[b + kHipFlex] = 92 * s;  // thighs horizontal: the pelvis rests on a virtual chair
        d[b + kHipAbd] = 5 + 8 * s;
        d[b + kKnee] = 5 + 92 * s;
        d[b + kShFlex] = 10 + 25 * s + 25 * A * g;
        d[b + kShAbd] = 8;
        d[b + kShHoriz] = 10 + 15 * s + 20 * g;
        d[b + kElbow] = 10 + 45 * s + 50 * A * g;
      }
      // Leaning forward moves the weight over the feet while sitting down and standing up.
      d[kSpineFlex] = 5 + 30 * std::sin(kPi * s) + 8 * s;
      d[kNeckFlex] = 5 + 10 * s;
      d[kNeckYaw] = 25 * std::sin(two_pi * 0.07 * t + m.phase[3]);
      p.heading = m.heading0 + 0.2 * std::sin(two_pi * 0.02 * t + m.phase[6]);
      anchor_pose(m, t, 0.0, 0.0, p);
      break;
    }
    case Action::kJumpingJacks: {
      const double ph = two_pi * 1.5 * m.freq * t + m.phase[0];
      const double open = 0.5 * (1.0 - std::cos(ph));  // 0 = feet together, arms down
      for (int s = 0; s < 2; ++s) {
        const int b = s == 0 ? kRightBase : kLeftBase;
        d[b + kShAbd] = 8 + 160 * A * open;
        d[b + kShFlex] = 8 + 10 * open;
        d[b + kElbow] = 12 + 60 * open * (1.0 - open);
        d[b + kHipAbd] = 3 + 22 * A * open;
        d[b + kHipFlex] = 4 + 8 * bump(std::cos(2 * ph));
        d[b + kKnee] = 8 + 40 * bump(std::cos(2 * ph));  // crouch on landing
      }
      d[kSpineFlex] = 3 + 8 * bump(std::cos(2 * ph));
      d[kNeckFlex] = 5 - 10 * open;  // look up with the arms
      // Airborne around each switch between open and closed, on the floor in between.
      p.lift = 0.09 * A * bump(-std::cos(2 * ph));
      p.heading = m.heading0 + 0.15 * std::sin(two_pi * 0.05 * t + m.phase[6]);
      anchor_pose(m, t, 0.0, 0.0, p);
      break;
    }
    case Action::kBoxing: {
      std::array<std::array<double, 3>, 2> punch{};  // [hand][straight, hook, uppercut]
      auto it = std::lower_bound(m.events.begin(), m.events.end(), t - 1.0,
                                 [](const Event& e, double v) { return e.start < v; });
      for (; it != m.events.end() && it->start <= t; ++it)
        punch[it->kind % 2][it->kind / 2] += pulse((t - it->start) / it->duration);
      const double bounce = std::sin(two_pi * 1.8 * m.freq * t + m.phase[0]);
      const double weave = std::sin(two_pi * 0.9 * m.freq * t + m.phase[1]);
      d[kRightBase + kHipFlex] = -6;  // orthodox stance: left foot forward, body turned right
      d[kLeftBase + kHipFlex] = 18;
      std::array<double, 2> drive{};  // how much each hand's punch turns the torso
      for (int s = 0; s < 2; ++s) {
        const int b = s == 0 ? kRightBase : kLeftBase;
        const double q = punch[s][0], h = punch[s][1], u = punch[s][2];
        d[b + kHipAbd] = 10;
        d[b + kKnee] = 24 + 10 * bounce + 15 * (punch[0][2] + punch[1][2]);  // dip for uppercuts
        // Guard, then straight (arm ahead), hook (elbow up and out, sweeping across) and
        // uppercut (forearm vertical, driven upwards).
        const double guard =
            8 * std::sin(two_pi * 1.5 * m.freq * t + m.phase[3 + s]);  // hands stay busy
        d[b + kShFlex] = 40 + guard + 48 * A * q + 30 * h + 60 * A * u;
        d[b + kShAbd] = 22 - 17 * q + 60 * A * h;
        d[b + kShHoriz] = 35 - 25 * q + 25 * h;
        d[b + kElbow] = 125 - 118 * q - 35 * h - 30 * u;
        drive[s] = q + 1.2 * h + 0.6 * u;
      }
      d[kRightBase + kHipTwist] = 15 * drive[0];  // pivot on the rear foot for the cross
      d[kPelvisYaw] = -25 + 10 * drive[0] - 6 * drive[1];
      d[kChestTwist] = 5 + 25 * drive[0] - 15 * drive[1];
      d[kSpineTwist] = 10 * drive[0] - 8 * drive[1];
      d[kSpineFlex] = 12 + 8 * weave;  // bob and weave
      d[kSpineSide] = 12 * std::sin(two_pi * 0.6 * m.freq * t + m.phase[2]);
      d[kNeckFlex] = 12 - 6 * weave;
      // Footwork: circling the opponent and stepping in and out.
      p.heading = m.heading0 + 0.4 * std::sin(two_pi * 0.25 * m.freq * t + m.phase[6]);
      anchor_pose(m, t, 0.2, 0.35, p);
      break;
    }
    case Action::kTennis: {
      double g = 0.0;
      int kind = 0;
      auto it = std::lower_bound(m.events.begin(), m.events.end(), t - 2.0,
                                 [](const Event& e, double v) { return e.start < v; });
      for (; it != m.events.end() && it->start <= t; ++it)
        if (t < it->start + it->duration) {
          g = swing_profile((t - it->start) / it->duration);
          kind = it->kind;
        }
      const double sign = kind == 0 ? -1.0 : 1.0;  // forehand turns right first, backhand left
      const double split = std::sin(two_pi * 2.0 * m.freq * t + m.phase[0]);  // ready bounce
      for (int s = 0; s < 2; ++s) {
        const int b = s == 0 ? kRightBase : kLeftBase;
        d[b + kHipFlex] = 20 + (s == 0 ? 10 : -10) * g * (-sign);
        d[b + kHipAbd] = 12;
        d[b + kKnee] = 25 + 10 * split;
      }
      d[kSpineTwist] = 25 * sign * g;
      d[kChestTwist] = 28 * sign * g;
      d[kPelvisYaw] = 20 * sign * g;
      d[kSpineFlex] = 15;
      d[kNeckFlex] = 10;
      // Racket arm (right): out to the side and back on the backswing, across the body after.
      d[kRightBase + kShFlex] = 35 + 15 * g * g;
      d[kRightBase + kShAbd] = 15 + 50 * A * g * g;
      d[kRightBase + kShHoriz] = kind == 0 ? 30 - 85 * A * g : 30 + 75 * A * g;
      d[kRightBase + kElbow] = 60 - 40 * g * g;
      d[kLeftBase + kShFlex] = 35 + 25 * g;
      d[kLeftBase + kShAbd] = 15 + 20 * g * g;
      d[kLeftBase + kShHoriz] = kind == 0 ? 30 + 50 * g : 30 - 60 * g;
      d[kLeftBase + kElbow] = 60;
      p.heading = m.heading0 + 0.25 * std::sin(two_pi * 0.04 * t + m.phase[6]);
      anchor_pose(m, t, 0.3, 0.15, p);  // moving about the baseline
      break;
    }
    case Action::kSkating: {
      const double ph = two_pi * 1.05 * m.freq * t + m.phase[0];
      for (int s = 0; s < 2; ++s) {
        const int b = s == 0 ? kRightBase : kLeftBase;
        const double u = std::sin(ph + s * kPi);  // > 0: this leg pushes out and back
        d[b + kHipAbd] = 8 + 40 * A * bump(u);
        d[b + kHipFlex] = 45 - 50 * bump(u) + 20 * bump(-u);
        d[b + kHipTwist] = 10;
        d[b + kKnee] = 85 - 60 * bump(u) + 25 * bump(-u);
        d[b + kShFlex] = 15 - 65 * A * u;  // arm forward while the other leg pushes
        d[b + kShAbd] = 15;
        d[b + kShHoriz] = 25 - 30 * u;
        d[b + kElbow] = 25 + 20 * bump(-u);
      }
      d[kPelvisPitch] = 12;
      d[kSpineFlex] = 25;
      d[kChestFlex] = 8;
      d[kNeckFlex] = -20;  // look ahead from the crouch
      d[kPelvisYaw] = 10 * std::sin(ph);
      d[kChestTwist] = 15 * std::sin(ph);
      d[kPelvisRoll] = -8 * m.turn;  // lean into the turn
      path_pose(m, t, p);
      break;
    }
    case Action::kDance: {
      const double ph = kPi * 2.0 * m.freq * t + m.phase[0];  // one bar = two beats at ~2 Hz
      const double beat = bump(std::sin(2 * ph + m.phase[1]));
      for (int s = 0; s < 2; ++s) {
        const int b = s == 0 ? kRightBase : kLeftBase;
        const double x = ph + s * kPi;
        const double lift = bump(std::sin(x + 0.5));  // never both feet: the sines are opposite
        d[b + kHipAbd] = 6 + 15 * bump(std::sin(x));
        d[b + kHipFlex] = 10 + 40 * A * lift;
        d[b + kKnee] = 15 + 22 * beat + 45 * lift;
        d[b + kShAbd] = 55 + 55 * A * std::sin(x + m.phase[2]);
        d[b + kShFlex] = 50 + 55 * std::sin(2 * ph + m.phase[3] + s * m.phase[4]);
        d[b + kShHoriz] = 20 + 35 * std::sin(ph + m.phase[5] + s * kPi);
        d[b + kElbow] = 60 + 45 * std::sin(2 * ph + m.phase[7] + s * kPi);
      }
      d[kPelvisRoll] = 8 * std::sin(ph);
      d[kPelvisYaw] = 15 * std::sin(ph + m.phase[8]);
      d[kChestTwist] = 20 * std::sin(ph + 1.0);
      d[kChestSide] = 10 * std::sin(ph + m.phase[8]);
      d[kSpineFlex] = 8 + 8 * std::sin(2 * ph);
      d[kNeckYaw] = 25 * std::sin(ph + m.phase[3]);
      d[kNeckFlex] = 8 * std::sin(2 * ph);
      p.heading = m.heading0 + 1.2 * std::sin(two_pi * 0.1 * t + m.phase[6]);
      anchor_pose(m, t, 0.25, 0.1, p);
      break;
    }
  }
}

// Joint positions (17 x 3, world metres) of `body` in pose p: noise, limits, forward kinematics,
// floor contact, placement.
void pose_positions(const Body& body, const Motion& m, const Pose& p, double t, float* out) {
  std::array<double, kNumChannels> a;  // radians, within the limits
  for (int c = 0; c < kNumChannels; ++c) {
    double v = p.deg[c];
    for (const auto& w : m.noise[c]) v += w.amp * std::sin(2.0 * kPi * w.freq * t + w.phase);
    a[c] = smooth_clamp(v, kLimits[c].lo, kLimits[c].hi, kClampSoftness) * kDeg;
  }
  std::array<Mat3, kJoints> local;
  local.fill(kIdentity);
  for (int s = 0; s < 2; ++s) {
    const int b = s == 0 ? kRightBase : kLeftBase;
    const double sg = s == 0 ? 1.0 : -1.0;
    const int hip_child = s == 0 ? 2 : 5, knee_child = s == 0 ? 3 : 6;
    const int shoulder_child = s == 0 ? 15 : 12, elbow_child = s == 0 ? 16 : 13;
    local[hip_child] =
        mul(rot_z(sg * a[b + kHipTwist]), mul(rot_y(-sg * a[b + kHipAbd]), rot_x(a[b + kHipFlex])));
    local[knee_child] = rot_x(-a[b + kKnee]);
    local[shoulder_child] =
        mul(rot_z(sg * a[b + kShHoriz]), mul(rot_y(-sg * a[b + kShAbd]), rot_x(a[b + kShFlex])));
    local[elbow_child] = rot_x(a[b + kElbow]);
  }
  local[7] = mul(rot_z(a[kSpineTwist]), mul(rot_y(a[kSpineSide]), rot_x(-a[kSpineFlex])));
  local[8] = mul(rot_z(a[kChestTwist]), mul(rot_y(a[kChestSide]), rot_x(-a[kChestFlex])));
  local[9] = mul(rot_z(a[kNeckYaw]), rot_x(-a[kNeckFlex]));
  local[10] = rot_x(-a[kHeadFlex]);

  std::array<Mat3, kJoints> frame;
  std::array<Vec3, kJoints> pos;
  frame[0] =
      mul(rot_z(p.heading + a[kPelvisYaw]), mul(rot_x(-a[kPelvisPitch]), rot_y(a[kPelvisRoll])));
  pos[0] = {0, 0, 0};
  for (int j = 1; j < kJoints; ++j) {  // parents come before children in H36M-17
    const int parent = kParents[j];
    frame[j] = mul(frame[parent], local[j]);
    const Vec3 o = rotate(frame[j], body.offset[j]);
    pos[j] = {pos[parent][0] + o[0], pos[parent][1] + o[1], pos[parent][2] + o[2]};
  }
  const Vec3& fr = pos[kRightFoot];
  const Vec3& fl = pos[kLeftFoot];
  const double dz = -smooth_min(fr[2], fl[2], kContactSoftness) + p.lift;
  double dx = p.x, dy = p.y;
  if (!p.on_path) {
    dx -= 0.5 * (fr[0] + fl[0]);
    dy -= 0.5 * (fr[1] + fl[1]);
  }
  for (int j = 0; j < kJoints; ++j) {
    out[j * 3 + 0] = static_cast<float>(pos[j][0] + dx);
    out[j * 3 + 1] = static_cast<float>(pos[j][1] + dy);
    out[j * 3 + 2] = static_cast<float>(pos[j][2] + dz);
  }
}

Action action_of(const std::string& name) {
  for (size_t i = 0; i < kActionNames.size(); ++i)
    if (kActionNames[i] == name) return static_cast<Action>(i);
  std::string known;
  for (const auto& n : kActionNames) known += (known.empty() ? "" : ", ") + n;
  throw Error("synth: unknown action '" + name + "' (known: " + known + ")");
}

template <typename T>
void check_unique(const std::vector<T>& names, const char* what) {
  std::set<T> seen;
  for (const auto& n : names)
    if (!seen.insert(n).second)
      throw Error(std::string("synth: duplicate ") + what + " '" + n + "'");
}

}  // namespace

const std::vector<std::string>& synth_action_names() { return kActionNames; }
const std::vector<std::string>& synth_fast_actions() { return kFastActions; }

Dataset synthesize(const SynthOptions& options) {
  if (options.frames_per_action < 1)
    throw Error("synth: frames per action must be >= 1, got " +
                std::to_string(options.frames_per_action));
  if (!(options.fps > 0.0f) || !std::isfinite(options.fps))
    throw Error("synth: fps must be a positive number, got " + std::to_string(options.fps));
  const std::vector<std::string>& known = h36m_subjects_with_extrinsics();
  const std::vector<std::string> subjects = options.subjects.empty() ? known : options.subjects;
  const std::vector<std::string> actions = options.actions.empty() ? kActionNames : options.actions;
  check_unique(subjects, "subject");
  check_unique(actions, "action");
  for (const auto& s : subjects)
    if (std::find(known.begin(), known.end(), s) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      throw Error("synth: unknown subject '" + s + "' (subjects with H36M cameras: " + list + ")");
    }
  std::vector<Action> kinds;
  for (const auto& a : actions) kinds.push_back(action_of(a));

  Dataset dataset;
  dataset.skeleton = Skeleton::h36m17();
  V3D_CHECK(dataset.skeleton.parents == std::vector<int>(kParents.begin(), kParents.end()),
            "synth: the forward kinematics assume the H36M-17 parents of data/skeleton.h");
  dataset.fps = options.fps;
  const int64_t frames = options.frames_per_action;
  const double duration = static_cast<double>(frames) / options.fps;

  for (const auto& subject : subjects) {
    SubjectData& sd = dataset.subjects[subject];
    double cx = 0, cy = 0;  // the middle of this subject's camera ring
    for (int k = 0; k < kCameras; ++k) {
      sd.cameras[k] = h36m_camera(subject, k);
      cx += sd.cameras[k].translation[0] / kCameras;
      cy += sd.cameras[k].translation[1] / kCameras;
    }
    const Body body = make_body(options.seed, subject);
    for (size_t ai = 0; ai < actions.size(); ++ai) {
      const Motion m =
          make_motion(options.seed, subject, actions[ai], kinds[ai], body, cx, cy, duration);
      ActionData& ad = sd.actions[actions[ai]];
      ad.frames = frames;
      // positions_3d: (frames, 17, 3)
      ad.positions_3d.resize(static_cast<size_t>(frames) * kJoints * 3);
      for (int64_t i = 0; i < frames; ++i) {
        // t from the frame index by one division: the same instant at any fps gives the same
        // double, hence the same pose.
        const double t = static_cast<double>(i) / static_cast<double>(options.fps);
        Pose p;
        action_pose(m, t, p);
        pose_positions(body, m, p, t, ad.positions_3d.data() + i * kJoints * 3);
      }
      // positions_2d[k]: (frames, 17, 2) pixels, VideoPose3D's ground-truth projection.
      for (const auto& [k, cam] : sd.cameras)
        ad.positions_2d[k] = image_coordinates(
            project_to_2d(world_to_camera(ad.positions_3d, cam), cam), cam.res_w, cam.res_h);
    }
  }
  return dataset;
}

}  // namespace v3d::data
