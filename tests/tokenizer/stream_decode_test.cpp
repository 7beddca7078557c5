// StreamDecoder: token-by-token output equals decode() of the whole sequence, and every chunk is
// valid UTF-8 even when a character's bytes are spread over several tokens.
#include <gtest/gtest.h>

#include "core/error.h"
#include "tok_test_util.h"
#include "tokenizer/utf8.h"

namespace spf::test {
namespace {

std::string stream_all(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip_special) {
  StreamDecoder dec(tok, skip_special);
  std::string out;
  for (int32_t id : ids) {
    const std::string chunk = dec.push(id);
    EXPECT_TRUE(utf8::is_valid(chunk)) << "broken UTF-8 chunk after id " << id;
    out += chunk;
  }
  out += dec.flush();
  return out;
}

TEST(StreamDecoder, MatchesDecodeOnFixtureTexts) {
  const Tokenizer& tok = smollm2_from_json();
  const auto doc = read_json_fixture("tokenizer/smollm2_cases.json");
  for (const auto& c : doc.at("cases")) {
    const std::string text = c.at("text");
    const auto ids = tok.encode(text);
    EXPECT_EQ(stream_all(tok, ids, false), c.at("decoded").get<std::string>());
    EXPECT_EQ(stream_all(tok, ids, true), tok.decode(ids, true));
  }
}

TEST(StreamDecoder, HoldsBackSplitCharacters) {
  const Tokenizer& tok = smollm2_from_json();
  auto byte_id = [&](unsigned char b) { return tok.token_id(byte_level::encode_byte(b)).value(); };
  // 😀 = F0 9F 98 80 fed as four single-byte tokens, then "é" as two.
  const std::vector<int32_t> ids = {byte_id('a'),  byte_id(0xF0), byte_id(0x9F), byte_id(0x98),
                                    byte_id(0x80), byte_id(0xC3), byte_id(0xA9)};
  StreamDecoder dec(tok);
  EXPECT_EQ(dec.push(ids[0]), "a");
  EXPECT_EQ(dec.push(ids[1]), "");
  EXPECT_EQ(dec.push(ids[2]), "");
  EXPECT_EQ(dec.push(ids[3]), "");
  EXPECT_EQ(dec.push(ids[4]), "😀");
  EXPECT_EQ(dec.push(ids[5]), "");
  EXPECT_EQ(dec.push(ids[6]), "é");
  EXPECT_EQ(dec.flush(), "");
}

TEST(StreamDecoder, InvalidBytesAreReplacedNotHeld) {
  const Tokenizer& tok = smollm2_from_json();
  auto byte_id = [&](unsigned char b) { return tok.token_id(byte_level::encode_byte(b)).value(); };
  StreamDecoder dec(tok);
  EXPECT_EQ(dec.push(byte_id(0x80)), "\xEF\xBF\xBD");  // never valid
  EXPECT_EQ(dec.push(byte_id(0xE4)), "");              // may still complete
  EXPECT_EQ(dec.push(byte_id('x')),
            "\xEF\xBF\xBD"
            "x");  // it did not
  EXPECT_EQ(dec.push(byte_id(0xE4)), "");
  EXPECT_EQ(dec.flush(), "\xEF\xBF\xBD");  // truncated at the end
  EXPECT_EQ(dec.flush(), "");
}

TEST(StreamDecoder, SkipsSpecialTokens) {
  const Tokenizer& tok = smollm2_from_json();
  const auto ids = tok.encode("hi<|im_end|>");
  StreamDecoder skip(tok, true), keep(tok, false);
  std::string a, b;
  for (int32_t id : ids) {
    a += skip.push(id);
    b += keep.push(id);
  }
  EXPECT_EQ(a, "hi");
  EXPECT_EQ(b, "hi<|im_end|>");
  EXPECT_THROW(skip.push(1 << 20), Error);
}

}  // namespace
}  // namespace spf::test
