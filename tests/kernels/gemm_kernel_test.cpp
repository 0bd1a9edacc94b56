// The choice of the CPU GEMM kernel (kernels/gemm_kernel.h): the plan on faked feature sets and
// environments, the self-test against deliberately wrong kernels, the fallback, and the real
// choice of this process.
#include "kernels/gemm_kernel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/common.h"

namespace v3d::kernels {
namespace {

CpuFeatures sse_only() {
  CpuFeatures f;
  f.vendor = "GenuineIntel";
  f.sse3 = f.ssse3 = f.sse41 = f.sse42 = true;
  return f;
}

CpuFeatures avx2_cpu() {
  CpuFeatures f = sse_only();
  f.avx = f.avx2 = f.fma = f.f16c = true;
  f.os_ymm = true;
  return f;
}

CpuFeatures avx512_cpu() {
  CpuFeatures f = avx2_cpu();
  f.avx512f = f.avx512cd = f.avx512bw = f.avx512dq = f.avx512vl = true;
  f.os_zmm = true;
  return f;
}

// The Xeon the issue was found on: family 6 model 207, AVX-512 with BF16 and VNNI, AMX. The model
// number plays no part in the choice.
CpuFeatures xeon_207() {
  CpuFeatures f = avx512_cpu();
  f.family = 6;
  f.model = 207;
  f.avx512_vnni = f.avx512_bf16 = true;
  f.amx_tile = f.amx_bf16 = f.amx_int8 = true;
  f.os_amx = true;
  return f;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + "\n";
  return s;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(GemmKernelPlan, BestOpenBlasCoreFollowsFeatureBitsNotModels) {
  EXPECT_EQ(best_openblas_core(sse_only()), "Nehalem");
  EXPECT_EQ(best_openblas_core(avx2_cpu()), "Haswell");
  EXPECT_EQ(best_openblas_core(avx512_cpu()), "SkylakeX");
  EXPECT_EQ(best_openblas_core(xeon_207()), "Cooperlake");
  // The same features under another vendor and model: the same kernel.
  CpuFeatures amd = xeon_207();
  amd.vendor = "AuthenticAMD";
  amd.family = 26;
  amd.model = 2;
  EXPECT_EQ(best_openblas_core(amd), "Cooperlake");
  // AVX-512 the OS does not save (no ZMM state in XCR0) cannot be used.
  CpuFeatures no_os = xeon_207();
  no_os.os_zmm = false;
  EXPECT_EQ(best_openblas_core(no_os), "Haswell");
  // AVX-512 F without BW/DQ/VL (first-generation Xeon Phi) is not SkylakeX.
  CpuFeatures phi = avx2_cpu();
  phi.avx512f = phi.avx512cd = true;
  phi.os_zmm = true;
  EXPECT_EQ(best_openblas_core(phi), "Haswell");
  EXPECT_EQ(best_openblas_core(CpuFeatures{}), "Prescott");
}

TEST(GemmKernelPlan, AutoTriesTheBestOpenBlasThenFallbacks) {
  const GemmPlan p = plan_gemm_kernel(xeon_207(), {}, nullptr);
  ASSERT_EQ(p.candidates.size(), 3u);
  EXPECT_EQ(p.candidates[0].name(), "openblas:Cooperlake");
  EXPECT_EQ(p.candidates[1].name(), "onednn");
  EXPECT_EQ(p.candidates[2].name(), "builtin");
  EXPECT_TRUE(contains(p.reason, "auto")) << p.reason;
  EXPECT_TRUE(contains(p.reason, "BF16")) << p.reason;
  EXPECT_TRUE(p.warnings.empty()) << joined(p.warnings);
  EXPECT_EQ(plan_gemm_kernel(avx2_cpu(), {}, nullptr).candidates[0].name(), "openblas:Haswell");
  EXPECT_EQ(plan_gemm_kernel(avx2_cpu(), {}, "").candidates[0].name(), "openblas:Haswell");
}

TEST(GemmKernelPlan, EnvironmentCoreTypeIsRespectedWithAWarningWhenBelowTheCpu) {
  const GemmPlan p = plan_gemm_kernel(xeon_207(), {}, "haswell");
  EXPECT_EQ(p.candidates[0].name(), "openblas:Haswell");
  ASSERT_EQ(p.warnings.size(), 1u);
  EXPECT_TRUE(contains(p.warnings[0], "OPENBLAS_CORETYPE")) << p.warnings[0];
  EXPECT_TRUE(contains(p.warnings[0], "below")) << p.warnings[0];
  EXPECT_TRUE(contains(p.warnings[0], "openblas:Cooperlake")) << p.warnings[0];
  EXPECT_FALSE(p.drop_openblas_env);
  // The best one: no warning.
  const GemmPlan best = plan_gemm_kernel(avx2_cpu(), {}, "Haswell");
  EXPECT_EQ(best.candidates[0].name(), "openblas:Haswell");
  EXPECT_TRUE(best.warnings.empty()) << joined(best.warnings);
}

TEST(GemmKernelPlan, EnvironmentCoreTypeTheCpuCannotRunOrUnknownFallsBackToAuto) {
  const GemmPlan p = plan_gemm_kernel(avx2_cpu(), {}, "Cooperlake");
  EXPECT_EQ(p.candidates[0].name(), "openblas:Haswell");
  ASSERT_EQ(p.warnings.size(), 1u);
  EXPECT_TRUE(contains(p.warnings[0], "lacks")) << p.warnings[0];
  EXPECT_TRUE(p.drop_openblas_env);
  const GemmPlan q = plan_gemm_kernel(xeon_207(), {}, "SapphireRapidsX");
  EXPECT_EQ(q.candidates[0].name(), "openblas:Cooperlake");
  ASSERT_EQ(q.warnings.size(), 1u);
  EXPECT_TRUE(contains(q.warnings[0], "SapphireRapidsX")) << q.warnings[0];
}

TEST(GemmKernelPlan, ExplicitSettingWinsOverTheEnvironment) {
  const GemmPlan a = plan_gemm_kernel(xeon_207(), {"auto", "--blas"}, "Haswell");
  EXPECT_EQ(a.candidates[0].name(), "openblas:Cooperlake");
  EXPECT_TRUE(a.drop_openblas_env);
  ASSERT_EQ(a.warnings.size(), 1u);
  EXPECT_TRUE(contains(a.warnings[0], "ignored")) << a.warnings[0];

  const GemmPlan b = plan_gemm_kernel(xeon_207(), {"openblas:SkylakeX", "--blas"}, "Haswell");
  EXPECT_EQ(b.candidates[0].name(), "openblas:SkylakeX");
  ASSERT_EQ(b.warnings.size(), 1u);
  EXPECT_TRUE(contains(b.warnings[0], "--blas")) << b.warnings[0];
  EXPECT_TRUE(contains(b.warnings[0], "below")) << b.warnings[0];

  const GemmPlan c = plan_gemm_kernel(xeon_207(), {"OpenBLAS", "config key 'blas'"}, nullptr);
  EXPECT_EQ(c.candidates[0].name(), "openblas:Cooperlake");
  EXPECT_TRUE(c.warnings.empty()) << joined(c.warnings);

  const GemmPlan d = plan_gemm_kernel(xeon_207(), {"onednn", "--blas"}, nullptr);
  EXPECT_EQ(d.candidates[0].name(), "onednn");
  EXPECT_EQ(d.candidates.back().name(), "builtin");

  const GemmPlan e = plan_gemm_kernel(xeon_207(), {"builtin", "--blas"}, nullptr);
  ASSERT_EQ(e.candidates.size(), 1u);
  EXPECT_EQ(e.candidates[0].name(), "builtin");
  ASSERT_EQ(e.warnings.size(), 1u);
  EXPECT_TRUE(contains(e.warnings[0], "slower")) << e.warnings[0];
}

TEST(GemmKernelPlan, ExplicitKernelTheCpuCannotRunIsAnErrorNamingTheSetting) {
  try {
    plan_gemm_kernel(avx2_cpu(), {"openblas:Cooperlake", "--blas"}, nullptr);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_TRUE(contains(m, "--blas")) << m;
    EXPECT_TRUE(contains(m, "lacks")) << m;
    EXPECT_FALSE(contains(m, ".cpp")) << m;
  }
  try {
    plan_gemm_kernel(avx2_cpu(), {"mkl", "config key 'blas'"}, nullptr);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_TRUE(contains(m, "config key 'blas'")) << m;
    EXPECT_TRUE(contains(m, "'mkl'")) << m;
    EXPECT_TRUE(contains(m, "openblas:Haswell")) << m;  // lists the accepted values
  }
}

TEST(GemmKernelPlan, ParseIsCaseInsensitiveAndCanonical) {
  EXPECT_FALSE(parse_gemm_kernel("AUTO", "x").has_value());
  EXPECT_EQ(parse_gemm_kernel("openblas:skylakex", "x")->name(), "openblas:SkylakeX");
  EXPECT_EQ(parse_gemm_kernel("OneDNN", "x")->library, GemmLibrary::OneDnn);
  EXPECT_EQ(parse_gemm_kernel("blis", "x")->library, GemmLibrary::Blis);
  EXPECT_THROW(parse_gemm_kernel("openblas:", "x"), Error);
  EXPECT_THROW(parse_gemm_kernel("openblas:Zen", "x"), Error);
  EXPECT_THROW(parse_gemm_kernel("", "x"), Error);
}

// ---- self-test ------------------------------------------------------------------------------

TEST(GemmSelfTest, TheBuiltinKernelPasses) { EXPECT_EQ(gemm_self_test(builtin_sgemm), ""); }

TEST(GemmSelfTest, WrongKernelsAreCaught) {
  // One element off by 1e-4 relative: beyond any float32 rounding of these sums.
  const SgemmFn off_by_a_little = [](const GemmArgs& g) {
    builtin_sgemm(g);
    g.c[(g.m / 2) * g.ldc + g.n / 2] *= 1.0001f;
  };
  // Treats beta as 0.
  const SgemmFn ignores_beta = [](const GemmArgs& g) {
    GemmArgs h = g;
    h.beta = 0.0f;
    builtin_sgemm(h);
  };
  // Drops the last term of every dot product (a blocking bug at a K edge).
  const SgemmFn short_k = [](const GemmArgs& g) {
    GemmArgs h = g;
    h.k = g.k - 1;
    builtin_sgemm(h);
  };
  // Reads C when beta = 0 (NaN propagates).
  const SgemmFn reads_c = [](const GemmArgs& g) {
    GemmArgs h = g;
    if (g.beta == 0.0f) h.beta = 1e-30f;
    builtin_sgemm(h);
  };
  // Writes the padding between rows of C.
  const SgemmFn writes_padding = [](const GemmArgs& g) {
    builtin_sgemm(g);
    if (g.ldc > g.n) g.c[g.n] = 0.0f;
  };
  // Correct up to a size, then garbage (a micro-kernel bug only big shapes reach).
  const SgemmFn wrong_when_big = [](const GemmArgs& g) {
    builtin_sgemm(g);
    if (g.m * g.n * g.k > 10'000'000) g.c[0] = std::nanf("");
  };
  for (const auto& [name, fn] :
       std::vector<std::pair<const char*, SgemmFn>>{{"off_by_a_little", off_by_a_little},
                                                    {"ignores_beta", ignores_beta},
                                                    {"short_k", short_k},
                                                    {"reads_c", reads_c},
                                                    {"writes_padding", writes_padding},
                                                    {"wrong_when_big", wrong_when_big}})
    EXPECT_NE(gemm_self_test(fn), "") << name;
}

TEST(GemmSelection, ADeliberatelyWrongKernelIsRejectedAndTheNextUsed) {
  GemmPlan plan;
  plan.candidates = {{GemmLibrary::OpenBlas, "Cooperlake"}, {GemmLibrary::Builtin, ""}};
  int wrong_calls = 0;
  const GemmSelection s = select_gemm_kernel(plan, [&](const GemmKernelSpec& spec, std::string*) {
    if (spec.library == GemmLibrary::OpenBlas)
      return SgemmFn([&wrong_calls](const GemmArgs& g) {
        ++wrong_calls;
        builtin_sgemm(g);
        g.c[0] += 1.0f;
      });
    return SgemmFn(builtin_sgemm);
  });
  EXPECT_EQ(s.spec.name(), "builtin");
  EXPECT_GE(wrong_calls, 1);
  ASSERT_EQ(s.warnings.size(), 1u);
  EXPECT_TRUE(contains(s.warnings[0], "openblas:Cooperlake")) << s.warnings[0];
  EXPECT_TRUE(contains(s.warnings[0], "self-test")) << s.warnings[0];
}

TEST(GemmSelection, AnUnavailableLibraryIsSkipped) {
  GemmPlan plan;
  plan.candidates = {
      {GemmLibrary::Blis, ""}, {GemmLibrary::OneDnn, ""}, {GemmLibrary::Builtin, ""}};
  const GemmSelection s =
      select_gemm_kernel(plan, [](const GemmKernelSpec& spec, std::string* why_not) {
        if (spec.library == GemmLibrary::Builtin) return SgemmFn(builtin_sgemm);
        *why_not = "not installed";
        return SgemmFn();
      });
  EXPECT_EQ(s.spec.name(), "builtin");
  ASSERT_EQ(s.warnings.size(), 1u);  // the first (asked-for) one; the optional fallback is quiet
  EXPECT_TRUE(contains(s.warnings[0], "blis")) << s.warnings[0];
  EXPECT_TRUE(contains(s.warnings[0], "not installed")) << s.warnings[0];
}

// ---- bfloat16 ---------------------------------------------------------------------------------

float bf16_round_trip(float x) {
  uint16_t h;
  float y;
  float_to_bf16(&x, &h, 1);
  bf16_to_float(&h, &y, 1);
  return y;
}

TEST(Bf16, RoundsToNearestEven) {
  EXPECT_EQ(bf16_round_trip(1.0f), 1.0f);
  // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1).
  EXPECT_EQ(bf16_round_trip(1.0f + std::ldexp(1.0f, -8)), 1.0f);
  // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: to the even one, 1 + 2^-6.
  EXPECT_EQ(bf16_round_trip(1.0f + 3 * std::ldexp(1.0f, -8)), 1.0f + std::ldexp(1.0f, -6));
  // Just above halfway: up.
  EXPECT_EQ(bf16_round_trip(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)),
            1.0f + std::ldexp(1.0f, -7));
  EXPECT_EQ(bf16_round_trip(-2.5f), -2.5f);
  EXPECT_TRUE(std::isinf(bf16_round_trip(INFINITY)));
  EXPECT_TRUE(std::isnan(bf16_round_trip(NAN)));
  // A NaN whose payload sits in the low bits only must stay NaN (not become infinity).
  uint32_t bits = 0x7f800001u;
  float low_nan;
  std::memcpy(&low_nan, &bits, 4);
  EXPECT_TRUE(std::isnan(bf16_round_trip(low_nan)));
  // The largest float rounds to infinity, as IEEE rounding does.
  EXPECT_TRUE(std::isinf(bf16_round_trip(3.4028235e38f)));
}

TEST(Bf16, SelfTestAcceptsACorrectKernelAndRejectsAWrongOne) {
  // A correct bf16 GEMM written out: widen and run the builtin sgemm.
  const GemmBf16Fn widened = [](const GemmBf16Args& h) {
    const int64_t a_rows = h.trans_a ? h.k : h.m, b_rows = h.trans_b ? h.n : h.k;
    std::vector<float> a(static_cast<size_t>(a_rows * h.lda)),
        b(static_cast<size_t>(b_rows * h.ldb));
    bf16_to_float(h.a, a.data(), static_cast<int64_t>(a.size()));
    bf16_to_float(h.b, b.data(), static_cast<int64_t>(b.size()));
    GemmArgs g;
    g.trans_a = h.trans_a;
    g.trans_b = h.trans_b;
    g.m = h.m;
    g.n = h.n;
    g.k = h.k;
    g.alpha = h.alpha;
    g.a = a.data();
    g.lda = h.lda;
    g.b = b.data();
    g.ldb = h.ldb;
    g.beta = h.beta;
    g.c = h.c;
    g.ldc = h.ldc;
    builtin_sgemm(g);
  };
  EXPECT_EQ(gemm_bf16_self_test(widened), "");
  // Truncating B's last mantissa bit: an error far beyond float32 rounding of exact products.
  EXPECT_NE(gemm_bf16_self_test([&](const GemmBf16Args& h) {
              const int64_t b_rows = h.trans_b ? h.n : h.k;
              std::vector<uint16_t> b(h.b, h.b + b_rows * h.ldb);
              for (auto& v : b) v &= 0xfffe;
              GemmBf16Args t = h;
              t.b = b.data();
              widened(t);
            }),
            "");
}

TEST(Bf16, TheLibraryGemmMatchesTheSgemmOnRoundedInputs) {
  std::string why;
  if (!bf16_gemm_available(&why)) GTEST_SKIP() << "no bf16 GEMM here: " << why;
  // bf16_gemm_available ran the self-test; check one more shape of the model's kind directly.
  const int64_t m = 300, n = 256, k = 1024;
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> a(static_cast<size_t>(m * k)), b(static_cast<size_t>(n * k));
  for (auto& x : a) x = bf16_round_trip(u(rng));
  for (auto& x : b) x = bf16_round_trip(u(rng));
  std::vector<uint16_t> ah(a.size()), bh(b.size());
  float_to_bf16(a.data(), ah.data(), static_cast<int64_t>(a.size()));
  float_to_bf16(b.data(), bh.data(), static_cast<int64_t>(b.size()));
  std::vector<float> c16(static_cast<size_t>(m * n)), c32(static_cast<size_t>(m * n));
  gemm_bf16({false, true, m, n, k, 1.0f, ah.data(), k, bh.data(), k, 0.0f, c16.data(), n});
  GemmArgs g;
  g.trans_b = true;
  g.m = m;
  g.n = n;
  g.k = k;
  g.a = a.data();
  g.lda = k;
  g.b = b.data();
  g.ldb = k;
  g.c = c32.data();
  g.ldc = n;
  builtin_sgemm(g);
  double worst = 0.0;
  for (size_t i = 0; i < c16.size(); ++i)
    worst = std::max(worst, double(std::fabs(c16[i] - c32[i])));
  // Both sum the same exact products in float32, in different orders.
  EXPECT_LT(worst, 2.0 * k * std::ldexp(1.0, -24) * k);
}

// ---- this process -----------------------------------------------------------------------------
// The choice is made once per process, so these run in a fresh one each (threadsafe death tests
// re-execute the test binary).

class GemmKernelProcess : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

// Exits 0 when `ok`, else prints `why` and exits 1.
[[noreturn]] void finish(bool ok, const std::string& why) {
  if (!ok) std::fprintf(stderr, "%s\n", why.c_str());
  std::exit(ok ? 0 : 1);
}

TEST_F(GemmKernelProcess, TheDefaultIsWhatThePlanSaysAndPassesTheSelfTest) {
  EXPECT_EXIT(
      {
        const GemmPlan plan =
            plan_gemm_kernel(cpu_features(), {}, std::getenv("OPENBLAS_CORETYPE"));
        const GemmKernelInfo& k = gemm_kernel();
        finish(k.spec == plan.candidates.front() && gemm_self_test(cpu::sgemm_kernel()).empty(),
               "planned " + plan.candidates.front().name() + ", got " + k.summary());
      },
      ::testing::ExitedWithCode(0), "");
}

TEST_F(GemmKernelProcess, OpenBlasLoadsWithTheChosenCoreType) {
  if (!cpu_features().usable_avx2_fma()) GTEST_SKIP() << "this CPU has no AVX2/FMA";
  // Haswell is below what an AVX-512 CPU runs: OpenBLAS must report the core we asked for, not
  // its own pick.
  EXPECT_EXIT(
      {
        set_gemm_setting({"openblas:Haswell", "--blas"});
        const GemmKernelInfo& k = gemm_kernel();
        finish(k.spec.name() == "openblas:Haswell" && contains(k.library, "core Haswell"),
               k.summary());
      },
      ::testing::ExitedWithCode(0), "");
}

TEST_F(GemmKernelProcess, BuiltinCanBeAskedFor) {
  EXPECT_EXIT(
      {
        set_gemm_setting({"builtin", "--blas"});
        const GemmKernelInfo& k = gemm_kernel();
        finish(k.spec.name() == "builtin" && k.warnings.size() == 1, k.summary());
      },
      ::testing::ExitedWithCode(0), "");
}

TEST_F(GemmKernelProcess, ADifferentKernelAfterTheChoiceIsAnError) {
  EXPECT_EXIT(
      {
        set_gemm_setting({"builtin", "--blas"});
        gemm_kernel();
        set_gemm_setting({"builtin", "--blas"});  // the same: fine
        try {
          set_gemm_setting({"openblas", "--blas"});
        } catch (const Error& e) {
          finish(contains(e.what(), "already in use"), e.what());
        }
        finish(false, "no error");
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace v3d::kernels
