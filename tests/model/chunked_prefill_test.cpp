// Chunked prefill (ForwardOptions::prefill_chunk, GenerateParams::prefill_chunk): the prompt runs
// in chunks whose queries attend to the whole cache so far, with dense attention equal to one call
// up to float rounding (<= 1e-5 relative) for chunk sizes 1, 17 and 512 — on the real SmolLM2
// (600 prompt tokens; chunk size 1 over the first 160) and on the Qwen3.5 hybrid fixture (a prompt
// as long as its context: GDN state and KV cache both carried across chunks). Generation with a
// chunked prefill picks the same greedy tokens.
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <random>

#include "core/error.h"
#include "core/npy.h"
#include "model/generate.h"
#include "model/model.h"
#include "model/trace.h"
#include "test_util.h"

namespace spf {
namespace {

double max_rel(std::span<const float> got, std::span<const float> want) {
  EXPECT_EQ(got.size(), want.size());
  double d = 0, m = 0;
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
    d = std::max(d, double(std::fabs(got[i] - want[i])));
    m = std::max(m, double(std::fabs(want[i])));
  }
  return d / m;
}

struct Run {
  std::vector<float> logits;    // all rows, or the last row
  std::vector<float> residual;  // the last layer's residual stream, every token
};

Run prefill(const Model& m, const std::vector<int32_t>& ids, int64_t chunk, LogitsMode mode) {
  const int64_t n = int64_t(ids.size()), V = m.config().vocab_size;
  const int last = m.config().n_layers - 1;
  TraceRecorder rec({last});
  auto st = m.new_state(n);
  Run r;
  r.logits.resize(size_t((mode == LogitsMode::all ? n : 1) * V));
  ForwardOptions o;
  o.mode = mode;
  o.prefill_chunk = chunk;
  o.trace = &rec;
  m.forward(ids, *st, dense_attention_backend(), r.logits, o);
  EXPECT_EQ(st->n_past(), n);
  r.residual = rec.get(last, trace::kResidual).data;
  return r;
}

// One-shot vs chunk sizes 1 (last-row logits and the residual of every token: 1-token calls are
// slow on a real model), 17 and 512 (every row's logits), within tol of each other: f32 rounding
// (chunk boundaries change summation orders; a Gated DeltaNet's chunked form regroups its sums at
// every call, measured up to 1.1e-5 on the Qwen3.5 fixture).
// Chunk size 1 runs over the first `one_token_prefix` tokens only (0: all of them), against a
// one-shot run of that prefix: a 1-token call re-reads every weight, so 600 of them dominate the
// suite's time on a real model.
void expect_chunked_equals_one_shot(const Model& m, const std::vector<int32_t>& ids,
                                    double tol = 1e-5, size_t one_token_prefix = 0) {
  const Run all = prefill(m, ids, 0, LogitsMode::all);
  const Run last = prefill(m, ids, 0, LogitsMode::last);
  const int64_t V = m.config().vocab_size;
  EXPECT_LE(max_rel(last.logits, std::span(all.logits).last(size_t(V))), tol);
  for (int64_t chunk : {17, 512}) {
    const Run c = prefill(m, ids, chunk, LogitsMode::all);
    EXPECT_LE(max_rel(c.logits, all.logits), tol) << "chunk " << chunk;
    EXPECT_LE(max_rel(c.residual, all.residual), tol) << "chunk " << chunk;
  }
  if (one_token_prefix == 0 || one_token_prefix >= ids.size()) {
    const Run one = prefill(m, ids, 1, LogitsMode::last);
    EXPECT_LE(max_rel(one.logits, last.logits), tol) << "chunk 1";
    EXPECT_LE(max_rel(one.residual, all.residual), tol) << "chunk 1";
  } else {
    const std::vector<int32_t> head(ids.begin(), ids.begin() + std::ptrdiff_t(one_token_prefix));
    const Run head_all = prefill(m, head, 0, LogitsMode::last);
    const Run one = prefill(m, head, 1, LogitsMode::last);
    EXPECT_LE(max_rel(one.logits, head_all.logits), tol) << "chunk 1";
    EXPECT_LE(max_rel(one.residual, head_all.residual), tol) << "chunk 1";
  }
  // The comparison is not vacuous: a different prompt changes the logits.
  std::vector<int32_t> other = ids;
  other[other.size() / 2] = (other[other.size() / 2] + 1) % int32_t(V);
  EXPECT_GT(max_rel(prefill(m, other, 0, LogitsMode::all).logits, all.logits), 1e-3);
}

TEST(ChunkedPrefill, SmolLM2EqualsOneShot) {
  SPF_REQUIRE_DEFAULT_MODEL(path);
  const auto model = load_model(path);
  const NpyArray a = read_npy(test::fixture("hf/smollm2/prose_ids.npy"));
  ASSERT_GE(a.data.size(), 600u);
  const std::vector<int32_t> ids(a.data.begin(), a.data.begin() + 600);
  expect_chunked_equals_one_shot(*model, ids, 1e-5, 160);
}

TEST(ChunkedPrefill, Qwen35HybridEqualsOneShot) {
  const auto model = load_model(test::fixture("hf/qwen3_5_text"));
  const ModelConfig& cfg = model->config();
  // The fixture's ids, then seeded random ids up to its whole context.
  const NpyArray a = read_npy(test::fixture("hf/qwen3_5_text/ids.npy"));
  std::vector<int32_t> ids(a.data.begin(), a.data.end());
  std::mt19937 rng(7);
  while (int64_t(ids.size()) < cfg.max_context)
    ids.push_back(int32_t(rng() % uint32_t(cfg.vocab_size)));
  expect_chunked_equals_one_shot(*model, ids, 3e-5);
}

TEST(ChunkedPrefill, RejectsANegativeChunk) {
  const auto model = load_model(test::fixture("hf/llama"));
  auto st = model->new_state(4);
  std::vector<float> logits(size_t(model->config().vocab_size));
  ForwardOptions o;
  o.prefill_chunk = -1;
  const std::vector<int32_t> ids{1, 2, 3};
  EXPECT_THROW(model->forward(ids, *st, dense_attention_backend(), logits, o), Error);
  EXPECT_EQ(st->n_past(), 0);
  GenerateParams p;
  p.prefill_chunk = -2;
  EXPECT_THROW(generate(*model, ids, p, dense_attention_backend()), Error);
}

TEST(ChunkedPrefill, GenerateWithChunksPicksTheSameGreedyTokens) {
  const auto model = load_model(test::fixture("hf/llama"));
  const NpyArray a = read_npy(test::fixture("hf/llama/ids.npy"));
  const std::vector<int32_t> prompt(a.data.begin(), a.data.end());
  GenerateParams p;
  p.max_new_tokens = 10;
  const GenerateResult want = generate(*model, prompt, p, dense_attention_backend());
  for (int64_t chunk : {1, 17}) {
    p.prefill_chunk = chunk;
    const GenerateResult got = generate(*model, prompt, p, dense_attention_backend());
    EXPECT_EQ(got.tokens, want.tokens) << "chunk " << chunk;
  }
}

}  // namespace
}  // namespace spf
