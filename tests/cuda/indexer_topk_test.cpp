// The streaming indexer top-k: the CPU reference's selection rule on hand cases, fixed k and
// budgets with forced sink/window keys (run without a GPU), the GPU kernel identical to the
// reference on exact-product inputs (small integers: every summation order gives the same f32
// scores, and the many equal scores exercise the lowest-index tie-break), "identical except
// near-ties" on general inputs, and the GPU support fed straight to the gathered attention kernel.
#include "attention/cuda/indexer_topk.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <ostream>
#include <random>
#include <set>

#include "attention/cpu/cpu_executor.h"
#include "cuda/cuda_inputs.h"

namespace spf {
namespace {

TEST(IndexerTopKReference, HigherScoreFirstTiesToLowerIndexOutputAscending) {
  IndexerTopKShape s{1, 6, 5, 1, 1, 2};
  const std::vector<float> q{1.0f}, k{1, 3, 3, 2, 3, 0};
  std::vector<int32_t> cols, counts;
  indexer_topk_reference(s, q.data(), k.data(), cols, counts);
  EXPECT_EQ(cols, (std::vector<int32_t>{1, 2}));
  s.k = 4;
  indexer_topk_reference(s, q.data(), k.data(), cols, counts);
  EXPECT_EQ(cols, (std::vector<int32_t>{1, 2, 3, 4}));
  s.k = 9;  // wider than the row: every causal key, -1 padded
  indexer_topk_reference(s, q.data(), k.data(), cols, counts);
  EXPECT_EQ(cols, (std::vector<int32_t>{0, 1, 2, 3, 4, 5, -1, -1, -1}));
  EXPECT_EQ(counts, (std::vector<int32_t>{6}));
  s.q_block = 65;
  EXPECT_THROW(indexer_topk_reference(s, q.data(), k.data(), cols, counts), Error);
}

// The budget form: forced sink and window keys first (whatever their scores), then the best
// others up to the row's budget; a fraction of the row's causal keys rounds up.
TEST(IndexerTopKReference, SinkAndWindowAreForcedInsideTheBudget) {
  // One query at position 9 over 10 keys; scores ascending with the key index.
  std::vector<float> k(10);
  for (int j = 0; j < 10; ++j) k[size_t(j)] = float(j);
  const std::vector<float> q{1.0f};
  IndexerTopKShape s{1, 10, 9, 1, 1, 6};
  s.budget_k = 4;
  s.sink = 2;
  s.window = 1;
  std::vector<int32_t> cols, counts;
  indexer_topk_reference(s, q.data(), k.data(), cols, counts);
  EXPECT_EQ(cols, (std::vector<int32_t>{0, 1, 8, 9, -1, -1}));  // sink 0, 1; window 9; best 8
  s.window = 4;  // forced keys (2 + 4) exceed the budget: all forced, nothing else
  indexer_topk_reference(s, q.data(), k.data(), cols, counts);
  EXPECT_EQ(cols, (std::vector<int32_t>{0, 1, 6, 7, 8, 9}));
  EXPECT_EQ(counts, (std::vector<int32_t>{6}));
  s.window = 0;
  s.sink = 0;
  s.budget_k = 0;
  s.fraction = 0.25;  // ceil(0.25 * 10) = 3
  indexer_topk_reference(s, q.data(), k.data(), cols, counts);
  EXPECT_EQ(cols, (std::vector<int32_t>{7, 8, 9, -1, -1, -1}));
  s.k = 2;  // narrower than the row's keep: an error, not a silent cut
  EXPECT_THROW(indexer_topk_reference(s, q.data(), k.data(), cols, counts), Error);
  s.k = 6;
  s.budget_k = 3;  // a count and a fraction at once
  EXPECT_THROW(indexer_topk_reference(s, q.data(), k.data(), cols, counts), Error);
}

// Which calls take the two-pass path, and the scratch they allocate (no device needed).
TEST(IndexerTopKReference, TwoPassScratchFollowsTheCapacityAndWidth) {
  IndexerTopKShape s{64, 1 << 20, (1 << 20) - 64, 64, 64, 2048};
  EXPECT_TRUE(s.two_pass());
  EXPECT_EQ(s.candidate_slots(), (int64_t(1) << 20) / 16);
  EXPECT_EQ(s.two_pass_row_bytes(),
            (IndexerTopKShape::kTwoPassMaxKeep + 2 * s.candidate_slots()) * 4);
  s.n_kv = 1000;
  s.q_pos0 = 1000 - 64;
  EXPECT_EQ(s.candidate_slots(), 4096);  // the floor
  s.candidate_capacity = 8;
  EXPECT_EQ(s.candidate_slots(), 8);
  s.candidate_capacity = -1;  // the 4-pass path: no scratch
  EXPECT_FALSE(s.two_pass());
  EXPECT_EQ(s.two_pass_row_bytes(), 0);
  s.candidate_capacity = 0;
  s.k = IndexerTopKShape::kTwoPassMaxKeep + 1;  // too wide for the two-pass path
  EXPECT_FALSE(s.two_pass());
  EXPECT_EQ(s.two_pass_row_bytes(), 0);
}

std::vector<float> ints(size_t n, uint32_t seed, int lo, int hi) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(lo, hi);
  std::vector<float> x(n);
  for (float& e : x) e = float(u(rng));
  return x;
}

struct GpuTopK {
  std::vector<int32_t> cols, counts;
  int32_t four_pass_rows = 0, sampled_rows = 0;  // the kernel's path counters
};

GpuTopK run_gpu(const IndexerTopKShape& s, const std::vector<float>& q,
                const std::vector<float>& k) {
  const Buffer dq = test::upload_bf16(q), dk = test::upload_bf16(k);
  const int64_t rows = s.n_rows();
  Buffer dcols(Device::cuda, size_t(rows * s.k) * 4), dcounts(Device::cuda, size_t(rows) * 4);
  // Poison: every slot must be written.
  const std::vector<int32_t> poison(size_t(rows * s.k), 0x7eadbeef);
  cuda_copy_to_device(dcols.data(), poison.data(), poison.size() * 4);
  Buffer dpaths(Device::cuda, 8);
  const int32_t zeros[2] = {0, 0};
  cuda_copy_to_device(dpaths.data(), zeros, 8);
  int32_t* paths = static_cast<int32_t*>(dpaths.data());
  cuda_indexer_topk(s, TensorView(dq.data(), DType::bf16, {s.n_q, s.dim}, Device::cuda),
                    TensorView(dk.data(), DType::bf16, {s.n_kv, s.dim}, Device::cuda),
                    static_cast<int32_t*>(dcols.data()), static_cast<int32_t*>(dcounts.data()),
                    nullptr, paths, paths + 1);
  cuda_synchronize();
  GpuTopK g;
  int32_t got[2] = {-1, -1};
  cuda_copy_to_host(got, dpaths.data(), 8);
  g.four_pass_rows = got[0];
  g.sampled_rows = got[1];
  g.cols.resize(size_t(rows * s.k));
  g.counts.resize(size_t(rows));
  cuda_copy_to_host(g.cols.data(), dcols.data(), g.cols.size() * 4);
  cuda_copy_to_host(g.counts.data(), dcounts.data(), g.counts.size() * 4);
  return g;
}

struct TopKCase {
  int64_t n_q, n_kv;
  int dim, q_block, k;
};

void PrintTo(const TopKCase& c, std::ostream* os) {
  *os << "n_q " << c.n_q << " n_kv " << c.n_kv << " d " << c.dim << " qb " << c.q_block << " k "
      << c.k;
}

class CudaIndexerTopK : public ::testing::TestWithParam<TopKCase> {};

// Each case runs the default paths (rows with >= 4096 keys sampled, the others two-pass), the
// two-pass path without sampling, a candidate capacity so small that most rows overflow it and
// fall back to the 4-pass path mid-row (8), and the 4-pass path alone (-1).
struct TopKPath {
  int64_t cap;
  bool sampled;
};
constexpr TopKPath kPaths[] = {{0, true}, {0, false}, {8, true}, {-1, true}};

void PrintTo(const TopKPath& p, std::ostream* os) {
  *os << "candidate capacity " << p.cap << (p.sampled ? "" : ", no sampling");
}
std::string str(const TopKPath& p) {
  return ::testing::PrintToString(p);
}

TEST_P(CudaIndexerTopK, IdenticalToReferenceOnExactInputs) {
  SPF_REQUIRE_CUDA_DEVICE();
  const TopKCase c = GetParam();
  const IndexerTopKShape s{c.n_q, c.n_kv, c.n_kv - c.n_q, c.dim, c.q_block, c.k};
  const std::vector<float> q = ints(size_t(c.n_q * c.dim), 1, -3, 3);
  const std::vector<float> k = ints(size_t(c.n_kv * c.dim), 2, -3, 3);
  std::vector<int32_t> cols, counts;
  indexer_topk_reference(s, q.data(), k.data(), cols, counts);
  for (const TopKPath& path : kPaths) {
    IndexerTopKShape sc = s;
    sc.candidate_capacity = path.cap;
    sc.sampled = path.sampled;
    const GpuTopK g = run_gpu(sc, q, k);
    EXPECT_EQ(g.counts, counts) << str(path);
    int64_t differing = 0;
    for (size_t i = 0; i < cols.size(); ++i) differing += g.cols[i] != cols[i];
    EXPECT_EQ(differing, 0) << "slots differing from the reference, " << str(path);
  }
}

// General inputs: scores may differ in the last bits, so a key may swap with another whose
// reference score is within that rounding of the row's k-th score; nothing else may differ.
TEST_P(CudaIndexerTopK, IdenticalExceptNearTiesOnRandomInputs) {
  SPF_REQUIRE_CUDA_DEVICE();
  const TopKCase c = GetParam();
  const IndexerTopKShape s{c.n_q, c.n_kv, c.n_kv - c.n_q, c.dim, c.q_block, c.k};
  std::vector<float> q = test::random_floats(size_t(c.n_q * c.dim), 3);
  std::vector<float> k = test::random_floats(size_t(c.n_kv * c.dim), 4);
  test::round_to_bf16(q);
  test::round_to_bf16(k);
  std::vector<int32_t> cols, counts;
  indexer_topk_reference(s, q.data(), k.data(), cols, counts);
  for (const TopKPath& path : kPaths) {
    IndexerTopKShape s_cap = s;
    s_cap.candidate_capacity = path.cap;
    s_cap.sampled = path.sampled;
    const GpuTopK g = run_gpu(s_cap, q, k);
    ASSERT_EQ(g.counts, counts);
    int64_t rows_differing = 0;
    for (int64_t r = 0; r < s.n_rows(); ++r) {
      const auto row = [&](const std::vector<int32_t>& x) {
        return std::set<int32_t>(x.begin() + r * s.k, x.begin() + r * s.k + counts[size_t(r)]);
      };
      const std::set<int32_t> a = row(g.cols), b = row(cols);
      if (a == b) continue;
      ++rows_differing;
      float kth = INFINITY;  // the reference's smallest kept score
      for (const int32_t j : b) kth = std::min(kth, indexer_row_score(s, q.data(), k.data(), r, j));
      const float eps = 1e-5f * float(s.dim);
      for (const std::set<int32_t>* side : {&a, &b}) {
        for (const int32_t j : *side) {
          if (a.count(j) && b.count(j)) continue;
          const float sc = indexer_row_score(s, q.data(), k.data(), r, j);
          EXPECT_LE(std::abs(sc - kth), eps) << "row " << r << " key " << j << " score " << sc
                                             << " is not a near-tie of the k-th score " << kth;
        }
      }
    }
    std::printf(
        "indexer top-k n_q %lld n_kv %lld d %d qb %d k %d, %s: %lld of %lld rows differ "
        "(near-ties)\n",
        (long long)c.n_q, (long long)c.n_kv, c.dim, c.q_block, c.k, str(path).c_str(),
        (long long)rows_differing, (long long)s.n_rows());
  }
}

std::vector<TopKCase> topk_cases() {
  std::vector<TopKCase> v;
  for (const int d : {64, 128}) {
    for (const int qb : {1, 64}) {
      v.push_back({1, 1, d, qb, 4});
      v.push_back({17, 17, d, qb, 5});
      v.push_back({64, 64, d, qb, 16});
      v.push_back({1000, 1000, d, qb, 100});
      v.push_back({100, 1000, d, qb, 37});  // queries at an offset
    }
    v.push_back({1000, 1000, d, 17, 64});
    v.push_back({4097, 4097, d, 64, 2048});
    v.push_back({256, 16384, d, 1, 300});  // long rows at an offset: the sampled path
  }
  v.push_back({1024, 16384, 64, 64, 300});
  v.push_back({4097, 4097, 64, 1, 256});
  return v;
}
INSTANTIATE_TEST_SUITE_P(Shapes, CudaIndexerTopK, ::testing::ValuesIn(topk_cases()));

// Budgets with forced keys and fractions: per-row keep counts, forced keys outranking every score.
TEST(CudaIndexerTopK, BudgetsWithSinkWindowAndFractionMatchTheReference) {
  SPF_REQUIRE_CUDA_DEVICE();
  struct Budgeted {
    int64_t n_q, n_kv;
    int q_block;
    int64_t budget_k;
    double fraction;
    int64_t sink, window;
  };
  const Budgeted cases[] = {
      {1, 1, 1, 4, 0, 4, 16},          {17, 17, 1, 5, 0, 4, 16},
      {1000, 1000, 1, 64, 0, 4, 64},   {1000, 1000, 1, 0, 0.05, 2, 8},
      {1000, 1000, 1, 0, 0.3, 0, 0},   {100, 1000, 1, 37, 0, 1, 200},
      {1000, 1000, 16, 64, 0, 4, 32},  {1000, 1000, 64, 0, 0.1, 4, 16},
      {4097, 4097, 1, 2048, 0, 4, 64}, {4097, 4097, 64, 0, 0.05, 64, 128},
      {128, 12000, 1, 0, 0.02, 4, 64}, {512, 12000, 64, 200, 0, 64, 128},  // sampled rows
  };
  for (const int d : {64, 128}) {
    for (const Budgeted& c : cases) {
      IndexerTopKShape s{c.n_q, c.n_kv, c.n_kv - c.n_q, d, c.q_block, 1};
      s.budget_k = c.budget_k;
      s.fraction = c.fraction;
      s.sink = c.sink;
      s.window = c.window;
      s.k = int(s.width_bound());
      const std::vector<float> q = ints(size_t(c.n_q * d), 7, -3, 3);
      const std::vector<float> k = ints(size_t(c.n_kv * d), 8, -3, 3);
      std::vector<int32_t> cols, counts;
      indexer_topk_reference(s, q.data(), k.data(), cols, counts);
      for (const TopKPath& path : kPaths) {
        s.candidate_capacity = path.cap;
        s.sampled = path.sampled;
        const GpuTopK g = run_gpu(s, q, k);
        EXPECT_EQ(g.counts, counts)
            << "n_q " << c.n_q << " d " << d << " qb " << c.q_block << ", " << str(path);
        EXPECT_EQ(g.cols, cols) << "n_q " << c.n_q << " d " << d << " qb " << c.q_block << ", "
                                << str(path);
      }
    }
  }
}

// Equal scores put every key into the k-th key's first-pass bin: with fewer candidate slots than
// keys, each row that does not keep all its keys overflows the two-pass path and is counted once;
// with room for every key, or on the 4-pass path alone, none is. The keys are the reference's.
TEST(CudaIndexerTopK, CountsTheRowsThatOverflowTheTwoPassPath) {
  SPF_REQUIRE_CUDA_DEVICE();
  const int64_t n = 1000;
  IndexerTopKShape s{n, n, 0, 64, 8, 32};
  const std::vector<float> q(size_t(n * 64), 1.0f), k(size_t(n * 64), 1.0f);
  std::vector<int32_t> cols, counts;
  indexer_topk_reference(s, q.data(), k.data(), cols, counts);
  int64_t partial_rows = 0;  // rows with more causal keys than they keep
  for (int64_t r = 0; r < s.n_rows(); ++r) partial_rows += s.row_visible(r) > s.row_keep(r);
  ASSERT_EQ(partial_rows, s.n_rows() - 4);
  const Buffer dq = test::upload_bf16(q), dk = test::upload_bf16(k);
  for (const auto& [cap, want] :
       std::vector<std::pair<int64_t, int64_t>>{{16, partial_rows}, {n, 0}, {-1, 0}}) {
    SCOPED_TRACE(cap);
    s.candidate_capacity = cap;
    Buffer dcols(Device::cuda, cols.size() * 4), dcounts(Device::cuda, counts.size() * 4);
    Buffer dfall(Device::cuda, 4);
    const int32_t zero = 0;
    cuda_copy_to_device(dfall.data(), &zero, 4);
    cuda_indexer_topk(s, TensorView(dq.data(), DType::bf16, {n, 64}, Device::cuda),
                      TensorView(dk.data(), DType::bf16, {n, 64}, Device::cuda),
                      static_cast<int32_t*>(dcols.data()), static_cast<int32_t*>(dcounts.data()),
                      nullptr, static_cast<int32_t*>(dfall.data()));
    cuda_synchronize();
    int32_t fell = -1;
    cuda_copy_to_host(&fell, dfall.data(), 4);
    EXPECT_EQ(fell, want);
    std::vector<int32_t> got_cols(cols.size()), got_counts(counts.size());
    cuda_copy_to_host(got_cols.data(), dcols.data(), got_cols.size() * 4);
    cuda_copy_to_host(got_counts.data(), dcounts.data(), got_counts.size() * 4);
    EXPECT_EQ(got_counts, counts);
    EXPECT_EQ(got_cols, cols);
  }
}

// Long rows take the sampled path (one pass over the keys after a 1/16 sample) and are counted;
// without sampling none is; the keys are the reference's either way. With equal scores every
// sampled threshold lets all keys through, more than the candidate slots: each such row falls
// back to the two-pass path, overflows it too, and ends on the 4-pass path, still exact.
TEST(CudaIndexerTopK, LongRowsTakeTheSampledPathAndFallBackWhenItOverflows) {
  SPF_REQUIRE_CUDA_DEVICE();
  const int64_t n_q = 256, n_kv = 16384;
  IndexerTopKShape s{n_q, n_kv, n_kv - n_q, 64, 1, 300};
  const std::vector<float> q = ints(size_t(n_q * 64), 11, -3, 3);
  const std::vector<float> k = ints(size_t(n_kv * 64), 12, -3, 3);
  std::vector<int32_t> cols, counts;
  indexer_topk_reference(s, q.data(), k.data(), cols, counts);
  for (const bool sampled : {true, false}) {
    SCOPED_TRACE(sampled);
    s.sampled = sampled;
    const GpuTopK g = run_gpu(s, q, k);
    EXPECT_EQ(g.counts, counts);
    EXPECT_EQ(g.cols, cols);
    EXPECT_EQ(g.four_pass_rows, 0);
    if (sampled) {
      EXPECT_GE(g.sampled_rows, n_q * 9 / 10) << "rows done on the sampled path";
    } else {
      EXPECT_EQ(g.sampled_rows, 0);
    }
  }

  IndexerTopKShape e{64, 8192, 8192 - 64, 64, 1, 32};
  const std::vector<float> ones_q(size_t(64 * 64), 1.0f), ones_k(size_t(8192 * 64), 1.0f);
  indexer_topk_reference(e, ones_q.data(), ones_k.data(), cols, counts);
  const GpuTopK g = run_gpu(e, ones_q, ones_k);
  EXPECT_EQ(g.counts, counts);
  EXPECT_EQ(g.cols, cols);
  EXPECT_EQ(g.sampled_rows, 0);
  EXPECT_EQ(g.four_pass_rows, 64);
}

// The GPU support goes to the gathered attention kernel without leaving the device and gives what
// the CPU executor gives on the reference support.
TEST(CudaIndexerTopK, DeviceSupportFeedsGatheredAttention) {
  SPF_REQUIRE_CUDA_DEVICE();
  const int64_t n = 1000;
  const IndexerTopKShape s{n, n, 0, 64, 64, 96};
  const std::vector<float> q = ints(size_t(n * 64), 5, -3, 3), k = ints(size_t(n * 64), 6, -3, 3);
  std::vector<int32_t> cols, counts;
  indexer_topk_reference(s, q.data(), k.data(), cols, counts);
  const Buffer dq = test::upload_bf16(q), dk = test::upload_bf16(k);
  Buffer dcols(Device::cuda, cols.size() * 4), dcounts(Device::cuda, counts.size() * 4);
  cuda_indexer_topk(s, TensorView(dq.data(), DType::bf16, {n, 64}, Device::cuda),
                    TensorView(dk.data(), DType::bf16, {n, 64}, Device::cuda),
                    static_cast<int32_t*>(dcols.data()), static_cast<int32_t*>(dcounts.data()));
  test::DeviceAttn in(n, n, 8, 2, 128, 9);
  DeviceSupportView dv;
  static_cast<SupportDims&>(dv) = SupportDims{n, n, 0, 64, 1, 1};
  dv.cols = static_cast<const int32_t*>(dcols.data());
  dv.counts = static_cast<const int32_t*>(dcounts.data());
  dv.k = s.k;
  cuda_executor().sparse_device(in.device_call(), dv);
  cuda_synchronize();
  const TopKSupportView hv{SupportDims{n, n, 0, 64, 1, 1}, s.k, cols.data(), counts.data()};
  cpu_executor().sparse(in.host_call(), validate_support(hv));
  const test::Diff o = test::compare(in.device_out(), in.host.out);
  EXPECT_EQ(o.not_finite, 0);
  EXPECT_LE(o.max_abs, 1e-2);
}

}  // namespace
}  // namespace spf
