// Turns a loader's VocabSpec into TokenizerData: byte-level vocab decoding, merge table, added
// tokens, special-token validation and the generation-ending id list.
#include <algorithm>

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer_impl.h"

namespace spf {
namespace {

constexpr int32_t kMaxVocab =
    1 << 24;  // far above any real vocab; guards the id tables against bad files

void check_id(const VocabSpec& s, int64_t id, const char* what, std::string_view name) {
  SPF_CHECK(id >= 0 && id < kMaxVocab, s.where, ": ", what, " \"", name, "\" has id ", id,
            ", outside [0, ", kMaxVocab, ")");
}

void check_special(const VocabSpec& s, const std::optional<int32_t>& id, const char* name,
                   size_t vocab_size) {
  SPF_CHECK(!id || (*id >= 0 && static_cast<size_t>(*id) < vocab_size), s.where, ": ", name,
            " token id ", id.value_or(0), " is outside the vocabulary (", vocab_size, " entries)");
}

}  // namespace

TokenizerData build_tokenizer_data(VocabSpec spec) {
  TokenizerData d;
  int32_t n = 0;
  for (const auto& [s, id] : spec.vocab) {
    check_id(spec, id, "vocab entry", s);
    n = std::max(n, id + 1);
  }
  for (const AddedToken& a : spec.added) {
    check_id(spec, a.id, "added token", a.content);
    n = std::max(n, a.id + 1);
  }
  SPF_CHECK(n > 0, spec.where, ": the vocabulary is empty");
  d.id_bytes.resize(n);
  d.id_special.assign(n, 0);

  std::unordered_map<std::string, int32_t> vocab;  // BPE's view: byte-level strings only
  vocab.reserve(spec.vocab.size());
  for (auto& [s, id] : spec.vocab) {
    d.id_bytes[id] = byte_level::decode(s).value_or(s);
    vocab.emplace(s, id);
  }
  for (const AddedToken& a : spec.added) {
    d.id_bytes[a.id] = a.content;
    d.id_special[a.id] = a.special ? 1 : 0;
    d.added.add(a);
  }

  std::array<int32_t, 256> byte_ids{};
  for (int b = 0; b < 256; ++b) {
    auto it = vocab.find(byte_level::encode_byte(static_cast<unsigned char>(b)));
    byte_ids[b] = it == vocab.end() ? -1 : it->second;
  }
  check_special(spec, spec.special.unk, "unk", d.id_bytes.size());
  d.bpe = std::make_unique<Bpe>(byte_ids, spec.special.unk, spec.fuse_unk);
  auto lookup = [&](size_t rank, const std::string& a, const std::string& b, const std::string& s) {
    auto it = vocab.find(s);
    SPF_CHECK(it != vocab.end(), spec.where, ": merge ", rank, " \"", a, " ", b, "\": \"", s,
              "\" is not in the vocabulary");
    return it->second;
  };
  for (size_t r = 0; r < spec.merges.size(); ++r) {
    const auto& [a, b] = spec.merges[r];
    d.bpe->add_merge(lookup(r, a, b, a), lookup(r, a, b, b), lookup(r, a, b, a + b));
  }
  if (spec.ignore_merges) {
    std::unordered_map<std::string, int32_t> whole;
    whole.reserve(vocab.size());
    for (const auto& [s, id] : vocab) whole.emplace(d.id_bytes[id], id);
    d.bpe->set_whole_pieces(std::move(whole));
  }

  d.string_to_id = std::move(vocab);
  for (const AddedToken& a : spec.added) d.string_to_id[a.content] = a.id;

  SpecialTokens& sp = spec.special;
  check_special(spec, sp.bos, "bos", d.id_bytes.size());
  check_special(spec, sp.eos, "eos", d.id_bytes.size());
  check_special(spec, sp.pad, "pad", d.id_bytes.size());
  sp.eos_ids.clear();
  auto add_eos = [&](int32_t id) {
    if (std::find(sp.eos_ids.begin(), sp.eos_ids.end(), id) == sp.eos_ids.end())
      sp.eos_ids.push_back(id);
  };
  if (sp.eos) add_eos(*sp.eos);
  for (int32_t id : spec.extra_eos) {
    check_special(spec, id, "eot", d.id_bytes.size());
    add_eos(id);
  }
  for (const char* name : {"<|im_end|>", "<|endoftext|>"}) {
    for (const AddedToken& a : spec.added) {
      if (a.special && a.content == name) add_eos(a.id);
    }
  }
  d.special = sp;
  d.pre = spec.pre;
  d.nfc = spec.nfc;
  d.chat_template = std::move(spec.chat_template);
  return d;
}

}  // namespace spf
