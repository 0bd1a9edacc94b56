// Shared HDF5 helpers (see data/h5_util.h).
#include "data/h5_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
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

// The objects of a consistent collection (global_heap_is_consistent): index -> size. The walk of
// global_heap_is_consistent; object 0, the free space, counts its header.
std::map<uint64_t, uint64_t> heap_objects(const unsigned char* heap, uint64_t size) {
  std::map<uint64_t, uint64_t> objects;
  for (uint64_t at = kHeapHeaderBytes; at < size && size - at >= kHeapObjectHeaderBytes;) {
    const uint64_t index = le_bytes(heap + at, 2);
    const uint64_t object = le_bytes(heap + at + 8, kLengthBytes);
    if (index > 0) objects[index] = object;
    at += index > 0 ? kHeapObjectHeaderBytes + ((object + 7) & ~uint64_t{7}) : object;
  }
  return objects;
}

// Every global heap collection of `file`, found by its signature and version, checked by
// global_heap_is_consistent before libhdf5 parses any: "<file>: /: corrupt global heap collection
// at byte N (...)". One sequential pass over the file. Returns each collection's objects by its
// address.
std::map<uint64_t, std::map<uint64_t, uint64_t>> check_global_heaps(const std::string& file) {
  std::map<uint64_t, std::map<uint64_t, uint64_t>> heaps;
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return heaps;  // opening it next reports why
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return heaps;
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  constexpr size_t kBlock = size_t{1} << 20;
  constexpr size_t kOverlap = kHeapHeaderBytes - 1;  // a header across two blocks is found whole
  std::vector<unsigned char> block(kBlock + kOverlap);
  for (uint64_t base = 0; base < file_size; base += kBlock) {
    const ssize_t got = ::pread(fd, block.data(), block.size(), static_cast<off_t>(base));
    if (got <= 0) return heaps;
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
      heaps[at] = heap_objects(heap.data(), size);
    }
  }
  return heaps;
}

// `n` bytes of `file` at `offset`, or nothing when the file is shorter.
std::optional<std::vector<unsigned char>> read_bytes(const std::string& file, uint64_t offset,
                                                     uint64_t n) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::optional<std::vector<unsigned char>> out;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && offset <= static_cast<uint64_t>(st.st_size) &&
      n <= static_cast<uint64_t>(st.st_size) - offset) {
    out.emplace(static_cast<size_t>(n));
    if (::pread(fd, out->data(), out->size(), static_cast<off_t>(offset)) !=
        static_cast<ssize_t>(n))
      out.reset();
  }
  ::close(fd);
  return out;
}

constexpr size_t kVlenReferenceBytes = 4 + 8 + 4;  // length, collection address, object index
constexpr uint64_t kMaxHeaderChunks = 4096;        // continuation chunks of one object header

// Whether a datatype message describes variable-length strings (class 9, type 1).
bool is_vlen_string(const unsigned char* type, size_t n) {
  return n >= 2 && (type[0] & 0x0f) == 9 && (type[1] & 0x0f) == 1;
}

// The number of elements of a dataspace message, or nothing when it is malformed.
std::optional<uint64_t> dataspace_elements(const unsigned char* space, size_t n) {
  if (n < 4) return std::nullopt;
  const unsigned version = space[0], rank = space[1];
  size_t dims_at = 0;
  if (version == 1) {
    dims_at = 8;
  } else if (version == 2) {
    if (space[3] == 2) return 0;  // a null dataspace
    dims_at = 4;
  } else {
    return std::nullopt;
  }
  if (rank > 32 || n < dims_at + size_t{rank} * kLengthBytes) return std::nullopt;
  uint64_t count = 1;
  for (unsigned d = 0; d < rank; ++d) {
    const uint64_t dim = le_bytes(space + dims_at + d * kLengthBytes, kLengthBytes);
    if (dim != 0 && count > std::numeric_limits<uint64_t>::max() / dim) return std::nullopt;
    count *= dim;
  }
  return count;
}

}  // namespace

std::string ObjectReader::attribute_references(const H5::H5Object& obj, const std::string& name,
                                               const std::string& object) const {
  H5O_info_t info{};
  if (H5Oget_info2(obj.getId(), &info, H5O_INFO_BASIC) < 0)
    fail(object, "cannot read its object header address");
  const auto corrupt = [&](const std::string& what) {
    fail(object, "corrupt object header at byte " + std::to_string(info.addr) + " (" + what + ")");
  };
  const std::optional<std::vector<unsigned char>> prefix = read_bytes(file_, info.addr, 16);
  if (!prefix) corrupt("past the end of the file");
  if ((*prefix)[0] != 1) {
    fail(object, "object header version " + std::to_string((*prefix)[0]) +
                     " (expected 1, as h5py and v3d write; attributes are checked in those only)");
  }
  // Chunks of messages: the first after the 16-byte prefix, then those continuation messages name.
  std::vector<std::pair<uint64_t, uint64_t>> chunks = {
      {info.addr + 16, le_bytes(&(*prefix)[8], 4)}};
  for (size_t c = 0; c < chunks.size(); ++c) {
    if (chunks.size() > kMaxHeaderChunks) corrupt("too many continuation chunks");
    const std::optional<std::vector<unsigned char>> chunk =
        read_bytes(file_, chunks[c].first, chunks[c].second);
    if (!chunk) corrupt("a chunk past the end of the file");
    const unsigned char* m = chunk->data();
    const size_t n = chunk->size();
    for (size_t at = 0; at + 8 <= n;) {
      const uint64_t type = le_bytes(m + at, 2), size = le_bytes(m + at + 2, 2);
      const unsigned flags = m[at + 4];
      const unsigned char* d = m + at + 8;
      if (size > n - at - 8) corrupt("a message past the end of its chunk");
      at += 8 + size;
      if (type == 0x10) {  // continuation
        if (size < 16) corrupt("a short continuation message");
        chunks.emplace_back(le_bytes(d, 8), le_bytes(d + 8, kLengthBytes));
        continue;
      }
      if (type != 0x0c || size < 8) continue;  // not an attribute
      const unsigned version = d[0];
      const size_t name_size = le_bytes(d + 2, 2), type_size = le_bytes(d + 4, 2),
                   space_size = le_bytes(d + 6, 2);
      const auto pad = [&](size_t k) { return version == 1 ? (k + 7) & ~size_t{7} : k; };
      const size_t name_at = version == 3 ? 9 : 8;
      if (version < 1 || version > 3)
        corrupt("an attribute message of version " + std::to_string(version));
      const size_t type_at = name_at + pad(name_size), space_at = type_at + pad(type_size),
                   data_at = space_at + pad(space_size);
      if (data_at > size || name_size == 0 || type_size < 8)
        corrupt("an attribute message past its end");
      // libhdf5 copies the name with strdup.
      if (std::memchr(d + name_at, 0, name_size) == nullptr)
        corrupt("an attribute name without its terminating NUL");
      // libhdf5 copies elements x type size bytes of data out of the message.
      const std::optional<uint64_t> elements = dataspace_elements(d + space_at, space_size);
      const uint64_t element_size = le_bytes(d + type_at + 4, 4);
      if (!elements || (element_size != 0 && *elements > (size - data_at) / element_size)) {
        corrupt("an attribute holds less data than its type and dataspace declare");
      }
      // A variable-length type's data in the file are references, of 16 bytes whatever the type
      // says: libhdf5 copies that much per element out of the message's data to read it.
      if ((d[type_at] & 0x0f) == 9 && element_size != kVlenReferenceBytes) {
        corrupt("a variable-length type of " + std::to_string(element_size) + " bytes, not " +
                std::to_string(kVlenReferenceBytes));
      }
      if (name.empty()) continue;  // checking every attribute
      if (std::string(reinterpret_cast<const char*>(d + name_at), name_size - 1) != name) continue;
      if ((flags & 0x02) != 0 || (version > 1 && (d[1] & 0x03) != 0)) {
        fail(object, "attribute " + name +
                         " is a shared message (expected it stored in the object header, as h5py "
                         "and v3d write)");
      }
      if (!is_vlen_string(d + type_at, type_size)) return {};
      const std::optional<uint64_t> count = dataspace_elements(d + space_at, space_size);
      if (!count || *count > (size - data_at) / kVlenReferenceBytes)
        corrupt("attribute " + name + " holds less data than its dataspace declares");
      return std::string(reinterpret_cast<const char*>(d + data_at),
                         static_cast<size_t>(*count * kVlenReferenceBytes));
    }
  }
  if (name.empty()) return {};
  fail(object, "attribute " + name +
                   " not found in the object header (expected it stored there, "
                   "as h5py and v3d write)");
}

void ObjectReader::check_references(const std::string& references,
                                    const std::string& object) const {
  for (size_t at = 0; at + kVlenReferenceBytes <= references.size(); at += kVlenReferenceBytes) {
    const auto* r = reinterpret_cast<const unsigned char*>(references.data()) + at;
    const uint64_t length = le_bytes(r, 4), address = le_bytes(r + 4, 8),
                   index = le_bytes(r + 12, 4);
    const std::string which = "string " + std::to_string(at / kVlenReferenceBytes);
    if (address == 0) {  // no data: an empty or null string, of length 0
      // libhdf5 sizes a conversion buffer by the length alone (a 2^31 length: 32 GB).
      if (length != 0) {
        fail(object, which + " has no data but a length of " + std::to_string(length) +
                         " (a corrupt file)");
      }
      continue;
    }
    const auto heap = heaps_.find(address);
    if (heap == heaps_.end()) {
      fail(object, which + " refers to byte " + std::to_string(address) +
                       ", where no global heap collection is (a corrupt file)");
    }
    const auto found = heap->second.find(index);
    if (found == heap->second.end() || found->second != length) {
      fail(object, which + " refers to object " + std::to_string(index) + " of " +
                       std::to_string(length) + " bytes of the global heap collection at byte " +
                       std::to_string(address) + ", which " +
                       (found == heap->second.end()
                            ? std::string("has no such object")
                            : "holds " + std::to_string(found->second) + " bytes there") +
                       " (a corrupt file)");
    }
  }
}

void ObjectReader::require_byte_characters(const H5::StrType& type,
                                           const std::string& object) const {
  // A variable-length string is a sequence of its base type, stored in the file's type message.
  const hid_t base = H5Tget_super(type.getId());
  const size_t size = base < 0 ? 0 : H5Tget_size(base);
  if (base >= 0) H5Tclose(base);
  if (size != 1) {
    fail(object, "variable-length strings of " + std::to_string(size) +
                     "-byte characters (expected 1-byte characters, as h5py and v3d write)");
  }
}

void ObjectReader::check_string_attribute(const H5::H5Object& obj, const H5::Attribute& a,
                                          const std::string& object) const {
  const H5::StrType type = call(object, "cannot read type", [&] { return a.getStrType(); });
  if (!call(object, "cannot read type", [&] { return type.isVariableStr(); })) return;
  require_byte_characters(type, object);
  const std::string name = call(object, "cannot read name", [&] { return a.getName(); });
  check_references(attribute_references(obj, name, object), object);
}

void ObjectReader::require_standard_number(const H5::AbstractDs& d,
                                           const std::string& object) const {
  const H5::DataType type = call(object, "cannot read type", [&] { return d.getDataType(); });
  static const H5::PredType* const kStandard[] = {
      &H5::PredType::IEEE_F32LE, &H5::PredType::IEEE_F32BE, &H5::PredType::IEEE_F64LE,
      &H5::PredType::IEEE_F64BE, &H5::PredType::STD_I8LE,   &H5::PredType::STD_I8BE,
      &H5::PredType::STD_I16LE,  &H5::PredType::STD_I16BE,  &H5::PredType::STD_I32LE,
      &H5::PredType::STD_I32BE,  &H5::PredType::STD_I64LE,  &H5::PredType::STD_I64BE,
      &H5::PredType::STD_U8LE,   &H5::PredType::STD_U8BE,   &H5::PredType::STD_U16LE,
      &H5::PredType::STD_U16BE,  &H5::PredType::STD_U32LE,  &H5::PredType::STD_U32BE,
      &H5::PredType::STD_U64LE,  &H5::PredType::STD_U64BE};
  for (const H5::PredType* standard : kStandard)
    if (call(object, "cannot read type", [&] { return type == *standard; })) return;
  const size_t size = call(object, "cannot read type", [&] { return type.getSize(); });
  fail(object, "a non-standard number type of " + std::to_string(size) +
                   " bytes (expected IEEE float32 or float64, or an integer of 1, 2, 4 or 8 "
                   "bytes)");
}

void ObjectReader::require_chunks_within(const H5::DataSet& ds, const std::string& object) const {
  const H5::DSetCreatPropList props =
      call(object, "cannot read its layout", [&] { return ds.getCreatePlist(); });
  const H5D_layout_t layout =
      call(object, "cannot read its layout", [&] { return props.getLayout(); });
  if (layout == H5D_CONTIGUOUS || layout == H5D_COMPACT) {
    // libhdf5 reads elements x type size bytes from storage that may be declared shorter (a
    // compact dataset's storage, in its object header, may be none at all: a null pointer).
    const hsize_t stored = H5Dget_storage_size(ds.getId());
    const hssize_t elements =
        call(object, "cannot read shape", [&] { return ds.getSpace().getSimpleExtentNpoints(); });
    const size_t element_size =
        call(object, "cannot read type", [&] { return ds.getDataType().getSize(); });
    if ((layout == H5D_COMPACT || H5Dget_offset(ds.getId()) != HADDR_UNDEF) &&
        stored < static_cast<hsize_t>(elements) * element_size) {
      fail(object, "its storage holds " + std::to_string(stored) + " bytes, less than its " +
                       std::to_string(elements) + " elements need (a corrupt file)");
    }
  }
  if (layout != H5D_CHUNKED) return;
  const H5::DataSpace space = call(object, "cannot read shape", [&] { return ds.getSpace(); });
  const int rank = call(object, "cannot read shape", [&] { return space.getSimpleExtentNdims(); });
  std::vector<hsize_t> dims(static_cast<size_t>(rank)), chunk(static_cast<size_t>(rank));
  call(object, "cannot read shape", [&] { space.getSimpleExtentDims(dims.data()); });
  const int chunk_rank =
      call(object, "cannot read its chunks", [&] { return props.getChunk(rank, chunk.data()); });
  bool within = chunk_rank == rank;
  for (size_t i = 0; within && i < dims.size(); ++i) within = chunk[i] >= 1 && chunk[i] <= dims[i];
  if (!within) {
    fail(object, "chunks of " + shape_string(chunk) + " larger than the dataset's " +
                     shape_string(dims) + " (a corrupt file)");
  }
}

void ObjectReader::check_string_dataset(const H5::DataSet& ds, const std::string& object) const {
  const H5::StrType type = call(object, "cannot read type", [&] { return ds.getStrType(); });
  if (!call(object, "cannot read type", [&] { return type.isVariableStr(); })) return;
  require_byte_characters(type, object);
  const H5D_layout_t layout =
      call(object, "cannot read its layout", [&] { return ds.getCreatePlist().getLayout(); });
  if (layout != H5D_CONTIGUOUS) {
    fail(object,
         "variable-length strings not stored contiguous (expected the layout h5py and v3d "
         "write)");
  }
  const hsize_t count =
      call(object, "cannot read shape", [&] { return ds.getSpace().getSimpleExtentNpoints(); });
  const haddr_t offset = H5Dget_offset(ds.getId());
  if (offset == HADDR_UNDEF) return;  // nothing stored: every string reads as empty
  const std::optional<std::vector<unsigned char>> bytes =
      read_bytes(file_, offset, static_cast<uint64_t>(count) * kVlenReferenceBytes);
  if (!bytes) fail(object, "its data runs past the end of the file (a corrupt file)");
  check_references(std::string(bytes->begin(), bytes->end()), object);
}

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
    // Through the C API: a null string (stored without data) reads as a null pointer, which the
    // C++ API's read would pass to strlen. One element only: the buffer holds one pointer.
    if (a.getSpace().getSimpleExtentNpoints() != 1)
      throw H5::AttributeIException("read_string_attr", "expected a scalar string");
    char* raw = nullptr;
    if (H5Aread(a.getId(), mem.getId(), &raw) < 0)
      throw H5::AttributeIException("H5Aread", "cannot read the string");
    value = raw != nullptr ? raw : "";
    H5free_memory(raw);
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
  heaps_ = check_global_heaps(file_);
  structure_ = std::make_shared<FileStructure>(file_);
  H5::H5File file = call("/", "cannot open (truncated or corrupt HDF5 file?)", [&] {
    H5::FileAccPropList fapl;
    fapl.setFcloseDegree(H5F_CLOSE_STRONG);
    return H5::H5File(file_, H5F_ACC_RDONLY, H5::FileCreatPropList::DEFAULT, fapl);
  });
  return file;
}

bool ObjectReader::has(const H5::Group& g, const std::string& name, const std::string& path) const {
  return call(join_path(path, name), "cannot look up", [&] { return g.nameExists(name); });
}

H5O_type_t ObjectReader::kind(const H5::Group& g, const std::string& name,
                              const std::string& path) const {
  const std::string p = join_path(path, name);
  // The link names the object header's address without loading it; childObjType loads it.
  H5L_info_t link{};
  if (H5Lget_info(g.getId(), name.c_str(), &link, H5P_DEFAULT) < 0) {
    const std::string detail = error_detail();
    fail(p, "cannot open (" + excerpt(detail.empty() ? "H5Lget_info failed" : detail, 300) + ")");
  }
  if (link.type != H5L_TYPE_HARD) {
    fail(p, std::string(link.type == H5L_TYPE_SOFT ? "a soft link" : "an external link") +
                " (expected a group or a dataset stored in its group, as h5py and v3d write)");
  }
  if (structure_) structure_->check_object_header(link.u.address, p);
  return call(p, "cannot open", [&] { return g.childObjType(name); });
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
  check_attributes(obj, path);
  const std::string p = path + " attribute " + name;
  const bool exists = call(p, "cannot look up", [&] { return obj.attrExists(name); });
  if (!exists) fail(path, std::string("missing attribute '") + name + "'");
  return call(p, "cannot open", [&] { return obj.openAttribute(name); });
}

}  // namespace v3d::data::h5
