#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "eval/text_sources.h"
#include "test_util.h"

namespace spf::eval {
namespace {

TEST(EvalText, WordListIsFilteredSortedAndDeduplicated) {
  spf::test::TempDir dir;
  std::string text;
  for (int i = 0; i < 1100; ++i) {  // enough entries to pass the sanity floor
    std::string w = "w";
    for (int k = i; k > 0; k /= 26) w.push_back(char('a' + k % 26));
    text += w + "\n";
  }
  text += "Zebra\nzebra\nzebra\nab\nzoo's\ncafé\nmixed1\napple\r\n";
  write_file_atomic(dir.file("words"), text);
  const auto& words = load_word_list(dir.file("words"));
  EXPECT_TRUE(std::is_sorted(words.begin(), words.end()));
  EXPECT_EQ(std::adjacent_find(words.begin(), words.end()), words.end());
  EXPECT_EQ(std::count(words.begin(), words.end(), "zebra"), 1);
  EXPECT_EQ(std::count(words.begin(), words.end(), "apple"), 1);
  for (const char* bad : {"Zebra", "ab", "zoo's", "café", "mixed1"})
    EXPECT_EQ(std::count(words.begin(), words.end(), bad), 0) << bad;
}

TEST(EvalText, MissingWordListNamesThePackage) {
  try {
    load_word_list("/nonexistent/dict/words");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("wamerican"), std::string::npos);
  }
}

TEST(EvalText, DebianWordListLoads) {
  if (!std::filesystem::exists("/usr/share/dict/words")) GTEST_SKIP() << "wamerican not installed";
  const auto& words = load_word_list("/usr/share/dict/words");
  EXPECT_GT(words.size(), 50000u);
}

TEST(EvalText, SentenceSplitter) {
  const auto words = split_words(
      "Hello there.  It is 5 p.m. now! Is it? \"Yes.\" Dr. Smith said e.g. this. 3. Next");
  const auto ends = sentence_ends(words);
  std::vector<std::string> sentences;
  std::string cur;
  for (size_t i = 0; i < words.size(); ++i) {
    cur += (cur.empty() ? "" : " ") + words[i];
    if (ends[i]) sentences.push_back(cur), cur.clear();
  }
  const std::vector<std::string> want = {"Hello there.", "It is 5 p.m. now!",         "Is it?",
                                         "\"Yes.\"",     "Dr. Smith said e.g. this.", "3.",
                                         "Next"};
  EXPECT_EQ(sentences, want);
}

TEST(EvalText, DefaultEssayLoads) {
  const TextSources src;
  bool any = false;
  for (const auto& p : src.essay_paths) any |= std::filesystem::exists(p);
  if (!any) GTEST_SKIP() << "no /usr/share/common-licenses";
  const EssayText& e = load_essay(src.essay_paths);
  EXPECT_GT(e.words.size(), 5000u);
  EXPECT_EQ(e.ends_sentence.back(), 1);
  EXPECT_GT(std::count(e.ends_sentence.begin(), e.ends_sentence.end(), 1), 200);
}

TEST(EvalText, MissingEssayFileIsAnError) {
  EXPECT_THROW(load_essay({"/nonexistent/essay.txt"}), Error);
}

}  // namespace
}  // namespace spf::eval
