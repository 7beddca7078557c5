#include "eval/text_sources.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <map>
#include <mutex>

#include "core/atomic_file.h"
#include "core/error.h"

namespace spf::eval {

std::vector<std::string> TextSources::default_essay_paths() {
  // Ordered from the most prose-like text; all ship with base-files.
  const std::string d = "/usr/share/common-licenses/";
  const std::vector<std::string> all = {d + "GPL-3",   d + "GFDL-1.3",   d + "LGPL-2.1",
                                        d + "MPL-2.0", d + "Apache-2.0", d + "CC0-1.0",
                                        d + "Artistic"};
  // Older base-files lack some of these; use what is there (and report the full list if none is).
  std::vector<std::string> present;
  for (const std::string& p : all)
    if (std::filesystem::is_regular_file(p)) present.push_back(p);
  return present.empty() ? all : present;
}

namespace {

std::mutex g_mu;

bool is_word_char_ok(const std::string& w) {
  if (w.size() < 3) return false;
  return std::all_of(w.begin(), w.end(), [](char c) { return c >= 'a' && c <= 'z'; });
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

}  // namespace

const std::vector<std::string>& load_word_list(const std::string& path) {
  std::lock_guard lock(g_mu);
  static std::map<std::string, std::vector<std::string>> cache;
  if (auto it = cache.find(path); it != cache.end()) return it->second;
  SPF_CHECK(std::filesystem::is_regular_file(path), "word list ", path,
            " not found: install the Debian package wamerican (apt-get install wamerican)");
  const std::string text = read_file(path);
  std::vector<std::string> words;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = text.find('\n', i);
    if (j == std::string::npos) j = text.size();
    std::string w = text.substr(i, j - i);
    if (!w.empty() && w.back() == '\r') w.pop_back();
    if (is_word_char_ok(w)) words.push_back(std::move(w));
    i = j + 1;
  }
  std::sort(words.begin(), words.end());
  words.erase(std::unique(words.begin(), words.end()), words.end());
  SPF_CHECK(words.size() >= 1000, "word list ", path, " has only ", words.size(),
            " lowercase alphabetic words of 3+ letters (expected the wamerican list)");
  return cache.emplace(path, std::move(words)).first->second;
}

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_space(text[i])) ++i;
    size_t j = i;
    while (j < text.size() && !is_space(text[j])) ++j;
    if (j > i) words.emplace_back(text.substr(i, j - i));
    i = j;
  }
  return words;
}

namespace {

bool is_abbreviation(std::string_view w) {
  static constexpr std::array<std::string_view, 17> kAbbrev = {
      "e.g.", "i.e.", "etc.", "vs.",  "mr.", "mrs.", "ms.",  "dr.",    "st.",
      "no.",  "cf.",  "inc.", "ltd.", "jr.", "sr.",  "u.s.", "approx."};
  std::string lw(w);
  for (char& c : lw)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  if (std::find(kAbbrev.begin(), kAbbrev.end(), lw) != kAbbrev.end()) return true;
  // Single initials such as "J." are names, not sentence ends.
  return w.size() == 2 && w[0] >= 'A' && w[0] <= 'Z' && w[1] == '.';
}

bool ends_with_terminator(std::string_view w) {
  while (!w.empty() && (w.back() == '"' || w.back() == '\'' || w.back() == ')' || w.back() == ']'))
    w.remove_suffix(1);
  return !w.empty() && (w.back() == '.' || w.back() == '!' || w.back() == '?');
}

bool starts_sentence(std::string_view w) {
  if (w.empty()) return false;
  const char c = w[0];
  return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '"' || c == '\'' || c == '(' ||
         c == '[';
}

}  // namespace

std::vector<uint8_t> sentence_ends(const std::vector<std::string>& words) {
  std::vector<uint8_t> ends(words.size(), 0);
  for (size_t i = 0; i + 1 < words.size(); ++i)
    ends[i] = ends_with_terminator(words[i]) && !is_abbreviation(words[i]) &&
              starts_sentence(words[i + 1]);
  if (!words.empty()) ends.back() = 1;
  return ends;
}

const EssayText& load_essay(const std::vector<std::string>& paths) {
  std::lock_guard lock(g_mu);
  static std::map<std::vector<std::string>, EssayText> cache;
  if (auto it = cache.find(paths); it != cache.end()) return it->second;
  SPF_CHECK(!paths.empty(), "no essay haystack files given");
  std::string text;
  for (const std::string& p : paths) {
    SPF_CHECK(std::filesystem::is_regular_file(p), "essay haystack file ", p,
              " not found (the default texts come with the Debian package base-files; see "
              "docs/eval.md)");
    text += read_file(p);
    text += '\n';
  }
  EssayText e;
  e.words = split_words(text);
  SPF_CHECK(e.words.size() >= 1000, "essay haystack ", paths.front(),
            (paths.size() > 1 ? " ..." : ""), " has only ", e.words.size(),
            " words (need at least 1000)");
  e.ends_sentence = sentence_ends(e.words);
  return cache.emplace(paths, std::move(e)).first->second;
}

}  // namespace spf::eval
