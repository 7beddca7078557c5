// Encode/decode of the SmolLM2 tokenizer against HF reference ids (tests/fixtures/tokenizer,
// written by tools/make_tokenizer_fixtures.py), from both tokenizer.json and the GGUF.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>

#include "core/error.h"
#include "tok_test_util.h"

namespace spf::test {
namespace {

std::vector<int32_t> ids_of(const nlohmann::json& j) {
  return j.get<std::vector<int32_t>>();
}

void check_cases(const Tokenizer& tok) {
  const auto doc = read_json_fixture("tokenizer/smollm2_cases.json");
  ASSERT_GE(doc.at("cases").size(), 30u);
  for (const auto& c : doc.at("cases")) {
    const std::string text = c.at("text");
    const auto ids = tok.encode(text, /*add_special=*/false, /*parse_special=*/true);
    EXPECT_EQ(ids, ids_of(c.at("ids"))) << "text: " << text;
    EXPECT_EQ(tok.decode(ids), c.at("decoded").get<std::string>()) << "decode: " << text;
    if (c.at("decoded") == text) {
      EXPECT_EQ(tok.decode(tok.encode(tok.decode(ids))), text);
    }
  }
  const auto& chat = doc.at("chat");
  EXPECT_EQ(tok.encode(chat.at("text").get<std::string>()), ids_of(chat.at("ids")));
}

TEST(TokenizerEncode, HfJsonMatchesHfIds) {
  check_cases(smollm2_from_json());
}

TEST(TokenizerEncode, GgufMatchesHfIds) {
  SPF_REQUIRE_DEFAULT_MODEL(model);
  const Tokenizer* tok = smollm2_from_gguf();
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->pre_tokenizer(), PreTokenizer::smollm);
  check_cases(*tok);
}

TEST(TokenizerEncode, DeviceVectors) {
  const Tokenizer& tok = smollm2_from_json();
  EXPECT_EQ(tok.encode("Hello  world 12345 café 中文 def f(x):\n\treturn x"),
            (std::vector<int32_t>{19556, 216,   905, 216, 33, 34,  35,  36,  37,  37366, 216,
                                  28589, 29184, 753, 275, 24, 104, 727, 198, 197, 5406,  1792}));
  EXPECT_EQ(tok.encode("  multiple   spaces"), (std::vector<int32_t>{216, 2701, 256, 5600}));
  EXPECT_EQ(tok.encode("Hello world! 123"),
            (std::vector<int32_t>{19556, 905, 17, 216, 33, 34, 35}));
}

TEST(TokenizerEncode, DigitSplitDiffersFromPlainGpt2) {
  // SmolLM2 isolates digits before the GPT-2 regex: "x  1" keeps "  " whole (one token, 256) where
  // the plain GPT-2 split would give " ", " 1".
  const Tokenizer& tok = smollm2_from_json();
  EXPECT_EQ(tok.pre_tokenizer(), PreTokenizer::smollm);
  EXPECT_EQ(tok.encode("x  1"), (std::vector<int32_t>{104, 256, 33}));
}

TEST(TokenizerEncode, SpecialTokenParsingOnOff) {
  const Tokenizer& tok = smollm2_from_json();
  const std::string text = "<|im_start|>user\nhi<|im_end|>";
  const auto on = tok.encode(text, false, true);
  ASSERT_GE(on.size(), 3u);
  EXPECT_EQ(on.front(), 1);
  EXPECT_EQ(on.back(), 2);
  const auto off = tok.encode(text, false, false);
  for (int32_t id : off) EXPECT_FALSE(tok.is_special(id)) << id;
  EXPECT_GT(off.size(), on.size());
  EXPECT_EQ(tok.decode(off), text);
  EXPECT_EQ(tok.decode(on), text);
  EXPECT_EQ(tok.decode(on, /*skip_special=*/true), "user\nhi");
}

TEST(TokenizerEncode, SpecialIdsAndMetadata) {
  const Tokenizer& tok = smollm2_from_json();
  EXPECT_EQ(tok.vocab_size(), 49152);
  EXPECT_EQ(tok.token_id("<|im_start|>"), 1);
  EXPECT_EQ(tok.token_id("Ġworld"), 905);
  EXPECT_FALSE(tok.token_id("no such token").has_value());
  EXPECT_TRUE(tok.is_special(0));
  EXPECT_FALSE(tok.is_special(905));
  EXPECT_FALSE(tok.is_special(-1));
  EXPECT_EQ(tok.token_bytes(905), " world");
  EXPECT_EQ(tok.token_bytes(2), "<|im_end|>");
  const auto& eos = tok.special().eos_ids;
  EXPECT_NE(std::find(eos.begin(), eos.end(), 2), eos.end());
  EXPECT_NE(std::find(eos.begin(), eos.end(), 0), eos.end());
  EXPECT_THROW(tok.token_bytes(49152), Error);
  EXPECT_THROW(tok.decode({1, -5}), Error);
}

TEST(TokenizerEncode, GgufSpecialTokens) {
  SPF_REQUIRE_DEFAULT_MODEL(model);
  const Tokenizer& tok = *smollm2_from_gguf();
  EXPECT_EQ(tok.special().bos, 1);
  EXPECT_EQ(tok.special().eos, 2);
  EXPECT_FALSE(tok.special().add_bos);
  EXPECT_EQ(tok.special().eos_ids, (std::vector<int32_t>{2, 0}));
  EXPECT_EQ(tok.encode("hi", /*add_special=*/true), tok.encode("hi", false));
  EXPECT_NE(tok.chat_template().find("<|im_start|>"), std::string::npos);
}

TEST(TokenizerEncode, InvalidUtf8IsAnError) {
  const Tokenizer& tok = smollm2_from_json();
  try {
    tok.encode(std::string("ok\xC3(", 4));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("byte 2"), std::string::npos) << e.what();
  }
}

TEST(TokenizerEncode, DecodeReplacesBrokenUtf8) {
  const Tokenizer& tok = smollm2_from_json();
  auto byte_id = [&](unsigned char b) { return tok.token_id(byte_level::encode_byte(b)).value(); };
  // 中 = E4 B8 AD, one byte token each.
  EXPECT_EQ(tok.decode({byte_id(0xE4), byte_id(0xB8), byte_id(0xAD)}), "中");
  EXPECT_EQ(tok.decode({byte_id(0xE4), byte_id(0xB8)}), "\xEF\xBF\xBD");
  EXPECT_EQ(tok.decode({byte_id(0xE4), byte_id(0x41)}),
            "\xEF\xBF\xBD"
            "A");
  EXPECT_EQ(tok.decode({byte_id(0x80), byte_id(0xB8)}), "\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(TokenizerEncode, LongProseIsFast) {
  const Tokenizer tok = Tokenizer::from_hf_json(smollm2_json_path());  // cold per-piece cache
  const auto doc = read_json_fixture("tokenizer/smollm2_cases.json");
  const std::string prose = doc.at("cases").back().at("text");
  std::vector<std::string> words;
  for (size_t i = 0, j; i < prose.size(); i = j + 1) {
    j = std::min(prose.find(' ', i), prose.size());
    words.push_back(prose.substr(i, j - i));
  }
  // Shuffled words with made-up variants, so most pieces are new to the cache.
  std::mt19937 rng(7);
  std::string text;
  for (int i = 0; i < 9000; ++i) {
    std::string w = words[rng() % words.size()];
    if (rng() % 3 == 0) w += std::string(1, static_cast<char>('a' + rng() % 26)) + "ing";
    if (rng() % 7 == 0) w = std::to_string(rng() % 100000);
    text += w + (i % 23 == 22 ? "\n" : " ");
  }
  const auto t0 = std::chrono::steady_clock::now();
  const auto ids = tok.encode(text);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GT(ids.size(), 8000u);
  EXPECT_LT(s, 0.5) << ids.size() << " tokens took " << s << " s";
  EXPECT_EQ(tok.decode(ids), text);
  std::printf("encoded %zu tokens (%zu bytes) in %.1f ms\n", ids.size(), text.size(), s * 1e3);
}

TEST(TokenizerEncode, HugeWhitespaceRun) {
  const Tokenizer& tok = smollm2_from_json();
  const std::string text = "a" + std::string(200000, ' ') + "b\n" + std::string(50000, '\n');
  const auto ids = tok.encode(text);
  EXPECT_EQ(tok.decode(ids), text);
  // Long letter / punctuation runs are single pieces too.
  std::string runs = std::string(300000, 'a') + std::string(300000, '!') + " ";
  for (int i = 0; i < 20000; ++i) runs += "\u00e9\u4e2d";
  EXPECT_EQ(tok.decode(tok.encode(runs)), runs);
}

TEST(TokenizerEncode, ConcurrentEncodeAgrees) {
  const Tokenizer tok = Tokenizer::from_hf_json(smollm2_json_path());  // cold shared cache
  const auto doc = read_json_fixture("tokenizer/smollm2_cases.json");
  std::vector<std::string> texts;
  std::vector<std::vector<int32_t>> want;
  for (const auto& c : doc.at("cases")) {
    texts.push_back(c.at("text"));
    want.push_back(c.at("ids").get<std::vector<int32_t>>());
  }
  std::vector<int> bad(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 20; ++rep) {
        for (size_t i = 0; i < texts.size(); ++i)
          bad[t] += tok.encode(texts[(i + t) % texts.size()]) != want[(i + t) % texts.size()];
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad, std::vector<int>(4, 0));
}

TEST(TokenizerEncode, DefaultConstructedThrows) {
  Tokenizer t;
  EXPECT_THROW(t.encode("x"), Error);
  EXPECT_THROW(t.vocab_size(), Error);
}

}  // namespace
}  // namespace spf::test
