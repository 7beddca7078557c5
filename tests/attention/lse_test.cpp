// The optional log-sum-exp output of the executors, against the double-precision reference, and
// the exact merge of partial attentions it exists for.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "attention/cpu/cpu_executor.h"
#include "attention/cpu/merge.h"
#include "attention/cpu/reference.h"
#include "attention_inputs.h"
#include "core/error.h"

namespace spf {
namespace {

struct WithLse {
  test::AttnInputs in;
  std::vector<float> lse;
  AttentionCall call() {
    AttentionCall c = in.call();
    lse.assign(size_t(in.shape.n_q * in.shape.n_heads), -7.0f);
    c.lse = TensorView::of(lse.data(), {in.shape.n_q, in.shape.n_heads});
    return c;
  }
};

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isinf(a[i]) || std::isinf(b[i])) {
      if (a[i] != b[i]) return INFINITY;
      continue;
    }
    m = std::max(m, std::abs(double(a[i]) - double(b[i])));
  }
  return m;
}

struct Case {
  int64_t n_q, n_kv;
  int heads, kv_heads, dim;
};

const Case kCases[] = {{1, 1, 2, 1, 64},     {1, 300, 8, 2, 128},  {37, 37, 6, 3, 64},
                       {70, 200, 4, 4, 256}, {129, 129, 9, 3, 64}, {5, 700, 16, 2, 128}};

TEST(Lse, DenseMatchesReferenceWithAndWithoutKeySplits) {
  for (const Case& c : kCases) {
    for (int splits : {0, 3}) {
      WithLse a{test::make_inputs(c.n_q, c.n_kv, c.heads, c.kv_heads, c.dim, 11), {}};
      WithLse ref = a;
      CpuExecutorOptions o;
      o.dense.key_splits = splits;
      o.dense.min_split_keys = 1;
      CpuExecutor(o).dense(a.call());
      reference_attention(ref.call());
      EXPECT_LT(max_abs_diff(a.lse, ref.lse), 2e-5) << c.n_q << "x" << c.n_kv << " s" << splits;
      EXPECT_LT(test::rel_max_diff(a.in.out, ref.in.out), 2e-5);
    }
  }
}

TEST(Lse, SparseMatchesReferenceAndEmptyRowsAreMinusInfinity) {
  for (const Case& c : kCases) {
    WithLse a{test::make_inputs(c.n_q, c.n_kv, c.heads, c.kv_heads, c.dim, 5), {}};
    WithLse ref = a;
    const test::TestSupport s = test::random_support(a.in.shape, 1, 16, 1, 0.4, 9, false);
    cpu_executor().sparse(a.call(), validate_support(s.view()));
    const SupportView v = s.view();
    reference_attention(ref.call(), &v);
    EXPECT_LT(max_abs_diff(a.lse, ref.lse), 2e-5) << c.n_q << "x" << c.n_kv;
    for (int64_t i = 0; i < c.n_q; ++i) {
      if (!v.row(0, i).empty()) continue;
      for (int h = 0; h < c.heads; ++h) EXPECT_EQ(a.lse[size_t(i * c.heads + h)], -INFINITY);
    }
  }
}

// Attention over keys [0, cut) and over [cut, n_kv), merged, equals attention over all keys: the
// operation chunked prefill against a cached prefix needs.
TEST(Lse, MergingTwoDisjointKeySetsEqualsDense) {
  for (const Case& c : kCases) {
    if (c.n_kv < 2) continue;
    const int64_t cut = c.n_kv / 3;
    WithLse a{test::make_inputs(c.n_q, c.n_kv, c.heads, c.kv_heads, c.dim, 21), {}};
    WithLse b = a, dense = a;
    test::TestSupport lo, hi;
    for (test::TestSupport* t : {&lo, &hi}) {
      t->n_q = c.n_q;
      t->n_kv = c.n_kv;
      t->q_pos0 = a.in.shape.q_pos0;
    }
    for (int64_t i = 0; i < c.n_q; ++i) {
      std::vector<int32_t> l, h;
      for (int64_t j = 0; j <= a.in.shape.q_pos0 + i; ++j) (j < cut ? l : h).push_back(int32_t(j));
      lo.add_row(l);
      hi.add_row(h);
    }
    cpu_executor().sparse(a.call(), validate_support(lo.view()));
    cpu_executor().sparse(b.call(), validate_support(hi.view()));
    cpu_executor().dense(dense.call());
    merge_attention_partials(a.in.out.data(), a.lse.data(), b.in.out.data(), b.lse.data(),
                             c.n_q * c.heads, c.dim);
    EXPECT_LT(test::rel_max_diff(a.in.out, dense.in.out), 2e-5) << c.n_q << "x" << c.n_kv;
    EXPECT_LT(max_abs_diff(a.lse, dense.lse), 2e-5);
  }
}

TEST(Lse, WrongShapeOrTypeIsRejected) {
  WithLse a{test::make_inputs(4, 8, 2, 1, 64, 1), {}};
  AttentionCall c = a.call();
  std::vector<float> short_lse(3);
  c.lse = TensorView::of(short_lse.data(), {3, 2});
  EXPECT_THROW(cpu_executor().dense(c), Error);
  std::vector<int32_t> ints(8);
  c.lse = TensorView::of(ints.data(), {4, 2});
  EXPECT_THROW(cpu_executor().dense(c), Error);
}

}  // namespace
}  // namespace spf
