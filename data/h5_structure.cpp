// HDF5 structure checks before libhdf5 loads metadata (see data/h5_structure.h).
#include "data/h5_structure.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "kernels/common.h"

namespace v3d::data::h5 {

namespace {

constexpr uint64_t kUndefined = ~uint64_t{0};  // HDF5's undefined address
constexpr size_t kWord = 8;                    // sizes of addresses and lengths
constexpr uint64_t kMaxHeaderChunks = 4096;    // continuation chunks of one object header
constexpr unsigned kMaxBTreeDepth = 32;        // far beyond any file's: 2^32 records at least
constexpr unsigned char kSignature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

uint64_t le(const unsigned char* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = n; i-- > 0;) v = (v << 8) | p[i];
  return v;
}

bool power_of_two(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

unsigned log2_of(uint64_t v) {
  unsigned n = 0;
  while (v >>= 1) ++n;
  return n;
}

// The bytes a datatype message at `t` takes, at most `n`, or nothing when it runs past them or
// nests deeper than HDF5 allows. libhdf5 1.10 decodes a datatype trusting its counts and names:
// it copies each compound member's and enum member's name with strdup, and an enum's values by
// count x size, past the message on a corrupt one. Per the specification's datatype message.
std::optional<size_t> datatype_size(const unsigned char* t, size_t n, unsigned depth = 0) {
  if (n < 8 || depth > 32) return std::nullopt;
  const unsigned type_class = t[0] & 0x0f, version = t[0] >> 4;
  const uint64_t members = le(t + 1, 2), size = le(t + 4, 4);
  size_t at = 8;
  // A NUL-terminated name, padded to 8 bytes before version 3.
  const auto name = [&]() -> bool {
    const void* nul = at < n ? std::memchr(t + at, 0, n - at) : nullptr;
    if (nul == nullptr) return false;
    const size_t length =
        static_cast<size_t>(static_cast<const unsigned char*>(nul) - (t + at)) + 1;
    at += version < 3 ? (length + 7) & ~size_t{7} : length;
    return at <= n;
  };
  const auto nested = [&]() -> bool {
    const std::optional<size_t> inner = datatype_size(t + at, n - at, depth + 1);
    if (!inner) return false;
    at += *inner;
    return true;
  };
  switch (type_class) {
    case 0:  // fixed-point, bit field: offset, precision
    case 4:
      at += 4;
      break;
    case 1:  // floating-point: offset, precision, exponent and mantissa fields, bias
      at += 12;
      break;
    case 2:  // time: precision
      at += 2;
      break;
    case 3:  // string, reference: nothing
    case 7:
      break;
    case 5:  // opaque: a tag of the length the bit field's first byte gives
      at += t[1];
      break;
    case 6:  // compound: per member a name, its offset (and before version 3 more), its type
      for (uint64_t m = 0; m < members; ++m) {
        if (!name()) return std::nullopt;
        at += version == 1 ? 32 : version == 2 ? 4 : size < 256 ? 1 : size < 65536 ? 2 : 4;
        if (at > n || !nested()) return std::nullopt;
      }
      break;
    case 8: {  // enumeration: its base type, the members' names, then their values
      if (!nested()) return std::nullopt;
      const uint64_t value_size = le(t + 8 + 4, 4);  // the base type's size
      for (uint64_t m = 0; m < members; ++m)
        if (!name()) return std::nullopt;
      if (value_size != 0 && members > (n - at) / value_size) return std::nullopt;
      at += static_cast<size_t>(members * value_size);
      break;
    }
    case 9:  // variable-length: its base type
      if (!nested()) return std::nullopt;
      break;
    case 10: {  // array: rank, (3 reserved bytes before version 3), dimensions, its base type
      if (at >= n) return std::nullopt;
      const size_t rank = t[at];
      at += (version < 3 ? 4 : 1) + rank * 4 * (version < 3 ? 2 : 1);
      if (at > n || !nested()) return std::nullopt;
      break;
    }
    default:
      return std::nullopt;
  }
  if (at > n) return std::nullopt;
  return at;
}

// The file, read with pread; every read checks its range against the size in 64-bit arithmetic.
class Bytes {
 public:
  explicit Bytes(const std::string& file) : fd_(::open(file.c_str(), O_RDONLY | O_CLOEXEC)) {
    struct stat st {};
    if (fd_ >= 0 && ::fstat(fd_, &st) == 0) size_ = static_cast<uint64_t>(st.st_size);
  }
  ~Bytes() {
    if (fd_ >= 0) ::close(fd_);
  }
  Bytes(const Bytes&) = delete;
  Bytes& operator=(const Bytes&) = delete;

  bool ok() const { return fd_ >= 0; }
  uint64_t size() const { return size_; }
  // Whether [offset, offset + n) lies within the file.
  bool holds(uint64_t offset, uint64_t n) const { return offset <= size_ && n <= size_ - offset; }
  std::optional<std::vector<unsigned char>> read(uint64_t offset, uint64_t n) const {
    if (!holds(offset, n)) return std::nullopt;
    std::vector<unsigned char> out(static_cast<size_t>(n));
    if (::pread(fd_, out.data(), out.size(), static_cast<off_t>(offset)) != static_cast<ssize_t>(n))
      return std::nullopt;
    return out;
  }

 private:
  int fd_;
  uint64_t size_ = 0;
};

// One header's checks: the messages name the failing structure and its byte.
class HeaderCheck {
 public:
  HeaderCheck(const Bytes& bytes, const std::string& file, const std::string& object, uint64_t base)
      : bytes_(bytes), file_(file), object_(object), base_(base) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(file_ + ": " + object_ + ": " + what);
  }
  // The absolute offset of `address`, or nothing when it overflows.
  std::optional<uint64_t> at(uint64_t address) const {
    if (address > ~uint64_t{0} - base_) return std::nullopt;
    return base_ + address;
  }
  // Fails unless `n` bytes at `address` lie within the file.
  void require_within(const std::string& what, uint64_t address, uint64_t n) const {
    const std::optional<uint64_t> offset = at(address);
    if (!offset || !bytes_.holds(*offset, n)) {
      fail(what + " of " + std::to_string(n) + " bytes at byte " + std::to_string(address) +
           " runs past the end of the file (expected within its " + std::to_string(bytes_.size()) +
           " bytes; a corrupt file)");
    }
  }
  std::vector<unsigned char> read(const std::string& what, uint64_t address, uint64_t n) const {
    require_within(what, address, n);
    std::optional<std::vector<unsigned char>> out = bytes_.read(*at(address), n);
    if (!out) fail(what + " at byte " + std::to_string(address) + " cannot be read");
    return std::move(*out);
  }

  // Every chunk of the object header at `address`, and the structures its messages name.
  void header(uint64_t address);
  // A local heap's data (a group's member names), loaded by a separate, unchecked read.
  void local_heap(uint64_t address);

 private:
  void message(unsigned type, const unsigned char* d, size_t n, uint64_t header);
  void fractal_heap(uint64_t address);
  void v2_btree(uint64_t address);
  void chunk_btree(uint64_t root, unsigned dimensionality);

  const Bytes& bytes_;
  const std::string& file_;
  const std::string& object_;
  uint64_t base_;
  std::vector<std::pair<uint64_t, uint64_t>> chunks_;  // continuation chunks: address, length
};

void HeaderCheck::header(uint64_t address) {
  const std::string where = "object header at byte " + std::to_string(address);
  // Version 1: version, reserved, message count (2), reference count (4), first chunk's size (4),
  // padding to 16. Version 2: "OHDR", version, flags, optional times and attribute limits, the
  // first chunk's size in 1, 2, 4 or 8 bytes (flags bits 0-1), messages, checksum (4).
  const std::vector<unsigned char> prefix = read(where, address, 16);
  bool v2 = false;
  uint64_t first = 0, first_size = 0;
  unsigned creation_order = 0;  // bytes of a creation order field in version 2 message headers
  if (prefix[0] == 1) {
    first = address + 16;
    first_size = le(&prefix[8], 4);
  } else if (std::memcmp(prefix.data(), "OHDR", 4) == 0 && prefix[4] == 2) {
    v2 = true;
    const unsigned flags = prefix[5];
    uint64_t field = 6 + ((flags & 0x20) != 0 ? 16 : 0) + ((flags & 0x10) != 0 ? 4 : 0);
    const size_t width = size_t{1} << (flags & 0x03);
    const std::vector<unsigned char> size_field = read(where, address + field, width);
    first = address + field + width;
    first_size = le(size_field.data(), width);
    creation_order = (flags & 0x04) != 0 ? 2 : 0;
  } else {
    fail(where + ": not an object header of version 1 or 2 (a corrupt file)");
  }
  // The whole first chunk, then each continuation chunk (libhdf5 allocates their declared sizes
  // before reading them), walked for messages.
  if (v2 && first_size > ~uint64_t{0} - 4)
    require_within(where + ": its first chunk", first, first_size);
  chunks_.clear();
  chunks_.emplace_back(first, first_size + (v2 ? 4 : 0));  // and its checksum
  for (size_t c = 0; c < chunks_.size(); ++c) {
    if (c > kMaxHeaderChunks) {
      fail(where + ": more than " + std::to_string(kMaxHeaderChunks) +
           " continuation chunks (a corrupt file)");
    }
    const auto [chunk_at, chunk_size] = chunks_[c];
    const std::string what = c == 0 ? where + ": its first chunk"
                                    : where + ": its continuation chunk " + std::to_string(c);
    const std::vector<unsigned char> chunk = read(what, chunk_at, chunk_size);
    size_t begin = 0, end = chunk.size();
    if (v2) {  // checksums end every chunk, "OCHK" starts continuation chunks
      if (c > 0 && (end < 8 || std::memcmp(chunk.data(), "OCHK", 4) != 0))
        fail(what + " at byte " + std::to_string(chunk_at) + " is not one (a corrupt file)");
      begin = c > 0 ? 4 : 0;
      end -= 4;
    }
    const size_t head = v2 ? 4 + creation_order : 8;  // a message's header
    for (size_t m = begin; m + head <= end;) {
      const unsigned type = v2 ? chunk[m] : static_cast<unsigned>(le(&chunk[m], 2));
      const size_t size = static_cast<size_t>(le(&chunk[m + (v2 ? 1 : 2)], 2));
      if (size > end - m - head) {
        fail(what + " at byte " + std::to_string(chunk_at) +
             ": a message past the end of its chunk (a corrupt file)");
      }
      const bool shared = (chunk[m + (v2 ? 3 : 4)] & 0x02) != 0;
      if (!shared) message(type, &chunk[m + head], size, address);
      m += head + size;
    }
  }
}

void HeaderCheck::message(unsigned type, const unsigned char* d, size_t n, uint64_t header) {
  const std::string where = "object header at byte " + std::to_string(header);
  const auto need = [&](size_t k) {
    if (n < k)
      fail(where + ": a message of type " + std::to_string(type) +
           " too short for it (a corrupt file)");
  };
  switch (type) {
    case 0x03:  // datatype
      if (!datatype_size(d, n)) fail(where + ": a datatype past its message (a corrupt file)");
      break;
    case 0x0c: {  // attribute: version, reserved or flags, name, type and dataspace sizes (2 each)
      need(8);
      const unsigned version = d[0];
      const size_t name = le(d + 2, 2), type_bytes = le(d + 4, 2);
      const size_t type_at =
          (version == 3 ? 9 : 8) + (version == 1 ? (name + 7) & ~size_t{7} : name);
      if (type_bytes > n || type_at > n - type_bytes || !datatype_size(d + type_at, type_bytes))
        fail(where + ": an attribute's datatype past its message (a corrupt file)");
      break;
    }
    case 0x10:  // continuation: address, length
      need(2 * kWord);
      chunks_.emplace_back(le(d, kWord), le(d + kWord, kWord));
      break;
    case 0x11:  // symbol table: v1 B-tree, local heap of the member names
      need(2 * kWord);
      local_heap(le(d + kWord, kWord));
      break;
    case 0x02:    // link info: version, flags, [creation index (8)], fractal heap, name index,
    case 0x15: {  // attribute info: the same with a 2-byte creation index
      need(2);
      const unsigned flags = d[1];
      const size_t index = (flags & 0x01) == 0 ? 0 : type == 0x02 ? 8 : 2;
      const size_t trees = (flags & 0x02) != 0 ? 2 : 1;
      need(2 + index + kWord * (1 + trees));
      const unsigned char* p = d + 2 + index;
      fractal_heap(le(p, kWord));
      for (size_t t = 0; t < trees; ++t) v2_btree(le(p + kWord * (1 + t), kWord));
      break;
    }
    // Messages libhdf5 1.10 decodes when it opens the object, copying (and for names and fill
    // values allocating) the sizes they declare without checking them against the message.
    case 0x06: {  // link: version, flags, [type], [creation order (8)], [charset], name length
      need(2);
      const unsigned flags = d[1];
      size_t at = 2 + ((flags & 0x08) != 0 ? 1 : 0) + ((flags & 0x04) != 0 ? 8 : 0) +
                  ((flags & 0x10) != 0 ? 1 : 0);
      const unsigned link_type = (flags & 0x08) != 0 ? d[2] : 0;
      const size_t width = size_t{1} << (flags & 0x03);
      need(at + width);
      const uint64_t name = le(d + at, width);
      if (name == 0 || name > n - at - width)
        fail(where + ": a link name past its message (a corrupt file)");
      at += width + static_cast<size_t>(name);
      if (link_type == 0) {
        need(at + kWord);
      } else {  // soft, external, user-defined: a value of a 2-byte length
        need(at + 2);
        if (le(d + at, 2) > n - at - 2)
          fail(where + ": a link value past its message (a corrupt file)");
      }
      break;
    }
    case 0x04:  // old fill value: size (4), value
      need(4);
      if (le(d, 4) > n - 4) fail(where + ": a fill value past its message (a corrupt file)");
      break;
    case 0x05: {  // fill value: version 1 and 2 (size and value when defined), or 3 (by flag)
      need(2);
      size_t size_at = 0;
      if (d[0] == 1 || d[0] == 2) {
        need(4);
        if (d[0] == 1 || d[3] != 0) size_at = 4;
      } else if (d[0] == 3) {
        if ((d[1] & 0x20) != 0) size_at = 2;
      } else {
        fail(where + ": a fill value message of version " + std::to_string(d[0]) +
             " (expected 1 to 3; a corrupt file)");
      }
      if (size_at != 0) {
        need(size_at + 4);
        const uint64_t size = le(d + size_at, 4);
        // Size ~0 (-1 as HDF5 reads it) means "no value".
        if (size != 0xffffffffu && size > n - size_at - 4)
          fail(where + ": a fill value past its message (a corrupt file)");
      }
      break;
    }
    case 0x0b: {  // filter pipeline: version, count, then each filter's id, name, values
      need(2);
      const unsigned version = d[0], count = d[1];
      if (version != 1 && version != 2)
        fail(where + ": a filter pipeline message of version " + std::to_string(version) +
             " (expected 1 or 2; a corrupt file)");
      size_t at = version == 1 ? 8 : 2;
      for (unsigned f = 0; f < count; ++f) {
        need(at + 2);
        const uint64_t id = le(d + at, 2);
        const bool named = version == 1 || id >= 256;
        need(at + (named ? 8 : 6));
        const uint64_t name = named ? le(d + at + 2, 2) : 0;
        const uint64_t values = le(d + at + (named ? 6 : 4), 2);
        uint64_t size = (named ? 8 : 6) + (version == 1 ? (name + 7) & ~uint64_t{7} : name) +
                        4 * values + (version == 1 && values % 2 == 1 ? 4 : 0);
        if (size > n - at) fail(where + ": a filter past its message (a corrupt file)");
        at += static_cast<size_t>(size);
      }
      break;
    }
    case 0x08: {  // data layout: version, class, then per class
      need(2);
      if (d[0] != 3) {
        fail(where + ": a data layout message of version " + std::to_string(d[0]) +
             " (expected 3, as h5py and v3d write)");
      }
      if (d[1] == 1) {  // contiguous: address, size
        need(2 + 2 * kWord);
        const uint64_t address = le(d + 2, kWord);
        if (address != kUndefined) require_within(where + ": its data", address, le(d + 10, kWord));
      } else if (d[1] == 2) {  // chunked: dimensionality, the chunk index's address, ...
        need(3 + kWord);
        chunk_btree(le(d + 3, kWord), d[2]);
      }
      break;
    }
    default:
      break;
  }
}

void HeaderCheck::local_heap(uint64_t address) {
  if (address == kUndefined) return;
  // "HEAP", version, 3 reserved, data size (L), free list offset (L), data address (O).
  const std::string where = "local heap at byte " + std::to_string(address);
  const std::vector<unsigned char> h = read(where, address, 32);
  if (std::memcmp(h.data(), "HEAP", 4) != 0) fail(where + ": not a local heap (a corrupt file)");
  const uint64_t size = le(&h[8], kWord), data = le(&h[24], kWord);
  require_within(where + ": its data", data, size);
  // Its free list: blocks of (next block's offset, size) within the data, ending at offset 1.
  // libhdf5 1.10 follows it allocating a node per block, forever on a cycle.
  std::set<uint64_t> seen;
  for (uint64_t block = le(&h[16], kWord); block != 1;) {
    if (block > size || size - block < 2 * kWord || !seen.insert(block).second)
      fail(where + ": its free list leaves its data or runs in a cycle (a corrupt file)");
    block = le(read(where + ": its free list", data + block, kWord).data(), kWord);
  }
}

void HeaderCheck::fractal_heap(uint64_t address) {
  if (address == kUndefined) return;
  const std::string where = "fractal heap at byte " + std::to_string(address);
  // Version 0's header up to the root block's row count (offsets per the specification).
  const std::vector<unsigned char> h = read(where, address, 142);
  if (std::memcmp(h.data(), "FRHP", 4) != 0 || h[4] != 0)
    fail(where + ": not a fractal heap of version 0 (a corrupt file)");
  const uint64_t filters = le(&h[7], 2), huge = le(&h[86], kWord), width = le(&h[110], 2),
                 start = le(&h[112], kWord), max_direct = le(&h[120], kWord),
                 max_heap_bits = le(&h[128], 2), root = le(&h[132], kWord), rows = le(&h[140], 2);
  if (filters != 0 || huge != 0) {
    fail(where + ": " + (filters != 0 ? "filtered blocks" : "huge objects") +
         " (expected neither, as h5py and v3d write)");
  }
  if (width == 0 || !power_of_two(width) || !power_of_two(start) || !power_of_two(max_direct) ||
      start > max_direct || max_heap_bits < log2_of(max_direct) || max_heap_bits > 64) {
    fail(where + ": a doubling table of width " + std::to_string(width) + ", blocks of " +
         std::to_string(start) + " to " + std::to_string(max_direct) + " bytes and " +
         std::to_string(max_heap_bits) + "-bit offsets (a corrupt file)");
  }
  if (root == kUndefined) return;
  if (rows == 0) {  // the root is a direct block of the starting size
    require_within(where + ": its root block", root, start);
    return;
  }
  // The root is an indirect block: "FHIB", version, heap address (O), block offset, then a child
  // address per entry, width per row, and a checksum. Rows up to max_direct_rows hold direct
  // blocks: row r's of start * 2^max(r - 1, 0) bytes.
  const uint64_t max_direct_rows = log2_of(max_direct) - log2_of(start) + 2;
  if (rows > max_direct_rows) {
    fail(where + ": a root block of " + std::to_string(rows) + " rows (expected at most " +
         std::to_string(max_direct_rows) +
         ", of direct blocks only, as h5py and v3d write groups of their size)");
  }
  const uint64_t offset_bytes = (max_heap_bits + 7) / 8;
  const uint64_t entries_at = 5 + kWord + offset_bytes;
  const std::vector<unsigned char> block =
      read(where + ": its root block", root, entries_at + rows * width * kWord + 4);
  for (uint64_t r = 0; r < rows; ++r) {
    const uint64_t block_size = start << (r == 0 ? 0 : r - 1);
    for (uint64_t e = 0; e < width; ++e) {
      const uint64_t child = le(&block[entries_at + (r * width + e) * kWord], kWord);
      if (child != kUndefined && child != 0)
        require_within(where + ": its direct block", child, block_size);
    }
  }
}

void HeaderCheck::v2_btree(uint64_t address) {
  if (address == kUndefined) return;
  // "BTHD", version, type, node size (4), record size (2), depth (2), split and merge percents,
  // root node address (O), root's records (2), all records (L), checksum.
  const std::string where = "B-tree at byte " + std::to_string(address);
  const std::vector<unsigned char> h = read(where, address, 16 + kWord + 2 + kWord + 4);
  if (std::memcmp(h.data(), "BTHD", 4) != 0 || h[4] != 0)
    fail(where + ": not a version 2 B-tree of version 0 (a corrupt file)");
  const uint64_t node = le(&h[6], 4), record = le(&h[10], 2), depth = le(&h[12], 2),
                 root = le(&h[16], kWord);
  // libhdf5 allocates a node's size for its header, then for each node it loads.
  if (record == 0 || record > node || depth > kMaxBTreeDepth) {
    fail(where + ": nodes of " + std::to_string(node) + " bytes, records of " +
         std::to_string(record) + " and a depth of " + std::to_string(depth) + " (a corrupt file)");
  }
  if (root != kUndefined)
    require_within(where + ": its root node", root, node);
  else if (node > bytes_.size())
    require_within(where + ": its nodes", address, node);
}

void HeaderCheck::chunk_btree(uint64_t root, unsigned dimensionality) {
  if (root == kUndefined) return;  // no chunk written yet
  // Version 1 B-tree nodes of type 1: "TREE", type, level, entries (2), siblings (2 x O), then
  // keys and children alternating, a key first and last. A key: the chunk's stored size (4),
  // filter mask (4), its offset (dimensionality x 8). Leaves' children are chunks, whose stored
  // size libhdf5 allocates before it reads them (up to 4 GB each).
  const uint64_t key = 8 + uint64_t{dimensionality} * kWord;
  std::set<uint64_t> seen;
  std::vector<std::pair<uint64_t, unsigned>> nodes = {{root, ~0u}};  // address, expected level
  while (!nodes.empty()) {
    const auto [address, level] = nodes.back();
    nodes.pop_back();
    const std::string where = "chunk index node at byte " + std::to_string(address);
    if (!seen.insert(address).second) fail(where + ": reached twice (a corrupt file)");
    const std::vector<unsigned char> head = read(where, address, 8 + 2 * kWord);
    const unsigned node_level = head[5];
    if (std::memcmp(head.data(), "TREE", 4) != 0 || head[4] != 1 ||
        (level != ~0u && node_level != level)) {
      fail(where + ": not a chunk index node" +
           (level != ~0u ? " of level " + std::to_string(level) : std::string()) +
           " (a corrupt file)");
    }
    const uint64_t entries = le(&head[6], 2);
    const std::vector<unsigned char> node =
        read(where, address, 8 + 2 * kWord + entries * (key + kWord) + key);
    for (uint64_t e = 0; e < entries; ++e) {
      const unsigned char* k = &node[8 + 2 * kWord + e * (key + kWord)];
      const uint64_t child = le(k + key, kWord);
      if (node_level > 0) {
        nodes.emplace_back(child, node_level - 1);
      } else {
        require_within("its chunk", child, le(k, 4));
      }
    }
  }
}

}  // namespace

FileStructure::FileStructure(std::string file) : file_(std::move(file)) {
  const Bytes bytes(file_);
  if (!bytes.ok()) return;
  size_ = bytes.size();
  // The superblock is at byte 0, or at 512, 1024, ... after a user block.
  uint64_t sb = 0;
  for (;; sb = sb == 0 ? 512 : sb * 2) {
    if (!bytes.holds(sb, sizeof kSignature)) return;  // not HDF5: opening it says so
    const std::optional<std::vector<unsigned char>> sig = bytes.read(sb, sizeof kSignature);
    if (sig && std::memcmp(sig->data(), kSignature, sizeof kSignature) == 0) break;
  }
  const auto fail = [&](const std::string& what) { throw Error(file_ + ": /: " + what); };
  const std::optional<std::vector<unsigned char>> v = bytes.read(sb, 9);
  if (!v) return;  // shorter than any superblock: opening it says it is truncated
  const unsigned version = (*v)[8];
  if (version > 3)
    fail("superblock version " + std::to_string(version) + " (expected 0 to 3, HDF5 1.10's)");
  // The fields up to the root group's object header address, and in versions 0 and 1 its
  // symbol table entry's scratch pad.
  const std::optional<std::vector<unsigned char>> s = bytes.read(sb, version == 0   ? 96
                                                                     : version == 1 ? 100
                                                                                    : 48);
  if (!s) return;
  const size_t sizes_at = version < 2 ? 13 : 9;
  for (size_t k = 0; k < 2; ++k) {
    if ((*s)[sizes_at + k] != kWord) {
      fail(std::string("HDF5 ") + (k == 0 ? "addresses" : "lengths") + " of " +
           std::to_string((*s)[sizes_at + k]) + " bytes (expected " + std::to_string(kWord) +
           ", HDF5's default)");
    }
  }
  uint64_t root = kUndefined, extension = kUndefined;
  if (version < 2) {
    const size_t fields = version == 0 ? 24 : 28;  // version 1 adds a K and 2 reserved bytes
    base_ = le(&(*s)[fields], kWord);
    const uint64_t driver = le(&(*s)[fields + 3 * kWord], kWord);
    root = le(&(*s)[fields + 5 * kWord], kWord);  // the root's symbol table entry, 2nd field
    HeaderCheck check(bytes, file_, "/", base_);
    if (driver != kUndefined) {
      // Version, 3 reserved, info size (4), driver id (8), info.
      const std::vector<unsigned char> d = check.read("driver information block", driver, 8);
      check.require_within("driver information block", driver, 16 + le(&d[4], 4));
    }
    // The root entry's scratch pad caches its symbol table's B-tree and local heap addresses,
    // which libhdf5 may load in place of those its header names.
    if (le(&(*s)[fields + 6 * kWord], 4) == 1)
      check.local_heap(le(&(*s)[fields + 8 * kWord], kWord));
  } else {
    base_ = le(&(*s)[12], kWord);
    extension = le(&(*s)[20], kWord);
    root = le(&(*s)[36], kWord);
  }
  if (extension != kUndefined) check_object_header(extension, "superblock extension");
  check_object_header(root, "/");
}

void FileStructure::check_object_header(uint64_t address, const std::string& object) {
  if (size_ == 0 || !checked_.insert(address).second) return;
  const Bytes bytes(file_);
  if (!bytes.ok()) return;
  HeaderCheck(bytes, file_, object, base_).header(address);
}

}  // namespace v3d::data::h5
