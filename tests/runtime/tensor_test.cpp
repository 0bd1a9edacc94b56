// Tensor: construction, dtypes, views and narrows sharing storage, copies between devices.
// GPU tensors are only read and written through the runtime (to_vector, copy_from, ops).
#include <gtest/gtest.h>

#include <climits>
#include <cstdint>
#include <vector>

#include "runtime/allocator.h"
#include "runtime/ops.h"
#include "runtime/tensor.h"
#include "tests/runtime/test_util.h"

namespace v3d {
namespace {

using test::iota_vec;

class TensorTest : public test::DeviceTest {};

TEST(TensorUndefined, DefaultConstructedIsUndefined) {
  const Tensor t;
  EXPECT_FALSE(t.defined());
  EXPECT_EQ(t.str(), "undefined tensor");
  EXPECT_V3D_ERROR(t.device(), "undefined tensor");
  EXPECT_V3D_ERROR(t.raw(), "undefined tensor");
  EXPECT_V3D_ERROR(t.view({1}), "undefined tensor");
  EXPECT_V3D_ERROR(t.narrow(0, 0), "at least one dimension");
}

TEST(Dtype, SizesAndNames) {
  EXPECT_EQ(dtype_size(DType::kF32), 4u);
  EXPECT_EQ(dtype_size(DType::kI32), 4u);
  EXPECT_STREQ(dtype_name(DType::kF32), "f32");
  EXPECT_STREQ(dtype_name(DType::kI32), "i32");
}

TEST_P(TensorTest, EmptyHasShapeDtypeDevice) {
  const Tensor t = Tensor::empty({2, 3}, DType::kF32, dev());
  EXPECT_TRUE(t.defined());
  EXPECT_EQ(t.shape(), Shape({2, 3}));
  EXPECT_EQ(t.ndim(), 2);
  EXPECT_EQ(t.size(0), 2);
  EXPECT_EQ(t.size(1), 3);
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.nbytes(), 24u);
  EXPECT_EQ(t.dtype(), DType::kF32);
  EXPECT_EQ(t.device(), dev());
  EXPECT_EQ(t.offset(), 0);
  EXPECT_NE(t.raw(), nullptr);
  EXPECT_EQ(t.str(), "f32(2, 3) on " + dev().str());

  const Tensor i = Tensor::empty({4}, DType::kI32, dev());
  EXPECT_EQ(i.dtype(), DType::kI32);
  EXPECT_EQ(i.nbytes(), 16u);
  EXPECT_EQ(i.str(), "i32(4) on " + dev().str());
}

TEST_P(TensorTest, ZerosOverwritesReusedMemory) {
  // Fill a block with non-zero values and free it, so that zeros() likely gets the same memory
  // back (the GPU caching allocator reuses it for sure): zeros must really clear it.
  { Tensor junk = Tensor::full({1000}, 7.5f, dev()); }
  const Tensor z = Tensor::zeros({1000}, DType::kF32, dev());
  EXPECT_EQ(z.to_vector(), std::vector<float>(1000, 0.0f));

  { Tensor junk = Tensor::full({257}, -1.0f, dev()); }
  const Tensor zi = Tensor::zeros({257}, DType::kI32, dev());
  EXPECT_EQ(zi.dtype(), DType::kI32);
  EXPECT_EQ(zi.to_vector_i32(), std::vector<int32_t>(257, 0));
}

TEST_P(TensorTest, FullFillsEveryElement) {
  const Tensor t = Tensor::full({3, 5}, -2.25f, dev());
  EXPECT_EQ(t.dtype(), DType::kF32);
  EXPECT_EQ(t.shape(), Shape({3, 5}));
  EXPECT_EQ(t.to_vector(), std::vector<float>(15, -2.25f));
}

TEST_P(TensorTest, FromVectorRoundTrips) {
  const std::vector<float> v = {1.5f, -0.0f, 3.0e-38f, -7.0f, 1e30f, 0.125f};
  const Tensor t = Tensor::from_vector(v, {2, 3}, dev());
  EXPECT_EQ(t.shape(), Shape({2, 3}));
  EXPECT_TRUE(test::bitwise_equal(t.to_vector(), v));
}

TEST_P(TensorTest, FromVectorI32RoundTrips) {
  const std::vector<int32_t> v = {0, -1, INT32_MAX, INT32_MIN, 42};
  const Tensor t = Tensor::from_vector_i32(v, {5}, dev());
  EXPECT_EQ(t.dtype(), DType::kI32);
  EXPECT_EQ(t.to_vector_i32(), v);
}

TEST_P(TensorTest, FromVectorWithWrongCountThrows) {
  EXPECT_V3D_ERROR(Tensor::from_vector({1, 2, 3}, {2, 2}, dev()), "3 values",
                   "do not fill shape (2, 2)");
  EXPECT_V3D_ERROR(Tensor::from_vector_i32({1, 2, 3, 4, 5}, {2, 2}, dev()), "5 values", "(2, 2)");
}

TEST_P(TensorTest, LargeTensorRoundTrips) {
  const int64_t n = (1 << 20) + 3;
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<float>(i % 1013) - 500;
  const Tensor t = Tensor::from_vector(v, {n}, dev());
  EXPECT_EQ(t.to_vector(), v);
}

TEST_P(TensorTest, ZeroElementTensors) {
  const Tensor t = Tensor::empty({0, 4}, DType::kF32, dev());
  EXPECT_EQ(t.numel(), 0);
  EXPECT_EQ(t.nbytes(), 0u);
  EXPECT_TRUE(t.to_vector().empty());
  const Tensor c = t.to(Device::cpu());
  EXPECT_EQ(c.shape(), Shape({0, 4}));
  Tensor d = Tensor::empty({0}, DType::kF32, dev());
  d.copy_from(t);  // same numel (0), different shape: allowed and a no-op
  EXPECT_TRUE(Tensor::zeros({0}, DType::kF32, dev()).to_vector().empty());
}

TEST_P(TensorTest, DtypeAccessorsCheckTheDtype) {
  const Tensor i = Tensor::zeros({3}, DType::kI32, dev());
  const Tensor f = Tensor::zeros({3}, DType::kF32, dev());
  EXPECT_V3D_ERROR(i.f32(), "expected an f32 tensor", "i32(3)");
  EXPECT_V3D_ERROR(f.i32(), "expected an i32 tensor", "f32(3)");
  EXPECT_V3D_ERROR(i.to_vector(), "to_vector of i32(3)");
  EXPECT_V3D_ERROR(f.to_vector_i32(), "to_vector_i32 of f32(3)");
  EXPECT_EQ(static_cast<void*>(f.f32()), f.raw());
  EXPECT_EQ(static_cast<void*>(i.i32()), i.raw());
}

TEST_P(TensorTest, ViewReshapesAndSharesStorage) {
  const Tensor t = Tensor::from_vector(iota_vec(12), {3, 4}, dev());
  const Tensor v = t.view({4, 3});
  EXPECT_EQ(v.shape(), Shape({4, 3}));
  EXPECT_TRUE(v.shares_storage(t));
  EXPECT_EQ(v.raw(), t.raw());
  EXPECT_EQ(v.to_vector(), iota_vec(12));

  EXPECT_EQ(t.view({-1}).shape(), Shape({12}));
  EXPECT_EQ(t.view({-1, 6}).shape(), Shape({2, 6}));
  EXPECT_EQ(t.view({2, -1, 3}).shape(), Shape({2, 2, 3}));
  EXPECT_EQ(t.view({1, 12, 1, -1}).shape(), Shape({1, 12, 1, 1}));
  EXPECT_EQ(t.view(Shape{2, 2, 3}).shape(), Shape({2, 2, 3}));
  EXPECT_EQ(Tensor::zeros({0, 3}, DType::kF32, dev()).view({-1, 3}).shape(), Shape({0, 3}));
}

TEST_P(TensorTest, ViewErrors) {
  const Tensor t = Tensor::zeros({2, 3}, DType::kF32, dev());
  EXPECT_V3D_ERROR(t.view({-1, -1}), "at most one dimension may be -1");
  EXPECT_V3D_ERROR(t.view({4, -1}), "cannot infer");
  EXPECT_V3D_ERROR(t.view({0, -1}), "cannot infer");
  EXPECT_V3D_ERROR(t.view({7}), "does not hold the 6 elements", "(7)");
  EXPECT_V3D_ERROR(t.view({3, 3}), "does not hold the 6 elements");
  EXPECT_V3D_ERROR(t.view({-2, -3}), "negative dimension -2");
  EXPECT_V3D_ERROR(t.view({1, 1, 1, 2, 3}), "at most 4 dimensions");
}

TEST_P(TensorTest, WritingThroughAViewIsVisibleInTheBase) {
  const Tensor base = Tensor::zeros({3, 4}, DType::kF32, dev());
  Tensor flat = base.view({12});
  flat.copy_from(Tensor::from_vector(iota_vec(12, 1.0f), {12}, Device::cpu()));
  EXPECT_EQ(base.to_vector(), iota_vec(12, 1.0f));
}

TEST_P(TensorTest, NarrowSelectsRowsWithAnOffset) {
  const Tensor base = Tensor::from_vector(iota_vec(12), {4, 3}, dev());
  const Tensor n = base.narrow(1, 2);
  EXPECT_EQ(n.shape(), Shape({2, 3}));
  EXPECT_EQ(n.offset(), 3);
  EXPECT_TRUE(n.shares_storage(base));
  EXPECT_EQ(static_cast<char*>(n.raw()) - static_cast<char*>(base.raw()), 3 * 4);
  EXPECT_EQ(n.to_vector(), (std::vector<float>{3, 4, 5, 6, 7, 8}));

  // A narrow of a narrow adds the offsets.
  const Tensor nn = n.narrow(1, 1);
  EXPECT_EQ(nn.offset(), 6);
  EXPECT_EQ(nn.to_vector(), (std::vector<float>{6, 7, 8}));

  // A view of a narrow keeps the offset.
  const Tensor nv = n.view({-1});
  EXPECT_EQ(nv.offset(), 3);
  EXPECT_EQ(nv.narrow(4, 2).to_vector(), (std::vector<float>{7, 8}));
  EXPECT_EQ(nv.narrow(4, 2).offset(), 7);

  // Three-dimensional rows: one row is 2 * 2 elements.
  const Tensor b3 = Tensor::from_vector(iota_vec(12), {3, 2, 2}, dev());
  EXPECT_EQ(b3.narrow(2, 1).offset(), 8);
  EXPECT_EQ(b3.narrow(2, 1).to_vector(), (std::vector<float>{8, 9, 10, 11}));

  // Empty narrows are legal, including at the end.
  EXPECT_EQ(base.narrow(4, 0).numel(), 0);
  EXPECT_EQ(base.narrow(0, 4).to_vector(), iota_vec(12));
}

TEST_P(TensorTest, WritingThroughANarrowIsVisibleInTheBase) {
  const Tensor base = Tensor::from_vector(iota_vec(12), {4, 3}, dev());
  Tensor rows = base.narrow(1, 2);
  rows.copy_from(Tensor::full({2, 3}, -1.0f, Device::cpu()));
  EXPECT_EQ(base.to_vector(), (std::vector<float>{0, 1, 2, -1, -1, -1, -1, -1, -1, 9, 10, 11}));

  // Kernels write through the narrow's pointer as well.
  ops::fill_(base.narrow(3, 1), 5.0f);
  ops::scale_out(base.narrow(0, 1), 10.0f, base.narrow(0, 1));
  EXPECT_EQ(base.to_vector(), (std::vector<float>{0, 10, 20, -1, -1, -1, -1, -1, -1, 5, 5, 5}));
}

TEST_P(TensorTest, NarrowOfI32UsesTheElementSize) {
  const Tensor base = Tensor::from_vector_i32({10, 11, 12, 13, 14, 15}, {3, 2}, dev());
  const Tensor n = base.narrow(2, 1);
  EXPECT_EQ(n.offset(), 4);
  EXPECT_EQ(n.to_vector_i32(), (std::vector<int32_t>{14, 15}));
}

TEST_P(TensorTest, NarrowErrors) {
  const Tensor t = Tensor::zeros({4, 3}, DType::kF32, dev());
  EXPECT_V3D_ERROR(t.narrow(-1, 2), "narrow", "out of range");
  EXPECT_V3D_ERROR(t.narrow(3, 2), "rows [3, 5) out of range", "(4, 3)");
  EXPECT_V3D_ERROR(t.narrow(0, 5), "rows [0, 5) out of range");
  EXPECT_V3D_ERROR(t.narrow(1, -1), "out of range");
  EXPECT_V3D_ERROR(Tensor::zeros({}, DType::kF32, dev()).narrow(0, 1), "at least one dimension");
}

TEST_P(TensorTest, ToCopiesToEveryDeviceAndBack) {
  const std::vector<float> v = iota_vec(37, -18.0f);
  const Tensor t = Tensor::from_vector(v, {37}, dev());
  for (Device other : test::all_devices()) {
    SCOPED_TRACE(dev().str() + " -> " + other.str());
    const Tensor u = t.to(other);
    EXPECT_EQ(u.device(), other);
    EXPECT_EQ(u.shape(), t.shape());
    EXPECT_FALSE(u.shares_storage(t));  // a copy even when already there
    EXPECT_EQ(u.to_vector(), v);
    EXPECT_EQ(u.to(dev()).to_vector(), v);
  }
  const Tensor i = Tensor::from_vector_i32({3, -4, 5}, {3}, dev());
  EXPECT_EQ(i.to(Device::emu()).to(Device::cpu()).to_vector_i32(),
            (std::vector<int32_t>{3, -4, 5}));
}

TEST_P(TensorTest, ToOfANarrowCopiesOnlyTheNarrow) {
  const Tensor base = Tensor::from_vector(iota_vec(12), {6, 2}, dev());
  for (Device other : test::all_devices()) {
    SCOPED_TRACE(other.str());
    const Tensor c = base.narrow(2, 3).to(other);
    EXPECT_EQ(c.offset(), 0);
    EXPECT_EQ(c.shape(), Shape({3, 2}));
    EXPECT_EQ(c.to_vector(), (std::vector<float>{4, 5, 6, 7, 8, 9}));
  }
}

TEST_P(TensorTest, CopyFromEveryDevice) {
  for (Device src_dev : test::all_devices()) {
    SCOPED_TRACE(src_dev.str() + " -> " + dev().str());
    const Tensor src = Tensor::from_vector(iota_vec(6, 100.0f), {6}, src_dev);
    Tensor dst = Tensor::zeros({2, 3}, DType::kF32, dev());  // same numel, other shape
    dst.copy_from(src);
    EXPECT_EQ(dst.shape(), Shape({2, 3}));
    EXPECT_EQ(dst.to_vector(), iota_vec(6, 100.0f));
    // The source is unchanged and independent of the destination.
    ops::fill_(dst, 0.0f);
    EXPECT_EQ(src.to_vector(), iota_vec(6, 100.0f));
  }
}

TEST_P(TensorTest, CopyFromIntoANarrowAndFromANarrow) {
  const Tensor a = Tensor::from_vector(iota_vec(8), {4, 2}, dev());
  for (Device other : test::all_devices()) {
    SCOPED_TRACE(other.str());
    Tensor b = Tensor::zeros({4, 2}, DType::kF32, other);
    b.narrow(1, 2).copy_from(a.narrow(2, 2));
    EXPECT_EQ(b.to_vector(), (std::vector<float>{0, 0, 4, 5, 6, 7, 0, 0}));
  }
}

TEST_P(TensorTest, CopyFromErrors) {
  Tensor dst = Tensor::zeros({4}, DType::kF32, dev());
  EXPECT_V3D_ERROR(dst.copy_from(Tensor::zeros({5}, DType::kF32, dev())), "copy_from", "f32(5)",
                   "f32(4)");
  EXPECT_V3D_ERROR(dst.copy_from(Tensor::zeros({4}, DType::kI32, dev())), "copy_from", "i32(4)");
  EXPECT_V3D_ERROR(dst.copy_from(Tensor()), "undefined");
  Tensor undefined;
  EXPECT_V3D_ERROR(undefined.copy_from(dst), "undefined");
}

TEST_P(TensorTest, CloneIsIndependent) {
  const Tensor t = Tensor::from_vector({1, 2, 3, 4}, {2, 2}, dev());
  const Tensor c = t.clone();
  EXPECT_EQ(c.device(), dev());
  EXPECT_EQ(c.shape(), t.shape());
  EXPECT_FALSE(c.shares_storage(t));
  EXPECT_NE(c.raw(), t.raw());
  ops::fill_(c, 9.0f);
  EXPECT_EQ(t.to_vector(), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(c.to_vector(), std::vector<float>(4, 9.0f));
  ops::fill_(t, -1.0f);
  EXPECT_EQ(c.to_vector(), std::vector<float>(4, 9.0f));
}

TEST_P(TensorTest, Item) {
  EXPECT_EQ(Tensor::full({}, 3.5f, dev()).item(), 3.5f);
  EXPECT_EQ(Tensor::full({1, 1, 1}, -0.25f, dev()).item(), -0.25f);
  EXPECT_EQ(Tensor::from_vector({1, 2, 3}, {3}, dev()).narrow(2, 1).item(), 3.0f);
  EXPECT_V3D_ERROR(Tensor::zeros({2}, DType::kF32, dev()).item(), "item()", "2 elements");
  EXPECT_V3D_ERROR(Tensor::zeros({0}, DType::kF32, dev()).item(), "item()", "0 elements");
  EXPECT_V3D_ERROR(Tensor::zeros({1}, DType::kI32, dev()).item(), "i32");
}

TEST_P(TensorTest, StorageIsReleasedWithTheLastReference) {
  // The base goes out of scope first; the narrow keeps the storage (and its values) alive.
  Tensor n;
  {
    const Tensor base = Tensor::from_vector(iota_vec(10), {5, 2}, dev());
    n = base.narrow(3, 2);
  }
  // Allocate and fill something of the same size: if the storage had been released, this would
  // likely reuse it and change n's values.
  const Tensor other = Tensor::full({5, 2}, -9.0f, dev());
  EXPECT_EQ(n.to_vector(), (std::vector<float>{6, 7, 8, 9}));
}

TEST_P(TensorTest, CheckTensorNamesWhatIsWrong) {
  const Tensor t = Tensor::zeros({2, 3}, DType::kF32, dev());
  EXPECT_NO_THROW(check_tensor(t, "x", dev(), {2, 3}));
  EXPECT_V3D_ERROR(check_tensor(Tensor(), "weight", dev(), {2, 3}), "weight: undefined tensor");
  EXPECT_V3D_ERROR(check_tensor(t, "weight", dev(), {3, 2}), "weight: expected shape (3, 2)",
                   "got (2, 3)");
  EXPECT_V3D_ERROR(check_tensor(t, "weight", dev(), {2, 3}, DType::kI32), "weight: expected i32");
  const Device other = dev().is_cpu() ? Device::emu() : Device::cpu();
  EXPECT_V3D_ERROR(check_tensor(t, "weight", other, {2, 3}),
                   "weight: expected a tensor on " + other.str(), "on " + dev().str());
}

INSTANTIATE_TEST_SUITE_P(Devices, TensorTest, ::testing::ValuesIn(test::device_params()),
                         test::device_test_name);

TEST(TensorCpu, HostPointersAreWritableAndAligned) {
  const Tensor t = Tensor::zeros({5, 3}, DType::kF32, Device::cpu());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw()) % CpuAllocator::kAlignment, 0u);
  float* p = t.f32();
  for (int i = 0; i < 15; ++i) p[i] = static_cast<float>(i * i);
  EXPECT_EQ(t.view({-1}).narrow(4, 2).to_vector(), (std::vector<float>{16, 25}));
  p[14] = -1.0f;
  EXPECT_EQ(t.to(Device::emu()).to_vector()[14], -1.0f);
}

TEST(TensorCuda, UnusableCudaDeviceThrowsOnAllocation) {
  std::string why;
  if (cuda_available(&why)) GTEST_SKIP() << "a CUDA device is usable here; this checks the error";
  std::string msg = test::error_message([] { Tensor::empty({4}, DType::kF32, Device::cuda(0)); });
  for (char& c : msg) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_NE(msg.find("cuda"), std::string::npos) << msg;
}

}  // namespace
}  // namespace v3d
