// Sparse producers under chunked prefill. What differs from one-shot prefill: each chunk's support
// is produced from that chunk's own call (its queries against the whole cache so far), so a
// producer runs once per chunk and attention layer, with q_pos0 at the chunk's start, and may pick
// keys of earlier chunks. At the full budget every chunk's support is the full causal support and
// the result equals dense one-shot prefill (the sparse executor walking it); below it, chunked and
// one-shot supports are chosen from different statistics and the logits differ.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "attention/cpu/cpu_executor.h"
#include "core/npy.h"
#include "model/model.h"
#include "support/producer.h"
#include "support/support_attention.h"
#include "test_util.h"

namespace spf {
namespace {

struct CallRecord {
  int attention_layer;
  int64_t n_q, q_pos0, n_kv;
  bool reaches_back;  // some row admits a key before q_pos0 (an earlier chunk's key)
};

// Wraps a producer and records every call it is asked for.
class Recording final : public SupportProducer {
 public:
  Recording(std::unique_ptr<SupportProducer> inner, std::vector<CallRecord>& log)
      : inner_(std::move(inner)), log_(log) {}
  Support produce(const AttentionCall& call, AttentionExecutor& executor) override {
    Support s = inner_->produce(call, executor);
    bool back = false;
    for (int64_t r = 0; r < s.n_rows() && !back; ++r)
      for (const int32_t c : s.row(0, r)) back |= int64_t(c) * s.k_block < call.shape.q_pos0;
    log_.push_back(
        {call.attention_layer, call.shape.n_q, call.shape.q_pos0, call.shape.n_kv, back});
    return s;
  }
  std::string name() const override { return "recording(" + inner_->name() + ")"; }

 private:
  std::unique_ptr<SupportProducer> inner_;
  std::vector<CallRecord>& log_;
};

std::vector<int32_t> fixture_ids() {
  const NpyArray a = read_npy(test::fixture("hf/llama/ids.npy"));
  return std::vector<int32_t>(a.data.begin(), a.data.end());
}

std::vector<float> run(const Model& m, const std::vector<int32_t>& ids, AttentionBackend& b,
                       int64_t chunk) {
  auto st = m.new_state(int64_t(ids.size()));
  std::vector<float> logits(ids.size() * size_t(m.config().vocab_size));
  ForwardOptions o;
  o.mode = LogitsMode::all;
  o.prefill_chunk = chunk;
  m.forward(ids, *st, b, logits, o);
  return logits;
}

double max_rel(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0, m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    d = std::max(d, double(std::fabs(a[i] - b[i])));
    m = std::max(m, double(std::fabs(b[i])));
  }
  return d / m;
}

TEST(ChunkedSparse, ProducerRunsPerChunkAndLayerWithTheChunksPosition) {
  const auto model = load_model(test::fixture("hf/llama"));
  const std::vector<int32_t> ids = fixture_ids();
  const int64_t n = int64_t(ids.size()), chunk = 7;
  ASSERT_GT(n, 2 * chunk);
  std::vector<CallRecord> log;
  SupportAttention backend(
      std::make_unique<Recording>(make_producer(parse_method_spec("oracle"), parse_budget("30%")),
                                  log),
      cpu_executor());
  run(*model, ids, backend, chunk);
  const int layers = model->config().n_attention_layers();
  const int64_t chunks = (n + chunk - 1) / chunk;
  int64_t single = 0;  // a last chunk of one token runs dense (decode-like), no support
  if (n % chunk == 1) single = 1;
  ASSERT_EQ(int64_t(log.size()), (chunks - single) * layers);
  bool any_back = false;
  for (size_t i = 0; i < log.size(); ++i) {
    const CallRecord& c = log[i];
    const int64_t k = int64_t(i) / layers;  // chunk index (layers run in order within a chunk)
    EXPECT_EQ(c.attention_layer, int(i % size_t(layers)));
    EXPECT_EQ(c.q_pos0, k * chunk);
    EXPECT_EQ(c.n_q, std::min(chunk, n - k * chunk));
    EXPECT_EQ(c.n_kv, c.q_pos0 + c.n_q);  // the whole cache so far
    if (k > 0) any_back |= c.reaches_back;
  }
  EXPECT_TRUE(any_back) << "later chunks never selected a key of an earlier chunk";
}

TEST(ChunkedSparse, FullBudgetChunkedEqualsDenseOneShotOnTheSparseExecutor) {
  const auto model = load_model(test::fixture("hf/llama"));
  const std::vector<int32_t> ids = fixture_ids();
  const std::vector<float> dense = run(*model, ids, dense_attention_backend(), 0);
  SupportAttentionOptions no_shortcut;
  no_shortcut.full_support_dense = false;
  for (int64_t chunk : {5, 17}) {
    SupportAttention full(make_producer(parse_method_spec("oracle"), parse_budget("100%")),
                          cpu_executor(), no_shortcut);
    EXPECT_LE(max_rel(run(*model, ids, full, chunk), dense), 1e-5) << "chunk " << chunk;
  }
}

TEST(ChunkedSparse, BelowFullBudgetChunkedAndOneShotSupportsDiffer) {
  const auto model = load_model(test::fixture("hf/llama"));
  const std::vector<int32_t> ids = fixture_ids();
  SupportAttention one(make_producer(parse_method_spec("oracle"), parse_budget("20%")),
                       cpu_executor());
  SupportAttention chunked(make_producer(parse_method_spec("oracle"), parse_budget("20%")),
                           cpu_executor());
  const std::vector<float> a = run(*model, ids, one, 0);
  // A chunk as long as the prompt is one-shot prefill: identical.
  EXPECT_EQ(run(*model, ids, chunked, int64_t(ids.size())), a);
  // Shorter chunks choose their supports from other statistics: the logits move.
  EXPECT_GT(max_rel(run(*model, ids, chunked, 9), a), 1e-6);
}

}  // namespace
}  // namespace spf
