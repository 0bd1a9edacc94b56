// Preparation, selection, training windows with interval resampling, TD N phases and unchunked
// evaluation input (contract and layouts: data/batches.h).
#include "data/batches.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

#include "data/camera.h"
#include "kernels/common.h"

namespace v3d::data {

namespace {

std::string sequence_name(const Sequence& seq) {
  return seq.subject + "/" + seq.action + " (camera " + std::to_string(seq.camera) + ")";
}

// Copies one frame of J joints x F features; with a flip permutation, joint j takes the mirrored
// values of joint perm[j] (x negated), so no second pass over the window is needed.
inline void copy_frame(float* dst, const float* src, int joints, int features, const int* perm) {
  if (perm == nullptr) {
    std::memcpy(dst, src, sizeof(float) * static_cast<size_t>(joints * features));
    return;
  }
  for (int j = 0; j < joints; ++j) {
    const float* s = src + perm[j] * features;
    float* d = dst + j * features;
    d[0] = -s[0];
    for (int f = 1; f < features; ++f) d[f] = s[f];
  }
}

// Uniform in [0, n) without modulo bias and without relying on std::uniform_int_distribution,
// whose algorithm differs between standard libraries: the epoch order must be reproducible from a
// checkpoint on any build.
uint64_t uniform_below(std::mt19937_64& rng, uint64_t n) {
  const uint64_t threshold = (0 - n) % n;  // 2^64 mod n: reject the incomplete last block
  uint64_t x;
  do x = rng();
  while (x < threshold);
  return x % n;
}

std::string rng_text(const std::mt19937_64& rng) {
  std::ostringstream os;
  os << rng;
  return os.str();
}

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

// Rows [start, start + count*step) with stride `step` of a (frames, row) array.
std::vector<float> take_rows(const std::vector<float>& a, int64_t row, const SubsetRange& r) {
  std::vector<float> out(static_cast<size_t>(r.count * row));
  for (int64_t i = 0; i < r.count; ++i) {
    std::memcpy(out.data() + i * row, a.data() + (r.start + i * r.step) * row,
                sizeof(float) * static_cast<size_t>(row));
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// SHA-256 (FIPS 180-4), only for VideoPose3D's deterministic subset start.
// ---------------------------------------------------------------------------------------------

std::array<uint8_t, 32> sha256(const std::string& data) {
  static constexpr uint32_t k[64] = {
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
      0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
      0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
      0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
      0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
      0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
      0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
      0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
      0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
      0xc67178f2};
  uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  auto rotr = [](uint32_t x, int n) { return (x >> n) | (x << (32 - n)); };

  // Message + 0x80 + zeros + 64-bit big-endian bit length, to a multiple of 64 bytes.
  std::vector<uint8_t> msg(data.begin(), data.end());
  const uint64_t bits = static_cast<uint64_t>(data.size()) * 8;
  msg.push_back(0x80);
  while (msg.size() % 64 != 56) msg.push_back(0);
  for (int i = 7; i >= 0; --i) msg.push_back(static_cast<uint8_t>(bits >> (8 * i)));

  for (size_t block = 0; block < msg.size(); block += 64) {
    uint32_t w[64];
    for (int i = 0; i < 16; ++i) {
      const uint8_t* p = &msg[block + 4 * i];
      w[i] = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
    }
    for (int i = 16; i < 64; ++i) {
      const uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      const uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; ++i) {
      const uint32_t s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
      const uint32_t ch = (e & f) ^ (~e & g);
      const uint32_t t1 = hh + s1 + ch + k[i] + w[i];
      const uint32_t s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
      const uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
      const uint32_t t2 = s0 + maj;
      hh = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
  }
  std::array<uint8_t, 32> out{};
  for (int i = 0; i < 8; ++i) {
    for (int j = 0; j < 4; ++j) out[4 * i + j] = static_cast<uint8_t>(h[i] >> (24 - 8 * j));
  }
  return out;
}

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

// ---------------------------------------------------------------------------------------------
// Preparation
// ---------------------------------------------------------------------------------------------

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
        V3D_CHECK(false, "sequence " << name << ": " << field << " holds " << a[i] << " at frame "
                                     << frame << ", value " << static_cast<int64_t>(i) % per_frame);
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
          const int64_t row = int64_t{joints} * 2;
          V3D_CHECK(static_cast<int64_t>(px.size()) % row == 0 &&
                        static_cast<int64_t>(px.size()) / row >= ad.frames,
                    "prepare: " << where << " positions_2d/" << k << " has " << px.size()
                                << " values, expected at least (" << ad.frames << ", " << joints
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
          make_root_relative(camera_3d, seq.frames, joints, root);
          seq.poses_3d = std::move(camera_3d);
        }
        if (spec.pseudo_coco) seq.poses_2d = to_pseudo_coco(seq.poses_2d, seq.frames, 2);
        validate_sequence(seq, joints, joints, false);
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

// ---------------------------------------------------------------------------------------------
// Modes
// ---------------------------------------------------------------------------------------------

ResampleMode parse_resample_mode(const std::string& name) {
  const std::string valid =
      "valid: 'Sequential', 'Sequential x2', 'Sample<N>+Sequential' (N >= 2), "
      "'Sample<A>/<B>/...+Sequential' (e.g. 'Sample3/5/7+Sequential')";
  ResampleMode m;
  m.name = name;
  if (name == "Sequential") return m;
  if (name == "Sequential x2") {
    m.copies = 2;
    return m;
  }
  const std::string head = "Sample", tail = "+Sequential";
  bool ok = name.size() > head.size() + tail.size() && name.compare(0, head.size(), head) == 0 &&
            name.compare(name.size() - tail.size(), tail.size(), tail) == 0;
  if (ok) {
    const std::string list = name.substr(head.size(), name.size() - head.size() - tail.size());
    std::string item;
    std::istringstream is(list);
    while (ok && std::getline(is, item, '/')) {
      ok = !item.empty() && item.size() <= 4 &&
           std::all_of(item.begin(), item.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (ok) {
        const int s = std::stoi(item);
        ok = s >= 2 && std::find(m.strides.begin(), m.strides.end(), s) == m.strides.end();
        m.strides.push_back(s);
      }
    }
    ok = ok && !m.strides.empty() && list.back() != '/';
  }
  V3D_CHECK(ok, "unknown training-data mode '" << name << "'; " << valid);
  m.copies = 2;
  return m;
}

// ---------------------------------------------------------------------------------------------
// WindowGenerator
// ---------------------------------------------------------------------------------------------

WindowGenerator::WindowGenerator(std::vector<Sequence> sequences, const Skeleton& keypoints,
                                 const Skeleton& joints, BatchSpec spec)
    : sequences_(std::move(sequences)),
      keypoints_(keypoints.num_joints()),
      joints_(joints.num_joints()),
      spec_(std::move(spec)),
      mode_(parse_resample_mode(spec_.mode)),
      rng_(spec_.seed) {
  V3D_CHECK(spec_.batch_size >= 1, "batch_size must be >= 1, got " << spec_.batch_size);
  V3D_CHECK(spec_.pad >= 0, "pad must be >= 0, got " << spec_.pad);
  V3D_CHECK(spec_.causal_shift >= -spec_.pad && spec_.causal_shift <= spec_.pad,
            "causal_shift must be in [-pad, pad], got " << spec_.causal_shift << " with pad "
                                                        << spec_.pad);
  V3D_CHECK(!sequences_.empty(), "WindowGenerator: no sequences");
  offsets_.reserve(sequences_.size() + 1);
  for (const Sequence& s : sequences_) {
    validate_sequence(s, keypoints_, joints_, true);
    offsets_.push_back(total_frames_);
    total_frames_ += s.frames;
  }
  offsets_.push_back(total_frames_);
  if (spec_.flip) {
    flips_ = 2;
    flip_2d_ = keypoints.flip_permutation();
    flip_3d_ = joints.flip_permutation();
  }
  num_windows_ = total_frames_ * mode_.copies * flips_;
  // Window indices are permuted as uint32 to halve the order's memory (H36M: ~6M windows).
  V3D_CHECK(num_windows_ <= int64_t{std::numeric_limits<uint32_t>::max()},
            "WindowGenerator: " << num_windows_ << " windows per epoch exceed 2^32-1");
  epoch_start_state_ = rng_text(rng_);
}

int64_t WindowGenerator::num_batches() const {
  return (num_windows_ + spec_.batch_size - 1) / spec_.batch_size;
}

std::array<int64_t, 3> WindowGenerator::input_window_shape() const {
  return {receptive_field(), keypoints_, 2};
}

std::array<int64_t, 3> WindowGenerator::target_window_shape() const { return {1, joints_, 3}; }

void WindowGenerator::draw_epoch() {
  // Strides first, then the order: both from rng_, so a checkpoint's epoch-start state replays
  // both.
  if (mode_.strides.size() > 1) {
    drawn_.resize(static_cast<size_t>(flips_ * total_frames_));
    const uint64_t choices = mode_.strides.size();
    for (auto& d : drawn_) d = static_cast<uint8_t>(uniform_below(rng_, choices));
  }
  if (spec_.shuffle) {
    order_.resize(static_cast<size_t>(num_windows_));
    for (size_t i = 0; i < order_.size(); ++i) order_[i] = static_cast<uint32_t>(i);
    for (size_t i = order_.size(); i > 1; --i) {
      const size_t j = uniform_below(rng_, i);
      std::swap(order_[i - 1], order_[j]);
    }
  }
}

void WindowGenerator::start_epoch() {
  epoch_start_state_ = rng_text(rng_);
  draw_epoch();
  ++epoch_;
  cursor_ = 0;
}

WindowGenerator::Window WindowGenerator::window(int64_t i) const {
  V3D_CHECK(i >= 0 && i < num_windows_,
            "window " << i << " out of range [0, " << num_windows_ << ")");
  const int64_t u = spec_.shuffle && !order_.empty() ? order_[static_cast<size_t>(i)] : i;
  // u = (flip * copies + copy) * total_frames + global frame
  const int64_t g = u % total_frames_;
  const int64_t rest = u / total_frames_;
  const int copy = static_cast<int>(rest % mode_.copies);
  const int flip = static_cast<int>(rest / mode_.copies);
  Window w;
  w.sequence = std::upper_bound(offsets_.begin(), offsets_.end(), g) - offsets_.begin() - 1;
  w.centre = g - offsets_[static_cast<size_t>(w.sequence)];
  w.flip = flip != 0;
  if (copy == 1 && !mode_.strides.empty()) {
    w.stride = mode_.strides.size() == 1
                   ? mode_.strides[0]
                   : mode_.strides[drawn_[static_cast<size_t>(flip * total_frames_ + g)]];
  }
  return w;
}

std::vector<int64_t> WindowGenerator::window_frames(int64_t frames, int64_t centre,
                                                    int stride) const {
  const int64_t rf = receptive_field();
  std::vector<int64_t> out(static_cast<size_t>(rf));
  const int64_t base = centre - stride * (spec_.pad + spec_.causal_shift);
  for (int64_t k = 0; k < rf; ++k) out[k] = std::clamp<int64_t>(base + stride * k, 0, frames - 1);
  return out;
}

void WindowGenerator::gather(const Window& w, float* input, float* target) const {
  const Sequence& s = sequences_[static_cast<size_t>(w.sequence)];
  const int64_t rf = receptive_field(), n = s.frames, row = int64_t{keypoints_} * 2;
  const int* perm_2d = w.flip ? flip_2d_.data() : nullptr;
  const int* perm_3d = w.flip ? flip_3d_.data() : nullptr;
  const int64_t base = w.centre - w.stride * (spec_.pad + spec_.causal_shift);
  // input: (RF, J_in, 2). The common case (stride 1, inside the sequence, no flip) is one copy.
  if (perm_2d == nullptr && w.stride == 1 && base >= 0 && base + rf <= n) {
    std::memcpy(input, s.poses_2d.data() + base * row,
                sizeof(float) * static_cast<size_t>(rf * row));
  } else {
    for (int64_t k = 0; k < rf; ++k) {
      const int64_t t = std::clamp<int64_t>(base + w.stride * k, 0, n - 1);
      copy_frame(input + k * row, s.poses_2d.data() + t * row, keypoints_, 2, perm_2d);
    }
  }
  // target: (1, J, 3), the centre frame.
  copy_frame(target, s.poses_3d.data() + w.centre * joints_ * 3, joints_, 3, perm_3d);
}

int64_t WindowGenerator::fill_next(float* inputs_2d, float* targets_3d) {
  V3D_CHECK(epoch_ > 0, "WindowGenerator: next batch requested before start_epoch()");
  const int64_t begin = cursor_ * spec_.batch_size;
  if (begin >= num_windows_) return 0;
  const int64_t n = std::min(spec_.batch_size, num_windows_ - begin);
  const int64_t in_size = receptive_field() * keypoints_ * 2, out_size = int64_t{joints_} * 3;
  for (int64_t b = 0; b < n; ++b) {
    gather(window(begin + b), inputs_2d + b * in_size, targets_3d + b * out_size);
  }
  ++cursor_;
  return n;
}

bool WindowGenerator::next(Batch& out) {
  V3D_CHECK(epoch_ > 0, "WindowGenerator: next batch requested before start_epoch()");
  const int64_t begin = cursor_ * spec_.batch_size;
  const int64_t n = std::clamp<int64_t>(num_windows_ - begin, 0, spec_.batch_size);
  out.size = n;
  out.inputs_2d.resize(static_cast<size_t>(n * receptive_field() * keypoints_ * 2));
  out.targets_3d.resize(static_cast<size_t>(n * joints_ * 3));
  if (n == 0) return false;
  fill_next(out.inputs_2d.data(), out.targets_3d.data());
  return true;
}

std::string WindowGenerator::save_state_at(int64_t batches) const {
  // One field per line; the mode name may contain spaces, so it is the rest of its line.
  std::ostringstream os;
  os << "v3d-window-generator 1\n"
     << "num_windows " << num_windows_ << "\n"
     << "receptive_field " << receptive_field() << "\n"
     << "mode " << mode_.name << "\n"
     << "epoch " << epoch_ << "\n"
     << "cursor " << batches << "\n"
     << "rng " << epoch_start_state_ << "\n";
  return os.str();
}

void WindowGenerator::load_state(const std::string& state) {
  std::istringstream is(state);
  std::string line;
  auto field = [&](const char* name) {
    V3D_CHECK(std::getline(is, line), "window generator state: missing field '" << name << "'");
    const size_t space = line.find(' ');
    V3D_CHECK(space != std::string::npos && line.compare(0, space, name) == 0,
              "window generator state: expected field '" << name << "', got '" << line.substr(0, 40)
                                                         << "'");
    return line.substr(space + 1);
  };
  V3D_CHECK(std::getline(is, line) && line == "v3d-window-generator 1",
            "window generator state: not a v3d-window-generator version 1 state");
  const int64_t windows = std::stoll(field("num_windows"));
  const int64_t rf = std::stoll(field("receptive_field"));
  const std::string mode = field("mode");
  V3D_CHECK(windows == num_windows_ && rf == receptive_field() && mode == mode_.name,
            "window generator state: saved for " << windows << " windows, RF " << rf << ", mode '"
                                                 << mode << "'; this generator has " << num_windows_
                                                 << " windows, RF " << receptive_field()
                                                 << ", mode '" << mode_.name << "'");
  const int64_t epoch = std::stoll(field("epoch"));
  const int64_t cursor = std::stoll(field("cursor"));
  V3D_CHECK(epoch >= 0 && cursor >= 0 && cursor <= num_batches(),
            "window generator state: epoch " << epoch << ", cursor " << cursor << " out of range");
  std::istringstream rs(field("rng"));
  std::mt19937_64 rng;
  rs >> rng;
  V3D_CHECK(!rs.fail(), "window generator state: unreadable rng state");

  rng_ = rng;
  epoch_start_state_ = rng_text(rng_);
  epoch_ = epoch;
  cursor_ = cursor;
  order_.clear();
  drawn_.clear();
  if (epoch_ > 0) draw_epoch();  // replays the epoch; rng_ ends where the original run's did
}

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

std::vector<Sequence> split_phases(const Sequence& seq, int n) {
  V3D_CHECK(n >= 1, "split_phases: interval must be >= 1, got " << n);
  V3D_CHECK(seq.frames > 0, "split_phases: sequence " << sequence_name(seq) << " is empty");
  const int64_t row_2d = static_cast<int64_t>(seq.poses_2d.size()) / seq.frames;
  const int64_t row_3d = static_cast<int64_t>(seq.poses_3d.size()) / seq.frames;
  std::vector<Sequence> out;
  for (int p = 0; p < n && p < seq.frames; ++p) {
    const SubsetRange r{p, (seq.frames - p + n - 1) / n, n};
    Sequence s;
    s.subject = seq.subject;
    s.action = seq.action;
    s.camera = seq.camera;
    s.intrinsic = seq.intrinsic;
    s.frames = r.count;
    s.poses_2d = take_rows(seq.poses_2d, row_2d, r);
    if (!seq.poses_3d.empty()) s.poses_3d = take_rows(seq.poses_3d, row_3d, r);
    out.push_back(std::move(s));
  }
  return out;
}

EvalInput make_eval_input(const Sequence& seq, const Skeleton& keypoints, const Skeleton& joints,
                          int64_t pad, int64_t causal_shift, bool flip) {
  V3D_CHECK(pad >= 0 && causal_shift >= -pad && causal_shift <= pad,
            "make_eval_input: pad " << pad << ", causal_shift " << causal_shift
                                    << " (need pad >= 0, |causal_shift| <= pad)");
  validate_sequence(seq, keypoints.num_joints(), joints.num_joints(), false);
  const int kp = keypoints.num_joints();
  const int64_t row = int64_t{kp} * 2, left = pad + causal_shift;
  EvalInput e;
  e.batch = flip ? 2 : 1;
  e.length = seq.frames + 2 * pad;
  e.inputs_2d.resize(static_cast<size_t>(e.batch * e.length * row));
  const std::vector<int> perm = flip ? keypoints.flip_permutation() : std::vector<int>{};
  for (int64_t b = 0; b < e.batch; ++b) {
    for (int64_t t = 0; t < e.length; ++t) {
      const int64_t src = std::clamp<int64_t>(t - left, 0, seq.frames - 1);
      copy_frame(e.inputs_2d.data() + (b * e.length + t) * row, seq.poses_2d.data() + src * row, kp,
                 2, b == 1 ? perm.data() : nullptr);
    }
  }
  e.targets_3d = seq.poses_3d;
  return e;
}

}  // namespace v3d::data
