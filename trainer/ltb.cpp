// Long-term Pose Bank inference (trainer/ltb.h).
#include "trainer/ltb.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/common.h"
#include "runtime/autograd.h"
#include "runtime/pose_bank.h"
#include "trainer/evaluate.h"

namespace v3d {

LtbOptions ltb_options(const LtbConfig& config) {
  LtbOptions o;
  o.capacity = config.capacity;
  o.threshold = static_cast<float>(config.threshold);
  o.fusion_threshold = static_cast<float>(config.fusion_threshold);
  o.max_insert = config.max_insert;
  o.online = config.mode == LtbMode::kOnline;
  o.center = config.center == LtbCenter::kRoot ? kernels::PoseCenter::kRoot
                                               : kernels::PoseCenter::kCentroid;
  return o;
}

// The ranges are the config's (validate_config), for options built in code.
void validate_ltb_options(const LtbOptions& o) {
  ExperimentConfig c;
  c.ltb.capacity = o.capacity;
  c.ltb.threshold = o.threshold;
  c.ltb.fusion_threshold = o.fusion_threshold;
  c.ltb.max_insert = o.max_insert;
  validate_config(c);
}

std::vector<int32_t> ltb_parents(const data::Skeleton& keypoints) {
  if (!keypoints.parents.empty())
    return std::vector<int32_t>(keypoints.parents.begin(), keypoints.parents.end());
  if (keypoints.name == "coco17") {
    // COCO-17 keypoints have no tree; the similarity's bones follow the usual limb drawing, rooted
    // at the nose: eyes from the nose, ears from the eyes, shoulders from the nose, arms from the
    // shoulders, hips from the shoulders, legs from the hips (16 bones, as H36M-17).
    return {-1, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14};
  }
  throw Error("ltb: the keypoint layout " + keypoints.name +
              " has no bone tree for the pose similarity");
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
  for (size_t k = 0; k < sequences.size(); ++k)
    std::copy(sequences[k].begin(), sequences[k].end(),
              packed.begin() + static_cast<int64_t>(plan.offsets[k]) * pose);
  const Tensor poses = Tensor::from_vector(packed, {total, joints, 2}, device);
  const Tensor offsets = Tensor::from_vector_i32(plan.offsets, {num_seq + 1}, device);
  const Tensor par = Tensor::from_vector_i32(parents, {joints}, device);

  kernels::PoseBankSettings bs;
  bs.capacity = options.capacity;
  bs.threshold = options.threshold;
  const bool history = with_history || options.online;
  const ops::PoseBankOutput bank = ops::pose_bank(poses, offsets, par, options.center, bs, history);

  kernels::PoseFuseSettings fs;
  fs.radius = static_cast<int>(radius);
  fs.fusion_threshold = options.fusion_threshold;
  fs.max_insert = options.max_insert < 0 ? static_cast<int>(radius) : options.max_insert;
  fs.capacity = options.capacity;
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

namespace {

// The tree of the strided form over one window of W = RF slots: block i has W / rf_i nodes, node u
// covering slots [u * rf_i, (u + 1) * rf_i). `reuse_row` finds, for the window's slot contents
// (local frames, clamped), the row q0 of the dilated pass's block-i output that computed exactly
// these inputs: the edge-padded sequence rows q0 .. q0 + rf_i - 1 (row q holds frame
// clamp(q - r)); -1 when none does (the node sees an inserted pose or a broken run).
int64_t reuse_row(const int32_t* slots, int64_t rf_i, int64_t r, int64_t frames, int64_t rows) {
  auto holds = [&](int64_t q0) {
    if (q0 < 0 || q0 >= rows) return false;
    for (int64_t k = 0; k < rf_i; ++k) {
      const int64_t f = std::clamp<int64_t>(q0 + k - r, 0, frames - 1);
      if (f != slots[k]) return false;
    }
    return true;
  };
  // An interior frame fixes q0; otherwise try the runs that end or start at the edges.
  for (int64_t k = 0; k < rf_i; ++k)
    if (slots[k] > 0 && slots[k] < frames - 1)
      return holds(slots[k] + r - k) ? slots[k] + r - k : -1;
  for (const int64_t q0 : {int64_t{slots[0]} + r, int64_t{slots[rf_i - 1]} + r - (rf_i - 1)})
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

std::vector<std::vector<float>> predict_with_ltb(
    TemporalModel& model, const std::vector<const data::Sequence*>& sequences, const LtbPlan& plan,
    const data::Skeleton& keypoints, const data::Skeleton& joints, bool flip_tta, LtbStats* stats,
    std::vector<std::vector<float>>* plain_out, const TemporalModel::FoldedWeights* folded_in,
    const LtbBatching& batching) {
  const TemporalModelConfig& mc = model.config();
  V3D_CHECK(!mc.causal, "ltb: the long-term bank fuses centred windows; the model is causal");
  const int64_t rf = model.receptive_field(), r = (rf - 1) / 2;
  V3D_CHECK(plan.radius == r,
            "ltb: the plan's window radius " << plan.radius << " is not the model's " << r);
  V3D_CHECK(plan.offsets.size() == sequences.size() + 1,
            "ltb: " << sequences.size() << " sequences and a plan of " << plan.offsets.size() - 1);
  const int64_t jin = keypoints.num_joints(), jo = joints.num_joints();
  const int64_t row = jin * 2, out_row = jo * 3, window = plan.window, c = mc.channels;
  const auto& fw = mc.filter_widths;
  const size_t layers = fw.size();
  std::vector<int64_t> rf_of(layers), nodes_of(layers);  // rf_i and W / rf_i
  for (size_t i = 0; i < layers; ++i) {
    rf_of[i] = (i == 0 ? 1 : rf_of[i - 1]) * fw[i];
    nodes_of[i] = window / rf_of[i];
  }
  // Blocks whose dilated outputs a window can reuse: all but the last (its node is the window's
  // root).
  auto reusable = [&](size_t i) { return i + 1 < layers; };
  V3D_CHECK(batching.frames >= 1 && batching.nodes >= 1 && batching.rows >= 1,
            "ltb: batches of " << batching.frames << " windows and " << batching.nodes
                               << " nodes, groups of " << batching.rows << " rows");
  const int64_t copies = flip_tta ? 2 : 1;
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
  // Rows of block i's dilated output for a sequence of `frames` (edge-padded by r on both sides).
  auto dilated_rows = [&](size_t i, int64_t frames) { return frames + 2 * r - (rf_of[i] - 1); };

  for (const EvalGroup& eg : eval_groups(sequences, r, batching.rows)) {
    // The group's sequences [g0, g0 + group) go through one dilated pass (predict_sequences).
    const size_t g0 = eg.first, group = eg.last - eg.first;
    // The frames the tree evaluates (sequence, local frame, fused or not) and where each
    // sequence's rows start in the group's 2D rows (frame_base, unpadded) and its dilated block
    // outputs (row_base, the pass's rows). When the group has fused frames, the last block of
    // every frame is evaluated here, batched with the fused windows: the dilated pass stops
    // before the last block (for the plain predictions, when asked, it is finished from the kept
    // outputs). A single-block model has no block to stop before: its fused frames come here.
    std::vector<int64_t> seq_fused(group, 0), frame_base(group + 1, 0), row_base(group, 0);
    int64_t group_fused = 0;
    for (size_t q = 0; q < group; ++q) {
      const int64_t frames = sequences[g0 + q]->frames, base = plan.offsets[g0 + q];
      for (int64_t t = 0; t < frames; ++t)
        seq_fused[q] += plan.fused[static_cast<size_t>(base + t)] != 0;
      group_fused += seq_fused[q];
      frame_base[q + 1] = frame_base[q] + frames;
      row_base[q] = eg.start[q];
    }
    const bool batched_roots = layers >= 2 && group_fused > 0;
    std::vector<int32_t> tree_seq, tree_t;
    std::vector<char> tree_fused;
    for (size_t q = 0; q < group && group_fused > 0; ++q) {
      const int64_t frames = sequences[g0 + q]->frames, base = plan.offsets[g0 + q];
      for (int64_t t = 0; t < frames; ++t) {
        const char fused = plan.fused[static_cast<size_t>(base + t)] != 0;
        if (!fused && !batched_roots) continue;
        tree_seq.push_back(static_cast<int32_t>(q));
        tree_t.push_back(static_cast<int32_t>(t));
        tree_fused.push_back(fused);
      }
    }
    const int64_t num_tree = static_cast<int64_t>(tree_t.size());
    // The slots of tree frame f's window (local frames of its sequence; the plain window when
    // the frame is not fused).
    auto slots_of = [&](int64_t f) {
      return plan.index_map.data() +
             (plan.offsets[g0 + static_cast<size_t>(tree_seq[static_cast<size_t>(f)])] +
              tree_t[static_cast<size_t>(f)]) *
                 window;
    };

    // Which nodes each batch reuses and computes (index work only, before any block runs, so the
    // buffers below are sized once). A window's nodes do not depend on the other windows.
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
          const size_t q = static_cast<size_t>(tree_seq[static_cast<size_t>(first + j)]);
          const int64_t frames = sequences[g0 + q]->frames;
          const int32_t* slots = slots_of(first + j);
          for (int64_t u = 0; u < nodes; ++u) {
            const int64_t rr =
                reuse_row(slots + u * rf_of[i], rf_of[i], r, frames, dilated_rows(i, frames));
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
          if (!need[i][static_cast<size_t>(e)] || tb.reuse[i][static_cast<size_t>(e)] >= 0)
            continue;
          tb.index[i][static_cast<size_t>(e)] = static_cast<int64_t>(tb.todo[i].size());
          tb.todo[i].push_back(e);
          if (i == 0) continue;
          const int64_t j = e / nodes, u = e % nodes;
          for (int64_t ch = 0; ch < fw[i]; ++ch)
            need[i - 1][static_cast<size_t>(j * nodes_of[i - 1] + u * fw[i] + ch)] = 1;
        }
        if (!count || stats == nullptr) continue;
        for (int64_t e = 0; e < n * nodes; ++e) {
          if (!need[i][static_cast<size_t>(e)]) continue;
          const bool reused = tb.reuse[i][static_cast<size_t>(e)] >= 0;
          if (tree_fused[static_cast<size_t>(first + e / nodes)] != 0) {
            (reused ? stats->blocks_reused : stats->blocks_computed) += 1;
          } else if (!reused) {
            stats->plain_blocks += 1;
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

    // The group's dilated pass: whole (plain predictions) without fused frames, else up to the
    // last block, keeping the block outputs.
    std::vector<std::vector<float>> preds(group);
    const Tensor x = group_input(model, sequences, eg, keypoints, joints, flip_tta);
    // Block outputs stay on the device. A reusable block i's outputs are the first
    // copies * T_i rows of buf[i] (copy cp's row q at cp * T_i + q), followed by room for one
    // batch's computed nodes of each copy (copy cp's from copies * T_i + cp * max_todo[i]); the
    // last block's computed nodes are last_out[cp]. Children are gathered from these
    // (window_gather).
    std::vector<Tensor> blocks, buf;
    std::vector<int64_t> rows_of(layers, 0);
    if (batched_roots) {
      std::vector<int64_t> room(layers - 1);
      for (size_t i = 0; i + 1 < layers; ++i) room[i] = copies * max_todo[i];
      model.forward_blocks(x, layers - 1, blocks, &folded, room, &buf);
      for (size_t i = 0; i + 1 < layers; ++i) {
        rows_of[i] = blocks[i].size(1);
        V3D_CHECK(blocks[i].size(0) == copies && rows_of[i] == eg.rows - rf_of[i] + 1,
                  "ltb: block " << i << " output " << blocks[i].str() << ", expected "
                                << eg.rows - rf_of[i] + 1 << " rows");
      }
      if (plain_out != nullptr) {
        const std::vector<float> y =
            model.finish_eval(blocks.back(), layers - 1, &folded).to_vector();
        for (size_t q = 0; q < group; ++q)
          plain_out->push_back(group_prediction(y, copies, eg, g0 + q, sequences[g0 + q]->frames,
                                                joints, flip_tta, rf));
      }
      for (size_t q = 0; q < group; ++q)  // all from the tree
        preds[q].assign(static_cast<size_t>(sequences[g0 + q]->frames * out_row), 0.0f);
    } else {
      // (No block to reuse: plain inference, then, for a one-block model, its fused windows.)
      const std::vector<float> y = model.forward_eval(x, nullptr, &folded).to_vector();
      for (size_t q = 0; q < group; ++q) {
        preds[q] = group_prediction(y, copies, eg, g0 + q, sequences[g0 + q]->frames, joints,
                                    flip_tta, rf);
        if (plain_out != nullptr) plain_out->push_back(preds[q]);
      }
    }
    for (size_t q = 0; q < group && stats != nullptr; ++q) {
      stats->sequences += 1;
      stats->frames += sequences[g0 + q]->frames;
      stats->fused_frames += seq_fused[q];
      stats->bank_entries += plan.bank_size[g0 + q];
    }

    blocks.clear();  // buf holds them
    auto dilated_base = [&](size_t i, int64_t cp) { return cp * rows_of[i]; };
    auto computed_base = [&](size_t i, int64_t cp) {
      return reusable(i) ? copies * rows_of[i] + cp * max_todo[i] : int64_t{0};
    };
    std::vector<Tensor> last_out(static_cast<size_t>(copies));
    auto nodes_tensor = [&](size_t i, int64_t cp) -> const Tensor& {
      return reusable(i) ? buf[i] : last_out[static_cast<size_t>(cp)];
    };
    std::vector<float> src_rows, src_flip_rows;
    for (size_t q = 0; q < group && num_tree > 0; ++q) {
      const data::Sequence& s = *sequences[g0 + q];
      src_rows.insert(src_rows.end(), s.poses_2d.begin(), s.poses_2d.end());
      if (flip_tta) {
        std::vector<float> flipped = s.poses_2d;
        data::flip_poses(flipped, s.frames, keypoints, 2);
        src_flip_rows.insert(src_flip_rows.end(), flipped.begin(), flipped.end());
      }
    }

    if (num_tree > 0) {
      const Tensor src = Tensor::from_vector(src_rows, {frame_base[group], row}, dev);
      const Tensor src_flip =
          flip_tta ? Tensor::from_vector(src_flip_rows, {frame_base[group], row}, dev) : Tensor();
      // rows[k] = k and row_base = 0: window_gather then reads node k's inputs at map row k. The
      // two index tensors are made once, for the most nodes one gather reads.
      int64_t most = 0;
      for (const TreeBatch& tb : batches)
        for (const auto& todo : tb.todo) most = std::max(most, static_cast<int64_t>(todo.size()));
      std::vector<int32_t> iota(static_cast<size_t>(most));
      for (int64_t q = 0; q < most; ++q) iota[static_cast<size_t>(q)] = static_cast<int32_t>(q);
      const Tensor gather_rows = Tensor::from_vector_i32(iota, {most}, dev);
      const Tensor gather_base = Tensor::zeros({most}, DType::kI32, dev);
      auto gather = [&](const Tensor& from, const std::vector<int32_t>& map, int64_t width) {
        const int64_t m = static_cast<int64_t>(map.size()) / width;
        return ops::window_gather(from, Tensor::from_vector_i32(map, {m, width}, dev),
                                  gather_rows.narrow(0, m), gather_base.narrow(0, m));
      };
      for (const TreeBatch& tb : batches) {
        const int64_t n = tb.n;
        // Evaluates block i on `inputs` of copy cp into its computed-node rows.
        auto eval_into = [&](size_t i, int64_t cp, const Tensor& inputs) {
          const Tensor y = model.eval_block(i, inputs, &folded);
          const int64_t m = y.size(0);
          if (reusable(i)) {
            buf[i].narrow(computed_base(i, cp), m).copy_from(y);
          } else {
            last_out[static_cast<size_t>(cp)] = y.view({m, c});
          }
        };
        // Block 0 on the nodes a computed parent reads: their 2D rows gathered through a
        // (nodes, filter_widths[0]) map of the group's frames.
        {
          std::vector<int32_t> node_map;
          node_map.reserve(tb.todo[0].size() * static_cast<size_t>(fw[0]));
          for (const int64_t e : tb.todo[0]) {
            const int64_t j = e / nodes_of[0], u = e % nodes_of[0];
            const int64_t fb =
                frame_base[static_cast<size_t>(tree_seq[static_cast<size_t>(tb.first + j)])];
            const int32_t* slots = slots_of(tb.first + j) + u * rf_of[0];
            for (int64_t w = 0; w < fw[0]; ++w)
              node_map.push_back(static_cast<int32_t>(fb + slots[w]));
          }
          if (!node_map.empty())
            for (int64_t cp = 0; cp < copies; ++cp)
              eval_into(0, cp, gather(cp == 0 ? src : src_flip, node_map, fw[0]));
        }
        for (size_t i = 1; i < layers; ++i) {
          if (tb.todo[i].empty()) continue;
          const int64_t nodes = nodes_of[i], child_nodes = nodes_of[i - 1];
          for (int64_t cp = 0; cp < copies; ++cp) {
            // Each child's row: the dilated pass's, or this batch's computed one.
            const int64_t dil = dilated_base(i - 1, cp), comp = computed_base(i - 1, cp);
            std::vector<int32_t> child_rows;
            child_rows.reserve(tb.todo[i].size() * static_cast<size_t>(fw[i]));
            for (const int64_t e : tb.todo[i]) {
              const int64_t j = e / nodes, u = e % nodes;
              for (int64_t ch = 0; ch < fw[i]; ++ch) {
                const size_t child = static_cast<size_t>(j * child_nodes + u * fw[i] + ch);
                const int64_t rr = tb.reuse[i - 1][child];
                child_rows.push_back(
                    static_cast<int32_t>(rr >= 0 ? dil + rr : comp + tb.index[i - 1][child]));
              }
            }
            eval_into(i, cp, gather(nodes_tensor(i - 1, cp), child_rows, fw[i]));
          }
        }
        // The roots through the head; un-flip and average under TTA, as predict_sequence.
        std::vector<std::vector<float>> y(static_cast<size_t>(copies));
        for (int64_t cp = 0; cp < copies; ++cp)
          y[static_cast<size_t>(cp)] =
              model.eval_head(last_out[static_cast<size_t>(cp)].view({n, 1, c})).to_vector();
        for (int64_t j = 0; j < n; ++j) {
          const size_t f = static_cast<size_t>(tb.first + j);
          float* dst = preds[static_cast<size_t>(tree_seq[f])].data() + tree_t[f] * out_row;
          const float* a = y[0].data() + j * out_row;
          if (!flip_tta) {
            std::copy(a, a + out_row, dst);
            continue;
          }
          const float* fl = y[1].data() + j * out_row;
          for (int64_t jj = 0; jj < jo; ++jj) {
            const float* mirror = fl + perm[static_cast<size_t>(jj)] * 3;
            dst[jj * 3 + 0] = 0.5f * (a[jj * 3 + 0] - mirror[0]);
            dst[jj * 3 + 1] = 0.5f * (a[jj * 3 + 1] + mirror[1]);
            dst[jj * 3 + 2] = 0.5f * (a[jj * 3 + 2] + mirror[2]);
          }
        }
      }
    }
    for (auto& p : preds) result.push_back(std::move(p));
  }
  return result;
}

}  // namespace v3d
