// Loaders: tokenizer.json variants (merge forms, sibling configs, load_for_model) and bad inputs,
// tiny GGUF tokenizers built with the formats test writer.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "formats/writers.h"
#include "tok_test_util.h"
#include "tokenizer/pretokenizer.h"

namespace spf::test {
namespace {

// Expects an spf::Error whose one-line message contains every fragment.
template <class F>
void expect_error(F&& f, const std::vector<std::string>& fragments) {
  try {
    f();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    for (const auto& frag : fragments)
      EXPECT_NE(msg.find(frag), std::string::npos) << msg << " lacks " << frag;
  }
}

const std::vector<std::string> kMerges = {
    "h e", "l l", "he ll", "hell o", "\u0120 w", "\u0120w o", "r l", "\u0120wo rl", "\u0120worl d"};

TEST(TokenizerLoader, TinyJsonBothMergeForms) {
  TempDir dir;
  for (bool pair : {false, true}) {
    const Tokenizer t =
        Tokenizer::from_hf_json(write_json(dir, "t.json", tiny_tokenizer_json(kMerges, pair)));
    const auto hello = t.token_id("hello"), world = t.token_id("\u0120world");
    ASSERT_TRUE(hello && world);
    EXPECT_EQ(t.encode("hello world"), (std::vector<int32_t>{*hello, *world}));
    EXPECT_EQ(t.encode("hellx"), (std::vector<int32_t>{*t.token_id("hell"), 'x'}));
    EXPECT_EQ(t.decode(t.encode("héllo wörld\n")), "héllo wörld\n");
    // Added tokens: special ones follow parse_special, user-defined ones always match.
    const auto tool = t.token_id("<tool>");
    const auto im = t.token_id("<|im_start|>");
    EXPECT_EQ(t.encode("<tool>"), (std::vector<int32_t>{*tool}));
    EXPECT_EQ(t.encode("<tool>", false, false), (std::vector<int32_t>{*tool}));
    EXPECT_EQ(t.encode("<|im_start|>"), (std::vector<int32_t>{*im}));
    EXPECT_EQ(t.encode("<|im_start|>", false, false).size(), 12u);
    EXPECT_TRUE(t.is_special(*im));
    EXPECT_FALSE(t.is_special(*tool));
    EXPECT_EQ(t.pre_tokenizer(), PreTokenizer::gpt2);
    EXPECT_EQ(t.special().eos_ids, (std::vector<int32_t>{*t.token_id("<|im_end|>")}));
  }
}

TEST(TokenizerLoader, MergeRankDecides) {
  // "a b" outranks "b c": "abc" -> ab, c; with the order swapped -> a, bc.
  TempDir dir;
  const Tokenizer t1 =
      Tokenizer::from_hf_json(write_json(dir, "1.json", tiny_tokenizer_json({"a b", "b c"})));
  EXPECT_EQ(t1.encode("abc"), (std::vector<int32_t>{*t1.token_id("ab"), 'c'}));
  const Tokenizer t2 =
      Tokenizer::from_hf_json(write_json(dir, "2.json", tiny_tokenizer_json({"b c", "a b"})));
  EXPECT_EQ(t2.encode("abc"), (std::vector<int32_t>{'a', *t2.token_id("bc")}));
  // Repeated pair merges left to right: "aaa" -> aa, a.
  const Tokenizer t3 =
      Tokenizer::from_hf_json(write_json(dir, "3.json", tiny_tokenizer_json({"a a"})));
  EXPECT_EQ(t3.encode("aaa"), (std::vector<int32_t>{*t3.token_id("aa"), 'a'}));
}

TEST(TokenizerLoader, IgnoreMergesTakesWholeVocabWords) {
  TempDir dir;
  auto j = tiny_tokenizer_json({"a b", "c d"});
  j["model"]["vocab"]["abcd"] = 300;  // reachable only as a whole word
  j["model"]["ignore_merges"] = true;
  const Tokenizer t = Tokenizer::from_hf_json(write_json(dir, "t.json", j));
  EXPECT_EQ(t.encode("abcd"), (std::vector<int32_t>{300}));
  EXPECT_EQ(t.encode("abcdx"), (std::vector<int32_t>{*t.token_id("ab"), *t.token_id("cd"), 'x'}));
}

TEST(TokenizerLoader, QwenStyleJsonWithSiblings) {
  TempDir dir;
  auto j = tiny_tokenizer_json({"h e"});
  j["normalizer"] = {{"type", "NFC"}};
  j["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Split"},
         {"pattern", {{"Regex", pretokenizer_regex(PreTokenizer::qwen35)}}},
         {"behavior", "Isolated"},
         {"invert", false}},
        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
  write_json(dir, "tokenizer.json", j);
  write_json(dir, "tokenizer_config.json",
             {{"eos_token", "<|im_end|>"},
              {"bos_token", nullptr},
              {"chat_template", "TEMPLATE"},
              {"pad_token", {{"content", "<|im_start|>"}}}});
  write_json(dir, "generation_config.json", {{"eos_token_id", {258, 257}}});
  const Tokenizer t = Tokenizer::load_for_model(dir.path().string());
  EXPECT_EQ(t.pre_tokenizer(), PreTokenizer::qwen35);
  EXPECT_EQ(t.special().eos, t.token_id("<|im_end|>"));
  EXPECT_EQ(t.special().pad, t.token_id("<|im_start|>"));
  EXPECT_FALSE(t.special().bos.has_value());
  EXPECT_EQ(t.special().eos_ids, (std::vector<int32_t>{258, 257}));
  EXPECT_EQ(t.chat_template(), "TEMPLATE");
  // NFC: decomposed input encodes like the precomposed form.
  EXPECT_EQ(t.encode("cafe\u0301"), t.encode("caf\u00e9"));
  // A file inside the directory finds the same tokenizer.
  std::ofstream(dir.file("model.safetensors")) << "x";
  EXPECT_EQ(Tokenizer::load_for_model(dir.file("model.safetensors")).vocab_size(), t.vocab_size());
}

TEST(TokenizerLoader, AddedTokenStripAndBosTemplate) {
  TempDir dir;
  auto j = tiny_tokenizer_json({"h e"});
  j["added_tokens"].push_back(
      {{"id", 400}, {"content", "<mask>"}, {"special", true}, {"lstrip", true}});
  j["added_tokens"].push_back(
      {{"id", 401}, {"content", "<r>"}, {"special", true}, {"rstrip", true}});
  j["added_tokens"].push_back(
      {{"id", 402}, {"content", "<mask>x"}, {"special", true}});  // longest match wins
  j["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single",
       {{{"SpecialToken", {{"id", "<|im_start|>"}, {"type_id", 0}}}},
        {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
      {"special_tokens", {{"<|im_start|>", {{"id", "<|im_start|>"}, {"ids", {257}}}}}}};
  const Tokenizer t = Tokenizer::from_hf_json(write_json(dir, "t.json", j));
  const int32_t sp = ' ';
  EXPECT_EQ(t.encode("h  <mask> h"), (std::vector<int32_t>{'h', 400, sp, 'h'}));
  EXPECT_EQ(t.encode("h<r>  \n h"), (std::vector<int32_t>{'h', 401, 'h'}));
  EXPECT_EQ(t.encode("<mask>xy"), (std::vector<int32_t>{402, 'y'}));
  EXPECT_TRUE(t.special().add_bos);
  EXPECT_EQ(t.special().bos, 257);
  EXPECT_EQ(t.encode("he", true), (std::vector<int32_t>{257, 256}));
  EXPECT_EQ(t.encode("he", false), (std::vector<int32_t>{256}));
}

TEST(TokenizerLoader, JsonErrors) {
  TempDir dir;
  expect_error([&] { Tokenizer::from_hf_json(dir.file("missing.json")); },
               {"missing.json", "not found"});
  write_bytes(dir.file("bad.json"), std::string("{\"model\": [1, 2"));
  expect_error([&] { Tokenizer::from_hf_json(dir.file("bad.json")); },
               {"bad.json", "invalid JSON"});
  auto uni = tiny_tokenizer_json({});
  uni["model"]["type"] = "Unigram";
  expect_error([&] { Tokenizer::from_hf_json(write_json(dir, "u.json", uni)); },
               {"u.json", "Unigram"});
  auto bad_merge = tiny_tokenizer_json({"h e"});
  bad_merge["model"]["merges"].push_back("x zz");
  expect_error([&] { Tokenizer::from_hf_json(write_json(dir, "m.json", bad_merge)); },
               {"merge 1", "not in the vocabulary"});
  auto bad_shape = tiny_tokenizer_json({});
  bad_shape["model"]["vocab"]["a"] = "not an id";
  expect_error([&] { Tokenizer::from_hf_json(write_json(dir, "s.json", bad_shape)); },
               {"s.json", "malformed"});
  auto bad_pre = tiny_tokenizer_json({});
  bad_pre["pre_tokenizer"] = {{"type", "Metaspace"}};
  expect_error([&] { Tokenizer::from_hf_json(write_json(dir, "p.json", bad_pre)); }, {"Metaspace"});
  auto bad_regex = tiny_tokenizer_json({});
  bad_regex["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Split"}, {"pattern", {{"Regex", "\\w+"}}}, {"behavior", "Isolated"}},
        {{"type", "ByteLevel"}, {"use_regex", false}}}}};
  expect_error([&] { Tokenizer::from_hf_json(write_json(dir, "r.json", bad_regex)); },
               {"split regex"});
  auto bad_norm = tiny_tokenizer_json({});
  bad_norm["normalizer"] = {{"type", "Lowercase"}};
  expect_error([&] { Tokenizer::from_hf_json(write_json(dir, "n.json", bad_norm)); },
               {"Lowercase"});
  auto bad_id = tiny_tokenizer_json({});
  bad_id["added_tokens"].push_back({{"id", -3}, {"content", "<x>"}});
  expect_error([&] { Tokenizer::from_hf_json(write_json(dir, "i.json", bad_id)); }, {"<x>", "-3"});
  write_json(dir, "arr.json", nlohmann::json::array({1, 2}));
  expect_error([&] { Tokenizer::from_hf_json(dir.file("arr.json")); }, {"not an object"});
  expect_error([&] { Tokenizer::load_for_model(dir.file("nothing-here")); }, {"nothing-here"});
  TempDir empty;
  expect_error([&] { Tokenizer::load_for_model(empty.path().string()); }, {"no tokenizer.json"});
}

// A tiny byte-level GGUF tokenizer: 256 byte tokens, "h e" merge, two control tokens and one user
// token.
GgufBuilder tiny_gguf(const std::string& model, const std::string& pre) {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(byte_level::encode_byte(static_cast<unsigned char>(b)));
    types.push_back(1);
  }
  tokens.insert(tokens.end(), {"he", "<|endoftext|>", "<|im_end|>", "<tool>", "[PAD260]"});
  types.insert(types.end(), {1, 3, 3, 4, 5});
  GgufBuilder g;
  g.kv_string("general.architecture", "llama")
      .kv_string("tokenizer.ggml.model", model)
      .kv_string("tokenizer.ggml.pre", pre)
      .kv_strings("tokenizer.ggml.tokens", tokens)
      .kv_array("tokenizer.ggml.token_type", GgufType::i32, types)
      .kv_strings("tokenizer.ggml.merges", {"h e"})
      .kv_scalar("tokenizer.ggml.eos_token_id", GgufType::u32, uint32_t{258})
      .kv_scalar("tokenizer.ggml.bos_token_id", GgufType::u32, uint32_t{257})
      .kv_scalar("tokenizer.ggml.add_bos_token", GgufType::bool_, uint8_t{1})
      .kv_string("tokenizer.chat_template", "T");
  return g;
}

TEST(TokenizerLoader, TinyGguf) {
  TempDir dir;
  write_bytes(dir.file("t.gguf"), tiny_gguf("gpt2", "qwen2").build());
  const Tokenizer t = Tokenizer::load_for_model(dir.file("t.gguf"));
  EXPECT_EQ(t.pre_tokenizer(), PreTokenizer::qwen2);
  EXPECT_EQ(t.encode("he<tool>h", true), (std::vector<int32_t>{257, 256, 259, 'h'}));
  EXPECT_EQ(t.encode("<|im_end|>", false, false).size(), 10u);
  EXPECT_TRUE(t.is_special(258));
  EXPECT_FALSE(t.is_special(259));
  EXPECT_EQ(t.special().eos_ids, (std::vector<int32_t>{258, 257}));
  EXPECT_EQ(t.chat_template(), "T");
  EXPECT_EQ(t.decode({256, 258, 259}), "he<|im_end|><tool>");
  EXPECT_EQ(t.token_bytes(260), "[PAD260]");
}

TEST(TokenizerLoader, GgufErrors) {
  TempDir dir;
  write_bytes(dir.file("llama.gguf"), tiny_gguf("llama", "default").build());
  expect_error([&] { Tokenizer::load_for_model(dir.file("llama.gguf")); },
               {"llama.gguf", "\"llama\"", "gpt2"});
  write_bytes(dir.file("pre.gguf"), tiny_gguf("gpt2", "deepseek-coder").build());
  expect_error([&] { Tokenizer::load_for_model(dir.file("pre.gguf")); },
               {"pre.gguf", "deepseek-coder"});
  GgufBuilder none;
  none.kv_string("general.architecture", "llama");
  write_bytes(dir.file("none.gguf"), none.build());
  expect_error([&] { Tokenizer::load_for_model(dir.file("none.gguf")); },
               {"none.gguf", "tokenizer.ggml.model"});
  auto bad_eos = tiny_gguf("gpt2", "gpt2");
  bad_eos.kv_scalar("tokenizer.ggml.eot_token_id", GgufType::u32, uint32_t{99999});
  write_bytes(dir.file("eot.gguf"), bad_eos.build());
  expect_error([&] { Tokenizer::load_for_model(dir.file("eot.gguf")); }, {"eot.gguf", "99999"});
}

}  // namespace
}  // namespace spf::test
