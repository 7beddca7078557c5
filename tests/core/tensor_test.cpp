// TensorView, Buffer, Arena and the dtype / head_dim dispatch of src/core.
#include "core/tensor.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "core/buffer.h"
#include "core/dispatch.h"
#include "core/error.h"

namespace spf {
namespace {

TEST(TensorView, ContiguousShapeStridesAndRows) {
  std::vector<float> x(2 * 3 * 4);
  std::iota(x.begin(), x.end(), 0.0f);
  const TensorView t = TensorView::of(x.data(), {2, 3, 4});
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.stride[0], 12);
  EXPECT_EQ(t.stride[1], 4);
  EXPECT_EQ(t.stride[2], 1);
  EXPECT_TRUE(t.contiguous());
  const TensorView r = t.rows(1, 1);
  EXPECT_EQ(r.data<const float>()[0], 12.0f);
  EXPECT_EQ(r.dim(0), 1);
  EXPECT_THROW(t.rows(1, 2), Error);
  EXPECT_EQ(t.reshaped({6, 4}).dim(0), 6);
  EXPECT_THROW(t.reshaped({5, 4}), Error);
  EXPECT_EQ(t.str(), "F32[2,3,4] cpu");
}

TEST(TensorView, SpacedRowsAreContiguousRowsButNotContiguous) {
  std::vector<float> x(4 * 10);
  TensorView t = TensorView::of(x.data(), {4, 8});
  t.stride[0] = 10;  // rows of 8 inside rows of 10 (e.g. the query half of a fused projection)
  EXPECT_TRUE(t.contiguous_rows());
  EXPECT_FALSE(t.contiguous());
  EXPECT_THROW(t.reshaped({32}), Error);
}

TEST(TensorView, TypedAccessAndExpectations) {
  std::vector<int32_t> ids(5);
  const TensorView t = TensorView::of(ids.data(), {5});
  EXPECT_EQ(t.data<int32_t>(), ids.data());
  EXPECT_THROW((void)t.data<float>(), Error);
  EXPECT_NO_THROW(t.expect("ids", DType::i32, Device::cpu, {5}));
  EXPECT_NO_THROW(t.expect("ids", DType::i32, Device::cpu, {-1}));
  EXPECT_THROW(t.expect("ids", DType::i32, Device::cpu, {4}), Error);
  EXPECT_THROW(t.expect("ids", DType::f32, Device::cpu, {5}), Error);
  EXPECT_THROW(t.expect("ids", DType::i32, Device::cuda, {5}), Error);
  try {
    t.expect("ids", DType::f32, Device::cpu, {-1, 2});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("ids: expected F32 cpu [*,2]"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(TensorView::of(ids.data(), {1, 1, 1, 1, 1}), Error);
}

TEST(Buffer, HostAllocationIsAlignedAndViewsAreBounded) {
  Buffer b(Device::cpu, 1000);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % 64, 0u);
  EXPECT_EQ(b.view(DType::f32, {250}).numel(), 250);
  EXPECT_THROW(b.view(DType::f32, {251}), Error);
  Buffer moved = std::move(b);
  EXPECT_EQ(moved.bytes(), 1000u);
  EXPECT_EQ(b.data(), nullptr);
}

TEST(Buffer, DeviceWithoutAllocatorFailsClearly) {
  if (device_available(Device::cuda)) GTEST_SKIP() << "a CUDA allocator is registered";
  try {
    Buffer b(Device::cuda, 16);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no cuda support"), std::string::npos) << e.what();
  }
}

TEST(Arena, ReuseAfterResetAllocatesNothing) {
  Arena arena;
  // First "prefill": more than the first block, so overflow blocks are made.
  for (int i = 0; i < 8; ++i) arena.alloc(DType::f32, {1 << 18});  // 8 x 1 MiB
  const size_t high = arena.high_water();
  EXPECT_GE(high, size_t(8) << 20);
  arena.reset();
  const int64_t after_merge = arena.allocations();
  EXPECT_GE(arena.capacity(), high);
  // Same or smaller calls ("decode steps") now fit in the merged block.
  for (int step = 0; step < 5; ++step) {
    arena.reset();
    float* a = arena.alloc_array<float>(1000);
    float* b = arena.alloc_array<float>(3000);
    EXPECT_GE(b, a + 1000);  // disjoint
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b) % 64, 0u);
  }
  arena.reset();
  for (int i = 0; i < 8; ++i) arena.alloc(DType::f32, {1 << 18});
  EXPECT_EQ(arena.allocations(), after_merge);
  EXPECT_THROW(arena.alloc(DType::q4_0, {32}), Error);
}

TEST(Dispatch, FloatTypesAndHeadDims) {
  EXPECT_EQ(
      dispatch_float(DType::f32, [](auto tag) { return sizeof(typename decltype(tag)::type); }),
      4u);
  EXPECT_EQ(
      dispatch_float(DType::bf16, [](auto tag) { return sizeof(typename decltype(tag)::type); }),
      2u);
  EXPECT_THROW(dispatch_float(DType::i32, [](auto) { return 0; }), Error);
  for (int d : kSpecialisedHeadDims)
    EXPECT_EQ(dispatch_head_dim(d, [](auto hd) { return int(decltype(hd)::value); }), d);
  EXPECT_EQ(dispatch_head_dim(
                96, [](auto hd) { return int(decltype(hd)::value); }, [] { return -1; }),
            -1);
  EXPECT_THROW(dispatch_head_dim(96, [](auto hd) { return int(decltype(hd)::value); }), Error);
}

}  // namespace
}  // namespace spf
