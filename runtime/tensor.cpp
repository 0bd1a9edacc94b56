// Tensor, Shape and Storage.
#include "runtime/tensor.h"

#include <cstring>
#include <sstream>

#include "kernels/float_round.h"
#include "runtime/allocator.h"
#include "runtime/gpu_api.h"
#include "runtime/stream.h"

namespace v3d {

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return sizeof(float);
    case DType::kI32:
      return sizeof(int32_t);
    case DType::kBF16:
      return sizeof(uint16_t);
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "f32";
    case DType::kI32:
      return "i32";
    case DType::kBF16:
      return "bf16";
  }
  return "?";
}

Shape::Shape(std::initializer_list<int64_t> dims) : Shape(std::vector<int64_t>(dims)) {}

Shape::Shape(const std::vector<int64_t>& dims) {
  V3D_CHECK(dims.size() <= kMaxDims,
            "tensors have at most " << kMaxDims << " dimensions, got " << dims.size());
  ndim_ = static_cast<int>(dims.size());
  for (int i = 0; i < ndim_; ++i) {
    V3D_CHECK(dims[i] >= 0, "negative dimension " << dims[i] << " in a shape");
    dims_[i] = dims[i];
  }
}

int64_t Shape::operator[](int i) const {
  V3D_CHECK(i >= 0 && i < ndim_, "dimension " << i << " out of range for shape " << str());
  return dims_[i];
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < ndim_; ++i) n *= dims_[i];
  return n;
}

std::string Shape::str() const {
  std::ostringstream os;
  os << "(";
  for (int i = 0; i < ndim_; ++i) os << (i ? ", " : "") << dims_[i];
  os << ")";
  return os.str();
}

bool operator==(const Shape& a, const Shape& b) {
  if (a.ndim_ != b.ndim_) return false;
  for (int i = 0; i < a.ndim_; ++i)
    if (a.dims_[i] != b.dims_[i]) return false;
  return true;
}

Storage::Storage(size_t bytes, Device device)
    : bytes_(bytes), device_(device), allocator_(&allocator_for(device)) {
  data_ = allocator_->allocate(bytes);
}

Storage::~Storage() { allocator_->deallocate(data_, bytes_); }

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  Tensor t;
  t.storage_ =
      std::make_shared<Storage>(static_cast<size_t>(shape.numel()) * dtype_size(dtype), device);
  t.shape_ = shape;
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  if (device.is_cpu()) {
    std::memset(t.raw(), 0, t.nbytes());
  } else {
    const DeviceGuard guard(device);
    gpu_api(device.gpu_kind()).memset(t.raw(), 0, t.nbytes(), current_stream(device));
  }
  return t;
}

Tensor Tensor::full(const Shape& shape, float value, Device device) {
  std::vector<float> v(static_cast<size_t>(shape.numel()), value);
  return from_vector(v, shape, device);
}

namespace {

// A new tensor on `device` holding `count` host elements.
Tensor upload(const void* data, size_t count, DType dtype, const Shape& shape, Device device) {
  V3D_CHECK(static_cast<int64_t>(count) == shape.numel(),
            count << " values do not fill shape " << shape.str());
  Tensor t = Tensor::empty(shape, dtype, device);
  if (t.nbytes() == 0) return t;
  if (device.is_cpu()) {
    std::memcpy(t.raw(), data, t.nbytes());
  } else {
    const DeviceGuard guard(device);
    gpu_api(device.gpu_kind())
        .copy(t.raw(), data, t.nbytes(), CopyDir::kHostToDevice, current_stream(device));
    synchronize(device);
  }
  return t;
}

// The elements of t, from any device, into host memory of t.nbytes() bytes.
void download(const Tensor& t, void* out) {
  if (t.nbytes() == 0) return;
  const Device d = t.device();
  if (d.is_cpu()) {
    std::memcpy(out, t.raw(), t.nbytes());
  } else {
    const DeviceGuard guard(d);
    gpu_api(d.gpu_kind()).copy(out, t.raw(), t.nbytes(), CopyDir::kDeviceToHost, current_stream(d));
    synchronize(d);
  }
}

}  // namespace

Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape, Device device) {
  return upload(values.data(), values.size(), DType::kF32, shape, device);
}

Tensor Tensor::from_vector_i32(const std::vector<int32_t>& values, const Shape& shape,
                               Device device) {
  return upload(values.data(), values.size(), DType::kI32, shape, device);
}

Device Tensor::device() const {
  V3D_CHECK(defined(), "device() of an undefined tensor");
  return storage_->device();
}

void* Tensor::raw() const {
  V3D_CHECK(defined(), "data of an undefined tensor");
  return static_cast<char*>(storage_->data()) + offset_ * static_cast<int64_t>(dtype_size(dtype_));
}

float* Tensor::f32() const {
  V3D_CHECK(dtype_ == DType::kF32, "expected an f32 tensor, got " << str());
  return static_cast<float*>(raw());
}

int32_t* Tensor::i32() const {
  V3D_CHECK(dtype_ == DType::kI32, "expected an i32 tensor, got " << str());
  return static_cast<int32_t*>(raw());
}

uint16_t* Tensor::bf16() const {
  V3D_CHECK(dtype_ == DType::kBF16, "expected a bf16 tensor, got " << str());
  return static_cast<uint16_t*>(raw());
}

Tensor Tensor::view(std::initializer_list<int64_t> dims) const {
  std::vector<int64_t> d(dims);
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < d.size(); ++i) {
    if (d[i] == -1) {
      V3D_CHECK(infer < 0, "view: at most one dimension may be -1");
      infer = static_cast<int>(i);
    } else {
      known *= d[i];
    }
  }
  if (infer >= 0) {
    V3D_CHECK(known > 0 && numel() % known == 0,
              "view: cannot infer a dimension of " << str() << " for the requested shape");
    d[static_cast<size_t>(infer)] = numel() / known;
  }
  return view(Shape(d));
}

Tensor Tensor::view(const Shape& shape) const {
  V3D_CHECK(defined(), "view of an undefined tensor");
  V3D_CHECK(shape.numel() == numel(), "view: shape " << shape.str() << " does not hold the "
                                                     << numel() << " elements of " << str());
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::narrow(int64_t start, int64_t length) const {
  V3D_CHECK(defined() && ndim() >= 1, "narrow needs a tensor with at least one dimension");
  V3D_CHECK(start >= 0 && length >= 0 && start + length <= size(0),
            "narrow: rows [" << start << ", " << start + length << ") out of range for " << str());
  const int64_t row = size(0) == 0 ? 0 : numel() / size(0);
  std::vector<int64_t> d = shape_.to_vector();
  d[0] = length;
  Tensor t = *this;
  t.shape_ = Shape(d);
  t.offset_ = offset_ + start * row;
  return t;
}

Tensor Tensor::to(Device device) const {
  Tensor t = empty(shape_, dtype_, device);
  t.copy_from(*this);
  return t;
}

void Tensor::copy_from(const Tensor& src) const {
  V3D_CHECK(defined() && src.defined(), "copy between undefined tensors");
  V3D_CHECK(src.numel() == numel() && src.dtype() == dtype_,
            "copy_from: " << src.str() << " into " << str());
  const Device d = device(), s = src.device();
  const size_t bytes = nbytes();
  if (bytes == 0) return;
  if (d.is_cpu() && s.is_cpu()) {
    std::memmove(raw(), src.raw(), bytes);
    return;
  }
  if (d.is_gpu() && s.is_gpu() && d.type != s.type) {
    // Between backends (emulated and real CUDA): through host memory.
    std::vector<unsigned char> host(bytes);
    download(src, host.data());
    const DeviceGuard guard(d);
    gpu_api(d.gpu_kind())
        .copy(raw(), host.data(), bytes, CopyDir::kHostToDevice, current_stream(d));
    synchronize(d);
    return;
  }
  if (d.is_gpu() && s.is_gpu()) {
    if (d != s) synchronize(s);  // the source's queued writes first
    const DeviceGuard guard(d);
    // Between two devices of one backend this is a peer copy (unified addressing).
    gpu_api(d.gpu_kind())
        .copy(raw(), src.raw(), bytes, CopyDir::kDeviceToDevice, current_stream(d));
    if (d != s) synchronize(d);  // the source may be reused on its own device's stream
    return;
  }
  const Device gpu = d.is_gpu() ? d : s;
  const DeviceGuard guard(gpu);
  gpu_api(gpu.gpu_kind())
      .copy(raw(), src.raw(), bytes, d.is_gpu() ? CopyDir::kHostToDevice : CopyDir::kDeviceToHost,
            current_stream(gpu));
  synchronize(gpu);
}

std::vector<float> Tensor::to_vector() const {
  V3D_CHECK(dtype_ == DType::kF32 || dtype_ == DType::kBF16, "to_vector of " << str());
  std::vector<float> out(static_cast<size_t>(numel()));
  if (dtype_ == DType::kF32) {
    download(*this, out.data());
    return out;
  }
  std::vector<uint16_t> bits(out.size());
  download(*this, bits.data());
  for (size_t i = 0; i < bits.size(); ++i) out[i] = kernels::bf16_to_float(bits[i]);
  return out;
}

std::vector<int32_t> Tensor::to_vector_i32() const {
  V3D_CHECK(dtype_ == DType::kI32, "to_vector_i32 of " << str());
  std::vector<int32_t> out(static_cast<size_t>(numel()));
  download(*this, out.data());
  return out;
}

float Tensor::item() const {
  V3D_CHECK(numel() == 1, "item() of " << str() << ", which has " << numel() << " elements");
  return to_vector()[0];
}

std::string Tensor::str() const {
  if (!defined()) return "undefined tensor";
  std::ostringstream os;
  os << dtype_name(dtype_) << shape_.str() << " on " << device().str();
  return os.str();
}

void check_f32(const Tensor& t, const char* what) {
  V3D_CHECK(t.defined(), what << ": undefined tensor");
  V3D_CHECK(t.dtype() == DType::kF32, what << ": expected f32, got " << t.str());
}

void check_tensor(const Tensor& t, const char* what, Device device, const Shape& shape,
                  DType dtype) {
  V3D_CHECK(t.defined(), what << ": undefined tensor");
  V3D_CHECK(t.device() == device,
            what << ": expected a tensor on " << device.str() << ", got " << t.str());
  V3D_CHECK(t.dtype() == dtype, what << ": expected " << dtype_name(dtype) << ", got " << t.str());
  V3D_CHECK(t.shape() == shape,
            what << ": expected shape " << shape.str() << ", got " << t.shape().str());
}

}  // namespace v3d
