// The natural-language material of the synthetic tasks, read from files that Debian packages
// install:
//  - word list: /usr/share/dict/words (package wamerican), filtered to lowercase ASCII alphabetic
//    words of at least 3 letters, deduplicated and sorted. RULER draws adjective/noun/verb lists
//    from the wonderwords package; those parts of speech are not available here, so keys are
//    "word-word" pairs of this list (docs/eval.md).
//  - essay haystack: English prose that stands in for RULER's Paul Graham essays. By default the
//    license texts in /usr/share/common-licenses (package base-files, which every Debian system
//    has); any plain-text files can be named instead. The texts are concatenated in the given
//    order.
// Both are loaded once per path set and cached for the life of the process (thread-safe).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace spf::eval {

struct TextSources {
  std::string words_path = "/usr/share/dict/words";
  std::vector<std::string> essay_paths = default_essay_paths();

  static std::vector<std::string> default_essay_paths();
};

// Throws spf::Error naming the file and the package to install when it is missing or empty.
const std::vector<std::string>& load_word_list(const std::string& path);

// Whitespace-collapsed words of the essay text, each flagged when a sentence ends after it. The
// last word always ends a sentence, so that the text can be repeated.
struct EssayText {
  std::vector<std::string> words;
  std::vector<uint8_t> ends_sentence;
};
const EssayText& load_essay(const std::vector<std::string>& paths);

// The simple sentence splitter: a sentence ends after a word ending in '.', '!' or '?' (closing
// quotes/brackets allowed after it) when the next word starts with an uppercase letter, a digit, a
// quote or an opening bracket, unless the word is a known abbreviation ("e.g.", "Mr.", "etc.",
// ...).
std::vector<uint8_t> sentence_ends(const std::vector<std::string>& words);
std::vector<std::string> split_words(std::string_view text);

}  // namespace spf::eval
