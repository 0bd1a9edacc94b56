// Shape: at most four non-negative dimensions, numel, str, equality, indexing.
#include <gtest/gtest.h>

#include "runtime/tensor.h"
#include "tests/runtime/test_util.h"

namespace v3d {
namespace {

TEST(Shape, ScalarHasNoDimensionsAndOneElement) {
  const Shape s;
  EXPECT_EQ(s.ndim(), 0);
  EXPECT_EQ(s.numel(), 1);
  EXPECT_EQ(s.str(), "()");
  EXPECT_TRUE(s.to_vector().empty());
  EXPECT_EQ(Shape({}), s);
}

TEST(Shape, DimensionsNumelAndStr) {
  const Shape s{2, 3};
  EXPECT_EQ(s.ndim(), 2);
  EXPECT_EQ(s[0], 2);
  EXPECT_EQ(s[1], 3);
  EXPECT_EQ(s.numel(), 6);
  EXPECT_EQ(s.str(), "(2, 3)");
  EXPECT_EQ(s.to_vector(), (std::vector<int64_t>{2, 3}));

  const Shape one{7};
  EXPECT_EQ(one.ndim(), 1);
  EXPECT_EQ(one.numel(), 7);
  EXPECT_EQ(one.str(), "(7)");
}

TEST(Shape, FourDimensionsIsTheMaximum) {
  const Shape s{2, 3, 4, 5};
  EXPECT_EQ(s.ndim(), Shape::kMaxDims);
  EXPECT_EQ(s.numel(), 120);
  EXPECT_EQ(s.str(), "(2, 3, 4, 5)");
  EXPECT_EQ(s[3], 5);
}

TEST(Shape, FiveDimensionsThrow) {
  EXPECT_V3D_ERROR((Shape{1, 2, 3, 4, 5}), "at most 4 dimensions", "got 5");
  EXPECT_V3D_ERROR(Shape(std::vector<int64_t>{1, 1, 1, 1, 1, 1}), "at most 4 dimensions", "got 6");
}

TEST(Shape, NegativeDimensionsThrow) {
  EXPECT_V3D_ERROR((Shape{2, -1}), "negative dimension -1");
  EXPECT_V3D_ERROR((Shape{-3}), "negative dimension -3");
  EXPECT_V3D_ERROR(Shape(std::vector<int64_t>{4, 4, 4, -7}), "negative dimension -7");
}

TEST(Shape, ZeroSizedDimensionGivesZeroElements) {
  const Shape s{3, 0, 5};
  EXPECT_EQ(s.numel(), 0);
  EXPECT_EQ(s.str(), "(3, 0, 5)");
}

TEST(Shape, IndexOutOfRangeThrows) {
  const Shape s{2, 3};
  EXPECT_V3D_ERROR(s[2], "dimension 2 out of range", "(2, 3)");
  EXPECT_V3D_ERROR(s[-1], "dimension -1 out of range");
  EXPECT_V3D_ERROR(Shape()[0], "dimension 0 out of range", "()");
}

TEST(Shape, Equality) {
  EXPECT_EQ(Shape({2, 3}), Shape(std::vector<int64_t>{2, 3}));
  EXPECT_FALSE(Shape({2, 3}) == Shape({3, 2}));
  EXPECT_FALSE(Shape({2, 3}) == Shape({2, 3, 1}));
  EXPECT_FALSE(Shape({1}) == Shape());
  EXPECT_FALSE(Shape({6}) == Shape({2, 3}));
}

TEST(Shape, LargeNumelDoesNotOverflow32Bits) {
  const Shape s{1 << 20, 1 << 12};
  EXPECT_EQ(s.numel(), int64_t{1} << 32);
}

}  // namespace
}  // namespace v3d
