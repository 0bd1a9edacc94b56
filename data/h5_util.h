// HDF5 conventions shared by every file v3d writes (the pose store, checkpoints, inference
// output): HDF5's own error printing silenced, failures turned into one-line v3d::Errors
// "<file>: <object>: <what> (<HDF5's innermost message>)", variable-length UTF-8 string
// attributes, and atomic writes (a temporary file renamed into place, removed on failure).
#pragma once

#include <H5Cpp.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "kernels/common.h"

namespace v3d::data::h5 {

// Once per process: HDF5 would otherwise print its whole error stack to stderr on each failure.
void silence_hdf5();

// The innermost (most specific) description on HDF5's error stack, or "" when empty. Must run
// before any other HDF5 call, which would clear the stack.
std::string error_detail();

// Runs an HDF5 call and turns an H5::Exception into "<file>: <object>: <what> (<hdf5 detail>)".
template <class F>
auto call(const std::string& file, const std::string& object, const std::string& what, F&& f)
    -> decltype(f()) {
  try {
    return f();
  } catch (const H5::Exception& e) {
    std::string detail = error_detail();
    if (detail.empty()) detail = e.getDetailMsg();
    throw Error(file + ": " + object + ": " + what + " (" + detail + ")");
  }
}

// "(3,)", "(2, 17, 3)": the Python spelling users of h5py know.
std::string shape_string(const std::vector<hsize_t>& dims);
// "/" + name, or parent + "/" + name.
std::string join_path(const std::string& parent, const std::string& name);

void write_string_attr(H5::H5Object& obj, const std::string& name, const std::string& value);
// The value of a string attribute, fixed- or variable-length (h5py writes variable-length), NUL
// padding dropped. HDF5 failures come out as H5::Exception (wrap the call in call()).
std::string read_string_attr(const H5::Attribute& a);

// What every strict reader of a v3d file checks before it reads, each failure one v3d::Error
// "<file>: <object>: <what>": a member exists and is a group or a dataset, an attribute exists.
// `path` is the object path of the group searched; readers of one format derive from it.
class ObjectReader {
 public:
  explicit ObjectReader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const std::string& object, const std::string& what) const {
    throw Error(file_ + ": " + object + ": " + what);
  }
  template <class F>
  auto call(const std::string& object, const std::string& what, F&& f) const -> decltype(f()) {
    return h5::call(file_, object, what, std::forward<F>(f));
  }

  bool has(const H5::Group& g, const std::string& name, const std::string& path) const;
  H5O_type_t kind(const H5::Group& g, const std::string& name, const std::string& path) const;
  H5::Group group(const H5::Group& g, const std::string& name, const std::string& path) const;
  H5::DataSet dataset(const H5::Group& g, const std::string& name, const std::string& path) const;
  H5::Attribute attribute(const H5::H5Object& obj, const char* name, const std::string& path) const;

 private:
  std::string file_;
};

// Creates `path` through `write`, atomically (data::write_atomically): an HDF5 file created as the
// temporary file, closed, then renamed onto `path`.
void write_file_atomically(const std::string& path,
                           const std::function<void(H5::H5File& file)>& write);

}  // namespace v3d::data::h5
