// Shared HDF5 helpers (see data/h5_util.h).
#include "data/h5_util.h"

#include "data/atomic_file.h"

namespace v3d::data::h5 {

namespace {
herr_t collect_error(unsigned /*n*/, const H5E_error2_t* err, void* data) {
  auto* out = static_cast<std::string*>(data);
  // Walking downward, the last entry is the deepest: it names the actual cause.
  if (err->desc != nullptr && err->desc[0] != '\0') *out = err->desc;
  return 0;
}
}  // namespace

void silence_hdf5() {
  static const bool done = [] {
    H5::Exception::dontPrint();
    return true;
  }();
  (void)done;
}

std::string error_detail() {
  std::string detail;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_error, &detail);
  return detail;
}

std::string shape_string(const std::vector<hsize_t>& dims) {
  std::string out = "(";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(dims[i]);
  }
  return out + (dims.size() == 1 ? ",)" : ")");
}

std::string join_path(const std::string& parent, const std::string& name) {
  return parent == "/" ? "/" + name : parent + "/" + name;
}

void write_string_attr(H5::H5Object& obj, const std::string& name, const std::string& value) {
  H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
  type.setCset(H5T_CSET_UTF8);
  H5::Attribute attr = obj.createAttribute(name, type, H5::DataSpace(H5S_SCALAR));
  attr.write(type, value);
}

void write_file_atomically(const std::string& path,
                           const std::function<void(H5::H5File& file)>& write) {
  silence_hdf5();
  data::write_atomically(path, [&](const std::string& tmp) {
    H5::FileAccPropList fapl;
    fapl.setFcloseDegree(H5F_CLOSE_STRONG);  // close() really closes, before the rename
    H5::H5File file = call(path, "/", "cannot create " + tmp, [&] {
      return H5::H5File(tmp, H5F_ACC_TRUNC, H5::FileCreatPropList::DEFAULT, fapl);
    });
    call(path, "/", "write failed", [&] {
      write(file);
      file.close();
    });
  });
}

std::string read_string_attr(const H5::Attribute& a) {
  H5::StrType file_type = a.getStrType();
  std::string value;
  // Fixed- and variable-length strings read through different paths, chosen by the memory type;
  // HDF5 does not convert character sets, so the memory type takes the file's.
  if (file_type.isVariableStr()) {
    H5::StrType mem(H5::PredType::C_S1, H5T_VARIABLE);
    mem.setCset(file_type.getCset());
    a.read(mem, value);
  } else {
    a.read(file_type, value);
    value = value.c_str();  // drop NUL padding
  }
  return value;
}

bool ObjectReader::has(const H5::Group& g, const std::string& name, const std::string& path) const {
  return call(join_path(path, name), "cannot look up", [&] { return g.nameExists(name); });
}

H5O_type_t ObjectReader::kind(const H5::Group& g, const std::string& name,
                              const std::string& path) const {
  return call(join_path(path, name), "cannot open", [&] { return g.childObjType(name); });
}

H5::Group ObjectReader::group(const H5::Group& g, const std::string& name,
                              const std::string& path) const {
  const std::string p = join_path(path, name);
  if (!has(g, name, path)) fail(p, "missing group");
  if (kind(g, name, path) != H5O_TYPE_GROUP) fail(p, "expected a group, found a dataset");
  return call(p, "cannot open group", [&] { return g.openGroup(name); });
}

H5::DataSet ObjectReader::dataset(const H5::Group& g, const std::string& name,
                                  const std::string& path) const {
  const std::string p = join_path(path, name);
  if (!has(g, name, path)) fail(p, "missing dataset");
  if (kind(g, name, path) != H5O_TYPE_DATASET) fail(p, "expected a dataset, found a group");
  return call(p, "cannot open dataset", [&] { return g.openDataSet(name); });
}

H5::Attribute ObjectReader::attribute(const H5::H5Object& obj, const char* name,
                                      const std::string& path) const {
  const std::string p = path + " attribute " + name;
  const bool exists = call(p, "cannot look up", [&] { return obj.attrExists(name); });
  if (!exists) fail(path, std::string("missing attribute '") + name + "'");
  return call(p, "cannot open", [&] { return obj.openAttribute(name); });
}

}  // namespace v3d::data::h5
