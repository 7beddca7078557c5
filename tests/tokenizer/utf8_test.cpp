// UTF-8 helpers and the byte-level alphabet.
#include "tokenizer/utf8.h"

#include <gtest/gtest.h>

#include "tokenizer/byte_level.h"

namespace spf {
namespace {

TEST(Utf8, Validation) {
  EXPECT_TRUE(utf8::is_valid("a\u00e9\u4e2d\U0001F600"));
  EXPECT_EQ(utf8::first_invalid(std::string("ab\xC0\x80", 4)), 2u);        // overlong
  EXPECT_EQ(utf8::first_invalid(std::string("\xED\xA0\x80", 3)), 0u);      // surrogate
  EXPECT_EQ(utf8::first_invalid(std::string("\xF4\x90\x80\x80", 4)), 0u);  // > U+10FFFF
  EXPECT_EQ(utf8::first_invalid(std::string("x\xE4\xB8", 3)), 1u);         // truncated
}

TEST(Utf8, Lossy) {
  EXPECT_EQ(utf8::lossy("ok"), "ok");
  // Maximal subparts: E4 B8 is one replacement, the stray 80 another.
  EXPECT_EQ(utf8::lossy(std::string("\xE4\xB8x\x80", 4)), "\xEF\xBF\xBDx\xEF\xBF\xBD");
  EXPECT_EQ(utf8::lossy(std::string("\xF0\x9F\x98", 3)), "\xEF\xBF\xBD");
}

TEST(Utf8, CompletePrefix) {
  EXPECT_EQ(utf8::complete_prefix("abc"), 3u);
  EXPECT_EQ(utf8::complete_prefix(std::string("a\xF0\x9F\x98", 4)), 1u);
  EXPECT_EQ(utf8::complete_prefix(std::string("a\xF0\x9F\x98\x80", 5)), 5u);
  EXPECT_EQ(utf8::complete_prefix(std::string("a\xFF", 2)), 2u);  // never valid: emit now
  EXPECT_EQ(utf8::complete_prefix(std::string("\xE4x\xE4", 3)),
            2u);  // broken one, then a pending one
}

TEST(ByteLevel, AlphabetRoundTrip) {
  EXPECT_EQ(byte_level::encode(" "), "\u0120");   // Ġ
  EXPECT_EQ(byte_level::encode("\n"), "\u010a");  // Ċ
  EXPECT_EQ(byte_level::encode("a"), "a");
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  EXPECT_EQ(byte_level::decode(byte_level::encode(all)), all);
  EXPECT_FALSE(byte_level::decode("\u4e2d").has_value());  // outside the alphabet
  EXPECT_FALSE(byte_level::decode(std::string("\xFF", 1)).has_value());
}

}  // namespace
}  // namespace spf
