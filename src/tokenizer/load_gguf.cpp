// Tokenizer::from_gguf: byte-level BPE from GGUF metadata (tokenizer.ggml.*, llama.cpp
// conventions): token_type 3 (control) = special added token, 4 (user-defined) = non-special added
// token, both stored as literal text; tokenizer.ggml.pre picks the split regexes.
#include "core/error.h"
#include "formats/gguf.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer_impl.h"

namespace spf {
namespace {

constexpr int64_t kControl = 3, kUserDefined = 4;

std::optional<int32_t> opt_id(const GgufFile& g, const std::string& key) {
  const auto v = g.get_int_opt(key);
  if (!v) return std::nullopt;
  SPF_CHECK(*v >= 0 && *v <= INT32_MAX, g.path(), ": ", key, " = ", *v, " is not a valid token id");
  return static_cast<int32_t>(*v);
}

}  // namespace

Tokenizer Tokenizer::from_gguf(const GgufFile& g) {
  VocabSpec spec;
  spec.where = g.path();
  const auto model = g.get_string_opt("tokenizer.ggml.model");
  SPF_CHECK(model.has_value(), g.path(),
            ": no tokenizer in the metadata (tokenizer.ggml.model missing)");
  SPF_CHECK(*model == "gpt2", g.path(), ": tokenizer.ggml.model is \"", *model,
            "\"; only \"gpt2\" (byte-level BPE) is supported");
  const auto pre = g.get_string_opt("tokenizer.ggml.pre");
  SPF_CHECK(pre.has_value(), g.path(),
            ": tokenizer.ggml.pre missing; cannot choose the pre-tokenizer");
  const auto kind = pretokenizer_from_gguf_name(*pre);
  SPF_CHECK(kind.has_value(), g.path(), ": unsupported tokenizer.ggml.pre \"", *pre,
            "\" (supported: smollm, gpt2, llama-bpe, qwen2, qwen35)");
  spec.pre = *kind;
  // HF's Qwen2/Qwen3.5 tokenizers NFC-normalize; llama.cpp does not, HF is the reference here.
  spec.nfc = *kind == PreTokenizer::qwen2 || *kind == PreTokenizer::qwen35;

  const std::vector<std::string> tokens = g.get_strings("tokenizer.ggml.tokens");
  std::vector<int64_t> types;
  if (g.find("tokenizer.ggml.token_type") != nullptr)
    types = g.get_ints("tokenizer.ggml.token_type");
  SPF_CHECK(types.empty() || types.size() == tokens.size(), g.path(),
            ": tokenizer.ggml.token_type has ", types.size(),
            " entries but tokenizer.ggml.tokens has ", tokens.size());
  spec.vocab.reserve(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    const auto id = static_cast<int32_t>(i);
    const int64_t type = types.empty() ? 1 : types[i];
    if (type == kControl || type == kUserDefined) {
      spec.added.push_back({id, tokens[i], type == kControl, false, false});
    } else {
      spec.vocab.emplace_back(tokens[i], id);
    }
  }
  if (g.find("tokenizer.ggml.merges") != nullptr) {
    const std::vector<std::string> merges = g.get_strings("tokenizer.ggml.merges");
    spec.merges.reserve(merges.size());
    for (size_t i = 0; i < merges.size(); ++i) {
      const std::string& m = merges[i];
      const size_t sp = m.find(' ', 1);
      SPF_CHECK(sp != std::string::npos, g.path(), ": tokenizer.ggml.merges[", i, "] \"", m,
                "\" is not two tokens separated by a space");
      spec.merges.emplace_back(m.substr(0, sp), m.substr(sp + 1));
    }
  }

  spec.special.bos = opt_id(g, "tokenizer.ggml.bos_token_id");
  spec.special.eos = opt_id(g, "tokenizer.ggml.eos_token_id");
  spec.special.pad = opt_id(g, "tokenizer.ggml.padding_token_id");
  spec.special.unk = opt_id(g, "tokenizer.ggml.unknown_token_id");
  // Bytes missing from the vocab (SmolLM2 lacks a few control bytes) become one unk per run, which
  // is what HF's tokenizer built from a GGUF does (llama.cpp has no rule for them).
  spec.fuse_unk = true;
  if (g.find("tokenizer.ggml.add_bos_token") != nullptr) {
    spec.special.add_bos =
        g.get_bool("tokenizer.ggml.add_bos_token") && spec.special.bos.has_value();
  }
  for (const char* k : {"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"}) {
    if (const auto id = opt_id(g, k)) spec.extra_eos.push_back(*id);
  }
  spec.chat_template = g.get_string_opt("tokenizer.chat_template").value_or("");
  return from_data(build_tokenizer_data(std::move(spec)));
}

}  // namespace spf
