// CPU backend of kernels/pose_bank.h. Every float is computed in the order the contract fixes
// (the CUDA kernels in kernels/cuda/pose_bank.cu follow the same order), so both backends make the
// same insert / reject / evict decisions and produce identical banks and index maps.
//
// Parallelism: pose_bank runs one sequence per OpenMP iteration (a bank is inherently sequential
// along its frames); pose_bank_fuse, pose_similarity and window_gather are parallel over frames,
// pairs and rows. The results never depend on the thread count.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <sstream>
#include <vector>

#include "kernels/pose_bank.h"

namespace v3d::kernels {

namespace {

void check_skeleton(const char* op, const PoseSkeleton& sk) {
  V3D_CHECK(sk.joints >= 1 && sk.joints <= kPoseBankMaxJoints,
            op << ": joints must be in [1, " << kPoseBankMaxJoints << "], got " << sk.joints);
  V3D_CHECK(sk.parents != nullptr, op << ": parents is null");
  V3D_CHECK(sk.center == PoseCenter::kCentroid || sk.center == PoseCenter::kRoot,
            op << ": unknown center " << static_cast<int>(sk.center));
}

void check_capacity(const char* op, int capacity) {
  V3D_CHECK(capacity >= 1 && capacity <= kPoseBankMaxCapacity,
            op << ": capacity must be in [1, " << kPoseBankMaxCapacity << "], got " << capacity);
}

// Frame indices are int32.
constexpr int64_t kMaxFrames = 0x7fffffff;

void check_frames(const char* op, int64_t num_seq, int64_t total) {
  V3D_CHECK(num_seq >= 0 && num_seq < kMaxFrames && total >= 0 && total <= kMaxFrames,
            op << ": num_seq must be in [0, 2^31 - 1) and total in [0, 2^31 - 1], got num_seq="
               << num_seq << " total=" << total);
}

}  // namespace

std::string pose_bank_check_message(const char* op, PoseBankCheck check, int64_t i, int64_t j,
                                    int64_t k, int64_t value) {
  std::ostringstream os;
  os << op << ": ";
  switch (check) {
    case PoseBankCheck::kParent:
      os << "parents[" << i << "] = " << value << " is not -1 or another joint in [0, " << j << ")";
      break;
    case PoseBankCheck::kOffsetsStart:
      os << "offsets[0] must be 0, got " << value;
      break;
    case PoseBankCheck::kOffsetsOrder:
      os << "offsets must be non-decreasing, offsets[" << i << "] = " << value << " < offsets["
         << i - 1 << "] = " << j;
      break;
    case PoseBankCheck::kOffsetsEnd:
      os << "offsets end at " << value << " but poses has " << j << " frames";
      break;
    case PoseBankCheck::kBankRow:
      os << "bank_row[" << i << "] = " << value << " is not a row of banks (" << j << " rows)";
      break;
    case PoseBankCheck::kGatherRow:
      os << "rows[" << i << "] = " << value << " is not a row of index_map (" << j << " rows)";
      break;
    case PoseBankCheck::kGatherFrame:
      os << "row_base[" << i << "] + index_map[" << k << ", " << j << "] = " << value
         << " is not a frame of src";
      break;
    default:
      os << "index check " << static_cast<int>(check) << " failed (i=" << i << " j=" << j
         << " k=" << k << " value=" << value << ")";
  }
  return os.str();
}

void PoseSimilarityArgs::validate(const char* op) const {
  check_skeleton(op, skeleton);
  V3D_CHECK(n >= 0 && m >= 0, op << ": bad sizes n=" << n << " m=" << m);
}

void PoseBankArgs::validate(const char* op) const {
  check_skeleton(op, skeleton);
  check_capacity(op, settings.capacity);
  check_frames(op, num_seq, total);
  V3D_CHECK(settings.accumulate == PoseAccumulate::kEntries ||
                settings.accumulate == PoseAccumulate::kOffered,
            op << ": unknown accumulate " << static_cast<int>(settings.accumulate));
}

int64_t PoseBankArgs::workspace_floats() const {
  // One capacity x capacity pairwise matrix per sequence (kernels/cuda/pose_bank.cu).
  return num_seq * static_cast<int64_t>(settings.capacity) * settings.capacity;
}

void PoseFuseArgs::validate(const char* op) const {
  check_skeleton(op, skeleton);
  check_capacity(op, settings.capacity);
  check_frames(op, num_seq, total);
  V3D_CHECK(settings.radius >= 0 && settings.radius < (1 << 24),
            op << ": radius must be in [0, 2^24), got " << settings.radius);
  V3D_CHECK(bank_rows >= 0 && bank_rows <= kMaxFrames,
            op << ": bank_rows must be in [0, 2^31), got " << bank_rows);
  V3D_CHECK(settings.placement == PosePlacement::kNextToCenter ||
                settings.placement == PosePlacement::kLeastSimilar ||
                settings.placement == PosePlacement::kOutermost,
            op << ": unknown placement " << static_cast<int>(settings.placement));
  V3D_CHECK(settings.gate == PoseGate::kOff || settings.gate == PoseGate::kMean ||
                settings.gate == PoseGate::kMin,
            op << ": unknown gate " << static_cast<int>(settings.gate));
}

void WindowGatherArgs::validate(const char* op) const {
  V3D_CHECK(channels >= 0 && window >= 1 && window <= kMaxFrames && n >= 0,
            op << ": bad sizes channels=" << channels << " window=" << window << " n=" << n);
  V3D_CHECK(src_frames >= 0 && map_rows >= 0,
            op << ": bad sizes src_frames=" << src_frames << " map_rows=" << map_rows);
}

namespace cpu {

namespace {

// Below this many similarity evaluations (or gathered floats) a parallel region costs more than
// it saves.
constexpr int64_t kParallelMin = 1 << 12;

constexpr float kMinDenominator = 1e-6f;

constexpr float kInf = std::numeric_limits<float>::infinity();

bool finite(float v) { return std::fabs(v) <= std::numeric_limits<float>::max(); }

// The per-pose quantities S needs: validity, the centre c(P) and, for a reference pose, the
// denominator max(J * L(P), 1e-6).
struct PoseInfo {
  bool valid = false;
  float cx = 0.0f, cy = 0.0f;
  float denom = 0.0f;
};

// The skeleton's constants: 1/J and 1/bones rounded once from double.
struct Skeleton {
  int joints = 0;
  const int32_t* parents = nullptr;
  PoseCenter center = PoseCenter::kCentroid;
  float inv_joints = 0.0f;
  float inv_bones = 0.0f;  // 0 when the skeleton has no bone: L = 0, the denominator is 1e-6
};

// sk was validated by the op's args; the parents are checked here, where they are read.
Skeleton make_skeleton(const char* op, const PoseSkeleton& sk) {
  int bones = 0;
  for (int j = 0; j < sk.joints; ++j) {
    const int p = sk.parents[j];
    V3D_CHECK(p >= -1 && p < sk.joints && p != j,
              pose_bank_check_message(op, PoseBankCheck::kParent, j, sk.joints, 0, p));
    if (p >= 0) ++bones;
  }
  Skeleton s;
  s.joints = sk.joints;
  s.parents = sk.parents;
  s.center = sk.center;
  s.inv_joints = static_cast<float>(1.0 / static_cast<double>(sk.joints));
  s.inv_bones = bones > 0 ? static_cast<float>(1.0 / static_cast<double>(bones)) : 0.0f;
  return s;
}

// p: (J, 2). The centre only (enough for a candidate A), or the denominator too (reference B).
PoseInfo pose_info(const float* p, const Skeleton& s, bool with_denom) {
  PoseInfo info;
  for (int j = 0; j < s.joints * 2; ++j)
    if (!finite(p[j])) return info;
  info.valid = true;
  if (s.center == PoseCenter::kRoot) {
    info.cx = p[0];
    info.cy = p[1];
  } else {
    float sx = 0.0f, sy = 0.0f;
    for (int j = 0; j < s.joints; ++j) {
      sx += p[j * 2 + 0];
      sy += p[j * 2 + 1];
    }
    info.cx = sx * s.inv_joints;
    info.cy = sy * s.inv_joints;
  }
  if (with_denom) {
    float bone_sum = 0.0f;
    for (int j = 0; j < s.joints; ++j) {
      const int q = s.parents[j];
      if (q < 0) continue;
      const float bx = p[j * 2 + 0] - p[q * 2 + 0];
      const float by = p[j * 2 + 1] - p[q * 2 + 1];
      bone_sum += std::sqrt(bx * bx + by * by);
    }
    const float mean_bone = bone_sum * s.inv_bones;
    const float denom = static_cast<float>(s.joints) * mean_bone;
    info.denom = denom < kMinDenominator ? kMinDenominator : denom;
  }
  return info;
}

// S(A, B) (paper Eq. 2); b_info must carry the denominator.
float similarity(const float* a, const PoseInfo& a_info, const float* b, const PoseInfo& b_info,
                 int joints) {
  if (!a_info.valid || !b_info.valid) return -std::numeric_limits<float>::infinity();
  float sum = 0.0f;
  for (int j = 0; j < joints; ++j) {
    const float dx = (a[j * 2 + 0] - a_info.cx) + (b_info.cx - b[j * 2 + 0]);
    const float dy = (a[j * 2 + 1] - a_info.cy) + (b_info.cy - b[j * 2 + 1]);
    sum += std::sqrt(dx * dx + dy * dy);
  }
  return 1.0f - sum / b_info.denom;
}

// offsets: (num_seq + 1) host memory, ending at total.
void check_offsets(const char* op, const int32_t* offsets, int64_t num_seq, int64_t total) {
  V3D_CHECK(offsets != nullptr, op << ": offsets is null");
  V3D_CHECK(offsets[0] == 0,
            pose_bank_check_message(op, PoseBankCheck::kOffsetsStart, 0, 0, 0, offsets[0]));
  for (int64_t k = 0; k < num_seq; ++k)
    V3D_CHECK(offsets[k + 1] >= offsets[k],
              pose_bank_check_message(op, PoseBankCheck::kOffsetsOrder, k + 1, offsets[k], 0,
                                      offsets[k + 1]));
  V3D_CHECK(offsets[num_seq] == total,
            pose_bank_check_message(op, PoseBankCheck::kOffsetsEnd, 0, total, 0, offsets[num_seq]));
}

// One sequence's bank while its frames are offered (Algorithm 1, slot layout of the contract).
class Bank {
 public:
  Bank(int capacity, float threshold, PoseAccumulate accumulate)
      : capacity_(capacity),
        threshold_(threshold),
        offered_(accumulate == PoseAccumulate::kOffered),
        frame_(static_cast<size_t>(capacity)),
        info_(static_cast<size_t>(capacity)),
        as_(static_cast<size_t>(capacity)),
        cand_(static_cast<size_t>(capacity)),
        pair_(static_cast<size_t>(capacity) * static_cast<size_t>(capacity)) {}

  void reset() {
    std::fill(frame_.begin(), frame_.end(), -1);
    std::fill(as_.begin(), as_.end(), 0.0f);
    size_ = 0;
  }

  // seq: (n, J, 2), the sequence's poses; offers local frame f.
  void offer(const float* seq, int32_t f, const Skeleton& s) {
    const int64_t stride = static_cast<int64_t>(s.joints) * 2;
    const float* x = seq + f * stride;
    const PoseInfo xi = pose_info(x, s, true);
    if (!xi.valid) return;
    // cand_[i] = S(x, entry_i); any >= T rejects x. AS over offered frames needs every one.
    bool rejected = false;
    for (int i = 0; i < size_ && (offered_ || !rejected); ++i) {
      cand_[i] = similarity(x, xi, seq + frame_[i] * stride, info_[i], s.joints);
      rejected = rejected || cand_[i] >= threshold_;
    }
    if (rejected) {
      if (offered_)
        for (int i = 0; i < size_; ++i) as_[i] += cand_[i];
      return;
    }
    int slot = size_;
    if (size_ < capacity_) {
      ++size_;
    } else {
      slot = 0;  // the largest AS, ties: the smallest source frame
      for (int i = 1; i < capacity_; ++i)
        if (as_[i] > as_[slot] || (as_[i] == as_[slot] && frame_[i] < frame_[slot])) slot = i;
    }
    frame_[slot] = f;
    info_[slot] = xi;
    if (offered_) {
      for (int i = 0; i < size_; ++i) as_[i] = i == slot ? 0.0f : as_[i] + cand_[i];
      return;
    }
    // Row and column of the new entry: P[slot][j] = S(x, entry_j), P[j][slot] = S(entry_j, x).
    for (int j = 0; j < size_; ++j) {
      if (j == slot) continue;
      pair_[idx(slot, j)] = cand_[j];
      pair_[idx(j, slot)] = similarity(seq + frame_[j] * stride, info_[j], x, xi, s.joints);
    }
    // AS_i: the other occupied slots in slot order.
    for (int i = 0; i < size_; ++i) {
      float acc = 0.0f;
      for (int j = 0; j < size_; ++j)
        if (j != i) acc += pair_[idx(i, j)];
      as_[i] = acc;
    }
  }

  int size() const { return size_; }
  const std::vector<int32_t>& frames() const { return frame_; }
  const std::vector<float>& as() const { return as_; }

 private:
  size_t idx(int i, int j) const {
    return static_cast<size_t>(i) * static_cast<size_t>(capacity_) + static_cast<size_t>(j);
  }

  int capacity_;
  float threshold_;
  bool offered_;  // AS accumulated over the offered frames (else over the other entries)
  int size_ = 0;
  std::vector<int32_t> frame_;  // (capacity) local source frames, -1 empty
  std::vector<PoseInfo> info_;  // (capacity) centre and denominator of each entry
  std::vector<float> as_;       // (capacity)
  std::vector<float> cand_;     // (capacity) S(x, entry_i) of the frame being offered
  std::vector<float> pair_;     // (capacity, capacity) P[i][j] = S(entry_i, entry_j)
};

}  // namespace

void pose_similarity(const PoseSimilarityArgs& args, const float* a, const float* b, float* s) {
  args.validate("pose_similarity");
  const Skeleton sks = make_skeleton("pose_similarity", args.skeleton);
  const int64_t n = args.n, m = args.m;
  const int64_t stride = static_cast<int64_t>(sks.joints) * 2;
  // The reference poses' centres and denominators, once each.
  std::vector<PoseInfo> b_info(static_cast<size_t>(m));
  for (int64_t k = 0; k < m; ++k)
    b_info[static_cast<size_t>(k)] = pose_info(b + k * stride, sks, true);
#pragma omp parallel for schedule(static) if (n * m >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    // s row i: S(a_i, b_k) for k < m
    const PoseInfo ai = pose_info(a + i * stride, sks, false);
    for (int64_t k = 0; k < m; ++k)
      s[i * m + k] = similarity(a + i * stride, ai, b + k * stride, b_info[static_cast<size_t>(k)],
                                sks.joints);
  }
}

void pose_bank(const PoseBankArgs& args, const float* poses, const int32_t* offsets,
               int32_t* bank_frames, float* bank_as, int32_t* bank_size, int32_t* history) {
  args.validate("pose_bank");
  const Skeleton sks = make_skeleton("pose_bank", args.skeleton);
  const int64_t num_seq = args.num_seq;
  const PoseBankSettings& st = args.settings;
  check_offsets("pose_bank", offsets, num_seq, args.total);
  const int cap = st.capacity;
  const int64_t stride = static_cast<int64_t>(sks.joints) * 2;
#pragma omp parallel if (num_seq > 1 && \
                         offsets[num_seq] * static_cast <int64_t>(cap) >= kParallelMin)
  {
    Bank bank(cap, st.threshold, st.accumulate);
#pragma omp for schedule(dynamic, 1)
    for (int64_t k = 0; k < num_seq; ++k) {
      // sequence k: global frames offsets[k] .. offsets[k + 1] - 1
      const int64_t begin = offsets[k];
      const int32_t n = offsets[k + 1] - offsets[k];
      bank.reset();
      for (int32_t f = 0; f < n; ++f) {
        bank.offer(poses + begin * stride, f, sks);
        if (history != nullptr)
          std::copy(bank.frames().begin(), bank.frames().end(), history + (begin + f) * cap);
      }
      std::copy(bank.frames().begin(), bank.frames().end(), bank_frames + k * cap);
      std::copy(bank.as().begin(), bank.as().end(), bank_as + k * cap);
      bank_size[k] = bank.size();
    }
  }
}

namespace {

struct Candidate {
  float s;
  int32_t frame;
  int slot;
};

// Scratch of fuse_frame, reused across frames.
struct FuseScratch {
  std::vector<Candidate> cands;
  std::vector<float> local;  // l_w, w != the centre slot
  std::vector<int> slots;    // one half's slots, for selection
  FuseScratch(int capacity, int window)
      : local(static_cast<size_t>(window)), slots(static_cast<size_t>(window)) {
    cands.reserve(static_cast<size_t>(capacity));
  }
};

// The fused window of local frame t of one sequence (the contract's Fusion): seq (n, J, 2) the
// sequence's poses (a causal window reads frames 0 .. t only), row the bank's capacity slots,
// out the (2r + 1) map row. Returns k, the number of inserted poses.
int fuse_frame(const PoseFuseSettings& st, const Skeleton& sks, const float* seq, int32_t n,
               int32_t t, const int32_t* row, FuseScratch& sc, int32_t* out) {
  const int r = st.radius, window = 2 * r + 1, cap = st.capacity;
  // The centre slot c and the window's local frames t - c .. t + (window - 1 - c).
  const int c = st.causal ? 2 * r : r, right = window - 1 - c;
  const int max_insert = std::clamp(st.max_insert, 0, 2 * r);
  const int64_t stride = static_cast<int64_t>(sks.joints) * 2;
  // The local similarities l_w are needed by the gate and the least-similar placement.
  const bool need_local = st.gate != PoseGate::kOff || st.placement == PosePlacement::kLeastSimilar;
  const float* x = seq + static_cast<int64_t>(t) * stride;
  const PoseInfo xi = pose_info(x, sks, true);
  std::vector<Candidate>& cands = sc.cands;
  std::vector<float>& local = sc.local;
  cands.clear();
  if (xi.valid && max_insert > 0) {
    for (int i = 0; i < cap; ++i) {
      const int32_t src = row[i];
      // empty (or out of this sequence) and local frames are no candidates
      if (src < 0 || src >= n || (src >= t - c && src <= t + right)) continue;
      const float* e = seq + static_cast<int64_t>(src) * stride;
      const PoseInfo ei = pose_info(e, sks, false);
      if (!ei.valid) continue;
      const float s = similarity(e, ei, x, xi, sks.joints);
      if (s >= st.fusion_threshold) cands.push_back({s, src, i});
    }
  }
  const auto clamp = [n](int64_t i) {
    return static_cast<int32_t>(std::min<int64_t>(std::max<int64_t>(i, 0), n - 1));
  };
  if (need_local && !cands.empty()) {
    for (int w = 0; w < window; ++w) {
      if (w == c) continue;
      const float* l = seq + clamp(static_cast<int64_t>(t) - c + w) * stride;
      const float v = similarity(l, pose_info(l, sks, false), x, xi, sks.joints);
      local[static_cast<size_t>(w)] = std::isnan(v) ? -kInf : v;
    }
    if (st.gate != PoseGate::kOff) {
      float gv = st.gate == PoseGate::kMin ? kInf : 0.0f;
      for (int w = 0; w < window; ++w) {
        if (w == c) continue;
        const float v = local[static_cast<size_t>(w)];
        gv = st.gate == PoseGate::kMin ? std::min(gv, v) : gv + v;
      }
      if (st.gate == PoseGate::kMean) gv = gv / static_cast<float>(2 * r);
      if (!(gv < st.gate_threshold)) cands.clear();  // the local window is coherent
    }
  }
  const int count = std::min(static_cast<int>(cands.size()), max_insert);
  std::partial_sort(cands.begin(), cands.begin() + count, cands.end(),
                    [](const Candidate& a, const Candidate& b) {
                      if (a.s != b.s) return a.s > b.s;
                      if (a.frame != b.frame) return a.frame < b.frame;
                      return a.slot < b.slot;
                    });
  // A centred window alternates left (ranks 0, 2, ...) and right (1, 3, ...); a causal one has
  // no future half: every rank goes left, rank q the q-th slot from the centre.
  const int nl = st.causal ? count : (count + 1) / 2, nr = st.causal ? 0 : count / 2;
  const auto rank_of = [&](int side, int q) { return st.causal ? q : 2 * q + side; };
  if (st.placement != PosePlacement::kNextToCenter) {
    for (int w = 0; w < window; ++w) out[w] = clamp(static_cast<int64_t>(t) - c + w);
    std::vector<int>& slots = sc.slots;
    // Each half: the slots the candidates take, innermost first; its q-th gets rank_of(side, q).
    for (int side = 0; side < 2; ++side) {
      const int take = side == 0 ? nl : nr, half = side == 0 ? c : right;
      if (take == 0) continue;
      // slots[d - 1] = the slot at distance d from the centre on this side
      for (int d = 1; d <= half; ++d) slots[static_cast<size_t>(d - 1)] = side == 0 ? c - d : c + d;
      const auto end = slots.begin() + half;
      if (st.placement == PosePlacement::kOutermost) {
        std::reverse(slots.begin(), end);  // outermost first
      } else {
        // least similar first, ties: the outer slot (larger distance) first
        std::stable_sort(slots.begin(), end, [&](int a, int b) {
          const float la = local[static_cast<size_t>(a)], lb = local[static_cast<size_t>(b)];
          if (la != lb) return la < lb;
          return std::abs(a - c) > std::abs(b - c);
        });
      }
      // The chosen slots, innermost first.
      std::sort(slots.begin(), slots.begin() + take,
                [c](int a, int b) { return std::abs(a - c) < std::abs(b - c); });
      for (int q = 0; q < take; ++q)
        out[slots[static_cast<size_t>(q)]] = cands[static_cast<size_t>(rank_of(side, q))].frame;
    }
    return count;
  }
  for (int w = 0; w < window; ++w) {
    if (w < c - nl)
      out[w] = clamp(static_cast<int64_t>(t) - (c - nl) + w);
    else if (w < c)
      out[w] = cands[static_cast<size_t>(rank_of(0, c - 1 - w))].frame;
    else if (w == c)
      out[w] = t;
    else if (w <= c + nr)
      out[w] = cands[static_cast<size_t>(rank_of(1, w - c - 1))].frame;
    else
      out[w] = clamp(static_cast<int64_t>(t) + (w - c - nr));
  }
  return count;
}

}  // namespace

void pose_bank_fuse(const PoseFuseArgs& args, const float* poses, const int32_t* offsets,
                    const int32_t* banks, const int32_t* bank_row, int32_t* index_map,
                    int32_t* fused) {
  const char* op = "pose_bank_fuse";
  args.validate(op);
  const Skeleton sks = make_skeleton(op, args.skeleton);
  const int64_t num_seq = args.num_seq, total = args.total;
  const PoseFuseSettings& st = args.settings;
  check_offsets(op, offsets, num_seq, total);
  for (int64_t g = 0; g < total; ++g)
    V3D_CHECK(
        bank_row[g] >= 0 && bank_row[g] < args.bank_rows,
        pose_bank_check_message(op, PoseBankCheck::kBankRow, g, args.bank_rows, 0, bank_row[g]));
  const int window = 2 * st.radius + 1, cap = st.capacity;
  const int64_t stride = static_cast<int64_t>(sks.joints) * 2;
#pragma omp parallel if (total * cap >= kParallelMin)
  {
    FuseScratch scratch(cap, window);
#pragma omp for schedule(dynamic, 64)
    for (int64_t g = 0; g < total; ++g) {
      // g lies in sequence k: offsets[k] <= g < offsets[k + 1]
      const int64_t k = std::upper_bound(offsets, offsets + num_seq + 1, g) - offsets - 1;
      const int64_t begin = offsets[k];
      const int32_t n = offsets[k + 1] - offsets[k];
      const int count = fuse_frame(
          st, sks, poses + begin * stride, n, static_cast<int32_t>(g - begin),
          banks + static_cast<int64_t>(bank_row[g]) * cap, scratch, index_map + g * window);
      if (fused != nullptr) fused[g] = count > 0 ? 1 : 0;
    }
  }
}

struct PoseBankStream::State {
  PoseSkeleton skeleton;
  std::vector<int32_t> parents;
  Skeleton sks;
  PoseFuseSettings fuse;
  Bank bank;
  FuseScratch scratch;
  int32_t frames = 0;
  State(const PoseSkeleton& sk, const PoseBankSettings& b, const PoseFuseSettings& f)
      : skeleton(sk),
        parents(sk.parents, sk.parents + sk.joints),
        fuse(f),
        bank(b.capacity, b.threshold, b.accumulate),
        scratch(b.capacity, 2 * f.radius + 1) {
    skeleton.parents = parents.data();
    sks = make_skeleton("pose_bank_stream", skeleton);
    bank.reset();
  }
};

PoseBankStream::PoseBankStream(const PoseSkeleton& skeleton, const PoseBankSettings& bank,
                               const PoseFuseSettings& fuse) {
  const char* op = "pose_bank_stream";
  PoseBankArgs ba;
  ba.skeleton = skeleton;
  ba.settings = bank;
  ba.validate(op);
  PoseFuseArgs fa;
  fa.skeleton = skeleton;
  fa.settings = fuse;
  fa.validate(op);
  V3D_CHECK(fuse.causal && fuse.capacity == bank.capacity,
            op << ": a stream fuses causal windows with its own bank (causal " << fuse.causal
               << ", capacities " << fuse.capacity << " and " << bank.capacity << ")");
  state_ = std::make_unique<State>(skeleton, bank, fuse);
}

PoseBankStream::~PoseBankStream() = default;

int PoseBankStream::push(const float* poses, int32_t* map) {
  State& s = *state_;
  V3D_CHECK(s.frames < kMaxFrames, "pose_bank_stream: more than 2^31 - 1 frames");
  const int32_t t = s.frames++;
  s.bank.offer(poses, t, s.sks);
  return fuse_frame(s.fuse, s.sks, poses, t + 1, t, s.bank.frames().data(), s.scratch, map);
}

const std::vector<int32_t>& PoseBankStream::bank() const { return state_->bank.frames(); }

int PoseBankStream::bank_size() const { return state_->bank.size(); }

void window_gather(const WindowGatherArgs& args, const float* src, const int32_t* index_map,
                   const int32_t* rows, const int32_t* row_base, float* out) {
  const char* op = "window_gather";
  args.validate(op);
  const int64_t n = args.n, channels = args.channels;
  const int window = static_cast<int>(args.window);
  // Every source row the gather reads must exist.
  for (int64_t k = 0; k < n; ++k) {
    V3D_CHECK(rows[k] >= 0 && rows[k] < args.map_rows,
              pose_bank_check_message(op, PoseBankCheck::kGatherRow, k, args.map_rows, 0, rows[k]));
    for (int w = 0; w < window; ++w) {
      const int64_t from = int64_t{row_base[k]} + index_map[int64_t{rows[k]} * window + w];
      V3D_CHECK(from >= 0 && from < args.src_frames,
                pose_bank_check_message(op, PoseBankCheck::kGatherFrame, k, w, rows[k], from));
    }
  }
#pragma omp parallel for schedule(static) if (n * window * channels >= kParallelMin)
  for (int64_t k = 0; k < n; ++k) {
    // out (window, channels) block k from the map row rows[k]
    const int32_t* map = index_map + static_cast<int64_t>(rows[k]) * window;
    for (int w = 0; w < window; ++w) {
      const float* from = src + (static_cast<int64_t>(row_base[k]) + map[w]) * channels;
      std::copy(from, from + channels, out + (k * window + w) * channels);
    }
  }
}

}  // namespace cpu
}  // namespace v3d::kernels
