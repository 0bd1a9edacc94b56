// Atomic file output (data/atomic_file.h): the contents replace the file whole, a failed fill or
// rename leaves the old file and no temporary file, and errors are one line naming the path.
#include "data/atomic_file.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
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

using test_util::finished_pid;

TEST(AtomicFile, StaleTemporariesOfTheSamePathAreRemoved) {
  const test_util::TempDir dir("v3d-atomic");
  const std::string gone = std::to_string(finished_pid());
  const std::string running = std::to_string(static_cast<long>(getppid()));
  // A killed run's temporary files of a.txt go; those of a running process, of another file and
  // names that only resemble the pattern stay.
  for (const std::string& name :
       {"a.txt.tmp-" + gone + "-0", "a.txt.tmp-" + gone + "-17", "a.txt.tmp-" + running + "-0",
        "b.txt.tmp-" + gone + "-0", "a.txt.tmp-" + gone, std::string("a.txt.tmp-x-0"),
        "a.txt.tmp-" + gone + "-0.keep", "xa.txt.tmp-" + gone + "-0"})
    test_util::write_text(dir / name, "partial");
  write_text_atomically(dir / "a.txt", "new\n");
  EXPECT_EQ(read_text(dir / "a.txt"), "new\n");
  std::vector<std::string> kept = {"a.txt",
                                   "a.txt.tmp-" + running + "-0",
                                   "b.txt.tmp-" + gone + "-0",
                                   "a.txt.tmp-" + gone,
                                   "a.txt.tmp-x-0",
                                   "a.txt.tmp-" + gone + "-0.keep",
                                   "xa.txt.tmp-" + gone + "-0"};
  std::sort(kept.begin(), kept.end());
  EXPECT_EQ(dir.entries(), kept);
}

// A command's sweep of its output directory: the temporary files of any name whose process is
// gone (files no later write replaces, such as a killed run's checkpoint of an epoch the next run
// never reaches); those of running processes, other names and subdirectories stay.
TEST(AtomicFile, StaleTemporariesOfAnyNameInADirectoryAreRemoved) {
  const test_util::TempDir dir("v3d-atomic");
  const std::string gone = std::to_string(finished_pid());
  const std::string running = std::to_string(static_cast<long>(getppid()));
  for (const std::string& name :
       {"epoch_7.h5.tmp-" + gone + "-0", "report.txt.tmp-" + gone + "-3",
        "train_log.jsonl.tmp-" + running + "-0", "a.txt.tmp-" + gone, std::string("a.txt.tmp-x-0"),
        ".tmp-" + gone + "-0", "a.txt.tmp-" + gone + "-0.keep", std::string("a.txt")})
    test_util::write_text(dir / name, "partial");
  std::filesystem::create_directory(dir / ("sub.tmp-" + gone + "-0"));
  remove_stale_temporaries_in(dir.str());
  std::vector<std::string> kept = {"train_log.jsonl.tmp-" + running + "-0",
                                   "a.txt.tmp-" + gone,
                                   "a.txt.tmp-x-0",
                                   ".tmp-" + gone + "-0",
                                   "a.txt.tmp-" + gone + "-0.keep",
                                   "a.txt",
                                   "sub.tmp-" + gone + "-0"};
  std::sort(kept.begin(), kept.end());
  EXPECT_EQ(dir.entries(), kept);
  // A directory that is not there is left to the writes to report.
  EXPECT_NO_THROW(remove_stale_temporaries_in(dir / "missing"));
}

TEST(AtomicFile, AppendAddsWholeTextOrNothing) {
  const test_util::TempDir dir("v3d-atomic");
  const std::string log = dir / "train_log.jsonl";
  append_text(log, "{\"epoch\": 1}\n");
  append_text(log, "{\"epoch\": 2}\n");
  EXPECT_EQ(read_text(log), "{\"epoch\": 1}\n{\"epoch\": 2}\n");
  // A line that does not fit leaves the file as it was, without a torn line.
  const std::string before = read_text(log);
  const std::string got = test_util::run_with_file_size_limit(before.size() + 10, [&] {
    append_text(log, "{\"epoch\": 3, \"pad\": \"" + std::string(100, 'x') + "\"}\n");
  });
  EXPECT_EQ(got, "error: " + log + ": no space left (File too large)");
  EXPECT_EQ(read_text(log), before);
  test_util::expect_error([&] { append_text(dir / "missing/log", "x\n"); },
                          {dir / "missing/log", "cannot open for appending"});
}

TEST(AtomicFile, FullDiskIsNamedAsSuch) {
  EXPECT_EQ(write_error("f", ENOSPC), "f: no space left (No space left on device)");
  EXPECT_EQ(write_error("f", EFBIG), "f: no space left (File too large)");
  EXPECT_EQ(write_error("f", EIO), "f: cannot write (Input/output error)");
}

}  // namespace
}  // namespace v3d::data
