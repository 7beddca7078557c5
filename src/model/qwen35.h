// Qwen3.5 hybrid text model (model_type qwen3_5_text, or the text half of a qwen3_5 composite):
// Gated DeltaNet layers (model/gdn.h) interleaved with gated full-attention layers, which hand
// their q/k/v (after (1+w) q/k norms and partial RoPE) to the AttentionBackend like every other
// model. fp32 weights in memory; the state holds a KV cache for the full layers and conv +
// recurrent states for the GDN layers, so prefill then decode continues exactly. model-specs.md
// section 1.
#pragma once

#include <cstdint>
#include <memory>

#include "model/model.h"

namespace spf {

class TensorSource;

// Wall time of forward() by part, summed over calls since the last reset. The *_core parts are
// contained in their layer part.
struct Qwen35Stats {
  double gdn_s = 0;        // GDN layers: input norm, projections, mixer, out_proj, residual
  double gdn_core_s = 0;   //   conv + delta rule + gated norm
  double attention_s = 0;  // full layers: input norm, projections, q/k norm, RoPE, gate, o_proj
  double attention_core_s = 0;  //   the backend's attend()
  double mlp_s = 0;             // post-attention norm + SwiGLU MLP + residual, all layers
  double other_s = 0;           // embedding lookup, final norm, lm_head
  int64_t tokens = 0;
  int64_t calls = 0;
  double total_s() const { return gdn_s + attention_s + mlp_s + other_s; }
};

class Qwen35Model : public Model {
 public:
  virtual Qwen35Stats stats() const = 0;
  virtual void reset_stats() = 0;
};

// Reads every text weight (model.* or model.language_model.*; model.visual.* and mtp.* are ignored;
// lm_head.weight only when embeddings are untied). Throws spf::Error naming a missing or misshapen
// tensor, or a config this model cannot run. load_model() dispatches here for Arch::qwen35.
std::unique_ptr<Model> make_qwen35_model(const ModelConfig& cfg, const TensorSource& src);

}  // namespace spf
