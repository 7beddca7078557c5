#include "model/weights.h"

#include <cstring>

#include "core/error.h"

namespace spf {

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += cat(i ? ", " : "", s[i]);
  return r + "]";
}

// HF suffix (after "model.layers.<i>.") -> GGUF suffix (after "blk.<i>.").
const std::pair<const char*, const char*> kLayerNames[] = {
    {"self_attn.q_proj.", "attn_q."},
    {"self_attn.k_proj.", "attn_k."},
    {"self_attn.v_proj.", "attn_v."},
    {"self_attn.o_proj.", "attn_output."},
    {"self_attn.q_norm.", "attn_q_norm."},
    {"self_attn.k_norm.", "attn_k_norm."},
    {"mlp.gate_proj.", "ffn_gate."},
    {"mlp.up_proj.", "ffn_up."},
    {"mlp.down_proj.", "ffn_down."},
    {"input_layernorm.", "attn_norm."},
    {"post_attention_layernorm.", "ffn_norm."},
};

// Llama GGUFs store q/k rows per head in interleaved (adjacent-pair) order: GGUF row p holds HF row
// (p % 2) * half + p / 2. Undo it so one rotate-half RoPE serves every source. Rows are moved as
// bytes, so this works for any storage type.
void unpermute_rows(uint8_t* w, int64_t rows, size_t row_bytes, int n_heads) {
  const int64_t hd = rows / n_heads, half = hd / 2;
  std::vector<uint8_t> out(size_t(rows) * row_bytes);
  for (int64_t h = 0; h < n_heads; ++h)
    for (int64_t p = 0; p < hd; ++p) {
      const int64_t dst = h * hd + (p % 2) * half + p / 2;
      std::memcpy(out.data() + size_t(dst) * row_bytes, w + size_t(h * hd + p) * row_bytes,
                  row_bytes);
    }
  std::memcpy(w, out.data(), out.size());
}

}  // namespace

WeightLoader::WeightLoader(const TensorSource& src, const ModelConfig& cfg) : src_(src), cfg_(cfg) {
  gguf_ = src.has("token_embd.weight");
}

std::string WeightLoader::layer(int i, const std::string& suffix) {
  return cat("model.layers.", i, ".", suffix);
}

std::string WeightLoader::stored_name(const std::string& hf) const {
  if (!gguf_) {
    if (hf.rfind("model.", 0) == 0 && cfg_.weight_prefix != "model.")
      return cfg_.weight_prefix + hf.substr(6);
    return hf;
  }
  if (hf == "model.embed_tokens.weight") return "token_embd.weight";
  if (hf == "model.norm.weight") return "output_norm.weight";
  if (hf == "lm_head.weight") return "output.weight";
  // "model.layers.<digits>.<rest>"
  const std::string head = "model.layers.";
  if (hf.compare(0, head.size(), head) == 0) {
    const size_t dot = hf.find('.', head.size());
    const std::string idx =
        hf.substr(head.size(), dot == std::string::npos ? 0 : dot - head.size());
    if (!idx.empty() && idx.find_first_not_of("0123456789") == std::string::npos) {
      const std::string rest = hf.substr(dot + 1);
      for (const auto& [from, to] : kLayerNames) {
        const size_t n = std::strlen(from);
        if (rest.compare(0, n, from) == 0) return cat("blk.", idx, ".", to, rest.substr(n));
      }
    }
  }
  return hf;
}

bool WeightLoader::has(const std::string& hf) const {
  return src_.has(stored_name(hf));
}

std::optional<std::vector<float>> WeightLoader::get_optional(
    const std::string& hf, const std::vector<int64_t>& shape) const {
  if (!has(hf)) return std::nullopt;
  return get(hf, shape);
}

std::string WeightLoader::checked_name(const std::string& hf,
                                       const std::vector<int64_t>& shape) const {
  const std::string name = stored_name(hf);
  SPF_CHECK(src_.has(name), src_.path(), ": missing tensor ", name,
            name == hf ? std::string() : cat(" (", hf, ")"));
  const TensorInfo& info = src_.info(name);
  // 1-D norms and biases may be stored as [n] or [1, n]; compare element counts for those.
  int64_t want = 1;
  for (int64_t d : shape) want *= d;
  const bool same = info.shape == shape || (shape.size() == 1 && info.numel() == want);
  SPF_CHECK(same, src_.path(), ": tensor ", name, " has shape ", shape_str(info.shape),
            ", expected ", shape_str(shape));
  return name;
}

int WeightLoader::permuted_heads(const std::string& hf) const {
  if (!gguf_ || cfg_.arch != Arch::llama) return 0;
  if (hf.find("self_attn.q_proj.") != std::string::npos) return cfg_.n_heads;
  if (hf.find("self_attn.k_proj.") != std::string::npos) return cfg_.n_kv_heads;
  return 0;
}

std::vector<float> WeightLoader::get(const std::string& hf,
                                     const std::vector<int64_t>& shape) const {
  const std::string name = checked_name(hf, shape);
  std::vector<float> w = src_.read_f32(name);
  if (const int heads = permuted_heads(hf); heads > 0) {
    const int64_t rows = shape[0], cols = shape.size() > 1 ? shape[1] : 1;
    unpermute_rows(reinterpret_cast<uint8_t*>(w.data()), rows, size_t(cols) * sizeof(float), heads);
  }
  return w;
}

WeightTensor WeightLoader::matrix(const std::string& hf, int64_t rows, int64_t cols,
                                  WeightStorage storage) const {
  const std::string name = checked_name(hf, {rows, cols});
  const DType t = src_.info(name).dtype;
  // Raw bytes are taken for every type the matmul can read: kept as stored, or (F32) as they are.
  std::span<const uint8_t> raw;
  if (WeightTensor::decodable(t) && (storage == WeightStorage::stored || t == DType::f32))
    raw = src_.raw(name);
  if (raw.empty()) return WeightTensor::from_f32(get(hf, {rows, cols}), rows, cols);
  const size_t row_bytes = WeightTensor::row_bytes(t, cols);
  SPF_CHECK(raw.size() == row_bytes * size_t(rows), src_.path(), ": tensor ", name, " holds ",
            raw.size(), " bytes, expected ", row_bytes * size_t(rows), " for [", rows, ", ", cols,
            "] ", dtype_name(t));
  Buffer b(Device::cpu, raw.size());
  std::memcpy(b.data(), raw.data(), raw.size());
  if (const int heads = permuted_heads(hf); heads > 0)
    unpermute_rows(static_cast<uint8_t*>(b.data()), rows, row_bytes, heads);
  return WeightTensor(t, rows, cols, std::move(b));
}

}  // namespace spf
