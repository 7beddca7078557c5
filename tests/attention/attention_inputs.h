// Random attention inputs for the attention and support tests, plus comparison helpers.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "attention/attention.h"
#include "attention/support_view.h"
#include "test_util.h"

namespace spf::test {

struct AttnInputs {
  AttentionShape shape;
  std::vector<float> q, k, v, out;
  AttentionCall call() {
    AttentionCall c;
    c.shape = shape;
    const AttentionShape& s = shape;
    c.q = TensorView::of(q.data(), {s.n_q, s.n_heads, s.head_dim});
    c.k = TensorView::of(k.data(), {s.n_kv, s.n_kv_heads, s.head_dim});
    c.v = TensorView::of(v.data(), {s.n_kv, s.n_kv_heads, s.head_dim});
    c.out = TensorView::of(out.data(), {s.n_q, s.n_heads, s.head_dim});
    return c;
  }
};

// q_pos0 = n_kv - n_q (the queries are the last n_q positions). `sharp` widens q so that softmaxes
// are peaked rather than nearly uniform.
inline AttnInputs make_inputs(int64_t n_q, int64_t n_kv, int n_heads, int n_kv_heads, int head_dim,
                              uint32_t seed, float sharp = 3.0f) {
  AttnInputs in;
  in.shape.n_q = n_q;
  in.shape.n_kv = n_kv;
  in.shape.q_pos0 = n_kv - n_q;
  in.shape.n_heads = n_heads;
  in.shape.n_kv_heads = n_kv_heads;
  in.shape.head_dim = head_dim;
  in.shape.scale = 1.0f / std::sqrt(float(head_dim));
  in.q = random_floats(size_t(n_q * n_heads * head_dim), seed, -sharp, sharp);
  in.k = random_floats(size_t(n_kv * n_kv_heads * head_dim), seed + 1);
  in.v = random_floats(size_t(n_kv * n_kv_heads * head_dim), seed + 2);
  in.out.assign(size_t(n_q * n_heads * head_dim), -7.0f);  // poison: every entry must be written
  return in;
}

// max |a - b| / max |b|.
inline double rel_max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    num = std::max(num, std::abs(double(a[i]) - double(b[i])));
    den = std::max(den, std::abs(double(b[i])));
  }
  return den > 0.0 ? num / den : num;
}

// A CSR support owned by a test (the attention layer sees it only as a SupportView).
struct TestSupport {
  int64_t n_q = 0, n_kv = 0, q_pos0 = 0;
  int q_block = 1, k_block = 1, n_groups = 1;
  std::vector<int64_t> row_ptr{0};
  std::vector<int32_t> cols;
  int64_t n_rows() const { return (n_q + q_block - 1) / q_block; }
  void add_row(const std::vector<int32_t>& r) {
    cols.insert(cols.end(), r.begin(), r.end());
    row_ptr.push_back(int64_t(cols.size()));
  }
  SupportDims dims() const { return SupportDims{n_q, n_kv, q_pos0, q_block, k_block, n_groups}; }
  SupportView view() const { return SupportView{dims(), row_ptr.data(), cols.data()}; }
};

// The same support in fixed-width layout: k = the longest row + extra_width, -1 padded.
struct TestTopK {
  SupportDims dims;
  int k = 0;
  std::vector<int32_t> cols, counts;
  TopKSupportView view() const { return TopKSupportView{dims, k, cols.data(), counts.data()}; }
};

inline TestTopK top_k_of(const TestSupport& t, int extra_width = 0) {
  TestTopK o;
  o.dims = t.dims();
  const int64_t rows = int64_t(t.row_ptr.size()) - 1;
  for (int64_t i = 0; i < rows; ++i) {
    o.k = std::max(o.k, int(t.row_ptr[size_t(i) + 1] - t.row_ptr[size_t(i)]));
  }
  o.k += extra_width;
  o.cols.assign(size_t(rows * o.k), -1);
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t n = t.row_ptr[size_t(i) + 1] - t.row_ptr[size_t(i)];
    std::copy_n(t.cols.begin() + t.row_ptr[size_t(i)], n, o.cols.begin() + i * o.k);
    o.counts.push_back(int32_t(n));
  }
  return o;
}

// The same support with int32 row pointers.
struct TestBsr {
  SupportDims dims;
  std::vector<int32_t> row_ptr, cols;
  BsrSupportView view() const { return BsrSupportView{dims, row_ptr.data(), cols.data()}; }
};

inline TestBsr bsr_of(const TestSupport& t) {
  return TestBsr{t.dims(), std::vector<int32_t>(t.row_ptr.begin(), t.row_ptr.end()), t.cols};
}

// Each causal column of each row kept with probability keep (seeded); rows are never left empty of
// causal columns when force_nonempty.
inline TestSupport random_support(const AttentionShape& s, int q_block, int k_block, int n_groups,
                                  double keep, uint32_t seed, bool force_nonempty = true) {
  TestSupport t;
  t.n_q = s.n_q;
  t.n_kv = s.n_kv;
  t.q_pos0 = s.q_pos0;
  t.q_block = q_block;
  t.k_block = k_block;
  t.n_groups = n_groups;
  std::mt19937 rng(seed);
  std::bernoulli_distribution coin(keep);
  for (int g = 0; g < n_groups; ++g) {
    for (int64_t r = 0; r < t.n_rows(); ++r) {
      const int64_t last = s.q_pos0 + std::min<int64_t>((r + 1) * q_block, s.n_q) - 1;
      const int64_t causal_cols = last / k_block + 1;
      std::vector<int32_t> row;
      for (int64_t c = 0; c < causal_cols; ++c) {
        if (coin(rng)) row.push_back(int32_t(c));
      }
      if (row.empty() && force_nonempty) row.push_back(int32_t(rng() % uint32_t(causal_cols)));
      t.add_row(row);
    }
  }
  return t;
}

// The full causal support at the given granularity.
inline TestSupport full_support(const AttentionShape& s, int q_block, int k_block,
                                int n_groups = 1) {
  return random_support(s, q_block, k_block, n_groups, 1.0, 0);
}

}  // namespace spf::test
