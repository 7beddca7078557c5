// The weights of the one decoder stack (model/decoder.h), grouped by the part that uses them. Which
// optional tensors exist is config data (ModelConfig): q/k/v and o biases, q/k norms, the attention
// output gate (q_proj twice as tall), a separate lm_head. Matrices are WeightTensors (stored type
// or F32, per WeightStorage); vectors are fp32. Loading throws spf::Error naming a missing or
// misshapen tensor (by its stored name) or a config the stack cannot run.
#pragma once

#include <vector>

#include "model/config.h"
#include "model/weight_tensor.h"
#include "model/weights.h"

namespace spf {

// Softmax attention (HF LlamaAttention / Qwen2Attention / Qwen3Attention / Qwen3_5Attention).
struct AttentionWeights {
  WeightTensor q;  // [n_heads * D] rows, or [n_heads * 2D] with the output gate ([query | gate])
  WeightTensor k, v, o;
  std::vector<float> bq, bk, bv, bo;  // empty unless qkv_bias / o_bias
  std::vector<float> q_norm, k_norm;  // [D]; empty unless qk_norm
};

// Gated DeltaNet (HF Qwen3_5GatedDeltaNet).
struct GdnWeights {
  WeightTensor qkv, z, b, a, out;
  std::vector<float> conv;  // conv1d.weight [C][1][K]
  std::vector<float> dt_bias, A_log, norm;
};

// SwiGLU MLP (HF LlamaMLP and its Qwen copies).
struct MlpWeights {
  WeightTensor gate, up, down;
};

struct LayerWeights {
  LayerType type = LayerType::full_attention;
  std::vector<float> input_norm, post_norm;  // [hidden]
  AttentionWeights attention;                // full_attention layers
  GdnWeights gdn;                            // linear_attention layers
  MlpWeights mlp;
};

struct DecoderWeights {
  WeightTensor embed;    // [vocab][hidden]
  WeightTensor lm_head;  // empty when tied (the head is embed)
  std::vector<float> norm;
  std::vector<LayerWeights> layers;
  const WeightTensor& head() const { return lm_head.empty() ? embed : lm_head; }
};

// Checks that cfg is runnable, then reads every text weight (model.* or model.language_model.*;
// model.visual.* and mtp.* are never read; lm_head.weight only when embeddings are untied).
DecoderWeights load_decoder_weights(const ModelConfig& cfg, const TensorSource& src,
                                    WeightStorage storage);

}  // namespace spf
