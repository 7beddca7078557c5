// generate(): stop conditions on a tiny random checkpoint (no real weights needed).
#include "model/generate.h"

#include <gtest/gtest.h>

#include "model/model.h"
#include "test_util.h"

namespace spf {
namespace {

std::vector<int32_t> prompt() {
  return {1, 5, 9, 13, 17, 21, 25};
}

TEST(Generate, StopsAtTheLimitWithoutStopIds) {
  auto model = load_model(test::fixture("hf/llama"));
  GenerateParams p;
  p.max_new_tokens = 6;
  const GenerateResult r = generate(*model, prompt(), p, dense_attention_backend());
  EXPECT_EQ(r.tokens.size(), 6u);
  EXPECT_EQ(r.reason, StopReason::limit);
}

// The predicate ends decoding right after the token that made it true; the tokens chosen before
// are the greedy ones of the full run.
TEST(Generate, PredicateStopKeepsTheGreedyPrefix) {
  auto model = load_model(test::fixture("hf/llama"));
  GenerateParams p;
  p.max_new_tokens = 8;
  const GenerateResult full = generate(*model, prompt(), p, dense_attention_backend());
  ASSERT_EQ(full.tokens.size(), 8u);
  int calls = 0;
  p.stop_when = [&](std::span<const int32_t> so_far) {
    ++calls;
    return so_far.size() == 3;
  };
  const GenerateResult cut = generate(*model, prompt(), p, dense_attention_backend());
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(cut.reason, StopReason::predicate);
  ASSERT_EQ(cut.tokens.size(), 3u);
  EXPECT_TRUE(std::equal(cut.tokens.begin(), cut.tokens.end(), full.tokens.begin()));
}

TEST(Generate, StopIdEndsBeforeEmittingIt) {
  auto model = load_model(test::fixture("hf/llama"));
  GenerateParams p;
  p.max_new_tokens = 8;
  const GenerateResult full = generate(*model, prompt(), p, dense_attention_backend());
  p.stop_ids = {full.tokens[2]};
  const GenerateResult r = generate(*model, prompt(), p, dense_attention_backend());
  EXPECT_EQ(r.reason, StopReason::stop_id);
  // The first occurrence of the stop id ends it; everything before is kept.
  const auto first = std::find(full.tokens.begin(), full.tokens.end(), full.tokens[2]);
  EXPECT_EQ(r.tokens.size(), size_t(first - full.tokens.begin()));
}

}  // namespace
}  // namespace spf
