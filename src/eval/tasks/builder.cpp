#include "eval/tasks/builder.h"

#include <algorithm>

#include "core/error.h"

namespace spf::eval {

Wrapped wrap_user(const ChatWrapper& wrap, const std::string& user) {
  if (!wrap) return {user, 0};
  Wrapped w{wrap(user), 0};
  const size_t at = w.text.find(user);
  SPF_CHECK(at != std::string::npos,
            "the chat wrapper did not embed the user text verbatim (answer positions need it)");
  w.user_offset = int64_t(at);
  return w;
}

std::string random_word_pair(Rng& rng, const std::vector<std::string>& words) {
  const std::string& a = words[size_t(rng.below(words.size()))];
  const std::string& b = words[size_t(rng.below(words.size()))];
  return a + "-" + b;
}

std::string random_uuid4(Rng& rng) {
  uint64_t hi = rng.next(), lo = rng.next();
  hi = (hi & ~0xf000ULL) | 0x4000ULL;              // version 4
  lo = (lo & ~(0xc0ULL << 56)) | (0x80ULL << 56);  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(36);
  for (int i = 0; i < 32; ++i) {
    const uint64_t word = i < 16 ? hi : lo;
    const int shift = 60 - 4 * (i % 16);
    s.push_back(kHex[(word >> shift) & 0xf]);
    if (i == 7 || i == 11 || i == 15 || i == 19) s.push_back('-');
  }
  return s;
}

std::string random_number7(Rng& rng) {
  return std::to_string(rng.range(1000000, 9999999));
}

std::string join_query(const std::vector<std::string>& keys) {
  SPF_CHECK(!keys.empty(), "join_query: no keys");
  if (keys.size() == 1) return keys[0];
  std::string s;
  for (size_t i = 0; i + 1 < keys.size(); ++i) s += keys[i] + ", ";
  return s + "and " + keys.back();
}

Lines place_lines(const std::vector<std::string>& needles, int64_t n_fill,
                  const std::function<const std::string&(int64_t)>& filler,
                  uint64_t position_seed) {
  const int64_t m = int64_t(needles.size());
  const int64_t total = n_fill + m;
  Rng rng(position_seed);
  std::vector<int64_t> slots = rng.distinct(total, m);
  std::sort(slots.begin(), slots.end());
  Lines out;
  size_t bytes = 0;
  for (const auto& s : needles) bytes += s.size() + 1;
  if (n_fill > 0) bytes += size_t(n_fill) * (filler(0).size() + 1);
  out.text.reserve(bytes);
  int64_t next_needle = 0, next_fill = 0;
  for (int64_t line = 0; line < total; ++line) {
    if (line > 0) out.text.push_back('\n');
    if (next_needle < m && slots[size_t(next_needle)] == line) {
      out.needle_offsets.push_back(int64_t(out.text.size()));
      out.text += needles[size_t(next_needle++)];
    } else {
      out.text += filler(next_fill++);
    }
  }
  return out;
}

}  // namespace spf::eval
