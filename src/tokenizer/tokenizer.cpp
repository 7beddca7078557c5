// Tokenizer: encode (added tokens -> normalize -> pre-tokenize -> BPE), decode, accessors.
#include "tokenizer/tokenizer.h"

#include "core/error.h"
#include "tokenizer/nfc.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/utf8.h"

namespace spf {

struct Tokenizer::Impl {
  TokenizerData d;
};

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

Tokenizer Tokenizer::from_data(TokenizerData data) {
  Tokenizer t;
  t.impl_ = std::make_unique<Impl>();
  t.impl_->d = std::move(data);
  return t;
}

const TokenizerData& Tokenizer::data() const {
  SPF_CHECK(impl_ != nullptr, "tokenizer: used before a vocabulary was loaded");
  return impl_->d;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
  const TokenizerData& d = data();
  SPF_CHECK(utf8::is_valid(text), "tokenizer: input text is not valid UTF-8 at byte ",
            utf8::first_invalid(text));
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special && d.special.add_bos && d.special.bos) out.push_back(*d.special.bos);
  std::vector<AddedTokenMatcher::Segment> segments;
  d.added.split(text, parse_special, segments);
  std::vector<std::string_view> pieces;
  std::string normalized;
  for (const auto& seg : segments) {
    if (seg.id >= 0) {
      out.push_back(seg.id);
      continue;
    }
    std::string_view plain = seg.text;
    if (d.nfc && !nfc_is_trivially_stable(plain)) {
      normalized = nfc_normalize(plain);
      plain = normalized;
    }
    pieces.clear();
    pretokenize(d.pre, plain, pieces);
    for (std::string_view p : pieces) d.bpe->encode(p, out);
  }
  return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::string bytes;
  for (const int32_t id : ids) {
    if (skip_special && is_special(id)) continue;
    bytes += token_bytes(id);
  }
  return utf8::lossy(bytes);
}

std::string Tokenizer::token_bytes(int32_t id) const {
  const TokenizerData& d = data();
  SPF_CHECK(id >= 0 && static_cast<size_t>(id) < d.id_bytes.size(), "tokenizer: token id ", id,
            " is outside the vocabulary [0, ", d.id_bytes.size(), ")");
  return d.id_bytes[id];
}

std::optional<int32_t> Tokenizer::token_id(std::string_view token_string) const {
  const TokenizerData& d = data();
  auto it = d.string_to_id.find(std::string(token_string));
  if (it == d.string_to_id.end()) return std::nullopt;
  return it->second;
}

bool Tokenizer::is_special(int32_t id) const {
  const TokenizerData& d = data();
  return id >= 0 && static_cast<size_t>(id) < d.id_special.size() && d.id_special[id] != 0;
}

int32_t Tokenizer::vocab_size() const {
  return static_cast<int32_t>(data().id_bytes.size());
}
const SpecialTokens& Tokenizer::special() const {
  return data().special;
}
PreTokenizer Tokenizer::pre_tokenizer() const {
  return data().pre;
}
const std::string& Tokenizer::chat_template() const {
  return data().chat_template;
}

std::string StreamDecoder::push(int32_t id) {
  if (skip_special_ && tok_.is_special(id)) return {};
  pending_ += tok_.token_bytes(id);
  const size_t n = utf8::complete_prefix(pending_);
  std::string out = utf8::lossy(std::string_view(pending_).substr(0, n));
  pending_.erase(0, n);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = utf8::lossy(pending_);
  pending_.clear();
  return out;
}

}  // namespace spf
