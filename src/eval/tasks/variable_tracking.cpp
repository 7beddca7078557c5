#include "eval/tasks/variable_tracking.h"

#include <algorithm>
#include <set>

#include "core/error.h"

namespace spf::eval {

namespace {

const std::string kHead =
    "Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n";

std::string tail(const std::string& value) {
  return "\nQuestion: Find all variables that are assigned the value " + value +
         " in the text above.";
}

std::string answer_prefix(const std::string& value) {
  return " Answer: According to the chain(s) of variable assignment in the text above, " +
         std::to_string(kVtChainNames) + " variables are assigned the value " + value +
         ", they are: ";
}

std::vector<std::string> random_names(Rng& rng, int letters, const std::set<std::string>& avoid) {
  std::set<std::string> used = avoid;
  std::vector<std::string> names;
  while (int(names.size()) < kVtChainNames) {
    std::string n;
    for (int i = 0; i < letters; ++i) n.push_back(char('A' + rng.below(26)));
    if (used.insert(n).second) names.push_back(n);
  }
  return names;
}

std::vector<std::string> chain_lines(const std::vector<std::string>& names,
                                     const std::string& value) {
  std::vector<std::string> lines{"VAR " + names[0] + " = " + value};
  for (size_t i = 1; i < names.size(); ++i)
    lines.push_back("VAR " + names[i] + " = VAR " + names[i - 1] + " ");
  return lines;
}

const std::string& noise_line(int64_t) {
  static const std::string noise = kNoiseSentence;
  return noise;
}

// Bare template + answer prefix + the answers, as the one-shot example shows them.
std::string example_text(const std::vector<std::string>& names, const std::string& value,
                         int64_t noise_lines, uint64_t position_seed) {
  const Lines ctx = place_lines(chain_lines(names, value), noise_lines, noise_line, position_seed);
  std::string s = kHead + ctx.text + tail(value) + answer_prefix(value) + " ";
  for (size_t i = 0; i < names.size(); ++i) s += (i ? " " : "") + names[i];
  return s + "\n";
}

class VtBuilder final : public PromptBuilder {
 public:
  VtBuilder(uint64_t seed, const TaskContext& ctx) : seed_(seed), ctx_(ctx) {
    Rng rng(derive_seed(seed, 1));
    names_ = random_names(rng, 5, {});
    value_ = std::to_string(rng.range(10000, 99998));
    outputs_ = names_;
    Rng ex(derive_seed(seed, 4));
    const auto ex_names = random_names(ex, 3, {});
    std::string ex_value;
    do ex_value = std::to_string(ex.range(10000, 99998));
    while (ex_value == value_);
    example_ = example_text(ex_names, ex_value, ctx.vt_example_lines, derive_seed(seed, 5));
  }

  BuiltPrompt build(int64_t units) const override {
    const Lines ctx =
        place_lines(chain_lines(names_, value_), units, noise_line, derive_seed(seed_, 3));
    const std::string head = example_ + "\n" + kHead;
    const Wrapped w = wrap_user(*ctx_.wrap, head + ctx.text + tail(value_));
    BuiltPrompt p{w.text + answer_prefix(value_), answer_prefix(value_), {}};
    for (const int64_t at : ctx.needle_offsets)
      p.answer_offsets.push_back(w.user_offset + int64_t(head.size()) + at + 4);  // after "VAR "
    return p;
  }

 private:
  uint64_t seed_;
  TaskContext ctx_;
  std::vector<std::string> names_;
  std::string value_, example_;
};

}  // namespace

std::string vt_canonical_example(int64_t noise_lines) {
  return example_text({"AAA", "BBB", "CCC", "DDD", "EEE"}, "12345", noise_lines, 0);
}

std::unique_ptr<PromptBuilder> make_vt_builder(uint64_t seed, const TaskContext& ctx) {
  return std::make_unique<VtBuilder>(seed, ctx);
}

}  // namespace spf::eval
