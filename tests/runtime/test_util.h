// Helpers shared by the runtime unit tests: the devices a parameterised test runs on, readable
// test names, and assertions on the message of a thrown v3d::Error.
//
// Every parameterised test runs on the CPU, on the emulated CUDA device and on cuda:0; the cuda:0
// instances exist on every machine and skip with the reason where no CUDA device is usable. GPU
// memory is only read back through the runtime (Tensor::to_vector, copy_from), never dereferenced,
// exactly as real CUDA memory must be.
#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <cstring>
#include <functional>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "kernels/common.h"
#include "runtime/device.h"
#include "runtime/tensor.h"

namespace v3d {
// Readable parameters in gtest output ("emu" rather than the object's bytes).
inline void PrintTo(const Device& d, std::ostream* os) { *os << d.str(); }
}  // namespace v3d

namespace v3d::test {

// cpu, emu, and cuda:0 when a CUDA device is usable now: the devices a test loops over.
inline std::vector<Device> all_devices() {
  std::vector<Device> d = {Device::cpu(), Device::emu()};
  if (cuda_available()) d.push_back(Device::cuda(0));
  return d;
}

// cpu, emu and cuda:0 on every machine: the instances of a device-parameterised suite. The cuda:0
// instances are registered (and labelled gpu) even where no device exists, and skip there with
// the reason (DeviceTest, V3D_SKIP_UNLESS_USABLE), so every machine lists the same tests.
inline std::vector<Device> device_params() {
  return {Device::cpu(), Device::emu(), Device::cuda(0)};
}

// emu and cuda:0 on every machine, as device_params.
inline std::vector<Device> gpu_device_params() { return {Device::emu(), Device::cuda(0)}; }

// "cpu", "emu", "cuda0": gtest names allow only alphanumerics and underscores.
inline std::string device_name(const Device& device) {
  std::string out;
  for (char c : device.str())
    if (std::isalnum(static_cast<unsigned char>(c))) out += c;
  return out;
}

inline std::string device_test_name(const ::testing::TestParamInfo<Device>& info) {
  return device_name(info.param);
}

// Why `device` cannot run tests here ("" when it can): a CUDA device that no usable GPU backs.
inline std::string unusable_reason(const Device& device) {
  std::string why;
  if (device.type == DeviceType::kCUDA && !cuda_available(&why))
    return "no usable CUDA device: " + why;
  return "";
}

// Skips the current test (from the test body or SetUp) when `device` cannot run here.
#define V3D_SKIP_UNLESS_USABLE(device)                                         \
  do {                                                                         \
    const std::string v3d_skip_reason_ = ::v3d::test::unusable_reason(device); \
    if (!v3d_skip_reason_.empty()) GTEST_SKIP() << v3d_skip_reason_;           \
  } while (false)

// A suite parameterised by the device it runs on (instantiated with device_params or
// gpu_device_params): each test skips with the reason where its device is not usable.
class DeviceTest : public ::testing::TestWithParam<Device> {
 protected:
  void SetUp() override { V3D_SKIP_UNLESS_USABLE(GetParam()); }
  Device dev() const { return GetParam(); }
};

// The message of the v3d::Error that fn throws; a failure is recorded when it throws nothing or
// something else, so callers can go on to check the message.
inline std::string error_message(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected v3d::Error, got another std::exception: " << e.what();
    return "<wrong exception type: " + std::string(e.what()) + ">";
  } catch (...) {
    ADD_FAILURE() << "expected v3d::Error, got a non-std exception";
    return "<non-std exception>";
  }
  ADD_FAILURE() << "expected v3d::Error, nothing was thrown";
  return "<nothing thrown>";
}

// Checks that `text` contains every one of `parts`.
inline ::testing::AssertionResult contains_all(const std::string& text,
                                               const std::vector<std::string>& parts) {
  for (const std::string& p : parts)
    if (text.find(p) == std::string::npos)
      return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << p << "'";
  return ::testing::AssertionSuccess();
}

// Expects `stmt` to throw a v3d::Error whose message contains every string in the braced list.
#define EXPECT_V3D_ERROR(stmt, ...)                                                                \
  EXPECT_TRUE(                                                                                     \
      ::v3d::test::contains_all(::v3d::test::error_message([&] { (void)(stmt); }), {__VA_ARGS__})) \
      << "statement: " #stmt

// Bitwise equality of two float vectors (distinguishes -0 from 0 and compares NaN payloads).
inline ::testing::AssertionResult bitwise_equal(const std::vector<float>& a,
                                                const std::vector<float>& b) {
  if (a.size() != b.size())
    return ::testing::AssertionFailure() << "sizes differ: " << a.size() << " vs " << b.size();
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0)
      return ::testing::AssertionFailure()
             << "first difference at index " << i << ": " << a[i] << " vs " << b[i];
  }
  return ::testing::AssertionSuccess();
}

// n values drawn from N(0, 1) by a generator seeded with `seed`.
inline std::vector<float> normal_vec(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

// 0, 1, 2, ... n-1 as floats, offset by `start`.
inline std::vector<float> iota_vec(int64_t n, float start = 0.0f) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = start + static_cast<float>(i);
  return v;
}

}  // namespace v3d::test
