// NFC against HF's normalizers.NFC (tests/fixtures/tokenizer/nfc_cases.json).
#include "tokenizer/nfc.h"

#include <gtest/gtest.h>

#include "tok_test_util.h"

namespace spf::test {
namespace {

TEST(Nfc, MatchesHf) {
  const auto doc = read_json_fixture("tokenizer/nfc_cases.json");
  ASSERT_GT(doc.size(), 40u);
  size_t changed = 0;
  for (const auto& c : doc) {
    const std::string text = c.at("text"), want = c.at("nfc");
    EXPECT_EQ(nfc_normalize(text), want) << "text: " << text;
    if (nfc_is_trivially_stable(text)) {
      EXPECT_EQ(text, want) << "fast path would be wrong for: " << text;
    }
    changed += text != want;
  }
  EXPECT_GT(changed, 15u);  // the fixture really exercises composition
}

TEST(Nfc, Basics) {
  EXPECT_EQ(nfc_normalize("cafe\u0301"), "caf\u00e9");
  EXPECT_EQ(nfc_normalize("\u1100\u1161\u11a8"), "\uac01");
  EXPECT_EQ(nfc_normalize(""), "");
  EXPECT_TRUE(nfc_is_trivially_stable("plain \xc3\xa9"));
  EXPECT_FALSE(nfc_is_trivially_stable("e\u0301"));
}

}  // namespace
}  // namespace spf::test
