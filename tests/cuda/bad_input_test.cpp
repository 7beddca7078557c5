// Bad calls to the CUDA executor fail with one spf::Error line, before any kernel runs (these
// cases need no GPU and run in CI), and a device-resident support with out-of-range entries is
// masked, not read out of bounds (run once under compute-sanitizer on the GPU machine).
#include <gtest/gtest.h>

#include <string>

#include "attention/cpu/cpu_executor.h"
#include "cuda/cuda_inputs.h"

namespace spf {
namespace {

// A call over fake device pointers: the executor must reject it before touching memory.
AttentionCall fake_call(int head_dim, DType dtype, Device device, int heads = 4, int kv_heads = 2) {
  static char dummy[16];
  AttentionCall c;
  c.shape = AttentionShape{8, 8, 0, heads, kv_heads, head_dim, 0.1f};
  c.q = TensorView(dummy, dtype, {8, heads, head_dim}, device);
  c.k = TensorView(dummy, dtype, {8, kv_heads, head_dim}, device);
  c.v = TensorView(dummy, dtype, {8, kv_heads, head_dim}, device);
  c.out = TensorView(dummy, dtype, {8, heads, head_dim}, device);
  return c;
}

std::string error_of(const AttentionCall& c) {
  try {
    cuda_executor().dense(c);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(CudaBadInput, UnsupportedHeadDimDtypeOrDeviceIsOneLineError) {
  const std::string d96 = error_of(fake_call(96, DType::bf16, Device::cuda));
  EXPECT_NE(d96.find("head_dim 96"), std::string::npos) << d96;
  const std::string f32 = error_of(fake_call(128, DType::f32, Device::cuda));
  EXPECT_NE(f32.find("bf16"), std::string::npos) << f32;
  const std::string host = error_of(fake_call(128, DType::bf16, Device::cpu));
  EXPECT_NE(host.find("device memory"), std::string::npos) << host;
  const std::string wide = error_of(fake_call(64, DType::bf16, Device::cuda, 130, 2));
  EXPECT_NE(wide.find("query heads per KV head"), std::string::npos) << wide;
  for (const std::string& e : {d96, f32, host, wide}) EXPECT_EQ(e.find('\n'), std::string::npos);
}

TEST(CudaBadInput, HostSupportsAreValidatedBeforeUpload) {
  // Unsorted and out-of-range columns never reach the executor: validate_support rejects them.
  const std::vector<int64_t> row_ptr{0, 2};
  const std::vector<int32_t> unsorted{3, 1}, out_of_range{0, 99};
  SupportView v{SupportDims{4, 4, 0, 4, 1, 1}, row_ptr.data(), unsorted.data()};
  EXPECT_THROW(validate_support(v), Error);
  v.cols = out_of_range.data();
  EXPECT_THROW(validate_support(v), Error);
}

// A device support (as a GPU producer would hand over) with negative, past-the-end and future
// entries and a count wider than the row: the kernel masks them, so the result equals attention
// over the row's valid entries.
TEST(CudaBadInput, DeviceSupportEntriesOutOfRangeAreMasked) {
  SPF_REQUIRE_CUDA_DEVICE();
  const int64_t n = 100;
  test::DeviceAttn in(n, n, 8, 2, 128, 3);
  const int width = 6;
  std::vector<int32_t> cols(size_t(n * width)), counts(size_t(n), width + 5);
  test::TestSupport clean;
  clean.n_q = clean.n_kv = n;
  for (int64_t i = 0; i < n; ++i) {
    int32_t* r = cols.data() + i * width;
    r[0] = -5;
    r[1] = int32_t(i / 2);
    r[2] = i == i / 2 ? -1 : int32_t(i);  // no duplicate of r[1]
    r[3] = int32_t(i + 1);                // the future: masked causally
    r[4] = int32_t(n + 7);                // past n_kv
    r[5] = 1 << 30;
    std::vector<int32_t> keep{int32_t(i / 2)};
    if (i != i / 2) keep.push_back(int32_t(i));
    clean.add_row(keep);
  }
  Buffer dcols(Device::cuda, cols.size() * 4), dcounts(Device::cuda, counts.size() * 4);
  cuda_copy_to_device(dcols.data(), cols.data(), cols.size() * 4);
  cuda_copy_to_device(dcounts.data(), counts.data(), counts.size() * 4);
  DeviceSupportView dv;
  static_cast<SupportDims&>(dv) = clean.dims();
  dv.cols = static_cast<const int32_t*>(dcols.data());
  dv.counts = static_cast<const int32_t*>(dcounts.data());
  dv.k = width;
  cuda_executor().sparse_device(in.device_call(), dv);
  cuda_synchronize();
  cpu_executor().sparse(in.host_call(), validate_support(clean.view()));
  const test::Diff o = test::compare(in.device_out(), in.host.out);
  EXPECT_EQ(o.not_finite, 0);
  EXPECT_LE(o.max_abs, 1e-2);
}

}  // namespace
}  // namespace spf
