// Helpers shared by the tests of data/ (defined in store_test.cpp).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace v3d::data::test {

class TempDir {  // a fresh directory under $TMPDIR, removed with its contents
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};
// Runs fn, expecting a one-line v3d::Error containing every string of `parts`.
void expect_data_error(const std::function<void()>& fn, const std::vector<std::string>& parts);
// Every field equal, floats compared bit for bit.
void expect_same_dataset(const Dataset& a, const Dataset& b);

}  // namespace v3d::data::test
