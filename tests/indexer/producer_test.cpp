// indexer:FILE through the method grammar and a forward: token supports are each query's top keys
// by the indexer's own scores; keys come from the side cache so chunked prefill picks the same
// supports as one shot; the full budget equals dense; the block-shared form and per-KV-group
// scorers run; --sparse-layers selects layers.
#include "indexer/producer.h"

#include <gtest/gtest.h>

#include <cmath>

#include "attention/cpu/cpu_executor.h"
#include "indexer/distill.h"
#include "model/model.h"
#include "support/layer_selection.h"
#include "support/support_attention.h"
#include "test_util.h"

namespace spf {
namespace {

struct Fixture {
  std::string model_path = test::fixture("hf/llama");
  std::unique_ptr<Model> model = load_model(model_path);
  test::TempDir dir;
  std::string write(int heads, bool per_group) {
    IndexerFile f;
    f.weights = random_indexer(indexer_config_for(model->config(), 16, 8, heads, per_group), 9);
    f.meta.model = model_identity(model_path, model->config());
    const std::string p = dir.file(cat("idx", heads, per_group, ".safetensors"));
    save_indexer(p, f);
    return p;
  }
  std::vector<int32_t> ids(int64_t n) const {
    std::vector<int32_t> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[size_t(i)] = int32_t((i * 37 + 11) % 500);
    return v;
  }
  std::vector<float> logits(AttentionBackend& b, const std::vector<int32_t>& ids,
                            int64_t chunk = 0) const {
    auto st = model->new_state(int64_t(ids.size()));
    std::vector<float> out(ids.size() * size_t(model->config().vocab_size));
    ForwardOptions fo;
    fo.mode = LogitsMode::all;
    fo.prefill_chunk = chunk;
    model->forward(ids, *st, b, out, fo);
    return out;
  }
};

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, double(std::abs(a[i] - b[i])));
  return m;
}

TEST(IndexerProducer, TokenSupportIsEachQuerysTopKeysByTheIndexerScore) {
  install_indexer_method();
  Fixture fx;
  const std::string path = fx.write(1, false);
  const std::vector<int32_t> ids = fx.ids(80);
  auto backend = std::make_unique<SupportAttention>(
      make_producer(parse_method_spec("indexer:" + path), parse_budget("k=8")), cpu_executor());
  const IndexerFile f = load_indexer(path);
  const std::vector<float> inv = indexer_inv_freq(f.weights.config);
  int checked = 0;
  backend->set_observer([&](const AttentionCall& call, const Support& s) {
    // The indexer's log-probabilities from the call's hidden rows (one shot: positions 0..).
    ASSERT_EQ(call.shape.q_pos0, 0);
    std::vector<float> logs;
    DistillScratch scratch;
    const int64_t n = call.shape.n_q;
    scorer_log_probs(f.weights, inv, call.attention_layer, 0, call.hidden.data<float>(), n, logs,
                     scratch);
    for (int64_t i = 0; i < n; ++i) {
      const auto row = s.row(0, i);
      ASSERT_EQ(int64_t(row.size()), std::min<int64_t>(8, i + 1));
      // Every kept key scores at least as high as every dropped one.
      float worst_kept = INFINITY, best_dropped = -INFINITY;
      std::vector<uint8_t> kept(size_t(i + 1), 0);
      for (const int32_t c : row) kept[size_t(c)] = 1;
      for (int64_t j = 0; j <= i; ++j) {
        const float v = logs[size_t(i * n + j)];
        if (kept[size_t(j)])
          worst_kept = std::min(worst_kept, v);
        else
          best_dropped = std::max(best_dropped, v);
      }
      EXPECT_GE(worst_kept, best_dropped - 1e-4f) << "layer " << call.attention_layer << " q " << i;
    }
    ++checked;
  });
  fx.logits(*backend, ids);
  EXPECT_EQ(checked, 3);
}

TEST(IndexerProducer, ChunkedPrefillPicksTheSameSupportsAsOneShotAndFullBudgetIsDense) {
  install_indexer_method();
  Fixture fx;
  const std::string path = fx.write(2, false);
  const std::vector<int32_t> ids = fx.ids(90);
  auto make = [&](const std::string& budget) {
    return std::make_unique<SupportAttention>(
        make_producer(parse_method_spec("indexer:" + path), parse_budget(budget)), cpu_executor());
  };
  auto one = make("20%");
  auto chunked = make("20%");
  const std::vector<float> a = fx.logits(*one, ids);
  const std::vector<float> b = fx.logits(*chunked, ids, 17);
  EXPECT_LT(max_abs_diff(a, b), 2e-4);
  auto full = make("100%");
  const std::vector<float> dense = fx.logits(dense_attention_backend(), ids);
  EXPECT_LT(max_abs_diff(fx.logits(*full, ids), dense), 2e-4);
  EXPECT_GT(max_abs_diff(a, dense), 1e-3);  // 20% is not dense
}

TEST(IndexerProducer, BlockSharedAndPerGroupFormsRunAndGroupsMustMatchTheFile) {
  install_indexer_method();
  Fixture fx;
  const std::string shared = fx.write(1, false), grouped = fx.write(1, true);
  const std::vector<int32_t> ids = fx.ids(100);
  for (const std::string& spec :
       {"indexer:" + shared + ":block16", "indexer:" + grouped + ":groups=kv",
        "indexer:" + grouped + ":block16:groups=kv"}) {
    SupportAttention b(make_producer(parse_method_spec(spec), parse_budget("25%")), cpu_executor());
    double density = 0;
    int calls = 0;
    b.set_observer([&](const AttentionCall&, const Support& s) {
      density += s.density();
      ++calls;
      EXPECT_EQ(s.n_groups, spec.find("groups=kv") != std::string::npos ? 2 : 1);
    });
    const std::vector<float> l = fx.logits(b, ids);
    EXPECT_EQ(calls, 3) << spec;
    EXPECT_GT(density / calls, 0.2) << spec;
    EXPECT_LT(density / calls, 0.6) << spec;
    for (const float v : l) ASSERT_TRUE(std::isfinite(v));
  }
  try {
    make_producer(parse_method_spec("indexer:" + grouped), parse_budget("5%"));
    ADD_FAILURE() << "per-group file accepted as shared";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("groups=kv"), std::string::npos) << e.what();
  }
}

// Decode steps (dense) and a second turn (sparse, at an offset) keep every layer's side cache in
// step with the KV cache, so the second turn's queries score every earlier position.
TEST(IndexerProducer, DecodeAndASecondTurnKeepTheSideCacheInStep) {
  install_indexer_method();
  Fixture fx;
  const std::string path = fx.write(1, false);
  SupportAttention b(make_producer(parse_method_spec("indexer:" + path), parse_budget("30%")),
                     cpu_executor());
  int64_t second_turn_calls = 0;
  b.set_observer([&](const AttentionCall& c, const Support& s) {
    if (c.shape.q_pos0 == 0) return;
    ++second_turn_calls;
    EXPECT_EQ(c.shape.q_pos0, 45);
    EXPECT_EQ(c.side_cache->rows(), 65);
    bool reaches_decoded = false;  // some query keeps a key written by a decode step
    for (int64_t r = 0; r < s.n_rows(); ++r)
      for (const int32_t col : s.row(0, r)) reaches_decoded |= col >= 40 && col < 45;
    EXPECT_TRUE(reaches_decoded) << "layer " << c.attention_layer;
  });
  auto st = fx.model->new_state(80);
  std::vector<float> logits(size_t(fx.model->config().vocab_size));
  const std::vector<int32_t> ids = fx.ids(65);
  fx.model->forward(std::span(ids).first(40), *st, b, LogitsMode::last, logits);
  for (int t = 40; t < 45; ++t)
    fx.model->forward(std::span(ids).subspan(size_t(t), 1), *st, b, LogitsMode::last, logits);
  for (int l = 0; l < st->n_attention_layers(); ++l) EXPECT_EQ(st->side_cache(l).rows(), 45);
  fx.model->forward(std::span(ids).subspan(45), *st, b, LogitsMode::last, logits);
  EXPECT_EQ(second_turn_calls, 3);
  for (int l = 0; l < st->n_attention_layers(); ++l) EXPECT_EQ(st->side_cache(l).rows(), 65);
}

TEST(IndexerProducer, SparseLayersSelectWhichLayersRunSparse) {
  install_indexer_method();
  Fixture fx;
  const std::string path = fx.write(1, false);
  for (const auto& [text, want] : std::vector<std::pair<std::string, std::vector<int>>>{
           {"all", {0, 1, 2}}, {"every:2", {1}}, {"0,2", {0, 2}}}) {
    SupportAttentionOptions ao;
    ao.sparse_layers = LayerSelection::parse(text).mask(3);
    SupportAttention b(make_producer(parse_method_spec("indexer:" + path), parse_budget("10%")),
                       cpu_executor(), ao);
    std::vector<int> seen;
    b.set_observer(
        [&](const AttentionCall& c, const Support&) { seen.push_back(c.attention_layer); });
    fx.logits(b, fx.ids(40));
    EXPECT_EQ(seen, want) << text;
  }
  EXPECT_EQ(LayerSelection::parse("every:4").mask(8),
            (std::vector<uint8_t>{0, 0, 0, 1, 0, 0, 0, 1}));
  EXPECT_EQ(LayerSelection::parse("11,3,7").str(), "3,7,11");
  EXPECT_THROW(LayerSelection::parse("3,7,3"), Error);
  EXPECT_THROW(LayerSelection::parse("every:0"), Error);
  EXPECT_THROW(LayerSelection::parse("x"), Error);
  EXPECT_THROW(LayerSelection::parse("12").mask(8), Error);
}

}  // namespace
}  // namespace spf
