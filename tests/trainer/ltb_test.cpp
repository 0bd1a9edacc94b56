// Long-term bank inference (trainer/ltb.h) with a tiny random model on synthetic sequences: every
// frame gets the strided model's output on its window (fused, or plain and then equal to the
// whole-sequence output), flip TTA included; sequences without fused frames keep the plain output
// bit for bit; batch sizes do not change the result; online windows only use the past, the cpu
// and emulated plans agree (the HDF5 dump and the evaluate/sweep rows: tests/report/).
#include "trainer/ltb.h"

#include <gtest/gtest.h>

#include <H5Cpp.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "data/synth.h"
#include "kernels/common.h"
#include "runtime/autograd.h"
#include "tests/runtime/test_util.h"
#include "tests/test_util.h"
#include "tests/trainer/ltb_test_util.h"
#include "trainer/evaluate.h"
#include "trainer/infer.h"
#include "trainer/predict.h"

namespace v3d {
namespace {

using ltb_test::fusing_options;
using ltb_test::sequences;
using ltb_test::tiny_model;
using ltb_test::views;

std::vector<const data::Sequence*> pointers(const std::vector<data::Sequence>& seqs) {
  std::vector<const data::Sequence*> p;
  for (const auto& s : seqs) p.push_back(&s);
  return p;
}

const data::Skeleton& h36m() { return data::Skeleton::h36m17(); }

TEST(Ltb, ParentsOfBothLayouts) {
  EXPECT_EQ(ltb_parents(h36m()).size(), 17u);
  const auto coco = ltb_parents(data::Skeleton::coco17());
  ASSERT_EQ(coco.size(), 17u);
  int roots = 0;
  for (size_t j = 0; j < coco.size(); ++j) {
    if (coco[j] < 0) {
      ++roots;
      continue;
    }
    EXPECT_LT(coco[j], static_cast<int32_t>(j)) << "parents come before children";
  }
  EXPECT_EQ(roots, 1);
}

// ---- the schedule, worked out by hand (no model) ------------------------------------------

// A plan of sequences of `frames` frames with their plain windows (frame t's slot k holds
// clamp(t - r + k)), one bank entry each, and no fused frame yet.
LtbPlan plain_plan(const std::vector<int32_t>& frames, int64_t r) {
  LtbPlan p;
  p.radius = r;
  p.window = 2 * r + 1;
  p.capacity = 4;
  p.offsets = {0};
  for (const int32_t n : frames) {
    p.offsets.push_back(p.offsets.back() + n);
    p.bank_size.push_back(1);
    for (int32_t t = 0; t < n; ++t) {
      p.fused.push_back(0);
      for (int64_t k = 0; k < p.window; ++k)
        p.index_map.push_back(static_cast<int32_t>(std::clamp<int64_t>(t - r + k, 0, n - 1)));
    }
  }
  return p;
}

// Frame g (global) gets `window` and is marked fused.
void fuse(LtbPlan& p, int32_t g, const std::vector<int32_t>& window) {
  ASSERT_EQ(static_cast<int64_t>(window.size()), p.window);
  std::copy(window.begin(), window.end(), p.index_map.begin() + g * p.window);
  p.fused[static_cast<size_t>(g)] = 1;
  p.fused_frames += 1;
}

LtbGather gather(int64_t row, int64_t nodes) { return {row, nodes}; }

// One block (3 frames, r = 1): nothing to reuse, the pass stays whole, and only the fused frames
// are tree frames; two sequences in one group, so the second's 2D rows start after the first's.
TEST(LtbSchedule, OneBlockComputesOnlyTheFusedRoots) {
  LtbPlan plan = plain_plan({2, 3}, 1);
  fuse(plan, 2, {2, 0, 1});  // sequence 1, frame 0: frame 2 inserted before it
  const auto groups = ltb_groups(plan);
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].start, (std::vector<int64_t>{0, 4}));
  EXPECT_EQ(groups[0].rows, 9);
  for (const int64_t copies : {1, 2}) {
    const LtbGroupSchedule s = schedule_ltb_group(plan, groups[0], {3}, copies);
    EXPECT_FALSE(s.split);
    EXPECT_EQ(s.tree_seq, (std::vector<int32_t>{1}));
    EXPECT_EQ(s.tree_frame, (std::vector<int32_t>{0}));
    EXPECT_EQ(s.frame_base, (std::vector<int64_t>{0, 2, 5}));
    EXPECT_TRUE(s.block_rows.empty());
    EXPECT_TRUE(s.room.empty());
    ASSERT_EQ(s.maps.size(), 1u);
    EXPECT_EQ(s.maps[0], (std::vector<int32_t>{4, 2, 3}));  // frame_base 2 + the window
    ASSERT_EQ(s.batches.size(), 1u);
    EXPECT_EQ(s.batches[0].first, 0);
    EXPECT_EQ(s.batches[0].n, 1);
    for (int64_t cp = 0; cp < copies; ++cp)  // every copy reads the same map rows
      EXPECT_EQ(s.batches[0].gathers[0][static_cast<size_t>(cp)], gather(0, 1));
    EXPECT_EQ(s.max_nodes, 1);
    EXPECT_EQ(s.stats.sequences, 2);
    EXPECT_EQ(s.stats.frames, 5);
    EXPECT_EQ(s.stats.fused_frames, 1);
    EXPECT_EQ(s.stats.bank_entries, 2);
    EXPECT_EQ(s.stats.blocks_computed, 1);
    EXPECT_EQ(s.stats.blocks_reused, 0);
    EXPECT_EQ(s.stats.plain_blocks, 0);
  }
  // Without a fused frame: the whole pass, no tree.
  const LtbGroupSchedule none = schedule_ltb_group(plain_plan({2, 3}, 1), groups[0], {3}, 1);
  EXPECT_FALSE(none.split);
  EXPECT_TRUE(none.tree_frame.empty());
  EXPECT_TRUE(none.batches.empty());
  EXPECT_EQ(none.stats.frames, 5);
}

// Two blocks (9 frames, r = 4), one sequence of 6 frames (14 padded rows, row q holding frame
// clamp(q - 4); block 0's dilated output has 12 rows, row q reading rows q .. q + 2), frame 2's
// window fused as {5, 0, 0 | 1, 2, 3 | 4, 5, 5}. Every frame's root is computed. A block-0 node
// is the dilated row whose three input rows hold its slots: the padded row of its first interior
// frame minus that slot's place, or for a node of one edge frame repeated, the run that ends at
// frame 0's own row (row 2) or starts at frame 5's (row 9). The fused frame's first node, {5, 0,
// 0}, is no run of the padded sequence: it is computed and written after the dilated rows of every
// copy.
TEST(LtbSchedule, TwoBlocksReuseTheDilatedPassAndComputeWhatChanged) {
  LtbPlan plan = plain_plan({6}, 4);
  fuse(plan, 2, {5, 0, 0, 1, 2, 3, 4, 5, 5});
  const auto groups = ltb_groups(plan);
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].rows, 14);
  for (const int64_t copies : {1, 2}) {
    const LtbGroupSchedule s = schedule_ltb_group(plan, groups[0], {3, 3}, copies);
    EXPECT_TRUE(s.split);
    EXPECT_EQ(s.tree_seq, std::vector<int32_t>(6, 0));
    EXPECT_EQ(s.tree_frame, (std::vector<int32_t>{0, 1, 2, 3, 4, 5}));
    EXPECT_EQ(s.block_rows, (std::vector<int64_t>{12}));
    EXPECT_EQ(s.room, (std::vector<int64_t>{1}));
    ASSERT_EQ(s.batches.size(), 1u);
    const LtbBatch& b = s.batches[0];
    EXPECT_EQ(b.n, 6);
    EXPECT_EQ(s.maps[0], (std::vector<int32_t>{5, 0, 0}));
    // Buffer rows: copy cp's dilated row q at cp * 12 + q, its computed node at copies * 12 + cp.
    const std::vector<std::vector<int32_t>> children = {{2, 3, 6}, {2, 4, 7}, {-1, 5, 8},
                                                        {3, 6, 9}, {4, 7, 9}, {5, 8, 9}};
    std::vector<int32_t> want;
    for (int32_t cp = 0; cp < copies; ++cp) {
      EXPECT_EQ(b.gathers[0][static_cast<size_t>(cp)], gather(0, 1));
      EXPECT_EQ(b.gathers[1][static_cast<size_t>(cp)], gather(6 * cp, 6));
      const int32_t dil = 12 * cp, comp = static_cast<int32_t>(12 * copies) + cp;
      for (const auto& frame : children)
        for (const int32_t q : frame) want.push_back(q < 0 ? comp : dil + q);
    }
    EXPECT_EQ(s.maps[1], want);
    EXPECT_EQ(s.max_nodes, 6);
    EXPECT_EQ(s.stats.blocks_computed, 2);  // the fused frame's root and first node
    EXPECT_EQ(s.stats.blocks_reused, 2);    // and its other two nodes
    EXPECT_EQ(s.stats.plain_blocks, 5);     // the other frames' roots
  }
  // Batches of 4 windows: the second batch has the last two roots and computes no block-0 node.
  LtbBatching small;
  small.frames = 4;
  const LtbGroupSchedule s = schedule_ltb_group(plan, groups[0], {3, 3}, 1, small);
  ASSERT_EQ(s.batches.size(), 2u);
  EXPECT_EQ(s.batches[1].first, 4);
  EXPECT_EQ(s.batches[1].n, 2);
  EXPECT_EQ(s.batches[1].gathers[0][0].nodes, 0);
  EXPECT_EQ(s.batches[1].gathers[1][0], gather(4, 2));
  EXPECT_EQ(std::vector<int32_t>(s.maps[1].begin() + 12, s.maps[1].end()),
            (std::vector<int32_t>{4, 7, 9, 5, 8, 9}));
  // Groups follow batching.rows; a plan of another window or empty batches are refused.
  LtbBatching one_row;
  one_row.rows = 1;
  EXPECT_EQ(ltb_groups(plain_plan({3, 4, 5}, 4), one_row).size(), 3u);
  EXPECT_THROW(schedule_ltb_group(plan, groups[0], {3}, 1), Error);
  EXPECT_THROW(schedule_ltb_group(plan, groups[0], {3, 3}, 3), Error);
  LtbBatching empty;
  empty.frames = 0;
  EXPECT_THROW(schedule_ltb_group(plan, groups[0], {3, 3}, 1, empty), Error);
}

// The block-tree evaluation of fused windows, for models of 2, 3 and 4 blocks (27 frames and up
// reuse blocks of the dilated pass). The last block of every frame of a sequence with fused frames
// is evaluated in the batch, so frames the bank leaves alone equal the plain output to float
// rounding (bit for bit when both take the same GEMMs); the plain predictions the call returns
// on the way are exactly predict_sequence's.
// Causal models fuse causal windows (the window ends at its frame) the same way.
TEST(Ltb, EveryFrameIsTheStridedModelOnItsWindow) {
  for (const bool causal : {false, true})
    for (const std::vector<int64_t>& widths :
         {std::vector<int64_t>{3, 3}, std::vector<int64_t>{3, 3, 3},
          std::vector<int64_t>{3, 5, 3}}) {
      TemporalModelConfig mc = tiny_model(causal);
      mc.filter_widths = widths;
      TemporalModel model(mc, Device::cpu(), 5);
      const int64_t rf = model.receptive_field(), r = (rf - 1) / 2, row = 34;
      const auto seqs = sequences();
      for (const bool flip : {false, true}) {
        std::vector<std::vector<float>> plain_out;
        const auto plain = predict_sequences(model, pointers(seqs), h36m(), h36m(), flip);
        LtbOptions o = fusing_options();
        o.causal = causal;
        const LtbPlan plan = plan_ltb(views(seqs), 17, ltb_parents(h36m()), r, o, Device::cpu());
        ASSERT_GT(plan.fused_frames, 0) << "the test needs fused windows";
        ASSERT_LT(plan.fused_frames, plan.offsets.back()) << "and plain ones";
        LtbStats stats;
        const auto out =
            predict_with_ltb(model, pointers(seqs), plan, h36m(), h36m(), flip, &stats, &plain_out);
        EXPECT_EQ(plain_out, plain);
        EXPECT_GT(stats.blocks_computed, 0);
        if (widths.size() >= 3) {
          EXPECT_GT(stats.blocks_reused, 0) << "deeper models reuse blocks";
        }
        EXPECT_EQ(stats.fused_frames, plan.fused_frames);
        EXPECT_EQ(stats.frames, plan.offsets.back());
        EXPECT_GT(stats.plain_blocks, 0) << "the frames left alone have their last block batched";
        PhiloxState rng{};
        NoGradGuard no_grad;
        for (size_t k = 0; k < seqs.size(); ++k) {
          const auto& s = seqs[k];
          for (int64_t t = 0; t < s.frames; ++t) {
            const int64_t g = plan.offsets[k] + t;
            const float* got = out[k].data() + t * 51;
            const bool fused = plan.fused[static_cast<size_t>(g)] != 0;
            if (!fused)
              for (int e = 0; e < 51; ++e) {
                const float p = plain[k][static_cast<size_t>(t * 51 + e)];
                ASSERT_NEAR(got[e], p, 1e-5f * (1 + std::fabs(p))) << "frame " << t;
              }
            // The window built here from the map (fused, or the plain one), through the strided
            // form.
            std::vector<float> win(static_cast<size_t>(rf * row)), win_flip;
            for (int64_t w = 0; w < rf; ++w) {
              const int32_t f = plan.index_map[static_cast<size_t>(g * rf + w)];
              ASSERT_GE(f, 0);
              ASSERT_LT(f, s.frames);
              std::copy(s.poses_2d.begin() + f * 34, s.poses_2d.begin() + (f + 1) * 34,
                        win.begin() + w * 34);
            }
            std::vector<float> want =
                model.forward_train(Tensor::from_vector(win, {1, rf, row}), rng, false)
                    .value()
                    .to_vector();
            if (flip) {
              win_flip = win;
              data::flip_poses(win_flip, rf, h36m(), 2);
              const std::vector<float> yf =
                  model.forward_train(Tensor::from_vector(win_flip, {1, rf, row}), rng, false)
                      .value()
                      .to_vector();
              const std::vector<int> perm = h36m().flip_permutation();
              for (int j = 0; j < 17; ++j) {
                const float* m = yf.data() + perm[static_cast<size_t>(j)] * 3;
                want[j * 3 + 0] = 0.5f * (want[j * 3 + 0] - m[0]);
                want[j * 3 + 1] = 0.5f * (want[j * 3 + 1] + m[1]);
                want[j * 3 + 2] = 0.5f * (want[j * 3 + 2] + m[2]);
              }
            }
            for (int e = 0; e < 51; ++e)
              ASSERT_NEAR(got[e], want[static_cast<size_t>(e)], 1e-5f * (1 + std::fabs(want[e])))
                  << "frame " << t << " of sequence " << k << " flip " << flip << " fused " << fused
                  << " causal " << causal;
            if (!fused) continue;
            // A fused frame differs from the plain output (the window did change).
            bool differs = false;
            for (int e = 0; e < 51; ++e)
              differs |= got[e] != plain[k][static_cast<size_t>(t * 51 + e)];
            EXPECT_TRUE(differs) << "frame " << t;
          }
        }
      }
    }
}

// The other placements keep the executor exact: every frame is the strided model on the window
// its map row names, whichever slots the bank's poses took.
TEST(Ltb, EveryPlacementIsTheStridedModelOnItsWindow) {
  TemporalModelConfig mc = tiny_model();
  mc.filter_widths = {3, 3, 3};
  TemporalModel model(mc, Device::cpu(), 5);
  const int64_t rf = model.receptive_field(), r = (rf - 1) / 2;
  auto seqs = sequences(60);
  seqs.resize(2);
  PhiloxState rng{};
  for (const auto placement :
       {kernels::PosePlacement::kLeastSimilar, kernels::PosePlacement::kOutermost}) {
    LtbOptions o = fusing_options();
    o.placement = placement;
    o.max_insert = 3;
    const LtbPlan plan = plan_ltb(views(seqs), 17, ltb_parents(h36m()), r, o, Device::cpu());
    ASSERT_GT(plan.fused_frames, 0) << "the test needs fused windows";
    const auto out = predict_with_ltb(model, pointers(seqs), plan, h36m(), h36m(), false);
    NoGradGuard no_grad;
    for (size_t k = 0; k < seqs.size(); ++k) {
      for (int64_t t = 0; t < seqs[k].frames; ++t) {
        const int64_t g = plan.offsets[k] + t;
        std::vector<float> win(static_cast<size_t>(rf * 34));
        for (int64_t w = 0; w < rf; ++w) {
          const int32_t f = plan.index_map[static_cast<size_t>(g * rf + w)];
          std::copy(seqs[k].poses_2d.begin() + f * 34, seqs[k].poses_2d.begin() + (f + 1) * 34,
                    win.begin() + w * 34);
        }
        const std::vector<float> want =
            model.forward_train(Tensor::from_vector(win, {1, rf, 34}), rng, false)
                .value()
                .to_vector();
        for (int e = 0; e < 51; ++e)
          ASSERT_NEAR(out[k][static_cast<size_t>(t * 51 + e)], want[static_cast<size_t>(e)],
                      1e-5f * (1 + std::fabs(want[static_cast<size_t>(e)])))
              << "frame " << t << " of sequence " << k << " placement "
              << ltb_placement_name(placement);
      }
    }
  }
}

// The v3d preset is the options every earlier release used: the same kernel settings, so the
// same banks and maps bit for bit; the paper preset adds the gate, which only removes fusion.
TEST(Ltb, PresetsAsOptions) {
  const LtbOptions v3d = ltb_options(ltb_preset(LtbPreset::kV3d)), first{};
  EXPECT_EQ(v3d.capacity, first.capacity);
  EXPECT_EQ(v3d.threshold, first.threshold);
  EXPECT_EQ(v3d.fusion_threshold, first.fusion_threshold);
  EXPECT_EQ(v3d.max_insert, first.max_insert);
  EXPECT_EQ(v3d.online, first.online);
  EXPECT_EQ(v3d.center, first.center);
  EXPECT_EQ(v3d.accumulate, kernels::PoseAccumulate::kEntries);
  EXPECT_EQ(v3d.placement, kernels::PosePlacement::kNextToCenter);
  EXPECT_EQ(v3d.gate, kernels::PoseGate::kOff);
  const auto seqs = sequences(60);
  LtbOptions o = fusing_options(), paper = o;
  const LtbOptions p = ltb_options(ltb_preset(LtbPreset::kPaper));
  paper.gate = p.gate;
  paper.gate_threshold = p.gate_threshold;
  EXPECT_EQ(p.gate, kernels::PoseGate::kMin);
  const LtbPlan a = plan_ltb(views(seqs), 17, ltb_parents(h36m()), 4, o, Device::cpu());
  const LtbPlan b = plan_ltb(views(seqs), 17, ltb_parents(h36m()), 4, paper, Device::cpu());
  EXPECT_EQ(a.bank_frames, b.bank_frames);
  EXPECT_LE(b.fused_frames, a.fused_frames);
  for (size_t g = 0; g < a.fused.size(); ++g) {
    if (b.fused[g] == 0) continue;  // a fused frame of the gated plan is fused the same way
    for (int64_t w = 0; w < a.window; ++w)
      ASSERT_EQ(b.index_map[g * static_cast<size_t>(a.window) + static_cast<size_t>(w)],
                a.index_map[g * static_cast<size_t>(a.window) + static_cast<size_t>(w)]);
  }
}

// Small batches and one sequence per group (every batch boundary and group split exercised) give
// the same predictions and counts as the default batching, with and without flip TTA.
TEST(Ltb, BatchingDoesNotChangeTheResult) {
  TemporalModelConfig mc = tiny_model();
  mc.filter_widths = {3, 3, 3};
  TemporalModel model(mc, Device::cpu(), 9);
  const auto seqs = sequences();
  const LtbPlan plan =
      plan_ltb(views(seqs), 17, ltb_parents(h36m()), 13, fusing_options(), Device::cpu());
  ASSERT_GT(plan.fused_frames, 0);
  for (const bool flip : {false, true}) {
    LtbStats whole, small;
    std::vector<std::vector<float>> plain_whole, plain_small;
    const auto a =
        predict_with_ltb(model, pointers(seqs), plan, h36m(), h36m(), flip, &whole, &plain_whole);
    LtbBatching tiny;
    tiny.frames = 7;
    tiny.nodes = flip ? 1 : 12;  // one window per batch, or about three
    tiny.rows = 1;               // one sequence per dilated pass
    const auto b = predict_with_ltb(model, pointers(seqs), plan, h36m(), h36m(), flip, &small,
                                    &plain_small, nullptr, tiny);
    // One sequence per pass is predict_sequence; the whole set in one pass is predict_sequences.
    std::vector<std::vector<float>> single;
    for (const auto& s : seqs) single.push_back(predict_sequence(model, s, h36m(), h36m(), flip));
    EXPECT_EQ(plain_small, single);
    EXPECT_EQ(plain_whole, predict_sequences(model, pointers(seqs), h36m(), h36m(), flip));
    auto expect_near = [](const std::vector<std::vector<float>>& x,
                          const std::vector<std::vector<float>>& y) {
      ASSERT_EQ(x.size(), y.size());
      for (size_t k = 0; k < x.size(); ++k) {
        ASSERT_EQ(x[k].size(), y[k].size());
        for (size_t e = 0; e < x[k].size(); ++e)
          ASSERT_NEAR(y[k][e], x[k][e], 1e-5f * (1 + std::fabs(x[k][e]))) << k << " " << e;
      }
    };
    expect_near(a, b);
    expect_near(plain_whole, plain_small);
    EXPECT_EQ(small.blocks_computed, whole.blocks_computed);
    EXPECT_EQ(small.blocks_reused, whole.blocks_reused);
    // (plain_blocks differs: a pass without fused frames keeps its own last block.)
    EXPECT_EQ(small.fused_frames, whole.fused_frames);
  }
  LtbBatching bad;
  bad.nodes = 0;
  EXPECT_THROW(predict_with_ltb(model, pointers(seqs), plan, h36m(), h36m(), false, nullptr,
                                nullptr, nullptr, bad),
               Error);
  bad.nodes = 1;
  bad.frames = 0;
  EXPECT_THROW(predict_with_ltb(model, pointers(seqs), plan, h36m(), h36m(), false, nullptr,
                                nullptr, nullptr, bad),
               Error);
}

TEST(Ltb, NoCandidateOrShortSequenceLeavesInferenceUnchanged) {
  TemporalModel model(tiny_model(), Device::cpu(), 6);
  // Fusion threshold above the largest possible similarity (1): nothing is fused.
  auto seqs = sequences();
  LtbOptions none = fusing_options();
  none.fusion_threshold = 1.5f;
  // A sequence shorter than the receptive field: every bank entry lies inside every window.
  auto short_seqs = sequences(5);
  for (const auto& [set, opt] :
       {std::pair{&seqs, none}, std::pair{&short_seqs, fusing_options()}}) {
    const auto plain = predict_sequences(model, pointers(*set), h36m(), h36m(), true);
    const LtbPlan plan = plan_ltb(views(*set), 17, ltb_parents(h36m()), 4, opt, Device::cpu());
    EXPECT_EQ(plan.fused_frames, 0);
    for (size_t g = 0; g < plan.fused.size(); ++g) EXPECT_EQ(plan.fused[g], 0);
    const auto out = predict_with_ltb(model, pointers(*set), plan, h36m(), h36m(), true);
    EXPECT_EQ(out, plain);
  }
  // infer_3d with the bank, on a short input, equals infer_3d without.
  InferInput in;
  in.name = "short";
  in.frames = 5;
  in.joints = 17;
  in.res_w = 1000;
  in.res_h = 1002;
  for (int64_t i = 0; i < 5 * 34; ++i)
    in.keypoints_px.push_back(static_cast<float>(400 + (i * 37) % 200));
  const LtbOptions o = fusing_options();
  EXPECT_EQ(infer_3d(model, in, true, &o), infer_3d(model, in, true));
}

TEST(Ltb, OnlineWindowsOnlyInsertPastFrames) {
  const auto seqs = sequences();
  LtbOptions on = fusing_options();
  on.online = true;
  const LtbPlan plan = plan_ltb(views(seqs), 17, ltb_parents(h36m()), 4, on, Device::cpu());
  const LtbPlan off =
      plan_ltb(views(seqs), 17, ltb_parents(h36m()), 4, fusing_options(), Device::cpu());
  ASSERT_GT(plan.fused_frames, 0);
  int64_t future_in_offline = 0;
  for (size_t k = 0; k + 1 < plan.offsets.size(); ++k) {
    for (int32_t g = plan.offsets[k]; g < plan.offsets[k + 1]; ++g) {
      const int32_t t = g - plan.offsets[k];
      for (int w = 0; w < 9; ++w) {
        const int32_t f = plan.index_map[static_cast<size_t>(g * 9 + w)];
        if (f > t + 4) ADD_FAILURE() << "online frame " << t << " uses future frame " << f;
        future_in_offline += off.index_map[static_cast<size_t>(g * 9 + w)] > t + 4;
      }
    }
  }
  EXPECT_GT(future_in_offline, 0) << "offline mode does fuse future poses";
  // The final bank is the same either way (both offered every frame in order).
  EXPECT_EQ(plan.bank_frames, off.bank_frames);
}

// The bank and the fusion plan on a GPU device equal the CPU's bit for bit.
class LtbDevices : public test::DeviceTest {};

TEST_P(LtbDevices, PlanEqualsCpuPlan) {
  auto seqs = sequences(40);
  seqs.resize(3);
  // Every reading: the default, online, then each placement, gate and accumulation.
  for (int reading = 0; reading < 6; ++reading) {
    LtbOptions o = fusing_options();
    o.online = reading == 1;
    if (reading == 2) o.placement = kernels::PosePlacement::kLeastSimilar;
    if (reading == 3) o.placement = kernels::PosePlacement::kOutermost;
    if (reading == 4) {
      o.gate = kernels::PoseGate::kMean;
      o.gate_threshold = 0.9f;
    }
    if (reading == 5) {
      o.accumulate = kernels::PoseAccumulate::kOffered;
      o.gate = kernels::PoseGate::kMin;
    }
    SCOPED_TRACE("reading " + std::to_string(reading));
    const LtbPlan c = plan_ltb(views(seqs), 17, ltb_parents(h36m()), 4, o, Device::cpu(), true);
    const LtbPlan e = plan_ltb(views(seqs), 17, ltb_parents(h36m()), 4, o, dev(), true);
    EXPECT_EQ(c.bank_frames, e.bank_frames);
    EXPECT_EQ(c.bank_as, e.bank_as);
    EXPECT_EQ(c.bank_size, e.bank_size);
    EXPECT_EQ(c.history, e.history);
    EXPECT_EQ(c.index_map, e.index_map);
    EXPECT_EQ(c.fused, e.fused);
  }
}

INSTANTIATE_TEST_SUITE_P(GpuDevices, LtbDevices, ::testing::ValuesIn(test::gpu_device_params()),
                         test::device_test_name);

// A causal model evaluates with the bank (causal windows); a plan whose windows are not the
// model's is refused.
TEST(Ltb, MismatchedWindowsAndBadOptionsAreRefused) {
  TemporalModel causal(tiny_model(true), Device::cpu(), 8);
  const auto seqs = sequences(20);
  EvalOptions opt;
  opt.ltb = LtbEval::kOn;
  EXPECT_NO_THROW(evaluate(causal, seqs, opt));
  std::vector<const data::Sequence*> ptrs;
  for (const auto& s : seqs) ptrs.push_back(&s);
  const LtbPlan centred =
      plan_ltb(views(seqs), 17, ltb_parents(h36m()), 4, fusing_options(), Device::cpu());
  EXPECT_THROW(predict_with_ltb(causal, ptrs, centred, h36m(), h36m(), false), Error);
  LtbOptions bad;
  bad.capacity = 0;
  EXPECT_THROW(validate_ltb_options(bad), Error);
  bad.capacity = kernels::kPoseBankMaxCapacity + 1;
  EXPECT_THROW(validate_ltb_options(bad), Error);
  EXPECT_THROW(parse_ltb_eval("sometimes"), Error);
}

// Huge finite coordinates would overflow the similarity's squares to inf and S to NaN: refused,
// naming the place; a non-finite coordinate still only marks its pose invalid.
TEST(Ltb, CoordinatesBeyondTheSimilaritysRangeAreRefused) {
  auto seqs = sequences(20);
  std::vector<float> poses = seqs[0].poses_2d;
  const std::vector<std::span<const float>> one = {poses};
  poses[(2 * 17 + 1) * 2] = std::numeric_limits<float>::quiet_NaN();  // frame 2, keypoint 1
  EXPECT_NO_THROW(plan_ltb(one, 17, ltb_parents(h36m()), 4, fusing_options(), Device::cpu()));
  poses[(3 * 17 + 5) * 2 + 1] = 3e19f;  // frame 3, keypoint 5, y
  try {
    plan_ltb(one, 17, ltb_parents(h36m()), 4, fusing_options(), Device::cpu());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("ltb: sequence 0, frame 3, keypoint 5: coordinate 3e+19"), std::string::npos)
        << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
  poses[(3 * 17 + 5) * 2 + 1] = -1e12f;  // the limit itself is fine
  EXPECT_NO_THROW(plan_ltb(one, 17, ltb_parents(h36m()), 4, fusing_options(), Device::cpu()));
}

}  // namespace
}  // namespace v3d
