// ModelConfig: one typed description of every supported architecture, filled from an HF config.json
// (top level or a composite's text_config) or from GGUF metadata. Unknown architectures, layer
// types or inconsistent head counts are rejected here with a clear error, before any weight is
// read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nlohmann/json_fwd.hpp"

namespace spf {

class GgufFile;

enum class Arch { llama, qwen2, qwen3, qwen35 };
enum class LayerType { full_attention, linear_attention };

const char* arch_name(Arch a);
const char* layer_type_name(LayerType t);

struct RopeConfig {
  float theta = 10000.0f;
  int rotary_dim = 0;            // dims rotated per head (head_dim, or partial: head_dim * factor)
  std::string type = "default";  // default | linear | llama3
  float factor = 1.0f;
  float low_freq_factor = 1.0f;
  float high_freq_factor = 4.0f;
  int original_max_position = 8192;
};

struct ModelConfig {
  Arch arch = Arch::llama;
  std::string hf_architecture;  // e.g. LlamaForCausalLM, Qwen3_5ForConditionalGeneration
  int vocab_size = 0;
  int hidden = 0;
  int intermediate = 0;
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  float rms_eps = 1e-6f;
  int64_t max_context = 0;
  bool tie_embeddings = false;
  bool qkv_bias = false;          // Qwen2 (and Llama attention_bias)
  bool o_bias = false;            // Llama attention_bias
  bool qk_norm = false;           // Qwen3 and Qwen3.5
  bool norm_plus_one = false;     // Qwen3.5 HF RMSNorm: x_hat * (1 + w)
  bool attn_output_gate = false;  // Qwen3.5: q_proj also emits a per-head sigmoid gate
  RopeConfig rope;
  std::vector<LayerType> layer_types;  // size n_layers; all full_attention for dense models

  // Gated DeltaNet (Qwen3.5 linear-attention layers)
  int lin_k_heads = 0;
  int lin_v_heads = 0;
  int lin_k_dim = 0;
  int lin_v_dim = 0;
  int conv_kernel = 0;

  // Weight-name prefix of the text model: "model." or "model.language_model." (composite).
  std::string weight_prefix = "model.";

  int n_attention_layers() const;
  // Throws spf::Error on inconsistent values (heads not divisible, head_dim <= 0, ...).
  void validate() const;
};

// Throws when a dimension is beyond what any real checkpoint has (layers, hidden, FFN, heads,
// vocab): a corrupt file must fail before tables sized by it are allocated.
void check_dims_bounded(const ModelConfig& c, const std::string& where);

ModelConfig config_from_hf_json(const nlohmann::json& j, const std::string& where);
ModelConfig config_from_hf_file(const std::string& config_json_path);
ModelConfig config_from_gguf(const GgufFile& gguf);

}  // namespace spf
