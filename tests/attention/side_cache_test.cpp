#include "attention/side_cache.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace spf {
namespace {

TEST(SideCache, FirstWriterFixesTheLayoutAndRowsAppend) {
  SideCache c(10);
  EXPECT_FALSE(c.ready());
  EXPECT_THROW(c.all(), Error);
  c.ensure(4, DType::f32);
  EXPECT_THROW(c.ensure(8, DType::f32), Error);
  EXPECT_THROW(c.ensure(4, DType::i32), Error);
  TensorView w = c.write(0, 3);
  for (int i = 0; i < 12; ++i) w.data<float>()[i] = float(i);
  EXPECT_EQ(c.rows(), 3);
  c.write(3, 1).data<float>()[0] = 42.0f;
  EXPECT_EQ(c.rows(), 4);
  EXPECT_EQ(c.prefix(4).data<const float>()[12], 42.0f);
  EXPECT_THROW(c.write(5, 1), Error);  // a gap: rows must stay contiguous from 0
  EXPECT_THROW(c.write(4, 7), Error);  // past capacity
  EXPECT_THROW(c.prefix(5), Error);    // not written yet
  EXPECT_NO_THROW(c.write(2, 2));      // rewriting written rows is allowed
  EXPECT_EQ(c.rows(), 4);
}

TEST(SideCache, WithoutCapacityFailsClearly) {
  SideCache c;
  EXPECT_THROW(c.ensure(4, DType::f32), Error);
  EXPECT_THROW(c.ensure(0, DType::f32), Error);
}

}  // namespace
}  // namespace spf
