// Checkpoint file (layout and rationale: docs/checkpoints.md):
//   /            attrs format = "v3d-checkpoint", version (int32), architecture, config_yaml,
//                generator_state (UTF-8 strings), epoch (int64), lr (float32),
//                dropout_seed, dropout_offset (uint64)
//   /model       group with link creation order tracked; one dataset per state_dict key, named by
//                the key (dots kept), float32 or int64, PyTorch's shape (0-d for scalars)
//   /optimizer   optional; attr steps (int64); datasets exp_avg, exp_avg_sq, max_exp_avg_sq f32
//   /metadata    group of UTF-8 string attributes
// Conventions follow the pose store (data/dataset.cpp): variable-length UTF-8 strings, HDF5's error
// printing silenced and its innermost message relayed, one-line errors naming file and object.
#include "trainer/checkpoint.h"

#include <hdf5.h>
#include <unistd.h>

#include <H5Cpp.h>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <sstream>

#include "data/h5_util.h"
#include "kernels/common.h"

namespace v3d {

namespace {

constexpr const char* kOptimizerNames[] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};

std::string float_text(float v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// ---------------------------------------------------------------------------------------------
// Errors: the conventions of data/h5_util.h

using data::h5::join_path;
using data::h5::shape_string;
using data::h5::silence_hdf5;
using data::h5::write_string_attr;

[[noreturn]] void fail(const std::string& file, const std::string& object,
                       const std::string& what) {
  throw Error(file + ": " + object + ": " + what);
}

// ---------------------------------------------------------------------------------------------
// Validation, before the file system is touched

void validate(const Checkpoint& c, const std::string& path) {
  auto check_string = [&](const std::string& s, const std::string& object) {
    // HDF5 variable-length strings are C strings: a NUL would silently truncate.
    if (s.find('\0') != std::string::npos) fail(path, object, "string contains a NUL character");
  };
  std::set<std::string> seen;
  for (const auto& [key, t] : c.tensors) {
    const std::string object = "/model/" + key;
    if (key.empty() || key == "." || key.find('/') != std::string::npos) {
      fail(path, object, "invalid key '" + key + "' (empty, '.' or containing '/')");
    }
    check_string(key, object);
    if (!seen.insert(key).second) fail(path, object, "duplicate key");
    if (!t.defined()) fail(path, object, "undefined tensor");
    if (t.dtype() != DType::kF32 && t.dtype() != DType::kI32) {
      fail(path, object, std::string("unsupported dtype ") + dtype_name(t.dtype()));
    }
  }
  check_string(c.architecture, "/ attribute architecture");
  check_string(c.config_yaml, "/ attribute config_yaml");
  check_string(c.generator_state, "/ attribute generator_state");
  for (const auto& [key, value] : c.metadata) {
    const std::string object = "/metadata attribute " + key;
    if (key.empty()) fail(path, "/metadata", "empty attribute name");
    check_string(key, object);
    check_string(value, object);
  }
  const Tensor* opt[] = {&c.optimizer.exp_avg, &c.optimizer.exp_avg_sq,
                         &c.optimizer.max_exp_avg_sq};
  const int defined = static_cast<int>(
      std::count_if(std::begin(opt), std::end(opt), [](const Tensor* t) { return t->defined(); }));
  if (defined != 0 && defined != 3) {
    fail(path, "/optimizer", "exp_avg, exp_avg_sq and max_exp_avg_sq must all be defined or none");
  }
  if (defined == 0 && c.optimizer.steps != 0) {
    fail(path, "/optimizer", "steps = " + std::to_string(c.optimizer.steps) + " without state");
  }
  if (defined == 3) {
    for (int i = 0; i < 3; ++i) {
      const std::string object = std::string("/optimizer/") + kOptimizerNames[i];
      if (opt[i]->dtype() != DType::kF32) fail(path, object, "expected f32");
      if (!(opt[i]->shape() == opt[0]->shape())) {
        fail(path, object,
             "shape " + opt[i]->shape().str() + " differs from exp_avg's " + opt[0]->shape().str());
      }
    }
    if (c.optimizer.steps < 0) {
      fail(path, "/optimizer attribute steps", "negative: " + std::to_string(c.optimizer.steps));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

template <class T>
void write_scalar_attr(H5::H5Object& obj, const char* name, const H5::PredType& file_type,
                       const H5::PredType& mem_type, T value) {
  H5::Attribute attr = obj.createAttribute(name, file_type, H5::DataSpace(H5S_SCALAR));
  attr.write(mem_type, &value);
}

H5::DataSpace space_for(const Shape& shape) {
  if (shape.ndim() == 0) return H5::DataSpace(H5S_SCALAR);
  std::vector<hsize_t> dims;
  for (int64_t d : shape.to_vector()) dims.push_back(static_cast<hsize_t>(d));
  return H5::DataSpace(static_cast<int>(dims.size()), dims.data());
}

// t: any device; copied to the host. f32 -> float32, i32 -> int64.
void write_tensor(H5::Group& group, const std::string& name, const Tensor& t) {
  H5::DataSpace space = space_for(t.shape());
  if (t.dtype() == DType::kF32) {
    H5::DataSet ds = group.createDataSet(name, H5::PredType::IEEE_F32LE, space);
    const std::vector<float> values = t.to_vector();
    if (!values.empty()) ds.write(values.data(), H5::PredType::NATIVE_FLOAT);
  } else {
    H5::DataSet ds = group.createDataSet(name, H5::PredType::STD_I64LE, space);
    const std::vector<int32_t> values = t.to_vector_i32();
    const std::vector<int64_t> wide(values.begin(), values.end());
    if (!wide.empty()) ds.write(wide.data(), H5::PredType::NATIVE_INT64);
  }
}

// A group whose links iterate in creation order (h5py honours this too), so state_dict order
// survives without a separate key list.
H5::Group create_ordered_group(H5::H5File& file, const char* name) {
  const hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
  if (gcpl < 0) throw H5::GroupIException("create_ordered_group", "H5Pcreate failed");
  hid_t g = -1;
  if (H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) >= 0) {
    g = H5Gcreate2(file.getId(), name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
  }
  H5Pclose(gcpl);
  if (g < 0) throw H5::GroupIException("create_ordered_group", "cannot create the group");
  H5Gclose(g);
  return file.openGroup(name);
}

void write_contents(const Checkpoint& c, H5::H5File& file) {
  H5::Group root = file.openGroup("/");
  write_string_attr(root, "format", kCheckpointFormat);
  write_scalar_attr(root, "version", H5::PredType::STD_I32LE, H5::PredType::NATIVE_INT32,
                    int32_t{kCheckpointVersion});
  write_string_attr(root, "architecture", c.architecture);
  write_string_attr(root, "config_yaml", c.config_yaml);
  write_scalar_attr(root, "epoch", H5::PredType::STD_I64LE, H5::PredType::NATIVE_INT64, c.epoch);
  write_scalar_attr(root, "lr", H5::PredType::IEEE_F32LE, H5::PredType::NATIVE_FLOAT, c.lr);
  write_string_attr(root, "generator_state", c.generator_state);
  write_scalar_attr(root, "dropout_seed", H5::PredType::STD_U64LE, H5::PredType::NATIVE_UINT64,
                    c.dropout_seed);
  write_scalar_attr(root, "dropout_offset", H5::PredType::STD_U64LE, H5::PredType::NATIVE_UINT64,
                    c.dropout_offset);

  H5::Group model = create_ordered_group(file, "/model");
  for (const auto& [key, t] : c.tensors) write_tensor(model, key, t);

  if (c.optimizer.exp_avg.defined()) {
    H5::Group opt = file.createGroup("/optimizer");
    write_scalar_attr(opt, "steps", H5::PredType::STD_I64LE, H5::PredType::NATIVE_INT64,
                      c.optimizer.steps);
    write_tensor(opt, kOptimizerNames[0], c.optimizer.exp_avg);
    write_tensor(opt, kOptimizerNames[1], c.optimizer.exp_avg_sq);
    write_tensor(opt, kOptimizerNames[2], c.optimizer.max_exp_avg_sq);
  }

  H5::Group meta = file.createGroup("/metadata");
  for (const auto& [key, value] : c.metadata) write_string_attr(meta, key, value);
}

// ---------------------------------------------------------------------------------------------
// Reading. Each helper checks existence, kind, type class and shape before reading, so errors
// name what is wrong rather than relaying a generic HDF5 failure.

class Reader : public data::h5::ObjectReader {
 public:
  using ObjectReader::ObjectReader;

  // Member names in creation order when the group tracks it, else in name order.
  std::vector<std::string> members(const H5::Group& g, const std::string& path) const {
    return call(path, "cannot list members", [&] {
      unsigned flags = 0;
      const hid_t gcpl = H5Gget_create_plist(g.getId());
      if (gcpl < 0 || H5Pget_link_creation_order(gcpl, &flags) < 0) {
        if (gcpl >= 0) H5Pclose(gcpl);
        throw H5::GroupIException("members", "cannot read the group creation properties");
      }
      H5Pclose(gcpl);
      const H5_index_t index =
          (flags & H5P_CRT_ORDER_INDEXED) != 0 ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME;
      std::vector<std::string> out;
      const hsize_t n = g.getNumObjs();
      for (hsize_t i = 0; i < n; ++i) {
        const ssize_t len =
            H5Lget_name_by_idx(g.getId(), ".", index, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
        if (len < 0) throw H5::GroupIException("members", "H5Lget_name_by_idx failed");
        std::string name(static_cast<size_t>(len) + 1, '\0');
        H5Lget_name_by_idx(g.getId(), ".", index, H5_ITER_INC, i, name.data(), name.size(),
                           H5P_DEFAULT);
        name.resize(static_cast<size_t>(len));
        out.push_back(std::move(name));
      }
      return out;
    });
  }

  // A float32 dataset becomes an f32 tensor, an integer one an i32 tensor (range-checked); both on
  // the host.
  Tensor tensor(const H5::Group& g, const std::string& name, const std::string& path) const {
    const std::string p = join_path(path, name);
    H5::DataSet ds = dataset(g, name, path);
    const std::vector<hsize_t> dims = call(p, "cannot read shape", [&] {
      H5::DataSpace space = ds.getSpace();
      if (space.getSimpleExtentType() == H5S_NULL) return std::vector<hsize_t>{0};
      std::vector<hsize_t> out(static_cast<size_t>(std::max(space.getSimpleExtentNdims(), 0)));
      if (!out.empty()) space.getSimpleExtentDims(out.data());
      return out;
    });
    if (dims.size() > static_cast<size_t>(Shape::kMaxDims)) {
      fail(p, "expected at most " + std::to_string(Shape::kMaxDims) + " dimensions, got " +
                  shape_string(dims));
    }
    // Before anything is allocated, in 64 bits: a few KB of file can declare any shape.
    uint64_t elements = 1;
    for (const hsize_t d : dims) {
      if (d != 0 && elements > kMaxCheckpointElements / d) {
        fail(p, "shape " + shape_string(dims) + " (expected at most " +
                    std::to_string(kMaxCheckpointElements) + " elements per tensor)");
      }
      elements *= d;
    }
    std::vector<int64_t> shape_dims(dims.begin(), dims.end());
    const Shape shape(shape_dims);
    const H5T_class_t cls = call(p, "cannot read type", [&] { return ds.getTypeClass(); });
    const size_t width = call(p, "cannot read type", [&] { return ds.getDataType().getSize(); });
    if (cls == H5T_FLOAT || cls == H5T_INTEGER) require_standard_number(ds, p);
    require_chunks_within(ds, p);
    if (cls == H5T_FLOAT && width == 4) {
      Tensor t = Tensor::empty(shape, DType::kF32);
      if (t.numel() > 0) {
        call(p, "cannot read values", [&] { ds.read(t.f32(), H5::PredType::NATIVE_FLOAT); });
      }
      return t;
    }
    if (cls == H5T_INTEGER) {
      std::vector<int64_t> wide(static_cast<size_t>(shape.numel()));
      if (!wide.empty()) {
        call(p, "cannot read values", [&] { ds.read(wide.data(), H5::PredType::NATIVE_INT64); });
      }
      std::vector<int32_t> narrow(wide.size());
      for (size_t i = 0; i < wide.size(); ++i) {
        if (wide[i] < std::numeric_limits<int32_t>::min() ||
            wide[i] > std::numeric_limits<int32_t>::max()) {
          fail(p, "element " + std::to_string(i) + " = " + std::to_string(wide[i]) +
                      " does not fit the runtime's int32");
        }
        narrow[i] = static_cast<int32_t>(wide[i]);
      }
      return Tensor::from_vector_i32(narrow, shape);
    }
    fail(p, cls == H5T_FLOAT ? "expected float32 or integer values, got a " +
                                   std::to_string(width * 8) + "-bit float"
                             : "expected float32 or integer values");
  }

  // An attribute's type class after checking it is a scalar (or a one-element array).
  H5T_class_t scalar_class(const H5::Attribute& a, const std::string& p) const {
    const hssize_t n = call(p, "cannot read shape", [&] {
      H5::DataSpace space = a.getSpace();
      return space.getSimpleExtentNdims() <= 1 ? space.getSimpleExtentNpoints() : hssize_t{-1};
    });
    if (n != 1) fail(p, "expected a scalar");
    return call(p, "cannot read type", [&] { return a.getTypeClass(); });
  }

  std::string attr_string(const H5::H5Object& obj, const std::string& name,
                          const std::string& path) const {
    const std::string p = path + " attribute " + name;
    H5::Attribute a = attribute(obj, name.c_str(), path);
    if (scalar_class(a, p) != H5T_STRING) fail(p, "expected a string");
    check_string_attribute(obj, a, p);
    return call(p, "cannot read", [&] { return data::h5::read_string_attr(a); });
  }

  template <class T>
  T attr_integer(const H5::H5Object& obj, const char* name, const std::string& path,
                 const H5::PredType& mem_type) const {
    const std::string p = path + " attribute " + name;
    H5::Attribute a = attribute(obj, name, path);
    if (scalar_class(a, p) != H5T_INTEGER) fail(p, "expected an integer");
    require_standard_number(a, p);
    T value{};
    call(p, "cannot read", [&] { a.read(mem_type, &value); });
    return value;
  }

  float attr_float(const H5::H5Object& obj, const char* name, const std::string& path) const {
    const std::string p = path + " attribute " + name;
    H5::Attribute a = attribute(obj, name, path);
    if (scalar_class(a, p) != H5T_FLOAT) fail(p, "expected a float");
    require_standard_number(a, p);
    float value = 0;
    call(p, "cannot read", [&] { a.read(H5::PredType::NATIVE_FLOAT, &value); });
    return value;
  }

  std::vector<std::string> attr_names(const H5::H5Object& obj, const std::string& path) const {
    check_attributes(obj, path);
    return call(path, "cannot list attributes", [&] {
      std::vector<std::string> out;
      const int n = obj.getNumAttrs();
      for (int i = 0; i < n; ++i)
        out.push_back(obj.openAttribute(static_cast<unsigned>(i)).getName());
      return out;
    });
  }
};

Checkpoint read_contents(const Reader& r, H5::H5File& file, Device device) {
  Checkpoint c;
  H5::Group root = r.call("/", "cannot open root group", [&] { return file.openGroup("/"); });

  // Identify the file first, so a foreign HDF5 file gets a clear message.
  r.check_attributes(root, "/");
  const bool has_format = r.call("/", "cannot look up", [&] { return root.attrExists("format"); });
  if (!has_format) r.fail("/", "missing attribute 'format' (not a v3d-checkpoint file)");
  const std::string format = r.attr_string(root, "format", "/");
  if (format != kCheckpointFormat) {
    r.fail("/ attribute format",
           "expected \"" + std::string(kCheckpointFormat) + "\", got \"" + format + "\"");
  }
  const int64_t version = r.attr_integer<int64_t>(root, "version", "/", H5::PredType::NATIVE_INT64);
  if (version != kCheckpointVersion) {
    r.fail("/ attribute version", "unsupported format version " + std::to_string(version) +
                                      " (this build reads " + std::to_string(kCheckpointVersion) +
                                      (version > kCheckpointVersion ? "; update v3d)" : ")"));
  }
  for (const auto& m : r.members(root, "/")) {
    if (m != "model" && m != "optimizer" && m != "metadata") {
      r.fail(join_path("/", m), "unexpected object (allowed here: model, optimizer, metadata)");
    }
  }

  c.architecture = r.attr_string(root, "architecture", "/");
  c.config_yaml = r.attr_string(root, "config_yaml", "/");
  c.epoch = r.attr_integer<int64_t>(root, "epoch", "/", H5::PredType::NATIVE_INT64);
  if (c.epoch < 0) r.fail("/ attribute epoch", std::to_string(c.epoch) + " (expected >= 0)");
  c.lr = r.attr_float(root, "lr", "/");
  if (!std::isfinite(c.lr) || c.lr < 0.0f)
    r.fail("/ attribute lr", float_text(c.lr) + " (expected a finite learning rate >= 0)");
  c.generator_state = r.attr_string(root, "generator_state", "/");
  c.dropout_seed = r.attr_integer<uint64_t>(root, "dropout_seed", "/", H5::PredType::NATIVE_UINT64);
  c.dropout_offset =
      r.attr_integer<uint64_t>(root, "dropout_offset", "/", H5::PredType::NATIVE_UINT64);

  auto place = [&](Tensor t) { return device.is_cpu() ? t : t.to(device); };

  H5::Group model = r.group(root, "model", "/");
  for (const auto& key : r.members(model, "/model")) {
    c.tensors.emplace_back(key, place(r.tensor(model, key, "/model")));
  }

  if (r.has(root, "optimizer", "/")) {
    H5::Group opt = r.group(root, "optimizer", "/");
    c.optimizer.steps =
        r.attr_integer<int64_t>(opt, "steps", "/optimizer", H5::PredType::NATIVE_INT64);
    if (c.optimizer.steps < 0) {
      r.fail("/optimizer attribute steps", std::to_string(c.optimizer.steps) + " (expected >= 0)");
    }
    Tensor* out[] = {&c.optimizer.exp_avg, &c.optimizer.exp_avg_sq, &c.optimizer.max_exp_avg_sq};
    for (int i = 0; i < 3; ++i) {
      const std::string p = std::string("/optimizer/") + kOptimizerNames[i];
      Tensor t = r.tensor(opt, kOptimizerNames[i], "/optimizer");
      if (t.dtype() != DType::kF32) r.fail(p, "expected float32 values");
      if (i > 0 && !(t.shape() == out[0]->shape())) {
        r.fail(p, "shape " + t.shape().str() + " differs from exp_avg's " + out[0]->shape().str());
      }
      *out[i] = std::move(t);
    }
    for (Tensor* t : out) *t = place(*t);
  }

  H5::Group meta = r.group(root, "metadata", "/");
  for (const auto& name : r.attr_names(meta, "/metadata")) {
    c.metadata[name] = r.attr_string(meta, name, "/metadata");
  }
  return c;
}

}  // namespace

const Tensor* Checkpoint::find(const std::string& key) const {
  for (const auto& [k, t] : tensors) {
    if (k == key) return &t;
  }
  return nullptr;
}

void save_checkpoint(const Checkpoint& ckpt, const std::string& path) {
  silence_hdf5();
  validate(ckpt, path);
  data::h5::write_file_atomically(path, [&](H5::H5File& file) { write_contents(ckpt, file); });
}

void check_checkpoint_values(const Checkpoint& c, const std::string& path) {
  const auto check = [&](const Tensor& t, const std::string& object, bool variance) {
    if (!t.defined() || t.dtype() != DType::kF32) return;
    const std::vector<float> v = t.to_vector();
    for (size_t i = 0; i < v.size(); ++i) {
      if (!std::isfinite(v[i])) {
        fail(path, object,
             "element " + std::to_string(i) + " is " + float_text(v[i]) +
                 " (expected finite values)");
      }
      if (variance && v[i] < 0.0f) {
        fail(path, object,
             "element " + std::to_string(i) + " is " + float_text(v[i]) +
                 " (expected a variance >= 0)");
      }
    }
  };
  for (const auto& [key, t] : c.tensors) check(t, "/model/" + key, ends_with(key, ".running_var"));
  check(c.optimizer.exp_avg, "/optimizer/exp_avg", false);
  check(c.optimizer.exp_avg_sq, "/optimizer/exp_avg_sq", true);
  check(c.optimizer.max_exp_avg_sq, "/optimizer/max_exp_avg_sq", true);
}

Checkpoint load_checkpoint(const std::string& path, Device device) {
  silence_hdf5();
  const Reader r(path);
  H5::H5File file = r.open();
  return read_contents(r, file, device);
}

}  // namespace v3d
