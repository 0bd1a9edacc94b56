// Tensors: contiguous float32, int32 or bfloat16 arrays of up to four dimensions on a device,
// sharing reference-counted storage. A view (reshape, or a range of rows along dimension 0) shares
// the storage of its base and stays contiguous, so every kernel can take a raw pointer and a count.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "runtime/device.h"

namespace v3d {

// kBF16: bfloat16 bit patterns (the upper half of a float32, kernels/float_round.h), the storage
// of activations that only BF16 arithmetic reads (the BF16 training convolutions' saved inputs).
enum class DType : uint8_t { kF32, kI32, kBF16 };
size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);

// Up to four dimensions; zero dimensions is a scalar with one element.
class Shape {
 public:
  static constexpr int kMaxDims = 4;
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  explicit Shape(const std::vector<int64_t>& dims);

  int ndim() const { return ndim_; }
  int64_t operator[](int i) const;
  int64_t numel() const;
  std::vector<int64_t> to_vector() const { return {dims_.begin(), dims_.begin() + ndim_}; }
  std::string str() const;  // "(2, 3)"
  friend bool operator==(const Shape& a, const Shape& b);

 private:
  int ndim_ = 0;
  std::array<int64_t, kMaxDims> dims_{};
};

class Allocator;

// One device allocation, freed when the last tensor referring to it goes.
class Storage {
 public:
  Storage(size_t bytes, Device device);
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage();
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
  Allocator* allocator_ = nullptr;
};

class Tensor {
 public:
  Tensor() = default;  // undefined: no storage

  static Tensor empty(const Shape& shape, DType dtype = DType::kF32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::kF32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, float value, Device device = Device::cpu());
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape,
                            Device device = Device::cpu());
  static Tensor from_vector_i32(const std::vector<int32_t>& values, const Shape& shape,
                                Device device = Device::cpu());

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return shape_.ndim(); }
  int64_t size(int dim) const { return shape_[dim]; }
  int64_t numel() const { return shape_.numel(); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const;
  int64_t offset() const { return offset_; }  // in elements, from the start of the storage

  // Typed pointers; throw when the dtype does not match. On GPU devices these are device pointers.
  float* f32() const;
  int32_t* i32() const;
  uint16_t* bf16() const;  // bfloat16 bit patterns
  void* raw() const;

  // A tensor of another shape with the same elements, sharing storage; one dimension may be -1.
  Tensor view(std::initializer_list<int64_t> dims) const;
  Tensor view(const Shape& shape) const;
  // Rows [start, start + length) along dimension 0, sharing storage.
  Tensor narrow(int64_t start, int64_t length) const;
  bool shares_storage(const Tensor& other) const { return storage_ == other.storage_; }

  // A copy on `device` (a copy even when already there).
  Tensor to(Device device) const;
  Tensor clone() const { return to(device()); }
  // Copies src's elements into this tensor (same numel and dtype, any devices). Synchronous with
  // respect to the host when either side is host memory.
  void copy_from(const Tensor& src) const;

  std::vector<float> to_vector() const;  // f32 (or bf16, widened exactly), from any device
  std::vector<int32_t> to_vector_i32() const;
  float item() const;  // the single element of a one-element f32 tensor

  std::string str() const;  // "f32(2, 3) on cpu"

 private:
  std::shared_ptr<Storage> storage_;
  int64_t offset_ = 0;
  Shape shape_;
  DType dtype_ = DType::kF32;
};

// Throws v3d::Error naming `what` unless t is defined and f32.
void check_f32(const Tensor& t, const char* what);
// Throws v3d::Error naming `what` unless t is defined, on `device`, f32 and of `shape`.
void check_tensor(const Tensor& t, const char* what, Device device, const Shape& shape,
                  DType dtype = DType::kF32);

}  // namespace v3d
