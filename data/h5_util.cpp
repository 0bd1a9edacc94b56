// Shared HDF5 helpers (see data/h5_util.h).
#include "data/h5_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "data/atomic_file.h"

namespace v3d::data::h5 {

namespace {

// Growth step of the in-memory file (the core driver reallocates by this much).
constexpr size_t kCoreIncrement = size_t{16} << 20;

herr_t collect_error(unsigned /*n*/, const H5E_error2_t* err, void* data) {
  auto* out = static_cast<std::string*>(data);
  // Walking downward, the last entry is the deepest: it names the actual cause.
  if (err->desc != nullptr && err->desc[0] != '\0') *out = err->desc;
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Global heap collections, where variable-length strings live: libhdf5 1.10 trusts the object
// sizes in them (H5HG__cache_heap_deserialize, H5HG_read), so the readers check them first.

constexpr size_t kLengthBytes = 8;                           // HDF5's default "size of lengths"
constexpr size_t kHeapHeaderBytes = 8 + kLengthBytes;        // "GCOL", version, 3 reserved, size
constexpr size_t kHeapObjectHeaderBytes = 8 + kLengthBytes;  // index, refs, 4 reserved, size

uint64_t le_bytes(const unsigned char* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = n; i-- > 0;) v = (v << 8) | p[i];
  return v;
}

// Every global heap collection of `file`, found by its signature and version, checked by
// global_heap_is_consistent before libhdf5 parses any: "<file>: /: corrupt global heap collection
// at byte N (...)". One sequential pass over the file.
void check_global_heaps(const std::string& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;  // opening it next reports why
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return;
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  constexpr size_t kBlock = size_t{1} << 20;
  constexpr size_t kOverlap = kHeapHeaderBytes - 1;  // a header across two blocks is found whole
  std::vector<unsigned char> block(kBlock + kOverlap);
  for (uint64_t base = 0; base < file_size; base += kBlock) {
    const ssize_t got = ::pread(fd, block.data(), block.size(), static_cast<off_t>(base));
    if (got <= 0) return;
    const size_t n = static_cast<size_t>(got);
    for (size_t i = 0; i + kHeapHeaderBytes <= n && i < kBlock; ++i) {
      if (block[i] != 'G' || std::memcmp(&block[i], "GCOL", 4) != 0 || block[i + 4] != 1) continue;
      const uint64_t at = base + i;
      const uint64_t size = le_bytes(&block[i + 8], kLengthBytes);
      // A collection past the end of the file is one libhdf5 cannot read: it fails cleanly.
      if (size > file_size - at) continue;
      std::vector<unsigned char> heap(static_cast<size_t>(size));
      if (::pread(fd, heap.data(), heap.size(), static_cast<off_t>(at)) !=
          static_cast<ssize_t>(size))
        continue;
      if (!global_heap_is_consistent(heap.data(), heap.size()))
        throw Error(file + ": /: corrupt global heap collection at byte " + std::to_string(at) +
                    " (its objects do not tile it; a corrupt file)");
    }
  }
}

}  // namespace

bool global_heap_is_consistent(const unsigned char* image, size_t n) {
  if (n < kHeapHeaderBytes || std::memcmp(image, "GCOL", 4) != 0 || image[4] != 1) return true;
  const uint64_t size = le_bytes(image + 8, kLengthBytes);
  if (size > n) return true;  // the first part of a larger collection: the whole is read next
  if (size < kHeapHeaderBytes) return false;
  // As libhdf5 1.10's parser walks it (H5HG__cache_heap_deserialize), which trusts every size.
  uint64_t at = kHeapHeaderBytes;
  while (at < size) {
    if (size - at < kHeapObjectHeaderBytes) return true;  // a tail too small for an object: free
    const uint64_t index = le_bytes(image + at, 2);
    const uint64_t object = le_bytes(image + at + 8, kLengthBytes);
    const uint64_t room = size - at;
    uint64_t need = object;  // object 0, the free space, counts its header
    if (index > 0) {
      if (object > room - kHeapObjectHeaderBytes) return false;
      need = kHeapObjectHeaderBytes + ((object + 7) & ~uint64_t{7});
    }
    if (need < kHeapObjectHeaderBytes || need > room) return false;
    at += need;
  }
  return true;
}

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

void require_regular_file(const std::string& file) {
  std::error_code ec;
  const std::filesystem::file_status st = std::filesystem::status(file, ec);
  if (st.type() == std::filesystem::file_type::regular) return;
  if (st.type() == std::filesystem::file_type::directory)
    throw Error(file + ": is a directory (expected a file)");
  if (std::filesystem::exists(st)) throw Error(file + ": not a regular file");
  throw Error(file + ": no such file");
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
  // The file is built in memory (HDF5's core driver without a backing store), then written by one
  // checked write. So HDF5 never meets a full disk: there, its handles fail to close while the
  // exception unwinds, the C++ API closes the file a second time and libhdf5 1.10 crashes; and
  // the one write reports the system's reason ("No space left on device") with the file name.
  std::vector<unsigned char> image;
  {
    H5::FileAccPropList fapl;
    fapl.setCore(kCoreIncrement, false);
    // The only close of the file is its destructor's, and closing memory cannot fail.
    H5::H5File file = call(path, "/", "cannot create the file in memory", [&] {
      return H5::H5File(path, H5F_ACC_TRUNC, H5::FileCreatPropList::DEFAULT, fapl);
    });
    call(path, "/", "write failed", [&] {
      write(file);
      file.flush(H5F_SCOPE_GLOBAL);
      const ssize_t size = H5Fget_file_image(file.getId(), nullptr, 0);
      if (size < 0) throw H5::FileIException("H5Fget_file_image", "cannot read the file image");
      image.resize(static_cast<size_t>(size));
      if (H5Fget_file_image(file.getId(), image.data(), image.size()) != size)
        throw H5::FileIException("H5Fget_file_image", "cannot read the file image");
    });
  }
  data::write_bytes_atomically(path, image.data(), image.size());
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

H5::H5File ObjectReader::open() const {
  silence_hdf5();
  require_regular_file(file_);
  // H5Fis_hdf5 looks for the signature only; a truncated file passes it and fails at open below.
  if (H5Fis_hdf5(file_.c_str()) <= 0) fail("/", "not an HDF5 file");
  check_global_heaps(file_);
  H5::H5File file = call("/", "cannot open (truncated or corrupt HDF5 file?)", [&] {
    H5::FileAccPropList fapl;
    fapl.setFcloseDegree(H5F_CLOSE_STRONG);
    return H5::H5File(file_, H5F_ACC_RDONLY, H5::FileCreatPropList::DEFAULT, fapl);
  });
  size_t address_bytes = 0, length_bytes = 0;
  call("/", "cannot read the file's creation properties",
       [&] { file.getCreatePlist().getSizes(address_bytes, length_bytes); });
  if (length_bytes != kLengthBytes) {
    fail("/", "HDF5 lengths of " + std::to_string(length_bytes) + " bytes (expected " +
                  std::to_string(kLengthBytes) + ", HDF5's default)");
  }
  return file;
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
