// Philox4x32-10 against Random123's published known-answer vectors: both the generator the
// kernels use (kernels/philox.h) and the independent one of the reference (tests/reference).
#include <gtest/gtest.h>

#include <array>
#include <random>

#include "kernels/cpu/philox_avx512.h"
#include "kernels/philox.h"
#include "tests/reference/reference.h"

namespace v3d {
namespace {

struct Kat {
  std::array<uint32_t, 4> counter;
  std::array<uint32_t, 2> key;
  std::array<uint32_t, 4> expected;
};

const Kat kKats[] = {
    {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
    {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
     {0xffffffffu, 0xffffffffu},
     {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
    {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
     {0xa4093822u, 0x299f31d0u},
     {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}},
};

TEST(Philox, KernelGeneratorMatchesKnownAnswers) {
  for (const Kat& k : kKats) {
    const kernels::Philox4x32 r = kernels::philox4x32_10(k.counter[0], k.counter[1], k.counter[2],
                                                         k.counter[3], k.key[0], k.key[1]);
    for (int j = 0; j < 4; ++j) EXPECT_EQ(r.v[j], k.expected[j]) << "word " << j;
  }
}

TEST(Philox, ReferenceGeneratorMatchesKnownAnswers) {
  for (const Kat& k : kKats) {
    uint32_t out[4];
    ref::philox4x32_10(k.counter.data(), k.key.data(), out);
    for (int j = 0; j < 4; ++j) EXPECT_EQ(out[j], k.expected[j]) << "word " << j;
  }
}

// The 16-lane AVX-512 generator the CPU dropout uses: every lane against the known answers, then
// lanes with unrelated random counters and keys against the scalar generator.
TEST(Philox, Avx512GeneratorMatchesKnownAnswersAndScalar) {
  if (!kernels::cpu::philox_avx512_supported())
    GTEST_SKIP() << "this CPU has no AVX-512F; the scalar generator is the only CPU path";
#if defined(V3D_HAVE_AVX512_PHILOX)
  for (const Kat& k : kKats) {
    uint32_t counter[4][16], out[64];
    for (int w = 0; w < 4; ++w)
      for (int l = 0; l < 16; ++l) counter[w][l] = k.counter[w];
    kernels::cpu::philox4x32_10_x16(counter, k.key[0], k.key[1], out);
    for (int l = 0; l < 16; ++l)
      for (int w = 0; w < 4; ++w) EXPECT_EQ(out[4 * l + w], k.expected[w]) << "lane " << l;
  }
  std::mt19937 rng(20240601u);
  for (int trial = 0; trial < 200; ++trial) {
    uint32_t counter[4][16], out[64];
    for (int w = 0; w < 4; ++w)
      for (int l = 0; l < 16; ++l) counter[w][l] = rng();
    const uint32_t k0 = rng(), k1 = rng();
    kernels::cpu::philox4x32_10_x16(counter, k0, k1, out);
    for (int l = 0; l < 16; ++l) {
      const kernels::Philox4x32 r = kernels::philox4x32_10(counter[0][l], counter[1][l],
                                                           counter[2][l], counter[3][l], k0, k1);
      for (int w = 0; w < 4; ++w)
        ASSERT_EQ(out[4 * l + w], r.v[w]) << "trial " << trial << " lane " << l << " word " << w;
    }
  }
#endif
}

TEST(Philox, UniformUsesTheTop24BitsExactly) {
  EXPECT_EQ(kernels::philox_uniform(0u), 0.0f);
  EXPECT_EQ(kernels::philox_uniform(0xffffffffu), 16777215.0f / 16777216.0f);
  EXPECT_EQ(kernels::philox_uniform(0x80000000u), 0.5f);
  EXPECT_EQ(kernels::philox_uniform(0x000000ffu), 0.0f);  // low bits are discarded
}

}  // namespace
}  // namespace v3d
