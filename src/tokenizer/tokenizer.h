// Byte-level BPE tokenizer (GPT-2 family: SmolLM2, Qwen2/Qwen3/Qwen3.5), loaded from an HF
// tokenizer.json or from GGUF metadata (tokenizer.ggml.*). Pre-tokenization by the model's split
// regexes (PCRE2), special/added tokens matched before BPE, decode that is safe to stream token by
// token (incomplete UTF-8 sequences are held back until complete).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace spf {

class GgufFile;
struct TokenizerData;

// Which split regexes run before BPE.
enum class PreTokenizer { gpt2, smollm, llama3, qwen2, qwen35 };

struct SpecialTokens {
  std::optional<int32_t> bos, eos, pad, unk;
  // Every id that ends generation (eos, <|im_end|>, <|endoftext|> ...).
  std::vector<int32_t> eos_ids;
  bool add_bos = false;
};

class Tokenizer {
 public:
  static Tokenizer from_hf_json(const std::string& tokenizer_json_path);
  static Tokenizer from_gguf(const GgufFile& gguf);
  // Finds tokenizer.json next to a checkpoint (directory or file), or reads the GGUF's metadata.
  static Tokenizer load_for_model(const std::string& model_path);

  Tokenizer();
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // parse_special: recognize special/added token strings in text (true for chat prompts).
  std::vector<int32_t> encode(std::string_view text, bool add_special = false,
                              bool parse_special = true) const;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const;
  // The text of one token as raw bytes (may be a partial UTF-8 sequence).
  std::string token_bytes(int32_t id) const;
  std::optional<int32_t> token_id(std::string_view token_string) const;  // exact vocab/added entry
  bool is_special(int32_t id) const;
  int32_t vocab_size() const;
  const SpecialTokens& special() const;
  PreTokenizer pre_tokenizer() const;
  // The Jinja chat template string shipped with the model, if any.
  const std::string& chat_template() const;

 private:
  struct Impl;
  static Tokenizer from_data(TokenizerData data);
  // Throws when nothing was loaded (default-constructed or moved-from tokenizer).
  const TokenizerData& data() const;
  std::unique_ptr<Impl> impl_;
};

// Streaming decode: feed ids one by one, get back only complete UTF-8 text.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok, bool skip_special = true)
      : tok_(tok), skip_special_(skip_special) {}
  std::string push(int32_t id);
  std::string flush();  // whatever is pending (invalid bytes replaced by U+FFFD)

 private:
  const Tokenizer& tok_;
  bool skip_special_;
  std::string pending_;
};

struct ChatMessage {
  std::string role;  // system | user | assistant
  std::string content;
};

// ChatML prompt (<|im_start|>role\ncontent<|im_end|>\n ... <|im_start|>assistant\n), as SmolLM2 and
// Qwen templates render it. default_system is inserted when the first message is not a system
// message and the model's template does so (SmolLM2 does; read from the template text when
// present).
std::string apply_chatml(const std::vector<ChatMessage>& messages,
                         const std::string& default_system, bool add_generation_prompt = true);
// The default system message a model's chat template inserts, "" when none.
std::string default_system_prompt(const std::string& chat_template);

}  // namespace spf
