// Strict JSON parsing of untrusted files: duplicate keys at any depth, nesting bombs and huge or
// control-character-laden error text.
#include "formats/json_text.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace spf {
namespace {

using json = nlohmann::json;

std::string error_of(const std::string& text) {
  try {
    parse_json_text<json>(text, "f.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(JsonText, ParsesValidInputAndKeepsOrderedJsonOrder) {
  EXPECT_EQ(parse_json_text<json>(R"({"a": [1, {"b": 2}], "c": null})", "x")["a"][1]["b"], 2);
  const auto o = parse_json_text<nlohmann::ordered_json>(R"({"z": 1, "a": 2})", "x");
  EXPECT_EQ(o.begin().key(), "z");
  // The same key in different objects is fine.
  EXPECT_NO_THROW(parse_json_text<json>(R"({"a": {"k": 1}, "b": {"k": 2}})", "x"));
}

TEST(JsonText, RepeatedKeysAreRejectedAtAnyDepth) {
  EXPECT_NE(error_of(R"({"a": 1, "a": 2})").find("key \"a\" appears twice"), std::string::npos);
  EXPECT_NE(error_of(R"({"x": [{"k": 1, "k": 1}]})").find("key \"k\" appears twice"),
            std::string::npos);
  EXPECT_EQ(error_of(R"({"x": [{"k": 1}, {"k": 1}]})"), "");  // two objects, one key each
}

TEST(JsonText, NestingBombFailsFastWithBoundedMemory) {
  const std::string bomb(50'000'000, '[');
  const std::string e = error_of(bomb);
  EXPECT_NE(e.find("nesting deeper than 64 levels"), std::string::npos) << e.substr(0, 200);
  EXPECT_EQ(error_of(std::string(63, '[') + std::string(63, ']')), "");
}

TEST(JsonText, ErrorTextIsOneShortPrintableLine) {
  const std::string e = error_of("{\"a\": \"" + std::string(5'000'000, 'x') + "\x1b[2J");
  EXPECT_LT(e.size(), 600u);
  EXPECT_EQ(e.find('\x1b'), std::string::npos);
  EXPECT_EQ(e.find('\n'), std::string::npos);
  EXPECT_EQ(e.rfind("f.json: invalid JSON: ", 0), 0u) << e;
  EXPECT_EQ(error_of(""), "f.json is empty");
}

}  // namespace
}  // namespace spf
