// End-to-end checks on the real default model (skipped when it is not fetched).
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "model/generate.h"
#include "model/model.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace spf {
namespace {

class SmolLM2 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string path = test::default_model_path();
    if (path.empty()) return;
    model_ = load_model(path).release();
    tok_ = new Tokenizer(Tokenizer::load_for_model(path));
  }
  static void TearDownTestSuite() {
    delete model_;
    delete tok_;
    model_ = nullptr;
    tok_ = nullptr;
  }
  void SetUp() override {
    if (model_ == nullptr) GTEST_SKIP() << "default model not fetched (run scripts/fetch-model.sh)";
  }
  static Model* model_;
  static Tokenizer* tok_;
};
Model* SmolLM2::model_ = nullptr;
Tokenizer* SmolLM2::tok_ = nullptr;

TEST_F(SmolLM2, ConfigFromGguf) {
  const ModelConfig& c = model_->config();
  EXPECT_EQ(c.arch, Arch::llama);
  EXPECT_EQ(c.n_layers, 30);
  EXPECT_EQ(c.hidden, 576);
  EXPECT_EQ(c.n_heads, 9);
  EXPECT_EQ(c.n_kv_heads, 3);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.vocab_size, 49152);
  EXPECT_EQ(c.max_context, 8192);
  EXPECT_TRUE(c.tie_embeddings);
}

TEST_F(SmolLM2, GreedyChatAnswersCapitalOfFrance) {
  std::vector<ChatMessage> msgs = {{"system", default_system_prompt(tok_->chat_template())},
                                   {"user", "What is the capital of France?"}};
  const std::vector<int32_t> ids = tok_->encode(apply_chatml(msgs, "", true));
  GenerateParams p;
  p.max_new_tokens = 20;
  p.stop_ids = tok_->special().eos_ids;
  const GenerateResult r = generate(*model_, ids, p, dense_attention_backend());
  const std::string text = tok_->decode(r.tokens);
  EXPECT_NE(text.find("Paris"), std::string::npos) << text;
}

// Prefill of a prefix then one-token decode steps must equal one prefill of the whole sequence.
TEST_F(SmolLM2, IncrementalDecodeMatchesFullPrefill) {
  const std::vector<int32_t> ids =
      tok_->encode("The quick brown fox jumps over the lazy dog because it was");
  const int64_t n = int64_t(ids.size()), V = model_->config().vocab_size;
  std::vector<float> full(size_t(n * V));
  auto s1 = model_->new_state(n);
  model_->forward(ids, *s1, dense_attention_backend(), LogitsMode::all, full);
  auto s2 = model_->new_state(n);
  const int64_t split = n / 2;
  std::vector<float> part(size_t(split * V));
  model_->forward(std::span(ids).first(size_t(split)), *s2, dense_attention_backend(),
                  LogitsMode::all, part);
  std::vector<float> step(static_cast<size_t>(V));
  double max_diff = 0, max_abs = 0;
  for (int64_t t = split; t < n; ++t) {
    model_->forward(std::span(ids).subspan(size_t(t), 1), *s2, dense_attention_backend(),
                    LogitsMode::last, step);
    for (int64_t v = 0; v < V; ++v) {
      max_diff = std::max(max_diff, double(std::fabs(step[size_t(v)] - full[size_t(t * V + v)])));
      max_abs = std::max(max_abs, double(std::fabs(full[size_t(t * V + v)])));
    }
  }
  EXPECT_LT(max_diff / max_abs, 1e-4);
}

TEST_F(SmolLM2, PromptLongerThanContextIsAClearError) {
  std::vector<int32_t> ids(8193, 42);
  GenerateParams p;
  p.max_new_tokens = 1;
  try {
    generate(*model_, ids, p, dense_attention_backend());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("context"), std::string::npos) << e.what();
  }
  EXPECT_THROW(model_->new_state(8193), Error);
}

TEST_F(SmolLM2, OutOfVocabularyIdIsAClearError) {
  auto st = model_->new_state(4);
  std::vector<float> logits(size_t(model_->config().vocab_size));
  const int32_t bad[2] = {1, 49152};
  EXPECT_THROW(model_->forward(bad, *st, dense_attention_backend(), LogitsMode::last, logits),
               Error);
}

}  // namespace
}  // namespace spf
