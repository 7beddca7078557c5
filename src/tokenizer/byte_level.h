// GPT-2 byte-level alphabet: every byte maps to one printable code point (printable Latin-1 bytes
// map to themselves, the rest to U+0100 + n in byte order), so vocab strings such as "Ġthe" name
// byte strings.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace spf::byte_level {

// The UTF-8 encoding of the code point standing for byte b.
const std::string& encode_byte(unsigned char b);
std::string encode(std::string_view bytes);

// The raw bytes a vocab string stands for, or nullopt when it holds a code point outside the
// alphabet (such entries are kept as literal text, which is what HF's ByteLevel decoder does too).
std::optional<std::string> decode(std::string_view mapped);

}  // namespace spf::byte_level
