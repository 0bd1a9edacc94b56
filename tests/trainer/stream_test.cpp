// Incremental causal inference (trainer/stream.h): every frame pushed equals batch causal
// inference (predict_sequence, what `v3d infer` runs) on the frames so far, and the strided model
// on the frame's causal window built here by hand (the edge padding of the first frames
// included); with the online bank, the batch path's fused windows (predict_with_ltb).
#include "trainer/stream.h"

#include <gtest/gtest.h>

#include <cmath>
#include <span>
#include <vector>

#include "data/batches.h"
#include "runtime/autograd.h"
#include "tests/trainer/ltb_test_util.h"
#include "trainer/ltb.h"
#include "trainer/predict.h"

namespace v3d {
namespace {

using ltb_test::fusing_options;
using ltb_test::sequences;
using ltb_test::tiny_model;

const data::Skeleton& h36m() { return data::Skeleton::h36m17(); }

// Float bound between the stream and the batch pass: the same operations on the same values,
// summed in another order per convolution (a GEMM of one or two rows against one of many); the
// tiny models' outputs are O(1), so 1e-5 relative is about 100 float ulps.
void expect_close(const float* got, const float* want, int64_t n, const std::string& where) {
  for (int64_t e = 0; e < n; ++e)
    ASSERT_NEAR(got[e], want[e], 1e-5f * (1 + std::fabs(want[e]))) << where << " value " << e;
}

// Every frame of seq pushed one at a time. prepare: when prepare_next runs between frames (0:
// never, push does it; 1: after every frame; 2: twice after every other frame).
std::vector<float> stream_all(const StreamModel& sm, const data::Sequence& seq,
                              std::vector<StreamStep>* steps = nullptr, int prepare = 1) {
  TrackStream track(sm);
  std::vector<float> out;
  for (int64_t t = 0; t < seq.frames; ++t) {
    StreamStep st;
    const std::vector<float> y =
        track.push(std::span<const float>(seq.poses_2d.data() + t * 34, 34), &st);
    EXPECT_EQ(st.frame, t);
    if (steps != nullptr) steps->push_back(st);
    out.insert(out.end(), y.begin(), y.end());
    if (prepare == 1 || (prepare == 2 && t % 2 == 0)) track.prepare_next();
    if (prepare == 2 && t % 2 == 0) track.prepare_next();
  }
  EXPECT_EQ(track.frames(), seq.frames);
  return out;
}

TEST(Stream, EveryFrameEqualsBatchCausalInference) {
  for (const std::vector<int64_t>& widths :
       {std::vector<int64_t>{3, 3}, std::vector<int64_t>{3, 3, 3}, std::vector<int64_t>{3, 5}}) {
    TemporalModelConfig mc = tiny_model(true);
    mc.filter_widths = widths;
    TemporalModel model(mc, Device::cpu(), 11);
    auto seqs = sequences(40);
    seqs.resize(2);
    for (const bool flip : {false, true}) {
      StreamOptions so;
      so.flip_tta = flip;
      const StreamModel sm(model, h36m(), h36m(), so);
      for (const auto& seq : seqs) {
        const std::vector<float> want = predict_sequence(model, seq, h36m(), h36m(), flip);
        for (const int prepare : {0, 1, 2}) {
          std::vector<StreamStep> steps;
          const std::vector<float> got = stream_all(sm, seq, &steps, prepare);
          ASSERT_EQ(got.size(), want.size());
          expect_close(got.data(), want.data(), static_cast<int64_t>(got.size()),
                       "flip " + std::to_string(flip) + " prepare " + std::to_string(prepare));
          for (const StreamStep& st : steps) {
            EXPECT_FALSE(st.fused);
            EXPECT_EQ(st.computed, static_cast<int64_t>(widths.size())) << "one column per block";
          }
        }
      }
    }
  }
}

// Short sequences (1, 2 and 5 frames for a 9-frame model): the padding before frame 0 repeats
// it, as the batch path pads. Each frame is the strided model on its window clamp(t - 8 .. t),
// built here, and a prefix of a sequence streams the same values as the whole sequence (a causal
// output never sees a later frame).
TEST(Stream, FirstFramesArePaddedAsBatchInferencePads) {
  TemporalModel model(tiny_model(true), Device::cpu(), 3);
  const int64_t rf = model.receptive_field();
  ASSERT_EQ(rf, 9);
  const data::Sequence full = sequences(12).front();
  const StreamModel sm(model, h36m(), h36m(), StreamOptions{false, false, {}});
  const std::vector<float> whole = stream_all(sm, full);
  PhiloxState rng{};
  NoGradGuard no_grad;
  for (const int64_t n : {1, 2, 5}) {
    data::Sequence seq = full;
    seq.frames = n;
    seq.poses_2d.resize(static_cast<size_t>(n * 34));
    seq.poses_3d.resize(static_cast<size_t>(n * 51));
    const std::vector<float> got = stream_all(sm, seq);
    const std::vector<float> batch = predict_sequence(model, seq, h36m(), h36m(), false);
    expect_close(got.data(), batch.data(), n * 51, "batch, frames " + std::to_string(n));
    expect_close(got.data(), whole.data(), n * 51, "prefix, frames " + std::to_string(n));
    for (int64_t t = 0; t < n; ++t) {
      std::vector<float> win(static_cast<size_t>(rf * 34));
      for (int64_t w = 0; w < rf; ++w) {
        const int64_t f = std::max<int64_t>(t - (rf - 1) + w, 0);  // [0 x (8 - t), 0, .., t]
        std::copy(seq.poses_2d.begin() + f * 34, seq.poses_2d.begin() + (f + 1) * 34,
                  win.begin() + w * 34);
      }
      const std::vector<float> want =
          model.forward_train(Tensor::from_vector(win, {1, rf, 34}), rng, false)
              .value()
              .to_vector();
      expect_close(got.data() + t * 51, want.data(), 51,
                   "strided, frame " + std::to_string(t) + " of " + std::to_string(n));
    }
  }
}

// With the online bank, each frame equals the batch path's prediction with the bank (online
// mode, causal windows): the same bank, the same fused window, the tree of blocks evaluated with
// nodes taken from the rings where the batch path takes them from its dilated pass.
TEST(Stream, OnlineBankEqualsBatchInferenceWithTheBank) {
  for (const std::vector<int64_t>& widths :
       {std::vector<int64_t>{3, 3}, std::vector<int64_t>{3, 3, 3}}) {
    TemporalModelConfig mc = tiny_model(true);
    mc.filter_widths = widths;
    TemporalModel model(mc, Device::cpu(), 5);
    const int64_t r = (model.receptive_field() - 1) / 2;
    auto seqs = sequences(60);
    seqs.resize(2);
    for (const bool flip : {false, true}) {
      for (const auto placement :
           {kernels::PosePlacement::kNextToCenter, kernels::PosePlacement::kLeastSimilar}) {
        LtbOptions o = fusing_options();
        o.fusion_threshold = 0.5f;  // the online bank holds the past only: fewer candidates
        o.online = true;
        o.causal = true;
        o.placement = placement;
        StreamOptions so;
        so.flip_tta = flip;
        so.ltb = true;
        so.ltb_options = o;
        const StreamModel sm(model, h36m(), h36m(), so);
        const LtbPlan plan =
            plan_ltb(ltb_test::views(seqs), 17, ltb_parents(h36m()), r, o, Device::cpu(), true);
        ASSERT_GT(plan.fused_frames, 0) << "the test needs fused windows";
        std::vector<const data::Sequence*> ptrs;
        for (const auto& s : seqs) ptrs.push_back(&s);
        const auto want = predict_with_ltb(model, ptrs, plan, h36m(), h36m(), flip);
        int64_t fused = 0, reused = 0;
        for (size_t k = 0; k < seqs.size(); ++k) {
          std::vector<StreamStep> steps;
          const std::vector<float> got = stream_all(sm, seqs[k], &steps);
          for (int64_t t = 0; t < seqs[k].frames; ++t) {
            const int64_t g = plan.offsets[k] + t;
            ASSERT_EQ(steps[static_cast<size_t>(t)].fused, plan.fused[static_cast<size_t>(g)] != 0)
                << "frame " << t;
            std::vector<int32_t> bank(plan.history.begin() + g * o.capacity,
                                      plan.history.begin() + (g + 1) * o.capacity);
            int size = 0;
            for (const int32_t f : bank) size += f >= 0;
            EXPECT_EQ(steps[static_cast<size_t>(t)].bank_size, size) << "frame " << t;
            fused += steps[static_cast<size_t>(t)].fused;
            reused += steps[static_cast<size_t>(t)].reused;
          }
          expect_close(got.data(), want[k].data(), static_cast<int64_t>(got.size()),
                       "sequence " + std::to_string(k) + " flip " + std::to_string(flip));
        }
        EXPECT_EQ(fused, plan.fused_frames);
        if (widths.size() >= 3) {
          EXPECT_GT(reused, 0) << "deeper models reuse ring columns";
        }
      }
    }
  }
}

// bf16 weights: the stream runs the model whose convolution weights are rounded to bf16, so it
// equals that model's batch pass (the stream's own DilatedBlocks over the rounded weights, on the
// edge-padded sequence) within the float32 bound, and differs from the float32 model by the
// rounding only.
TEST(Stream, Bf16WeightsRunTheRoundedModel) {
  TemporalModelConfig mc = tiny_model(true);
  mc.filter_widths = {3, 3, 3};
  TemporalModel model(mc, Device::cpu(), 13);
  const int64_t rf = model.receptive_field();
  const data::Sequence seq = sequences(50).front();
  StreamOptions so;
  so.flip_tta = false;
  const StreamModel f32(model, h36m(), h36m(), so);
  so.bf16_weights = true;
  const StreamModel bf16(model, h36m(), h36m(), so);
  std::vector<float> padded;
  for (int64_t e = 0; e < rf - 1; ++e)
    padded.insert(padded.end(), seq.poses_2d.begin(), seq.poses_2d.begin() + 34);
  padded.insert(padded.end(), seq.poses_2d.begin(), seq.poses_2d.begin() + seq.frames * 34);
  NoGradGuard no_grad;
  const std::vector<float> want =
      bf16.blocks().forward(Tensor::from_vector(padded, {1, seq.frames + rf - 1, 34})).to_vector();
  for (const int prepare : {0, 1}) {
    const std::vector<float> got = stream_all(bf16, seq, nullptr, prepare);
    ASSERT_EQ(got.size(), want.size());
    expect_close(got.data(), want.data(), static_cast<int64_t>(got.size()),
                 "prepare " + std::to_string(prepare));
  }
  const std::vector<float> full = stream_all(f32, seq);
  const std::vector<float> half = stream_all(bf16, seq);
  double max_diff = 0.0;
  for (size_t e = 0; e < full.size(); ++e)
    max_diff = std::max(
        max_diff, static_cast<double>(std::fabs(full[e] - half[e])) / (1.0 + std::fabs(full[e])));
  EXPECT_GT(max_diff, 1e-5) << "the weights were rounded";
  EXPECT_LT(max_diff, 1e-2) << "by bf16's rounding only";
}

// The products' forms and threads: the AVX-512 tiles (where the CPU has them) and the portable
// dots, on 1 and 3 threads, with float32 and bf16 weights, all equal batch inference (with the
// online bank too, whose fused trees give the products 4 rows and more). 250 channels: the tiles'
// padding rows (250 = 62 groups of 4 + 2) and chunks (250 = 15 chunks of 16 + 10) are exercised,
// and the 3-tap products (250 x 750) are large enough to be split between the threads.
TEST(Stream, ProductFormsAndThreadsAgree) {
  TemporalModelConfig mc = tiny_model(true);
  mc.filter_widths = {3, 3, 3};
  mc.channels = 250;
  TemporalModel model(mc, Device::cpu(), 17);
  const int64_t r = (model.receptive_field() - 1) / 2;
  auto seqs = sequences(60);
  seqs.resize(1);
  LtbOptions o = fusing_options();
  o.fusion_threshold = 0.5f;
  o.online = true;
  o.causal = true;
  const LtbPlan plan =
      plan_ltb(ltb_test::views(seqs), 17, ltb_parents(h36m()), r, o, Device::cpu(), true);
  ASSERT_GT(plan.fused_frames, 0) << "the test needs fused windows";
  const std::vector<float> plain = predict_sequence(model, seqs[0], h36m(), h36m(), true);
  const std::vector<float> banked =
      predict_with_ltb(model, {&seqs[0]}, plan, h36m(), h36m(), true).front();
  std::vector<float> bf16_first;
  for (const bool bf16 : {false, true}) {
    for (const bool generic : {false, true}) {
      for (const int threads : {1, 3}) {
        for (const bool ltb : {false, true}) {
          StreamOptions so;
          so.ltb = ltb;
          so.ltb_options = o;
          so.bf16_weights = bf16;
          so.generic_products = generic;
          so.threads = threads;
          so.spin_ms = 1.0;
          const StreamModel sm(model, h36m(), h36m(), so);
          ASSERT_EQ(sm.threads(), threads);
          const std::string where = std::string(sm.products()) + ", " + std::to_string(threads) +
                                    " threads, bf16 " + std::to_string(bf16) + ", bank " +
                                    std::to_string(ltb);
          if (generic) {
            EXPECT_STREQ(sm.products(), "portable");
          }
          const std::vector<float> got = stream_all(sm, seqs[0]);
          if (!bf16) {
            const std::vector<float>& want = ltb ? banked : plain;
            ASSERT_EQ(got.size(), want.size());
            expect_close(got.data(), want.data(), static_cast<int64_t>(got.size()), where);
          } else if (bf16_first.empty() && !ltb) {
            bf16_first = got;  // the rounded model: every form and thread count agrees with it
          } else if (!ltb) {
            expect_close(got.data(), bf16_first.data(), static_cast<int64_t>(got.size()), where);
          }
        }
      }
    }
  }
}

// Bad thread counts and spins are refused with one line.
TEST(Stream, BadThreadsAndSpinsAreRefused) {
  TemporalModel model(tiny_model(true), Device::cpu(), 3);
  StreamOptions so;
  so.threads = -1;
  EXPECT_THROW(StreamModel(model, h36m(), h36m(), so), Error);
  so.threads = 2;
  so.spin_ms = -1.0;
  EXPECT_THROW(StreamModel(model, h36m(), h36m(), so), Error);
  so.spin_ms = std::nan("");
  EXPECT_THROW(StreamModel(model, h36m(), h36m(), so), Error);
}

TEST(Stream, CentredModelsAreRefused) {
  TemporalModel model(tiny_model(false), Device::cpu(), 3);
  EXPECT_THROW(StreamModel(model, h36m(), h36m(), StreamOptions{}), Error);
}

}  // namespace
}  // namespace v3d
