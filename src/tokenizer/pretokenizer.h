// Pre-tokenization: splits text into the pieces that BPE encodes independently, exactly as HF's
// Split(Regex, behavior="isolated") (and Digits(individual_digits) for SmolLM) do: matches and the
// gaps between them both become pieces. Patterns are HF's, compiled by PCRE2 with UTF + UCP; \s and
// \S are rewritten to the Unicode White_Space set that HF's Oniguruma uses (PCRE2's UCP \s also
// takes U+180E). Regex matching never looks past the piece being split, like HF.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace spf {

// The HF-notation split regex of a variant (smollm: the GPT-2 regex applied after the digit split).
const std::string& pretokenizer_regex(PreTokenizer kind);
std::string_view pretokenizer_name(PreTokenizer kind);
// tokenizer.ggml.pre names: smollm, gpt2, llama-bpe (llama3), qwen2, qwen35.
std::optional<PreTokenizer> pretokenizer_from_gguf_name(std::string_view name);
// Variant whose regex is exactly this pattern (for tokenizer.json Split steps); smollm is never
// returned.
std::optional<PreTokenizer> pretokenizer_from_regex(std::string_view pattern);

// Appends the pieces of text (views into text) to out. text must be valid UTF-8.
void pretokenize(PreTokenizer kind, std::string_view text, std::vector<std::string_view>& out);
std::vector<std::string> pretokenize(PreTokenizer kind, std::string_view text);

}  // namespace spf
