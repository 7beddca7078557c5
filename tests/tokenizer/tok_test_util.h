// Helpers for the tokenizer tests: fixture loading, cached tokenizers (the SmolLM2 one takes a
// while to build), and a tiny synthetic byte-level BPE tokenizer.json for loader/BPE edge cases.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "test_util.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer.h"

namespace spf::test {

inline nlohmann::json read_json_fixture(const std::string& rel) {
  std::ifstream f(fixture(rel));
  EXPECT_TRUE(f.good()) << "missing fixture " << rel;
  std::stringstream ss;
  ss << f.rdbuf();
  return nlohmann::json::parse(ss.str());
}

inline std::string smollm2_json_path() {
  return fixture("tokenizer/smollm2_tokenizer.json");
}

inline const Tokenizer& smollm2_from_json() {
  static const Tokenizer t = Tokenizer::from_hf_json(smollm2_json_path());
  return t;
}

// nullptr when the default model is not fetched.
inline const Tokenizer* smollm2_from_gguf() {
  static const std::unique_ptr<Tokenizer> t = []() -> std::unique_ptr<Tokenizer> {
    const std::string p = default_model_path();
    if (p.empty()) return nullptr;
    return std::make_unique<Tokenizer>(Tokenizer::load_for_model(p));
  }();
  return t.get();
}

// A byte-level BPE tokenizer.json: the 256 byte symbols (id = byte), then merged tokens in merge
// order. merges are given as "a b" in byte-level notation; the merged token gets the next id.
inline nlohmann::json tiny_tokenizer_json(const std::vector<std::string>& merges,
                                          bool pair_form = false) {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_level::encode_byte(static_cast<unsigned char>(b))] = b;
  nlohmann::json m = nlohmann::json::array();
  int next = 256;
  for (const std::string& s : merges) {
    const size_t sp = s.find(' ');
    const std::string a = s.substr(0, sp), c = s.substr(sp + 1);
    if (!vocab.contains(a + c)) vocab[a + c] = next++;
    if (pair_form) {
      m.push_back({a, c});
    } else {
      m.push_back(s);
    }
  }
  nlohmann::json j;
  j["version"] = "1.0";
  j["added_tokens"] =
      nlohmann::json::array({{{"id", next}, {"content", "<|im_start|>"}, {"special", true}},
                             {{"id", next + 1}, {"content", "<|im_end|>"}, {"special", true}},
                             {{"id", next + 2}, {"content", "<tool>"}, {"special", false}}});
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  j["post_processor"] = nullptr;
  j["decoder"] = {{"type", "ByteLevel"}};
  j["model"] = {{"type", "BPE"},
                {"vocab", vocab},
                {"merges", m},
                {"dropout", nullptr},
                {"unk_token", nullptr}};
  return j;
}

inline std::string write_json(const TempDir& dir, const std::string& name,
                              const nlohmann::json& j) {
  const std::string p = dir.file(name);
  std::ofstream(p) << j.dump();
  return p;
}

}  // namespace spf::test
