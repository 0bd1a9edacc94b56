// Long-term Pose Bank inference (trainer/ltb.h).
#include "trainer/ltb.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/common.h"
#include "runtime/autograd.h"
#include "runtime/pose_bank.h"
#include "trainer/dilated.h"
#include "trainer/predict.h"

namespace v3d {

static_assert(static_cast<int>(LtbPlacement::kNextToCenter) ==
                  static_cast<int>(kernels::PosePlacement::kNextToCenter) &&
              static_cast<int>(LtbPlacement::kLeastSimilar) ==
                  static_cast<int>(kernels::PosePlacement::kLeastSimilar) &&
              static_cast<int>(LtbPlacement::kOutermost) ==
                  static_cast<int>(kernels::PosePlacement::kOutermost));
static_assert(static_cast<int>(LtbGate::kNone) == static_cast<int>(kernels::PoseGate::kOff) &&
              static_cast<int>(LtbGate::kMean) == static_cast<int>(kernels::PoseGate::kMean) &&
              static_cast<int>(LtbGate::kMin) == static_cast<int>(kernels::PoseGate::kMin));

LtbOptions ltb_options(const LtbConfig& config) {
  LtbOptions o;
  o.capacity = config.capacity;
  o.threshold = static_cast<float>(config.threshold);
  o.fusion_threshold = static_cast<float>(config.fusion_threshold);
  o.max_insert = config.max_insert;
  o.online = config.mode == LtbMode::kOnline;
  o.center = config.center == LtbCenter::kRoot ? kernels::PoseCenter::kRoot
                                               : kernels::PoseCenter::kCentroid;
  o.accumulate = config.accumulate == LtbAccumulate::kOffered ? kernels::PoseAccumulate::kOffered
                                                              : kernels::PoseAccumulate::kEntries;
  // The config's enums list the kernel's values in the same order (trainer/config.h).
  o.placement = static_cast<kernels::PosePlacement>(static_cast<int>(config.placement));
  o.gate = static_cast<kernels::PoseGate>(static_cast<int>(config.gate));
  o.gate_threshold = static_cast<float>(config.gate_threshold);
  return o;
}

// The names are the config's (one table per enum, trainer/config.h).
const char* ltb_accumulate_name(kernels::PoseAccumulate a) {
  return to_string(a == kernels::PoseAccumulate::kOffered ? LtbAccumulate::kOffered
                                                          : LtbAccumulate::kEntries);
}

const char* ltb_placement_name(kernels::PosePlacement p) {
  return to_string(static_cast<LtbPlacement>(static_cast<int>(p)));
}

const char* ltb_gate_name(kernels::PoseGate g) {
  return to_string(static_cast<LtbGate>(static_cast<int>(g)));
}

// The ranges are the config's (validate_config), for options built in code.
void validate_ltb_options(const LtbOptions& o) {
  ExperimentConfig c;
  c.ltb.capacity = o.capacity;
  c.ltb.threshold = o.threshold;
  c.ltb.fusion_threshold = o.fusion_threshold;
  c.ltb.max_insert = o.max_insert;
  c.ltb.gate_threshold = o.gate_threshold;
  validate_config(c);
}

std::vector<int32_t> ltb_parents(const data::Skeleton& keypoints) {
  // The skeleton's parents, or the keypoint layouts' trees (COCO-17, MPII-16).
  std::vector<int> tree;
  try {
    tree = data::keypoint_tree(keypoints);
  } catch (const Error& e) {
    throw Error(std::string("ltb: ") + e.what() + " for the pose similarity");
  }
  return std::vector<int32_t>(tree.begin(), tree.end());
}

LtbPlan plan_ltb(const std::vector<std::span<const float>>& sequences, int joints,
                 const std::vector<int32_t>& parents, int64_t radius, const LtbOptions& options,
                 Device device, bool with_history) {
  validate_ltb_options(options);
  V3D_CHECK(
      joints >= 1 && joints <= kernels::kPoseBankMaxJoints,
      "ltb: " << joints << " keypoints; the bank supports 1 to " << kernels::kPoseBankMaxJoints);
  V3D_CHECK(static_cast<int>(parents.size()) == joints,
            "ltb: " << parents.size() << " parents for " << joints << " keypoints");
  V3D_CHECK(radius >= 0, "ltb: negative window radius " << radius);
  LtbPlan plan;
  plan.radius = radius;
  plan.window = 2 * radius + 1;
  plan.causal = options.causal;
  plan.capacity = options.capacity;
  const int64_t pose = static_cast<int64_t>(joints) * 2;
  int64_t total = 0;
  plan.offsets.push_back(0);
  for (const auto& s : sequences) {
    V3D_CHECK(static_cast<int64_t>(s.size()) % pose == 0,
              "ltb: a sequence of " << s.size() << " values is not (frames, " << joints << ", 2)");
    total += static_cast<int64_t>(s.size()) / pose;
    V3D_CHECK(total < std::numeric_limits<int32_t>::max(),
              "ltb: more than 2^31 frames in one batch");
    plan.offsets.push_back(static_cast<int32_t>(total));
  }
  const int64_t num_seq = static_cast<int64_t>(sequences.size());
  if (num_seq == 0) return plan;

  std::vector<float> packed(static_cast<size_t>(total * pose));
  for (size_t k = 0; k < sequences.size(); ++k) {
    const std::span<const float>& s = sequences[k];
    for (size_t i = 0; i < s.size(); ++i) {
      V3D_CHECK(!std::isfinite(s[i]) || std::fabs(s[i]) <= kLtbMaxCoordinate,
                "ltb: sequence " << k << ", frame " << static_cast<int64_t>(i) / pose
                                 << ", keypoint " << (static_cast<int64_t>(i) % pose) / 2
                                 << ": coordinate " << s[i]
                                 << " (expected a magnitude <= " << kLtbMaxCoordinate
                                 << ", beyond which the bank's similarity overflows)");
    }
    std::copy(s.begin(), s.end(), packed.begin() + static_cast<int64_t>(plan.offsets[k]) * pose);
  }
  const Tensor poses = Tensor::from_vector(packed, {total, joints, 2}, device);
  const Tensor offsets = Tensor::from_vector_i32(plan.offsets, {num_seq + 1}, device);
  const Tensor par = Tensor::from_vector_i32(parents, {joints}, device);

  const kernels::PoseBankSettings bs = ltb_bank_settings(options);
  const bool history = with_history || options.online;
  const ops::PoseBankOutput bank = ops::pose_bank(poses, offsets, par, options.center, bs, history);

  const kernels::PoseFuseSettings fs = ltb_fuse_settings(options, radius);
  // Offline: frame g fuses with its sequence's final bank (row k); online: with the bank after
  // frame g (history row g).
  std::vector<int32_t> rows(static_cast<size_t>(total));
  for (int64_t k = 0; k < num_seq; ++k)
    for (int32_t g = plan.offsets[static_cast<size_t>(k)];
         g < plan.offsets[static_cast<size_t>(k) + 1]; ++g)
      rows[static_cast<size_t>(g)] = options.online ? g : static_cast<int32_t>(k);
  const Tensor bank_row = Tensor::from_vector_i32(rows, {total}, device);
  const Tensor fused = Tensor::zeros({total}, DType::kI32, device);
  const Tensor map =
      ops::pose_bank_fuse(poses, offsets, par, options.center, fs,
                          options.online ? bank.history : bank.frames, bank_row, fused);
  plan.index_map = map.to_vector_i32();
  plan.fused = fused.to_vector_i32();
  plan.bank_frames = bank.frames.to_vector_i32();
  plan.bank_as = bank.as.to_vector();
  plan.bank_size = bank.size.to_vector_i32();
  if (with_history) plan.history = bank.history.to_vector_i32();
  for (int32_t f : plan.fused) plan.fused_frames += f != 0;
  return plan;
}

kernels::PoseBankSettings ltb_bank_settings(const LtbOptions& options) {
  kernels::PoseBankSettings bs;
  bs.capacity = options.capacity;
  bs.threshold = options.threshold;
  bs.accumulate = options.accumulate;
  return bs;
}

kernels::PoseFuseSettings ltb_fuse_settings(const LtbOptions& options, int64_t radius) {
  kernels::PoseFuseSettings fs;
  fs.radius = static_cast<int>(radius);
  fs.fusion_threshold = options.fusion_threshold;
  fs.max_insert = options.max_insert < 0 ? static_cast<int>(radius) : options.max_insert;
  fs.capacity = options.capacity;
  fs.placement = options.placement;
  fs.gate = options.gate;
  fs.gate_threshold = options.gate_threshold;
  fs.causal = options.causal;
  return fs;
}

void add_stats(LtbStats& a, const LtbStats& b) {
  a.frames += b.frames;
  a.fused_frames += b.fused_frames;
  a.bank_entries += b.bank_entries;
  a.sequences += b.sequences;
  a.blocks_computed += b.blocks_computed;
  a.blocks_reused += b.blocks_reused;
  a.plain_blocks += b.plain_blocks;
}

namespace {

void check_batching(const LtbBatching& batching) {
  V3D_CHECK(batching.frames >= 1 && batching.nodes >= 1 && batching.rows >= 1,
            "ltb: batches of " << batching.frames << " windows and " << batching.nodes
                               << " nodes, groups of " << batching.rows << " rows");
}

// The tree of the strided form over one window of W = RF slots: block i has W / rf_i nodes, node u
// covering slots [u * rf_i, (u + 1) * rf_i). `reuse_row` finds, for the window's slot contents
// (local frames, clamped), the row q0 of the dilated pass's block-i output that computed exactly
// these inputs: the edge-padded sequence rows q0 .. q0 + rf_i - 1 (row q holds frame
// clamp(q - left), left = r, or 2r for a causal model); -1 when none does (the node sees an
// inserted pose or a broken run).
int64_t reuse_row(const int32_t* slots, int64_t rf_i, int64_t left, int64_t frames, int64_t rows) {
  auto holds = [&](int64_t q0) {
    if (q0 < 0 || q0 >= rows) return false;
    for (int64_t k = 0; k < rf_i; ++k) {
      const int64_t f = std::clamp<int64_t>(q0 + k - left, 0, frames - 1);
      if (f != slots[k]) return false;
    }
    return true;
  };
  // An interior frame fixes q0; otherwise try the runs that end or start at the edges.
  for (int64_t k = 0; k < rf_i; ++k)
    if (slots[k] > 0 && slots[k] < frames - 1)
      return holds(slots[k] + left - k) ? slots[k] + left - k : -1;
  for (const int64_t q0 : {int64_t{slots[0]} + left, int64_t{slots[rf_i - 1]} + left - (rf_i - 1)})
    if (holds(q0)) return q0;
  return -1;
}

// One batch of windows: for every block i and node e = j * nodes_i + u of frame j,
// reuse[i][e] is the node's row among the group's dilated block-i outputs (-1: not reused) and
// index[i][e] its place among the batch's computed nodes of block i (-1: not computed); todo[i]
// lists the computed nodes in order.
struct TreeBatch {
  int64_t first = 0, n = 0;  // the group's tree frames [first, first + n)
  std::vector<std::vector<int64_t>> reuse, index, todo;
};

}  // namespace

std::vector<EvalGroup> ltb_groups(const LtbPlan& plan, const LtbBatching& batching) {
  check_batching(batching);
  std::vector<int64_t> frames;
  for (size_t k = 0; k + 1 < plan.offsets.size(); ++k)
    frames.push_back(plan.offsets[k + 1] - plan.offsets[k]);
  return eval_groups(frames, plan.radius, batching.rows);
}

LtbGroupSchedule schedule_ltb_group(const LtbPlan& plan, const EvalGroup& eg,
                                    const std::vector<int64_t>& fw, int64_t copies,
                                    const LtbBatching& batching) {
  check_batching(batching);
  V3D_CHECK(copies == 1 || copies == 2, "ltb: " << copies << " copies (1, or 2 with flip TTA)");
  V3D_CHECK(!fw.empty(), "ltb: a model without blocks");
  const size_t layers = fw.size();
  std::vector<int64_t> rf_of(layers), nodes_of(layers);  // rf_i and W / rf_i
  for (size_t i = 0; i < layers; ++i) {
    rf_of[i] = (i == 0 ? 1 : rf_of[i - 1]) * fw[i];
    nodes_of[i] = plan.window / rf_of[i];
  }
  const int64_t r = plan.radius, window = plan.window;
  V3D_CHECK(window == 2 * r + 1 && rf_of.back() == window, "ltb: the plan's window radius "
                                                               << r << " is not the model's "
                                                               << (rf_of.back() - 1) / 2);
  const size_t num_seq = plan.offsets.empty() ? 0 : plan.offsets.size() - 1;
  const size_t g0 = eg.first, group = eg.last - eg.first;
  V3D_CHECK(
      eg.first < eg.last && eg.last <= num_seq && eg.start.size() == group,
      "ltb: group of sequences [" << eg.first << ", " << eg.last << ") of a plan of " << num_seq);
  const int64_t total = plan.offsets.back();
  V3D_CHECK(static_cast<int64_t>(plan.index_map.size()) == total * window &&
                static_cast<int64_t>(plan.fused.size()) == total &&
                plan.bank_size.size() == num_seq,
            "ltb: the plan's index map, fused flags or bank sizes do not cover its sequences");
  // Blocks whose dilated outputs a window can reuse: all but the last (its node is the window's
  // root).
  auto reusable = [&](size_t i) { return i + 1 < layers; };

  LtbGroupSchedule s;
  s.group = eg;
  // The frames the tree evaluates (sequence, local frame, fused or not) and where each
  // sequence's rows start in the group's 2D rows (frame_base, unpadded) and its dilated block
  // outputs (row_base, the pass's rows). When the group has fused frames, the last block of
  // every frame is evaluated here, batched with the fused windows: the dilated pass stops
  // before the last block. A single-block model has no block to stop before: its fused frames
  // come here.
  std::vector<int64_t> row_base(group, 0);
  s.frame_base.assign(group + 1, 0);
  int64_t group_fused = 0;
  for (size_t q = 0; q < group; ++q) {
    const int64_t base = plan.offsets[g0 + q], frames = plan.offsets[g0 + q + 1] - base;
    for (int64_t t = 0; t < frames; ++t)
      group_fused += plan.fused[static_cast<size_t>(base + t)] != 0;
    s.frame_base[q + 1] = s.frame_base[q] + frames;
    row_base[q] = eg.start[q];
    s.stats.sequences += 1;
    s.stats.frames += frames;
    s.stats.bank_entries += plan.bank_size[g0 + q];
  }
  s.stats.fused_frames = group_fused;
  s.split = layers >= 2 && group_fused > 0;
  std::vector<char> tree_fused;
  for (size_t q = 0; q < group && group_fused > 0; ++q) {
    const int64_t base = plan.offsets[g0 + q], frames = plan.offsets[g0 + q + 1] - base;
    for (int64_t t = 0; t < frames; ++t) {
      const char fused = plan.fused[static_cast<size_t>(base + t)] != 0;
      if (!fused && !s.split) continue;
      s.tree_seq.push_back(static_cast<int32_t>(q));
      s.tree_frame.push_back(static_cast<int32_t>(t));
      tree_fused.push_back(fused);
    }
  }
  const int64_t num_tree = static_cast<int64_t>(s.tree_frame.size());
  if (num_tree == 0) return s;
  // The slots of tree frame f's window (local frames of its sequence; the plain window when
  // the frame is not fused).
  auto slots_of = [&](int64_t f) {
    return plan.index_map.data() +
           (plan.offsets[g0 + static_cast<size_t>(s.tree_seq[static_cast<size_t>(f)])] +
            s.tree_frame[static_cast<size_t>(f)]) *
               window;
  };
  auto frames_of = [&](size_t q) { return s.frame_base[q + 1] - s.frame_base[q]; };
  // Rows of block i's dilated output for a sequence of `frames` (edge-padded by r on both sides).
  auto dilated_rows = [&](size_t i, int64_t frames) { return frames + 2 * r - (rf_of[i] - 1); };

  // Which nodes each batch reuses and computes. A window's nodes do not depend on the other
  // windows.
  auto plan_batch = [&](int64_t first, int64_t n, bool count) {
    TreeBatch tb;
    tb.first = first;
    tb.n = n;
    tb.reuse.resize(layers);
    tb.index.resize(layers);
    tb.todo.resize(layers);
    std::vector<std::vector<char>> need(layers);
    for (size_t i = 0; i < layers; ++i) {
      const int64_t nodes = nodes_of[i];
      need[i].assign(static_cast<size_t>(n * nodes), 0);
      tb.reuse[i].assign(static_cast<size_t>(n * nodes), -1);
      if (!reusable(i)) continue;
      for (int64_t j = 0; j < n; ++j) {
        const size_t q = static_cast<size_t>(s.tree_seq[static_cast<size_t>(first + j)]);
        const int64_t frames = frames_of(q);
        const int32_t* slots = slots_of(first + j);
        for (int64_t u = 0; u < nodes; ++u) {
          const int64_t rr = reuse_row(slots + u * rf_of[i], rf_of[i], plan.causal ? 2 * r : r,
                                       frames, dilated_rows(i, frames));
          tb.reuse[i][static_cast<size_t>(j * nodes + u)] = rr < 0 ? -1 : row_base[q] + rr;
        }
      }
    }
    // A node is needed when a computed parent reads it; every root is computed.
    for (int64_t j = 0; j < n; ++j) need[layers - 1][static_cast<size_t>(j)] = 1;
    for (size_t i = layers; i-- > 0;) {
      const int64_t nodes = nodes_of[i];
      tb.index[i].assign(static_cast<size_t>(n * nodes), -1);
      for (int64_t e = 0; e < n * nodes; ++e) {
        if (!need[i][static_cast<size_t>(e)] || tb.reuse[i][static_cast<size_t>(e)] >= 0) continue;
        tb.index[i][static_cast<size_t>(e)] = static_cast<int64_t>(tb.todo[i].size());
        tb.todo[i].push_back(e);
        if (i == 0) continue;
        const int64_t j = e / nodes, u = e % nodes;
        for (int64_t ch = 0; ch < fw[i]; ++ch)
          need[i - 1][static_cast<size_t>(j * nodes_of[i - 1] + u * fw[i] + ch)] = 1;
      }
      if (!count) continue;
      for (int64_t e = 0; e < n * nodes; ++e) {
        if (!need[i][static_cast<size_t>(e)]) continue;
        const bool reused = tb.reuse[i][static_cast<size_t>(e)] >= 0;
        if (tree_fused[static_cast<size_t>(first + e / nodes)] != 0) {
          (reused ? s.stats.blocks_reused : s.stats.blocks_computed) += 1;
        } else if (!reused) {
          s.stats.plain_blocks += 1;
        }
      }
    }
    return tb;
  };
  // Batches of at most batching.frames windows and batching.nodes computed nodes (at least one
  // window each).
  std::vector<TreeBatch> batches;
  std::vector<int64_t> max_todo(layers, 0);
  int64_t window_nodes = 0;  // the most nodes one window can compute
  for (size_t i = 0; i < layers; ++i) window_nodes += nodes_of[i];
  const bool frames_bound = batching.frames <= batching.nodes / window_nodes;
  for (int64_t first = 0; first < num_tree;) {
    int64_t n = frames_bound ? std::min(batching.frames, num_tree - first) : 0, nodes = 0;
    while (!frames_bound && first + n < num_tree && n < batching.frames) {
      int64_t k = 0;
      for (const auto& todo : plan_batch(first + n, 1, false).todo)
        k += static_cast<int64_t>(todo.size());
      if (n > 0 && nodes + k > batching.nodes) break;
      nodes += k;
      ++n;
    }
    batches.push_back(plan_batch(first, n, true));
    for (size_t i = 0; i < layers; ++i)
      max_todo[i] = std::max(max_todo[i], static_cast<int64_t>(batches.back().todo[i].size()));
    first += n;
  }

  // The buffers' layout and every gather map.
  for (size_t i = 0; i + 1 < layers; ++i) {
    s.block_rows.push_back(eg.rows - rf_of[i] + 1);
    s.room.push_back(max_todo[i]);
  }
  s.maps.resize(layers);
  for (const TreeBatch& tb : batches) {
    LtbBatch lb;
    lb.first = tb.first;
    lb.n = tb.n;
    lb.gathers.assign(layers, std::vector<LtbGather>(static_cast<size_t>(copies)));
    for (size_t i = 0; i < layers; ++i) {
      const int64_t m = static_cast<int64_t>(tb.todo[i].size());
      s.max_nodes = std::max(s.max_nodes, m);
      std::vector<int32_t>& map = s.maps[i];
      for (int64_t cp = 0; cp < copies; ++cp) {
        LtbGather& g = lb.gathers[i][static_cast<size_t>(cp)];
        g.nodes = m;
        if (i == 0 && cp > 0) {  // the same 2D rows of the copy's own tensor
          g.row = lb.gathers[0][0].row;
          continue;
        }
        g.row = static_cast<int64_t>(map.size()) / fw[i];
        if (i == 0) {
          // Block 0 reads 2D rows: a (nodes, filter_widths[0]) map of the group's frames.
          for (const int64_t e : tb.todo[0]) {
            const int64_t j = e / nodes_of[0], u = e % nodes_of[0];
            const int64_t fb =
                s.frame_base[static_cast<size_t>(s.tree_seq[static_cast<size_t>(tb.first + j)])];
            const int32_t* slots = slots_of(tb.first + j) + u * rf_of[0];
            for (int64_t w = 0; w < fw[0]; ++w) map.push_back(static_cast<int32_t>(fb + slots[w]));
          }
          continue;
        }
        // Each child's row: the dilated pass's, or this batch's computed one.
        const int64_t dil = cp * s.block_rows[i - 1];
        const int64_t comp = copies * s.block_rows[i - 1] + cp * s.room[i - 1];
        const int64_t nodes = nodes_of[i], child_nodes = nodes_of[i - 1];
        for (const int64_t e : tb.todo[i]) {
          const int64_t j = e / nodes, u = e % nodes;
          for (int64_t ch = 0; ch < fw[i]; ++ch) {
            const size_t child = static_cast<size_t>(j * child_nodes + u * fw[i] + ch);
            const int64_t rr = tb.reuse[i - 1][child];
            map.push_back(static_cast<int32_t>(rr >= 0 ? dil + rr : comp + tb.index[i - 1][child]));
          }
        }
      }
    }
    s.batches.push_back(std::move(lb));
  }
  return s;
}

namespace {

// The group's 2D rows as block 0's gathers read them: (frames, J_in * 2) on `dev`, sequence q's
// frame t at frame_base[q] + t; under flip TTA the mirrored rows second.
std::vector<Tensor> group_rows(const std::vector<const data::Sequence*>& sequences,
                               const LtbGroupSchedule& s, const data::Skeleton& keypoints,
                               bool flip_tta, Device dev) {
  std::vector<float> rows, flip_rows;
  for (size_t k = s.group.first; k < s.group.last; ++k) {
    const data::Sequence& seq = *sequences[k];
    rows.insert(rows.end(), seq.poses_2d.begin(), seq.poses_2d.end());
    if (flip_tta) {
      std::vector<float> flipped = seq.poses_2d;
      data::flip_poses(flipped, seq.frames, keypoints, 2);
      flip_rows.insert(flip_rows.end(), flipped.begin(), flipped.end());
    }
  }
  const int64_t frames = s.frame_base.back(), row = keypoints.num_joints() * 2;
  std::vector<Tensor> out(flip_tta ? 2 : 1);
  out[0] = Tensor::from_vector(rows, {frames, row}, dev);
  if (flip_tta) out[1] = Tensor::from_vector(flip_rows, {frames, row}, dev);
  return out;
}

// The schedule's batches on the device: each block's computed nodes gathered (from the 2D rows
// `src` for block 0, else from block i - 1's buffer in `buf`) and evaluated, the last block's
// written out for the head, the others into their buffer's room; the roots' poses into preds
// (the group's sequences), un-flipped and averaged under TTA as predict_sequence does.
void run_batches(const DilatedBlocks& net, const LtbGroupSchedule& s,
                 const std::vector<Tensor>& src, const std::vector<Tensor>& buf, int64_t copies,
                 const std::vector<int>& perm, int64_t out_row,
                 std::vector<std::vector<float>>& preds) {
  const size_t layers = net.size();
  const int64_t c = net.channels();
  const Device dev = src.front().device();
  // Everything the batches read goes up once, before the first: the gather maps and the
  // gather's row lists (rows[k] = k, row_base 0: node k's inputs at map row k).
  std::vector<Tensor> maps(layers);
  for (size_t i = 0; i < layers; ++i) {
    const int64_t w = net.width(i), m = static_cast<int64_t>(s.maps[i].size()) / w;
    if (m > 0) maps[i] = Tensor::from_vector_i32(s.maps[i], {m, w}, dev);
  }
  std::vector<int32_t> iota(static_cast<size_t>(s.max_nodes));
  for (size_t q = 0; q < iota.size(); ++q) iota[q] = static_cast<int32_t>(q);
  const Tensor gather_rows = Tensor::from_vector_i32(iota, {s.max_nodes}, dev);
  const Tensor gather_base = Tensor::zeros({s.max_nodes}, DType::kI32, dev);

  std::vector<Tensor> last_out(static_cast<size_t>(copies));
  for (const LtbBatch& lb : s.batches) {
    for (size_t i = 0; i < layers; ++i) {
      for (int64_t cp = 0; cp < copies; ++cp) {
        const LtbGather& g = lb.gathers[i][static_cast<size_t>(cp)];
        if (g.nodes == 0) continue;
        const Tensor& from = i == 0 ? src[static_cast<size_t>(cp)] : buf[i - 1];
        const Tensor inputs =
            ops::window_gather(from, maps[i].narrow(g.row, g.nodes), gather_rows.narrow(0, g.nodes),
                               gather_base.narrow(0, g.nodes));
        const Tensor y = net.window(i, inputs);
        if (i + 1 < layers) {
          buf[i].narrow(copies * s.block_rows[i] + cp * s.room[i], g.nodes).copy_from(y);
        } else {
          last_out[static_cast<size_t>(cp)] = y.view({g.nodes, c});
        }
      }
    }
    // The roots through the head.
    std::vector<std::vector<float>> y(static_cast<size_t>(copies));
    for (int64_t cp = 0; cp < copies; ++cp)
      y[static_cast<size_t>(cp)] =
          net.head(last_out[static_cast<size_t>(cp)].view({lb.n, 1, c})).to_vector();
    for (int64_t j = 0; j < lb.n; ++j) {
      const size_t f = static_cast<size_t>(lb.first + j);
      float* dst = preds[static_cast<size_t>(s.tree_seq[f])].data() + s.tree_frame[f] * out_row;
      const float* a = y[0].data() + j * out_row;
      if (copies == 2) {
        average_flipped(a, y[1].data() + j * out_row, 1, perm, dst);
      } else {
        std::copy(a, a + out_row, dst);
      }
    }
  }
}

}  // namespace

std::vector<std::vector<float>> predict_with_ltb(
    TemporalModel& model, const std::vector<const data::Sequence*>& sequences, const LtbPlan& plan,
    const data::Skeleton& keypoints, const data::Skeleton& joints, bool flip_tta, LtbStats* stats,
    std::vector<std::vector<float>>* plain_out, const TemporalModel::FoldedWeights* folded_in,
    const LtbBatching& batching, const FramesDone& on_frames) {
  const TemporalModelConfig& mc = model.config();
  V3D_CHECK(plan.causal == mc.causal,
            "ltb: a plan of " << (plan.causal ? "causal" : "centred") << " windows for a "
                              << (mc.causal ? "causal" : "centred") << " model");
  const int64_t rf = model.receptive_field(), r = (rf - 1) / 2;
  V3D_CHECK(plan.radius == r,
            "ltb: the plan's window radius " << plan.radius << " is not the model's " << r);
  V3D_CHECK(plan.offsets.size() == sequences.size() + 1,
            "ltb: " << sequences.size() << " sequences and a plan of " << plan.offsets.size() - 1);
  check_batching(batching);
  const int64_t row = keypoints.num_joints() * 2, out_row = joints.num_joints() * 3;
  const int64_t c = mc.channels, copies = flip_tta ? 2 : 1;
  const std::vector<int> perm = joints.flip_permutation();
  const Device dev = model.device();
  for (size_t k = 0; k < sequences.size(); ++k)
    V3D_CHECK(sequences[k]->frames == plan.offsets[k + 1] - plan.offsets[k] &&
                  static_cast<int64_t>(sequences[k]->poses_2d.size()) == sequences[k]->frames * row,
              "ltb: sequence " << k << " does not match the plan");

  std::vector<std::vector<float>> result;
  result.reserve(sequences.size());
  if (plain_out != nullptr) plain_out->clear();
  NoGradGuard no_grad;
  TemporalModel::FoldedWeights own;  // folded once for every sequence unless given
  if (folded_in == nullptr) own = model.fold_weights();
  const TemporalModel::FoldedWeights& folded = folded_in != nullptr ? *folded_in : own;
  const DilatedBlocks net(folded);
  const size_t layers = net.size();

  for (const EvalGroup& eg : ltb_groups(plan, batching)) {
    const LtbGroupSchedule s = schedule_ltb_group(plan, eg, mc.filter_widths, copies, batching);
    const size_t g0 = eg.first, group = eg.last - eg.first;
    if (stats != nullptr) add_stats(*stats, s.stats);

    // The group's dilated pass: whole (plain predictions) unless split, else up to the last
    // block, each block's output kept in the first rows of its buffer (the room after them
    // takes the batches' computed nodes).
    std::vector<std::vector<float>> preds(group);
    const Tensor x = group_input(model, sequences, eg, keypoints, joints, flip_tta);
    std::vector<Tensor> buf;
    if (s.split) {
      Tensor h = x;
      for (size_t i = 0; i + 1 < layers; ++i) {
        const int64_t t_i = s.block_rows[i];
        buf.push_back(Tensor::empty({copies * (t_i + s.room[i]), c}, DType::kF32, dev));
        h = net.block(i, h, buf.back().narrow(0, copies * t_i).view({copies, t_i, c}));
      }
      if (plain_out != nullptr) {
        const std::vector<float> y = net.head(net.block(layers - 1, h)).to_vector();
        for (size_t q = 0; q < group; ++q)
          plain_out->push_back(group_prediction(y, copies, eg, g0 + q, sequences[g0 + q]->frames,
                                                joints, flip_tta, rf));
      }
      for (size_t q = 0; q < group; ++q)  // all from the tree
        preds[q].assign(static_cast<size_t>(sequences[g0 + q]->frames * out_row), 0.0f);
    } else {
      const std::vector<float> y = model.forward_eval(x, &folded).to_vector();
      for (size_t q = 0; q < group; ++q) {
        preds[q] = group_prediction(y, copies, eg, g0 + q, sequences[g0 + q]->frames, joints,
                                    flip_tta, rf);
        if (plain_out != nullptr) plain_out->push_back(preds[q]);
      }
    }

    if (!s.batches.empty())
      run_batches(net, s, group_rows(sequences, s, keypoints, flip_tta, dev), buf, copies, perm,
                  out_row, preds);
    int64_t frames = 0;
    for (size_t q = 0; q < group; ++q) frames += sequences[g0 + q]->frames;
    for (auto& p : preds) result.push_back(std::move(p));
    if (on_frames) on_frames(frames);
  }
  return result;
}

}  // namespace v3d
