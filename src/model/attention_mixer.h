// The softmax-attention mixer, one for every attention-layer variant of the supported families,
// chosen by config data (ModelConfig), following the HF transformers modules LlamaAttention,
// Qwen2Attention, Qwen3Attention and Qwen3_5Attention:
//   q, k, v projections (+ bias when qkv_bias); with attn_output_gate, q_proj emits [query | gate]
//   per head -> per-head RMSNorm of q and k when qk_norm (w or, with norm_plus_one, 1 + w) ->
//   rotate-half RoPE over the first rope.rotary_dim dims (partial RoPE) -> KV cache ->
//   backend.attend(AttentionCall with hidden = the normed input and the layer's side cache) ->
//   out *= sigmoid(gate) with the output gate -> o_proj (+ bias when o_bias).
#pragma once

#include <vector>

#include "model/decoder_weights.h"
#include "model/mixer.h"

namespace spf {

class AttentionMixer final : public Mixer {
 public:
  // slot: the layer's index among the attention layers (its KV cache and side cache). inv_freq:
  // the RoPE inverse frequencies (rope.rotary_dim / 2), shared by the model's layers.
  AttentionMixer(const ModelConfig& cfg, AttentionWeights weights, int slot,
                 const std::vector<float>& inv_freq);
  MixerKind kind() const override { return MixerKind::attention; }
  void forward(const float* h, float* out, MixerContext& ctx) const override;

 private:
  const ModelConfig& cfg_;
  AttentionWeights w_;
  int slot_;
  const std::vector<float>& inv_freq_;
};

}  // namespace spf
