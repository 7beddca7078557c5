// Parity of the real SmolLM2-135M-Instruct Q4_1 GGUF with HF transformers (which dequantizes the
// same GGUF to fp32): reference made by tools/hf_reference.py. Both sides compute in fp32 from
// identical dequantized weights, so the only differences are summation order and transcendental
// rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/npy.h"
#include "model/model.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace spf {
namespace {

std::string ref_dir() {
  return test::fixture("hf/smollm2");
}

nlohmann::json ref_json() {
  std::ifstream in(ref_dir() + "/smollm2_ref.json");
  return nlohmann::json::parse(in);
}

std::vector<int32_t> ids_of(const NpyArray& a) {
  return {a.data.begin(), a.data.end()};
}

TEST(SmolLM2Parity, TokenizerMatchesHfOnVariedText) {
  SPF_REQUIRE_DEFAULT_MODEL(path);
  const Tokenizer tok = Tokenizer::load_for_model(path);
  const nlohmann::json ref = ref_json();
  ASSERT_FALSE(ref["tokenizer_cases"].empty());
  for (const auto& c : ref["tokenizer_cases"]) {
    const std::string text = c["text"];
    EXPECT_EQ(tok.encode(text, false, false), c["ids"].get<std::vector<int32_t>>()) << c["name"];
  }
  const std::string prose = ref["prose"]["text_used"];
  EXPECT_EQ(tok.encode(prose, false, false), ids_of(read_npy(ref_dir() + "/prose_ids.npy")));
  EXPECT_EQ(tok.encode(ref["chat"]["prompt"].get<std::string>()),
            ids_of(read_npy(ref_dir() + "/chat_prompt_ids.npy")));
}

TEST(SmolLM2Parity, LogitsOnRealTextMatchHf) {
  SPF_REQUIRE_DEFAULT_MODEL(path);
  auto model = load_model(path);
  const std::vector<int32_t> ids = ids_of(read_npy(ref_dir() + "/prose_ids.npy"));
  ASSERT_GE(ids.size(), 512u);
  const NpyArray top_ids = read_npy(ref_dir() + "/prose_top20_ids.npy");
  const NpyArray top_logits = read_npy(ref_dir() + "/prose_top20_logits.npy");
  const NpyArray lse = read_npy(ref_dir() + "/prose_logsumexp.npy");
  const NpyArray last8 = read_npy(ref_dir() + "/prose_last8_logits.npy");
  const int64_t n = int64_t(ids.size()), V = model->config().vocab_size, K = top_ids.shape[1];
  std::vector<float> logits(size_t(n * V));
  auto st = model->new_state(n);
  model->forward(ids, *st, dense_attention_backend(), LogitsMode::all, logits);

  int64_t top1_agree = 0;
  double max_diff = 0, max_abs = 0, max_lse_diff = 0;
  for (int64_t t = 0; t < n; ++t) {
    const float* row = logits.data() + t * V;
    const int32_t ours = int32_t(std::max_element(row, row + V) - row);
    top1_agree += ours == int32_t(top_ids.data[size_t(t * K)]);
    for (int64_t k = 0; k < K; ++k) {
      const int32_t id = int32_t(top_ids.data[size_t(t * K + k)]);
      const float ref = top_logits.data[size_t(t * K + k)];
      max_diff = std::max(max_diff, double(std::fabs(row[id] - ref)));
      max_abs = std::max(max_abs, double(std::fabs(ref)));
    }
    double mx = row[0];
    for (int64_t v = 1; v < V; ++v) mx = std::max(mx, double(row[v]));
    double s = 0;
    for (int64_t v = 0; v < V; ++v) s += std::exp(double(row[v]) - mx);
    max_lse_diff = std::max(max_lse_diff, std::fabs(mx + std::log(s) - lse.data[size_t(t)]));
  }
  for (int64_t r = 0; r < 8; ++r)
    for (int64_t v = 0; v < V; ++v)
      max_diff = std::max(max_diff, double(std::fabs(logits[size_t((n - 8 + r) * V + v)] -
                                                     last8.data[size_t(r * V + v)])));
  const double agree = double(top1_agree) / double(n);
  std::printf(
      "[parity] smollm2 gguf: %lld tokens, top-1 agreement %.4f, max abs diff (top-20 + last 8 "
      "rows) %.3g, "
      "max |logit| %.3g, relative %.3g, max logsumexp diff %.3g\n",
      (long long)n, agree, max_diff, max_abs, max_diff / max_abs, max_lse_diff);
  EXPECT_GE(agree, 0.99);
  // fp32 on both sides from identical dequantized weights: rounding-level agreement is expected.
  EXPECT_LE(max_diff / max_abs, 1e-4);
  EXPECT_LE(max_lse_diff, 1e-3);
}

TEST(SmolLM2Parity, GreedyChatMatchesHf) {
  SPF_REQUIRE_DEFAULT_MODEL(path);
  auto model = load_model(path);
  const std::vector<int32_t> prompt = ids_of(read_npy(ref_dir() + "/chat_prompt_ids.npy"));
  const std::vector<int32_t> want = ids_of(read_npy(ref_dir() + "/chat_greedy_ids.npy"));
  auto st = model->new_state(int64_t(prompt.size() + want.size()));
  std::vector<float> logits(size_t(model->config().vocab_size));
  model->forward(prompt, *st, dense_attention_backend(), LogitsMode::last, logits);
  std::vector<int32_t> got;
  for (size_t i = 0; i < want.size(); ++i) {
    const int32_t id = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
    got.push_back(id);
    model->forward(std::span<const int32_t>(&id, 1), *st, dense_attention_backend(),
                   LogitsMode::last, logits);
  }
  EXPECT_EQ(got, want);
}

}  // namespace
}  // namespace spf
