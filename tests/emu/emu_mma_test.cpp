// The tensor-core wrappers (kernels/cuda/mma.cuh) against hand-worked expectations: fragment
// layouts as the PTX ISA states them (mma.m16n8k8 tf32, mma.m16n8k16 bf16), whole tiles against a
// double reference on inputs rounded the same way, the TF32 and BF16 conversions against bit
// patterns worked out by hand (ties, NaN, Inf, subnormals), and cp.async's landing semantics.
// Compiled twice like emu_kernels_test.cpp: the emulated copy (label emu) and, with
// V3D_EMUTEST_CUDA=1, the nvcc copy on a real device; the misuse tests are the emulator's only.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kernels/common.h"
#include "kernels/float_round.h"
#include "kernels/gpu/compat.h"
#include "tests/emu/emutest_kernels.h"
#if !V3D_EMUTEST_CUDA
#include "tests/emu/fault_util.h"
#endif

namespace v3d::emutest {
namespace {

using kernels::bits_to_float;
using kernels::float_bits;

class TensorCores : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* error = "";
    if (dev::device_count(&error) == 0) GTEST_SKIP() << "no CUDA device: " << error;
  }
};

struct Pos {
  unsigned row, col;
};

// The PTX ISA's fragment layouts, written out from its tables (groupID g = lane >> 2,
// threadID_in_group t = lane % 4).
Pos tf32_a(unsigned lane, unsigned i) {
  const unsigned g = lane >> 2, t = lane & 3u;
  return {g + 8 * (i & 1u), t + 4 * (i >> 1)};  // a0 (g,t) a1 (g+8,t) a2 (g,t+4) a3 (g+8,t+4)
}
Pos tf32_b(unsigned lane, unsigned i) {
  const unsigned g = lane >> 2, t = lane & 3u;
  return {t + 4 * i, g};  // b0 (t,g) b1 (t+4,g)
}
// bf16 A element e = 0..7 (register e / 2, low half for even e).
Pos bf16_a(unsigned lane, unsigned e) {
  const unsigned g = lane >> 2, t = lane & 3u;
  const bool upper_row = e == 2 || e == 3 || e == 6 || e == 7;
  return {upper_row ? g + 8 : g, 2 * t + (e & 1u) + (e >= 4 ? 8 : 0)};
}
// bf16 B element e = 0..3.
Pos bf16_b(unsigned lane, unsigned e) {
  const unsigned g = lane >> 2, t = lane & 3u;
  return {2 * t + (e & 1u) + (e >= 2 ? 8 : 0), g};
}
Pos acc(unsigned lane, unsigned i) {
  const unsigned g = lane >> 2, t = lane & 3u;
  return {i < 2 ? g : g + 8, 2 * t + (i & 1u)};  // c0 (g,2t) c1 (g,2t+1) c2 (g+8,2t) c3
}

uint32_t bf16_pair(float lo, float hi) {
  return static_cast<uint32_t>(kernels::bf16_bits(lo)) |
         (static_cast<uint32_t>(kernels::bf16_bits(hi)) << 16);
}

// Registers of one warp: 6 per lane (a0..a3, b0, b1).
using Regs = std::vector<uint32_t>;

// The 16 x 8 result a warp's d registers hold.
std::vector<float> gather_d(const std::vector<float>& d) {
  std::vector<float> m(16 * 8, NAN);
  for (unsigned lane = 0; lane < 32; ++lane) {
    for (unsigned i = 0; i < 4; ++i) {
      const Pos p = acc(lane, i);
      m[p.row * 8 + p.col] = d[lane * 4 + i];
    }
  }
  return m;
}

// One warp's MMA with zero C; each d register must be 1 where one(lane, i) says, else 0.
template <class One>
void expect_one_hot(bool bf16, const Regs& r, One one) {
  const std::vector<float> d = dev::mma_registers(bf16, r, std::vector<float>(32 * 4, 0.0f));
  for (unsigned lane = 0; lane < 32; ++lane) {
    for (unsigned i = 0; i < 4; ++i) {
      EXPECT_EQ(d[lane * 4 + i], one(lane, i) ? 1.0f : 0.0f) << "lane " << lane << " d" << i;
    }
  }
}

// One-hot cases worked by hand from the tables.
TEST_F(TensorCores, Tf32OneHotRegistersLandWhereTheIsaSays) {
  // Lane 5 (g = 1, t = 1), a2 = 1 is A(1, 5); B all ones: D row 1 is all ones, held by lanes
  // 4-7 in d0 and d1.
  Regs r(32 * 6, 0);
  for (unsigned lane = 0; lane < 32; ++lane) r[lane * 6 + 4] = r[lane * 6 + 5] = 0x3F800000u;
  r[5 * 6 + 2] = 0x3F800000u;
  expect_one_hot(false, r,
                 [](unsigned lane, unsigned i) { return lane >= 4 && lane < 8 && i < 2; });
  // Lane 9 (g = 2, t = 1), b1 = 1 is B(5, 2); A all ones: D column 2 is all ones, held by the
  // lanes with t = 1 in d0 (rows 0-7) and d2 (rows 8-15).
  r.assign(32 * 6, 0);
  for (unsigned lane = 0; lane < 32; ++lane) {
    for (unsigned i = 0; i < 4; ++i) r[lane * 6 + i] = 0x3F800000u;
  }
  r[9 * 6 + 5] = 0x3F800000u;
  expect_one_hot(false, r,
                 [](unsigned lane, unsigned i) { return lane % 4 == 1 && (i == 0 || i == 2); });
}

TEST_F(TensorCores, Bf16OneHotRegistersLandWhereTheIsaSays) {
  const uint32_t ones = bf16_pair(1.0f, 1.0f);
  // Lane 6 (g = 1, t = 2), high half of a2 is element a5: A(1, 2*2 + 1 + 8) = A(1, 13). B all
  // ones: D row 1 is ones, lanes 4-7 d0 and d1.
  Regs r(32 * 6, 0);
  for (unsigned lane = 0; lane < 32; ++lane) r[lane * 6 + 4] = r[lane * 6 + 5] = ones;
  r[6 * 6 + 2] = bf16_pair(0.0f, 1.0f);
  expect_one_hot(true, r, [](unsigned lane, unsigned i) { return lane >= 4 && lane < 8 && i < 2; });
  // Lane 13 (g = 3, t = 1), low half of b1 is element b2: B(2*1 + 8, 3) = B(10, 3). A all ones:
  // D column 3 (= 2t + 1 for t = 1) is ones: lanes with t = 1, d1 and d3.
  r.assign(32 * 6, 0);
  for (unsigned lane = 0; lane < 32; ++lane) {
    for (unsigned i = 0; i < 4; ++i) r[lane * 6 + i] = ones;
  }
  r[13 * 6 + 5] = bf16_pair(1.0f, 0.0f);
  expect_one_hot(true, r,
                 [](unsigned lane, unsigned i) { return lane % 4 == 1 && (i == 1 || i == 3); });
}

// Every register at once: A or B holds distinct small integers (exact in both formats) and the
// other operand selects with an identity, so D shows where each register went.
TEST_F(TensorCores, Tf32EveryRegisterOfAAndB) {
  // D = A I: D(r, c) = A(r, c).
  Regs r(32 * 6, 0);
  std::vector<float> a(16 * 8, 0.0f);
  for (unsigned lane = 0; lane < 32; ++lane) {
    for (unsigned i = 0; i < 4; ++i) {
      const float v = static_cast<float>(lane * 4 + i + 1);
      r[lane * 6 + i] = float_bits(v);
      a[tf32_a(lane, i).row * 8 + tf32_a(lane, i).col] = v;
    }
    for (unsigned i = 0; i < 2; ++i) {
      const Pos p = tf32_b(lane, i);
      r[lane * 6 + 4 + i] = float_bits(p.row == p.col ? 1.0f : 0.0f);
    }
  }
  EXPECT_EQ(gather_d(dev::mma_registers(false, r, std::vector<float>(32 * 4, 0.0f))), a);
  // D = I' B with I'(r, k) = (r % 8 == k): D(r, c) = B(r % 8, c).
  std::vector<float> b(8 * 8, 0.0f);
  for (unsigned lane = 0; lane < 32; ++lane) {
    for (unsigned i = 0; i < 4; ++i) {
      const Pos p = tf32_a(lane, i);
      r[lane * 6 + i] = float_bits(p.row % 8 == p.col ? 1.0f : 0.0f);
    }
    for (unsigned i = 0; i < 2; ++i) {
      const float v = static_cast<float>(lane * 2 + i + 1);
      r[lane * 6 + 4 + i] = float_bits(v);
      b[tf32_b(lane, i).row * 8 + tf32_b(lane, i).col] = v;
    }
  }
  const std::vector<float> d = gather_d(dev::mma_registers(false, r, std::vector<float>(128, 0)));
  for (unsigned row = 0; row < 16; ++row) {
    for (unsigned col = 0; col < 8; ++col) {
      EXPECT_EQ(d[row * 8 + col], b[(row % 8) * 8 + col]) << row << "," << col;
    }
  }
}

TEST_F(TensorCores, Bf16EveryRegisterOfAAndB) {
  // A holds 1..256; B selects column c + 8h of A: D(r, c) = A(r, c + 8h), h = 0, 1.
  std::vector<float> a(16 * 16, 0.0f);
  for (unsigned half = 0; half < 2; ++half) {
    Regs r(32 * 6, 0);
    for (unsigned lane = 0; lane < 32; ++lane) {
      float e[8];
      for (unsigned i = 0; i < 8; ++i) {
        e[i] = static_cast<float>(lane * 8 + i + 1);
        a[bf16_a(lane, i).row * 16 + bf16_a(lane, i).col] = e[i];
      }
      for (unsigned j = 0; j < 4; ++j) r[lane * 6 + j] = bf16_pair(e[2 * j], e[2 * j + 1]);
      float s[4];
      for (unsigned i = 0; i < 4; ++i) {
        const Pos p = bf16_b(lane, i);
        s[i] = p.row == p.col + 8 * half ? 1.0f : 0.0f;
      }
      r[lane * 6 + 4] = bf16_pair(s[0], s[1]);
      r[lane * 6 + 5] = bf16_pair(s[2], s[3]);
    }
    const std::vector<float> d = gather_d(dev::mma_registers(true, r, std::vector<float>(128, 0)));
    for (unsigned row = 0; row < 16; ++row) {
      for (unsigned col = 0; col < 8; ++col) {
        EXPECT_EQ(d[row * 8 + col], a[row * 16 + col + 8 * half]) << row << "," << col;
      }
    }
  }
  // B holds 1..128; A = I (16 x 16): D(r, c) = B(r, c).
  Regs r(32 * 6, 0);
  std::vector<float> b(16 * 8, 0.0f);
  for (unsigned lane = 0; lane < 32; ++lane) {
    float e[8], s[4];
    for (unsigned i = 0; i < 8; ++i) {
      const Pos p = bf16_a(lane, i);
      e[i] = p.row == p.col ? 1.0f : 0.0f;
    }
    for (unsigned j = 0; j < 4; ++j) r[lane * 6 + j] = bf16_pair(e[2 * j], e[2 * j + 1]);
    for (unsigned i = 0; i < 4; ++i) {
      s[i] = static_cast<float>(lane * 4 + i + 1);
      b[bf16_b(lane, i).row * 8 + bf16_b(lane, i).col] = s[i];
    }
    r[lane * 6 + 4] = bf16_pair(s[0], s[1]);
    r[lane * 6 + 5] = bf16_pair(s[2], s[3]);
  }
  EXPECT_EQ(gather_d(dev::mma_registers(true, r, std::vector<float>(128, 0))), b);
}

TEST_F(TensorCores, AccumulatorIsAddedInPlace) {
  std::vector<float> c(32 * 4);
  for (size_t i = 0; i < c.size(); ++i) c[i] = 0.25f * static_cast<float>(i) - 3.0f;
  EXPECT_EQ(dev::mma_registers(false, Regs(32 * 6, 0), c), c);
  EXPECT_EQ(dev::mma_registers(true, Regs(32 * 6, 0), c), c);
}

// D = A B + C on random tiles against a double reference on the inputs rounded as the device
// rounds them. The products are exact; the emulator rounds the exact sum once, hardware sums in
// its own order, so the bound is a few float32 ulps of the sum of |terms|.
void check_tile(bool bf16, uint32_t seed) {
  const unsigned K = bf16 ? 16 : 8;
  std::mt19937 rng(seed);
  std::normal_distribution<float> n01(0.0f, 1.0f);
  std::vector<float> a(16 * K), b(K * 8), c(16 * 8);
  for (float& v : a) v = n01(rng);
  for (float& v : b) v = n01(rng);
  for (float& v : c) v = n01(rng);
  const auto round = [bf16](float v) {
    return static_cast<double>(bf16 ? kernels::round_bf16(v) : kernels::round_tf32(v));
  };
  const std::vector<float> d = dev::mma_tile(bf16, a, b, c);
  for (unsigned row = 0; row < 16; ++row) {
    for (unsigned col = 0; col < 8; ++col) {
      double want = c[row * 8 + col], mag = std::fabs(want);
      for (unsigned k = 0; k < K; ++k) {
        const double term = round(a[row * K + k]) * round(b[k * 8 + col]);
        want += term;
        mag += std::fabs(term);
      }
      EXPECT_NEAR(d[row * 8 + col], want, (K + 2) * std::ldexp(mag, -24))
          << (bf16 ? "bf16" : "tf32") << " D(" << row << ", " << col << ")";
    }
  }
}

TEST_F(TensorCores, Tf32TileMatchesDoubleReferenceOnRoundedInputs) {
  for (uint32_t seed = 1; seed <= 4; ++seed) check_tile(false, seed);
}

TEST_F(TensorCores, Bf16TileMatchesDoubleReferenceOnRoundedInputs) {
  for (uint32_t seed = 1; seed <= 4; ++seed) check_tile(true, seed);
}

// Bit patterns worked out by hand. TF32 keeps the upper 19 bits, rounding to nearest with ties
// away from zero; BF16 keeps the upper 16, ties to even.
struct Tf32Case {
  uint32_t in, out;
  const char* what;
};
const Tf32Case kTf32Cases[] = {
    {0x3F800000u, 0x3F800000u, "1.0 exact"},
    {0x3F800FFFu, 0x3F800000u, "just below half an ulp: down"},
    {0x3F801000u, 0x3F800000u, "tie with even kept part: stays (ties away would go up)"},
    {0x3F803000u, 0x3F804000u, "tie with odd kept part: up to even"},
    {0xBF801000u, 0xBF800000u, "negative tie to even"},
    {0xBF803000u, 0xBF804000u, "negative tie, odd kept part: away from zero to even"},
    {0x3F801001u, 0x3F802000u, "above half: up"},
    {0x3FFFF000u, 0x40000000u, "tie with odd kept part carries into the exponent"},
    {0x7F7FEFFFu, 0x7F7FE000u, "largest finite TF32"},
    {0x7F7FF000u, 0x7F800000u, "tie past the largest finite: Inf"},
    {0x7F800000u, 0x7F800000u, "+Inf"},
    {0xFF800000u, 0xFF800000u, "-Inf"},
    {0x7FC00000u, 0x7FFFE000u, "quiet NaN: canonical (as an H200 gives it)"},
    {0xFFC00000u, 0x7FFFE000u, "negative quiet NaN: canonical"},
    {0x7F800001u, 0x7FFFE000u, "signalling NaN, payload only in the dropped bits: canonical"},
    {0xFF801FFFu, 0x7FFFE000u, "negative NaN, payload in the dropped bits: canonical"},
    {0x80000000u, 0x80000000u, "-0"},
    {0x00001000u, 0x00000000u, "subnormal tie to even: 0"},
    {0x00003000u, 0x00004000u, "subnormal tie to even: up"},
    {0x00000FFFu, 0x00000000u, "smallest subnormals round to 0"},
    {0x007FF000u, 0x00800000u, "largest subnormals round up to the smallest normal"},
    {0x80001000u, 0x80000000u, "negative subnormal tie to even: -0"},
};

struct Bf16Case {
  uint32_t in;
  uint16_t out;
  const char* what;
};
const Bf16Case kBf16Cases[] = {
    {0x3F800000u, 0x3F80u, "1.0 exact"},
    {0x3F808000u, 0x3F80u, "tie, even kept part: stays"},
    {0x3F818000u, 0x3F82u, "tie, odd kept part: to even (up)"},
    {0xBF818000u, 0xBF82u, "negative tie to even"},
    {0x3F808001u, 0x3F81u, "above half: up"},
    {0x3F807FFFu, 0x3F80u, "below half: down"},
    {0x3FFF8000u, 0x4000u, "tie with odd part carries into the exponent"},
    {0x7F7F7FFFu, 0x7F7Fu, "largest finite BF16"},
    {0x7F7F8000u, 0x7F80u, "tie past the largest finite: Inf"},
    {0x7F800000u, 0x7F80u, "+Inf"},
    {0xFF800000u, 0xFF80u, "-Inf"},
    {0x7FC00000u, 0x7FFFu, "NaN: canonical"},
    {0xFFC00001u, 0x7FFFu, "negative NaN with a payload: canonical"},
    {0x80000000u, 0x8000u, "-0"},
    {0x00008000u, 0x0000u, "subnormal tie to even: 0"},
    {0x00018000u, 0x0002u, "subnormal tie to even: up"},
    {0x00008001u, 0x0001u, "subnormal above half"},
    {0x007FFFFFu, 0x0080u, "largest subnormal rounds up to the smallest normal"},
};

TEST(FloatRound, Tf32BitPatterns) {
  for (const Tf32Case& c : kTf32Cases) {
    EXPECT_EQ(kernels::tf32_bits(bits_to_float(c.in)), c.out) << c.what;
  }
  for (const uint32_t nan : {0x7FBFFFFFu, 0x7FFFFFFFu, 0xFFFFFFFFu}) {
    EXPECT_EQ(kernels::tf32_bits(bits_to_float(nan)), 0x7FFFE000u) << std::hex << nan;
  }
}

TEST(FloatRound, Bf16BitPatterns) {
  for (const Bf16Case& c : kBf16Cases) {
    EXPECT_EQ(kernels::bf16_bits(bits_to_float(c.in)), c.out) << c.what;
  }
  for (const uint32_t nan : {0x7F800001u, 0xFF800001u, 0x7FFFFFFFu}) {
    EXPECT_EQ(kernels::bf16_bits(bits_to_float(nan)), 0x7FFFu) << std::hex << nan;
  }
  EXPECT_EQ(kernels::round_bf16(1.00390625f), 1.0f);  // 1 + 2^-8: a tie, to even
}

// The device's conversions give the same bits (on a GPU: the PTX cvt instructions).
TEST_F(TensorCores, DeviceConversionsMatchTheBitPatterns) {
  std::vector<float> x, y;
  for (const Tf32Case& c : kTf32Cases) {
    x.push_back(bits_to_float(c.in));
    y.push_back(1.0f);
  }
  for (const Bf16Case& c : kBf16Cases) {
    x.push_back(2.0f);
    y.push_back(bits_to_float(c.in));
  }
  const std::vector<uint32_t> out = dev::convert_tf32_bf16(x, y);
  const size_t n = x.size();
  ASSERT_EQ(out.size(), 2 * n);
  size_t i = 0;
  for (const Tf32Case& c : kTf32Cases) {
    EXPECT_EQ(out[i], c.out) << "tf32: " << c.what;
    EXPECT_EQ(out[n + i] >> 16, 0x3F80u) << "bf16 high half: 1.0";
    ++i;
  }
  for (const Bf16Case& c : kBf16Cases) {
    EXPECT_EQ(out[n + i] >> 16, c.out) << "bf16 high half: " << c.what;
    EXPECT_EQ(out[n + i] & 0xFFFFu, 0x4000u) << "bf16 low half: 2.0";
    ++i;
  }
}

TEST_F(TensorCores, CpAsyncCopiesAndZeroFills) {
  for (const int bytes : {4, 8, 16}) {
    const int floats = bytes / 4;
    std::vector<float> in(32 * static_cast<size_t>(floats));
    for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i) + 0.5f;
    for (int src_bytes = 0; src_bytes <= bytes; src_bytes += 4) {
      const std::vector<float> out = dev::cp_async_roundtrip(in, bytes, src_bytes);
      for (size_t i = 0; i < in.size(); ++i) {
        const bool copied = static_cast<int>(i % floats) < src_bytes / 4;
        EXPECT_EQ(out[i], copied ? in[i] : 0.0f) << "cp.async of " << bytes << " bytes, "
                                                 << src_bytes << " from the source, float " << i;
      }
    }
  }
}

TEST_F(TensorCores, CpAsyncWaitGroupCompletesOlderGroupsOnly) {
  std::vector<int> in(256);
  for (int i = 0; i < 256; ++i) in[static_cast<size_t>(i)] = 1000 + i;
  const std::vector<int> out = dev::cp_async_groups(in);
  for (int t = 0; t < 32; ++t) {
    for (int j = 0; j < 4; ++j) {
      const size_t o = 12 * static_cast<size_t>(t) + static_cast<size_t>(j);
      EXPECT_EQ(out[o], 1000 + 4 * t + j) << "group 0 after wait_group 1, thread " << t;
      EXPECT_EQ(out[o + 4], -1) << "group 1 still in flight (poison), thread " << t;
      EXPECT_EQ(out[o + 8], 1000 + 128 + 4 * t + j) << "group 1 after wait_group 0";
    }
  }
}

// ldmatrix.x4 with the PTX ISA's layout: lane l receives, in register q, word l % 4 of the row
// that lane 8q + l / 4 named. Rows named in a scrambled order (and one row twice), so a wrong
// source lane or word shows.
TEST_F(TensorCores, LdmatrixDeliversTheWordsWhereTheIsaSays) {
  std::vector<uint32_t> in(128);
  for (uint32_t i = 0; i < 128; ++i) in[i] = 0x10000u * (i / 4) + 0x100u * (i % 4) + 7u;
  std::vector<int> rows(32);
  for (int l = 0; l < 32; ++l) rows[static_cast<size_t>(l)] = (7 * l + 3) % 32;
  rows[5] = rows[20];
  const std::vector<uint32_t> out = dev::ldmatrix_x4(in, rows, false);
  for (int l = 0; l < 32; ++l) {
    for (int q = 0; q < 4; ++q) {
      const int row = rows[static_cast<size_t>(8 * q + l / 4)];
      EXPECT_EQ(out[static_cast<size_t>(4 * l + q)], in[static_cast<size_t>(4 * row + l % 4)])
          << "lane " << l << ", register " << q;
    }
  }
}

// ldmatrix.x4.trans: each 8 x 8 matrix of 16-bit elements transposed, lane l receiving element
// l / 4 of the rows lanes 8q + 2 (l % 4) and 8q + 2 (l % 4) + 1 named, in the low and high half
// of register q. Every 16-bit element of the input is distinct, rows again scrambled and one
// named twice, so a wrong row, element or half shows.
TEST_F(TensorCores, LdmatrixTransDeliversTheTransposedElements) {
  std::vector<uint32_t> in(128);
  const auto element = [](uint32_t row, uint32_t e) { return (row << 4) | e | 0x8000u; };
  for (uint32_t i = 0; i < 128; ++i) {
    in[i] = element(i / 4, 2 * (i % 4)) | element(i / 4, 2 * (i % 4) + 1) << 16;
  }
  std::vector<int> rows(32);
  for (int l = 0; l < 32; ++l) rows[static_cast<size_t>(l)] = (11 * l + 5) % 32;
  rows[9] = rows[30];
  const std::vector<uint32_t> out = dev::ldmatrix_x4(in, rows, true);
  for (int l = 0; l < 32; ++l) {
    for (int q = 0; q < 4; ++q) {
      const auto lo = static_cast<uint32_t>(rows[static_cast<size_t>(8 * q + 2 * (l % 4))]);
      const auto hi = static_cast<uint32_t>(rows[static_cast<size_t>(8 * q + 2 * (l % 4) + 1)]);
      const auto e = static_cast<uint32_t>(l / 4);
      EXPECT_EQ(out[static_cast<size_t>(4 * l + q)], element(lo, e) | element(hi, e) << 16)
          << "lane " << l << ", register " << q;
    }
  }
}

#if !V3D_EMUTEST_CUDA
TEST(TensorCoreFaults, MmaNeedsTheWholeWarp) {
  std::string m = fault_of(dev::mma_partial_warp);
  EXPECT_TRUE(contains(m, "mma.sync")) << m;
  EXPECT_TRUE(contains(m, "beyond blockDim")) << m;
  m = fault_of(dev::mma_exited_lane);
  EXPECT_TRUE(contains(m, "lane 7, which has exited")) << m;
}

TEST(TensorCoreFaults, MmaInDivergentBranches) {
  const std::string m = fault_of(dev::mma_divergent);
  EXPECT_TRUE(contains(m, "lanes disagree at mma.sync.aligned")) << m;
  EXPECT_TRUE(contains(m, "mma_kernels.cu:")) << m;
}

TEST(TensorCoreFaults, LdmatrixMisuse) {
  std::string m = fault_of(dev::ldmatrix_global);
  EXPECT_TRUE(contains(m, "is not the block's shared memory")) << m;
  m = fault_of(dev::ldmatrix_misaligned);
  EXPECT_TRUE(contains(m, "is not 16-byte aligned")) << m;
  m = fault_of(dev::ldmatrix_divergent);
  EXPECT_TRUE(contains(m, "lanes disagree at ldmatrix.sync.aligned")) << m;
}

TEST(TensorCoreFaults, CpAsyncMisuse) {
  std::string m = fault_of(dev::cp_async_exit_pending);
  EXPECT_TRUE(contains(m, "exits with 1 cp.async copies that no cp.async.wait_group completed"))
      << m;
  m = fault_of(dev::cp_async_misaligned);
  EXPECT_TRUE(contains(m, "must be aligned to the copy size 16")) << m;
  m = fault_of(dev::cp_async_to_global);
  EXPECT_TRUE(contains(m, "is not the block's shared memory")) << m;
  m = fault_of(dev::cp_async_past_end);
  EXPECT_TRUE(contains(m, "invalid read of 16 bytes")) << m;
}

TEST(TensorCoreFaults, CpAsyncDataOfOtherThreadsNeedsABarrier) {
  if (!cuemu::race_check()) GTEST_SKIP() << "race mode is off (CUEMU_RACECHECK=0)";
  const std::string m = fault_of(dev::cp_async_no_barrier);
  EXPECT_TRUE(contains(m, "data race on shared memory")) << m;
}
#endif

}  // namespace
}  // namespace v3d::emutest
