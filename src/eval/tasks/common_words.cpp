#include "eval/tasks/common_words.h"

#include "core/error.h"

namespace spf::eval {

namespace {

const std::string kHead =
    "Below is a numbered list of words. In these words, some appear more often than others. "
    "Memorize the ones that appear most often.\n";
const std::string kTail = "\nQuestion: What are the 10 most common words in the above list?";
const std::string kPrefix = " Answer: The top 10 words that appear most often in the list are:";

struct Counts {
  int common, uncommon, example_words, example_common, example_uncommon;
};

// "1. w 2. w ..." of `words` (first kCweCommon repeated `common` times, the rest `uncommon`),
// shuffled. first_at receives the offset of each common word's first entry.
std::string numbered_list(const std::vector<const std::string*>& words, int common, int uncommon,
                          uint64_t shuffle_seed, std::vector<int64_t>* first_at) {
  std::vector<int32_t> entries;
  for (size_t i = 0; i < words.size(); ++i)
    for (int r = 0; r < (i < size_t(kCweCommon) ? common : uncommon); ++r)
      entries.push_back(int32_t(i));
  Rng rng(shuffle_seed);
  rng.shuffle(entries);
  std::string s;
  s.reserve(entries.size() * 14);
  if (first_at) first_at->assign(kCweCommon, -1);
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i) s.push_back(' ');
    s += std::to_string(i + 1) + ". ";
    const int32_t w = entries[i];
    if (first_at && w < kCweCommon && (*first_at)[size_t(w)] < 0)
      (*first_at)[size_t(w)] = int64_t(s.size());
    s += *words[size_t(w)];
  }
  return s;
}

class CweBuilder final : public PromptBuilder {
 public:
  CweBuilder(uint64_t seed, const TaskContext& ctx) : seed_(seed), ctx_(ctx) {
    const auto& words = load_word_list(ctx.text->words_path);
    counts_ = ctx.target_tokens < 4096 ? Counts{6, 1, 20, 3, 1} : Counts{30, 3, 40, 10, 3};
    pool_.reserve(words.size());
    for (const std::string& w : words) pool_.push_back(&w);
    Rng rng(derive_seed(seed, 1));
    rng.shuffle(pool_);
    // The task takes words from the front of the shuffled pool, the example from the back.
    const std::vector<const std::string*> ex(pool_.end() - counts_.example_words, pool_.end());
    const std::string list = numbered_list(ex, counts_.example_common, counts_.example_uncommon,
                                           derive_seed(seed, 2), nullptr);
    std::string answer;
    for (int i = 0; i < kCweCommon; ++i) {
      // Appended piecewise: GCC 12 -O2 reports a false -Wrestrict on chained "lit" + string.
      answer += ' ';
      answer += std::to_string(i + 1);
      answer += ". ";
      answer += *ex[size_t(i)];
    }
    example_ = wrap_user(*ctx.wrap, kHead + list + kTail).text + kPrefix + answer + "\n";
    for (int i = 0; i < kCweCommon; ++i) outputs_.push_back(*pool_[size_t(i)]);
  }

  int64_t min_units() const override { return kCweCommon; }
  int64_t max_units() const override { return int64_t(pool_.size()) - counts_.example_words; }

  BuiltPrompt build(int64_t units) const override {
    SPF_CHECK(units >= min_units() && units <= max_units(), "cwe: ", units,
              " distinct words requested, the word list has ", max_units());
    const std::vector<const std::string*> words(pool_.begin(), pool_.begin() + units);
    std::vector<int64_t> first_at;
    const std::string list =
        numbered_list(words, counts_.common, counts_.uncommon, derive_seed(seed_, 3), &first_at);
    const Wrapped w = wrap_user(*ctx_.wrap, kHead + list + kTail);
    BuiltPrompt p{example_ + w.text + kPrefix, kPrefix, {}};
    const int64_t base = int64_t(example_.size()) + w.user_offset + int64_t(kHead.size());
    for (const int64_t at : first_at) p.answer_offsets.push_back(base + at);
    return p;
  }

 private:
  uint64_t seed_;
  TaskContext ctx_;
  Counts counts_;
  std::vector<const std::string*> pool_;
  std::string example_;
};

}  // namespace

std::unique_ptr<PromptBuilder> make_cwe_builder(uint64_t seed, const TaskContext& ctx) {
  return std::make_unique<CweBuilder>(seed, ctx);
}

}  // namespace spf::eval
