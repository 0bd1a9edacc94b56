// V3D_CHECK, V3D_REQUIRE and the synchronise-after-every-op switch.
#include <gtest/gtest.h>

#include <stdlib.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/common.h"
#include "runtime/autograd.h"
#include "runtime/ops.h"
#include "runtime/tensor.h"
#include "tests/runtime/test_util.h"

namespace v3d {
namespace {

static_assert(std::is_base_of_v<std::runtime_error, Error>);

TEST(V3dCheck, MessageNamesExpressionFileLineAndUserMessage) {
  set_debug_messages(true);  // as a debug build or V3D_DEBUG=1
  const int answer = 41;
  int line = 0;
  std::string msg;
  try {
    // clang-format off
    line = __LINE__; V3D_CHECK(answer + 1 == 43, "the answer was " << answer << ", wanted " << 42);
    // clang-format on
  } catch (const Error& e) {
    msg = e.what();
  }
  ASSERT_NE(line, 0);
  EXPECT_TRUE(
      test::contains_all(msg, {"answer + 1 == 43", "check_test.cpp", ":" + std::to_string(line),
                               "the answer was 41, wanted 42"}));
  // The user's message comes first, then where and what failed.
  EXPECT_EQ(msg.rfind("the answer was 41, wanted 42", 0), 0u) << msg;
  set_debug_messages(std::nullopt);
}

TEST(V3dCheck, SourcePlaceOnlyInDebugBuildsOrWithV3dDebug) {
  const auto message = [] {
    try {
      V3D_CHECK(1 + 1 == 3, "arithmetic broke");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  set_debug_messages(false);  // a release build's user: the message alone
  EXPECT_EQ(message(), "arithmetic broke");
  set_debug_messages(std::nullopt);
#ifdef NDEBUG
  unsetenv("V3D_DEBUG");
  EXPECT_EQ(message(), "arithmetic broke");
  setenv("V3D_DEBUG", "1", 1);
  EXPECT_TRUE(test::contains_all(message(), {"arithmetic broke", "1 + 1 == 3", "check_test.cpp:"}));
  unsetenv("V3D_DEBUG");
#else
  EXPECT_TRUE(test::contains_all(message(), {"arithmetic broke", "1 + 1 == 3", "check_test.cpp:"}));
#endif
}

TEST(V3dCheck, PassingCheckDoesNotFormatTheMessage) {
  int formatted = 0;
  auto costly = [&] {
    ++formatted;
    return std::string("expensive");
  };
  int evaluated = 0;
  auto cond = [&] {
    ++evaluated;
    return true;
  };
  V3D_CHECK(cond(), "never shown: " << costly());
  EXPECT_EQ(evaluated, 1);
  EXPECT_EQ(formatted, 0);
}

TEST(V3dCheck, FailingCheckEvaluatesTheConditionOnce) {
  int evaluated = 0;
  auto cond = [&] {
    ++evaluated;
    return false;
  };
  EXPECT_THROW(V3D_CHECK(cond(), "fails"), Error);
  EXPECT_EQ(evaluated, 1);
}

TEST(V3dCheck, IsOneStatement) {
  // Must be usable as the body of an unbraced if/else.
  int branch = 0;
  const bool take_if = false;
  if (take_if)
    V3D_CHECK(false, "not reached");
  else
    branch = 2;
  EXPECT_EQ(branch, 2);
}

TEST(V3dRequire, MessageAloneWithoutSourcePlace) {
  const int frames = 3;
  const std::string msg = test::error_message([&] {
    V3D_REQUIRE(frames >= 27, "poses.h5: S9/Walking: 3 frames (need at least " << 27 << ")");
  });
  EXPECT_EQ(msg, "poses.h5: S9/Walking: 3 frames (need at least 27)");
  int evaluated = 0;
  auto cond = [&] {
    ++evaluated;
    return true;
  };
  V3D_REQUIRE(cond(), "never shown");
  EXPECT_EQ(evaluated, 1);
  const bool take_if = false;
  int branch = 0;
  if (take_if)
    V3D_REQUIRE(false, "not reached");
  else
    branch = 2;
  EXPECT_EQ(branch, 2);
}

TEST(V3dCheck, ThrowCheckFailureFormat) {
  set_debug_messages(true);
  const std::string msg =
      test::error_message([] { throw_check_failure("x > 0", "some/file.cpp", 17, "bad x"); });
  EXPECT_EQ(msg, "bad x [check `x > 0` failed at some/file.cpp:17]");
  set_debug_messages(false);
  EXPECT_EQ(test::error_message([] { throw_check_failure("x > 0", "some/file.cpp", 17, "bad x"); }),
            "bad x");
  set_debug_messages(std::nullopt);
}

TEST(V3dCheck, RuntimeErrorsCarryTheirLocation) {
  set_debug_messages(true);  // a debug build or V3D_DEBUG=1
  const std::string msg = test::error_message([] { Shape({1, 2, 3, 4, 5}); });
  EXPECT_TRUE(test::contains_all(msg, {"runtime/tensor.cpp:", "kMaxDims", "at most 4"}));
  set_debug_messages(std::nullopt);
}

// ---- kernels::set_sync_after_ops --------------------------------------------------------------

// Turns synchronise-after-every-op on for a scope and restores the previous setting.
class SyncOpsScope {
 public:
  explicit SyncOpsScope(bool on) : previous_(kernels::sync_after_ops()) {
    kernels::set_sync_after_ops(on);
  }
  ~SyncOpsScope() { kernels::set_sync_after_ops(previous_); }

 private:
  bool previous_;
};

TEST(SyncAfterOps, SetterIsVisibleAndRestored) {
  const bool initial = kernels::sync_after_ops();
  {
    SyncOpsScope on(true);
    EXPECT_TRUE(kernels::sync_after_ops());
    {
      SyncOpsScope off(false);
      EXPECT_FALSE(kernels::sync_after_ops());
    }
    EXPECT_TRUE(kernels::sync_after_ops());
  }
  EXPECT_EQ(kernels::sync_after_ops(), initial);
}

class SyncAfterOpsTest : public test::DeviceTest {};

TEST_P(SyncAfterOpsTest, OpsStillComputeTheRightValues) {
  SyncOpsScope on(true);
  const Device d = GetParam();
  const Tensor a = Tensor::from_vector({1, -2, 3, -4, 5, -6}, {2, 3}, d);
  const Tensor b = Tensor::from_vector({6, 5, 4, 3, 2, 1}, {2, 3}, d);
  EXPECT_EQ(ops::add(a, b).to_vector(), (std::vector<float>{7, 3, 7, -1, 7, -5}));
  EXPECT_EQ(ops::mul(a, b).to_vector(), (std::vector<float>{6, -10, 12, -12, 10, -6}));
  EXPECT_EQ(ops::scale(a, 2.0f).to_vector(), (std::vector<float>{2, -4, 6, -8, 10, -12}));
  EXPECT_EQ(ops::relu(a).to_vector(), (std::vector<float>{1, 0, 3, 0, 5, 0}));
  EXPECT_EQ(ops::sum(a).item(), -3.0f);
  EXPECT_EQ(ops::mean(b).item(), 3.5f);
  // a @ b^T: (2, 3) x (3, 2) -> (2, 2)
  EXPECT_EQ(ops::matmul(a, b, false, true).to_vector(), (std::vector<float>{8, 2, -23, -8}));
  Tensor y = Tensor::empty({2, 3}, DType::kF32, d);
  ops::dropout_out(a, y, 0.5f, 1234, 0);
  const std::vector<float> yv = y.to_vector();
  const std::vector<float> av = a.to_vector();
  for (size_t i = 0; i < yv.size(); ++i) EXPECT_TRUE(yv[i] == 0.0f || yv[i] == 2.0f * av[i]);

  // Autograd through the same launchers.
  Var x(Tensor::from_vector({1, -2, 3}, {3}, d), true);
  ag::sum(ag::relu(ag::scale(x, 3.0f))).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{3, 0, 3}));
}

INSTANTIATE_TEST_SUITE_P(Devices, SyncAfterOpsTest, ::testing::ValuesIn(test::device_params()),
                         test::device_test_name);

}  // namespace
}  // namespace v3d
