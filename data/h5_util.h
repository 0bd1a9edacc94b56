// HDF5 conventions shared by every file v3d writes (the pose store, checkpoints, inference
// output): HDF5's own error printing silenced, failures turned into one-line v3d::Errors
// "<file>: <object>: <what> (<HDF5's innermost message>)", variable-length UTF-8 string
// attributes, and atomic writes (a temporary file renamed into place, removed on failure).
#pragma once

#include <H5Cpp.h>

#include <functional>
#include <string>
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

// Creates `path` through `write`, atomically: the contents go to a temporary file next to it
// (named with the pid and a counter), which is closed and renamed onto `path`; on any failure the
// temporary file is removed and the error rethrown, so `path` is either the old file or complete.
void write_file_atomically(const std::string& path,
                           const std::function<void(H5::H5File& file)>& write);

}  // namespace v3d::data::h5
