// The indexer's GPU serving path (indexer/cuda/cuda_indexer_backend.h) against the CPU one.
//
// Without a GPU (CI): bad options fail with one line before any device is touched; the top-k
// reference's restatement of the budget rules (sink/window forced inside it, fractions) selects
// exactly what support/select.h selects; the device mix + RoPE tail's reference is bit-identical
// to indexer_model.cpp's keys and queries; the key-append slices write every group's key at its
// token's row and position; query slices keep every row's keys, budget and width.
// With a GPU: on inputs whose products are exact (small integers in weights and hidden, no RoPE)
// the device support equals the CPU IndexerProducer's (token rows, shared and per-KV-group
// scorers, lightning heads) or the select.h form of the block-shared rows, and the attention
// output matches the CPU executor over the CPU support; with RoPE the keys match to bf16 rounding
// and supports differ only at near-ties; two chunks fill the side cache as one call does; the
// dense fallback runs the executor's dense kernel and still appends keys; timings come back.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>

#include "attention/cpu/cpu_executor.h"
#include "attention/cuda/indexer_topk.h"
#include "attention/side_cache.h"
#include "core/half.h"
#include "cuda/cuda_inputs.h"
#include "indexer/cuda/cuda_indexer_backend.h"
#include "indexer/cuda/indexer_finish.h"
#include "indexer/cuda/indexer_plan.h"
#include "indexer/producer.h"
#include "support/select.h"
#include "support/support.h"
#include "test_util.h"

namespace spf {
namespace {

IndexerConfig small_config(int d_model, int d_idx, int rope_dims, int heads, int groups,
                           int layers = 2) {
  IndexerConfig c;
  c.d_model = d_model;
  c.n_layers = layers;
  c.d_idx = d_idx;
  c.rope_dims = rope_dims;
  c.n_heads = heads;
  c.n_groups = groups;
  return c;
}

std::vector<float> ints(size_t n, uint32_t seed, int lo, int hi) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(lo, hi);
  std::vector<float> x(n);
  for (float& e : x) e = float(u(rng));
  return x;
}

// Weights of small integers: every projection and score is exact in f32 and bf16.
IndexerWeights integer_indexer(const IndexerConfig& c, uint32_t seed) {
  IndexerWeights w = random_indexer(c, seed);
  w.params = ints(w.params.size(), seed, -1, 1);
  return w;
}

using test::one_line_error;

// ---- CPU-only ------------------------------------------------------------------------------

TEST(CudaIndexerOptions, BadOptionsAreOneLineErrorsBeforeTheDevice) {
  const IndexerWeights w = random_indexer(small_config(16, 64, 32, 1, 1), 1);
  auto build = [&](CudaIndexerOptions o) { return [&w, o] { CudaIndexerBackend b(w, o); }; };
  CudaIndexerOptions o;
  o.budget = Budget::top_p(0.9);
  EXPECT_TRUE(one_line_error(build(o), "top-p"));
  o.budget = Budget::top_k(0);
  EXPECT_TRUE(one_line_error(build(o), "budget k"));
  o.budget = Budget::fraction(0.05);
  o.q_block = 65;
  EXPECT_TRUE(one_line_error(build(o), "q_block 65"));
  o.q_block = 0;
  EXPECT_TRUE(one_line_error(build(o), "q_block 0"));
  o.q_block = 1;
  o.dense_below = -1;
  EXPECT_TRUE(one_line_error(build(o), "dense_below"));
  o.dense_below = 0;
  o.sparse_layers = LayerSelection::parse("0,2");  // the indexer has layers 0 and 1
  EXPECT_TRUE(one_line_error(build(o), "layer 2"));
  o.sparse_layers = LayerSelection::parse("all");
  const IndexerWeights narrow = random_indexer(small_config(16, 32, 16, 1, 1), 1);
  EXPECT_TRUE(one_line_error([&] { CudaIndexerBackend b(narrow, o); }, "d_idx 32"));
  IndexerWeights truncated = w;
  truncated.params.pop_back();
  EXPECT_TRUE(one_line_error([&] { CudaIndexerBackend b(truncated, o); }, "parameters"));
  EXPECT_NO_THROW(check_cuda_indexer_options(w.config, o));
}

// The top-k kernel's budget (restated below support/) against support/select.h on the same
// scores: every row the same columns.
TEST(CudaIndexerOptions, TopKBudgetRulesEqualSelectSupport) {
  struct Case {
    int64_t n_q, q_pos0;
    int q_block;
    Budget budget;
  };
  const Case cases[] = {
      {17, 0, 1, Budget::top_k(5).with_sink(4).with_window(3)},
      {300, 0, 1, Budget::fraction(0.05).with_sink(2).with_window(8)},
      {300, 0, 1, Budget::fraction(0.07)},
      {100, 900, 1, Budget::top_k(37).with_sink(1).with_window(200)},
      {300, 0, 16, Budget::top_k(64).with_sink(4).with_window(32)},
      {300, 100, 17, Budget::fraction(0.1).with_sink(64).with_window(5)},
      {1, 0, 1, Budget::top_k(3).with_sink(2)},
  };
  const int d = 8;
  for (const Case& c : cases) {
    const int64_t n_kv = c.q_pos0 + c.n_q;
    const std::vector<float> q = ints(size_t(c.n_q * d), 3, -2, 2);
    const std::vector<float> k = ints(size_t(n_kv * d), 4, -2, 2);
    IndexerTopKShape t{c.n_q, n_kv, c.q_pos0, d, c.q_block, 1};
    if (c.budget.kind == BudgetKind::top_k) t.budget_k = int64_t(c.budget.value);
    if (c.budget.kind == BudgetKind::fraction) t.fraction = c.budget.value;
    t.sink = c.budget.sink;
    t.window = c.budget.window;
    t.k = int(t.width_bound());
    std::vector<int32_t> cols, counts;
    indexer_topk_reference(t, q.data(), k.data(), cols, counts);

    AttentionShape shape{c.n_q, n_kv, c.q_pos0, 1, 1, 64, 1.0f};
    const Support want =
        select_support(support_layout(shape, c.q_block, 1, 1), c.budget,
                       [&](int, int64_t r, std::span<float> out) {
                         for (size_t j = 0; j < out.size(); ++j)
                           out[j] = indexer_row_score(t, q.data(), k.data(), r, int64_t(j));
                       });
    for (int64_t r = 0; r < t.n_rows(); ++r) {
      const std::vector<int32_t> got(cols.begin() + r * t.k,
                                     cols.begin() + r * t.k + counts[size_t(r)]);
      const auto row = want.row(0, r);
      EXPECT_EQ(got, std::vector<int32_t>(row.begin(), row.end()))
          << "budget " << c.budget.str() << " q_block " << c.q_block << " row " << r;
    }
  }
}

// The mix + RoPE tail's reference against indexer_model.cpp on integer inputs (exact
// projections): the same bits after rounding to bf16, keys and lightning queries.
TEST(CudaIndexerOptions, FinishReferenceEqualsTheCpuIndexer) {
  for (const int heads : {1, 3}) {
    const IndexerConfig c = small_config(16, 64, 32, heads, 1);
    const IndexerWeights w = integer_indexer(c, 5);
    const std::vector<float> inv = indexer_inv_freq(c);
    const int64_t n = 37, pos0 = 1000;
    const std::vector<float> x = ints(size_t(n * c.d_model), 6, -2, 2);
    auto project = [&](IndexerMatrix m, int rows) {
      const float* wm = w.params.data() + param_offset(c, 1, 0, m);
      std::vector<float> y(size_t(n * rows));
      for (int64_t t = 0; t < n; ++t)
        for (int o = 0; o < rows; ++o)
          for (int e = 0; e < c.d_model; ++e)
            y[size_t(t * rows + o)] += x[size_t(t * c.d_model + e)] * wm[o * c.d_model + e];
      return y;
    };
    for (const bool keys : {true, false}) {
      if (keys && heads > 1) continue;
      std::vector<float> want(size_t(n * c.d_idx));
      if (keys) {
        indexer_keys(w, inv, 1, 0, x.data(), n, pos0, want.data());
      } else {
        indexer_queries(w, inv, 1, 0, x.data(), n, pos0, want.data());
      }
      const std::vector<float> in =
          project(keys ? IndexerMatrix::wk : IndexerMatrix::wq, keys ? c.d_idx : heads * c.d_idx);
      const std::vector<float> mix = heads > 1 ? project(IndexerMatrix::ww, heads) : in;
      std::vector<uint16_t> got(want.size());
      IndexerFinishArgs a;
      a.in = in.data();
      a.mix = heads > 1 ? mix.data() : nullptr;
      a.n_vec = n;
      a.heads = keys ? 1 : heads;
      a.dim = c.d_idx;
      a.rope_dims = c.rope_dims;
      a.inv_freq = inv.data();
      a.pos0 = pos0;
      a.out = got.data();
      indexer_finish_reference(a);
      for (size_t i = 0; i < want.size(); ++i)
        ASSERT_EQ(got[i], f32_to_bf16(want[i])) << (keys ? "key" : "query") << " element " << i;
    }
  }
}

// The backend's query slices (indexer_plan.h): they cover the call, start on block boundaries,
// and every slice row has the visible keys, forced keys and budget of the same row of the whole
// call (so slicing never changes a support), at a width that fits every slice; a slice of more
// than one block fits the scratch.
TEST(CudaIndexerOptions, QuerySlicesKeepEveryRowsBudgetAndWidth) {
  struct Case {
    int64_t n_q, q_pos0;
    int q_block, groups, heads;
    Budget budget;
    int64_t scratch;
  };
  const Case cases[] = {
      {4097, 0, 1, 1, 1, Budget::fraction(0.05).with_window(64), int64_t(1) << 20},
      {4097, 0, 64, 1, 1, Budget::fraction(0.05).with_window(64), int64_t(1) << 20},
      {2000, 301, 16, 1, 1, Budget::fraction(0.1).with_sink(4).with_window(16), int64_t(1) << 20},
      {3000, 0, 64, 2, 1, Budget::fraction(0.05), int64_t(1) << 20},
      {1000, 413, 32, 2, 3, Budget::top_k(64).with_sink(4).with_window(16), int64_t(1) << 17},
      {131072, 0, 64, 1, 1, Budget::top_k(2048), int64_t(256) << 20},
      {131072, 0, 1, 1, 1, Budget::fraction(0.05).with_sink(64).with_window(64),
       int64_t(256) << 20},
      {50, 999, 64, 1, 1, Budget::top_k(16).with_window(4), int64_t(1) << 20},
      {777, 5, 17, 1, 1, Budget::fraction(0.3).with_window(100), 4096},  // one block per slice
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(::testing::Message() << "n_q " << k.n_q << " at " << k.q_pos0 << " qb "
                                      << k.q_block << " " << k.budget.str());
    const IndexerConfig c = small_config(64, 64, 32, k.heads, k.groups);
    const AttentionShape call{k.n_q, k.q_pos0 + k.n_q, k.q_pos0, 8, 2, 64, 1.0f};
    const IndexerQuerySlices plan = plan_query_slices(c, k.budget, k.q_block, k.scratch, call);
    const IndexerTopKShape whole = slice_topk_shape(plan, k.budget, k.q_block, c.d_idx, call);
    EXPECT_NO_THROW(whole.validate());
    // The top-k kernel's two-pass scratch is part of each query's share of the bound.
    EXPECT_GE(plan.per_query_bytes * k.q_block, whole.two_pass_row_bytes());
    ASSERT_GE(plan.slice, std::min<int64_t>(k.q_block, k.n_q));
    if (plan.slice < k.n_q) {
      EXPECT_EQ(plan.slice % k.q_block, 0);
      if (plan.slice > k.q_block) {
        EXPECT_LE(plan.slice * plan.per_query_bytes, k.scratch);
      }
    }
    int64_t covered = 0, slices = 0;
    for (int64_t i0 = 0; i0 < k.n_q; i0 += plan.slice, ++slices) {
      AttentionShape s = call;
      s.n_q = std::min(plan.slice, k.n_q - i0);
      s.q_pos0 = k.q_pos0 + i0;
      const IndexerTopKShape t = slice_topk_shape(plan, k.budget, k.q_block, c.d_idx, s);
      EXPECT_NO_THROW(t.validate()) << "slice at " << i0;
      ASSERT_LE(t.n_rows(), plan.slice_rows);
      for (int64_t r = 0; r < t.n_rows(); ++r) {
        const int64_t R = i0 / k.q_block + r;
        ASSERT_EQ(t.row_visible(r), whole.row_visible(R)) << "slice at " << i0 << " row " << r;
        ASSERT_EQ(t.row_keep(r), whole.row_keep(R)) << "slice at " << i0 << " row " << r;
        ASSERT_EQ(t.row_sink_end(r), whole.row_sink_end(R));
        ASSERT_EQ(t.row_window_begin(r), whole.row_window_begin(R));
        ASSERT_LE(t.row_keep(r), plan.width);
      }
      covered += s.n_q;
    }
    EXPECT_EQ(covered, k.n_q);
    EXPECT_EQ(slices, plan.count(k.n_q));
    // Hidden rows that need no packed copy leave that share out: as long or longer slices.
    const IndexerQuerySlices lean =
        plan_query_slices(c, k.budget, k.q_block, k.scratch, call, /*copies_hidden=*/false);
    EXPECT_EQ(lean.per_query_bytes, plan.per_query_bytes - int64_t(c.d_model) * 2);
    EXPECT_GE(lean.slice, plan.slice);
    EXPECT_EQ(lean.width, plan.width);
  }
}

TEST(CudaIndexerOptions, HiddenRowsAlignedAtEverySliceStart) {
  alignas(256) static uint16_t rows[4096];
  EXPECT_TRUE(hidden_rows_aligned(rows, 4096, 1));       // 8192-byte rows: every row starts aligned
  EXPECT_TRUE(hidden_rows_aligned(rows, 576, 0));        // only the first row is asked about
  EXPECT_FALSE(hidden_rows_aligned(rows, 576, 1));       // 1152-byte rows: row 1 is off by 128
  EXPECT_TRUE(hidden_rows_aligned(rows, 576, 2));        // slices of two rows start aligned
  EXPECT_FALSE(hidden_rows_aligned(rows + 8, 4096, 1));  // a 16-byte offset start
  EXPECT_FALSE(hidden_rows_aligned(rows, 4, 64));        // 8-byte rows are not 16-byte aligned
}

// The backend's key append in token slices (key_slice_tokens, key_finish_args) run with the
// finish reference: every side-cache row [pos][group] holds indexer_model.cpp's key of that token
// and group at that position (per-KV-group keys, RoPE on, a call at an offset, slices of 7).
TEST(CudaIndexerOptions, KeySlicesWriteEachGroupsKeyAtItsTokensPosition) {
  const IndexerConfig c = small_config(16, 64, 32, 1, 2);
  const IndexerWeights w = integer_indexer(c, 7);
  const std::vector<float> inv = indexer_inv_freq(c);
  const int64_t n = 40, pos0 = 413, G = c.n_groups, d = c.d_idx;
  const std::vector<float> x = ints(size_t(n * c.d_model), 8, -2, 2);
  // The GEMM's output: a token's G groups' projections side by side (device_indexer_weights.h).
  std::vector<float> y(size_t(n * G * d));
  for (int64_t t = 0; t < n; ++t)
    for (int64_t g = 0; g < G; ++g) {
      const float* wk = w.params.data() + param_offset(c, 0, int(g), IndexerMatrix::wk);
      for (int64_t o = 0; o < d; ++o)
        for (int e = 0; e < c.d_model; ++e)
          y[size_t((t * G + g) * d + o)] += x[size_t(t * c.d_model + e)] * wk[o * c.d_model + e];
    }
  const int64_t per_token = G * d * 4 + int64_t(c.d_model) * 2;
  const int64_t slice = key_slice_tokens(c, 7 * per_token, n);
  ASSERT_EQ(slice, 7);
  EXPECT_EQ(key_slice_tokens(c, 1, n), 1);
  EXPECT_EQ(key_slice_tokens(c, int64_t(1) << 30, n), n);
  std::vector<uint16_t> rows(size_t(n * G * d), 0xffff);
  for (int64_t t0 = 0; t0 < n; t0 += slice) {
    const int64_t m = std::min(slice, n - t0);
    // The slice's GEMM output sits at the start of the scratch.
    const std::vector<float> part(y.begin() + t0 * G * d, y.begin() + (t0 + m) * G * d);
    indexer_finish_reference(key_finish_args(c, part.data(), t0, m, pos0, inv.data(), rows.data()));
  }
  for (int g = 0; g < G; ++g) {
    std::vector<float> want(size_t(n * d));
    indexer_keys(w, inv, 0, g, x.data(), n, pos0, want.data());
    for (int64_t t = 0; t < n; ++t)
      for (int64_t e = 0; e < d; ++e)
        ASSERT_EQ(rows[size_t((t * G + g) * d + e)], f32_to_bf16(want[size_t(t * d + e)]))
            << "token " << t << " group " << g << " element " << e;
  }
}

// ---- GPU -----------------------------------------------------------------------------------

// One attention layer over a whole sequence of n positions, host (bf16-rounded f32) and device
// (bf16); calls cover query chunks [a, b) against the key prefix [0, b).
struct LayerInputs {
  AttentionShape base;
  int d_model = 0;
  std::vector<float> q, k, v, hidden, out;
  Buffer dq, dk, dv, dh, dout;

  LayerInputs(int64_t n, int heads, int kv_heads, int head_dim, std::vector<float> hid, int dm,
              uint32_t seed)
      : d_model(dm), hidden(std::move(hid)) {
    base = AttentionShape{n, n, 0, heads, kv_heads, head_dim, 1.0f / std::sqrt(float(head_dim))};
    q = test::random_floats(size_t(n * heads * head_dim), seed, -3.0f, 3.0f);
    k = test::random_floats(size_t(n * kv_heads * head_dim), seed + 1);
    v = test::random_floats(size_t(n * kv_heads * head_dim), seed + 2);
    for (auto* x : {&q, &k, &v, &hidden}) test::round_to_bf16(*x);
    out.assign(q.size(), -7.0f);
    dq = test::upload_bf16(q);
    dk = test::upload_bf16(k);
    dv = test::upload_bf16(v);
    dh = test::upload_bf16(hidden);
    dout = test::upload_bf16(std::vector<float>(q.size(), NAN));
  }
  AttentionShape shape(int64_t a, int64_t b) const {
    AttentionShape s = base;
    s.n_q = b - a;
    s.n_kv = b;
    s.q_pos0 = a;
    return s;
  }
  AttentionCall host_call(int64_t a, int64_t b, SideCache* cache, int layer = 0) {
    const AttentionShape s = shape(a, b);
    const int64_t qrow = int64_t(s.n_heads) * s.head_dim;
    AttentionCall c;
    c.layer = c.attention_layer = layer;
    c.shape = s;
    c.q = TensorView::of(q.data() + a * qrow, {s.n_q, s.n_heads, s.head_dim});
    c.k = TensorView::of(k.data(), {b, s.n_kv_heads, s.head_dim});
    c.v = TensorView::of(v.data(), {b, s.n_kv_heads, s.head_dim});
    c.out = TensorView::of(out.data() + a * qrow, {s.n_q, s.n_heads, s.head_dim});
    c.hidden = TensorView::of(hidden.data() + a * d_model, {s.n_q, int64_t(d_model)});
    c.side_cache = cache;
    return c;
  }
  AttentionCall device_call(int64_t a, int64_t b, SideCache* cache, int layer = 0) const {
    const AttentionShape s = shape(a, b);
    const int64_t qrow = int64_t(s.n_heads) * s.head_dim;
    auto* q16 = static_cast<uint16_t*>(dq.data());
    auto* o16 = static_cast<uint16_t*>(dout.data());
    AttentionCall c;
    c.layer = c.attention_layer = layer;
    c.shape = s;
    c.q = TensorView(q16 + a * qrow, DType::bf16, {s.n_q, s.n_heads, s.head_dim}, Device::cuda);
    c.k = TensorView(dk.data(), DType::bf16, {b, s.n_kv_heads, s.head_dim}, Device::cuda);
    c.v = TensorView(dv.data(), DType::bf16, {b, s.n_kv_heads, s.head_dim}, Device::cuda);
    c.out = TensorView(o16 + a * qrow, DType::bf16, {s.n_q, s.n_heads, s.head_dim}, Device::cuda);
    c.hidden = TensorView(static_cast<uint16_t*>(dh.data()) + a * d_model, DType::bf16,
                          {s.n_q, int64_t(d_model)}, Device::cuda);
    c.side_cache = cache;
    return c;
  }
  std::vector<float> device_out() const { return test::download_bf16(dout, q.size()); }
};

// The device supports a backend ran, gathered per (group, global row) from its observer.
struct SeenSupports {
  // (group, absolute position of the row's first query) -> columns
  std::map<std::pair<int, int64_t>, std::vector<int32_t>> rows;
  int slices = 0;
  void attach(CudaIndexerBackend& b) {
    b.set_support_observer([this](const AttentionCall& call, const DeviceSupportView& v) {
      cuda_synchronize();
      const int64_t n = int64_t(v.n_groups) * v.n_rows();
      std::vector<int32_t> cols(static_cast<size_t>(n * v.k)), counts(static_cast<size_t>(n));
      cuda_copy_to_host(cols.data(), v.cols, cols.size() * 4);
      cuda_copy_to_host(counts.data(), v.counts, counts.size() * 4);
      for (int g = 0; g < v.n_groups; ++g) {
        for (int64_t r = 0; r < v.n_rows(); ++r) {
          const int64_t i = g * v.n_rows() + r;
          rows[{g, call.shape.q_pos0 + r * v.q_block}].assign(
              cols.begin() + i * v.k, cols.begin() + i * v.k + counts[size_t(i)]);
        }
      }
      ++slices;
    });
  }
};

// The CPU producer's support of a host call after observing it.
Support cpu_support(const IndexerWeights& w, const Budget& budget, AttentionCall& call) {
  auto file = std::make_shared<IndexerFile>();
  file->weights = w;
  ProducerOptions o;
  o.budget = budget;
  o.groups = w.config.n_groups > 1 ? GroupMode::per_kv_group : GroupMode::shared;
  IndexerProducer p(file, "test", o);
  p.observe(call);
  return p.produce(call, cpu_executor());
}

// The GPU block-shared form on the host: rows of q_block queries over token keys, scored by the
// max over the block's queries of q.k (CPU indexer math), selected by select.h; per KV group when
// the indexer has several.
Support cpu_block_shared_support(const IndexerWeights& w, const Budget& budget, int q_block,
                                 const AttentionCall& call, const std::vector<float>& hidden_all) {
  const IndexerConfig& c = w.config;
  const std::vector<float> inv = indexer_inv_freq(c);
  const int64_t n_kv = call.shape.n_kv, n = call.shape.n_q, d = c.d_idx;
  const int G = c.n_groups;
  std::vector<std::vector<float>> keys(static_cast<size_t>(G)), q(static_cast<size_t>(G));
  for (int g = 0; g < G; ++g) {
    keys[size_t(g)].resize(size_t(n_kv * d));
    q[size_t(g)].resize(size_t(n * d));
    indexer_keys(w, inv, call.attention_layer, g, hidden_all.data(), n_kv, 0,
                 keys[size_t(g)].data());
    indexer_queries(w, inv, call.attention_layer, g, call.hidden.data<float>(), n,
                    call.shape.q_pos0, q[size_t(g)].data());
  }
  const IndexerTopKShape t{n, n_kv, call.shape.q_pos0, int(d), q_block, 1};
  return select_support(support_layout(call.shape, q_block, 1, G), budget,
                        [&](int g, int64_t r, std::span<float> out) {
                          for (size_t j = 0; j < out.size(); ++j)
                            out[j] = indexer_row_score(t, q[size_t(g)].data(),
                                                       keys[size_t(g)].data(), r, int64_t(j));
                        });
}

void expect_same_rows(const SeenSupports& seen, const Support& want, const std::string& what) {
  int64_t differing = 0;
  for (int g = 0; g < want.n_groups; ++g) {
    for (int64_t r = 0; r < want.n_rows(); ++r) {
      const auto it = seen.rows.find({g, want.q_pos0 + r * want.q_block});
      ASSERT_NE(it, seen.rows.end()) << what << ": no device row " << r;
      const auto row = want.row(g, r);
      differing += it->second != std::vector<int32_t>(row.begin(), row.end());
    }
  }
  EXPECT_EQ(differing, 0) << what << ": rows differing from the CPU support";
}

struct ExactCase {
  int64_t n_q, q_pos0;
  int head_dim, heads, kv_heads;
  int d_model, d_idx, idx_heads, groups;
  int q_block;
  Budget budget;
  int64_t scratch = int64_t(256) << 20;
};

void PrintTo(const ExactCase& c, std::ostream* os) {
  *os << "n_q " << c.n_q << " at " << c.q_pos0 << " D " << c.head_dim << " H " << c.heads << "/"
      << c.kv_heads << " d_idx " << c.d_idx << " heads " << c.idx_heads << " groups " << c.groups
      << " qb " << c.q_block << " " << c.budget.str();
}

class CudaIndexerExact : public ::testing::TestWithParam<ExactCase> {};

// Chunk [0, q_pos0) first (it fills the side caches), then the chunk under test; the GPU support
// of the second must equal the CPU's and its output the CPU executor's over that support.
TEST_P(CudaIndexerExact, SupportAndOutputMatchTheCpu) {
  SPF_REQUIRE_CUDA_DEVICE();
  const ExactCase c = GetParam();
  const int64_t n = c.q_pos0 + c.n_q;
  // Lightning heads mix products of two projections: smaller inputs keep them bf16-exact.
  const int lo = c.idx_heads > 1 ? -1 : -2;
  LayerInputs in(n, c.heads, c.kv_heads, c.head_dim, ints(size_t(n * c.d_model), 11, lo, -lo),
                 c.d_model, 12);
  const IndexerWeights w =
      integer_indexer(small_config(c.d_model, c.d_idx, 0, c.idx_heads, c.groups), 13);
  CudaIndexerOptions o;
  o.budget = c.budget;
  o.q_block = c.q_block;
  o.dense_decode = false;
  o.scratch_bytes = c.scratch;
  CudaIndexerBackend backend(w, o);
  SeenSupports seen;
  SideCache host_cache(n), dev_cache(n, Device::cuda);
  if (c.q_pos0 > 0) {
    backend.attend(in.device_call(0, c.q_pos0, &dev_cache));
    AttentionCall first = in.host_call(0, c.q_pos0, &host_cache);
    (void)cpu_support(w, c.budget, first);  // observe() fills the host cache
  }
  seen.attach(backend);
  const AttentionCall dcall = in.device_call(c.q_pos0, n, &dev_cache);
  backend.attend(dcall);
  cuda_synchronize();
  EXPECT_EQ(dev_cache.rows(), n);

  AttentionCall hcall = in.host_call(c.q_pos0, n, &host_cache);
  Support want = c.q_block == 1
                     ? cpu_support(w, c.budget, hcall)
                     : cpu_block_shared_support(w, c.budget, c.q_block, hcall, in.hidden);
  if (c.q_block > 1) (void)cpu_support(w, c.budget, hcall);  // host cache kept in step
  if (backend.runs_sparse(dcall)) {
    const bool copies = !hidden_rows_aligned(dcall.hidden.ptr, dcall.hidden.stride[0], c.q_block);
    const IndexerQuerySlices plan =
        plan_query_slices(w.config, c.budget, c.q_block, c.scratch, dcall.shape, copies);
    EXPECT_EQ(seen.slices, plan.count(c.n_q));
    expect_same_rows(seen, want, "exact inputs");
    cpu_executor().sparse(hcall, want.validated());
  } else {
    EXPECT_EQ(seen.slices, 0);
    cpu_executor().dense(hcall);
  }
  const std::vector<float> got = in.device_out();
  const int64_t row = int64_t(c.heads) * c.head_dim;
  const std::vector<float> g(got.begin() + c.q_pos0 * row, got.end());
  const std::vector<float> h(in.out.begin() + c.q_pos0 * row, in.out.end());
  const test::Diff diff = test::compare(g, h);
  EXPECT_EQ(diff.not_finite, 0);
  EXPECT_LE(diff.max_abs, 1e-2);
}

std::vector<ExactCase> exact_cases() {
  const Budget k64 = Budget::top_k(64).with_sink(4).with_window(16);
  std::vector<ExactCase> v;
  for (const int D : {64, 128}) {
    v.push_back({1, 0, D, 8, 2, 64, 64, 1, 1, 1, Budget::top_k(4)});   // one key: dense
    v.push_back({1, 999, D, 8, 2, 64, 64, 1, 1, 1, k64});              // one query at an offset
    v.push_back({17, 0, D, 8, 2, 64, 64, 1, 1, 1, Budget::top_k(5)});  // below one 64-key chunk
    v.push_back({1000, 0, D, 8, 2, 64, 128, 1, 1, 1, k64});
    v.push_back({300, 700, D, 8, 2, 64, 64, 1, 1, 1, Budget::fraction(0.05).with_window(8)});
  }
  v.push_back({4097, 0, 128, 8, 2, 64, 64, 1, 1, 1, Budget::top_k(2048).with_sink(4)});
  // Slices: a 1 MiB scratch runs the 4097 queries in many slices.
  v.push_back({4097, 0, 64, 4, 4, 64, 64, 1, 1, 1, Budget::fraction(0.05).with_window(64),
               int64_t(1) << 20});
  v.push_back({1000, 0, 64, 8, 2, 8, 64, 2, 1, 1, k64});      // lightning heads
  v.push_back({1000, 200, 128, 8, 2, 64, 64, 1, 2, 1, k64});  // per-KV-group scorers
  v.push_back({1000, 0, 64, 8, 2, 64, 64, 1, 1, 16, k64});    // block-shared rows
  v.push_back({1000, 100, 128, 8, 2, 64, 64, 1, 1, 64, Budget::fraction(0.1).with_sink(4)});
  // Block-shared rows end to end: many query slices (each a multiple of q_block, the last
  // partial), per-KV-group scorers, lightning heads, calls at offsets whose hidden rows are not
  // 256-byte aligned (the packed copy), fraction budgets (a row's causal keys: its last query's).
  v.push_back({4097, 0, 64, 4, 4, 64, 64, 1, 1, 64, Budget::fraction(0.05).with_window(64),
               int64_t(1) << 20});
  v.push_back({2000, 301, 64, 8, 2, 64, 64, 1, 1, 16,
               Budget::fraction(0.1).with_sink(4).with_window(16), int64_t(1) << 20});
  v.push_back({1000, 413, 128, 8, 2, 64, 64, 1, 2, 32, k64});  // per-KV-group
  v.push_back({3000, 0, 64, 8, 2, 64, 64, 1, 2, 64, Budget::fraction(0.05), int64_t(1) << 20});
  v.push_back({1000, 0, 64, 8, 2, 8, 64, 2, 1, 16, k64});  // lightning heads
  v.push_back(
      {50, 999, 64, 8, 2, 64, 64, 1, 1, 64, Budget::top_k(16).with_window(4)});  // < 1 block
  return v;
}
INSTANTIATE_TEST_SUITE_P(Shapes, CudaIndexerExact, ::testing::ValuesIn(exact_cases()));

// RoPE on and random (Gaussian) weights: the cached keys equal the CPU's to bf16 rounding, and
// the supports differ only by keys within rounding of a row's k-th score.
TEST(CudaIndexer, WithRopeKeysMatchAndSupportsDifferOnlyAtNearTies) {
  SPF_REQUIRE_CUDA_DEVICE();
  const int64_t n = 1000, p0 = 600;
  const IndexerConfig cfg = small_config(64, 64, 32, 1, 1);
  // The device holds the weights in bf16; the host scorer gets the same (bf16-representable)
  // weights, so that the keys differ only by the device's rounding. With f32 host weights a key
  // that cancels to ~0 on the host (5e-6) is -2.7e-3 on the device: weight rounding, not a bug.
  IndexerWeights w = random_indexer(cfg, 21);
  test::round_to_bf16(w.params);
  LayerInputs in(n, 8, 2, 64, test::random_floats(size_t(n * 64), 22), 64, 23);
  CudaIndexerOptions o;
  o.budget = Budget::top_k(64).with_sink(4).with_window(16);
  CudaIndexerBackend backend(w, o);
  SideCache host_cache(n), dev_cache(n, Device::cuda);
  backend.attend(in.device_call(0, p0, &dev_cache));
  AttentionCall first = in.host_call(0, p0, &host_cache);
  (void)cpu_support(w, o.budget, first);
  SeenSupports seen;
  seen.attach(backend);
  backend.attend(in.device_call(p0, n, &dev_cache));
  AttentionCall hcall = in.host_call(p0, n, &host_cache);
  const Support want = cpu_support(w, o.budget, hcall);

  std::vector<uint16_t> bits(size_t(n * cfg.d_idx));
  cuda_copy_to_host(bits.data(), dev_cache.prefix(n).ptr, bits.size() * 2);
  const float* host_keys = host_cache.prefix(n).data<float>();
  double worst = 0.0;
  for (size_t i = 0; i < bits.size(); ++i) {
    const double err = std::abs(double(bf16_to_f32(bits[i])) - double(host_keys[i]));
    worst = std::max(worst, err / std::max(1e-3, double(std::abs(host_keys[i]))));
  }
  EXPECT_LE(worst, 1.0 / 128) << "relative key error beyond bf16 rounding";

  const std::vector<float> inv = indexer_inv_freq(cfg);
  std::vector<float> q(size_t((n - p0) * cfg.d_idx));
  indexer_queries(w, inv, 0, 0, hcall.hidden.data<float>(), n - p0, p0, q.data());
  int64_t rows_differing = 0;
  for (int64_t r = 0; r < want.n_rows(); ++r) {
    const auto row = want.row(0, r);
    const std::set<int32_t> b(row.begin(), row.end());
    const std::vector<int32_t>& got = seen.rows.at({0, r + p0});
    const std::set<int32_t> a(got.begin(), got.end());
    ASSERT_EQ(a.size(), b.size()) << "row " << r;
    if (a == b) continue;
    ++rows_differing;
    auto score = [&](int32_t j, double* l1) {
      double s = 0.0, m = 0.0;
      for (int e = 0; e < cfg.d_idx; ++e) {
        const double x = double(q[size_t(r * cfg.d_idx + e)]) * host_keys[j * cfg.d_idx + e];
        s += x;
        m += std::abs(x);
      }
      if (l1 != nullptr) *l1 = m;
      return s;
    };
    double kth = INFINITY, tol = 0.0;
    const int64_t pos = p0 + r;
    for (const int32_t j : b) {
      double l1 = 0.0;
      const double sc = score(j, &l1);
      if (j >= 4 && j <= pos - 16) kth = std::min(kth, sc);  // the k-th of the non-forced keys
      tol = std::max(tol, l1 / 64);  // bf16 q and k: a few 2^-8 relative per product
    }
    for (const int32_t j : a) {
      if (b.count(j)) continue;
      EXPECT_GE(score(j, nullptr), kth - tol) << "row " << r << " key " << j;
    }
  }
  std::printf("indexer with rope: %lld of %lld rows differ (near-ties)\n",
              (long long)rows_differing, (long long)want.n_rows());
}

// Prefill in two chunks and a decode step: the side cache holds what one call writes, and the
// second chunk's rows equal the one-call rows of the same queries (token rows, and block-shared
// rows with the chunk boundary on a block boundary). The decode step writes its own output row.
TEST(CudaIndexer, TwoChunksFillTheSideCacheAsOneCall) {
  SPF_REQUIRE_CUDA_DEVICE();
  const int64_t n = 1000;
  // Integer weights and hidden: projections exact whatever GEMM algorithm a row count gets, so
  // the cached keys can be compared bit for bit (RoPE on).
  const IndexerConfig cfg = small_config(64, 64, 32, 1, 1);
  const IndexerWeights w = integer_indexer(cfg, 31);
  struct Case {
    int q_block;
    int64_t split;  // 413: hidden rows of the second chunk not 256-byte aligned
  };
  for (const Case& k : {Case{1, 413}, Case{64, 448}, Case{16, 413 / 16 * 16}}) {
    SCOPED_TRACE(::testing::Message() << "q_block " << k.q_block << " split " << k.split);
    const int64_t a = k.split;
    LayerInputs in(n + 1, 8, 2, 64, ints(size_t((n + 1) * 64), 32, -2, 2), 64, 33);
    CudaIndexerOptions o;
    o.budget = Budget::top_k(100).with_window(8);
    o.q_block = k.q_block;
    CudaIndexerBackend one(w, o), two(w, o);
    SeenSupports seen_one, seen_two;
    seen_one.attach(one);
    seen_two.attach(two);
    SideCache c1(n + 1, Device::cuda), c2(n + 1, Device::cuda);
    one.attend(in.device_call(0, n, &c1));
    const std::vector<float> out_one = in.device_out();
    two.attend(in.device_call(0, a, &c2));
    two.attend(in.device_call(a, n, &c2));
    std::vector<float> out_two = in.device_out();
    ASSERT_EQ(c1.rows(), n);
    ASSERT_EQ(c2.rows(), n);
    std::vector<uint16_t> k1(size_t(n * cfg.d_idx)), k2(k1.size());
    cuda_copy_to_host(k1.data(), c1.prefix(n).ptr, k1.size() * 2);
    cuda_copy_to_host(k2.data(), c2.prefix(n).ptr, k2.size() * 2);
    EXPECT_EQ(k1, k2);
    EXPECT_EQ(seen_one.rows.size(), size_t((n + k.q_block - 1) / k.q_block));
    for (int64_t r = 0; r < n; r += k.q_block)
      EXPECT_EQ(seen_one.rows.at({0, r}), seen_two.rows.at({0, r})) << "row at " << r;
    // Positions [0, n) only: the decode query's row n is still the NaN poison here.
    const int64_t row = 8 * 64;
    const std::vector<float> one_n(out_one.begin(), out_one.begin() + n * row);
    const std::vector<float> two_n(out_two.begin(), out_two.begin() + n * row);
    const test::Diff d = test::compare(two_n, one_n);
    EXPECT_EQ(d.not_finite, 0);
    EXPECT_LE(d.max_abs, 1e-2);
    // A decode step runs dense (dense_decode), appends its key and writes its row.
    const int before = seen_two.slices;
    two.attend(in.device_call(n, n + 1, &c2));
    EXPECT_EQ(c2.rows(), n + 1);
    EXPECT_EQ(seen_two.slices, before);
    out_two = in.device_out();
    const std::vector<float> last(out_two.begin() + n * row, out_two.end());
    EXPECT_EQ(test::compare(last, last).not_finite, 0) << "the decode step left its row unwritten";
  }
}

// Dense fallback: a budget covering every key, n_kv below dense_below, or a layer outside
// --sparse-layers runs the executor's dense kernel (bit-identical output), keys appended.
TEST(CudaIndexer, DenseFallbackRunsTheDenseKernelAndAppendsKeys) {
  SPF_REQUIRE_CUDA_DEVICE();
  const int64_t n = 500;
  const IndexerWeights w = random_indexer(small_config(64, 64, 32, 1, 1), 41);
  LayerInputs in(n, 8, 2, 128, test::random_floats(size_t(n * 64), 42), 64, 43);
  // The dense kernel's own output on the same call.
  {
    SideCache scratch(n, Device::cuda);
    cuda_executor().dense(in.device_call(0, n, &scratch));
  }
  const std::vector<float> dense_out = in.device_out();
  struct Variant {
    Budget budget;
    int64_t dense_below;
    const char* layers;
    int layer;
  };
  const Variant variants[] = {
      {Budget::top_k(500), 0, "all", 0},
      {Budget::fraction(1.0), 0, "all", 1},
      {Budget::top_k(16), 501, "all", 0},
      {Budget::top_k(16), 0, "every:2", 0},  // attention layer 1 is the sparse one
      {Budget::top_k(16), 0, "1", 0},
  };
  for (const Variant& v : variants) {
    CudaIndexerOptions o;
    o.budget = v.budget;
    o.dense_below = v.dense_below;
    o.sparse_layers = LayerSelection::parse(v.layers);
    CudaIndexerBackend backend(w, o);
    SeenSupports seen;
    seen.attach(backend);
    SideCache cache(n, Device::cuda);
    const AttentionCall call = in.device_call(0, n, &cache, v.layer);
    EXPECT_FALSE(backend.runs_sparse(call)) << v.budget.str() << " " << v.layers;
    in.dout = test::upload_bf16(std::vector<float>(in.q.size(), NAN));
    backend.attend(in.device_call(0, n, &cache, v.layer));
    EXPECT_EQ(seen.slices, 0);
    EXPECT_EQ(cache.rows(), n);
    EXPECT_EQ(in.device_out(), dense_out) << v.budget.str() << " " << v.layers;
  }
  // The same layer selection makes attention layer 1 sparse.
  CudaIndexerOptions o;
  o.budget = Budget::top_k(16);
  o.sparse_layers = LayerSelection::parse("every:2");
  CudaIndexerBackend backend(w, o);
  SideCache cache(n, Device::cuda);
  EXPECT_TRUE(backend.runs_sparse(in.device_call(0, n, &cache, 1)));
}

// Timing on: one record per call with the path taken, finite non-negative times; the top-k
// kernel's time is part of the indexer's, and the dense path runs no top-k.
TEST(CudaIndexer, TimingsBreakCallsIntoIndexerAndAttention) {
  SPF_REQUIRE_CUDA_DEVICE();
  const int64_t n = 2000;
  const IndexerWeights w = random_indexer(small_config(64, 64, 32, 1, 1), 51);
  LayerInputs in(n, 8, 2, 64, test::random_floats(size_t(n * 64), 52), 64, 53);
  CudaIndexerOptions o;
  o.budget = Budget::top_k(256);
  o.timing = true;
  o.dense_below = 1500;
  CudaIndexerBackend backend(w, o);
  SideCache cache(n, Device::cuda);
  backend.attend(in.device_call(0, 1000, &cache));  // dense (below 1500 keys)
  backend.attend(in.device_call(1000, n, &cache));  // sparse
  const std::vector<IndexerCallTiming> t = backend.take_timings();
  ASSERT_EQ(t.size(), 2u);
  EXPECT_FALSE(t[0].sparse);
  EXPECT_TRUE(t[1].sparse);
  EXPECT_EQ(t[0].topk_ms, 0.0);
  EXPECT_GT(t[1].topk_ms, 0.0);
  EXPECT_LE(t[1].topk_ms, t[1].indexer_ms);
  EXPECT_EQ(t[1].n_q, 1000);
  EXPECT_EQ(t[1].n_kv, n);
  for (const IndexerCallTiming& x : t) {
    EXPECT_TRUE(std::isfinite(x.indexer_ms) && x.indexer_ms >= 0.0);
    EXPECT_TRUE(std::isfinite(x.attention_ms) && x.attention_ms >= 0.0);
  }
  EXPECT_TRUE(backend.take_timings().empty());
}

// Calls the backend cannot serve fail with one line.
TEST(CudaIndexer, BadCallsAreOneLineErrors) {
  SPF_REQUIRE_CUDA_DEVICE();
  const int64_t n = 100;
  const IndexerWeights w = random_indexer(small_config(64, 64, 32, 1, 1), 61);
  LayerInputs in(n, 8, 2, 64, test::random_floats(size_t(n * 64), 62), 64, 63);
  CudaIndexerBackend backend(w, CudaIndexerOptions{});
  SideCache dev(n, Device::cuda), host(n);
  AttentionCall c = in.device_call(0, n, &dev);
  c.side_cache = nullptr;
  EXPECT_TRUE(one_line_error([&] { backend.attend(c); }, "side cache"));
  c = in.device_call(0, n, &dev);
  c.hidden = TensorView();
  EXPECT_TRUE(one_line_error([&] { backend.attend(c); }, "hidden"));
  EXPECT_TRUE(one_line_error([&] { backend.attend(in.device_call(0, n, &host)); }, "host"));
  EXPECT_TRUE(one_line_error([&] { backend.attend(in.host_call(0, n, &host)); }, "bf16 CUDA"));
  c = in.device_call(0, n, &dev);
  c.attention_layer = 2;
  EXPECT_TRUE(one_line_error([&] { backend.attend(c); }, "attention layer 2"));
}

}  // namespace
}  // namespace spf
