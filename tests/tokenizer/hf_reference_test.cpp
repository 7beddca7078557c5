// Cross-check against the reference recorded on the GPU machine by the model team
// (tests/fixtures/hf/smollm2: transformers' own GGUF conversion, a different transformers version
// than tools/make_tokenizer_fixtures.py used): tokenizer cases, prose ids and the chat prompt.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/npy.h"
#include "tok_test_util.h"

namespace spf::test {
namespace {

std::vector<int32_t> npy_ids(const std::string& rel) {
  const NpyArray a = read_npy(fixture(rel));
  std::vector<int32_t> ids;
  for (float v : a.data) ids.push_back(static_cast<int32_t>(v));
  return ids;
}

// Both loaders; the GGUF one only when the model is fetched.
std::vector<const Tokenizer*> tokenizers() {
  std::vector<const Tokenizer*> t = {&smollm2_from_json()};
  if (const Tokenizer* g = smollm2_from_gguf()) t.push_back(g);
  return t;
}

// transformers' GGUF conversion drops SmolLM2's digit split (Digits(individual_digits), which
// isolates every \p{N} code point, "½" included): it encodes " ½" as [" Â", "½"] = [3351, 138],
// where SmolLM2's published tokenizer and llama.cpp's "smollm" give [" ", "Â½"] = [216, 16738].
std::vector<int32_t> with_digit_split(std::vector<int32_t> ids) {
  for (size_t i = 0; i + 1 < ids.size(); ++i) {
    if (ids[i] == 3351 && ids[i + 1] == 138) {
      ids[i] = 216;
      ids[i + 1] = 16738;
    }
  }
  return ids;
}

TEST(HfReference, TokenizerCases) {
  const auto ref = read_json_fixture("hf/smollm2/smollm2_ref.json");
  ASSERT_GE(ref.at("tokenizer_cases").size(), 5u);
  size_t patched = 0;
  for (const Tokenizer* tok : tokenizers()) {
    for (const auto& c : ref.at("tokenizer_cases")) {
      const std::string text = c.at("text");
      const auto ids = c.at("ids").get<std::vector<int32_t>>();
      const auto want = with_digit_split(ids);
      patched += want != ids;
      EXPECT_EQ(tok->encode(text, false, true), want) << c.at("name");
      if (c.at("decoded").is_string()) {
        EXPECT_EQ(tok->decode(ids), c.at("decoded").get<std::string>()) << c.at("name");
      }
      EXPECT_EQ(tok->decode(want), text) << c.at("name");
    }
  }
  EXPECT_GT(patched, 0u);  // the divergence is real: the fixture does contain " ½"
}

TEST(HfReference, ProseAndChatPrompt) {
  const auto ref = read_json_fixture("hf/smollm2/smollm2_ref.json");
  std::ifstream f(fixture("text/prose.txt"), std::ios::binary);
  ASSERT_TRUE(f.good());
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string prose = ss.str();
  ASSERT_EQ(ref.at("prose").at("text_used").get<std::string>(), prose);
  const auto prose_ids = npy_ids("hf/smollm2/prose_ids.npy");
  ASSERT_EQ(prose_ids.size(), 943u);
  const auto chat_ids = npy_ids("hf/smollm2/chat_prompt_ids.npy");
  const std::string prompt = ref.at("chat").at("prompt");
  for (const Tokenizer* tok : tokenizers()) {
    EXPECT_EQ(tok->encode(prose, false, true), prose_ids);
    EXPECT_EQ(tok->encode(prompt, false, true), chat_ids);
  }
  EXPECT_EQ(apply_chatml({{"user", ref.at("chat").at("question").get<std::string>()}},
                         "You are a helpful AI assistant named SmolLM, trained by Hugging Face"),
            prompt);
}

}  // namespace
}  // namespace spf::test
