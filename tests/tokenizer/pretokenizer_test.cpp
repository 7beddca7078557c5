// Pre-tokenizer splits against HF's `tokenizers` Split(Regex, "isolated") on the same patterns
// (tests/fixtures/tokenizer/pretok_cases.json), plus White_Space and lookahead edge cases.
#include "tokenizer/pretokenizer.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "tok_test_util.h"

namespace spf::test {
namespace {

PreTokenizer kind_of(const std::string& name) {
  if (name == "gpt2") return PreTokenizer::gpt2;
  if (name == "smollm") return PreTokenizer::smollm;
  if (name == "llama3") return PreTokenizer::llama3;
  if (name == "qwen2") return PreTokenizer::qwen2;
  if (name == "qwen35") return PreTokenizer::qwen35;
  throw std::runtime_error("unknown pre-tokenizer in fixture: " + name);
}

TEST(PreTokenizer, MatchesHfSplits) {
  const auto doc = read_json_fixture("tokenizer/pretok_cases.json");
  ASSERT_EQ(doc.size(), 5u);
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const PreTokenizer k = kind_of(it.key());
    EXPECT_EQ(pretokenizer_regex(k), it.value().at("regex").get<std::string>()) << it.key();
    for (const auto& c : it.value().at("cases")) {
      const std::string text = c.at("text");
      EXPECT_EQ(pretokenize(k, text), c.at("pieces").get<std::vector<std::string>>())
          << it.key() << " on: " << text;
    }
  }
}

TEST(PreTokenizer, WhitespaceLookahead) {
  // \s+(?!\S) leaves the last space of a run to the following word.
  EXPECT_EQ(pretokenize(PreTokenizer::gpt2, "a   b"), (std::vector<std::string>{"a", "  ", " b"}));
  EXPECT_EQ(pretokenize(PreTokenizer::gpt2, "a   "), (std::vector<std::string>{"a", "   "}));
  EXPECT_EQ(pretokenize(PreTokenizer::qwen2, "a \n\n b"),
            (std::vector<std::string>{"a", " \n\n", " b"}));
  // U+180E is not White_Space (PCRE2's own UCP \s would say it is); U+0085 is.
  EXPECT_EQ(pretokenize(PreTokenizer::gpt2, "\u180e\u180e"),
            (std::vector<std::string>{"\u180e\u180e"}));
  EXPECT_EQ(pretokenize(PreTokenizer::gpt2, "x\u0085\u0085y"),
            (std::vector<std::string>{"x", "\u0085", "\u0085", "y"}));
}

TEST(PreTokenizer, DigitsAndMarks) {
  EXPECT_EQ(pretokenize(PreTokenizer::smollm, "ab 123"),
            (std::vector<std::string>{"ab", " ", "1", "2", "3"}));
  EXPECT_EQ(pretokenize(PreTokenizer::llama3, "1234567"),
            (std::vector<std::string>{"123", "456", "7"}));
  EXPECT_EQ(pretokenize(PreTokenizer::qwen2, "12"), (std::vector<std::string>{"1", "2"}));
  // qwen35 keeps combining marks inside words.
  EXPECT_EQ(pretokenize(PreTokenizer::qwen35, "e\u0301t\u00e9"),
            (std::vector<std::string>{"e\u0301t\u00e9"}));
  EXPECT_EQ(pretokenize(PreTokenizer::qwen2, "e\u0301t"),
            (std::vector<std::string>{"e", "\u0301t"}));
}

TEST(PreTokenizer, EmptyAndInvalid) {
  EXPECT_TRUE(pretokenize(PreTokenizer::qwen35, "").empty());
  EXPECT_THROW(pretokenize(PreTokenizer::gpt2, std::string("\xC0\x80")), Error);
}

TEST(PreTokenizer, Names) {
  EXPECT_EQ(pretokenizer_from_gguf_name("smollm"), PreTokenizer::smollm);
  EXPECT_EQ(pretokenizer_from_gguf_name("llama-bpe"), PreTokenizer::llama3);
  EXPECT_EQ(pretokenizer_from_gguf_name("qwen35"), PreTokenizer::qwen35);
  EXPECT_FALSE(pretokenizer_from_gguf_name("deepseek-llm").has_value());
  EXPECT_EQ(pretokenizer_from_regex(pretokenizer_regex(PreTokenizer::qwen2)), PreTokenizer::qwen2);
  EXPECT_FALSE(pretokenizer_from_regex("\\w+").has_value());
}

}  // namespace
}  // namespace spf::test
