// CUDA backend of kernels/pose_bank.h.
//
//   pose_similarity_kernel  one thread per (n, m) pair, grid-stride.
//   pose_bank_kernel        ONE BLOCK PER SEQUENCE: the block offers the sequence's frames in
//   order;
//                           thread i owns slot i (blockDim = capacity rounded up to a warp). The
//                           slots (source frame, centre, denominator, AS) live in shared memory,
//                           the entries' poses are read from `poses` through their source frames,
//                           and the pairwise matrix P (capacity x capacity) of the sequence lives
//                           in the global workspace, so thousands of sequences run in one launch.
//   pose_bank_fuse_kernel   one warp per frame: lane l holds the bank slots l, l + 32, ... (at most
//                           8), the candidates are ranked by repeated warp arg-max reductions.
//   window_gather_kernel    one thread per output float, grid-stride.
//
// Index checks (kernels/pose_bank.h): a kernel that finds a parent, an offset, a bank row or a
// gather index out of range raises a device error (kernels/cuda/device_error.cuh) and skips what
// the index would have reached: an empty bank, an unwritten map row, a zero gathered float.
//
// Every float of the similarity is computed with __fadd_rn / __fmul_rn / __fdiv_rn / __fsqrt_rn in
// the contract's order: no FMA contraction, so the CPU backend, the emulated copy and nvcc's copy
// compute the same bits and make the same bank decisions.
#include "kernels/cuda/device_error.cuh"
#include "kernels/gpu/check.h"
#include "kernels/gpu/compat.h"
#include "kernels/gpu/kind.h"
#include "kernels/pose_bank.h"

namespace v3d::kernels::V3D_GPU_NS {
namespace {

constexpr int kWarp = 32;
constexpr int kSimilarityThreads = 256;
constexpr int kFuseThreads = 128;  // 4 warps: 4 frames per block
constexpr int kGatherThreads = 256;
constexpr int kSlotsPerLane = kPoseBankMaxCapacity / kWarp;  // fusion: slots per lane
constexpr float kMinDenominator = 1e-6f;
constexpr float kFloatMax = 3.40282347e+38f;
constexpr int kNoSlot = 0x7fffffff;

static_assert(kPoseBankMaxCapacity % kWarp == 0, "fusion: whole warps of slots");

// The skeleton as the kernels take it: 1/J is rounded from double on the host.
struct SkeletonArgs {
  int joints;
  const int32_t* parents;  // (joints), device memory
  int root_center;         // 1: c(P) = joint 0, 0: the centroid
  float inv_joints;
  int32_t* error;  // the device error record, or null
  OpId op;         // the op the kernel serves, for its errors
};

SkeletonArgs skeleton_args(const PoseSkeleton& sk, int32_t* error, OpId op) {
  return {sk.joints,
          sk.parents,
          sk.center == PoseCenter::kRoot ? 1 : 0,
          static_cast<float>(1.0 / static_cast<double>(sk.joints)),
          error,
          op};
}

// parents[j] is -1 or another joint; anything else is no bone (and an error inverse_bones raised).
__device__ inline bool is_parent(int q, int j, int joints) {
  return q >= 0 && q < joints && q != j;
}

struct PoseInfo {
  bool valid;
  float cx, cy;
  float denom;  // max(J * L(P), 1e-6); only for reference poses
};

__device__ inline float neg_inf() { return __int_as_float(static_cast<int>(0xff800000u)); }

// 1 / (number of bones), rounded from double as on the CPU; 0 without bones (L = 0).
__device__ float inverse_bones(const SkeletonArgs& s) {
  int bones = 0;
  for (int j = 0; j < s.joints; ++j) {
    const int q = s.parents[j];
    if (q != -1 && !is_parent(q, j, s.joints))
      raise_device_error(s.error, s.op, static_cast<int>(PoseBankCheck::kParent), j, s.joints, 0,
                         q);
    bones += is_parent(q, j, s.joints) ? 1 : 0;
  }
  return bones > 0 ? static_cast<float>(1.0 / static_cast<double>(bones)) : 0.0f;
}

// p: (J, 2).
__device__ PoseInfo pose_info(const float* p, const SkeletonArgs& s, float inv_bones,
                              bool with_denom) {
  PoseInfo info{false, 0.0f, 0.0f, 0.0f};
  for (int j = 0; j < s.joints * 2; ++j)
    if (!(fabsf(p[j]) <= kFloatMax)) return info;
  info.valid = true;
  if (s.root_center) {
    info.cx = p[0];
    info.cy = p[1];
  } else {
    float sx = 0.0f, sy = 0.0f;
    for (int j = 0; j < s.joints; ++j) {
      sx = __fadd_rn(sx, p[j * 2 + 0]);
      sy = __fadd_rn(sy, p[j * 2 + 1]);
    }
    info.cx = __fmul_rn(sx, s.inv_joints);
    info.cy = __fmul_rn(sy, s.inv_joints);
  }
  if (with_denom) {
    float bone_sum = 0.0f;
    for (int j = 0; j < s.joints; ++j) {
      const int q = s.parents[j];
      if (!is_parent(q, j, s.joints)) continue;
      const float bx = __fsub_rn(p[j * 2 + 0], p[q * 2 + 0]);
      const float by = __fsub_rn(p[j * 2 + 1], p[q * 2 + 1]);
      bone_sum = __fadd_rn(bone_sum, __fsqrt_rn(__fadd_rn(__fmul_rn(bx, bx), __fmul_rn(by, by))));
    }
    const float mean_bone = __fmul_rn(bone_sum, inv_bones);
    const float denom = __fmul_rn(static_cast<float>(s.joints), mean_bone);
    info.denom = denom < kMinDenominator ? kMinDenominator : denom;
  }
  return info;
}

// S(A, B); b_info must carry the denominator.
__device__ float similarity(const float* a, const PoseInfo& a_info, const float* b,
                            const PoseInfo& b_info, int joints) {
  if (!a_info.valid || !b_info.valid) return neg_inf();
  float sum = 0.0f;
  for (int j = 0; j < joints; ++j) {
    const float dx =
        __fadd_rn(__fsub_rn(a[j * 2 + 0], a_info.cx), __fsub_rn(b_info.cx, b[j * 2 + 0]));
    const float dy =
        __fadd_rn(__fsub_rn(a[j * 2 + 1], a_info.cy), __fsub_rn(b_info.cy, b[j * 2 + 1]));
    sum = __fadd_rn(sum, __fsqrt_rn(__fadd_rn(__fmul_rn(dx, dx), __fmul_rn(dy, dy))));
  }
  return __fsub_rn(1.0f, __fdiv_rn(sum, b_info.denom));
}

// a: (n, J, 2), b: (m, J, 2) -> s: (n, m)
__global__ void pose_similarity_kernel(const float* __restrict__ a, int64_t n,
                                       const float* __restrict__ b, int64_t m, SkeletonArgs sk,
                                       float* __restrict__ s) {
  const float inv_bones = inverse_bones(sk);
  const int64_t stride = static_cast<int64_t>(sk.joints) * 2;
  const int64_t pairs = n * m;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; p < pairs;
       p += step) {
    const int64_t i = p / m, k = p - i * m;
    const float* ap = a + i * stride;
    const float* bp = b + k * stride;
    s[p] = similarity(ap, pose_info(ap, sk, inv_bones, false), bp,
                      pose_info(bp, sk, inv_bones, true), sk.joints);
  }
}

// poses: (total, J, 2); offsets: (num_seq + 1); block k maintains sequence k's bank.
// bank_frames, bank_as: (num_seq, capacity); bank_size: (num_seq); history: (total, capacity) or
// null; pair: (num_seq, capacity, capacity) workspace.
__global__ void pose_bank_kernel(const float* __restrict__ poses,
                                 const int32_t* __restrict__ offsets, int64_t num_seq,
                                 int64_t total, SkeletonArgs sk, int capacity, float threshold,
                                 int offered, int32_t* __restrict__ bank_frames,
                                 float* __restrict__ bank_as, int32_t* __restrict__ bank_size,
                                 int32_t* __restrict__ history, float* __restrict__ pair_all) {
  // Slot i: source frame, centre, denominator, AS, and S(x, entry_i) of the frame being offered.
  GPU_SHARED(int32_t, slot_frame, [kPoseBankMaxCapacity]);
  GPU_SHARED(float, slot_cx, [kPoseBankMaxCapacity]);
  GPU_SHARED(float, slot_cy, [kPoseBankMaxCapacity]);
  GPU_SHARED(float, slot_denom, [kPoseBankMaxCapacity]);
  GPU_SHARED(float, slot_as, [kPoseBankMaxCapacity]);
  GPU_SHARED(float, cand, [kPoseBankMaxCapacity]);
  // The frame being offered, and the bank's size and chosen slot.
  GPU_SHARED(float, x_cx);
  GPU_SHARED(float, x_cy);
  GPU_SHARED(float, x_denom);
  GPU_SHARED(int, x_valid);
  GPU_SHARED(int, rejected);
  GPU_SHARED(int, size);
  GPU_SHARED(int, chosen);

  const int tid = threadIdx.x;
  const int64_t k = blockIdx.x;
  const int64_t begin = offsets[k];
  int32_t n = offsets[k + 1] - offsets[k];
  // Every thread reads the same offsets, so a bad sequence (left with an empty bank) is uniform.
  if (k == 0 && begin != 0) {
    if (tid == 0)
      raise_device_error(sk.error, sk.op, static_cast<int>(PoseBankCheck::kOffsetsStart), 0, 0, 0,
                         begin);
    n = 0;
  }
  if (n < 0) {
    if (tid == 0)
      raise_device_error(sk.error, sk.op, static_cast<int>(PoseBankCheck::kOffsetsOrder), k + 1,
                         begin, 0, offsets[k + 1]);
    n = 0;
  }
  if (k == num_seq - 1 && offsets[k + 1] != total) {
    if (tid == 0)
      raise_device_error(sk.error, sk.op, static_cast<int>(PoseBankCheck::kOffsetsEnd), 0, total, 0,
                         offsets[k + 1]);
    n = 0;
  }
  // Still out of [0, total) only when another block's offsets are wrong: that block reports.
  if (begin < 0 || begin + n > total) n = 0;
  const int64_t stride = static_cast<int64_t>(sk.joints) * 2;
  const float* seq = poses + begin * stride;  // (n, J, 2)
  float* pair = pair_all + k * capacity * capacity;
  const float inv_bones = inverse_bones(sk);

  // Static shared memory is not cleared between blocks.
  for (int i = tid; i < capacity; i += blockDim.x) {
    slot_frame[i] = -1;
    slot_as[i] = 0.0f;
  }
  if (tid == 0) size = 0;
  __syncthreads();

  for (int32_t f = 0; f < n; ++f) {
    const float* x = seq + f * stride;
    if (tid == 0) {
      const PoseInfo xi = pose_info(x, sk, inv_bones, true);
      x_valid = xi.valid ? 1 : 0;
      x_cx = xi.cx;
      x_cy = xi.cy;
      x_denom = xi.denom;
      rejected = 0;
    }
    __syncthreads();
    const PoseInfo xi{x_valid != 0, x_cx, x_cy, x_denom};
    const int old_size = size;
    // cand[i] = S(x, entry_i); any >= T rejects x.
    if (xi.valid) {
      for (int i = tid; i < old_size; i += blockDim.x) {
        const PoseInfo ei{true, slot_cx[i], slot_cy[i], slot_denom[i]};
        const float s = similarity(x, xi, seq + slot_frame[i] * stride, ei, sk.joints);
        cand[i] = s;
        // Atomic: several threads may reject x at once, and plain stores of one flag by several
        // threads are a data race even when they store the same value.
        if (s >= threshold) atomicOr(&rejected, 1);
      }
    }
    __syncthreads();
    // AS over offered frames: a rejected x adds its similarities to every entry.
    if (offered && xi.valid && rejected != 0)
      for (int i = tid; i < old_size; i += blockDim.x) slot_as[i] = __fadd_rn(slot_as[i], cand[i]);
    if (xi.valid && rejected == 0) {  // uniform over the block
      if (tid == 0) {
        int slot = old_size;
        if (old_size < capacity) {
          size = old_size + 1;
        } else {
          slot = 0;  // the largest AS, ties: the smallest source frame
          for (int i = 1; i < capacity; ++i)
            if (slot_as[i] > slot_as[slot] ||
                (slot_as[i] == slot_as[slot] && slot_frame[i] < slot_frame[slot]))
              slot = i;
        }
        chosen = slot;
        slot_frame[slot] = f;
        slot_cx[slot] = xi.cx;
        slot_cy[slot] = xi.cy;
        slot_denom[slot] = xi.denom;
      }
      __syncthreads();
      const int slot = chosen, new_size = size;
      if (offered) {
        // The entries x did not replace add S(x, entry_i); x's slot starts from 0.
        for (int i = tid; i < new_size; i += blockDim.x)
          slot_as[i] = i == slot ? 0.0f : __fadd_rn(slot_as[i], cand[i]);
      } else {
        // Row and column of the new entry: P[slot][j] = S(x, entry_j), P[j][slot] = S(entry_j, x).
        for (int j = tid; j < new_size; j += blockDim.x) {
          if (j == slot) continue;
          pair[slot * capacity + j] = cand[j];
          const PoseInfo ej{true, slot_cx[j], slot_cy[j], 0.0f};
          pair[j * capacity + slot] =
              similarity(seq + slot_frame[j] * stride, ej, x, xi, sk.joints);
        }
        __syncthreads();
        // AS_i: the other occupied slots in slot order.
        for (int i = tid; i < new_size; i += blockDim.x) {
          float acc = 0.0f;
          for (int j = 0; j < new_size; ++j)
            if (j != i) acc = __fadd_rn(acc, pair[i * capacity + j]);
          slot_as[i] = acc;
        }
      }
    }
    if (history != nullptr)
      for (int i = tid; i < capacity; i += blockDim.x)
        history[(begin + f) * capacity + i] = slot_frame[i];
    // The next frame's thread 0 overwrites x_* and `rejected`, and reads slot_as.
    __syncthreads();
  }
  for (int i = tid; i < capacity; i += blockDim.x) {
    bank_frames[k * capacity + i] = slot_frame[i];
    bank_as[k * capacity + i] = slot_as[i];
  }
  if (tid == 0) bank_size[k] = size;
}

// The fusion order: S descending, then the smaller source frame, then the smaller slot.
__device__ inline bool ranks_before(float s, int32_t frame, int slot, float s2, int32_t frame2,
                                    int slot2) {
  if (s != s2) return s > s2;
  if (frame != frame2) return frame < frame2;
  return slot < slot2;
}

struct FuseArgs {
  int radius;
  float fusion_threshold;
  int max_insert;  // clamped to [0, 2r]
  int capacity;
  int placement;  // PosePlacement
  int gate;       // PoseGate
  float gate_threshold;
  int causal;  // causal windows: centre slot 2r, every candidate in the past half
};

// A map slot chosen for a candidate while the row holds the local similarities' float bits
// (+inf: a similarity is at most 1, and NaN ones are stored as -inf). Once the plain frames are
// written it stays distinct from them: a frame index reaches 0x7f800000 only in a sequence of over
// 2.1e9 frames, 290 GB of H36M-17 poses, more than a device holds.
constexpr int32_t kChosenBits = 0x7f800000;

// The least-similar order of one half's slots: the smaller l_w, then the outer slot.
__device__ inline bool less_similar(float l, int dist, float l2, int dist2) {
  if (l != l2) return l < l2;
  return dist > dist2;
}

// poses: (total, J, 2); banks: (rows, capacity); bank_row: (total) -> index_map: (total, 2r + 1),
// fused: (total) or null. One warp per frame.
__global__ void pose_bank_fuse_kernel(const float* __restrict__ poses,
                                      const int32_t* __restrict__ offsets, int64_t num_seq,
                                      int64_t total, int64_t bank_rows, SkeletonArgs sk,
                                      FuseArgs st, const int32_t* __restrict__ banks,
                                      const int32_t* __restrict__ bank_row,
                                      int32_t* __restrict__ index_map,
                                      int32_t* __restrict__ fused) {
  const float inv_bones = inverse_bones(sk);
  const int lane = threadIdx.x % kWarp;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * blockDim.x / kWarp;
  const int64_t stride = static_cast<int64_t>(sk.joints) * 2;
  const int r = st.radius, window = 2 * r + 1;
  // The centre slot c and the window's local frames t - c .. t + right (kernels/pose_bank.h).
  const int c = st.causal ? 2 * r : r, right = window - 1 - c;
  // Whole warps iterate together: every lane of a warp sees the same g.
  for (int64_t g = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp; g < total;
       g += warps) {
    // With offsets[0] = 0 and offsets[num_seq] = total the search keeps offsets[lo] <= g <
    // offsets[hi] even over unordered offsets; the sequence found must still lie in [0, total).
    const int32_t first = offsets[0], last = offsets[num_seq];
    if (first != 0 || last != total) {
      if (lane == 0)
        raise_device_error(sk.error, sk.op,
                           static_cast<int>(first != 0 ? PoseBankCheck::kOffsetsStart
                                                       : PoseBankCheck::kOffsetsEnd),
                           0, total, 0, first != 0 ? first : last);
      continue;  // uniform over the warp: every lane has the same g
    }
    // The sequence k of g: the last k with offsets[k] <= g (binary search over num_seq + 1).
    int64_t lo = 0, hi = num_seq;  // offsets[lo] <= g < offsets[hi]
    while (hi - lo > 1) {
      const int64_t mid = (lo + hi) / 2;
      if (offsets[mid] <= g)
        lo = mid;
      else
        hi = mid;
    }
    const int64_t begin = offsets[lo];
    const int32_t n = offsets[lo + 1] - offsets[lo];
    if (n < 0 || begin < 0 || begin + n > total) {
      if (lane == 0)
        raise_device_error(sk.error, sk.op, static_cast<int>(PoseBankCheck::kOffsetsOrder), lo + 1,
                           begin, 0, offsets[lo + 1]);
      continue;
    }
    const int32_t brow = bank_row[g];
    if (brow < 0 || brow >= bank_rows) {
      if (lane == 0)
        raise_device_error(sk.error, sk.op, static_cast<int>(PoseBankCheck::kBankRow), g, bank_rows,
                           0, brow);
      continue;
    }
    const int32_t t = static_cast<int32_t>(g - begin);
    const float* x = poses + g * stride;
    const PoseInfo xi = pose_info(x, sk, inv_bones, true);
    const int32_t* row = banks + static_cast<int64_t>(brow) * st.capacity;

    // Lane slots i = lane + 32 q; frame -1: not a candidate.
    float val[kSlotsPerLane];
    int32_t frame[kSlotsPerLane];
    int count = 0;
    for (int q = 0; q < kSlotsPerLane; ++q) {
      const int i = lane + kWarp * q;
      val[q] = neg_inf();
      frame[q] = -1;
      if (xi.valid && st.max_insert > 0 && i < st.capacity) {
        const int32_t src = row[i];
        if (src >= 0 && src < n && (src < t - c || src > t + right)) {
          const float* e = poses + (begin + src) * stride;
          const PoseInfo ei = pose_info(e, sk, inv_bones, false);
          if (ei.valid) {
            const float s = similarity(e, ei, x, xi, sk.joints);
            if (s >= st.fusion_threshold) {
              val[q] = s;
              frame[q] = src;
            }
          }
        }
      }
      count += __popc(__ballot_sync(0xffffffffu, frame[q] >= 0));
    }
    int inserted = count < st.max_insert ? count : st.max_insert;
    int32_t* out = index_map + g * window;
    const auto clamp_local = [n](int64_t i) {
      return static_cast<int32_t>(i < 0 ? 0 : (i > n - 1 ? n - 1 : i));
    };
    // The local similarities l_w (gate, least-similar placement): each lane keeps those of its
    // own slots w = lane + 32 q as float bits in the map row, which it alone writes until the row
    // is final, so no lane reads another's memory.
    const bool least_similar = st.placement == static_cast<int>(PosePlacement::kLeastSimilar);
    if (inserted > 0 && (st.gate != static_cast<int>(PoseGate::kOff) || least_similar)) {
      for (int w = lane; w < window; w += kWarp) {
        if (w == c) continue;
        const float* l = poses + (begin + clamp_local(static_cast<int64_t>(t) - c + w)) * stride;
        float v = similarity(l, pose_info(l, sk, inv_bones, false), x, xi, sk.joints);
        if (v != v) v = neg_inf();
        out[w] = __float_as_int(v);
      }
      if (st.gate != static_cast<int>(PoseGate::kOff)) {
        float gv;
        if (st.gate == static_cast<int>(PoseGate::kMin)) {
          gv = -neg_inf();
          for (int w = lane; w < window; w += kWarp)
            if (w != c) gv = fminf(gv, __int_as_float(out[w]));
          for (int offset = kWarp / 2; offset > 0; offset >>= 1)
            gv = fminf(gv, __shfl_xor_sync(0xffffffffu, gv, offset));
        } else {
          // The sum in slot order, every lane adding the broadcast values.
          gv = 0.0f;
          for (int base = 0; base < window; base += kWarp) {
            const int own = base + lane;
            const float mine = own < window && own != c ? __int_as_float(out[own]) : 0.0f;
            for (int l = 0; l < kWarp; ++l) {
              const float v = __shfl_sync(0xffffffffu, mine, l);
              if (base + l < window && base + l != c) gv = __fadd_rn(gv, v);
            }
          }
          gv = __fdiv_rn(gv, static_cast<float>(2 * r));
        }
        if (!(gv < st.gate_threshold)) inserted = 0;  // a coherent window: no fusion
      }
    }
    // Causal windows have no future half: every rank goes left.
    const int nl = st.causal ? inserted : (inserted + 1) / 2, nr = st.causal ? 0 : inserted / 2;
    if (st.placement != static_cast<int>(PosePlacement::kNextToCenter)) {
      if (least_similar) {
        // Each half's take slots of least l_w, marked kChosenBits by their owners.
        for (int side = 0; side < 2; ++side) {
          const int take = side == 0 ? nl : nr;
          for (int pick = 0; pick < take; ++pick) {
            float best_l = -neg_inf();
            int best_dist = -1;
            for (int w = lane; w < window; w += kWarp) {
              const int dist = side == 0 ? c - w : w - c;
              if (dist <= 0 || out[w] == kChosenBits) continue;
              const float l = __int_as_float(out[w]);
              if (best_dist < 0 || less_similar(l, dist, best_l, best_dist)) {
                best_l = l;
                best_dist = dist;
              }
            }
            for (int offset = kWarp / 2; offset > 0; offset >>= 1) {
              const float ol = __shfl_xor_sync(0xffffffffu, best_l, offset);
              const int od = __shfl_xor_sync(0xffffffffu, best_dist, offset);
              if (od >= 0 && (best_dist < 0 || less_similar(ol, od, best_l, best_dist))) {
                best_l = ol;
                best_dist = od;
              }
            }
            const int w = side == 0 ? c - best_dist : c + best_dist;
            if (lane == w % kWarp) out[w] = kChosenBits;
          }
        }
      }
      // The plain window where no candidate goes.
      for (int w = lane; w < window; w += kWarp) {
        // (Without candidates the row holds nothing of ours yet: every slot is plain.)
        const bool taken = w != c && inserted > 0 &&
                           (least_similar ? out[w] == kChosenBits : (w < nl || w >= window - nr));
        if (!taken) out[w] = clamp_local(static_cast<int64_t>(t) - c + w);
      }
    }
    // The local frames: shifted outward by the insertions on their side, clamped to the sequence.
    for (int w = lane; w < window && st.placement == static_cast<int>(PosePlacement::kNextToCenter);
         w += kWarp) {
      int64_t local;
      if (w < c - nl)
        local = static_cast<int64_t>(t) - (c - nl) + w;
      else if (w == c)
        local = t;
      else if (w > c + nr)
        local = static_cast<int64_t>(t) + (w - c - nr);
      else
        continue;
      out[w] = clamp_local(local);
    }
    // Least-similar placement: the innermost chosen slot not yet given a candidate, per half.
    int cursor_l = c, cursor_r = c;
    // Rank by rank: the warp's best remaining candidate, placed left (even rank) or right (odd).
    for (int rank = 0; rank < inserted; ++rank) {
      float best_s = neg_inf();
      int32_t best_frame = kNoSlot;
      int best_slot = kNoSlot;
      for (int q = 0; q < kSlotsPerLane; ++q)
        if (frame[q] >= 0 &&
            ranks_before(val[q], frame[q], lane + kWarp * q, best_s, best_frame, best_slot)) {
          best_s = val[q];
          best_frame = frame[q];
          best_slot = lane + kWarp * q;
        }
      for (int offset = kWarp / 2; offset > 0; offset >>= 1) {
        const float os = __shfl_xor_sync(0xffffffffu, best_s, offset);
        const int32_t of = __shfl_xor_sync(0xffffffffu, best_frame, offset);
        const int oslot = __shfl_xor_sync(0xffffffffu, best_slot, offset);
        if (ranks_before(os, of, oslot, best_s, best_frame, best_slot)) {
          best_s = os;
          best_frame = of;
          best_slot = oslot;
        }
      }
      // Every lane now holds the winner; its owner drops it from its list.
      for (int q = 0; q < kSlotsPerLane; ++q)
        if (lane + kWarp * q == best_slot) frame[q] = -1;
      const int side = st.causal ? 0 : rank % 2, q = st.causal ? rank : rank / 2;
      int pos;
      if (st.placement == static_cast<int>(PosePlacement::kOutermost)) {
        pos = side == 0 ? nl - 1 - q : window - nr + q;
      } else if (least_similar) {
        // Walk outward to the next chosen slot; its owner lane knows, the warp asks it.
        int& cursor = side == 0 ? cursor_l : cursor_r;
        for (;;) {
          cursor += side == 0 ? -1 : 1;
          const int own = cursor / kWarp * kWarp + lane;
          const int mine = own < window && own != c && out[own] == kChosenBits ? 1 : 0;
          if (__shfl_sync(0xffffffffu, mine, cursor % kWarp) != 0) break;
        }
        pos = cursor;
      } else {
        pos = side == 0 ? c - 1 - q : c + 1 + q;
      }
      // The slot's owner lane writes it (it alone wrote the row's slot before).
      if (lane == pos % kWarp) out[pos] = best_frame;
    }
    if (fused != nullptr && lane == 0) fused[g] = inserted > 0 ? 1 : 0;
  }
}

// src: (total, channels); index_map: (total, window); rows, row_base: (n) -> out: (n, window,
// channels).
__global__ void window_gather_kernel(const float* __restrict__ src, int64_t channels,
                                     const int32_t* __restrict__ index_map, int window,
                                     const int32_t* __restrict__ rows,
                                     const int32_t* __restrict__ row_base, int64_t n,
                                     int64_t src_frames, int64_t map_rows, float* __restrict__ out,
                                     int32_t* error) {
  const int64_t count = n * window * channels;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < count;
       e += step) {
    const int64_t c = e % channels;
    const int64_t kw = e / channels;  // k * window + w
    const int64_t k = kw / window, w = kw - k * window;
    const int32_t row = rows[k];
    if (row < 0 || row >= map_rows) {
      if (c == 0 && w == 0)
        raise_device_error(error, OpId::window_gather, static_cast<int>(PoseBankCheck::kGatherRow),
                           k, map_rows, 0, row);
      out[e] = 0.0f;
      continue;
    }
    const int32_t* map = index_map + static_cast<int64_t>(row) * window;
    const int64_t from = row_base[k] + map[w];
    if (from < 0 || from >= src_frames) {
      // The row's first bad tap reports (as the CPU does), whichever thread runs first.
      bool first = c == 0;
      for (int64_t v = 0; first && v < w; ++v) {
        const int64_t earlier = row_base[k] + map[v];
        first = earlier >= 0 && earlier < src_frames;
      }
      if (first)
        raise_device_error(error, OpId::window_gather,
                           static_cast<int>(PoseBankCheck::kGatherFrame), k, w, row, from);
      out[e] = 0.0f;
      continue;
    }
    out[e] = src[from * channels + c];
  }
}

}  // namespace
}  // namespace v3d::kernels::V3D_GPU_NS

namespace v3d::kernels::launch {
namespace impl = ::v3d::kernels::V3D_GPU_NS;

template <>
void pose_similarity<V3D_GPU_KIND>(const PoseSimilarityArgs& args, const float* a, const float* b,
                                   float* s, int32_t* error, StreamHandle stream_handle) {
  args.validate("pose_similarity");
  if (args.n == 0 || args.m == 0) return;
  auto stream = static_cast<gpu::Stream>(stream_handle);
  GPU_LAUNCH(impl::pose_similarity_kernel, grid_for(args.n * args.m, impl::kSimilarityThreads),
             impl::kSimilarityThreads, 0, stream, a, args.n, b, args.m,
             impl::skeleton_args(args.skeleton, error, OpId::pose_similarity), s);
  V3D_LAUNCH_CHECK("pose_similarity", stream);
}

template <>
void pose_bank<V3D_GPU_KIND>(const PoseBankArgs& args, const float* poses, const int32_t* offsets,
                             int32_t* bank_frames, float* bank_as, int32_t* bank_size,
                             int32_t* history, int32_t* error, float* workspace,
                             StreamHandle stream_handle) {
  args.validate("pose_bank");
  if (args.num_seq == 0) return;
  V3D_CHECK(workspace != nullptr, "pose_bank: the CUDA bank needs a workspace of "
                                      << args.workspace_floats() << " floats");
  auto stream = static_cast<gpu::Stream>(stream_handle);
  const int capacity = args.settings.capacity;
  // Thread i owns slot i.
  const int threads = (capacity + impl::kWarp - 1) / impl::kWarp * impl::kWarp;
  GPU_LAUNCH(impl::pose_bank_kernel, static_cast<unsigned>(args.num_seq), threads, 0, stream, poses,
             offsets, args.num_seq, args.total,
             impl::skeleton_args(args.skeleton, error, OpId::pose_bank), capacity,
             args.settings.threshold, args.settings.accumulate == PoseAccumulate::kOffered ? 1 : 0,
             bank_frames, bank_as, bank_size, history, workspace);
  V3D_LAUNCH_CHECK("pose_bank", stream);
}

template <>
void pose_bank_fuse<V3D_GPU_KIND>(const PoseFuseArgs& args, const float* poses,
                                  const int32_t* offsets, const int32_t* banks,
                                  const int32_t* bank_row, int32_t* index_map, int32_t* fused,
                                  int32_t* error, StreamHandle stream_handle) {
  args.validate("pose_bank_fuse");
  auto stream = static_cast<gpu::Stream>(stream_handle);
  if (args.num_seq == 0 || args.total == 0) return;
  const PoseFuseSettings& st = args.settings;
  impl::FuseArgs fuse{
      st.radius,
      st.fusion_threshold,
      st.max_insert < 0 ? 0 : (st.max_insert > 2 * st.radius ? 2 * st.radius : st.max_insert),
      st.capacity,
      static_cast<int>(st.placement),
      static_cast<int>(st.gate),
      st.gate_threshold,
      st.causal ? 1 : 0};
  constexpr int kFramesPerBlock = impl::kFuseThreads / impl::kWarp;
  GPU_LAUNCH(impl::pose_bank_fuse_kernel, grid_for(args.total, kFramesPerBlock), impl::kFuseThreads,
             0, stream, poses, offsets, args.num_seq, args.total, args.bank_rows,
             impl::skeleton_args(args.skeleton, error, OpId::pose_bank_fuse), fuse, banks, bank_row,
             index_map, fused);
  V3D_LAUNCH_CHECK("pose_bank_fuse", stream);
}

template <>
void window_gather<V3D_GPU_KIND>(const WindowGatherArgs& args, const float* src,
                                 const int32_t* index_map, const int32_t* rows,
                                 const int32_t* row_base, float* out, int32_t* error,
                                 StreamHandle stream_handle) {
  args.validate("window_gather");
  const int64_t count = args.n * args.window * args.channels;
  if (count == 0) return;
  auto stream = static_cast<gpu::Stream>(stream_handle);
  GPU_LAUNCH(impl::window_gather_kernel, grid_for(count, impl::kGatherThreads),
             impl::kGatherThreads, 0, stream, src, args.channels, index_map,
             static_cast<int>(args.window), rows, row_base, args.n, args.src_frames, args.map_rows,
             out, error);
  V3D_LAUNCH_CHECK("window_gather", stream);
}

}  // namespace v3d::kernels::launch
