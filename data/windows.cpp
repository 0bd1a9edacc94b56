// Training windows with interval resampling (data/windows.h).
#include "data/windows.h"

#include <algorithm>
#include <optional>
#include <sstream>

#include "data/frame_util.h"
#include "kernels/common.h"
#include "kernels/text.h"

namespace v3d::data {

using detail::copy_frame;
using detail::sequence_name;

namespace {

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

}  // namespace

// ---------------------------------------------------------------------------------------------
// Modes
// ---------------------------------------------------------------------------------------------

ResampleMode parse_resample_mode(const std::string& name) {
  const std::string valid =
      "valid: 'Sequential', 'Sequential x2', 'Sample<N>+Sequential' (N >= 2), "
      "'Sample<A>/<B>/...+Sequential' (e.g. 'Sample3/5/7+Sequential', one random stride per "
      "window), 'Sample<A>+Sample<B>+...+Sequential' (e.g. 'Sample3+Sample5+Sample7+Sequential', "
      "every stride added)";
  ResampleMode m;
  m.name = name;
  if (name == "Sequential") return m;
  if (name == "Sequential x2") {
    m.copies = 2;
    return m;
  }
  // The additive form: two or more "Sample<N>" terms, distinct, then "Sequential".
  if (std::count(name.begin(), name.end(), '+') >= 2 && name.find('/') == std::string::npos) {
    std::vector<std::string> terms;
    std::string term;
    std::istringstream is(name);
    while (std::getline(is, term, '+')) terms.push_back(term);
    bool ok = name.back() != '+' && terms.back() == "Sequential";
    for (size_t i = 0; ok && i + 1 < terms.size(); ++i) {
      const std::string& t = terms[i];
      ok = t.size() > 6 && t.size() <= 10 && t.compare(0, 6, "Sample") == 0 &&
           std::all_of(t.begin() + 6, t.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (ok) {
        const int s = std::stoi(t.substr(6));
        ok = s >= 2 && std::find(m.strides.begin(), m.strides.end(), s) == m.strides.end();
        m.strides.push_back(s);
      }
    }
    V3D_REQUIRE(ok, "unknown training-data mode '" << excerpt(name) << "'; " << valid);
    m.additive = true;
    m.copies = 1 + static_cast<int>(m.strides.size());
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
  V3D_REQUIRE(ok, "unknown training-data mode '" << excerpt(name) << "'; " << valid);
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
  V3D_CHECK(spec_.shards >= 1 && spec_.shard >= 0 && spec_.shard < spec_.shards,
            "shard " << spec_.shard << " of " << spec_.shards);
  V3D_CHECK(spec_.shards == 1 || spec_.batch_size >= 2 * spec_.shards,
            "batch_size " << spec_.batch_size << " gives fewer than two windows to some of "
                          << spec_.shards << " ranks");
  V3D_CHECK(spec_.pad >= 0, "pad must be >= 0, got " << spec_.pad);
  V3D_CHECK(spec_.causal_shift >= -spec_.pad && spec_.causal_shift <= spec_.pad,
            "causal_shift must be in [-pad, pad], got " << spec_.causal_shift << " with pad "
                                                        << spec_.pad);
  V3D_CHECK(!sequences_.empty(), "WindowGenerator: no sequences");
  offsets_.reserve(sequences_.size() + 1);
  for (const Sequence& s : sequences_) {
    validate_sequence(s, keypoints_, joints_, true);
    V3D_CHECK(!spec_.camera_targets || static_cast<int64_t>(s.trajectory.size()) == s.frames * 3,
              "sequence " << s.subject << "/" << s.action << " camera " << s.camera
                          << ": camera targets need the root trajectory (" << s.frames
                          << " frames), got " << s.trajectory.size() << " values");
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
  const int64_t full = num_windows_ / spec_.batch_size;
  const int64_t last = num_windows_ - full * spec_.batch_size;
  // Sharded, a last batch too small to give every rank two windows is dropped (see BatchSpec).
  if (last == 0 || (spec_.shards > 1 && last / spec_.shards < 2)) return full;
  return full + 1;
}

int64_t WindowGenerator::global_batch_size(int64_t b) const {
  if (b < 0 || b >= num_batches()) return 0;
  return std::min(spec_.batch_size, num_windows_ - b * spec_.batch_size);
}

void WindowGenerator::shard_range(int64_t b, int64_t* begin, int64_t* count) const {
  const int64_t n = global_batch_size(b);
  const int64_t lo = n * spec_.shard / spec_.shards, hi = n * (spec_.shard + 1) / spec_.shards;
  *begin = b * spec_.batch_size + lo;
  *count = hi - lo;
}

std::array<int64_t, 3> WindowGenerator::input_window_shape() const {
  return {receptive_field(), keypoints_, 2};
}

std::array<int64_t, 3> WindowGenerator::target_window_shape() const {
  return {1, joints_ + (spec_.camera_targets ? kCameraTargetRows : 0), 3};
}

void WindowGenerator::draw_epoch() {
  // Strides first, then the order: both from rng_, so a checkpoint's epoch-start state replays
  // both.
  if (mode_.strides.size() > 1 && !mode_.additive) {
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
  if (mode_.additive) {
    if (copy >= 1) w.stride = mode_.strides[static_cast<size_t>(copy - 1)];
  } else if (copy == 1 && !mode_.strides.empty()) {
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
  if (spec_.camera_targets) {
    // then the root (3) and the intrinsics (9), mirrored with the window
    float* root = target + int64_t{joints_} * 3;
    std::memcpy(root, s.trajectory.data() + w.centre * 3, sizeof(float) * 3);
    if (w.flip) root[0] = -root[0];
    const std::array<float, 9> cam = w.flip ? flip_intrinsic(s.intrinsic) : s.intrinsic;
    std::memcpy(root + 3, cam.data(), sizeof(cam));
  }
}

int64_t WindowGenerator::fill_next(float* inputs_2d, float* targets_3d) {
  V3D_CHECK(epoch_ > 0, "WindowGenerator: next batch requested before start_epoch()");
  int64_t begin = 0, n = 0;
  shard_range(cursor_, &begin, &n);
  if (n == 0) return 0;
  const auto target_shape = target_window_shape();
  const int64_t in_size = receptive_field() * keypoints_ * 2,
                out_size = target_shape[1] * target_shape[2];
  for (int64_t b = 0; b < n; ++b) {
    gather(window(begin + b), inputs_2d + b * in_size, targets_3d + b * out_size);
  }
  ++cursor_;
  return n;
}

bool WindowGenerator::next(Batch& out) {
  V3D_CHECK(epoch_ > 0, "WindowGenerator: next batch requested before start_epoch()");
  int64_t begin = 0, n = 0;
  shard_range(cursor_, &begin, &n);
  out.size = n;
  out.inputs_2d.resize(static_cast<size_t>(n * receptive_field() * keypoints_ * 2));
  out.targets_3d.resize(static_cast<size_t>(n * target_window_shape()[1] * 3));
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
  const auto integer = [&](const char* name) {
    const std::string text = field(name);
    const std::optional<int64_t> v = parse_integer<int64_t>(text);
    V3D_REQUIRE(v.has_value(), "window generator state: field '" << name << "' is '"
                                                                 << excerpt(text, 40)
                                                                 << "' (expected an integer)");
    return *v;
  };
  V3D_CHECK(std::getline(is, line) && line == "v3d-window-generator 1",
            "window generator state: not a v3d-window-generator version 1 state");
  const int64_t windows = integer("num_windows");
  const int64_t rf = integer("receptive_field");
  const std::string mode = field("mode");
  V3D_CHECK(windows == num_windows_ && rf == receptive_field() && mode == mode_.name,
            "window generator state: saved for " << windows << " windows, RF " << rf << ", mode '"
                                                 << mode << "'; this generator has " << num_windows_
                                                 << " windows, RF " << receptive_field()
                                                 << ", mode '" << mode_.name << "'");
  const int64_t epoch = integer("epoch");
  const int64_t cursor = integer("cursor");
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

}  // namespace v3d::data
