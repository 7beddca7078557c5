// Cross-check against the reference recorded on the GPU machine by tools/hf_reference.py
// (tests/fixtures/hf/smollm2: transformers' GGUF load with SmolLM2's published pre-tokenizer put
// back): tokenizer cases, prose ids and the chat prompt.
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

TEST(HfReference, TokenizerCases) {
  // The reference restores SmolLM2's published pre-tokenizer (Digits(individual_digits), which
  // isolates every \p{N} code point, "½" included), which transformers' GGUF conversion drops:
  // where the bare conversion differs it is recorded as ids_hf_gguf_unmodified (" ½" -> [3351, 138]
  // there, [216, 16738] with the published tokenizer and with ours).
  const auto ref = read_json_fixture("hf/smollm2/smollm2_ref.json");
  ASSERT_GE(ref.at("tokenizer_cases").size(), 5u);
  size_t unmodified_differs = 0;
  for (const Tokenizer* tok : tokenizers()) {
    for (const auto& c : ref.at("tokenizer_cases")) {
      const std::string text = c.at("text");
      const auto ids = c.at("ids").get<std::vector<int32_t>>();
      EXPECT_EQ(tok->encode(text, false, true), ids) << c.at("name");
      if (c.contains("decoded") && c.at("decoded").is_string()) {
        EXPECT_EQ(tok->decode(ids), c.at("decoded").get<std::string>()) << c.at("name");
      }
      EXPECT_EQ(tok->decode(ids), text) << c.at("name");
      if (c.contains("ids_hf_gguf_unmodified")) {
        unmodified_differs += c.at("ids_hf_gguf_unmodified").get<std::vector<int32_t>>() != ids;
      }
    }
  }
  EXPECT_GT(unmodified_differs, 0u);  // the divergence is real: the fixture does contain " ½"
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
