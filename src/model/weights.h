// WeightLoader reads a model's tensors by their HF names ("model.layers.3.self_attn.q_proj.weight",
// "lm_head.weight") from any TensorSource, as float32 with the shape checked. It hides where the
// checkpoint keeps them: composite prefixes (model.language_model.*) and GGUF names
// (blk.3.attn_q.weight), including the row permutation llama GGUFs apply to q/k for interleaved
// RoPE.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "formats/tensor_source.h"
#include "model/config.h"

namespace spf {

class WeightLoader {
 public:
  WeightLoader(const TensorSource& src, const ModelConfig& cfg);

  // Throws "<file>: missing tensor <name>" or "<file>: tensor <name> has shape [..], expected
  // [..]".
  std::vector<float> get(const std::string& hf_name, const std::vector<int64_t>& shape) const;
  std::optional<std::vector<float>> get_optional(const std::string& hf_name,
                                                 const std::vector<int64_t>& shape) const;
  bool has(const std::string& hf_name) const;
  // The name the checkpoint stores hf_name under.
  std::string stored_name(const std::string& hf_name) const;

  // "model.layers.<i>.<suffix>"
  static std::string layer(int i, const std::string& suffix);

 private:
  const TensorSource& src_;
  const ModelConfig& cfg_;
  bool gguf_ = false;
};

}  // namespace spf
