// Side caches: the model state holds one per attention layer, and every attention call (prefill
// chunks, dense layers, decode steps) carries its layer's. A writer that appends one row per query
// (the call's normalised hidden input) ends with exactly one row per token in every layer, the
// rows of a chunked prefill equal those of one call, and a producer behind SupportAttention sees
// every call even when all layers run dense.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "attention/cpu/cpu_executor.h"
#include "core/error.h"
#include "core/npy.h"
#include "model/model.h"
#include "support/producer.h"
#include "support/support_attention.h"
#include "test_util.h"

namespace spf {
namespace {

// Appends call.hidden's rows to the call's side cache (checking it holds the earlier positions
// exactly); counts calls.
void append_hidden(const AttentionCall& call, int& calls) {
  ++calls;
  SideCache* sc = call.side_cache;
  SPF_CHECK(sc != nullptr, "layer ", call.layer, ": attention call without a side cache");
  SPF_CHECK(!call.hidden.empty(), "layer ", call.layer, ": attention call without hidden");
  SPF_CHECK(sc->rows() == call.shape.q_pos0, "layer ", call.layer, ": side cache holds ",
            sc->rows(), " rows at position ", call.shape.q_pos0);
  SPF_CHECK(sc->capacity() >= call.shape.n_kv, "side cache capacity ", sc->capacity());
  const int64_t width = call.hidden.dim(1);
  sc->ensure(width, DType::f32);
  const TensorView dst = sc->write(call.shape.q_pos0, call.shape.n_q);
  std::memcpy(dst.data<float>(), call.hidden.data<const float>(),
              size_t(call.shape.n_q * width) * sizeof(float));
}

class RecordingBackend final : public AttentionBackend {
 public:
  void attend(const AttentionCall& call) override {
    append_hidden(call, calls);
    dense_attention_backend().attend(call);
  }
  int calls = 0;
};

// A producer that keeps the side cache (as an indexer will) and otherwise admits every key.
class RecordingProducer final : public SupportProducer {
 public:
  explicit RecordingProducer(int* calls)
      : calls_(calls), dense_(make_producer("dense", ProducerOptions{})) {}
  Support produce(const AttentionCall& call, AttentionExecutor& executor) override {
    return dense_->produce(call, executor);
  }
  void observe(const AttentionCall& call) override { append_hidden(call, *calls_); }
  std::string name() const override { return "recording"; }

 private:
  int* calls_;
  std::unique_ptr<SupportProducer> dense_;
};

std::vector<int32_t> fixture_ids(const std::string& dir) {
  const NpyArray a = read_npy(dir + "/ids.npy");
  return {a.data.begin(), a.data.end()};
}

// Prefill (in chunks of `chunk`, 0 = one call) then `decode` one-token steps.
std::unique_ptr<ModelState> run(const Model& m, const std::vector<int32_t>& ids, int64_t chunk,
                                int decode, AttentionBackend& backend) {
  auto st = m.new_state(int64_t(ids.size()) + decode);
  std::vector<float> logits(size_t(m.config().vocab_size));
  ForwardOptions o;
  o.prefill_chunk = chunk;
  m.forward(ids, *st, backend, logits, o);
  for (int i = 0; i < decode; ++i) {
    const int32_t id = ids[size_t(i)];
    m.forward(std::span<const int32_t>(&id, 1), *st, backend, LogitsMode::last, logits);
  }
  return st;
}

double max_rel(const TensorView& a, const TensorView& b) {
  const float* x = a.data<const float>();
  const float* y = b.data<const float>();
  double d = 0, m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    d = std::max(d, double(std::fabs(x[i] - y[i])));
    m = std::max(m, double(std::fabs(y[i])));
  }
  return d / m;
}

class SideCaches : public ::testing::TestWithParam<std::string> {};

TEST_P(SideCaches, OneRowPerTokenInEveryAttentionLayer) {
  const std::string dir = test::fixture("hf/" + GetParam());
  const auto model = load_model(dir);
  const ModelConfig& cfg = model->config();
  const std::vector<int32_t> ids = fixture_ids(dir);
  constexpr int kDecode = 4;
  const int64_t n = int64_t(ids.size()) + kDecode;

  RecordingBackend whole;
  const auto st = run(*model, ids, 0, kDecode, whole);
  ASSERT_EQ(st->n_attention_layers(), cfg.n_attention_layers());
  EXPECT_EQ(whole.calls, cfg.n_attention_layers() * (1 + kDecode));
  for (int i = 0; i < st->n_attention_layers(); ++i) {
    EXPECT_EQ(st->side_cache(i).capacity(), st->capacity());
    EXPECT_EQ(st->side_cache(i).rows(), n) << "attention layer " << i;
    EXPECT_EQ(st->side_cache(i).width(), cfg.hidden);
  }

  // Chunked prefill (chunks that do not divide the prompt): the same rows, up to rounding.
  for (int64_t chunk : {2, 7}) {
    RecordingBackend chunked;
    const auto cs = run(*model, ids, chunk, kDecode, chunked);
    const int64_t chunks = (int64_t(ids.size()) + chunk - 1) / chunk;
    EXPECT_EQ(chunked.calls, cfg.n_attention_layers() * (chunks + kDecode));
    for (int i = 0; i < cs->n_attention_layers(); ++i) {
      ASSERT_EQ(cs->side_cache(i).rows(), n) << "chunk " << chunk << ", attention layer " << i;
      EXPECT_LE(max_rel(cs->side_cache(i).prefix(n), st->side_cache(i).prefix(n)), 1e-5)
          << "chunk " << chunk << ", attention layer " << i;
    }
  }
}

TEST_P(SideCaches, ProducerSeesEveryCallWhenEveryLayerRunsDense) {
  const std::string dir = test::fixture("hf/" + GetParam());
  const auto model = load_model(dir);
  const ModelConfig& cfg = model->config();
  const std::vector<int32_t> ids = fixture_ids(dir);
  constexpr int kDecode = 3;
  int calls = 0;
  SupportAttentionOptions all_dense;
  all_dense.dense_layers = cfg.n_attention_layers();
  SupportAttention backend(std::make_unique<RecordingProducer>(&calls), cpu_executor(), all_dense);
  const auto st = run(*model, ids, 16, kDecode, backend);
  const int64_t chunks = (int64_t(ids.size()) + 15) / 16;
  EXPECT_EQ(calls, cfg.n_attention_layers() * (chunks + kDecode));
  for (int i = 0; i < st->n_attention_layers(); ++i)
    EXPECT_EQ(st->side_cache(i).rows(), int64_t(ids.size()) + kDecode) << "attention layer " << i;
}

INSTANTIATE_TEST_SUITE_P(Tiny, SideCaches, ::testing::Values("llama", "qwen3_5_text"),
                         [](const auto& info) { return info.param; });

TEST(SideCaches, StateRejectsABadLayerIndex) {
  const auto model = load_model(test::fixture("hf/qwen3_5_text"));
  const auto st = model->new_state(8);
  EXPECT_EQ(st->n_attention_layers(), 2);
  EXPECT_THROW(st->side_cache(2), Error);
  EXPECT_THROW(st->side_cache(-1), Error);
}

}  // namespace
}  // namespace spf
