// Internal state shared by the tokenizer's loaders and its encode/decode code. Loaders fill a
// VocabSpec from their format; build_tokenizer_data checks it and derives everything else (BPE
// merge table, added-token matcher, eos list), so both formats go through one validation path.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/tokenizer.h"

namespace spf {

struct VocabSpec {
  std::string where;  // file named in error messages
  // Vocab strings by id in byte-level form ("Ġthe"); ids not listed stay empty holes.
  std::vector<std::pair<std::string, int32_t>> vocab;
  std::vector<std::pair<std::string, std::string>> merges;  // rank = index
  std::vector<AddedToken> added;
  bool ignore_merges = false;
  bool fuse_unk = false;  // a run of bytes missing from the vocab becomes one unk
  bool nfc = false;
  PreTokenizer pre = PreTokenizer::gpt2;
  SpecialTokens special;           // bos/eos/pad/unk/add_bos; eos_ids is derived from these
  std::vector<int32_t> extra_eos;  // more generation-ending ids (GGUF eot/eom)
  std::string chat_template;
};

struct TokenizerData {
  std::vector<std::string> id_bytes;                      // decoded bytes of each id ("" for holes)
  std::vector<uint8_t> id_special;                        // 1 for special added tokens
  std::unordered_map<std::string, int32_t> string_to_id;  // vocab and added token strings
  std::unique_ptr<Bpe> bpe;
  AddedTokenMatcher added;
  PreTokenizer pre = PreTokenizer::gpt2;
  bool nfc = false;
  SpecialTokens special;
  std::string chat_template;
};

TokenizerData build_tokenizer_data(VocabSpec spec);

}  // namespace spf
