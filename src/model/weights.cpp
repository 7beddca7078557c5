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
// (p % 2) * half + p / 2. Undo it so one rotate-half RoPE serves every source.
void unpermute_rows(std::vector<float>& w, int64_t rows, int64_t cols, int n_heads) {
  const int64_t hd = rows / n_heads, half = hd / 2;
  std::vector<float> out(w.size());
  for (int64_t h = 0; h < n_heads; ++h)
    for (int64_t p = 0; p < hd; ++p) {
      const int64_t dst = h * hd + (p % 2) * half + p / 2;
      std::memcpy(out.data() + dst * cols, w.data() + (h * hd + p) * cols,
                  size_t(cols) * sizeof(float));
    }
  w.swap(out);
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

std::vector<float> WeightLoader::get(const std::string& hf,
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
  std::vector<float> w = src_.read_f32(name);
  if (gguf_ && cfg_.arch == Arch::llama) {
    const bool is_q = hf.find("self_attn.q_proj.") != std::string::npos;
    const bool is_k = hf.find("self_attn.k_proj.") != std::string::npos;
    if (is_q || is_k) {
      const int heads = is_q ? cfg_.n_heads : cfg_.n_kv_heads;
      const int64_t rows = shape[0], cols = shape.size() > 1 ? shape[1] : 1;
      unpermute_rows(w, rows, cols, heads);
    }
  }
  return w;
}

}  // namespace spf
