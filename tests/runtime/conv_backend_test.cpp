// The convolution backend choice of runtime/temporal_conv.h: kV3d and kCublasLt run what they
// name, kAuto times each (shape, pass) once and runs the faster, and the CPU ignores the choice.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/gpu/emu/runtime.h"
#include "runtime/ops.h"
#include "runtime/temporal_conv.h"
#include "tests/runtime/test_util.h"

namespace v3d {
namespace {

using kernels::ConvBackend;
using kernels::TemporalConvPass;
using ops::ConvBackendChoice;

class ConvBackendTest : public test::DeviceTest {
 protected:
  void TearDown() override { ops::set_conv_backend_timer({}); }
};

std::vector<float> normal(int64_t n, uint64_t seed) { return test::normal_vec(n, seed); }

// The three passes of a dilated conv on `device`: y, d_x, d_w (d_y = 1 + the index pattern).
struct Results {
  std::vector<float> y, d_x, d_w;
};
Results run_passes(Device device) {
  const Shape xs{2, 40, 64}, ws{48, 64, 3};
  const Tensor x = Tensor::from_vector(normal(xs.numel(), 1), xs, device);
  const Tensor w = Tensor::from_vector(normal(ws.numel(), 2), ws, device);
  const Tensor y = ops::temporal_conv(x, w, 3, 1);
  const Tensor d_y = Tensor::from_vector(normal(y.numel(), 3), y.shape(), device);
  const Tensor d_x = Tensor::empty(xs, DType::kF32, device);
  const Tensor d_w = Tensor::empty(ws, DType::kF32, device);
  ops::temporal_conv_bwd_data_out(d_y, w, d_x, 3, 1);
  ops::temporal_conv_bwd_weight_out(x, d_y, d_w, 3, 1);
  return {y.to_vector(), d_x.to_vector(), d_w.to_vector()};
}

TEST_P(ConvBackendTest, AutoTimesEachShapeAndPassOnceAndRunsTheFaster) {
  Results v3d, lt;
  {
    const ops::ConvBackendGuard guard(ConvBackendChoice::kV3d);
    v3d = run_passes(dev());
  }
  {
    const ops::ConvBackendGuard guard(ConvBackendChoice::kCublasLt);
    lt = run_passes(dev());
  }
  // The two backends sum the forward and bwd_weight in different orders, so their bits tell which
  // one ran. bwd_data may agree bit for bit (an H200 gives the same d_x from both): which backend
  // ran it is read from the choice lines below.
  ASSERT_NE(v3d.y, lt.y);
  ASSERT_NE(v3d.d_w, lt.d_w);

  // A timer under which cuBLASLt wins the forward and bwd_weight, ours bwd_data.
  std::map<std::tuple<TemporalConvPass, ConvBackend>, int> calls;
  ops::set_conv_backend_timer(
      [&](Device, const kernels::TemporalConvShape&, TemporalConvPass pass, ops::ConvAlgo algo) {
        ++calls[{pass, algo.backend}];
        EXPECT_EQ(algo.tile, kernels::ConvTile::kDefault) << "float32 has one tile";
        const bool lt_wins = pass != TemporalConvPass::kBackwardData;
        return (algo.backend == ConvBackend::kCublasLt) == lt_wins ? 1.0 : 2.0;
      });
  const ops::ConvBackendGuard guard(ConvBackendChoice::kAuto);
  const Results first = run_passes(dev());
  const Results second = run_passes(dev());
  EXPECT_EQ(first.y, lt.y);
  EXPECT_EQ(first.d_x, v3d.d_x);
  EXPECT_EQ(first.d_w, lt.d_w);
  EXPECT_EQ(second.y, first.y);
  EXPECT_EQ(second.d_w, first.d_w);
  EXPECT_EQ(calls.size(), 6u);
  for (const auto& [key, n] : calls) EXPECT_EQ(n, 1) << "each (pass, backend) timed once";
  const std::vector<std::string> lines = ops::conv_backend_choices();
  ASSERT_EQ(lines.size(), 3u);
  int chose_lt = 0;
  for (const std::string& line : lines) {
    EXPECT_TRUE(test::contains_all(line, {dev().str(), "c_in=64", "dilation=3", "ms"}));
    const bool lt_chosen = line.find("-> cublaslt") != std::string::npos;
    EXPECT_EQ(lt_chosen, line.find("bwd_data") == std::string::npos) << line;
    chose_lt += lt_chosen;
  }
  EXPECT_EQ(chose_lt, 2);
}

TEST_P(ConvBackendTest, AutoWithTheDefaultTimerMatchesTheCpu) {
  ops::set_conv_backend_timer({});
  const Results cpu = run_passes(Device::cpu());
  const ops::ConvBackendGuard guard(ConvBackendChoice::kAuto);
  const Results got = run_passes(dev());
  ASSERT_EQ(got.y.size(), cpu.y.size());
  for (size_t i = 0; i < got.y.size(); ++i) EXPECT_NEAR(got.y[i], cpu.y[i], 2e-6 * 3 * 64 + 1e-4);
  for (size_t i = 0; i < got.d_w.size(); ++i) EXPECT_NEAR(got.d_w[i], cpu.d_w[i], 1e-3);
  EXPECT_EQ(ops::conv_backend_choices().size(), 3u);
}

// bf16 has both backends too (cuBLASLt's CUBLAS_COMPUTE_32F_FAST_16BF): auto times them, and
// remembers the choice per arithmetic.
TEST_P(ConvBackendTest, AutoTimesBf16ApartFromFp32) {
  int calls = 0;
  ops::set_conv_backend_timer(
      [&](Device, const kernels::TemporalConvShape& shape, TemporalConvPass, ops::ConvAlgo algo) {
        ++calls;
        const bool lt_wins = shape.math == kernels::ConvMath::kBf16;
        return (algo.backend == ConvBackend::kCublasLt) == lt_wins ? 1.0 : 2.0;
      });
  const ops::ConvBackendGuard guard(ConvBackendChoice::kAuto);
  kernels::TemporalConvShape s{1, 9, 4, 4, 3, 1, 3};
  s.math = kernels::ConvMath::kBf16;
  EXPECT_EQ(ops::conv_backend_for(dev(), s, TemporalConvPass::kForward), ConvBackend::kCublasLt);
  EXPECT_EQ(calls, 3) << "bf16: our two tiles and cuBLASLt";
  s.math = kernels::ConvMath::kFp32;
  EXPECT_EQ(ops::conv_backend_for(dev(), s, TemporalConvPass::kForward), ConvBackend::kV3d);
  EXPECT_EQ(calls, 5) << "fp32: ours and cuBLASLt";
  s.math = kernels::ConvMath::kBf16;
  EXPECT_EQ(ops::conv_backend_for(dev(), s, TemporalConvPass::kForward), ConvBackend::kCublasLt);
  EXPECT_EQ(calls, 5) << "each (shape, arithmetic, pass) timed once";
}

// With TF32 / BF16, auto times our kernels in both tiles (kernels/temporal_conv.h, ConvTile; not
// the Hopper tile, which no GPU has validated yet) and runs the faster: the tile is part of the
// choice, and its line names all three timings.
TEST_P(ConvBackendTest, AutoChoosesOurTileUnderTensorCoreMath) {
  std::vector<ops::ConvAlgo> timed;
  ops::set_conv_backend_timer([&](Device, const kernels::TemporalConvShape&, TemporalConvPass pass,
                                  ops::ConvAlgo algo) {
    timed.push_back(algo);
    // The wide tile wins the forward, the narrow one bwd_data, cuBLASLt bwd_weight.
    const ops::ConvAlgo winner = pass == TemporalConvPass::kForward
                                     ? ops::ConvAlgo{ConvBackend::kV3d, kernels::ConvTile::kWide}
                                 : pass == TemporalConvPass::kBackwardData
                                     ? ops::ConvAlgo{ConvBackend::kV3d, kernels::ConvTile::kNarrow}
                                     : ops::ConvAlgo{ConvBackend::kCublasLt};
    return algo == winner ? 1.0 : 2.0;
  });
  const ops::ConvBackendGuard guard(ConvBackendChoice::kAuto);
  kernels::TemporalConvShape s{2, 40, 64, 48, 3, 3, 1};
  s.math = kernels::ConvMath::kTf32;
  const ops::ConvAlgo fwd = ops::conv_algo_for(dev(), s, TemporalConvPass::kForward);
  EXPECT_EQ(fwd.str(), "v3d wide");
  EXPECT_EQ(ops::conv_algo_for(dev(), s, TemporalConvPass::kBackwardData).str(), "v3d narrow");
  EXPECT_EQ(ops::conv_algo_for(dev(), s, TemporalConvPass::kBackwardWeight).str(), "cublaslt");
  ASSERT_EQ(timed.size(), 9u);
  EXPECT_EQ(timed[0].str(), "v3d narrow");
  EXPECT_EQ(timed[1].str(), "v3d wide");
  EXPECT_EQ(timed[2].str(), "cublaslt");
  for (const std::string& line : ops::conv_backend_choices()) {
    EXPECT_TRUE(test::contains_all(line, {"v3d narrow 1 ms", "v3d wide", "cublaslt"}) ||
                test::contains_all(line, {"v3d narrow 2 ms", "v3d wide", "cublaslt"}))
        << line;
  }
  EXPECT_EQ(ops::conv_algo_for(dev(), s, TemporalConvPass::kForward), fwd);
  EXPECT_EQ(timed.size(), 9u) << "remembered";

  // And the ops run what was chosen: the TF32 forward and bwd_data match our kernels' results in
  // the narrow and wide tile bit for bit (a tile does not change the order in which an output
  // sums its terms), and in the Hopper tile too under the emulator, which sums each wgmma's terms
  // as each mma.sync's; on a device the tensor cores' order is unspecified: within the bound.
  const Tensor x = Tensor::from_vector(normal(2 * 40 * 64, 4), {2, 40, 64}, dev());
  const Tensor w = Tensor::from_vector(normal(48 * 64 * 3, 5), {48, 64, 3}, dev());
  const std::vector<float> got =
      ops::temporal_conv(x, w, 3, 1, nullptr, kernels::ConvMath::kTf32).to_vector();
  const ops::ConvBackendGuard v3d(ConvBackendChoice::kV3d);
  for (const kernels::ConvTile tile :
       {kernels::ConvTile::kNarrow, kernels::ConvTile::kWide, kernels::ConvTile::kHopper}) {
    const ops::ConvTileGuard tile_guard(tile);
    EXPECT_EQ(ops::conv_algo_for(dev(), s, TemporalConvPass::kForward).tile, tile);
    const std::vector<float> y =
        ops::temporal_conv(x, w, 3, 1, nullptr, kernels::ConvMath::kTf32).to_vector();
    if (tile != kernels::ConvTile::kHopper || dev().type == DeviceType::kEmu) {
      EXPECT_EQ(y, got) << static_cast<int>(tile);
      continue;
    }
    ASSERT_EQ(y.size(), got.size());
    for (size_t i = 0; i < y.size(); ++i) {
      ASSERT_NEAR(y[i], got[i], 1e-5 * std::fabs(got[i]) + 4e-6 * 3 * 64) << i;  // L = K*C_in
    }
  }
}

// bwd_weight in the Hopper tile gives the default tile's d_w: in TF32 (d_y and x's windows
// transposed, then wgmma) and in BF16 (on the BF16 operands, MN-major), in one split and in three
// whose ends fall inside its k-tiles, and over three column tiles: to the bit on the emulator,
// whose wgmma sums each k-step's products as the mma.sync does, within the bound on a device,
// whose tensor cores' order is unspecified.
TEST_P(ConvBackendTest, TheHopperTilesWeightGradientIsTheDefaultTiles) {
  struct Sizes {
    int64_t batch, t_in, c_in, c_out, k, dilation, stride;
    const char* why;
  };
  const Sizes shapes[] = {{2, 27, 64, 40, 3, 1, 3, "one split"},
                          {4, 152, 64, 40, 3, 1, 1, "600 rows in 3 splits of 224"},
                          {3, 40, 128, 72, 3, 3, 1, "dilated, 128 channels: 3 column tiles"}};
  const ops::ConvBackendGuard v3d(ConvBackendChoice::kV3d);
  const bool emu = dev().type == DeviceType::kEmu;
  if (emu) cuemu::reset_launch_counts();
  for (const kernels::ConvMath math : {kernels::ConvMath::kTf32, kernels::ConvMath::kBf16}) {
    for (const Sizes& c : shapes) {
      SCOPED_TRACE(std::string(c.why) + (math == kernels::ConvMath::kBf16 ? " bf16" : " tf32"));
      const Shape xs{c.batch, c.t_in, c.c_in}, ws{c.c_out, c.c_in, c.k};
      const int64_t t_out = (c.t_in - (c.k - 1) * c.dilation - 1) / c.stride + 1;
      Tensor x = Tensor::from_vector(normal(xs.numel(), 7), xs, dev());
      Tensor d_y = Tensor::from_vector(normal(c.batch * t_out * c.c_out, 8),
                                       {c.batch, t_out, c.c_out}, dev());
      if (math == kernels::ConvMath::kBf16) x = ops::to_bf16(x), d_y = ops::to_bf16(d_y);
      const auto d_w_in = [&](kernels::ConvTile tile) {
        const ops::ConvTileGuard guard(tile);
        const Tensor d_w = Tensor::empty(ws, DType::kF32, dev());
        ops::temporal_conv_bwd_weight_out(x, d_y, d_w, c.dilation, c.stride, math);
        return d_w.to_vector();
      };
      const std::vector<float> want = d_w_in(kernels::ConvTile::kDefault);
      const std::vector<float> got = d_w_in(kernels::ConvTile::kHopper);
      if (emu) {
        EXPECT_TRUE(test::bitwise_equal(want, got));
        continue;
      }
      ASSERT_EQ(got.size(), want.size());
      const double rows = static_cast<double>(c.batch * t_out);
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_NEAR(got[i], want[i], 1e-5 * std::fabs(want[i]) + 4e-6 * rows) << i;
      }
    }
  }
  if (emu) {
    // Launches are counted by the kernel expression as written, one key for every instance.
    uint64_t wgmma = 0;
    for (const auto& [name, count] : cuemu::launch_counts()) {
      if (name.find("conv_wgmma_kernel") != std::string::npos) wgmma += count;
    }
    EXPECT_EQ(wgmma, 6u) << "the Hopper tile's kernel ran once per shape and arithmetic";
  }
}

INSTANTIATE_TEST_SUITE_P(Devices, ConvBackendTest, ::testing::ValuesIn(test::gpu_device_params()),
                         test::device_test_name);

TEST(ConvBackend, TheCpuIgnoresTheChoice) {
  int calls = 0;
  ops::set_conv_backend_timer(
      [&](Device, const kernels::TemporalConvShape&, TemporalConvPass, ops::ConvAlgo) {
        ++calls;
        return 1.0;
      });
  const kernels::TemporalConvShape s{1, 9, 4, 4, 3, 1, 3};
  for (const ConvBackendChoice c :
       {ConvBackendChoice::kV3d, ConvBackendChoice::kCublasLt, ConvBackendChoice::kAuto}) {
    const ops::ConvBackendGuard guard(c);
    EXPECT_EQ(ops::conv_backend_for(Device::cpu(), s, TemporalConvPass::kForward),
              ConvBackend::kV3d);
  }
  EXPECT_EQ(calls, 0);
  ops::set_conv_backend_timer({});
}

}  // namespace
}  // namespace v3d
