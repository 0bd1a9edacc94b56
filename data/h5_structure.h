// The structure of an HDF5 file checked before libhdf5 loads it: libhdf5 1.10 allocates what a
// file's metadata declares (an object header's chunk, a local heap's data, a fractal heap's block,
// a v2 B-tree's node) before it reads it, so a corrupt size of a few bytes asks for gigabytes.
// Used by ObjectReader (data/h5_util.h); the formats are those of the HDF5 File Format
// Specification version 3.0 ("superblock", "object header", "local heap", "fractal heap", "v2
// B-tree"), 8-byte addresses and lengths only.
#pragma once

#include <cstdint>
#include <set>
#include <string>

namespace v3d::data::h5 {

class FileStructure {
 public:
  // Reads the superblock of `file` and checks the object headers libhdf5 loads when it opens the
  // file (the root group's and the superblock extension's). Throws one-line v3d::Errors
  // "<file>: <object>: what is wrong (what was expected)"; a file that is not HDF5 or cannot be
  // read passes (opening it next says why).
  explicit FileStructure(std::string file);

  // Before libhdf5 loads the object header at `address` (relative to the base address, as
  // H5Lget_info reports it): every chunk of it (the first and those continuation messages name)
  // lies within the file, and so do the heaps and B-trees of its group links and attributes that
  // libhdf5 loads to look up a member or an attribute. `object` names it in the message. Each
  // header is checked once.
  void check_object_header(uint64_t address, const std::string& object);

 private:
  std::string file_;
  uint64_t size_ = 0;  // of the file, in bytes
  uint64_t base_ = 0;  // the superblock's base address: addresses count from it
  std::set<uint64_t> checked_;
};

}  // namespace v3d::data::h5
