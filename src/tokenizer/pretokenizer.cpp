#include "tokenizer/pretokenizer.h"

#include <pcre2.h>

#include <array>
#include <memory>
#include <mutex>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace spf {
namespace {

const std::string kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
const std::string kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const std::string kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const std::string kQwen35 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// Unicode White_Space, the set Oniguruma's \s matches.
constexpr std::string_view kWhiteSpace =
    R"(\t\n\x{0B}\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";

// Rewrites \s / \S (inside and outside character classes) to explicit White_Space sets.
std::string to_pcre2(const std::string& hf) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < hf.size(); ++i) {
    const char c = hf[i];
    if (c == '\\' && i + 1 < hf.size()) {
      const char e = hf[++i];
      if (e == 's') {
        out += in_class ? std::string(kWhiteSpace) : "[" + std::string(kWhiteSpace) + "]";
      } else if (e == 'S') {
        SPF_CHECK(!in_class, "pre-tokenizer regex: \\S inside a character class is not supported");
        out += "[^" + std::string(kWhiteSpace) + "]";
      } else {
        out += c;
        out += e;
      }
      continue;
    }
    if (c == '[' && !in_class)
      in_class = true;
    else if (c == ']' && in_class)
      in_class = false;
    out += c;
  }
  return out;
}

struct CodeDeleter {
  void operator()(pcre2_code* c) const { pcre2_code_free(c); }
};
struct MatchDataDeleter {
  void operator()(pcre2_match_data* m) const { pcre2_match_data_free(m); }
};

class Regex {
 public:
  explicit Regex(const std::string& hf_pattern) {
    const std::string p = to_pcre2(hf_pattern);
    int err = 0;
    PCRE2_SIZE off = 0;
    code_.reset(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.data()), p.size(),
                              PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr));
    if (!code_) {
      std::array<PCRE2_UCHAR, 256> msg{};
      pcre2_get_error_message(err, msg.data(), msg.size());
      fail("pre-tokenizer regex does not compile at offset ", off, ": ",
           reinterpret_cast<const char*>(msg.data()));
    }
    jit_ = pcre2_jit_compile(code_.get(), PCRE2_JIT_COMPLETE) == 0;
  }

  // Appends matches and the gaps between them (HF "isolated" splitting) of text to out.
  void split(std::string_view text, std::vector<std::string_view>& out) const {
    std::unique_ptr<pcre2_match_data, MatchDataDeleter> md(
        pcre2_match_data_create_from_pattern(code_.get(), nullptr));
    SPF_CHECK(md != nullptr, "pre-tokenizer: out of memory creating PCRE2 match data");
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t pos = 0;   // where the next search starts
    size_t prev = 0;  // end of the last emitted piece
    while (pos < text.size()) {
      // The text was validated up front; PCRE2's own check at each offset would be quadratic.
      int rc = jit_ ? pcre2_jit_match(code_.get(), subject, text.size(), pos, PCRE2_NO_UTF_CHECK,
                                      md.get(), nullptr)
                    : PCRE2_ERROR_JIT_STACKLIMIT;
      // The interpreter backtracks on the heap, so it copes where JIT's stack ran out.
      if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
        rc = pcre2_match(code_.get(), subject, text.size(), pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT,
                         md.get(), nullptr);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) {
        std::array<PCRE2_UCHAR, 256> msg{};
        pcre2_get_error_message(rc, msg.data(), msg.size());
        fail("pre-tokenizer: regex match failed at byte ", pos, ": ",
             reinterpret_cast<const char*>(msg.data()));
      }
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
      const size_t b = ov[0], e = ov[1];
      if (b > prev) out.push_back(text.substr(prev, b - prev));
      if (e > b) {
        out.push_back(text.substr(b, e - b));
        prev = e;
        pos = e;
      } else {
        // Empty match (none of the shipped patterns can produce one): step over one code point.
        if (b >= text.size()) break;
        size_t next = b;
        utf8::next(text, next);
        pos = next;
        prev = b;
      }
    }
    if (prev < text.size()) out.push_back(text.substr(prev));
  }

 private:
  std::unique_ptr<pcre2_code, CodeDeleter> code_;
  bool jit_ = false;
};

constexpr size_t kKinds = 5;

size_t index_of(PreTokenizer k) {
  return static_cast<size_t>(k);
}

const Regex& regex_for(PreTokenizer kind) {
  static std::array<std::unique_ptr<Regex>, kKinds> compiled;
  static std::array<std::once_flag, kKinds> once;
  const size_t i = index_of(kind);
  SPF_CHECK(i < kKinds, "pre-tokenizer: unknown variant ", i);
  std::call_once(once[i], [&] { compiled[i] = std::make_unique<Regex>(pretokenizer_regex(kind)); });
  return *compiled[i];
}

// HF Digits(individual_digits=true): every \p{N} code point is its own piece, which is exactly an
// isolated split on the single-code-point pattern \p{N}.
void split_digits(std::string_view text, std::vector<std::string_view>& out) {
  static const Regex digit(R"(\p{N})");
  digit.split(text, out);
}

}  // namespace

const std::string& pretokenizer_regex(PreTokenizer kind) {
  switch (kind) {
    case PreTokenizer::gpt2:
    case PreTokenizer::smollm:
      return kGpt2;
    case PreTokenizer::llama3:
      return kLlama3;
    case PreTokenizer::qwen2:
      return kQwen2;
    case PreTokenizer::qwen35:
      return kQwen35;
  }
  fail("pre-tokenizer: unknown variant ", static_cast<int>(kind));
}

std::string_view pretokenizer_name(PreTokenizer kind) {
  switch (kind) {
    case PreTokenizer::gpt2:
      return "gpt2";
    case PreTokenizer::smollm:
      return "smollm";
    case PreTokenizer::llama3:
      return "llama-bpe";
    case PreTokenizer::qwen2:
      return "qwen2";
    case PreTokenizer::qwen35:
      return "qwen35";
  }
  return "?";
}

std::optional<PreTokenizer> pretokenizer_from_gguf_name(std::string_view name) {
  if (name == "gpt2") return PreTokenizer::gpt2;
  if (name == "smollm") return PreTokenizer::smollm;
  if (name == "llama-bpe" || name == "llama3") return PreTokenizer::llama3;
  if (name == "qwen2") return PreTokenizer::qwen2;
  if (name == "qwen35") return PreTokenizer::qwen35;
  return std::nullopt;
}

std::optional<PreTokenizer> pretokenizer_from_regex(std::string_view pattern) {
  for (PreTokenizer k :
       {PreTokenizer::gpt2, PreTokenizer::llama3, PreTokenizer::qwen2, PreTokenizer::qwen35}) {
    if (pattern == pretokenizer_regex(k)) return k;
  }
  return std::nullopt;
}

void pretokenize(PreTokenizer kind, std::string_view text, std::vector<std::string_view>& out) {
  const Regex& re = regex_for(kind);
  if (kind != PreTokenizer::smollm) {
    re.split(text, out);
    return;
  }
  std::vector<std::string_view> runs;
  split_digits(text, runs);
  for (std::string_view r : runs) re.split(r, out);
}

std::vector<std::string> pretokenize(PreTokenizer kind, std::string_view text) {
  SPF_CHECK(utf8::is_valid(text), "pre-tokenizer: text is not valid UTF-8 at byte ",
            utf8::first_invalid(text));
  std::vector<std::string_view> views;
  pretokenize(kind, text, views);
  return {views.begin(), views.end()};
}

}  // namespace spf
