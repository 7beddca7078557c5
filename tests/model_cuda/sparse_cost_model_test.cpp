// The dense-fallback cost model (indexer/cuda/sparse_cost_model.h): the threshold rule, the stored
// file (round trip, corrupt file = one-line error), and on a GPU a calibration whose threshold
// agrees with its own samples.
#include "indexer/cuda/sparse_cost_model.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <limits>

#include "attention/cuda/cuda_executor.h"
#include "core/error.h"
#include "indexer/indexer_model.h"

namespace spf {
namespace {

TEST(SparseCostModel, ThresholdIsWhereSparseWinsFromThenOn) {
  using S = SparseCostSample;
  EXPECT_EQ(dense_below_from({{1024, 1, 2}, {2048, 2, 1.5}, {4096, 4, 2}}), 2048);
  // A win that is lost again at a longer length does not count.
  EXPECT_EQ(dense_below_from({{1024, 1, 0.5}, {2048, 2, 3}, {4096, 4, 2}}), 4096);
  EXPECT_EQ(dense_below_from({{1024, 1, 0.5}, {2048, 2, 1}}), 1024);
  EXPECT_EQ(dense_below_from({{1024, 1, 2}, {2048, 2, 3}}), std::numeric_limits<int64_t>::max());
  (void)S{};
}

TEST(SparseCostModel, StoresAndReloadsEntries) {
  const std::string path =
      (std::filesystem::temp_directory_path() / "spf-sparse-cost-test.json").string();
  std::filesystem::remove(path);
  SparseCostModel m = SparseCostModel::load(path);  // missing: empty
  EXPECT_EQ(m.size(), 0u);
  SparseCostKey k;
  k.device = "GPU X";
  k.n_heads = 16;
  k.n_kv_heads = 4;
  k.head_dim = 256;
  k.indexer = "rope32of64,heads1,shared,d64";
  k.budget = "k=2048";
  k.q_block = 64;
  SparseCostEntry e;
  e.dense_below = 16384;
  e.samples = {{8192, 1.0, 2.0}, {16384, 4.0, 3.0}};
  m.set(k, e);
  m.save(path);
  const SparseCostModel r = SparseCostModel::load(path);
  ASSERT_TRUE(r.find(k).has_value());
  EXPECT_EQ(r.find(k)->dense_below, 16384);
  EXPECT_EQ(r.find(k)->samples.size(), 2u);
  k.kernel = "wgmma";  // measured with another attention kernel: not reused
  EXPECT_FALSE(r.find(k).has_value());
  k.kernel.clear();
  k.topk = "two-pass";  // or another revision of the top-k kernel
  EXPECT_FALSE(r.find(k).has_value());
  k.topk.clear();
  k.q_block = 1;
  EXPECT_FALSE(r.find(k).has_value());
  std::ofstream(path) << "{\"entries\": 3}";
  EXPECT_THROW(SparseCostModel::load(path), Error);
  std::filesystem::remove(path);
}

TEST(SparseCostModel, CalibrationThresholdFollowsItsSamples) {
  if (!cuda_device_present()) GTEST_SKIP() << "no CUDA device";
  IndexerConfig c;
  c.d_model = 256;
  c.n_layers = 1;
  c.d_idx = 64;
  c.rope_dims = 32;
  const IndexerWeights w = random_indexer(c, 3);
  CudaIndexerOptions o;
  o.budget = Budget::top_k(256);
  o.q_block = 64;
  const SparseCostEntry e = calibrate_sparse_cost(w, o, 8, 2, 128, {1024, 4096, 16384}, 2);
  ASSERT_EQ(e.samples.size(), 3u);
  for (const SparseCostSample& s : e.samples) {
    std::printf("cost n=%lld dense %.3f ms sparse %.3f ms\n", (long long)s.n, s.dense_ms,
                s.sparse_ms);
    EXPECT_GT(s.dense_ms, 0.0);
    EXPECT_GT(s.sparse_ms, 0.0);
  }
  EXPECT_EQ(e.dense_below, dense_below_from(e.samples));
}

}  // namespace
}  // namespace spf
