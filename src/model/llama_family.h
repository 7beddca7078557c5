// The dense GQA decoder family: Llama (SmolLM2), Qwen2 (q/k/v bias), Qwen3 (q/k RMSNorm, explicit
// head_dim). fp32 weights in memory, BLAS matmuls, rotate-half RoPE, SwiGLU MLP, tied or untied
// head.
#pragma once

#include <memory>

#include "model/model.h"

namespace spf {

class TensorSource;

std::unique_ptr<Model> make_llama_family_model(const ModelConfig& cfg, const TensorSource& src);

}  // namespace spf
