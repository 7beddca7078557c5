#include "tokenizer/utf8.h"

namespace spf::utf8 {
namespace {

bool is_cont(unsigned char c) {
  return (c & 0xC0) == 0x80;
}

// Sequence length announced by a lead byte, and the allowed range of the second byte (which is
// where overlongs, surrogates and values above U+10FFFF are excluded).
struct Lead {
  size_t len;
  unsigned char lo, hi;
};

Lead lead_info(unsigned char c) {
  if (c < 0x80) return {1, 0, 0};
  if (c >= 0xC2 && c <= 0xDF) return {2, 0x80, 0xBF};
  if (c == 0xE0) return {3, 0xA0, 0xBF};
  if (c == 0xED) return {3, 0x80, 0x9F};
  if (c >= 0xE1 && c <= 0xEF) return {3, 0x80, 0xBF};
  if (c == 0xF0) return {4, 0x90, 0xBF};
  if (c >= 0xF1 && c <= 0xF3) return {4, 0x80, 0xBF};
  if (c == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};
}

// Number of bytes at s[i] that form a valid prefix of some sequence (the "maximal subpart"), and
// whether that prefix is a whole sequence.
size_t maximal_prefix(std::string_view s, size_t i, bool& whole) {
  const auto c = static_cast<unsigned char>(s[i]);
  const Lead l = lead_info(c);
  whole = false;
  if (l.len == 0) return 1;
  if (l.len == 1) {
    whole = true;
    return 1;
  }
  size_t n = 1;
  for (; n < l.len && i + n < s.size(); ++n) {
    const auto b = static_cast<unsigned char>(s[i + n]);
    if (n == 1 ? (b < l.lo || b > l.hi) : !is_cont(b)) break;
  }
  whole = n == l.len;
  return n;
}

}  // namespace

size_t valid_seq_len(std::string_view s, size_t i) {
  bool whole = false;
  const size_t n = maximal_prefix(s, i, whole);
  return whole ? n : 0;
}

size_t first_invalid(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t n = valid_seq_len(s, i);
    if (n == 0) return i;
    i += n;
  }
  return s.size();
}

uint32_t next(std::string_view s, size_t& i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    ++i;
    return c;
  }
  const size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
  uint32_t cp = c & (0x7F >> n);
  for (size_t k = 1; k < n && i + k < s.size(); ++k)
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += n;
  return cp;
}

void append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    bool whole = false;
    const size_t n = maximal_prefix(s, i, whole);
    if (whole) {
      out.append(s.substr(i, n));
    } else {
      out += "\xEF\xBF\xBD";
    }
    i += n;
  }
  return out;
}

size_t complete_prefix(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    bool whole = false;
    const size_t n = maximal_prefix(s, i, whole);
    // A valid but unfinished prefix that runs to the very end may still be completed.
    if (!whole && i + n == s.size() && lead_info(static_cast<unsigned char>(s[i])).len > 1)
      return i;
    i += n;
  }
  return s.size();
}

}  // namespace spf::utf8
