// UTF-8 helpers for the tokenizer: validation (so PCRE2 can skip its own checks), code point
// iteration, lossy conversion (each maximal invalid subpart becomes one U+FFFD, as Rust's
// from_utf8_lossy does) and the length of the complete prefix of a byte stream (what a streaming
// decoder may emit now).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace spf::utf8 {

// Length of the valid UTF-8 sequence starting at s[i] (1..4), or 0 if the bytes there are not a
// complete valid sequence (invalid, overlong, surrogate, > U+10FFFF or truncated by the end of s).
size_t valid_seq_len(std::string_view s, size_t i);

// Byte offset of the first invalid byte, or s.size() when s is valid UTF-8.
size_t first_invalid(std::string_view s);
inline bool is_valid(std::string_view s) {
  return first_invalid(s) == s.size();
}

// Decodes the code point at s[i] (s must be valid there); advances i past it.
uint32_t next(std::string_view s, size_t& i);
void append(std::string& out, uint32_t cp);

// s with every maximal invalid subpart replaced by U+FFFD.
std::string lossy(std::string_view s);

// Longest prefix of s that does not end inside a sequence that more bytes could still complete.
// Bytes that can never become valid count as complete (they are emitted as U+FFFD by lossy()).
size_t complete_prefix(std::string_view s);

}  // namespace spf::utf8
