// The one decoder stack of every supported family (Llama, Qwen2, Qwen3, Qwen3.5). Architecture
// differences are config data (ModelConfig: biases, q/k norm and its (1 + w) form, output gate,
// partial RoPE, layer types, tied head); the block is written once:
//
//   x = embed(tokens)
//   for each layer:  h = RMSNorm(x) -> x += mixer(h)           (attention_mixer.h | gdn_mixer.h)
//                    h = RMSNorm(x) -> x += down(silu(gate(h)) * up(h))
//   logits = head(RMSNorm(x))                                  (the rows LogitsMode asks for)
//
// following HF transformers' LlamaForCausalLM / Qwen2ForCausalLM / Qwen3ForCausalLM /
// Qwen3_5ForCausalLM (RMSNorm as w * x_hat, or (1 + w) * x_hat with norm_plus_one). Activations
// come from the state's Arena; named intermediates go to ForwardOptions::trace (model/trace.h).
#pragma once

#include <memory>

#include "model/model.h"
#include "model/weights.h"

namespace spf {

class TensorSource;

std::unique_ptr<Model> make_decoder(const ModelConfig& cfg, const TensorSource& src,
                                    WeightStorage storage);

}  // namespace spf
