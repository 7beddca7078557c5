// The Gated DeltaNet mixer of Qwen3.5's linear-attention layers (HF Qwen3_5GatedDeltaNet):
// in_proj_qkv / z / b / a -> causal depthwise conv + SiLU -> L2-normed q, k -> gated delta rule
// (chunked for prompts, recurrent for decode; model/gdn.h) -> gated RMSNorm with silu(z) ->
// out_proj. Its conv and recurrent state live in the ModelState, so a prompt can be split anywhere.
#pragma once

#include "model/decoder_weights.h"
#include "model/gdn.h"
#include "model/mixer.h"

namespace spf {

class GdnMixer final : public Mixer {
 public:
  // slot: the layer's index among the GDN layers (its conv and recurrent state).
  GdnMixer(const ModelConfig& cfg, GdnWeights weights, int slot);
  MixerKind kind() const override { return MixerKind::gated_deltanet; }
  void forward(const float* h, float* out, MixerContext& ctx) const override;

 private:
  const ModelConfig& cfg_;
  gdn::Dims dims_;
  GdnWeights w_;
  int slot_;
};

}  // namespace spf
