// The CUDA executor's statistics run the CPU executor on host copies of q and k (no GPU kernels
// for them yet): the results equal the CPU executor's on the same bf16-rounded inputs exactly, and
// a statistics-only call (no v, out) is accepted.
#include <gtest/gtest.h>

#include "attention/cpu/cpu_executor.h"
#include "cuda/cuda_inputs.h"

namespace spf {
namespace {

AttentionCall stats_only(AttentionCall c) {
  c.v = TensorView();
  c.out = TensorView();
  c.lse = TensorView();
  return c;
}

TEST(CudaStatistics, RowStatsEqualTheCpuExecutorsOnTheSameInputs) {
  SPF_REQUIRE_CUDA_DEVICE();
  test::DeviceAttn in(70, 300, 8, 2, 64, 21);
  const RowStats want = cpu_executor().row_stats(stats_only(in.host_call()), MassOptions{});
  const RowStats got = cuda_executor().row_stats(stats_only(in.device_call()), MassOptions{});
  EXPECT_EQ(got.max, want.max);
  EXPECT_EQ(got.lse, want.lse);
}

class SumRows final : public BlockMassConsumer {
 public:
  explicit SumRows(size_t n) : total(n, 0.0) {}
  void on_rows(const BlockMassRows& rows) override {
    for (int g = 0; g < rows.n_groups; ++g)
      for (int64_t r = 0; r < rows.n_rows; ++r)
        for (const float m : rows.row(g, r)) total[size_t(g * 1000 + rows.row0 + r)] += m;
  }
  std::vector<double> total;
};

TEST(CudaStatistics, BlockMassEqualsTheCpuExecutors) {
  SPF_REQUIRE_CUDA_DEVICE();
  test::DeviceAttn in(130, 130, 4, 2, 128, 22);
  const BlockMassSpec spec{32, 32, 2};
  SumRows want(2000), got(2000);
  cpu_executor().block_mass(stats_only(in.host_call()), spec, want);
  cuda_executor().block_mass(stats_only(in.device_call()), spec, got);
  EXPECT_EQ(got.total, want.total);
}

}  // namespace
}  // namespace spf
