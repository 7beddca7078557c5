// WeightLoader reads a model's tensors by their HF names ("model.layers.3.self_attn.q_proj.weight",
// "lm_head.weight") from any TensorSource, with the shape checked: vectors as float32, matrices as
// WeightTensors in their stored type or converted to F32 (WeightStorage). It hides where the
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
#include "model/weight_tensor.h"

namespace spf {

// How matrices are held in memory: converted to F32 at load, or in the checkpoint's own type
// (dequantized per call by the matmul). A type spf cannot keep (e.g. safetensors F64) is converted.
enum class WeightStorage { f32, stored };

class WeightLoader {
 public:
  WeightLoader(const TensorSource& src, const ModelConfig& cfg);

  // Throws "<file>: missing tensor <name>" or "<file>: tensor <name> has shape [..], expected
  // [..]".
  std::vector<float> get(const std::string& hf_name, const std::vector<int64_t>& shape) const;
  std::optional<std::vector<float>> get_optional(const std::string& hf_name,
                                                 const std::vector<int64_t>& shape) const;
  // A [rows, cols] matrix (a linear layer's weight, the embedding table).
  WeightTensor matrix(const std::string& hf_name, int64_t rows, int64_t cols,
                      WeightStorage storage) const;
  bool has(const std::string& hf_name) const;
  // The name the checkpoint stores hf_name under.
  std::string stored_name(const std::string& hf_name) const;

  // "model.layers.<i>.<suffix>"
  static std::string layer(int i, const std::string& suffix);

 private:
  // Checks presence and shape; returns the stored name.
  std::string checked_name(const std::string& hf_name, const std::vector<int64_t>& shape) const;
  // Rows of a llama GGUF q/k weight are stored permuted (see weights.cpp): the head count to undo
  // it with, or 0.
  int permuted_heads(const std::string& hf_name) const;
  const TensorSource& src_;
  const ModelConfig& cfg_;
  bool gguf_ = false;
};

}  // namespace spf
