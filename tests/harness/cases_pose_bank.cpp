// Cases for pose_similarity, pose_bank, pose_bank_fuse and window_gather (runtime/pose_bank.h).
//
// Poses come from a few random prototypes per case, each frame a prototype plus noise of a random
// scale (0.02, 0.2 or 1 times the prototype's spread), with a random translation and scale, and 6%
// of the frames invalid (one NaN or Inf coordinate). Frames of one prototype are similar (S near
// 1), different prototypes are not, and the large noise makes poses unlike anything: the banks see
// rejections, appends and evictions at every capacity. Sequences include empty and one-frame ones.
//
// The bank and the fusion make discrete decisions from float comparisons, so they are checked
// EXACTLY, and bitwise across backends: against tests/reference/pose_bank.cpp, a naive Algorithm 1
// (AS recomputed from its definition after every change) and a list-based fusion, both over a
// float similarity in the contract's evaluation order. Integer outputs (frames, sizes, history,
// index maps, fused flags) are returned as floats. pose_similarity is checked against the double
// reference with a tolerance.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "runtime/pose_bank.h"
#include "tests/harness/harness.h"
#include "tests/reference/pose_bank.h"

namespace v3d::harness {

namespace {

using kernels::PoseCenter;

// H36M-17 (VideoPose3D's order).
const std::vector<int> kH36mParents = {-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15};

struct Skel {
  std::string name;
  std::vector<int> parents;
};

Skel h36m() { return {"h36m17", kH36mParents}; }
Skel chain(int joints) {  // joint j's parent is j - 1
  std::vector<int> p(static_cast<size_t>(joints));
  for (int j = 0; j < joints; ++j) p[static_cast<size_t>(j)] = j - 1;
  return {"chain" + std::to_string(joints), p};
}

ref::PoseSkeletonRef ref_skeleton(const Skel& s, PoseCenter center) {
  ref::PoseSkeletonRef r;
  r.joints = static_cast<int>(s.parents.size());
  r.parents = s.parents;
  r.root_center = center == PoseCenter::kRoot;
  return r;
}

// "0.7", "-1e+30": thresholds in case names.
std::string num(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", static_cast<double>(v));
  return buf;
}

Skel no_bones(int joints) {  // every joint a root: L = 0, the denominator is the 1e-6 floor
  return {"nobones" + std::to_string(joints), std::vector<int>(static_cast<size_t>(joints), -1)};
}

std::vector<float> as_floats(const std::vector<int>& v) { return {v.begin(), v.end()}; }
std::vector<float> as_floats32(const std::vector<int32_t>& v) { return {v.begin(), v.end()}; }
std::vector<int32_t> as_ints(const std::vector<double>& v) { return {v.begin(), v.end()}; }
ref::Vec as_vec(const std::vector<int32_t>& v) { return {v.begin(), v.end()}; }
ref::Vec as_vec(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// A float tensor of integer values (harness inputs are float) as int32 on its device.
Tensor to_i32(const Tensor& t) {
  const std::vector<float> f = t.to_vector();
  std::vector<int32_t> v(f.size());
  for (size_t i = 0; i < f.size(); ++i) v[i] = static_cast<int32_t>(f[i]);
  return Tensor::from_vector_i32(v, t.shape(), t.device());
}

// Writes an int32 result into a harness output (float) as float values.
void store_i32(const Tensor& from, const Tensor& out) {
  out.copy_from(Tensor::from_vector(as_floats32(from.to_vector_i32()), out.shape(), Device::cpu()));
}

std::vector<int32_t> offsets_of(const std::vector<int>& lengths) {
  std::vector<int32_t> o{0};
  for (int n : lengths) o.push_back(o.back() + n);
  return o;
}

std::string lengths_str(const std::vector<int>& lengths) {
  std::string s;
  for (size_t i = 0; i < lengths.size(); ++i) {
    if (i > 0) s += ',';
    s += std::to_string(lengths[i]);
  }
  return s;
}

// total poses (total, J, 2) from `prototypes` random prototypes (see the file comment).
std::vector<float> make_poses(Rng& r, int64_t total, int joints, int prototypes) {
  std::vector<std::vector<float>> proto;
  for (int p = 0; p < prototypes; ++p) proto.push_back(random_normal(r, joints * 2));
  std::uniform_int_distribution<int> pick(0, prototypes - 1), level(0, 2), coord(0, joints * 2 - 1);
  std::uniform_real_distribution<float> shift(-2.0f, 2.0f), scale(0.5f, 2.0f), u(0.0f, 1.0f);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  const float levels[3] = {0.02f, 0.2f, 1.0f};
  std::vector<float> poses(static_cast<size_t>(total * joints * 2));
  for (int64_t f = 0; f < total; ++f) {
    const std::vector<float>& base = proto[static_cast<size_t>(pick(r))];
    const float sigma = levels[level(r)], sx = shift(r), sy = shift(r), k = scale(r);
    for (int j = 0; j < joints; ++j)
      for (int c = 0; c < 2; ++c) {
        const size_t e = static_cast<size_t>((f * joints + j) * 2 + c);
        const float v = base[static_cast<size_t>(j * 2 + c)] + sigma * noise(r);
        poses[e] = k * v + (c == 0 ? sx : sy);
      }
    if (u(r) < 0.06f)
      poses[static_cast<size_t>(f * joints * 2 + coord(r))] =
          u(r) < 0.5f ? std::numeric_limits<float>::quiet_NaN()
                      : std::numeric_limits<float>::infinity();
  }
  return poses;
}

// Tie-heavy poses of the one-bone skeleton {-1, 0}: joint 1 = joint 0 + one of five vectors
// ((1, 0), (0, 1), (-1, 0), (0, -1), (1, 1/4)), joint 0 at a dyadic translation, 6% invalid. Every
// centre is exact, so equal configurations give bit-equal similarities: AS ties and S ties are
// everywhere, and the tie rules decide.
std::vector<float> make_tie_poses(Rng& r, int64_t total) {
  static const float kVectors[5][2] = {{1, 0}, {0, 1}, {-1, 0}, {0, -1}, {1, 0.25f}};
  std::uniform_int_distribution<int> pick(0, 4), shift(-64, 64), bad(0, 99);
  std::vector<float> poses;
  for (int64_t f = 0; f < total; ++f) {
    const int k = pick(r);
    const float tx = 0.25f * static_cast<float>(shift(r)),
                ty = 0.25f * static_cast<float>(shift(r));
    poses.insert(poses.end(), {tx, ty, tx + kVectors[k][0], ty + kVectors[k][1]});
    if (bad(r) < 6) poses.back() = std::numeric_limits<float>::quiet_NaN();
  }
  return poses;
}

Skel one_bone() { return {"onebone_ties", {-1, 0}}; }

const char* center_name(PoseCenter c) { return c == PoseCenter::kRoot ? "root" : "centroid"; }

struct BankCase {
  int capacity;
  float threshold;
  std::vector<int> lengths;
  int prototypes;
  Skel skel;
  PoseCenter center;
  bool offered = false;  // AS accumulated over the offered frames
};

struct FuseCase {
  int radius;
  int max_insert;
  float fusion_threshold;
  bool online;  // banks = the history of pose_bank (capacity 80, threshold 0.7), else random
  int capacity;
  std::vector<int> lengths;
  Skel skel;
  PoseCenter center;
  ref::FuseRuleRef rule = {};  // placement and gate
};

const char* placement_name(int p) {
  return p == 0 ? "centre" : (p == 1 ? "least_similar" : "outermost");
}
const char* gate_name(int g) { return g == 0 ? "off" : (g == 1 ? "mean" : "min"); }

}  // namespace

V3D_HARNESS_CASES(cases) {
  // ---- pose_similarity: against the double reference ----
  struct SimCase {
    int64_t n, m;
    Skel skel;
    PoseCenter center;
  };
  for (const SimCase& sc : std::vector<SimCase>{
           {1, 1, h36m(), PoseCenter::kCentroid},
           {37, 41, h36m(), PoseCenter::kCentroid},
           {300, 29, h36m(), PoseCenter::kRoot},
           {5, 7, chain(1), PoseCenter::kCentroid},      // one joint: S = 1 for valid poses
           {6, 8, no_bones(17), PoseCenter::kCentroid},  // the 1e-6 floor
           {33, 9, chain(32), PoseCenter::kCentroid}}) {
    const int joints = static_cast<int>(sc.skel.parents.size());
    const ref::PoseSkeletonRef rs = ref_skeleton(sc.skel, sc.center);
    OpCase c;
    c.op = "pose_similarity";
    c.params = "N=" + std::to_string(sc.n) + " M=" + std::to_string(sc.m) +
               " skeleton=" + sc.skel.name + " center=" + center_name(sc.center) + " invalid=6%";
    c.make_inputs = [=](Rng& r) {
      // b's first rows repeat a's first rows: S = 1 exactly for identical poses.
      std::vector<float> a = make_poses(r, sc.n, joints, 3), b = make_poses(r, sc.m, joints, 3);
      for (int64_t e = 0; e < (std::min(sc.n, sc.m) + 1) / 2 * joints * 2; ++e)
        b[static_cast<size_t>(e)] = a[static_cast<size_t>(e)];
      return std::vector<Input>{
          {{sc.n, joints, 2}, a}, {{sc.m, joints, 2}, b}, {{joints}, as_floats(sc.skel.parents)}};
    };
    c.outputs = {{sc.n, sc.m}};
    c.run = [=](const std::vector<Tensor>& in, const std::vector<Tensor>& out) {
      out[0].copy_from(ops::pose_similarity(in[0], in[1], to_i32(in[2]), sc.center));
    };
    c.reference = [=](const std::vector<ref::Vec>& in) {
      return std::vector<ref::Vec>{ref::pose_similarity(in[0], sc.n, in[1], sc.m, rs)};
    };
    c.tol = {2e-5, 2e-5,
             "S = 1 - sum / (J L): J float32 norms of centred differences (centroid sums of J "
             "terms), about J + 10 roundings relative to sum / (J L); -inf for invalid poses"};
    const kernels::PoseSimilarityArgs args{sc.n, sc.m, {joints, nullptr, sc.center}};
    c.flops = args.flops();
    c.bytes = args.bytes();
    cases.push_back(c);
  }

  // ---- pose_bank: exact against the naive Algorithm 1, bitwise across backends ----
  const std::vector<BankCase> banks = {
      {1, 0.7f, {0, 1, 40, 7}, 4, h36m(), PoseCenter::kCentroid},
      {2, 0.7f, {25, 0, 60}, 5, h36m(), PoseCenter::kCentroid},
      {3, 0.7f, {1, 50, 1, 33}, 6, h36m(), PoseCenter::kRoot},
      {5, 0.7f, {120, 0, 1, 64, 3}, 12, h36m(), PoseCenter::kCentroid},
      {5, 2.0f, {90, 17}, 3, h36m(), PoseCenter::kCentroid},   // never rejects: evictions only
      {5, -10.0f, {30, 4}, 3, h36m(), PoseCenter::kCentroid},  // rejects all but the first
      {5, 0.3f, {70}, 12, chain(1), PoseCenter::kCentroid},    // no bone: the 1e-6 floor
      {8, 0.5f, {70, 9}, 20, chain(32), PoseCenter::kRoot},    // the largest skeleton
      {80, 0.7f, {300, 0, 1, 200}, 60, h36m(), PoseCenter::kCentroid},
      {80, 0.95f, {260}, 200, h36m(), PoseCenter::kCentroid},
      {256, 0.7f, {0, 400, 2}, 120, h36m(), PoseCenter::kCentroid},
      {256, 2.0f, {300, 1}, 10, h36m(), PoseCenter::kCentroid},  // fills all 256 slots, evicts
      // prototypes = 0: the tie-heavy poses
      {2, 0.7f, {40, 1, 25}, 0, one_bone(), PoseCenter::kCentroid},
      {3, 0.7f, {60, 30}, 0, one_bone(), PoseCenter::kCentroid},
      {4, 2.0f, {50}, 0, one_bone(), PoseCenter::kRoot},
      // AS accumulated over the offered frames
      {3, 0.7f, {1, 50, 1, 33}, 6, h36m(), PoseCenter::kCentroid, true},
      {5, 2.0f, {90, 17}, 3, h36m(), PoseCenter::kCentroid, true},  // evictions only
      {80, 0.95f, {260}, 200, h36m(), PoseCenter::kCentroid, true},
      {256, 2.0f, {300, 1}, 10, h36m(), PoseCenter::kRoot, true},
      {3, 0.7f, {60, 30}, 0, one_bone(), PoseCenter::kCentroid, true},  // AS ties
  };
  for (const BankCase& bc : banks) {
    const int joints = static_cast<int>(bc.skel.parents.size());
    const ref::PoseSkeletonRef rs = ref_skeleton(bc.skel, bc.center);
    const std::vector<int32_t> offsets = offsets_of(bc.lengths);
    const int64_t total = offsets.back(), num_seq = static_cast<int64_t>(bc.lengths.size());
    const int64_t cap = bc.capacity;
    OpCase c;
    c.op = "pose_bank";
    c.params = "capacity=" + std::to_string(bc.capacity) + " threshold=" + num(bc.threshold) +
               " lengths=" + lengths_str(bc.lengths) +
               " prototypes=" + std::to_string(bc.prototypes) + " skeleton=" + bc.skel.name +
               " center=" + center_name(bc.center) +
               (bc.offered ? std::string(" accumulate=offered") : std::string());
    c.make_inputs = [=](Rng& r) {
      return std::vector<Input>{{{total, joints, 2},
                                 bc.prototypes == 0 ? make_tie_poses(r, total)
                                                    : make_poses(r, total, joints, bc.prototypes)},
                                {{num_seq + 1}, as_floats32(offsets)},
                                {{joints}, as_floats(bc.skel.parents)}};
    };
    c.outputs = {{num_seq, cap}, {num_seq, cap}, {num_seq}, {total, cap}};
    c.run = [=](const std::vector<Tensor>& in, const std::vector<Tensor>& out) {
      kernels::PoseBankSettings st;
      st.capacity = bc.capacity;
      st.threshold = bc.threshold;
      st.accumulate =
          bc.offered ? kernels::PoseAccumulate::kOffered : kernels::PoseAccumulate::kEntries;
      const ops::PoseBankOutput b =
          ops::pose_bank(in[0], to_i32(in[1]), to_i32(in[2]), bc.center, st, true);
      store_i32(b.frames, out[0]);
      out[1].copy_from(b.as);
      store_i32(b.size, out[2]);
      store_i32(b.history, out[3]);
    };
    c.reference = [=](const std::vector<ref::Vec>& in) {
      const std::vector<float> poses(in[0].begin(), in[0].end());
      const ref::PoseBankRef b =
          ref::pose_bank(poses, offsets, rs, bc.capacity, bc.threshold, bc.offered);
      return std::vector<ref::Vec>{as_vec(b.frames), as_vec(b.as), as_vec(b.size),
                                   as_vec(b.history)};
    };
    c.tol = {0.0, 0.0,
             "exact: the same float similarities in the contract's order decide every "
             "insertion, and AS sums them in slot order"};
    c.bitwise_across_backends = true;
    const kernels::PoseBankArgs args{
        num_seq, total, {joints, nullptr, bc.center}, {bc.capacity, bc.threshold}};
    c.flops = args.flops();
    c.bytes = args.bytes();
    cases.push_back(c);
  }

  // ---- pose_bank_fuse: exact index maps and fused flags ----
  const std::vector<FuseCase> fuses = {
      {0, 0, 0.7f, false, 5, {9, 1}, h36m(), PoseCenter::kCentroid},  // W = 1: never fused
      {1, 1, 0.7f, false, 5, {40, 0, 1, 2}, h36m(), PoseCenter::kCentroid},
      {3, 3, 0.7f, false, 5, {60, 0, 1, 5}, h36m(), PoseCenter::kCentroid},
      {3, 6, 0.3f, false, 12, {80, 7}, h36m(), PoseCenter::kRoot},
      {3, 100, -1e30f, false, 20, {50, 3}, h36m(), PoseCenter::kCentroid},  // clamped to 2r
      {3, 0, -1e30f, false, 20, {30}, h36m(), PoseCenter::kCentroid},       // max_insert 0
      {13, 13, 0.7f, false, 80, {200, 1, 0, 27, 100}, h36m(), PoseCenter::kCentroid},
      {13, 26, 0.5f, false, 256, {150, 60}, chain(32), PoseCenter::kCentroid},
      {40, 40, 0.7f, false, 80, {300, 10}, h36m(), PoseCenter::kCentroid},  // window > sequence
      {3, 3, 0.7f, true, 80, {120, 0, 1, 40}, h36m(), PoseCenter::kCentroid},
      {13, 13, 0.5f, true, 80, {200, 3}, h36m(), PoseCenter::kRoot},
      {3, 6, 0.2f, false, 12, {60, 2, 30}, one_bone(), PoseCenter::kCentroid},  // S ties
      {5, 5, 0.5f, true, 6, {80}, one_bone(), PoseCenter::kCentroid},
      // placements and gates
      {3, 3, 0.3f, false, 12, {80, 7}, h36m(), PoseCenter::kCentroid, {1, 0, 0.7f}},
      {3, 6, 0.3f, false, 12, {80, 7, 1}, h36m(), PoseCenter::kCentroid, {2, 0, 0.7f}},
      {13, 26, 0.5f, false, 256, {150, 60}, chain(32), PoseCenter::kCentroid, {1, 0, 0.7f}},
      {40, 40, 0.3f, false, 80, {300, 10}, h36m(), PoseCenter::kRoot, {1, 2, 0.5f}},
      {13, 13, 0.5f, true, 80, {200, 3}, h36m(), PoseCenter::kCentroid, {0, 1, 0.6f}},
      {13, 13, 0.5f, true, 80, {200, 3}, h36m(), PoseCenter::kCentroid, {2, 2, 0.3f}},
      {3, 6, 0.2f, false, 12, {60, 2, 30}, one_bone(), PoseCenter::kCentroid, {1, 1, 0.9f}},
      {5, 5, 0.5f, true, 6, {80}, one_bone(), PoseCenter::kCentroid, {1, 2, 0.95f}},
      // causal windows (centre slot 2r, every candidate in the past half), each placement
      {1, 1, 0.7f, true, 5, {40, 0, 1, 2}, h36m(), PoseCenter::kCentroid, {0, 0, 0.7f, true}},
      {3, 3, 0.3f, false, 12, {80, 7}, h36m(), PoseCenter::kCentroid, {0, 0, 0.7f, true}},
      {3, 100, -1e30f, false, 20, {50, 3}, h36m(), PoseCenter::kCentroid, {0, 0, 0.7f, true}},
      {13, 13, 0.5f, true, 80, {200, 3}, h36m(), PoseCenter::kRoot, {0, 0, 0.7f, true}},
      {3, 6, 0.3f, false, 12, {80, 7, 1}, h36m(), PoseCenter::kCentroid, {2, 0, 0.7f, true}},
      {13, 26, 0.5f, false, 256, {150, 60}, chain(32), PoseCenter::kCentroid, {1, 0, 0.7f, true}},
      {40, 40, 0.3f, false, 80, {300, 10}, h36m(), PoseCenter::kRoot, {1, 2, 0.5f, true}},
      {13, 13, 0.5f, true, 80, {200, 3}, h36m(), PoseCenter::kCentroid, {0, 1, 0.6f, true}},
      {3, 6, 0.2f, false, 12, {60, 2, 30}, one_bone(), PoseCenter::kCentroid, {1, 1, 0.9f, true}},
  };
  for (const FuseCase& fc : fuses) {
    const int joints = static_cast<int>(fc.skel.parents.size());
    const ref::PoseSkeletonRef rs = ref_skeleton(fc.skel, fc.center);
    const std::vector<int32_t> offsets = offsets_of(fc.lengths);
    const int64_t total = offsets.back(), num_seq = static_cast<int64_t>(fc.lengths.size());
    const int64_t window = 2 * fc.radius + 1, cap = fc.capacity;
    constexpr float kOnlineThreshold = 0.7f;
    OpCase c;
    c.op = "pose_bank_fuse";
    c.params =
        "radius=" + std::to_string(fc.radius) + " max_insert=" + std::to_string(fc.max_insert) +
        " fusion_threshold=" + num(fc.fusion_threshold) +
        " banks=" + (fc.online ? std::string("online history") : std::string("random")) +
        " capacity=" + std::to_string(fc.capacity) + " lengths=" + lengths_str(fc.lengths) +
        " skeleton=" + fc.skel.name + " center=" + center_name(fc.center) +
        (fc.rule.placement == 0 && fc.rule.gate == 0
             ? std::string()
             : std::string(" placement=") + placement_name(fc.rule.placement) + " gate=" +
                   gate_name(fc.rule.gate) + " gate_threshold=" + num(fc.rule.gate_threshold)) +
        (fc.rule.causal ? " causal" : "");
    c.make_inputs = [=](Rng& r) {
      const bool ties = fc.skel.name == one_bone().name;
      std::vector<Input> in{
          {{total, joints, 2}, ties ? make_tie_poses(r, total) : make_poses(r, total, joints, 8)},
          {{num_seq + 1}, as_floats32(offsets)},
          {{joints}, as_floats(fc.skel.parents)}};
      if (!fc.online) {
        // Random banks (one row per sequence): frames of the sequence, -1, and a few out of range.
        std::vector<float> b(static_cast<size_t>(num_seq * cap));
        for (int64_t k = 0; k < num_seq; ++k) {
          std::uniform_int_distribution<int> frame(-2, fc.lengths[static_cast<size_t>(k)]);
          for (int64_t i = 0; i < cap; ++i)
            b[static_cast<size_t>(k * cap + i)] = static_cast<float>(frame(r));
        }
        in.push_back({{num_seq, cap}, b});
      }
      return in;
    };
    c.outputs = {{total, window}, {total}};
    kernels::PoseFuseSettings st;
    st.radius = fc.radius;
    st.fusion_threshold = fc.fusion_threshold;
    st.max_insert = fc.max_insert;
    st.capacity = fc.capacity;
    st.placement = static_cast<kernels::PosePlacement>(fc.rule.placement);
    st.gate = static_cast<kernels::PoseGate>(fc.rule.gate);
    st.gate_threshold = fc.rule.gate_threshold;
    st.causal = fc.rule.causal;
    // bank_row: online, frame g reads history row g; offline, its sequence's row.
    std::vector<int32_t> bank_row(static_cast<size_t>(total));
    for (int64_t k = 0; k < num_seq; ++k)
      for (int32_t g = offsets[static_cast<size_t>(k)]; g < offsets[static_cast<size_t>(k) + 1];
           ++g)
        bank_row[static_cast<size_t>(g)] = fc.online ? g : static_cast<int32_t>(k);
    c.run = [=](const std::vector<Tensor>& in, const std::vector<Tensor>& out) {
      const Tensor offsets_t = to_i32(in[1]), parents_t = to_i32(in[2]);
      Tensor bank_t;
      if (fc.online) {
        kernels::PoseBankSettings bs;
        bs.capacity = fc.capacity;
        bs.threshold = kOnlineThreshold;
        bank_t = ops::pose_bank(in[0], offsets_t, parents_t, fc.center, bs, true).history;
      } else {
        bank_t = to_i32(in[3]);
      }
      const Tensor fused = Tensor::empty({total}, DType::kI32, in[0].device());
      const Tensor map =
          ops::pose_bank_fuse(in[0], offsets_t, parents_t, fc.center, st, bank_t,
                              Tensor::from_vector_i32(bank_row, {total}, in[0].device()), fused);
      store_i32(map, out[0]);
      store_i32(fused, out[1]);
    };
    c.reference = [=](const std::vector<ref::Vec>& in) {
      const std::vector<float> poses(in[0].begin(), in[0].end());
      std::vector<int32_t> bank_v =
          fc.online ? ref::pose_bank(poses, offsets, rs, fc.capacity, kOnlineThreshold).history
                    : as_ints(in[3]);
      const ref::PoseFuseRef f =
          ref::pose_bank_fuse(poses, offsets, rs, fc.radius, fc.fusion_threshold, fc.max_insert,
                              fc.capacity, bank_v, bank_row, fc.rule);
      return std::vector<ref::Vec>{as_vec(f.index_map), as_vec(f.fused)};
    };
    c.tol = {0.0, 0.0, "exact: integer frame indices chosen by float comparisons"};
    c.bitwise_across_backends = true;
    kernels::PoseFuseArgs args;
    args.total = total;
    args.skeleton.joints = joints;
    args.settings.radius = fc.radius;
    args.settings.capacity = fc.capacity;
    c.flops = args.flops();
    c.bytes = args.bytes();
    cases.push_back(c);
  }

  // ---- window_gather: exact copies ----
  struct GatherCase {
    int64_t frames, channels, map_rows, window, n;
    bool poses_layout;  // src (frames, J, 2) with J = channels / 2
  };
  for (const GatherCase& gc : std::vector<GatherCase>{{1, 1, 1, 1, 1, false},
                                                      {50, 34, 20, 7, 33, false},
                                                      {300, 34, 120, 27, 257, true},
                                                      {40, 3, 40, 81, 5, false},
                                                      {10, 34, 10, 3, 0, false}}) {
    OpCase c;
    c.op = "window_gather";
    c.params = "frames=" + std::to_string(gc.frames) + " C=" + std::to_string(gc.channels) +
               " map_rows=" + std::to_string(gc.map_rows) + " W=" + std::to_string(gc.window) +
               " n=" + std::to_string(gc.n) +
               (gc.poses_layout ? std::string(" src=(frames, J, 2)") : std::string(""));
    const Shape src_shape =
        gc.poses_layout ? Shape{gc.frames, gc.channels / 2, 2} : Shape{gc.frames, gc.channels};
    c.make_inputs = [=](Rng& r) {
      // row_base + index_map stays inside src: bases in [0, frames / 2], map in [0, frames / 2).
      const int64_t half = (gc.frames + 1) / 2;
      std::uniform_int_distribution<int64_t> base(0, gc.frames - half), idx(0, half - 1),
          row(0, gc.map_rows - 1);
      std::vector<float> map(static_cast<size_t>(gc.map_rows * gc.window)),
          rows(static_cast<size_t>(gc.n)), bases(static_cast<size_t>(gc.n));
      for (auto& v : map) v = static_cast<float>(idx(r));
      for (auto& v : rows) v = static_cast<float>(row(r));
      for (auto& v : bases) v = static_cast<float>(base(r));
      return std::vector<Input>{{src_shape, random_normal(r, gc.frames * gc.channels)},
                                {{gc.map_rows, gc.window}, map},
                                {{gc.n}, rows},
                                {{gc.n}, bases}};
    };
    c.outputs = {gc.poses_layout ? Shape{gc.n, gc.window, gc.channels / 2, 2}
                                 : Shape{gc.n, gc.window, gc.channels}};
    c.run = [=](const std::vector<Tensor>& in, const std::vector<Tensor>& out) {
      const Tensor g = ops::window_gather(in[0], to_i32(in[1]), to_i32(in[2]), to_i32(in[3]));
      if (g.numel() > 0) out[0].copy_from(g);
    };
    c.reference = [=](const std::vector<ref::Vec>& in) {
      ref::Vec out(static_cast<size_t>(gc.n * gc.window * gc.channels));
      for (int64_t k = 0; k < gc.n; ++k)
        for (int64_t w = 0; w < gc.window; ++w) {
          const int64_t rk = static_cast<int64_t>(in[2][static_cast<size_t>(k)]);
          const int64_t from = static_cast<int64_t>(in[3][static_cast<size_t>(k)]) +
                               static_cast<int64_t>(in[1][static_cast<size_t>(rk * gc.window + w)]);
          for (int64_t ch = 0; ch < gc.channels; ++ch)
            out[static_cast<size_t>((k * gc.window + w) * gc.channels + ch)] =
                in[0][static_cast<size_t>(from * gc.channels + ch)];
        }
      return std::vector<ref::Vec>{out};
    };
    c.tol = {0.0, 0.0, "exact: a copy"};
    c.bitwise_across_backends = true;
    c.bytes = kernels::WindowGatherArgs{gc.n, gc.window, gc.channels}.bytes();
    cases.push_back(c);
  }
}

}  // namespace v3d::harness
