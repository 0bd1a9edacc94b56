// Cases for the temporal convolution (forward, bwd_data, bwd_weight) over one list of shapes: the
// dilated inference convs (d = 1, 3, 9, 27, 81 with s = 1, down to a sequence exactly the receptive
// field long), the strided training convs (s = K for K = 3, 5, 7, with and without leftover
// frames), pointwise K = 1 convs, overlapping and gapped strided forms (each bwd_data path: direct
// store, unread-frame zeroing, col2im gather), batch 1, channel counts that are not multiples of
// the 64-wide CUDA tile, sizes one past a tile, shapes with many tiles, and bwd_weight reductions
// long enough to be split. Sizes stay small enough for the emulator (about 1 s for all of them).
#include <algorithm>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "kernels/float_round.h"
#include "kernels/temporal_conv.h"
#include "runtime/ops.h"
#include "runtime/temporal_conv.h"
#include "tests/harness/harness.h"
#include "tests/reference/temporal_conv.h"

namespace v3d::harness {
namespace {

struct ConvCase {
  ref::ConvDims d;
  const char* why;
};

std::string describe(const ref::ConvDims& d, const char* why) {
  return "batch=" + std::to_string(d.batch) + " t_in=" + std::to_string(d.t_in) +
         " c_in=" + std::to_string(d.c_in) + " c_out=" + std::to_string(d.c_out) +
         " k=" + std::to_string(d.k) + " dilation=" + std::to_string(d.dilation) +
         " stride=" + std::to_string(d.stride) + " (t_out=" + std::to_string(d.t_out()) + ": " +
         why + ")";
}

// Float32 sums of `terms` products of N(0, 1) values, in an order each backend chooses.
Tolerance sum_tolerance(int64_t terms, const char* why) {
  return {1e-5, 2e-6 * static_cast<double>(terms), why};
}

// The same sums with the tensor core's additions (kernels/temporal_conv.h, Tolerance): twice the
// float32 bound.
Tolerance tc_tolerance(int64_t terms, const char* why) {
  return {1e-5, 4e-6 * static_cast<double>(terms), why};
}

// A case of `op` over two N(0, 1) inputs of shapes `in0`, `in1` with one output; the caller sets
// run, reference and tol.
OpCase conv_case(const char* op, const ref::ConvDims& d, std::string params, const Shape& in0,
                 const Shape& in1, const Shape& out) {
  const int64_t n0 = in0.numel(), n1 = in1.numel();
  OpCase c;
  c.op = op;
  c.params = std::move(params);
  c.make_inputs = [=](Rng& r) {
    return std::vector<Input>{{in0, random_normal(r, n0)}, {in1, random_normal(r, n1)}};
  };
  c.outputs = {out};
  const kernels::TemporalConvShape shape{d.batch, d.t_in,     d.c_in,  d.c_out,
                                         d.k,     d.dilation, d.stride};
  c.flops = shape.flops();
  c.bytes = shape.bytes();
  return c;
}

Shape x_shape_of(const ref::ConvDims& d) { return {d.batch, d.t_in, d.c_in}; }
Shape w_shape_of(const ref::ConvDims& d) { return {d.c_out, d.c_in, d.k}; }
Shape y_shape_of(const ref::ConvDims& d) { return {d.batch, d.t_out(), d.c_out}; }

// A forward case over x (B, T_in, C_in) and w (C_out, C_in, K).
OpCase conv_forward_case(const ref::ConvDims& d, std::string params) {
  return conv_case("temporal_conv", d, std::move(params), x_shape_of(d), w_shape_of(d),
                   y_shape_of(d));
}

// The inputs rounded as an op in `math` rounds them (nothing for kFp32).
ref::Vec rounded(ref::Vec v, kernels::ConvMath math) {
  if (math == kernels::ConvMath::kFp32) return v;
  for (double& e : v) {
    const auto f = static_cast<float>(e);
    e = math == kernels::ConvMath::kBf16 ? kernels::round_bf16(f) : kernels::round_tf32(f);
  }
  return v;
}

// The backward cases in `math`: bwd_data from d_y (B, T_out, C_out) and w, bwd_weight from x and
// d_y, against the reference on the inputs rounded as the op rounds them; the caller sets tol.
OpCase conv_bwd_data_case(const ref::ConvDims& d, std::string params, kernels::ConvMath math) {
  OpCase c = conv_case("temporal_conv_bwd_data", d, std::move(params), y_shape_of(d), w_shape_of(d),
                       x_shape_of(d));
  c.run = [=](const auto& in, const auto& out) {
    ops::temporal_conv_bwd_data_out(in[0], in[1], out[0], d.dilation, d.stride, math);
  };
  c.reference = [=](const auto& in) {
    return std::vector<ref::Vec>{
        ref::temporal_conv_bwd_data(rounded(in[0], math), rounded(in[1], math), d)};
  };
  return c;
}

OpCase conv_bwd_weight_case(const ref::ConvDims& d, std::string params, kernels::ConvMath math) {
  OpCase c = conv_case("temporal_conv_bwd_weight", d, std::move(params), x_shape_of(d),
                       y_shape_of(d), w_shape_of(d));
  c.run = [=](const auto& in, const auto& out) {
    ops::temporal_conv_bwd_weight_out(in[0], in[1], out[0], d.dilation, d.stride, math);
  };
  c.reference = [=](const auto& in) {
    return std::vector<ref::Vec>{
        ref::temporal_conv_bwd_weight(rounded(in[0], math), rounded(in[1], math), d)};
  };
  return c;
}

// The TF32 or BF16 cases (the three passes) of `shapes`, run with our kernels in `tile`.
void tc_cases(std::vector<OpCase>& cases, const ConvCase* begin, const ConvCase* end,
              kernels::ConvMath math, kernels::ConvTile tile, const char* suffix) {
  const bool bf16 = math == kernels::ConvMath::kBf16;
  const auto in_tile = [tile](auto run) {
    return [run, tile](const auto& in, const auto& out) {
      const ops::ConvTileGuard guard(tile);
      run(in, out);
    };
  };
  for (const ConvCase* sc = begin; sc != end; ++sc) {
    const ref::ConvDims d = sc->d;
    const std::string params = describe(d, sc->why) + (bf16 ? " math=bf16" : " math=tf32") + suffix;
    OpCase fwd = conv_forward_case(d, params);
    fwd.run = in_tile([=](const auto& in, const auto& out) {
      ops::temporal_conv_out(in[0], in[1], out[0], d.dilation, d.stride, nullptr, math);
    });
    fwd.reference = [=](const auto& in) {
      return std::vector<ref::Vec>{
          ref::temporal_conv(rounded(in[0], math), rounded(in[1], math), d)};
    };
    fwd.tol = tc_tolerance(d.k * d.c_in,
                           "inputs rounded (TF32 or BF16) as in the reference; each "
                           "output sums K*C_in exact products in float32, the tensor core's "
                           "additions erring by up to 1 ulp");
    cases.push_back(fwd);
    // The inference forms (dilated and pointwise layers at stride 1) also with the weights
    // prepared once (ops::prepare_temporal_conv: tap-major in the math's operand format, read in
    // place of w), in the default and Hopper tiles (the wide tile's launcher is the default's).
    const auto prepared_run = [=](bool x16) {
      return in_tile([=](const auto& in, const auto& out) {
        const ops::PreparedConv p = ops::prepare_temporal_conv(in[1], math);
        ops::temporal_conv_out(x16 ? ops::to_bf16(in[0]) : in[0], in[1], out[0], d.dilation,
                               d.stride, &p, math);
      });
    };
    const bool inference_form =
        d.stride == 1 && (d.dilation > 1 || d.k == 1) && tile != kernels::ConvTile::kWide;
    if (inference_form) {
      OpCase prepared = fwd;
      prepared.params += " weights=prepared";
      prepared.run = prepared_run(false);
      cases.push_back(prepared);
    }
    OpCase bwd_data = conv_bwd_data_case(d, params, math);
    bwd_data.run = in_tile(bwd_data.run);
    bwd_data.tol = tc_tolerance(d.k * d.c_out,
                                "d_y and w rounded as in the reference; each d_x "
                                "element sums up to K*C_out exact products in float32");
    cases.push_back(bwd_data);
    OpCase bwd_weight = conv_bwd_weight_case(d, params, math);
    bwd_weight.run = in_tile(bwd_weight.run);
    bwd_weight.tol = tc_tolerance(d.batch * d.t_out(),
                                  "x and d_y rounded as in the reference; "
                                  "each d_w element sums B*T_out exact products in float32");
    cases.push_back(bwd_weight);
    if (!bf16) continue;
    // The passes with their activation and gradient operands stored in BF16 (ops::to_bf16 first):
    // the kernels that take them as they are where they stage BF16 (channels multiples of 8), the
    // widened float32 path otherwise; the same references, as the values are those the
    // float32-input ops round them to.
    OpCase fwd16 = fwd;
    fwd16.op = "temporal_conv_bf16";
    fwd16.params += " x=bf16";
    fwd16.run = in_tile([=](const auto& in, const auto& out) {
      ops::temporal_conv_out(ops::to_bf16(in[0]), in[1], out[0], d.dilation, d.stride, nullptr,
                             math);
    });
    cases.push_back(fwd16);
    if (inference_form) {
      OpCase prepared16 = fwd16;
      prepared16.params += " weights=prepared";
      prepared16.run = prepared_run(true);
      cases.push_back(prepared16);
    }
    OpCase bwd_data16 = bwd_data;
    bwd_data16.op = "temporal_conv_bwd_data_bf16";
    bwd_data16.params += " d_y=bf16";
    bwd_data16.run = in_tile([=](const auto& in, const auto& out) {
      ops::temporal_conv_bwd_data_out(ops::to_bf16(in[0]), in[1], out[0], d.dilation, d.stride,
                                      math);
    });
    cases.push_back(bwd_data16);
    OpCase bwd_weight16 = bwd_weight;
    bwd_weight16.op = "temporal_conv_bwd_weight_bf16";
    bwd_weight16.params += " x=bf16 d_y=bf16";
    bwd_weight16.run = in_tile([=](const auto& in, const auto& out) {
      ops::temporal_conv_bwd_weight_out(ops::to_bf16(in[0]), ops::to_bf16(in[1]), out[0],
                                        d.dilation, d.stride, math);
    });
    cases.push_back(bwd_weight16);
  }
}

}  // namespace

V3D_HARNESS_CASES(cases) {
  const ConvCase shapes[] = {
      {{2, 30, 5, 7, 3, 1, 1}, "K=3 dilation 1, overlapping windows"},
      {{2, 20, 6, 5, 3, 3, 1}, "dilation 3"},
      {{1, 30, 4, 6, 3, 9, 1}, "dilation 9, batch 1"},
      {{2, 60, 3, 5, 3, 27, 1}, "dilation 27"},
      {{1, 170, 2, 3, 3, 81, 1}, "dilation 81"},
      {{1, 19, 4, 5, 3, 9, 1}, "sequence exactly the receptive field"},
      {{3, 27, 34, 37, 3, 1, 3}, "27-frame expand conv, 34 -> 37 channels"},
      {{2, 11, 5, 130, 3, 1, 3}, "strided with 2 leftover frames, 130 channels"},
      {{2, 25, 9, 10, 5, 1, 5}, "strided K=5"},
      {{1, 49, 3, 4, 7, 1, 7}, "strided K=7, batch 1"},
      {{5, 3, 64, 65, 3, 1, 3}, "block conv 3 -> 1 frame, 64 -> 65 channels"},
      {{2, 13, 37, 34, 1, 1, 1}, "pointwise"},
      {{2, 9, 5, 6, 1, 1, 2}, "pointwise stride 2, every other frame unread"},
      {{2, 10, 5, 6, 1, 1, 2}, "pointwise stride 2 over an even length (a view of x on the CPU)"},
      {{3, 5, 6, 7, 3, 1, 3}, "one window and 2 trailing unread frames"},
      {{1, 11, 4, 5, 3, 1, 3}, "batch 1 strided with 2 trailing unread frames"},
      {{2, 15, 6, 7, 3, 1, 2}, "overlapping strided windows, stride < K"},
      {{2, 20, 3, 4, 3, 2, 3}, "dilation 2 stride 3, overlapping"},
      {{2, 17, 3, 4, 2, 3, 5}, "dilation 3 stride 5, gaps inside and between windows"},
      {{1, 67, 8, 65, 3, 1, 1}, "65 output frames and channels: one past the tile"},
      {{1, 66, 22, 64, 3, 1, 1}, "64 output frames and channels: exactly one tile"},
      {{4, 40, 70, 130, 3, 3, 1}, "many tiles: 136 rows, 130 channels, reduction 210"},
      {{10, 102, 3, 5, 3, 1, 1}, "bwd_weight reduction of 1000 rows split over one tile"},
      {{8, 130, 4, 70, 3, 1, 1}, "bwd_weight reduction of 1024 rows split over two tiles"},
  };
  for (const ConvCase& sc : shapes) {
    const ref::ConvDims d = sc.d;
    const int64_t t_out = d.t_out();
    const std::string params = describe(d, sc.why);

    OpCase fwd = conv_forward_case(d, params);
    fwd.run = [=](const auto& in, const auto& out) {
      ops::temporal_conv_out(in[0], in[1], out[0], d.dilation, d.stride);
    };
    fwd.reference = [=](const auto& in) {
      return std::vector<ref::Vec>{ref::temporal_conv(in[0], in[1], d)};
    };
    fwd.tol = sum_tolerance(d.k * d.c_in, "each output sums K*C_in float32 products");
    fwd.forward_var = [=](const std::vector<Var>& v) {
      return ag::temporal_conv(v[0], v[1], d.dilation, d.stride);
    };
    fwd.grad_inputs = {true, true};
    // d_x sums up to K*C_out products, d_w sums B*T_out.
    fwd.grad_tol = {1e-3, 1e-4 * static_cast<double>(std::max(d.k * d.c_out, d.batch * t_out)),
                    "float32 sums of K*C_out (d_x) or B*T_out (d_w) products"};
    cases.push_back(fwd);

    OpCase bwd_data = conv_bwd_data_case(d, params, kernels::ConvMath::kFp32);
    bwd_data.tol =
        sum_tolerance(d.k * d.c_out, "each d_x element sums up to K*C_out float32 products");
    cases.push_back(bwd_data);

    OpCase bwd_weight = conv_bwd_weight_case(d, params, kernels::ConvMath::kFp32);
    bwd_weight.tol =
        sum_tolerance(d.batch * t_out, "each d_w element sums B*T_out float32 products");
    cases.push_back(bwd_weight);
  }

  // TF32 and BF16 passes (kernels/temporal_conv.h, ConvMath): the tensor-core kernels on CUDA,
  // the float32 path on rounded copies on the CPU, against the reference on the same rounded
  // inputs. The layers of the 27-, 81- and 243-frame models in both forms (training: strided
  // s = K = 3 down to one frame; inference: dilations 1, 3, 9, 27, 81) with their 34 input
  // channels and fewer hidden channels than the models' 1024 (the emulator's time), pointwise
  // layers, and odd tails: channels below one 16-channel slice, not a multiple of 4 (4-byte
  // copies) or of the 64-wide tile, rows one past a tile, many tiles; for the backward passes
  // also each bwd_data form (direct store with unread frames, the transposed convolution of
  // overlapping windows with stride > 1) and split bwd_weight reductions.
  const ConvCase tc_shapes[] = {
      {{2, 243, 34, 64, 3, 1, 3}, "243-frame model, strided input layer 243 -> 81"},
      {{2, 81, 64, 64, 3, 1, 3}, "strided block 81 -> 27"},
      {{3, 27, 64, 48, 3, 1, 3}, "strided block 27 -> 9"},
      {{4, 9, 48, 64, 3, 1, 3}, "strided block 9 -> 3"},
      {{5, 3, 64, 65, 3, 1, 3}, "strided block 3 -> 1, 65 outputs"},
      {{3, 81, 34, 40, 3, 1, 3}, "81-frame model input layer"},
      {{4, 27, 34, 37, 3, 1, 3}, "27-frame model input layer, 37 outputs"},
      {{2, 25, 9, 10, 5, 1, 5}, "strided K=5, 9 channels"},
      {{2, 11, 5, 130, 3, 1, 3}, "strided with 2 leftover frames, 5 -> 130 channels"},
      {{1, 243, 34, 32, 3, 1, 1}, "243-frame model, dilated input layer"},
      {{1, 241, 32, 32, 3, 3, 1}, "dilation 3"},
      {{1, 235, 16, 24, 3, 9, 1}, "dilation 9"},
      {{1, 217, 20, 16, 3, 27, 1}, "dilation 27, 20 channels (a partial 16-channel slice)"},
      {{2, 163, 17, 16, 3, 81, 1}, "dilation 81 to one frame, 17 channels"},
      {{2, 13, 37, 34, 1, 1, 1}, "pointwise"},
      {{2, 27, 64, 48, 1, 1, 1}, "pointwise, 16-byte copies"},
      {{1, 67, 8, 65, 3, 1, 1}, "65 output frames and channels: one past the tile"},
      {{4, 40, 70, 130, 3, 3, 1}, "many tiles: 136 rows, 130 channels, reduction 210"},
      {{2, 15, 6, 7, 3, 1, 2}, "overlapping strided windows, stride < K"},
      {{2, 17, 3, 4, 2, 3, 5}, "dilation 3 stride 5, gaps inside and between windows"},
      {{2, 9, 5, 6, 1, 1, 2}, "pointwise stride 2, every other frame unread"},
      {{10, 102, 3, 5, 3, 1, 1}, "bwd_weight reduction of 1000 rows split over one tile"},
      {{8, 130, 4, 70, 3, 1, 1}, "bwd_weight reduction of 1024 rows split over two tiles"},
      {{10, 102, 8, 16, 3, 1, 1}, "8-channel runs (BF16 staged), 1000 rows in 4 splits of 256"},
      {{2, 17, 8, 16, 2, 3, 5}, "dilation 3 stride 5 with 8-channel runs (BF16 staged)"},
  };
  // The same in the wide tile (kernels/temporal_conv.h, ConvTile::kWide: 128 x 128 outputs per
  // block), forced on for shapes that are far too small to get it by default: 16-byte copies with
  // a partial second column tile (136 outputs), tails, both bwd_data forms, split bwd_weight; and
  // channels that are not a multiple of 4, for which the forward and bwd_data fall back to the
  // narrow tile.
  const ConvCase tc_wide_shapes[] = {
      {{2, 30, 132, 136, 3, 2, 1}, "dilation 2, 132 -> 136 channels: two wide column tiles"},
      {{2, 81, 64, 64, 3, 1, 3}, "strided block 81 -> 27"},
      {{5, 3, 64, 65, 3, 1, 3}, "strided block 3 -> 1, 65 outputs"},
      {{1, 241, 32, 32, 3, 3, 1}, "dilation 3"},
      {{1, 217, 20, 16, 3, 27, 1}, "dilation 27, 20 channels (a partial 16-channel slice)"},
      {{2, 27, 64, 48, 1, 1, 1}, "pointwise, 16-byte copies"},
      {{4, 40, 70, 130, 3, 3, 1}, "many tiles: 136 rows, 130 channels, reduction 210"},
      {{2, 15, 6, 7, 3, 1, 2}, "overlapping strided windows, stride < K"},
      {{8, 130, 4, 70, 3, 1, 1}, "bwd_weight reduction of 1024 rows split over two tiles"},
      {{2, 30, 136, 136, 3, 2, 1}, "dilation 2, 136 -> 136 channels (BF16 staged), partial tiles"},
      {{10, 102, 8, 16, 3, 1, 1}, "8-channel runs (BF16 staged), 1000 rows in 4 splits of 256"},
  };
  // The Hopper tile (ConvTile::kHopper: wgmma, 128 x 128 outputs per block of two warpgroups,
  // k-tiles of 32 TF32 or 64 BF16 channels of C_in (forward) or C_out (bwd_data); bwd_weight's of
  // 32 rows of d_y and x's windows transposed (TF32), or of 64 rows read MN-major (BF16, where C_in
  // is a multiple of 64)): partial row and column tiles, two and three column tiles, several row
  // tiles, strided, dilated and pointwise, reductions of one to twelve k-tiles; bwd_data with
  // disjoint windows (stores into d_x, unread frames zeroed) and with overlapping ones at stride 1
  // (taps gathered, zeros where no output frame); bwd_weight in one split and in several (a split's
  // end inside a k-tile, k-tiles across sequences); and channels or strides it does not fit (the
  // default tile runs them).
  const ConvCase tc_hopper_shapes[] = {
      {{2, 81, 64, 64, 3, 1, 3}, "strided block 81 -> 27"},
      {{2, 30, 128, 136, 3, 2, 1}, "dilation 2, 128 -> 136 channels: two column tiles"},
      {{3, 67, 64, 260, 3, 1, 1}, "195 rows, 260 channels: 2 x 3 tiles"},
      {{2, 27, 128, 48, 1, 1, 1}, "pointwise"},
      {{1, 235, 64, 40, 3, 9, 1}, "dilation 9, 217 rows"},
      {{2, 20, 32, 40, 3, 1, 3}, "32 channels: TF32's k-tile (BF16 runs the default tile)"},
      {{2, 30, 96, 70, 3, 3, 1}, "96 channels: three TF32 k-tiles per tap"},
      {{2, 30, 136, 128, 3, 2, 1}, "bwd_data dilation 2 into 136 channels: two column tiles"},
      {{3, 67, 260, 64, 3, 1, 1}, "bwd_data of 201 frames into 260 channels"},
      {{2, 27, 48, 128, 1, 1, 1}, "pointwise bwd_data, 48 columns"},
      {{1, 235, 40, 64, 3, 9, 1}, "bwd_data dilation 9: zeros at both ends"},
      {{2, 25, 34, 96, 3, 1, 3}, "expanding layer: bwd_data's 102 columns (TF32 only)"},
      {{2, 17, 64, 64, 3, 1, 5}, "stride 5: disjoint windows, unread frames zeroed"},
      {{2, 15, 32, 64, 3, 1, 2}, "overlapping windows at stride 2: the default tile"},
      {{4, 152, 64, 40, 3, 1, 1}, "bwd_weight's 600 rows in 3 splits of 224"},
      {{20, 93, 64, 72, 3, 1, 3}, "strided, bwd_weight's 620 rows of 31-frame sequences split"},
      {{70, 3, 64, 64, 3, 1, 3}, "one output frame per sequence, 70 of them"},
      {{6, 40, 64, 48, 3, 2, 1}, "dilated, 64-row k-tiles over 36-frame sequences"},
  };
  struct TileGroup {
    kernels::ConvTile tile;
    const char* suffix;
    const ConvCase* begin;
    const ConvCase* end;
  };
  const TileGroup groups[] = {
      {kernels::ConvTile::kDefault, "", std::begin(tc_shapes), std::end(tc_shapes)},
      {kernels::ConvTile::kWide, " tile=wide", std::begin(tc_wide_shapes),
       std::end(tc_wide_shapes)},
      {kernels::ConvTile::kHopper, " tile=hopper", std::begin(tc_hopper_shapes),
       std::end(tc_hopper_shapes)}};
  for (const TileGroup& group : groups) {
    for (const kernels::ConvMath math : {kernels::ConvMath::kTf32, kernels::ConvMath::kBf16}) {
      tc_cases(cases, group.begin, group.end, math, group.tile, group.suffix);
    }
  }

  // The forward's prepared weights (ops::temporal_conv_weights): tap-major, rounded as the math
  // rounds operands, bit for bit on every backend; widened for the comparison in BF16.
  const int64_t weight_sizes[][3] = {{37, 34, 3}, {64, 64, 1}, {24, 16, 5}, {5, 130, 7}};
  for (const auto& sz : weight_sizes) {
    for (const kernels::ConvMath math :
         {kernels::ConvMath::kFp32, kernels::ConvMath::kTf32, kernels::ConvMath::kBf16}) {
      const int64_t c_out = sz[0], c_in = sz[1], k = sz[2];
      OpCase c;
      c.op = "temporal_conv_weights";
      c.params = "c_out=" + std::to_string(c_out) + " c_in=" + std::to_string(c_in) +
                 " k=" + std::to_string(k) +
                 (math == kernels::ConvMath::kFp32   ? " math=fp32"
                  : math == kernels::ConvMath::kTf32 ? " math=tf32"
                                                     : " math=bf16");
      const Shape ws{c_out, c_in, k};
      c.make_inputs = [ws](Rng& r) {
        return std::vector<Input>{{ws, random_normal(r, ws.numel())}};
      };
      c.outputs = {Shape{c_out, k, c_in}};
      c.run = [math](const auto& in, const auto& out) {
        const Tensor p = ops::temporal_conv_weights(in[0], math);
        if (p.dtype() == DType::kBF16) {
          ops::from_bf16_out(p, out[0]);
        } else {
          out[0].copy_from(p);
        }
      };
      c.reference = [=](const auto& in) {
        ref::Vec y(static_cast<size_t>(c_out * k * c_in));
        for (int64_t co = 0; co < c_out; ++co)
          for (int64_t tap = 0; tap < k; ++tap)
            for (int64_t ci = 0; ci < c_in; ++ci)
              y[static_cast<size_t>((co * k + tap) * c_in + ci)] =
                  in[0][static_cast<size_t>((co * c_in + ci) * k + tap)];
        return std::vector<ref::Vec>{rounded(y, math)};
      };
      c.tol = {0.0, 0.0, "a permutation, rounded as the kernels round their operands"};
      c.bitwise_across_backends = true;
      kernels::TemporalConvWeightsArgs a;
      a.c_out = c_out;
      a.c_in = c_in;
      a.k = k;
      a.math = math;
      c.bytes = a.bytes();
      cases.push_back(c);
    }
  }

  // The CPU forward's Winograd F(4, 3) path (kernels/temporal_conv.h), forced on for these shapes
  // (by default it runs only from 128 channels); the other backends run their usual kernels. Every
  // dilation of the models, residue chains that are and are not multiples of the 4-frame tile
  // (partial tiles, chains shorter than one tile), batch 1 and 2. Same tolerance as the direct
  // path: the transforms' points 0, +-1, +-2 grow the rounding error 4-5x over the direct sum
  // (measured: at most 0.21 of this bound, tests/kernels/temporal_conv_winograd_test.cpp).
  const ConvCase winograd_shapes[] = {
      {{1, 10, 34, 64, 3, 1, 1}, "Winograd: 8 frames, two whole tiles, batch 1"},
      {{2, 13, 34, 64, 3, 1, 1}, "Winograd: 11 frames, a partial last tile"},
      {{2, 30, 64, 65, 3, 3, 1}, "Winograd: dilation 3, chains of 8"},
      {{1, 37, 64, 65, 3, 3, 1}, "Winograd: dilation 3, chains of 11 and 10"},
      {{2, 54, 34, 64, 3, 9, 1}, "Winograd: dilation 9, chains of 4"},
      {{1, 68, 64, 65, 3, 9, 1}, "Winograd: dilation 9, chains of 6 and 5"},
      {{1, 162, 34, 64, 3, 27, 1}, "Winograd: dilation 27, chains of 4"},
      {{2, 114, 64, 65, 3, 27, 1}, "Winograd: dilation 27, chains of 3 and 2 (partial only)"},
      {{1, 502, 34, 64, 3, 81, 1}, "Winograd: dilation 81, chains of 5 and 4"},
  };
  for (const ConvCase& sc : winograd_shapes) {
    const ref::ConvDims d = sc.d;
    OpCase fwd = conv_forward_case(d, describe(d, sc.why));
    fwd.run = [=](const auto& in, const auto& out) {
      const kernels::cpu::TemporalConvAlgoGuard winograd(kernels::cpu::TemporalConvAlgo::kWinograd);
      ops::temporal_conv_out(in[0], in[1], out[0], d.dilation, d.stride);
    };
    fwd.reference = [=](const auto& in) {
      return std::vector<ref::Vec>{ref::temporal_conv(in[0], in[1], d)};
    };
    fwd.tol = sum_tolerance(d.k * d.c_in, "each output sums K*C_in float32 products");
    cases.push_back(fwd);
  }

  // The cuBLASLt backend (kernels/temporal_conv_lt.h) on every shape above: each plan form (one
  // GEMM over evenly spaced rows, a batch over uneven ones, per-tap GEMMs, zeroed gaps and tails,
  // per-sequence bwd_weight sums). The CPU has one backend and ignores the choice.
  const auto on_lt = [](auto run) {
    return [run](const auto& in, const auto& out) {
      const ops::ConvBackendGuard lt(ops::ConvBackendChoice::kCublasLt);
      run(in, out);
    };
  };
  for (const ConvCase& sc : shapes) {
    const ref::ConvDims d = sc.d;
    const std::string params = describe(d, sc.why) + " backend=cublaslt";
    const Shape x_shape{d.batch, d.t_in, d.c_in}, w_shape{d.c_out, d.c_in, d.k},
        y_shape{d.batch, d.t_out(), d.c_out};
    OpCase fwd = conv_forward_case(d, params);
    fwd.run = on_lt([=](const auto& in, const auto& out) {
      ops::temporal_conv_out(in[0], in[1], out[0], d.dilation, d.stride);
    });
    fwd.reference = [=](const auto& in) {
      return std::vector<ref::Vec>{ref::temporal_conv(in[0], in[1], d)};
    };
    fwd.tol = sum_tolerance(d.k * d.c_in, "each output sums K*C_in float32 products");
    cases.push_back(fwd);

    OpCase bwd_data = fwd;
    bwd_data.op = "temporal_conv_bwd_data";
    bwd_data.make_inputs = [=](Rng& r) {
      return std::vector<Input>{{y_shape, random_normal(r, y_shape.numel())},
                                {w_shape, random_normal(r, w_shape.numel())}};
    };
    bwd_data.outputs = {x_shape};
    bwd_data.run = on_lt([=](const auto& in, const auto& out) {
      ops::temporal_conv_bwd_data_out(in[0], in[1], out[0], d.dilation, d.stride);
    });
    bwd_data.reference = [=](const auto& in) {
      return std::vector<ref::Vec>{ref::temporal_conv_bwd_data(in[0], in[1], d)};
    };
    bwd_data.tol =
        sum_tolerance(d.k * d.c_out, "each d_x element sums up to K*C_out float32 products");
    cases.push_back(bwd_data);

    OpCase bwd_weight = fwd;
    bwd_weight.op = "temporal_conv_bwd_weight";
    bwd_weight.make_inputs = [=](Rng& r) {
      return std::vector<Input>{{x_shape, random_normal(r, x_shape.numel())},
                                {y_shape, random_normal(r, y_shape.numel())}};
    };
    bwd_weight.outputs = {w_shape};
    bwd_weight.run = on_lt([=](const auto& in, const auto& out) {
      ops::temporal_conv_bwd_weight_out(in[0], in[1], out[0], d.dilation, d.stride);
    });
    bwd_weight.reference = [=](const auto& in) {
      return std::vector<ref::Vec>{ref::temporal_conv_bwd_weight(in[0], in[1], d)};
    };
    bwd_weight.tol =
        sum_tolerance(d.batch * d.t_out(), "each d_w element sums B*T_out float32 products");
    cases.push_back(bwd_weight);
  }
  // The fused epilogue (bias, ReLU, a residual slice of a longer tensor) on each backend and
  // arithmetic: the dilated inference block's forms and odd tails.
  struct EpilogueCase {
    ref::ConvDims d;
    int64_t t_res, offset;
    kernels::ConvMath math;
    bool lt;
    const char* why;
    kernels::ConvTile tile = kernels::ConvTile::kDefault;
  };
  const EpilogueCase epilogue_shapes[] = {
      {{2, 40, 48, 48, 3, 9, 1}, 44, 11, kernels::ConvMath::kFp32, false, "dilated block conv"},
      {{3, 20, 70, 65, 1, 1, 1}, 25, 5, kernels::ConvMath::kFp32, false, "1x1, 65 channels"},
      {{2, 27, 34, 64, 3, 1, 3}, 9, 0, kernels::ConvMath::kFp32, false, "strided"},
      {{1, 235, 16, 24, 3, 9, 1}, 230, 9, kernels::ConvMath::kTf32, false, "tensor cores tf32"},
      {{2, 27, 64, 48, 1, 1, 1}, 30, 3, kernels::ConvMath::kBf16, false, "tensor cores bf16"},
      {{2, 40, 48, 48, 3, 9, 1}, 44, 11, kernels::ConvMath::kFp32, true, "cuBLASLt dilated"},
      {{2, 25, 9, 10, 5, 1, 5}, 5, 0, kernels::ConvMath::kFp32, true, "cuBLASLt strided K=5"},
      {{2, 40, 64, 130, 3, 9, 1},
       44,
       11,
       kernels::ConvMath::kTf32,
       false,
       "tensor cores tf32, tile=hopper",
       kernels::ConvTile::kHopper},
      {{2, 27, 128, 48, 1, 1, 1},
       30,
       3,
       kernels::ConvMath::kBf16,
       false,
       "tensor cores bf16, tile=hopper",
       kernels::ConvTile::kHopper},
  };
  for (const EpilogueCase& ec : epilogue_shapes) {
    const ref::ConvDims d = ec.d;
    const int64_t t_out = d.t_out(), t_res = ec.t_res, offset = ec.offset;
    const kernels::ConvMath math = ec.math;
    const bool lt = ec.lt;
    const kernels::ConvTile tile = ec.tile;
    const Shape x_shape{d.batch, d.t_in, d.c_in}, w_shape{d.c_out, d.c_in, d.k},
        r_shape{d.batch, t_res, d.c_out};
    OpCase fwd = conv_forward_case(
        d, describe(d, ec.why) + " epilogue bias+relu+residual" + (lt ? " backend=cublaslt" : ""));
    fwd.make_inputs = [=](Rng& r) {
      return std::vector<Input>{{x_shape, random_normal(r, x_shape.numel())},
                                {w_shape, random_normal(r, w_shape.numel())},
                                {Shape{d.c_out}, random_normal(r, d.c_out)},
                                {r_shape, random_normal(r, r_shape.numel())}};
    };
    fwd.run = [=](const auto& in, const auto& out) {
      const ops::ConvBackendGuard backend(lt ? ops::ConvBackendChoice::kCublasLt
                                             : ops::ConvBackendChoice::kV3d);
      const ops::ConvTileGuard tile_guard(tile);
      ops::ConvEpilogueTensors e;
      e.bias = in[2];
      e.relu = true;
      e.residual = in[3];
      e.residual_offset = offset;
      ops::temporal_conv_out(in[0], in[1], out[0], d.dilation, d.stride, nullptr, math, &e);
    };
    fwd.reference = [=](const auto& in) {
      const auto round = [math](ref::Vec v) {
        if (math == kernels::ConvMath::kFp32) return v;
        for (double& e : v) {
          const auto f = static_cast<float>(e);
          e = math == kernels::ConvMath::kBf16 ? kernels::round_bf16(f) : kernels::round_tf32(f);
        }
        return v;
      };
      ref::Vec y = ref::temporal_conv(round(in[0]), round(in[1]), d);
      for (int64_t b = 0; b < d.batch; ++b)
        for (int64_t t = 0; t < t_out; ++t)
          for (int64_t co = 0; co < d.c_out; ++co) {
            double& v = y[static_cast<size_t>((b * t_out + t) * d.c_out + co)];
            v = std::max(v + in[2][static_cast<size_t>(co)], 0.0) +
                in[3][static_cast<size_t>((b * t_res + offset + t) * d.c_out + co)];
          }
      return std::vector<ref::Vec>{y};
    };
    // The convolution's bound (tensor-core sums for TF32/BF16); the epilogue adds two rounded
    // additions, within 1e-5 relative of the result.
    fwd.tol = {1e-5,
               (math == kernels::ConvMath::kFp32 ? 2e-6 : 4e-6) * static_cast<double>(d.k * d.c_in),
               "the convolution's float32 sum, then bias, ReLU and residual in float32"};
    cases.push_back(fwd);
    // The same with the output in BF16 (the epilogue's y_bf16 in our CUDA kernels; converted
    // after cuBLASLt and on the CPU), widened back for the comparison.
    OpCase fwd16 = fwd;
    fwd16.params += " output=bf16";
    fwd16.run = [=, run = fwd.run](const auto& in, const auto& out) {
      const Tensor y16 = Tensor::empty(out[0].shape(), DType::kBF16, out[0].device());
      run(in, std::vector<Tensor>{y16});
      ops::from_bf16_out(y16, out[0]);
    };
    fwd16.reference = [=, reference = fwd.reference](const auto& in) {
      std::vector<ref::Vec> y = reference(in);
      for (double& v : y[0]) v = kernels::round_bf16(static_cast<float>(v));
      return y;
    };
    fwd16.tol = {1.0 / 128, fwd.tol.atol,
                 "the float32 result's bound, then its rounding to BF16: one BF16 step (2^-7 "
                 "relative) where it lies next to a rounding boundary"};
    cases.push_back(fwd16);
  }

  // Its TF32 forward (CUBLAS_COMPUTE_32F_FAST_TF32) against the float32 reference: cuBLAS does not
  // document its rounding to TF32, so the bound is the one any rounding of both operands to 10
  // mantissa bits keeps: each product off by at most 2 * 2^-10 of |x||w| (E|x||w| = 2/pi for
  // N(0, 1) values, bounded here by 1 per term).
  const ConvCase lt_tf32_shapes[] = {
      {{2, 81, 64, 64, 3, 1, 3}, "strided block 81 -> 27"},
      {{1, 235, 16, 24, 3, 9, 1}, "dilation 9"},
      {{2, 13, 37, 34, 1, 1, 1}, "pointwise"},
  };
  for (const ConvCase& sc : lt_tf32_shapes) {
    const ref::ConvDims d = sc.d;
    OpCase fwd = conv_forward_case(d, describe(d, sc.why) + " backend=cublaslt math=tf32");
    fwd.run = on_lt([=](const auto& in, const auto& out) {
      ops::temporal_conv_out(in[0], in[1], out[0], d.dilation, d.stride, nullptr,
                             kernels::ConvMath::kTf32);
    });
    fwd.reference = [=](const auto& in) {
      return std::vector<ref::Vec>{ref::temporal_conv(in[0], in[1], d)};
    };
    fwd.tol = {1e-5, 2e-3 * static_cast<double>(d.k * d.c_in),
               "TF32 operands however cuBLAS rounds them: up to 2^-9 of |x||w| per product"};
    cases.push_back(fwd);
    // And in BF16 (CUBLAS_COMPUTE_32F_FAST_16BF): 7 stored mantissa bits, up to 2^-7 of |x||w|.
    OpCase bf16 = conv_forward_case(d, describe(d, sc.why) + " backend=cublaslt math=bf16");
    bf16.run = on_lt([=](const auto& in, const auto& out) {
      ops::temporal_conv_out(in[0], in[1], out[0], d.dilation, d.stride, nullptr,
                             kernels::ConvMath::kBf16);
    });
    bf16.reference = fwd.reference;
    bf16.tol = {1e-5, 8e-3 * static_cast<double>(d.k * d.c_in),
                "BF16 operands however cuBLAS rounds them: up to 2^-7 of |x||w| per product"};
    cases.push_back(bf16);
  }
}

}  // namespace v3d::harness
