#include "tokenizer/byte_level.h"

#include <array>
#include <cstdint>

#include "tokenizer/utf8.h"

namespace spf::byte_level {
namespace {

struct Tables {
  std::array<std::string, 256> to_text;
  std::array<int16_t, 324> to_byte;  // code points 0..323 cover the whole alphabet; -1 = not in it
  Tables() {
    to_byte.fill(-1);
    uint32_t extra = 0;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable =
          (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const uint32_t cp = printable ? b : 256 + extra++;
      utf8::append(to_text[b], cp);
      to_byte[cp] = static_cast<int16_t>(b);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

const std::string& encode_byte(unsigned char b) {
  return tables().to_text[b];
}

std::string encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) out += encode_byte(static_cast<unsigned char>(c));
  return out;
}

std::optional<std::string> decode(std::string_view mapped) {
  if (!utf8::is_valid(mapped)) return std::nullopt;
  const Tables& t = tables();
  std::string out;
  out.reserve(mapped.size());
  size_t i = 0;
  while (i < mapped.size()) {
    const uint32_t cp = utf8::next(mapped, i);
    if (cp >= t.to_byte.size() || t.to_byte[cp] < 0) return std::nullopt;
    out += static_cast<char>(t.to_byte[cp]);
  }
  return out;
}

}  // namespace spf::byte_level
