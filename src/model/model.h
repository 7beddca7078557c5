// Model: a causal LM forward over a prompt (batched prefill) or one token at a time (decode),
// carrying its caches in a ModelState. Every attention layer's softmax attention goes through the
// AttentionBackend passed to forward(): dense by default, any Support-driven backend for sparse
// prefill. load_model() opens a GGUF file or an HF checkpoint directory and builds the right
// family.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "attention/attention.h"
#include "model/config.h"

namespace spf {

class TensorSource;

// Caches of one sequence: KV for attention layers, conv + recurrent state for GDN layers.
class ModelState {
 public:
  virtual ~ModelState() = default;
  int64_t n_past() const { return n_past_; }
  int64_t capacity() const { return capacity_; }

 protected:
  int64_t n_past_ = 0;
  int64_t capacity_ = 0;
};

enum class LogitsMode { last, all };

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelConfig& config() const = 0;
  // A fresh state able to hold max_tokens positions (throws if beyond the model's context).
  virtual std::unique_ptr<ModelState> new_state(int64_t max_tokens) const = 0;
  // Runs tokens at positions n_past .. n_past + n - 1 and advances the state. logits receives
  // [n, vocab] (LogitsMode::all) or [vocab] (LogitsMode::last). Throws if the state would overflow.
  virtual void forward(std::span<const int32_t> tokens, ModelState& state,
                       AttentionBackend& attention, LogitsMode mode,
                       std::span<float> logits) const = 0;
};

// The dense tiled executor, used when no other backend is given.
AttentionBackend& dense_attention_backend();

// path: a .gguf file, or a directory (or config.json) of an HF safetensors checkpoint.
std::unique_ptr<Model> load_model(const std::string& path);

}  // namespace spf
