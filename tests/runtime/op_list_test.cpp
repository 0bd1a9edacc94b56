// The one list of ops (kernels/op_list.inc) as its readers see it, and the per-device error
// record that kernels checking indices report through (runtime/device_error.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

#include "kernels/device_error.h"
#include "kernels/op_id.h"
#include "kernels/pose_bank.h"
#include "runtime/device_error.h"
#include "runtime/op_list.h"
#include "runtime/stream.h"
#include "tests/runtime/test_util.h"

namespace v3d {
namespace {

TEST(OpList, NamesAreUniqueAndEveryOpHasAnId) {
  std::set<std::string> names;
  for (auto name : ops::kOpNames) EXPECT_TRUE(names.insert(std::string(name)).second) << name;
  for (auto name : ops::kOpNames)
    EXPECT_NE(std::find(kernels::kOpIdNames.begin(), kernels::kOpIdNames.end(), name),
              kernels::kOpIdNames.end())
        << name;
  // Every id is an op or a backward-only kernel, nothing else.
  EXPECT_EQ(kernels::kOpIdNames.size(), ops::kOpNames.size() + ops::kGradOnly.size());
  EXPECT_EQ(kernels::kOpIdNames[static_cast<size_t>(kernels::OpId::window_gather)],
            "window_gather");
}

TEST(OpList, BackwardOnlyKernelsNameAListedForwardOp) {
  for (const auto& g : ops::kGradOnly)
    EXPECT_NE(std::find(ops::kOpNames.begin(), ops::kOpNames.end(), g.forward), ops::kOpNames.end())
        << g.kernel << " serves " << g.forward;
}

TEST(DeviceError, DescribesTheOpAndTheIndex) {
  kernels::DeviceError e;
  e.op = static_cast<int32_t>(kernels::OpId::pose_bank_fuse) + 1;
  e.check = static_cast<int32_t>(kernels::PoseBankCheck::kBankRow);
  e.i = 4;
  e.j = 2;
  e.value = 7;
  const std::string m = kernels::describe_device_error(e);
  EXPECT_TRUE(test::contains_all(m, {"pose_bank_fuse", "bank_row[4] = 7", "2 rows", "device"}))
      << m;
}

TEST(DeviceError, NothingToReportOnTheCpuOrACleanEmuDevice) {
  EXPECT_NO_THROW(check_device_errors(Device::cpu(), nullptr));
  device_error_record(Device::emu());  // exists, and is clear
  EXPECT_NO_THROW(synchronize(Device::emu()));
}

}  // namespace
}  // namespace v3d
