#include "tokenizer/added_tokens.h"

#include <algorithm>

#include "tokenizer/utf8.h"

namespace spf {

bool is_white_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

namespace {

// Byte length of the white space run that ends at text[end) (scanning backwards over whole code
// points).
size_t white_before(std::string_view text, size_t begin, size_t end) {
  size_t i = end;
  while (i > begin) {
    size_t s = i - 1;
    while (s > begin && (static_cast<unsigned char>(text[s]) & 0xC0) == 0x80) --s;
    size_t t = s;
    if (!is_white_space(utf8::next(text, t))) break;
    i = s;
  }
  return end - i;
}

size_t white_after(std::string_view text, size_t begin) {
  size_t i = begin;
  while (i < text.size()) {
    size_t t = i;
    if (!is_white_space(utf8::next(text, t))) break;
    i = t;
  }
  return i - begin;
}

}  // namespace

void AddedTokenMatcher::add(const AddedToken& tok) {
  if (tok.content.empty()) return;  // can never be matched
  for (const AddedToken& t : tokens_) {
    if (t.content == tok.content) return;  // first definition wins
  }
  tokens_.push_back(tok);
  auto& bucket = by_first_byte_[static_cast<unsigned char>(tok.content[0])];
  bucket.push_back(static_cast<uint32_t>(tokens_.size() - 1));
  std::stable_sort(bucket.begin(), bucket.end(), [&](uint32_t a, uint32_t b) {
    return tokens_[a].content.size() > tokens_[b].content.size();
  });
}

void AddedTokenMatcher::split(std::string_view text, bool parse_special,
                              std::vector<Segment>& out) const {
  size_t plain = 0;  // start of the pending plain-text segment
  size_t i = 0;
  while (i < text.size()) {
    const AddedToken* hit = nullptr;
    for (uint32_t k : by_first_byte_[static_cast<unsigned char>(text[i])]) {
      const AddedToken& t = tokens_[k];
      if (t.special && !parse_special) continue;
      if (text.compare(i, t.content.size(), t.content) == 0) {
        hit = &t;
        break;
      }
    }
    if (hit == nullptr) {
      ++i;
      continue;
    }
    size_t plain_end = i;
    if (hit->lstrip) plain_end -= white_before(text, plain, i);
    if (plain_end > plain) out.push_back({text.substr(plain, plain_end - plain), -1});
    out.push_back({{}, hit->id});
    i += hit->content.size();
    if (hit->rstrip) i += white_after(text, i);
    plain = i;
  }
  if (plain < text.size()) out.push_back({text.substr(plain), -1});
}

}  // namespace spf
