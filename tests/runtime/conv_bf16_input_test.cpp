// BF16 storage of the training convolutions' operands (runtime/temporal_conv.h): x and d_y given
// as bf16 tensors give the float32-input results bit for bit in all three passes, on every
// device, backend and tile, whether the kernels take them as they are or they are widened first;
// ag::temporal_conv in bf16 keeps that copy for its backward pass instead of the float32 x; and
// ag::relu_dropout writes BF16 directly where the model's next convolution reads BF16.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kernels/float_round.h"
#include "kernels/gpu/emu/runtime.h"
#include "runtime/allocator.h"
#include "runtime/autograd.h"
#include "runtime/ops.h"
#include "runtime/stream.h"
#include "runtime/temporal_conv.h"
#include "tests/runtime/test_util.h"

namespace v3d {
namespace {

using kernels::ConvMath;
using kernels::ConvTile;
using kernels::TemporalConvPass;

class ConvBf16Input : public test::DeviceTest {};

std::vector<float> normal(int64_t n, uint64_t seed) { return test::normal_vec(n, seed); }

struct ConvSizes {
  int64_t batch, t_in, c_in, c_out, k, dilation, stride;
  const char* why;
};

// The kernels take BF16 operands as they are where C_in (forward), C_out (bwd_data) or both
// (bwd_weight) are multiples of 8.
const ConvSizes kShapes[] = {
    {3, 27, 16, 24, 3, 1, 3, "strided, BF16-staged passes"},
    {2, 40, 32, 16, 3, 3, 1, "dilated, BF16-staged"},
    {4, 9, 24, 40, 1, 1, 1, "pointwise, BF16-staged"},
    {2, 27, 16, 20, 3, 1, 3, "staged forward, the backward passes widened (C_out = 20)"},
    {2, 27, 20, 16, 3, 1, 3, "staged bwd_data, the forward and bwd_weight widened (C_in = 20)"},
    {3, 27, 34, 37, 3, 1, 3, "expand conv 34 -> 37: all widened"},
    {10, 102, 8, 16, 3, 1, 1, "bwd_weight of 1000 rows in splits"},
    {2, 27, 64, 40, 3, 1, 3, "64 channels: the Hopper tile's BF16 forward (wgmma)"},
};

// y and d_w from x (float32) and from to_bf16(x), in bf16 arithmetic.
void expect_same_as_float_input(Device device, const ConvSizes& c) {
  SCOPED_TRACE(c.why);
  const Shape xs{c.batch, c.t_in, c.c_in}, ws{c.c_out, c.c_in, c.k};
  const Tensor x = Tensor::from_vector(normal(xs.numel(), 1), xs, device);
  const Tensor w = Tensor::from_vector(normal(ws.numel(), 2), ws, device);
  const Tensor x16 = ops::to_bf16(x);
  ASSERT_EQ(x16.dtype(), DType::kBF16);
  const Tensor y = ops::temporal_conv(x, w, c.dilation, c.stride, nullptr, ConvMath::kBf16);
  const Tensor y16 = ops::temporal_conv(x16, w, c.dilation, c.stride, nullptr, ConvMath::kBf16);
  EXPECT_TRUE(test::bitwise_equal(y.to_vector(), y16.to_vector()));
  const Tensor d_y = Tensor::from_vector(normal(y.numel(), 3), y.shape(), device);
  const Tensor d_y16 = ops::to_bf16(d_y);
  const Tensor d_x = Tensor::empty(xs, DType::kF32, device);
  const Tensor d_x16 = Tensor::empty(xs, DType::kF32, device);
  ops::temporal_conv_bwd_data_out(d_y, w, d_x, c.dilation, c.stride, ConvMath::kBf16);
  ops::temporal_conv_bwd_data_out(d_y16, w, d_x16, c.dilation, c.stride, ConvMath::kBf16);
  EXPECT_TRUE(test::bitwise_equal(d_x.to_vector(), d_x16.to_vector()));
  const Tensor d_w = Tensor::empty(ws, DType::kF32, device);
  ops::temporal_conv_bwd_weight_out(x, d_y, d_w, c.dilation, c.stride, ConvMath::kBf16);
  // Each of x and d_y as float32 or bf16.
  for (const auto& [xi, d_yi] : {std::pair{x16, d_y}, std::pair{x, d_y16}, std::pair{x16, d_y16}}) {
    const Tensor d_w16 = Tensor::empty(ws, DType::kF32, device);
    ops::temporal_conv_bwd_weight_out(xi, d_yi, d_w16, c.dilation, c.stride, ConvMath::kBf16);
    EXPECT_TRUE(test::bitwise_equal(d_w.to_vector(), d_w16.to_vector()))
        << "x " << xi.str() << ", d_y " << d_yi.str();
  }
}

TEST_P(ConvBf16Input, GivesTheFloatInputResultsBitForBitInEveryTile) {
  for (const ConvTile tile :
       {ConvTile::kDefault, ConvTile::kNarrow, ConvTile::kWide, ConvTile::kHopper}) {
    const ops::ConvTileGuard guard(tile);
    for (const ConvSizes& c : kShapes) expect_same_as_float_input(dev(), c);
  }
}

TEST_P(ConvBf16Input, GivesTheFloatInputResultsBitForBitUnderCublasLt) {
  const ops::ConvBackendGuard guard(ops::ConvBackendChoice::kCublasLt);
  for (const ConvSizes& c : kShapes) expect_same_as_float_input(dev(), c);
}

TEST_P(ConvBf16Input, AMisalignedViewIsWidenedAndGivesTheSameResults) {
  // A (2, 27, 16) bf16 view starting one element into its storage: 2 bytes past a 16-byte
  // boundary, which the kernels' 16-byte copies cannot take.
  const Shape xs{2, 27, 16}, ws{24, 16, 3};
  const Tensor x = Tensor::from_vector(normal(xs.numel() + 1, 4), {xs.numel() + 1}, dev());
  const Tensor x16 = ops::to_bf16(x).narrow(1, xs.numel()).view(xs);
  ASSERT_NE(reinterpret_cast<uintptr_t>(x16.raw()) % 16, 0u);
  const Tensor xf = ops::from_bf16(x16);
  const Tensor w = Tensor::from_vector(normal(ws.numel(), 5), ws, dev());
  const Tensor y = ops::temporal_conv(xf, w, 1, 3, nullptr, ConvMath::kBf16);
  const Tensor y16 = ops::temporal_conv(x16, w, 1, 3, nullptr, ConvMath::kBf16);
  EXPECT_TRUE(test::bitwise_equal(y.to_vector(), y16.to_vector()));
  const Tensor d_y = Tensor::from_vector(normal(y.numel(), 6), y.shape(), dev());
  const Tensor d_w = Tensor::empty(ws, DType::kF32, dev());
  const Tensor d_w16 = Tensor::empty(ws, DType::kF32, dev());
  ops::temporal_conv_bwd_weight_out(xf, d_y, d_w, 1, 3, ConvMath::kBf16);
  ops::temporal_conv_bwd_weight_out(x16, d_y, d_w16, 1, 3, ConvMath::kBf16);
  EXPECT_TRUE(test::bitwise_equal(d_w.to_vector(), d_w16.to_vector()));
}

TEST_P(ConvBf16Input, RefusesBf16InputOutsideBf16Arithmetic) {
  const Tensor x16 = ops::to_bf16(Tensor::zeros({1, 9, 8}, DType::kF32, dev()));
  const Tensor w = Tensor::zeros({8, 8, 3}, DType::kF32, dev());
  EXPECT_V3D_ERROR(ops::temporal_conv(x16, w, 1, 3, nullptr, ConvMath::kTf32), "temporal_conv",
                   "bf16", "arithmetic must be bf16");
  const Tensor d_y = Tensor::zeros({1, 3, 8}, DType::kF32, dev());
  const Tensor d_w = Tensor::empty({8, 8, 3}, DType::kF32, dev());
  EXPECT_V3D_ERROR(ops::temporal_conv_bwd_weight_out(x16, d_y, d_w, 1, 3, ConvMath::kFp32),
                   "temporal_conv_bwd_weight", "arithmetic must be bf16");
  const Tensor d_x = Tensor::empty({1, 9, 8}, DType::kF32, dev());
  EXPECT_V3D_ERROR(
      ops::temporal_conv_bwd_data_out(ops::to_bf16(d_y), w, d_x, 1, 3, ConvMath::kTf32),
      "temporal_conv_bwd_data", "d_y", "arithmetic must be bf16");
  // The results stay float32.
  EXPECT_V3D_ERROR(
      ops::temporal_conv_bwd_data_out(d_y, w, ops::to_bf16(d_x), 1, 3, ConvMath::kBf16), "d_x",
      "expected f32");
}

// The forward's output in BF16 (runtime/temporal_conv.h; the epilogue's y_bf16 in our CUDA
// kernels, a float32 temporary rounded after elsewhere): bitwise to_bf16 of the float32 output in
// every arithmetic, tile and backend, with and without bias, ReLU and a residual, from float32 x
// and (bf16 arithmetic) from bf16 x. On the emulator our kernels write it themselves (the same
// launches as for a float32 output), where cuBLASLt's output is converted by one more.
TEST_P(ConvBf16Input, WritesTheForwardOutputInBf16AsToBf16RoundsIt) {
  struct Setting {
    ops::ConvBackendChoice backend;
    ConvTile tile;
  };
  std::vector<Setting> settings;
  for (const ConvTile tile :
       {ConvTile::kDefault, ConvTile::kNarrow, ConvTile::kWide, ConvTile::kHopper})
    settings.push_back({ops::ConvBackendChoice::kV3d, tile});
  if (!dev().is_cpu()) settings.push_back({ops::ConvBackendChoice::kCublasLt, ConvTile::kDefault});
  const bool emu = dev().type == DeviceType::kEmu;
  for (const Setting& setting : settings) {
    const ops::ConvBackendGuard backend(setting.backend);
    const ops::ConvTileGuard tile(setting.tile);
    for (const ConvMath math : {ConvMath::kFp32, ConvMath::kTf32, ConvMath::kBf16}) {
      for (const size_t i : {0, 1, 2, 5, 7}) {
        const ConvSizes& c = kShapes[i];
        const int64_t t_out = (c.t_in - (c.k - 1) * c.dilation - 1) / c.stride + 1;
        const Shape xs{c.batch, c.t_in, c.c_in}, ws{c.c_out, c.c_in, c.k},
            ys{c.batch, t_out, c.c_out};
        const Tensor x = Tensor::from_vector(normal(xs.numel(), 11), xs, dev());
        const Tensor w = Tensor::from_vector(normal(ws.numel(), 12), ws, dev());
        ops::ConvEpilogueTensors e;
        e.bias = Tensor::from_vector(normal(c.c_out, 13), {c.c_out}, dev());
        e.relu = true;
        e.residual = Tensor::from_vector(normal(c.batch * (t_out + 2) * c.c_out, 14),
                                         {c.batch, t_out + 2, c.c_out}, dev());
        e.residual_offset = 1;
        const ops::ConvEpilogueTensors* const fused = &e;
        const ops::ConvEpilogueTensors* const plain = nullptr;
        for (const ops::ConvEpilogueTensors* epilogue : {fused, plain}) {
          SCOPED_TRACE(std::string(c.why) + " tile " + std::to_string(int(setting.tile)) +
                       " backend " + std::to_string(int(setting.backend)) + " math " +
                       std::to_string(int(math)) + (epilogue ? " epilogue" : ""));
          const Tensor want =
              ops::to_bf16(ops::temporal_conv(x, w, c.dilation, c.stride, nullptr, math, epilogue));
          const Tensor x16 = math == ConvMath::kBf16 ? ops::to_bf16(x) : Tensor();
          for (const Tensor* xp : {&x, &x16}) {
            if (!xp->defined()) continue;
            const Tensor& xi = *xp;
            // Launches per kernel of the float32-output call, then of the BF16-output call.
            auto launches = [&](const Tensor& y) {
              if (emu) cuemu::reset_launch_counts();
              ops::temporal_conv_out(xi, w, y, c.dilation, c.stride, nullptr, math, epilogue);
              return emu ? cuemu::launch_counts() : decltype(cuemu::launch_counts()){};
            };
            const auto with_f32 = launches(Tensor::empty(ys, DType::kF32, dev()));
            const Tensor y16 = Tensor::empty(ys, DType::kBF16, dev());
            auto with_bf16 = launches(y16);
            EXPECT_TRUE(test::bitwise_equal(ops::from_bf16(y16).to_vector(),
                                            ops::from_bf16(want).to_vector()))
                << "x " << xi.str();
            if (setting.backend == ops::ConvBackendChoice::kCublasLt && emu) {
              const std::string unary = "(unary_kernel<In, Out, Op>)";  // the conversion after
              if (--with_bf16[unary] == 0) with_bf16.erase(unary);
            }
            EXPECT_EQ(with_bf16, with_f32);
          }
        }
      }
    }
  }
}

// The forward's weights prepared once (ops::prepare_temporal_conv, as folded inference weights
// are on a GPU): the same bits as the call without them, in every tile, from float32 and bf16 x,
// with the epilogue; on the emulator without the per-call permutation of the weights (one launch
// of the weight kernel fewer) wherever the kernels take the prepared form, i.e. everywhere but the
// BF16 forward of channels that are not multiples of 8 (staged as float32, from w). cuBLASLt and
// the CPU ignore a GPU's prepared weights; weights prepared for another arithmetic are refused.
TEST_P(ConvBf16Input, PreparedWeightsGiveTheSameBitsWithoutTheirPermutation) {
  const bool emu = dev().type == DeviceType::kEmu;
  const std::string permute = "permute_weights_kernel<Out>";
  for (const ConvTile tile :
       {ConvTile::kDefault, ConvTile::kNarrow, ConvTile::kWide, ConvTile::kHopper}) {
    const ops::ConvTileGuard guard(tile);
    for (const ConvMath math : {ConvMath::kTf32, ConvMath::kBf16}) {
      for (const size_t i : {0, 1, 2, 5, 7}) {
        const ConvSizes& c = kShapes[i];
        SCOPED_TRACE(std::string(c.why) + " tile " + std::to_string(int(tile)) + " math " +
                     std::to_string(int(math)));
        const Shape xs{c.batch, c.t_in, c.c_in}, ws{c.c_out, c.c_in, c.k};
        const Tensor x = Tensor::from_vector(normal(xs.numel(), 21), xs, dev());
        const Tensor w = Tensor::from_vector(normal(ws.numel(), 22), ws, dev());
        const ops::PreparedConv p = ops::prepare_temporal_conv(w, math);
        EXPECT_EQ(p.device_tap_major.defined(), !dev().is_cpu());
        ops::ConvEpilogueTensors e;
        e.bias = Tensor::from_vector(normal(c.c_out, 23), {c.c_out}, dev());
        e.relu = true;
        const Tensor x16 = math == ConvMath::kBf16 ? ops::to_bf16(x) : Tensor();
        for (const Tensor* xp : {&x, &x16}) {
          if (!xp->defined()) continue;
          const Tensor& xi = *xp;
          auto run = [&](const ops::PreparedConv* prepared) {
            if (emu) cuemu::reset_launch_counts();
            const Tensor y = ops::temporal_conv(xi, w, c.dilation, c.stride, prepared, math, &e);
            return std::make_pair(y.to_vector(), emu ? cuemu::launch_counts()[permute] : 0u);
          };
          const auto [want, permutes] = run(nullptr);
          const auto [got, permutes_prepared] = run(&p);
          EXPECT_TRUE(test::bitwise_equal(got, want)) << "x " << xi.str();
          if (!emu) continue;
          const bool takes_prepared = math == ConvMath::kTf32 || c.c_in % 8 == 0;
          EXPECT_EQ(permutes_prepared, takes_prepared && permutes > 0 ? permutes - 1 : permutes)
              << "x " << xi.str();
          if (takes_prepared) {
            EXPECT_EQ(permutes_prepared, 0u) << "x " << xi.str();
          }
        }
      }
    }
  }
  if (dev().is_cpu()) return;
  {
    const ops::ConvBackendGuard lt(ops::ConvBackendChoice::kCublasLt);
    const Tensor x = Tensor::from_vector(normal(2 * 27 * 16, 24), {2, 27, 16}, dev());
    const Tensor w = Tensor::from_vector(normal(24 * 16 * 3, 25), {24, 16, 3}, dev());
    const ops::PreparedConv p = ops::prepare_temporal_conv(w, ConvMath::kBf16);
    EXPECT_TRUE(
        test::bitwise_equal(ops::temporal_conv(x, w, 1, 3, &p, ConvMath::kBf16).to_vector(),
                            ops::temporal_conv(x, w, 1, 3, nullptr, ConvMath::kBf16).to_vector()));
    EXPECT_V3D_ERROR(ops::temporal_conv(x, w, 1, 3, &p, ConvMath::kTf32), "temporal_conv",
                     "prepared weights are for another arithmetic");
  }
}

// ag::temporal_conv in bf16: the same values and gradients as the float32-input passes, and the
// tensor kept for the backward pass is the 2-byte copy: after the forward, with the Var of its
// input (an intermediate, as in the model) gone, the device holds 2 bytes per element of x fewer
// than in tf32, which keeps the float32 x itself.
TEST_P(ConvBf16Input, AutogradKeepsTheBf16CopyAndGivesTheSameGradients) {
  const Shape xs{8, 27, 64}, ws{64, 64, 3};
  const std::vector<float> x_host = normal(xs.numel(), 7), w_host = normal(ws.numel(), 8);
  ASSERT_TRUE(ops::temporal_conv_keeps_bf16_input(Tensor::zeros(xs, DType::kF32, dev()),
                                                  Tensor::zeros(ws, DType::kF32, dev()), 1, 3));
  const auto held_after_forward = [&](ConvMath math) {
    Var w(Tensor::from_vector(w_host, ws, dev()), true);
    // Fresh blocks of the rounded sizes (all multiples of 512 bytes here), not larger cached ones.
    synchronize(dev());
    allocator_for(dev()).empty_cache();
    const int64_t before = allocator_for(dev()).stats().allocated_bytes;
    const Var x0(Tensor::from_vector(x_host, xs, dev()), true);
    Var y;
    {
      const Var x = ag::scale(x0, 1.0f);  // saves nothing itself
      y = ag::temporal_conv(x, w, 1, 3, math);
    }
    synchronize(dev());
    return allocator_for(dev()).stats().allocated_bytes - before -
           static_cast<int64_t>(x0.value().nbytes() + y.value().nbytes());
  };
  const int64_t kept_tf32 = held_after_forward(ConvMath::kTf32);
  const int64_t kept_bf16 = held_after_forward(ConvMath::kBf16);
  EXPECT_EQ(kept_tf32, 4 * xs.numel());
  EXPECT_EQ(kept_tf32 - kept_bf16, 2 * xs.numel()) << "tf32 keeps " << kept_tf32 << " bytes";

  // Values and gradients: the autograd op against the ops on the float32 x.
  const Tensor xt = Tensor::from_vector(x_host, xs, dev());
  const Tensor wt = Tensor::from_vector(w_host, ws, dev());
  Var x(xt, true), w(wt, true);
  Var y = ag::temporal_conv(x, w, 1, 3, ConvMath::kBf16);
  const Tensor d_y = Tensor::from_vector(normal(y.value().numel(), 9), y.value().shape(), dev());
  y.backward(d_y);
  const Tensor want_y = ops::temporal_conv(xt, wt, 1, 3, nullptr, ConvMath::kBf16);
  const Tensor want_dx = Tensor::empty(xs, DType::kF32, dev());
  const Tensor want_dw = Tensor::empty(ws, DType::kF32, dev());
  ops::temporal_conv_bwd_data_out(d_y, wt, want_dx, 1, 3, ConvMath::kBf16);
  ops::temporal_conv_bwd_weight_out(xt, d_y, want_dw, 1, 3, ConvMath::kBf16);
  EXPECT_TRUE(test::bitwise_equal(y.value().to_vector(), want_y.to_vector()));
  EXPECT_TRUE(test::bitwise_equal(x.grad().to_vector(), want_dx.to_vector()));
  EXPECT_TRUE(test::bitwise_equal(w.grad().to_vector(), want_dw.to_vector()));
}

TEST_P(ConvBf16Input, ConversionsRoundToNearestEvenAndWidenExactly) {
  const std::vector<float> v = {1.00390625f, 1.01171875f, -1.0039063f, 1e-40f, -0.0f, 3.0e38f};
  const Tensor x16 = ops::to_bf16(Tensor::from_vector(v, {6}, dev()));
  const std::vector<float> back = ops::from_bf16(x16).to_vector();
  ASSERT_EQ(back.size(), v.size());
  for (size_t i = 0; i < v.size(); ++i)
    EXPECT_EQ(kernels::float_bits(back[i]), kernels::float_bits(kernels::round_bf16(v[i]))) << i;
  EXPECT_EQ(back[0], 1.0f);       // a tie goes to the even neighbour below
  EXPECT_EQ(back[1], 1.015625f);  // and above
  EXPECT_TRUE(test::bitwise_equal(x16.to_vector(), back));
  EXPECT_EQ(x16.nbytes(), 12u);
  EXPECT_EQ(x16.str(), "bf16(6) on " + dev().str());
}

// The model's ReLU/dropout before a pointwise convolution in bf16 writes BF16 itself: the values
// are the float32 pass's rounded, the mask and counter advance the same, the gradient equal.
TEST_P(ConvBf16Input, ReluDropoutWritesTheRoundedValuesWithTheSameMaskAndGradient) {
  const Shape s{4, 9, 40};
  const Tensor xt = Tensor::from_vector(normal(s.numel(), 10), s, dev());
  const Tensor d = Tensor::from_vector(normal(s.numel(), 11), s, dev());
  for (const bool training : {true, false}) {
    SCOPED_TRACE(training ? "training" : "evaluation");
    PhiloxState rng32{77, 5}, rng16{77, 5};
    Var x32(xt, true), x16(xt, true);
    const Var y32 = ag::relu_dropout(x32, 0.25f, training, rng32);
    const Var y16 = ag::relu_dropout(x16, 0.25f, training, rng16, DType::kBF16);
    ASSERT_EQ(y16.value().dtype(), DType::kBF16);
    EXPECT_EQ(rng16.offset, rng32.offset);
    EXPECT_TRUE(test::bitwise_equal(y16.value().to_vector(),
                                    ops::from_bf16(ops::to_bf16(y32.value())).to_vector()));
    y32.backward(d);
    y16.backward(d);
    EXPECT_TRUE(test::bitwise_equal(x16.grad().to_vector(), x32.grad().to_vector()));
  }
}

INSTANTIATE_TEST_SUITE_P(Devices, ConvBf16Input, ::testing::ValuesIn(test::device_params()),
                         test::device_test_name);

}  // namespace
}  // namespace v3d
