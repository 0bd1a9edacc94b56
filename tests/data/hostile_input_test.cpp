// Hostile inputs of the data readers and writers, each written here: a skeleton whose parents
// lead out of range, attributes with a NULL dataspace, sizes declared far beyond the data (and
// beyond 64 bits once multiplied), deeply nested and huge JSON values, and a write that runs out
// of space. Each must end in one v3d::Error line naming the file and the object, never a crash,
// an allocation of the declared size or a message that echoes megabytes.
#include <gtest/gtest.h>

#include <H5Cpp.h>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "data/atomic_file.h"
#include "data/dataset.h"
#include "data/infer_input.h"
#include "kernels/common.h"
#include "tests/test_util.h"

namespace v3d::data {
namespace {

namespace fs = std::filesystem;
using test_util::expect_error;
using test_util::TempDir;
using test_util::write_text;

Dataset small_dataset(int64_t frames = 5) {
  Dataset d;
  d.skeleton = Skeleton::h36m17();
  d.fps = 50.0f;
  Camera c;
  c.id = "cam";
  c.res_w = 1000;
  c.res_h = 1000;
  c.focal = {1000.0f, 1000.0f};
  c.center = {500.0f, 500.0f};
  c.orientation = {1.0f, 0.0f, 0.0f, 0.0f};
  c.has_extrinsics = true;
  d.subjects["S1"].cameras[0] = c;
  ActionData a;
  a.frames = frames;
  a.positions_3d.assign(static_cast<size_t>(frames) * 17 * 3, 0.25f);
  a.positions_2d[0].assign(static_cast<size_t>(frames) * 17 * 2, 300.0f);
  d.subjects["S1"].actions["Walking"] = a;
  return d;
}

class HostileFile : public ::testing::Test {
 protected:
  void SetUp() override {
    file = dir.file("data.h5");
    write_dataset(small_dataset(), file);
  }
  // Replaces the dataset at `path` by one of shape `dims` (chunked, never written: HDF5 stores
  // nothing for it, so a file of a few KB can declare any size).
  void declare_dataset(const std::string& path, std::vector<hsize_t> dims,
                       const H5::DataType& type = H5::PredType::IEEE_F32LE) {
    H5::H5File f(file, H5F_ACC_RDWR);
    f.unlink(path);
    std::vector<hsize_t> chunk(dims.size(), 1);
    H5::DSetCreatPropList props;
    props.setChunk(static_cast<int>(chunk.size()), chunk.data());
    f.createDataSet(path, type, H5::DataSpace(static_cast<int>(dims.size()), dims.data()), props);
  }
  TempDir dir{"v3d-hostile"};
  std::string file;
};

TEST_F(HostileFile, ParentsLeadingOutOfRangeAreRefusedBeforeTheyAreFollowed) {
  // Joint 0's parent is 1 (in range), whose parent is 1000: the cycle walk from joint 0 used to
  // follow it before joint 1's own range check.
  std::vector<int> parents = Skeleton::h36m17().parents;
  parents[0] = 1;
  parents[1] = 1000;
  {
    H5::H5File f(file, H5F_ACC_RDWR);
    f.unlink("/skeleton/parents");
    const hsize_t n = parents.size();
    f.createDataSet("/skeleton/parents", H5::PredType::STD_I32LE, H5::DataSpace(1, &n))
        .write(parents.data(), H5::PredType::NATIVE_INT);
  }
  expect_error([&] { read_dataset(file); }, {file, "/skeleton", "parent 1000 of joint 1"});

  Skeleton s = Skeleton::h36m17();
  s.parents = parents;
  expect_error([&] { s.validate(); }, {"parent 1000 of joint 1", "out of range"});
  s.parents[1] = std::numeric_limits<int>::min();
  expect_error([&] { s.validate(); }, {"of joint 1", "out of range"});
}

TEST_F(HostileFile, StringAttributeWithANullDataspaceIsNotAScalar) {
  for (const std::string object : {"/", "/skeleton", "/subjects/S1/cameras/0"}) {
    const char* name = object == "/" ? "format" : object == "/skeleton" ? "name" : "id";
    write_dataset(small_dataset(), file);
    {
      H5::H5File f(file, H5F_ACC_RDWR);
      H5::Group g = f.openGroup(object);
      g.removeAttr(name);
      H5::StrType t(H5::PredType::C_S1, H5T_VARIABLE);
      g.createAttribute(name, t, H5::DataSpace(H5S_NULL));
    }
    expect_error([&] { read_dataset(file); },
                 {file, object + " attribute " + name, "expected a scalar string"});
  }
  // Numbers with a NULL dataspace are no scalars either.
  write_dataset(small_dataset(), file);
  {
    H5::H5File f(file, H5F_ACC_RDWR);
    H5::Group g = f.openGroup("/");
    g.removeAttr("version");
    g.createAttribute("version", H5::PredType::STD_I32LE, H5::DataSpace(H5S_NULL));
  }
  expect_error([&] { read_dataset(file); }, {file, "/ attribute version", "expected a scalar"});
}

TEST_F(HostileFile, DeclaredFrameCountsBeyondTheLimitAreRefusedBeforeAllocating) {
  const std::string p3 = "/subjects/S1/actions/Walking/positions_3d";
  // 360287970189639680 x 17 x 3 floats wraps around 2^64 to a small count.
  declare_dataset(p3, {360287970189639680ull, 17, 3});
  expect_error([&] { read_dataset(file); }, {file, p3, "360287970189639680 frames", "at most"});

  // 2D sizes are checked even when 2D is not read (as `v3d convert check` and `v3d train` do).
  write_dataset(small_dataset(), file);
  const std::string p2 = "/subjects/S1/actions/Walking/positions_2d/0";
  declare_dataset(p2, {kMaxFrames + 1, 17, 2});
  ReadFilter no_2d;
  no_2d.positions_2d = false;
  expect_error([&] { read_dataset(file, no_2d); },
               {file, p2, std::to_string(kMaxFrames + 1) + " frames", "at most"});
  // The largest dimension HDF5 takes.
  declare_dataset(p2, {(hsize_t{1} << 62), 17, 2});
  expect_error([&] { read_dataset(file); }, {file, p2, "frames", "at most"});
}

TEST_F(HostileFile, DeclaredJointCountsBeyondTheLimitAreRefusedBeforeAllocating) {
  declare_dataset("/skeleton/joint_names", {hsize_t{1} << 40},
                  H5::StrType(H5::PredType::C_S1, H5T_VARIABLE));
  expect_error([&] { read_dataset(file); },
               {file, "/skeleton/joint_names", "1099511627776", "at most"});
  write_dataset(small_dataset(), file);
  declare_dataset("/skeleton/joints_left", {hsize_t{1} << 40}, H5::PredType::STD_I32LE);
  expect_error([&] { read_dataset(file); }, {file, "/skeleton/joints_left", "at most"});
}

// What docs/data-format.md defines and nothing else: canonical camera names (so "0" and "00" can
// never both be camera 0, one overwriting the other), cameras that are attributes only, a known
// skeleton that is that skeleton, distinct joint names, positive focal lengths.
TEST_F(HostileFile, StructuralFieldsTheFormatDoesNotDefineAreRefused) {
  {
    H5::H5File f(file, H5F_ACC_RDWR);
    f.link(H5L_TYPE_HARD, "/subjects/S1/cameras/0", "/subjects/S1/cameras/00");
  }
  expect_error([&] { read_dataset(file); },
               {file, "/subjects/S1/cameras/00", "without leading zeros"});
  write_dataset(small_dataset(), file);
  {
    H5::H5File f(file, H5F_ACC_RDWR);
    f.link(H5L_TYPE_HARD, "/subjects/S1/actions/Walking/positions_2d/0",
           "/subjects/S1/actions/Walking/positions_2d/01");
  }
  expect_error([&] { read_dataset(file); },
               {file, "/subjects/S1/actions/Walking/positions_2d/01", "without leading zeros"});
  write_dataset(small_dataset(), file);
  { H5::H5File(file, H5F_ACC_RDWR).createGroup("/subjects/S1/cameras/0/extra"); }
  expect_error([&] { read_dataset(file); },
               {file, "/subjects/S1/cameras/0/extra", "unexpected object (allowed here: none)"});

  const auto with_skeleton = [&](const std::function<void(Skeleton&)>& edit) {
    Dataset d = small_dataset();
    edit(d.skeleton);
    return d;
  };
  expect_error([&] { write_dataset(with_skeleton([](Skeleton& s) { s.name = "mpii16"; }), file); },
               {file, "/skeleton attribute name", "unknown skeleton 'mpii16'"});
  expect_error(
      [&] {
        write_dataset(
            with_skeleton([](Skeleton& s) { std::swap(s.joint_names[1], s.joint_names[4]); }),
            file);
      },
      {file, "/skeleton/joint_names", "differs from the h36m17 skeleton"});
  expect_error(
      [&] { write_dataset(with_skeleton([](Skeleton& s) { s.joint_names[4] = "RHip"; }), file); },
      {file, "joints 1 and 4 share the name 'RHip'"});
  Dataset d = small_dataset();
  d.subjects["S1"].cameras[0].focal = {1000.0f, 0.0f};
  expect_error([&] { write_dataset(d, file); },
               {file, "/subjects/S1/cameras/0/focal", "expected positive"});
  // The same checks on reading a file written by another program.
  write_dataset(small_dataset(), file);
  {
    H5::H5File f(file, H5F_ACC_RDWR);
    const float focal[2] = {-1000.0f, 1000.0f};
    f.openGroup("/subjects/S1/cameras/0")
        .openAttribute("focal")
        .write(H5::PredType::NATIVE_FLOAT, focal);
  }
  expect_error([&] { read_dataset(file); }, {file, "/subjects/S1/cameras/0/focal", "-1000"});
}

// Variable-length strings live in global heap collections, whose object sizes libhdf5 1.10 trusts:
// a size that does not fit its collection made H5HG_read copy past the heap (a crash), and a free
// block of size 0 made its parser loop forever. Readers check each collection as it is read.
TEST_F(HostileFile, CorruptGlobalHeapIsRefusedBeforeLibhdf5ParsesIt) {
  const std::string image = test_util::read_text(file);
  const size_t heap = image.find("GCOL");
  ASSERT_NE(heap, std::string::npos);
  // The first object's size (16 bytes of collection header, then 8 bytes into the object header).
  const size_t first_size = heap + 16 + 8;
  ASSERT_EQ(image.substr(heap + 32, 8), "v3d-pose");
  const auto with_size = [&](size_t at, uint64_t size) {
    std::string bad = image;
    for (int i = 0; i < 8; ++i) bad[at + i] = static_cast<char>(size >> (8 * i));
    write_text(file, bad);
  };
  for (const uint64_t size : {uint64_t{16}, uint64_t{100000}, ~uint64_t{0}}) {
    with_size(first_size, size);
    expect_error([&] { read_dataset(file); }, {file, "corrupt global heap collection"});
  }
  // The free block (object 0) that ends the collection, given size 0.
  size_t at = heap + 16;
  while (image[at] != 0 || image[at + 1] != 0) {
    uint64_t size = 0;
    for (int i = 7; i >= 0; --i) size = size << 8 | static_cast<unsigned char>(image[at + 8 + i]);
    at += 16 + (size + 7) / 8 * 8;
  }
  with_size(at + 8, 0);
  expect_error([&] { read_dataset(file); }, {file, "corrupt global heap collection"});
  write_text(file, image);
  EXPECT_EQ(read_dataset(file).subjects.size(), 1u);
}

// `n` bytes of `v`, little-endian.
std::string le(uint64_t v, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += static_cast<char>(v >> (8 * i));
  return out;
}

// Found by the pose-file fuzz target (tests/fuzz/pose_file.cpp), each a crash in libhdf5 1.10:
// a variable-length string's reference names an object its global heap collection lacks, or one
// of another length (H5HG_read reads it anyway, into a buffer of the reference's length); a
// reference without data reads as a null pointer (which the C++ API passed to strlen), and one
// without data but with a length of 2^31 made libhdf5 allocate 32 GB.
TEST_F(HostileFile, StringReferencesToMissingHeapObjectsAreRefused) {
  const std::string image = test_util::read_text(file);
  const size_t heap = image.find("GCOL");
  ASSERT_NE(heap, std::string::npos);
  ASSERT_EQ(image.substr(heap + 32, 8), "v3d-pose");
  // The root's attribute format refers to object 1 of the collection: 8 bytes, its address, 1.
  const std::string reference = le(8, 4) + le(heap, 8) + le(1, 4);
  const size_t at = image.find(reference);
  ASSERT_NE(at, std::string::npos);
  const auto with_reference = [&](const std::string& bad) {
    std::string edited = image;
    edited.replace(at, bad.size(), bad);
    write_text(file, edited);
  };
  with_reference(le(8, 4) + le(heap, 8) + le(0xffff0a00u, 4));
  expect_error([&] { read_dataset(file); },
               {file, "/ attribute format", "object 4294904320", "has no such object"});
  with_reference(le(9000, 4) + le(heap, 8) + le(1, 4));
  expect_error([&] { read_dataset(file); }, {file, "/ attribute format", "holds 8 bytes there"});
  with_reference(le(8, 4) + le(heap + 8, 8) + le(1, 4));
  expect_error([&] { read_dataset(file); }, {file, "no global heap collection"});
  with_reference(le(0x7fffffff, 4) + le(0, 8) + le(0, 4));  // a 32 GB buffer for no data
  expect_error([&] { read_dataset(file); },
               {file, "/ attribute format", "no data but a length of 2147483647"});
  with_reference(le(0, 4) + le(0, 8) + le(0, 4));  // no data: an empty string
  expect_error([&] { read_dataset(file); }, {file, "/ attribute format"});
  write_text(file, image);
  EXPECT_EQ(read_dataset(file).subjects.size(), 1u);
}

// Found by the pose-file fuzz target: a float32 type message whose size says 4 MB per element
// (libhdf5 converts it and copies past its buffers), and chunks larger than their dataset
// (libhdf5 copies whole chunks out of a shorter decompressed one).
TEST_F(HostileFile, NonStandardNumberTypesAndOversizedChunksAreRefused) {
  const std::string image = test_util::read_text(file);
  // IEEE float32 little-endian: class 1 version 1, bit fields, size 4, ...
  const std::string float32("\x11\x20\x1f\x00\x04\x00\x00\x00", 8);
  // Each float32 type of the file in turn (attributes, where libhdf5 refuses it itself, and
  // datasets, where it did not).
  size_t found = 0, refused_as_non_standard = 0;
  for (size_t at = image.find(float32); at != std::string::npos; at = image.find(float32, at + 1)) {
    std::string edited = image;
    edited.replace(at + 4, 4, le(0x00400004u, 4));
    write_text(file, edited);
    ++found;
    try {
      read_dataset(file);
      ADD_FAILURE() << "a float32 type at byte " << at << " of 4 MB per element was accepted";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(file), std::string::npos) << msg;
      refused_as_non_standard +=
          msg.find("non-standard number type of 4194308 bytes") != std::string::npos;
    }
  }
  EXPECT_GT(found, 1u);
  EXPECT_GT(refused_as_non_standard, 0u);

  write_text(file, image);
  {
    H5::H5File f(file, H5F_ACC_RDWR);
    const std::string path = "/subjects/S1/actions/Walking/positions_3d";
    f.unlink(path);
    const hsize_t dims[3] = {5, 17, 3}, max_dims[3] = {H5S_UNLIMITED, 17, 3}, chunk[3] = {8, 17, 3};
    H5::DSetCreatPropList props;
    props.setChunk(3, chunk);
    H5::DataSet ds =
        f.createDataSet(path, H5::PredType::IEEE_F32LE, H5::DataSpace(3, dims, max_dims), props);
    const std::vector<float> values(5 * 17 * 3, 0.5f);
    ds.write(values.data(), H5::PredType::NATIVE_FLOAT);
  }
  expect_error([&] { read_dataset(file); },
               {file, "positions_3d", "chunks of (8, 17, 3) larger than the dataset's (5, 17, 3)"});
}

// Found by the pose-file fuzz target with ASan: an attribute message whose type declares more
// data than the message holds (libhdf5 1.10 decodes every attribute of a header to find one and
// copies the declared size out of the message).
TEST_F(HostileFile, AttributesHoldingLessThanTheyDeclareAreRefused) {
  const std::string image = test_util::read_text(file);
  // /skeleton's attribute name: its name padded to 8 bytes, then its variable-length string type
  // (class 9, version 1) whose size field, 16, follows 4 bytes on.
  const size_t at = image.find(std::string("name\0\0\0\0\x19", 9));
  ASSERT_NE(at, std::string::npos);
  ASSERT_EQ(image.substr(at + 12, 4), le(16, 4));
  std::string edited = image;
  edited.replace(at + 12, 4, le(0x10000, 4));
  write_text(file, edited);
  expect_error(
      [&] { read_dataset(file); },
      {file, "/skeleton", "an attribute holds less data than its type and dataspace declare"});
  write_text(file, image);
  EXPECT_EQ(read_dataset(file).subjects.size(), 1u);
}

// Found by the pose-file fuzz target with ASan: a contiguous dataset whose layout declares less
// storage than its elements need (libhdf5 1.10 reads past it).
TEST_F(HostileFile, ContiguousStorageShorterThanTheDataIsRefused) {
  haddr_t offset = 0;
  {
    H5::H5File f(file, H5F_ACC_RDONLY);
    offset = H5Dget_offset(f.openDataSet("/skeleton/parents").getId());
  }
  const std::string image = test_util::read_text(file);
  // The layout message: the data's address, then its size (17 int32).
  const size_t at = image.find(le(offset, 8) + le(17 * 4, 8));
  ASSERT_NE(at, std::string::npos);
  std::string edited = image;
  edited.replace(at + 8, 8, le(4, 8));
  write_text(file, edited);
  expect_error(
      [&] { read_dataset(file); },
      {file, "/skeleton/parents", "storage holds 4 bytes, less than its 17 elements need"});
}

// Found by the pose-file fuzz target: libhdf5 1.10 allocates the length an object header's
// continuation message declares for the chunk it names before reading it (3.6 GB in that run),
// and a file of a few KB can declare any. Readers check every chunk of a header against the
// file's size before libhdf5 loads it: the root's before the file is opened, each member's as it
// is reached.
TEST_F(HostileFile, ObjectHeaderChunksPastTheEndAreRefusedBeforeLibhdf5AllocatesThem) {
  const std::string image = test_util::read_text(file);
  const std::vector<size_t> continuations = test_util::hdf5_continuations(image);
  ASSERT_GE(continuations.size(), 2u);
  const auto with = [&](size_t at, uint64_t address, uint64_t length) {
    std::string edited = image;
    edited.replace(at, 16, le(address, 8) + le(length, 8));
    write_text(file, edited);
  };
  size_t naming_the_root = 0;
  for (const size_t at : continuations) {
    uint64_t address = 0;
    for (int i = 7; i >= 0; --i) address = address << 8 | static_cast<unsigned char>(image[at + i]);
    SCOPED_TRACE("the continuation message at byte " + std::to_string(at));
    with(at, address, 3'600'000'000u);  // the fuzz run's length
    const std::string past = "runs past the end of the file (expected within its " +
                             std::to_string(image.size()) + " bytes; a corrupt file)";
    try {
      read_dataset(file);
      ADD_FAILURE() << "a continuation chunk of 3.6 GB was accepted";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(file + ": /"), std::string::npos) << msg;
      EXPECT_NE(msg.find("continuation chunk 1 of 3600000000 bytes at byte " +
                         std::to_string(address) + " " + past),
                std::string::npos)
          << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
      naming_the_root += msg.rfind(file + ": /: ", 0) == 0;
    }
    expect_error([&] { read_infer_input_h5(file, 0); }, {file, "of 3600000000 bytes", past});
    with(at, image.size() - 8, 16);  // an address past the end
    expect_error([&] { read_dataset(file); }, {file, "of 16 bytes at byte", past});
    with(at, ~uint64_t{0} - 7, 16);  // address + length wraps around 64 bits
    expect_error([&] { read_dataset(file); }, {file, "of 16 bytes at byte", past});
  }
  EXPECT_EQ(naming_the_root, 1u);  // the root's header, checked before libhdf5 opens the file
  write_text(file, image);
  EXPECT_EQ(read_dataset(file).subjects.size(), 1u);
}

// libhdf5 1.10 allocates a chunk's stored size, as its chunk index declares it (up to 4 GB),
// before it reads the chunk. Readers check every chunk of a dataset's index when they reach it.
TEST_F(HostileFile, ChunksPastTheEndAreRefusedBeforeLibhdf5AllocatesThem) {
  const std::string image = test_util::read_text(file);
  // Chunk index leaves (version 1 B-tree nodes of type 1, level 0): the first key's stored size.
  const std::string leaf("TREE\x01\x00", 6);
  size_t found = 0;
  for (size_t at = image.find(leaf); at != std::string::npos; at = image.find(leaf, at + 1)) {
    ++found;
    std::string edited = image;
    edited.replace(at + 24, 4, le(0xf0000000u, 4));
    write_text(file, edited);
    expect_error([&] { read_dataset(file); },
                 {file + ": /subjects/S1/actions/Walking/positions_",
                  ": its chunk of 4026531840 bytes", "runs past the end of the file"});
  }
  EXPECT_EQ(found, 2u);  // positions_3d and positions_2d/0
  std::string edited = image;
  const size_t at = image.find(leaf);
  edited.replace(at + 4, 1, "\x02");  // a node of another B-tree type
  write_text(file, edited);
  expect_error([&] { read_dataset(file); }, {file, "not a chunk index node (a corrupt file)"});
  write_text(file, image);
  EXPECT_EQ(read_dataset(file).subjects.size(), 1u);
}

// libhdf5 1.10 decodes a dataset's fill value message when it opens the dataset and allocates
// the size it declares (up to 4 GB), copying that much out of the message.
TEST_F(HostileFile, FillValuesPastTheirMessageAreRefused) {
  const std::string image = test_util::read_text(file);
  // A version-1 header's fill value message (type 5, 8 bytes, constant), version 2, defined.
  const std::string fill("\x05\0\x08\0\x01\0\0\0\x02\x02", 10);
  const size_t at = image.find(fill);
  ASSERT_NE(at, std::string::npos);
  ASSERT_EQ(image.substr(at + 11, 5), std::string("\x01\0\0\0\0", 5));  // defined, size 0
  std::string edited = image;
  edited.replace(at + 12, 4, le(0xf0000000u, 4));
  write_text(file, edited);
  expect_error([&] { read_dataset(file); }, {file, "a fill value past its message"});
}

// The same as the checkpoint's (found by its fuzz target) for each variable-length string type of
// a pose file, attributes and datasets: characters of 1.3 GB each (libhdf5 1.10 allocates the
// string's length times that to convert it).
TEST_F(HostileFile, StringCharactersOfMoreThanOneByteAreRefused) {
  const std::string image = test_util::read_text(file);
  // A variable-length string type (class 9, version 1, UTF-8 or ASCII, 16 bytes) of 1-byte
  // unsigned integers: their size 12 bytes on.
  const std::string vlen_string("\x10\0\0\0\x10\0\0\0\x01\0\0\0", 12);
  size_t found = 0, refused = 0;
  for (size_t at = image.find(vlen_string); at != std::string::npos;
       at = image.find(vlen_string, at + 1)) {
    if (at < 4 || image[at - 4] != '\x19') continue;
    ++found;
    std::string edited = image;
    edited.replace(at + 8, 4, std::string("\x01\0\0\x50", 4));
    write_text(file, edited);
    try {
      read_dataset(file);
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(file), std::string::npos) << msg;
      refused += msg.find(
                     "variable-length strings of 1342177281-byte characters (expected "
                     "1-byte characters, as h5py and v3d write)") != std::string::npos;
    }
  }
  EXPECT_GT(found, 3u);
  EXPECT_GT(refused, 3u);  // at least the root's format, a camera's id, /skeleton's name and joints
}

// The same for a pose file's datatypes, of datasets and attributes: each float32 type in turn
// made a compound type of 0x201f members, whose names and types run past the message.
TEST_F(HostileFile, DatatypesPastTheirMessageAreRefused) {
  const std::string image = test_util::read_text(file);
  const std::string float32("\x11\x20\x1f\x00\x04\x00\x00\x00", 8);
  size_t found = 0;
  for (size_t at = image.find(float32); at != std::string::npos; at = image.find(float32, at + 1)) {
    ++found;
    std::string edited = image;
    edited[at] = '\x16';  // class 6 (compound), version 1
    write_text(file, edited);
    expect_error([&] { read_dataset(file); }, {file, "datatype past its message (a corrupt file)"});
  }
  EXPECT_GT(found, 1u);
}

// Found by the pose-file fuzz target: a group's local heap whose free list runs in a cycle
// (libhdf5 1.10 follows it, allocating a node per block until memory runs out).
TEST_F(HostileFile, LocalHeapFreeListsInACycleAreRefused) {
  const std::string image = test_util::read_text(file);
  const size_t heap = image.find("HEAP");
  ASSERT_NE(heap, std::string::npos);
  uint64_t size = 0, free_list = 0, data = 0;
  for (int i = 7; i >= 0; --i) {
    size = size << 8 | static_cast<unsigned char>(image[heap + 8 + i]);
    free_list = free_list << 8 | static_cast<unsigned char>(image[heap + 16 + i]);
    data = data << 8 | static_cast<unsigned char>(image[heap + 24 + i]);
  }
  ASSERT_NE(free_list, 1u);  // a free block, whose next offset is made its own
  std::string edited = image;
  edited.replace(data + free_list, 8, le(free_list, 8));
  write_text(file, edited);
  expect_error([&] { read_dataset(file); },
               {file, "local heap at byte " + std::to_string(heap),
                "its free list leaves its data or runs in a cycle (a corrupt file)"});
}

// What the structure checks read, h5py's and v3d's layout, is required: 8-byte addresses and
// lengths, and members stored in their group (a soft link would lead libhdf5 to an unchecked
// object header).
TEST_F(HostileFile, StructuresTheChecksDoNotReadAreRefused) {
  const std::string image = test_util::read_text(file);
  ASSERT_EQ(image[8], 0);   // superblock version 0
  ASSERT_EQ(image[13], 8);  // its sizes of addresses and lengths
  for (const int field : {13, 14}) {
    std::string edited = image;
    edited[static_cast<size_t>(field)] = 4;
    write_text(file, edited);
    expect_error([&] { read_dataset(file); },
                 {file + ": /: HDF5 " + (field == 13 ? "addresses" : "lengths") +
                  " of 4 bytes (expected 8, HDF5's default)"});
  }
  // A chunked layout message of rank 3 (dimensionality 4) in version 2, which the checks do not
  // read: version 3 is what HDF5 1.8 and later write.
  const size_t layout = image.find(std::string("\x03\x02\x04", 3));
  ASSERT_NE(layout, std::string::npos);
  std::string edited = image;
  edited[layout] = 2;
  write_text(file, edited);
  expect_error([&] { read_dataset(file); },
               {file, "a data layout message of version 2 (expected 3, as h5py and v3d write)"});
  write_text(file, image);
  {
    H5::H5File f(file, H5F_ACC_RDWR);
    f.link(H5L_TYPE_SOFT, "/subjects/S1/actions/Walking", "/subjects/S1/actions/Walking 2");
  }
  expect_error([&] { read_dataset(file); },
               {file + ": /subjects/S1/actions/Walking 2: a soft link (expected a group or a "
                       "dataset stored in its group, as h5py and v3d write)"});
}

// ---------------------------------------------------------------------------------------------
// COCO-style JSON

std::string coco_entry(const std::string& frame, const std::string& keypoints) {
  return "{\"frame\": " + frame + ", \"keypoints\": " + keypoints + "}";
}

// `depth` nested arrays around a 0.
std::string nested(size_t depth) { return std::string(depth, '[') + "0" + std::string(depth, ']'); }

TEST(HostileJson, DeeplyNestedValuesGiveABoundedMessage) {
  const TempDir dir("v3d-hostile");
  const std::string f = dir.file("det.json");
  const auto read = [&] { read_infer_input_coco_json(f, 1000, 1002); };
  // Deep enough to overflow the stack of a recursive dump().
  const size_t depth = 500'000;
  std::string kp = test_util::coco_keypoints(0);
  kp = "[" + nested(depth) + kp.substr(kp.find(','));
  write_text(f, "[" + coco_entry("0", kp) + "]");
  expect_error(read, {f, "entry 0", "\"keypoints\"[0]", "a finite number", "array"});
  write_text(f, "[" + coco_entry(nested(depth), test_util::coco_keypoints(0)) + "]");
  expect_error(read, {f, "entry 0", "\"frame\"", "an integer", "array"});
}

TEST(HostileJson, HugeValuesAreShownAsShortExcerpts) {
  const TempDir dir("v3d-hostile");
  const std::string f = dir.file("det.json");
  const auto read = [&] { read_infer_input_coco_json(f, 1000, 1002); };
  std::string kp = test_util::coco_keypoints(0);
  kp = "[\"" + std::string(5'000'000, 'x') + "\"" + kp.substr(kp.find(','));
  write_text(f, "[" + coco_entry("0", kp) + "]");
  try {
    read();
    ADD_FAILURE() << "a 5 MB string was accepted as a keypoint";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_LT(msg.size(), 1000u) << msg.substr(0, 1000);
    EXPECT_NE(msg.find("\"keypoints\"[0]"), std::string::npos) << msg.substr(0, 1000);
    EXPECT_NE(msg.find("5000002 characters"), std::string::npos) << msg.substr(0, 1000);
  }
  // A syntax error inside a huge token.
  write_text(f, "[{\"frame\": 0, \"keypoints\": \"" + std::string(5'000'000, 'y'));
  try {
    read();
    ADD_FAILURE() << "an unterminated string was accepted";
  } catch (const Error& e) {
    EXPECT_LT(std::string(e.what()).size(), 1000u);
    EXPECT_NE(std::string(e.what()).find("invalid JSON"), std::string::npos);
  }
}

TEST(HostileJson, FrameNumbersBeyondTheLimitAreRefusedAsWritten) {
  const TempDir dir("v3d-hostile");
  const std::string f = dir.file("det.json");
  const auto read = [&] { read_infer_input_coco_json(f, 1000, 1002); };
  const std::string kp = test_util::coco_keypoints(0);
  // >= 2^63: shown as written, not wrapped to -1.
  write_text(f, "[" + coco_entry("18446744073709551615", kp) + "]");
  expect_error(read, {f, "entry 0", "\"frame\"", "18446744073709551615"});
  write_text(f, "[" + coco_entry("9223372036854775808", kp) + "]");
  expect_error(read, {f, "entry 0", "\"frame\"", "9223372036854775808"});
  // A gap that would make the sequence longer than the limit, before anything is allocated.
  const auto tracked = [&](const std::string& frame, const std::string& track) {
    return "{\"frame\": " + frame + ", \"track_id\": " + track + ", \"keypoints\": " + kp + "}";
  };
  write_text(f, "[" + tracked("0", "1") + ", " + tracked("1000000000000", "1") + "]");
  expect_error(
      read, {f, "track 1", "frames 0 to 1000000000000", "at most " + std::to_string(kMaxFrames)});
  // Tracks within the limit each, beyond it together.
  write_text(f, "[" + tracked("0", "1") + ", " + tracked("6000000", "1") + ", " +
                    tracked("0", "2") + ", " + tracked("6000000", "2") + "]");
  expect_error(read, {f, "track 2", "12000002 frames together", std::to_string(kMaxFrames)});
  // More people in one frame than the tracker compares.
  std::string crowd = "[";
  for (int i = 0; i <= kMaxPeoplePerFrame; ++i) crowd += (i ? ", " : "") + coco_entry("3", kp);
  write_text(f, crowd + "]");
  expect_error(read, {f, "entry " + std::to_string(kMaxPeoplePerFrame), "frame 3",
                      "more than " + std::to_string(kMaxPeoplePerFrame) + " people"});
}

// ---------------------------------------------------------------------------------------------
// A full disk

std::vector<std::string> temp_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp-") != std::string::npos)
      out.push_back(e.path().string());
  return out;
}

TEST(FullDisk, PoseFileWriteFailsCleanlyAndKeepsTheEarlierFile) {
  const TempDir dir("v3d-hostile");
  const std::string file = dir.file("data.h5");
  write_dataset(small_dataset(), file);
  const std::string before = test_util::read_text(file);
  // 20000 frames of noise (2.7 MB of floats that deflate cannot shrink much) cannot fit in 64 KB.
  Dataset big = small_dataset(20000);
  uint32_t state = 1;
  for (float& v : big.subjects["S1"].actions["Walking"].positions_3d) {
    state = state * 1664525u + 1013904223u;
    v = static_cast<float>(state >> 8) / 16777216.0f;
  }
  const std::string got =
      test_util::run_with_file_size_limit(64 * 1024, [&] { write_dataset(big, file); });
  EXPECT_EQ(got.rfind("error: ", 0), 0u) << got;
  EXPECT_NE(got.find(file), std::string::npos) << got;
  EXPECT_NE(got.find("File too large"), std::string::npos) << got;
  EXPECT_NE(got.find(file + ": no space left"), std::string::npos) << got;
  EXPECT_EQ(got.find('\n'), std::string::npos) << got;
  EXPECT_TRUE(temp_files(dir.path()).empty());
  EXPECT_TRUE(test_util::read_text(file) == before) << "the earlier file changed";
  const Dataset d = read_dataset(file);
  EXPECT_EQ(d.subjects.at("S1").actions.at("Walking").frames, 5);
}

TEST(FullDisk, PoseFileThatFailsWhenClosedFailsCleanly) {
  // A small file stays in HDF5's caches until the file is closed: the close is what fails.
  for (const rlim_t limit : {rlim_t{512}, rlim_t{2048}, rlim_t{8192}}) {
    const TempDir dir("v3d-hostile");
    const std::string file = dir.file("data.h5");
    const std::string got =
        test_util::run_with_file_size_limit(limit, [&] { write_dataset(small_dataset(), file); });
    EXPECT_EQ(got.rfind("error: ", 0), 0u) << limit << ": " << got;
    EXPECT_NE(got.find(file), std::string::npos) << got;
    EXPECT_NE(got.find("File too large"), std::string::npos) << got;
    EXPECT_NE(got.find(file + ": no space left"), std::string::npos) << got;
    EXPECT_NE(got.find(file + ": no space left"), std::string::npos) << got;
    EXPECT_TRUE(dir.entries().empty()) << dir.entries().front();
  }
}

TEST(FullDisk, TextWriteFailsCleanlyAndKeepsTheEarlierFile) {
  const TempDir dir("v3d-hostile");
  const std::string file = dir.file("report.csv");
  write_atomically(file, [](const std::string& tmp) { write_text(tmp, "old\n"); });
  const std::string got = test_util::run_with_file_size_limit(
      4096, [&] { write_text_atomically(file, std::string(100000, 'x')); });
  EXPECT_EQ(got.rfind("error: ", 0), 0u) << got;
  EXPECT_NE(got.find(file), std::string::npos) << got;
  EXPECT_NE(got.find("File too large"), std::string::npos) << got;
  EXPECT_NE(got.find(file + ": no space left"), std::string::npos) << got;
  EXPECT_TRUE(temp_files(dir.path()).empty());
  EXPECT_EQ(test_util::read_text(file), "old\n");
}

}  // namespace
}  // namespace v3d::data
