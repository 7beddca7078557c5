#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "core/error.h"
#include "eval/task_generator.h"
#include "eval/tasks/registry.h"
#include "eval_test_helpers.h"

namespace spf::eval {
namespace {

using test::bytes_format;
using test::bytes_over_4;

// Character-class checks (std::regex trips GCC 12 -Wmaybe-uninitialized under the sanitizer build).
bool all_of(const std::string& s, size_t n, int (*pred)(int)) {
  return s.size() == n &&
         std::all_of(s.begin(), s.end(), [&](char c) { return pred((unsigned char)c) != 0; });
}
int is_lower_hex(int c) {
  return std::isdigit(c) || (c >= 'a' && c <= 'f');
}
int is_upper(int c) {
  return c >= 'A' && c <= 'Z';
}
int is_lower(int c) {
  return c >= 'a' && c <= 'z';
}

bool is_uuid4(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < 36; ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !is_lower_hex((unsigned char)s[i])) return false;
  }
  return s[14] == '4' && std::string("89ab").find(s[19]) != std::string::npos;
}

bool is_word_pair(const std::string& s) {
  const size_t d = s.find('-');
  return d != std::string::npos && d > 0 && all_of(s.substr(0, d), d, is_lower) &&
         all_of(s.substr(d + 1), s.size() - d - 1, is_lower) && d + 1 < s.size();
}

// True when `text` is nothing but needle sentences "One of the special magic ... is: V." and
// spaces.
bool only_needles(const std::string& text) {
  size_t p = 0;
  while (p < text.size()) {
    if (text[p] == ' ') {
      ++p;
      continue;
    }
    if (text.compare(p, 25, "One of the special magic ") != 0) return false;
    const size_t is = text.find(" is: ", p);
    if (is == std::string::npos) return false;
    size_t e = is + 5;
    while (e < text.size() && text[e] != '.') ++e;
    if (e == text.size()) return false;
    p = e + 1;
  }
  return true;
}

std::vector<std::string> all_task_names() {
  std::vector<std::string> v;
  for (const TaskInfo& t : builtin_tasks()) v.push_back(t.name);
  return v;
}

// count(input) + max_new_tokens within [98%, 100%] of the target, and prompt_tokens is that count.
void expect_length(const Sample& s, const TokenCounter& count, int64_t target) {
  const int64_t total = count(s.input) + s.max_new_tokens;
  EXPECT_EQ(s.prompt_tokens, count(s.input)) << s.id;
  EXPECT_LE(total, target) << s.id;
  EXPECT_GE(double(total), 0.98 * double(target)) << s.id << " units " << s.haystack_units;
}

void expect_gold_at_offsets(const Sample& s) {
  ASSERT_EQ(s.outputs.size(), s.answer_offsets.size()) << s.id;
  ASSERT_FALSE(s.outputs.empty());
  for (size_t i = 0; i < s.outputs.size(); ++i) {
    const int64_t at = s.answer_offsets[i];
    ASSERT_GE(at, 0) << s.id;
    ASSERT_LE(at + int64_t(s.outputs[i].size()), int64_t(s.input.size())) << s.id;
    EXPECT_EQ(s.input.substr(size_t(at), s.outputs[i].size()), s.outputs[i]) << s.id;
  }
  ASSERT_GE(s.input.size(), s.answer_prefix.size());
  EXPECT_EQ(s.input.substr(s.input.size() - s.answer_prefix.size()), s.answer_prefix) << s.id;
}

// The keys named in a NIAH answer prefix " The special magic T for QUERY mentioned in ...".
std::vector<std::string> niah_query_keys(const Sample& s) {
  const std::string& p = s.answer_prefix;
  const size_t a = p.find(" for ") + 5, b = p.find(" mentioned in the provided text");
  std::string q = p.substr(a, b - a);
  std::vector<std::string> keys;
  size_t i = 0;
  while (i <= q.size()) {
    size_t j = q.find(", ", i);
    if (j == std::string::npos) j = q.size();
    std::string k = q.substr(i, j - i);
    if (k.rfind("and ", 0) == 0) k = k.substr(4);
    keys.push_back(k);
    i = j + 2;
  }
  return keys;
}

// The key of the needle whose value sits at `at`.
std::string needle_key_at(const Sample& s, int64_t at) {
  const size_t is = s.input.rfind(" is: ", size_t(at));
  const size_t f = s.input.rfind(" for ", is);
  EXPECT_EQ(is + 5, size_t(at));
  return s.input.substr(f + 5, is - f - 5);
}

class EveryTask : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryTask, FitsTargetAndPlacesGoldAnswers) {
  TaskGenerator gen(bytes_format());
  for (const int64_t target : {4096, 8192}) {
    for (int64_t i = 0; i < 3; ++i) {
      const Sample s = gen.generate(GetParam(), target, i, 42);
      EXPECT_EQ(s.task, GetParam());
      EXPECT_EQ(s.index, i);
      EXPECT_EQ(s.target_tokens, target);
      expect_length(s, bytes_over_4, target);
      expect_gold_at_offsets(s);
      EXPECT_EQ(s.input.find("<|im_start|>system"), 0u);
    }
  }
}

TEST_P(EveryTask, DeterministicPerSeedAndIndex) {
  TaskGenerator a(bytes_format()), b(bytes_format());
  const Sample s1 = a.generate(GetParam(), 4096, 1, 42);
  const Sample s2 = b.generate(GetParam(), 4096, 1, 42);
  EXPECT_EQ(s1.input, s2.input);
  EXPECT_EQ(s1.outputs, s2.outputs);
  EXPECT_EQ(s1.answer_offsets, s2.answer_offsets);
  EXPECT_NE(a.generate(GetParam(), 4096, 1, 43).input, s1.input);
  EXPECT_NE(a.generate(GetParam(), 4096, 2, 42).input, s1.input);
}

TEST_P(EveryTask, SampleDoesNotDependOnGenerationOrder) {
  TaskGenerator fresh(bytes_format()), warm(bytes_format());
  const Sample direct = fresh.generate(GetParam(), 8192, 3, 7);
  for (int64_t i = 0; i < 3; ++i) warm.generate(GetParam(), 8192, i, 7);
  EXPECT_EQ(warm.generate(GetParam(), 8192, 3, 7).input, direct.input);
  EXPECT_EQ(warm.generate(GetParam(), 8192, 0, 7).input,
            fresh.generate(GetParam(), 8192, 0, 7).input);
}

TEST_P(EveryTask, FitsWithAWordCounter) {
  const PromptFormat f{test::word_count, test::chatml};
  TaskGenerator gen(f);
  const Sample s = gen.generate(GetParam(), 4096, 0, 42);
  expect_length(s, test::word_count, 4096);
  expect_gold_at_offsets(s);
}

INSTANTIATE_TEST_SUITE_P(Eval, EveryTask, ::testing::ValuesIn(all_task_names()));

TEST(EvalTasks, NiahQueriesNameTheKeysOfTheGoldNeedles) {
  TaskGenerator gen(bytes_format());
  for (const TaskInfo& t : builtin_tasks()) {
    if (t.name.rfind("niah_", 0) != 0) continue;
    for (int64_t i = 0; i < 4; ++i) {
      const Sample s = gen.generate(t.name, 4096, i, 11);
      const auto keys = niah_query_keys(s);
      const size_t want_keys = t.name == "niah_multiquery" ? 4 : 1;
      ASSERT_EQ(keys.size(), want_keys) << s.id << ": " << s.answer_prefix;
      const size_t want_outputs =
          t.name == "niah_multiquery" || t.name == "niah_multivalue" ? 4 : 1;
      ASSERT_EQ(s.outputs.size(), want_outputs) << s.id;
      for (size_t o = 0; o < s.outputs.size(); ++o) {
        const std::string key = needle_key_at(s, s.answer_offsets[o]);
        EXPECT_NE(std::find(keys.begin(), keys.end(), key), keys.end()) << s.id << " key " << key;
        // The question names the same key(s).
        const std::string question = s.input.substr(s.input.rfind("\nWhat "));
        EXPECT_NE(question.find(key), std::string::npos) << s.id;
      }
      if (t.name == "niah_multiquery") {  // one value per queried key, each key once
        for (size_t o = 0; o < 4; ++o) EXPECT_EQ(needle_key_at(s, s.answer_offsets[o]), keys[o]);
      }
      // Each gold value occurs exactly once in the prompt.
      for (const std::string& out : s.outputs)
        EXPECT_EQ(s.input.find(out, s.input.find(out) + 1), std::string::npos) << s.id;
    }
  }
}

TEST(EvalTasks, NiahTemplatesSingularAndPlural) {
  TaskGenerator gen(bytes_format());
  const Sample one = gen.generate("niah_single_1", 4096, 0, 1);
  EXPECT_NE(
      one.input.find("A special magic number is hidden within the following text. Make sure to "
                     "memorize it. I will quiz you about the number afterwards.\n"),
      std::string::npos);
  EXPECT_NE(one.input.find("\nWhat is the special magic number for "), std::string::npos);
  EXPECT_EQ(one.answer_prefix.rfind(" The special magic number for ", 0), 0u);
  EXPECT_TRUE(one.answer_prefix.ends_with(" mentioned in the provided text is"));
  EXPECT_NE(one.input.find("One of the special magic numbers for "), std::string::npos);
  EXPECT_NE(one.input.find(
                "The grass is green. The sky is blue. The sun is yellow. Here we go. There and "
                "back again.\n"),
            std::string::npos);

  const Sample many = gen.generate("niah_multivalue", 4096, 0, 1);
  EXPECT_NE(many.input.find("Some special magic numbers are hidden within the following text."),
            std::string::npos);
  EXPECT_NE(many.input.find("\nWhat are all the special magic numbers for "), std::string::npos);
  EXPECT_TRUE(many.answer_prefix.ends_with(" mentioned in the provided text are"));

  const Sample uuid = gen.generate("niah_single_3", 4096, 0, 1);
  EXPECT_NE(uuid.input.find("A special magic uuid is hidden"), std::string::npos);
  EXPECT_TRUE(is_uuid4(uuid.outputs[0])) << uuid.outputs[0];
  const Sample mk3 = gen.generate("niah_multikey_3", 4096, 0, 1);
  EXPECT_TRUE(is_uuid4(niah_query_keys(mk3)[0]));
  EXPECT_TRUE(is_uuid4(mk3.outputs[0]));
  const Sample num = gen.generate("niah_multikey_2", 4096, 0, 1);
  EXPECT_TRUE(all_of(num.outputs[0], 7, [](int c) { return int(std::isdigit(c)); }) &&
              num.outputs[0][0] != '0');
  EXPECT_TRUE(is_word_pair(niah_query_keys(num)[0])) << niah_query_keys(num)[0];
  // Distractor haystack: many needle lines, only one with the queried key.
  int64_t lines = 0;
  for (size_t p = mk3.input.find("One of the special magic uuids for "); p != std::string::npos;
       p = mk3.input.find("One of the special magic uuids for ", p + 1))
    ++lines;
  EXPECT_GT(lines, 20);
}

TEST(EvalTasks, EssayNeedlesSitAtSentenceBoundaries) {
  TaskGenerator gen(bytes_format());
  for (int64_t i = 0; i < 5; ++i) {
    const Sample s = gen.generate("niah_multikey_1", 8192, i, 3);
    const size_t ctx = s.input.find("afterwards.\n") + 12;
    for (size_t p = s.input.find("One of the special magic"); p != std::string::npos;
         p = s.input.find("One of the special magic", p + 1)) {
      if (p == ctx) continue;  // at depth 0
      // At depth 100 the needles follow the last (possibly cut) sentence.
      if (only_needles(s.input.substr(p, s.input.find("\nWhat", p) - p))) continue;
      ASSERT_EQ(s.input[p - 1], ' ');
      const char before = s.input[p - 2];
      EXPECT_TRUE(before == '.' || before == '!' || before == '?' || before == '"' ||
                  before == ')' || before == '\'' || before == ']')
          << "needle after '" << s.input.substr(p - 30, 30) << "'";
    }
  }
}

TEST(EvalTasks, VariableTrackingChainAndOneShot) {
  TaskGenerator gen(bytes_format());
  const Sample s = gen.generate("vt", 4096, 2, 42);
  ASSERT_EQ(s.outputs.size(), 5u);
  const size_t v = s.answer_prefix.rfind("assigned the value ");
  ASSERT_NE(v, std::string::npos) << s.answer_prefix;
  const std::string value = s.answer_prefix.substr(v + 19, 5);
  EXPECT_TRUE(all_of(value, 5, [](int c) { return int(std::isdigit(c)); })) << value;
  EXPECT_EQ(s.answer_prefix.substr(v + 24), ", they are: ");
  EXPECT_TRUE(
      s.answer_prefix.rfind(" Answer: According to the chain(s) of variable assignment in the "
                            "text above, 5 variables are assigned the value ",
                            0) == 0);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_TRUE(all_of(s.outputs[i], 5, is_upper)) << s.outputs[i];
    const size_t at = size_t(s.answer_offsets[i]);
    const size_t eol = s.input.find('\n', at);
    const std::string line = s.input.substr(at - 4, eol - at + 4);
    if (i == 0)
      EXPECT_EQ(line, "VAR " + s.outputs[0] + " = " + value);
    else
      EXPECT_EQ(line, "VAR " + s.outputs[i] + " = VAR " + s.outputs[i - 1] + " ");
  }
  // The one-shot example comes first, inside the user turn, with its answers; then the task.
  const size_t first = s.input.find("Memorize and track the chain(s)");
  const size_t second = s.input.find("Memorize and track the chain(s)", first + 1);
  ASSERT_NE(second, std::string::npos);
  EXPECT_LT(first, s.input.find("<|im_start|>assistant"));
  EXPECT_LT(s.answer_offsets[0], int64_t(s.input.size()));
  EXPECT_GT(s.answer_offsets[0], int64_t(second));
  EXPECT_EQ(s.input.substr(second - 2, 2), "\n\n");
  const std::string example = s.input.substr(first, second - first);
  const size_t answers = example.find("they are:  ");
  ASSERT_NE(answers, std::string::npos);
  const std::string names = example.substr(answers + 11);
  ASSERT_EQ(names.size(), 5 * 4u + 1);  // "ABC DEF GHI JKL MNO\n\n"
  for (size_t k = 0; k < 5; ++k) EXPECT_TRUE(all_of(names.substr(k * 4, 3), 3, is_upper)) << names;
  EXPECT_EQ(names.substr(19), "\n\n");
}

// Entries "k. word" of the numbered list in [from, to).
std::map<std::string, int> list_counts(const std::string& text) {
  std::map<std::string, int> counts;
  std::istringstream in(text);
  std::string tok;
  int64_t expect = 1;
  while (in >> tok) {
    EXPECT_EQ(tok, std::to_string(expect) + ".");
    ++expect;
    in >> tok;
    ++counts[tok];
  }
  return counts;
}

TEST(EvalTasks, CommonWordsCounts) {
  TaskGenerator gen(bytes_format());
  for (const auto& [target, common, rare] :
       std::vector<std::tuple<int64_t, int, int>>{{8192, 30, 3}, {3000, 6, 1}}) {
    const Sample s = gen.generate("cwe", target, 0, 42);
    expect_length(s, bytes_over_4, target);
    const std::string head = "Memorize the ones that appear most often.\n";
    const size_t a = s.input.rfind(head) + head.size();
    const size_t b = s.input.rfind("\nQuestion: What are the 10 most common words");
    const auto counts = list_counts(s.input.substr(a, b - a));
    ASSERT_EQ(s.outputs.size(), 10u);
    for (const std::string& w : s.outputs) EXPECT_EQ(counts.at(w), common) << w;
    for (const auto& [w, c] : counts) {
      if (std::find(s.outputs.begin(), s.outputs.end(), w) == s.outputs.end()) {
        EXPECT_EQ(c, rare) << w;
      }
    }
    // Few-shot example first, with its answer, then the real prompt.
    EXPECT_LT(s.input.find(head), a - head.size());
    const size_t ans = s.input.find("most often in the list are: 1. ");
    const size_t next = s.input.find("\n<|im_start|>system", ans);
    ASSERT_NE(ans, std::string::npos);
    ASSERT_NE(next, std::string::npos);
    EXPECT_NE(s.input.substr(ans, next - ans).find(" 10. "), std::string::npos);
    EXPECT_LT(next, a);
  }
}

TEST(EvalTasks, FrequentWordsAnswersAreRanksTwoToFour) {
  TaskGenerator gen(bytes_format());
  const Sample s = gen.generate("fwe", 8192, 1, 42);
  const std::string head = "Find the three most frequently appeared coded words. ";
  const size_t a = s.input.find(head) + head.size();
  const size_t b = s.input.find("\nQuestion: Do not provide any explanation.");
  std::map<std::string, int> counts;
  std::istringstream in(s.input.substr(a, b - a));
  std::string w;
  while (in >> w) ++counts[w];
  std::vector<std::pair<int, std::string>> ranked;
  for (const auto& [word, c] : counts) ranked.emplace_back(-c, word);
  std::sort(ranked.begin(), ranked.end());
  EXPECT_EQ(ranked[0].second, "...");
  ASSERT_EQ(s.outputs.size(), 3u);
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(ranked[size_t(k + 1)].second, s.outputs[size_t(k)]);
    EXPECT_LT(ranked[size_t(k + 1)].first, ranked[size_t(k + 2)].first);  // strictly more frequent
  }
}

TEST(EvalTasks, LongTargetsFitToo) {
  TaskGenerator gen(bytes_format());
  for (const char* task : {"niah_single_2", "niah_multikey_3", "cwe", "fwe", "vt"}) {
    const Sample s = gen.generate(task, 32768, 1, 42);
    expect_length(s, bytes_over_4, 32768);
    expect_gold_at_offsets(s);
  }
}

TEST(EvalTasks, FewTokenCountsPerSample) {
  TaskGenerator gen(bytes_format());
  gen.generate("niah_single_2", 16384, 0, 42);
  const int64_t after_calibration = gen.token_count_calls();
  EXPECT_LE(after_calibration, 12);
  for (int64_t i = 1; i <= 20; ++i) gen.generate("niah_single_2", 16384, i, 42);
  EXPECT_LE(gen.token_count_calls() - after_calibration, 20 * 5);
}

TEST(EvalTasks, DegenerateCounterDoesNotRunAway) {
  TaskGenerator gen(PromptFormat{[](const std::string&) { return int64_t(0); }, {}});
  const Sample s = gen.generate("niah_single_2", 4096, 1, 42);
  EXPECT_LE(s.input.size(), 64u * 4096u + 4096u);
  EXPECT_GT(s.haystack_units, 1000);
}

TEST(EvalTasks, NoWrapperMeansBareUserText) {
  TaskGenerator gen(PromptFormat{bytes_over_4, {}});
  const Sample s = gen.generate("niah_single_1", 2048, 0, 42);
  EXPECT_EQ(s.input.rfind("A special magic number", 0), 0u);
  expect_gold_at_offsets(s);
}

TEST(EvalTasks, Errors) {
  TaskGenerator gen(bytes_format());
  try {
    gen.generate("niah_single_9", 4096, 0, 1);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown task \"niah_single_9\""), std::string::npos);
  }
  try {
    gen.generate("niah_single_1", 200, 0, 1);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("too small"), std::string::npos) << e.what();
  }
  TaskGenerator hides(PromptFormat{
      bytes_over_4, [](const std::string& u) { return "[" + std::to_string(u.size()) + "]"; }});
  EXPECT_THROW(hides.generate("niah_single_1", 4096, 0, 1), Error);
  EXPECT_THROW(TaskGenerator(PromptFormat{}), Error);

  TextSources missing;
  missing.words_path = "/nonexistent/words";
  TaskGenerator no_words(bytes_format(), missing);
  try {
    no_words.generate("niah_single_1", 4096, 0, 1);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("wamerican"), std::string::npos) << e.what();
  }
  // Tasks that need no word list still work without it.
  EXPECT_NO_THROW(no_words.generate("niah_multikey_3", 4096, 0, 1));
  EXPECT_NO_THROW(no_words.generate("fwe", 4096, 0, 1));
}

}  // namespace
}  // namespace spf::eval
