#include "attention/cpu/sparse.h"

#include <gtest/gtest.h>

#include "attention/cpu/dense.h"
#include "attention/cpu/reference.h"
#include "attention_inputs.h"
#include "core/error.h"

namespace spf {
namespace {

struct SparseCase {
  int64_t n_q, n_kv;
  int heads, kv_heads, head_dim;
  int block;  // q_block = k_block
};

class SparseFullSupport : public ::testing::TestWithParam<SparseCase> {};

TEST_P(SparseFullSupport, EqualsDenseToFp32Rounding) {
  const SparseCase c = GetParam();
  test::AttnInputs sparse = test::make_inputs(c.n_q, c.n_kv, c.heads, c.kv_heads, c.head_dim, 21);
  test::AttnInputs dense = sparse;
  const int n_groups_options[] = {1, c.kv_heads, c.heads};
  for (const int groups : n_groups_options) {
    const test::TestSupport full = test::full_support(sparse.shape, c.block, c.block, groups);
    dense_attention(dense.call());
    for (const int min_direct_run : {1, 32, 1 << 20}) {
      SparseOptions o;
      o.min_direct_run = min_direct_run;
      sparse_attention(sparse.call(), full.view(), o);
      EXPECT_LE(test::rel_max_diff(sparse.out, dense.out), 1e-5)
          << "groups " << groups << " min_direct_run " << min_direct_run;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, SparseFullSupport,
    ::testing::Values(SparseCase{1, 1, 2, 1, 64, 1}, SparseCase{1, 300, 4, 2, 64, 1},
                      SparseCase{97, 97, 4, 1, 64, 1}, SparseCase{97, 97, 4, 1, 64, 16},
                      SparseCase{130, 400, 6, 2, 128, 64}, SparseCase{64, 64, 8, 1, 256, 8},
                      SparseCase{50, 50, 3, 3, 128, 3}));

struct RandomCase {
  int64_t n_q, n_kv;
  int heads, kv_heads, head_dim;
  int q_block, k_block;
  int groups_kind;  // 0 shared, 1 per KV group, 2 per head
  double keep;
};

class SparseRandomSupport : public ::testing::TestWithParam<RandomCase> {};

TEST_P(SparseRandomSupport, MatchesReferenceRestrictedToSupport) {
  const RandomCase c = GetParam();
  test::AttnInputs in = test::make_inputs(c.n_q, c.n_kv, c.heads, c.kv_heads, c.head_dim, 31);
  test::AttnInputs ref = in;
  const int groups = c.groups_kind == 0 ? 1 : c.groups_kind == 1 ? c.kv_heads : c.heads;
  const test::TestSupport sup =
      test::random_support(in.shape, c.q_block, c.k_block, groups, c.keep, 7);
  const SupportView view = sup.view();
  reference_attention(ref.call(), &view);
  // Small tiles and short direct runs exercise both the in-place and the gathered key paths; then
  // everything gathered, then the defaults.
  for (const SparseOptions& o :
       {SparseOptions{16, 4}, SparseOptions{16, 1 << 20}, SparseOptions{}}) {
    sparse_attention(in.call(), view, o);
    EXPECT_LT(test::rel_max_diff(in.out, ref.out), 2e-6) << "min_direct_run " << o.min_direct_run;
  }
}

// Every layout feeds the same loop the same columns, so the outputs agree bit for bit; supports
// with empty rows included.
TEST_P(SparseRandomSupport, TopKAndBsrViewsGiveTheCsrOutputExactly) {
  const RandomCase c = GetParam();
  test::AttnInputs csr = test::make_inputs(c.n_q, c.n_kv, c.heads, c.kv_heads, c.head_dim, 41);
  const int groups = c.groups_kind == 0 ? 1 : c.groups_kind == 1 ? c.kv_heads : c.heads;
  const test::TestSupport sup =
      test::random_support(csr.shape, c.q_block, c.k_block, groups, c.keep, 9, false);
  sparse_attention(csr.call(), sup.view());
  for (const int extra_width : {0, 5}) {
    test::AttnInputs top_k = csr;
    std::fill(top_k.out.begin(), top_k.out.end(), -7.0f);
    const test::TestTopK t = test::top_k_of(sup, extra_width);
    sparse_attention(top_k.call(), t.view());
    EXPECT_EQ(top_k.out, csr.out) << "top-k width " << t.k;
  }
  test::AttnInputs bsr = csr;
  std::fill(bsr.out.begin(), bsr.out.end(), -7.0f);
  const test::TestBsr b = test::bsr_of(sup);
  sparse_attention(bsr.call(), b.view());
  EXPECT_EQ(bsr.out, csr.out);

  // Plan once, run many: one validated view serves several runs.
  const test::TestTopK planned = test::top_k_of(sup);
  const ValidatedSupport plan = validate_support(planned.view());
  test::AttnInputs again = csr;
  for (int run = 0; run < 2; ++run) {
    std::fill(again.out.begin(), again.out.end(), -7.0f);
    sparse_attention(again.call(), plan);
    EXPECT_EQ(again.out, csr.out) << "run " << run;
  }
}

INSTANTIATE_TEST_SUITE_P(Supports, SparseRandomSupport,
                         ::testing::Values(RandomCase{80, 80, 4, 2, 64, 1, 1, 0, 0.2},
                                           RandomCase{80, 80, 4, 2, 64, 1, 1, 2, 0.1},
                                           RandomCase{33, 120, 4, 1, 128, 1, 1, 1, 0.3},
                                           RandomCase{100, 100, 6, 2, 64, 16, 16, 0, 0.4},
                                           RandomCase{100, 160, 8, 2, 64, 8, 32, 1, 0.5},
                                           RandomCase{70, 70, 3, 1, 256, 4, 1, 2, 0.3},
                                           RandomCase{1, 200, 4, 4, 64, 1, 8, 2, 0.3},
                                           RandomCase{61, 150, 8, 1, 128, 1, 1, 0, 0.15},
                                           RandomCase{45, 45, 6, 3, 64, 7, 5, 1, 0.05}));

TEST(SparseAttention, QueryWithNoVisibleKeyGetsZero) {
  test::AttnInputs in = test::make_inputs(4, 4, 1, 1, 64, 2);
  // One row of four queries admitting only key block [2, 4): queries 0 and 1 see nothing.
  test::TestSupport sup;
  sup.n_q = sup.n_kv = 4;
  sup.q_block = 4;
  sup.k_block = 2;
  sup.add_row({1});
  sparse_attention(in.call(), sup.view());
  for (int c = 0; c < 64; ++c) {
    EXPECT_EQ(in.out[size_t(c)], 0.0f);
    EXPECT_EQ(in.out[size_t(64 + c)], 0.0f);
    EXPECT_FLOAT_EQ(in.out[size_t(128 + c)], in.v[size_t(128 + c)]);  // query 2 sees key 2 only
  }
}

TEST(SparseAttention, RejectsMismatchedOrMalformedSupports) {
  test::AttnInputs in = test::make_inputs(8, 8, 4, 2, 64, 1);
  EXPECT_THROW(
      sparse_attention(in.call(), test::full_support(in.shape, 1, 1).view(), SparseOptions{0}),
      Error);
  test::TestSupport sup = test::full_support(in.shape, 1, 1);
  sup.n_kv = 9;
  EXPECT_THROW(sparse_attention(in.call(), sup.view()), Error);

  sup = test::full_support(in.shape, 1, 1, 3);  // 3 groups for 4 heads / 2 KV heads
  EXPECT_THROW(sparse_attention(in.call(), sup.view()), Error);

  sup = test::full_support(in.shape, 1, 1);
  std::swap(sup.cols[1], sup.cols[2]);  // row 1 = {0, 1} and row 2 = {0, 1, 2}: break ordering
  sup.cols[1] = 1;
  sup.cols[2] = 0;
  EXPECT_THROW(sparse_attention(in.call(), sup.view()), Error);

  sup = test::full_support(in.shape, 1, 1);
  sup.cols.back() = 8;  // out of range
  EXPECT_THROW(sparse_attention(in.call(), sup.view()), Error);

  sup = test::full_support(in.shape, 1, 1);
  sup.cols[0] = 1;  // query 0 (position 0) may not hold key 1
  EXPECT_THROW(sparse_attention(in.call(), sup.view()), Error);
  test::TestTopK t = test::top_k_of(test::full_support(in.shape, 1, 1));
  t.cols[1] = 0;  // row 0 = {0}: its padding must stay -1
  EXPECT_THROW(sparse_attention(in.call(), t.view()), Error);
}

TEST(SparseAttention, ValidatedSupportMustFitTheCall) {
  test::AttnInputs in = test::make_inputs(8, 8, 4, 2, 64, 1);
  const test::TestSupport good = test::full_support(in.shape, 2, 2);
  EXPECT_NO_THROW(sparse_attention(in.call(), validate_support(good.view())));
  test::AttnInputs longer = test::make_inputs(8, 9, 4, 2, 64, 1);  // q_pos0 1 instead of 0
  EXPECT_THROW(sparse_attention(longer.call(), validate_support(good.view())), Error);
  const test::TestSupport three = test::full_support(in.shape, 2, 2, 3);
  EXPECT_THROW(sparse_attention(in.call(), validate_support(three.view())), Error);
  EXPECT_THROW(sparse_attention(in.call(), validate_support(good.view()), SparseOptions{0}), Error);
}

}  // namespace
}  // namespace spf
