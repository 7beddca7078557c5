#include "eval/tasks/freq_words.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <set>

#include "core/error.h"

namespace spf::eval {

namespace {

const std::string kHead =
    "Read the following coded text and track the frequency of each coded word. Find the three most "
    "frequently appeared coded words. ";
const std::string kTail =
    "\nQuestion: Do not provide any explanation. Please ignore the dots '....'. What are the three "
    "most frequently appeared words in the above coded text?";
const std::string kPrefix =
    " Answer: According to the coded text above, the three most frequently appeared words are:";
const double kZeta2 = std::numbers::pi * std::numbers::pi / 6.0;

class FweBuilder final : public PromptBuilder {
 public:
  FweBuilder(uint64_t seed, const TaskContext& ctx, int64_t tokens_to_generate)
      : seed_(seed), ctx_(ctx) {
    const int64_t vocab = (ctx.target_tokens - tokens_to_generate) / 50;
    SPF_CHECK(vocab >= 5, "fwe: a ", ctx.target_tokens,
              "-token target is too small (needs >= ", 5 * 50 + tokens_to_generate, ")");
    Rng rng(derive_seed(seed, 1));
    std::set<std::string> distinct;
    while (int64_t(distinct.size()) < vocab) {
      std::string w;
      for (int i = 0; i < 6; ++i) w.push_back(char('a' + rng.below(26)));
      distinct.insert(w);
    }
    vocab_.assign(distinct.begin(), distinct.end());  // sorted, then shuffled
    rng.shuffle(vocab_);
    vocab_[0] = "...";
    outputs_ = {vocab_[1], vocab_[2], vocab_[3]};
  }

  // Large enough that ranks 2..5 have distinct, non-zero counts.
  int64_t min_units() const override { return 200; }

  BuiltPrompt build(int64_t units) const override {
    std::vector<int32_t> text;
    for (size_t k = 0; k < vocab_.size(); ++k) {
      // k^-alpha with alpha = 2 by multiplication: pow() may round differently across libms.
      const double rank = double(k + 1);
      const auto c = int64_t(std::floor(double(units) / (rank * rank) / kZeta2));
      for (int64_t r = 0; r < c; ++r) text.push_back(int32_t(k));
    }
    Rng rng(derive_seed(seed_, 2));
    rng.shuffle(text);
    std::string context;
    context.reserve(text.size() * 7);
    std::vector<int64_t> first_at(4, -1);
    for (size_t i = 0; i < text.size(); ++i) {
      if (i) context.push_back(' ');
      const int32_t k = text[i];
      if (k >= 1 && k <= 3 && first_at[size_t(k)] < 0)
        first_at[size_t(k)] = int64_t(context.size());
      context += vocab_[size_t(k)];
    }
    const Wrapped w = wrap_user(*ctx_.wrap, kHead + context + kTail);
    BuiltPrompt p{w.text + kPrefix, kPrefix, {}};
    for (int k = 1; k <= 3; ++k)
      p.answer_offsets.push_back(w.user_offset + int64_t(kHead.size()) + first_at[size_t(k)]);
    return p;
  }

 private:
  uint64_t seed_;
  TaskContext ctx_;
  std::vector<std::string> vocab_;
};

}  // namespace

std::unique_ptr<PromptBuilder> make_fwe_builder(uint64_t seed, const TaskContext& ctx,
                                                int64_t tokens_to_generate) {
  return std::make_unique<FweBuilder>(seed, ctx, tokens_to_generate);
}

}  // namespace spf::eval
