// HDF5 conventions shared by every file v3d writes (the pose store, checkpoints, inference
// output): HDF5's own error printing silenced, failures turned into one-line v3d::Errors
// "<file>: <object>: <what> (<HDF5's innermost message>)", variable-length UTF-8 string
// attributes, and atomic writes (a temporary file renamed into place, removed on failure).
#pragma once

#include <H5Cpp.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "data/h5_structure.h"
#include "kernels/common.h"
#include "kernels/text.h"

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
    // One line, however HDF5 phrased it.
    throw Error(file + ": " + object + ": " + what + " (" + excerpt(detail, 300) + ")");
  }
}

// Throws "<file>: no such file", "<file>: is a directory (expected a file)" or "<file>: not a
// regular file" unless `file` is a regular file (or a link to one) that readers can open.
void require_regular_file(const std::string& file);

// Whether `n` bytes read from a file hold, where they start with a global heap collection
// ("GCOL", version 1) of at most n bytes, objects that tile it exactly with every size in bounds.
// True for anything else (other data, or the first part of a larger collection).
bool global_heap_is_consistent(const unsigned char* image, size_t n);

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

  // The file, read-only, after checking it is a regular file, an HDF5 file, and that every global
  // heap collection in it (where variable-length strings live) is consistent: libhdf5 1.10 trusts
  // their object sizes and copies past the heap on a corrupt one ("<file>: /: corrupt global heap
  // collection at byte N"); it keeps their objects for check_string_attribute and
  // check_string_dataset. Files with other than HDF5's default 8-byte addresses and lengths are
  // refused (the checks read 8-byte ones; h5py and v3d write nothing else). One extra sequential
  // pass over the file. Before libhdf5 opens it, the object headers it loads then (the root
  // group's) are checked as kind() checks each member's (FileStructure, data/h5_structure.h).
  H5::H5File open() const;

  [[noreturn]] void fail(const std::string& object, const std::string& what) const {
    throw Error(file_ + ": " + object + ": " + what);
  }
  template <class F>
  auto call(const std::string& object, const std::string& what, F&& f) const -> decltype(f()) {
    return h5::call(file_, object, what, std::forward<F>(f));
  }

  bool has(const H5::Group& g, const std::string& name, const std::string& path) const;
  // The kind of member `name` of `g`, after checking its object header in the file before libhdf5
  // loads it (FileStructure::check_object_header): every chunk of it within the file. A member
  // that is a soft or external link is refused (h5py and v3d store every object in its group).
  H5O_type_t kind(const H5::Group& g, const std::string& name, const std::string& path) const;
  H5::Group group(const H5::Group& g, const std::string& name, const std::string& path) const;
  H5::DataSet dataset(const H5::Group& g, const std::string& name, const std::string& path) const;
  H5::Attribute attribute(const H5::H5Object& obj, const char* name, const std::string& path) const;

  // Before a variable-length string attribute `a` of `obj` or dataset `ds` is read (a no-op for
  // fixed-length strings): every reference in it must name an object of a global heap collection
  // (found by open()) whose size is the reference's length. libhdf5 1.10 reads the named object
  // into a buffer of that length without checking either (H5T__conv_vlen, H5HG_read), so a
  // corrupt reference reads past its buffers. "<file>: <object>: string N refers to object I of L
  // bytes of the global heap collection at byte A, which has no such object (a corrupt file)".
  // The references are read from the file: attributes in version-1 object headers, datasets
  // stored contiguous, as h5py and v3d write them; anything else is refused. So are characters of
  // other than 1 byte (require_byte_characters).
  void check_string_attribute(const H5::H5Object& obj, const H5::Attribute& a,
                              const std::string& object) const;
  void check_string_dataset(const H5::DataSet& ds, const std::string& object) const;

  // Before libhdf5 looks at the attributes of `obj` (attribute() calls it): every attribute message
  // of its version-1 object header holds the data its type and dataspace declare. libhdf5 1.10
  // decodes them all to find one and copies that much out of the message ("<file>: <object>:
  // corrupt object header at byte N (...)").
  void check_attributes(const H5::H5Object& obj, const std::string& object) const {
    attribute_references(obj, "", object);
  }

  // Before numbers are read from `d` (a dataset or an attribute): its type must be one of HDF5's
  // standard ones, IEEE float32 or float64 or an integer of 1, 2, 4 or 8 bytes, either byte order.
  // libhdf5 1.10 converts any declared size and layout, and overruns its buffers on some (a
  // "float" of 4 MB per element). "<file>: <object>: a non-standard number type (...)".
  void require_standard_number(const H5::AbstractDs& d, const std::string& object) const;

  // Before a chunked dataset is read: no chunk may be larger than the dataset along any axis, as
  // v3d and h5py chunk. libhdf5 1.10 copies a whole chunk out of a decompressed one that may be
  // shorter ("<file>: <object>: chunks of (...) larger than the dataset's (...)").
  void require_chunks_within(const H5::DataSet& ds, const std::string& object) const;

 private:
  // A variable-length string type's characters must be single bytes: libhdf5 1.10 allocates a
  // string's length times the character size its type declares before converting it (a 14-byte
  // string of 1.3 GB characters: 18.8 GB).
  void require_byte_characters(const H5::StrType& type, const std::string& object) const;
  // The bytes of the references of attribute `name`, read from `obj`'s object header, after
  // checking that every attribute message there holds the data its type and dataspace declare
  // (libhdf5 1.10 copies that much out of the message). An empty name checks only.
  std::string attribute_references(const H5::H5Object& obj, const std::string& name,
                                   const std::string& object) const;
  void check_references(const std::string& references, const std::string& object) const;

  std::string file_;
  // open(): the file's structure, its object headers checked as readers reach them.
  mutable std::shared_ptr<FileStructure> structure_;
  // open(): every global heap collection of the file by address: object index -> size.
  mutable std::map<uint64_t, std::map<uint64_t, uint64_t>> heaps_;
};

// Creates `path` through `write`, atomically: the HDF5 file is built in memory, then written by
// data::write_bytes_atomically (a temporary file renamed onto `path`; a full disk is one line
// naming `path` and the system's reason, with no temporary file left and the old file intact).
// Takes memory for the whole file (compressed) while it is written.
void write_file_atomically(const std::string& path,
                           const std::function<void(H5::H5File& file)>& write);

}  // namespace v3d::data::h5
