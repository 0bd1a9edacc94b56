// Atomic file output (data/atomic_file.h): the contents replace the file whole, a failed fill or
// rename leaves the old file and no temporary file, and errors are one line naming the path.
#include "data/atomic_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "kernels/common.h"
#include "tests/test_util.h"

namespace v3d::data {
namespace {

using test_util::read_text;

TEST(AtomicFile, TextReplacesTheFileWhole) {
  const test_util::TempDir dir("v3d-atomic");
  write_text_atomically(dir / "a.txt", "first\n");
  write_text_atomically(dir / "a.txt", "second\n");
  EXPECT_EQ(read_text(dir / "a.txt"), "second\n");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"a.txt"});
}

TEST(AtomicFile, FailedFillKeepsTheOldFileAndNoTemporary) {
  const test_util::TempDir dir("v3d-atomic");
  write_text_atomically(dir / "a.txt", "old\n");
  std::string seen;
  EXPECT_THROW(write_atomically(dir / "a.txt",
                                [&](const std::string& tmp) {
                                  seen = tmp;
                                  std::ofstream(tmp) << "half";
                                  throw Error("fill failed");
                                }),
               Error);
  EXPECT_EQ(std::filesystem::path(seen).parent_path(), std::filesystem::path(dir.path()));
  EXPECT_EQ(read_text(dir / "a.txt"), "old\n");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"a.txt"});
}

TEST(AtomicFile, ErrorsNameThePath) {
  const test_util::TempDir dir("v3d-atomic");
  std::filesystem::create_directory(dir / "taken");  // a directory cannot be renamed over
  test_util::expect_error([&] { write_text_atomically(dir / "taken", "x"); },
                          {dir / "taken", "cannot rename"});
  test_util::expect_error([&] { write_text_atomically(dir / "missing/a.txt", "x"); },
                          {dir / "missing/a.txt", "cannot create", "No such file or directory"});
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"taken"});
}

}  // namespace
}  // namespace v3d::data
