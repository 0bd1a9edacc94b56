// Test-interval evaluation of a tiny random model on tiny synthetic data: phase counts, flip TTA,
// agreement with per-sequence metrics (the reports: tests/report/eval_report_test.cpp).
#include "trainer/evaluate.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "data/synth.h"
#include "kernels/common.h"
#include "trainer/predict.h"

namespace v3d {
namespace {

TemporalModelConfig tiny_model(bool causal = false) {
  TemporalModelConfig c;
  c.filter_widths = {3, 3};  // 9 frames
  c.channels = 16;
  c.dropout = 0.0f;
  c.causal = causal;
  return c;
}

// S9, two actions (one with a sub-action number, merged by its first word), 4 cameras, 23
// frames: shorter than nothing but not a multiple of any test interval.
std::vector<data::Sequence> tiny_sequences() {
  data::SynthOptions so;
  so.frames_per_action = 23;
  so.subjects = {"S9"};
  so.actions = {"Walking", "Boxing"};
  data::Dataset ds = data::synthesize(so);
  // A second take of Walking, as H36M's "Walking 1".
  ds.subjects["S9"].actions["Walking 1"] = ds.subjects["S9"].actions["Walking"];
  data::PrepareSpec spec;
  spec.subjects = {"S9"};
  return data::prepare_sequences(ds, spec);
}

bool finite(const Errors& e) {
  return std::isfinite(e.mpjpe) && std::isfinite(e.p_mpjpe) && std::isfinite(e.n_mpjpe) &&
         std::isfinite(e.mpjve);
}

std::vector<float> flipped(std::vector<float> poses, int64_t frames, int features) {
  data::flip_poses(poses, frames, data::Skeleton::h36m17(), features);
  return poses;
}

TEST(Evaluate, EveryIntervalCoversEveryFrameOnce) {
  TemporalModel model(tiny_model(), Device::cpu(), 3);
  const auto seqs = tiny_sequences();
  ASSERT_EQ(seqs.size(), 12u);  // 3 takes x 4 cameras
  EvalOptions opt;
  const EvalReport r = evaluate(model, seqs, opt);
  EXPECT_EQ(r.sequences, 12);
  EXPECT_EQ(r.frames, 12 * 23);
  EXPECT_EQ(r.receptive_field, 9);
  ASSERT_EQ(r.intervals.size(), 4u);
  for (const auto& ir : r.intervals) {
    SCOPED_TRACE("TD " + std::to_string(ir.interval));
    EXPECT_EQ(ir.phases, 12 * ir.interval);  // 23 frames >= every interval
    EXPECT_EQ(ir.mean.frames, r.frames);     // the phases partition the frames
    ASSERT_EQ(ir.actions.size(), 2u);        // "Walking 1" merged into "Walking"
    EXPECT_EQ(ir.actions[0].action, "Boxing");
    EXPECT_EQ(ir.actions[1].action, "Walking");
    EXPECT_EQ(ir.actions[1].errors.frames, 8 * 23);
    EXPECT_TRUE(finite(ir.mean));
    EXPECT_GT(ir.mean.mpjpe, 0.0);
    EXPECT_LE(ir.mean.p_mpjpe, ir.mean.mpjpe);
    EXPECT_DOUBLE_EQ(ir.mean.mpjpe, (ir.actions[0].errors.mpjpe + ir.actions[1].errors.mpjpe) / 2);
  }
}

// The progress callback counts every frame of every interval once, group by group, with the
// interval it belongs to; with the bank too (its pass gives the plain predictions on the way).
TEST(Evaluate, ProgressCountsEveryFrameOfEveryInterval) {
  TemporalModel model(tiny_model(), Device::cpu(), 3);
  const auto seqs = tiny_sequences();
  for (const LtbEval ltb : {LtbEval::kOff, LtbEval::kBoth}) {
    EvalOptions opt;
    opt.ltb = ltb;
    std::vector<int64_t> per_interval(8, 0);
    int64_t calls = 0;
    opt.on_frames = [&](int64_t frames, int interval) {
      ASSERT_GE(interval, 1);
      ASSERT_LE(interval, 7);
      EXPECT_GT(frames, 0);
      per_interval[static_cast<size_t>(interval)] += frames;
      ++calls;
    };
    evaluate(model, seqs, opt);
    for (const int n : opt.test_intervals) EXPECT_EQ(per_interval[static_cast<size_t>(n)], 12 * 23);
    EXPECT_EQ(per_interval[2] + per_interval[4] + per_interval[6], 0);
    EXPECT_GE(calls, 4);
  }
}

// Many phases in one dilated pass (concatenated, each edge-padded) give each phase's own
// prediction: bit for bit for a pass of one sequence, to float rounding otherwise, with and
// without flip TTA, whatever the group size, centred and causal; groups never split a sequence.
void batched_equal_one_by_one(bool causal) {
  SCOPED_TRACE(causal ? "causal" : "centred");
  TemporalModel model(tiny_model(causal), Device::cpu(), 12);
  std::vector<data::Sequence> all;
  for (const auto& s : tiny_sequences())
    for (auto& p : data::split_phases(s, 5)) all.push_back(std::move(p));
  all.back().frames = 2;  // a phase shorter than the receptive field
  all.back().poses_2d.resize(2 * 34);
  all.back().poses_3d.resize(2 * 51);
  std::vector<const data::Sequence*> ptrs;
  for (const auto& p : all) ptrs.push_back(&p);
  const auto& sk = data::Skeleton::h36m17();
  const int64_t pad = (model.receptive_field() - 1) / 2;
  for (const bool flip : {false, true}) {
    std::vector<std::vector<float>> single;
    for (const auto& p : all) single.push_back(predict_sequence(model, p, sk, sk, flip));
    EXPECT_EQ(predict_sequences(model, ptrs, sk, sk, flip, nullptr, 1), single);
    for (const int64_t rows : {int64_t{60}, kEvalGroupRows}) {
      const auto groups = eval_groups(ptrs, pad, rows);
      ASSERT_FALSE(groups.empty());
      size_t next = 0;
      for (const EvalGroup& g : groups) {
        EXPECT_EQ(g.first, next);
        EXPECT_GT(g.last, g.first);
        EXPECT_TRUE(g.rows <= rows || g.last - g.first == 1);
        next = g.last;
      }
      EXPECT_EQ(next, all.size());
      if (rows == kEvalGroupRows) {
        EXPECT_EQ(groups.size(), 1u);
      }
      const auto batched = predict_sequences(model, ptrs, sk, sk, flip, nullptr, rows);
      ASSERT_EQ(batched.size(), single.size());
      for (size_t k = 0; k < single.size(); ++k) {
        ASSERT_EQ(batched[k].size(), single[k].size());
        for (size_t e = 0; e < single[k].size(); ++e)
          ASSERT_NEAR(batched[k][e], single[k][e], 1e-5f * (1 + std::fabs(single[k][e])))
              << "phase " << k << " rows " << rows << " flip " << flip;
      }
    }
  }
}

// The flip-TTA average by hand: joint j takes the mirrored prediction's joint perm[j], x negated.
TEST(Evaluate, AverageFlippedByHand) {
  const std::vector<float> a = {1, 2, 3, 4, 5, 6}, flipped = {10, 20, 30, 40, 50, 60};
  std::vector<float> out(6);
  average_flipped(a.data(), flipped.data(), 1, {1, 0}, out.data());
  EXPECT_EQ(out, (std::vector<float>{-19.5f, 26.0f, 31.5f, -3.0f, 12.5f, 18.0f}));
  std::vector<float> in_place = a;  // out may be a
  average_flipped(in_place.data(), flipped.data(), 1, {1, 0}, in_place.data());
  EXPECT_EQ(in_place, out);
}

TEST(Evaluate, BatchedSequencesEqualOneByOne) {
  for (const bool causal : {false, true}) batched_equal_one_by_one(causal);
}

TEST(Evaluate, AgreesWithPerSequenceMetricsInMillimetres) {
  TemporalModel model(tiny_model(), Device::cpu(), 4);
  const auto seqs = tiny_sequences();
  EvalOptions opt;
  opt.test_intervals = {3};
  opt.flip_tta = false;
  const EvalReport r = evaluate(model, seqs, opt);
  ErrorAggregator agg;
  int64_t phases = 0;
  std::vector<data::Sequence> all;
  for (const auto& s : seqs)
    for (auto& p : data::split_phases(s, 3)) all.push_back(std::move(p));
  std::vector<const data::Sequence*> ptrs;
  for (const auto& p : all) ptrs.push_back(&p);
  const auto preds =
      predict_sequences(model, ptrs, data::Skeleton::h36m17(), data::Skeleton::h36m17(), false);
  ASSERT_EQ(preds.size(), all.size());
  for (size_t k = 0; k < all.size(); ++k) {
    const auto& p = all[k];
    const auto& pred = preds[k];
    ASSERT_EQ(static_cast<int64_t>(pred.size()), p.frames * 17 * 3);
    agg.add(p.action,
            sequence_errors(std::vector<double>(pred.begin(), pred.end()),
                            std::vector<double>(p.poses_3d.begin(), p.poses_3d.end()), 17));
    ++phases;
  }
  EXPECT_EQ(r.intervals[0].phases, phases);
  EXPECT_NEAR(r.intervals[0].mean.mpjpe, 1000 * agg.mean().mpjpe, 1e-9);
  EXPECT_NEAR(r.intervals[0].mean.p_mpjpe, 1000 * agg.mean().p_mpjpe, 1e-9);
  EXPECT_NEAR(r.intervals[0].mean.n_mpjpe, 1000 * agg.mean().n_mpjpe, 1e-9);
  EXPECT_NEAR(r.intervals[0].mean.mpjve, 1000 * agg.mean().mpjve, 1e-9);
}

TEST(Evaluate, FlipTtaIsMirrorEquivariantAndSymmetricOnSymmetricInput) {
  for (bool causal : {false, true}) {
    SCOPED_TRACE(causal ? "causal" : "centred");
    TemporalModel model(tiny_model(causal), Device::cpu(), 5);
    const auto& sk = data::Skeleton::h36m17();
    data::Sequence seq = tiny_sequences()[0];
    // TTA(flip(x)) = flip(TTA(x)): the averaged prediction does not depend on handedness.
    const auto pred = predict_sequence(model, seq, sk, sk, true);
    data::Sequence mirror = seq;
    mirror.poses_2d = flipped(seq.poses_2d, seq.frames, 2);
    mirror.poses_3d = flipped(seq.poses_3d, seq.frames, 3);
    const auto pred_mirror = predict_sequence(model, mirror, sk, sk, true);
    const auto back = flipped(pred_mirror, seq.frames, 3);
    ASSERT_EQ(back.size(), pred.size());
    for (size_t i = 0; i < pred.size(); ++i) ASSERT_NEAR(back[i], pred[i], 1e-5) << i;

    // A left/right symmetric input (each frame equal to its own mirror) gives a finite,
    // symmetric prediction.
    data::Sequence sym = seq;
    const auto m2 = flipped(seq.poses_2d, seq.frames, 2);
    for (size_t i = 0; i < sym.poses_2d.size(); ++i)
      sym.poses_2d[i] = 0.5f * (seq.poses_2d[i] + m2[i]);
    const auto ps = predict_sequence(model, sym, sk, sk, true);
    const auto ps_flip = flipped(ps, seq.frames, 3);
    for (size_t i = 0; i < ps.size(); ++i) {
      ASSERT_TRUE(std::isfinite(ps[i])) << i;
      ASSERT_NEAR(ps_flip[i], ps[i], 1e-5) << i;
    }
    EvalOptions opt;
    opt.test_intervals = {1, 7};
    const EvalReport r = evaluate(model, {sym}, opt);
    for (const auto& ir : r.intervals) EXPECT_TRUE(finite(ir.mean));
  }
}

TEST(Evaluate, ShortSequencesAndInvalidInput) {
  TemporalModel model(tiny_model(), Device::cpu(), 6);
  data::Sequence s = tiny_sequences()[0];
  // 5 frames at TD 7: 5 phases of one frame each (the empty ones are left out).
  s.frames = 5;
  s.poses_2d.resize(5 * 17 * 2);
  s.poses_3d.resize(5 * 17 * 3);
  EvalOptions opt;
  opt.test_intervals = {7};
  const EvalReport r = evaluate(model, {s}, opt);
  EXPECT_EQ(r.intervals[0].phases, 5);
  EXPECT_EQ(r.intervals[0].mean.frames, 5);
  EXPECT_EQ(r.intervals[0].mean.velocity_frames, 0);  // one-frame phases have no velocity
  EXPECT_TRUE(finite(r.intervals[0].mean));

  EXPECT_THROW(evaluate(model, {}, opt), Error);
  opt.test_intervals = {1, 1};
  EXPECT_THROW(evaluate(model, {s}, opt), Error);
  opt.test_intervals = {0};
  EXPECT_THROW(evaluate(model, {s}, opt), Error);
  opt.test_intervals = {1};
  data::Sequence no3d = s;
  no3d.poses_3d.clear();
  EXPECT_THROW(evaluate(model, {no3d}, opt), Error);
  opt.keypoints = &data::Skeleton::coco17();
  TemporalModelConfig c16 = tiny_model();
  c16.joints_out = 16;
  TemporalModel wrong(c16, Device::cpu(), 7);
  EXPECT_THROW(evaluate(wrong, {s}, EvalOptions{}), Error);
}

}  // namespace
}  // namespace v3d
