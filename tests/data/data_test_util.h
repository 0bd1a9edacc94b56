// Helpers shared by the tests of data/ (expect_same_dataset is defined in store_test.cpp).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "tests/test_util.h"

namespace v3d::data::test {

using test_util::expect_error;
using test_util::TempDir;

// Every field equal, floats compared bit for bit.
void expect_same_dataset(const Dataset& a, const Dataset& b);

}  // namespace v3d::data::test
