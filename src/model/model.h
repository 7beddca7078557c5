// Model: a causal LM forward over a prompt (batched prefill, optionally in chunks) or one token at
// a time (decode), carrying its caches in a ModelState (model/state.h). Every attention layer's
// softmax attention goes through the AttentionBackend passed to forward(): dense by default, any
// Support-driven backend for sparse prefill. Every supported family (Llama, Qwen2, Qwen3, the
// Qwen3.5 hybrid) runs on the one decoder stack of model/decoder.h; load_model() opens a GGUF file
// or an HF checkpoint directory and builds it.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "attention/attention.h"
#include "model/config.h"
#include "model/state.h"
#include "model/weights.h"

namespace spf {

class TensorSource;
class TraceSink;

enum class LogitsMode { last, all };

// Options of one forward() call beyond the tokens, state and backend.
struct ForwardOptions {
  LogitsMode mode = LogitsMode::last;
  // Run the tokens in chunks of this many (0: all at once). Each chunk's queries attend to the
  // whole cache so far, so the result equals one call up to float rounding; activations (and the
  // arena) are sized by the chunk.
  int64_t prefill_chunk = 0;
  // Receives the named per-layer intermediates it asks for (model/trace.h); may be null.
  TraceSink* trace = nullptr;
};

// The layer mixers of the stack.
enum class MixerKind { attention, gated_deltanet };
inline constexpr int kMixerKinds = 2;
const char* mixer_kind_name(MixerKind k);

// Wall time of forward() by part, summed over calls since the last reset. core_s is contained in
// mixer_s; mixer_s, mlp_s and other_s add up to the whole forward.
struct ForwardStats {
  // Layers of each mixer kind: input norm, projections, mixer, output projection, residual add.
  std::array<double, kMixerKinds> mixer_s{};
  // The mixer's core: attention = the backend's attend(); Gated DeltaNet = conv + delta rule +
  // gated norm.
  std::array<double, kMixerKinds> core_s{};
  double mlp_s = 0;    // post-mixer norm + SwiGLU MLP + residual, all layers
  double other_s = 0;  // embedding lookup, final norm, lm_head
  int64_t tokens = 0;
  int64_t calls = 0;  // forward() calls (a chunked prefill is one)

  double mixer(MixerKind k) const { return mixer_s[size_t(k)]; }
  double core(MixerKind k) const { return core_s[size_t(k)]; }
  double total_s() const;
  void add(const ForwardStats& o);
};

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelConfig& config() const = 0;
  // A fresh state able to hold max_tokens positions (throws if beyond the model's context).
  virtual std::unique_ptr<ModelState> new_state(int64_t max_tokens) const = 0;
  // Runs tokens at positions n_past .. n_past + n - 1 and advances the state. logits receives
  // [n, vocab] (LogitsMode::all) or [vocab] (LogitsMode::last). Throws (leaving the state as it
  // was) if the state would overflow, a token id is outside the vocabulary or the state belongs to
  // another model.
  virtual void forward(std::span<const int32_t> tokens, ModelState& state,
                       AttentionBackend& attention, std::span<float> logits,
                       const ForwardOptions& options) const = 0;
  // The same with default options but the logits mode.
  void forward(std::span<const int32_t> tokens, ModelState& state, AttentionBackend& attention,
               LogitsMode mode, std::span<float> logits) const {
    ForwardOptions o;
    o.mode = mode;
    forward(tokens, state, attention, logits, o);
  }

  // Per-part timings (thread-safe).
  virtual ForwardStats stats() const = 0;
  virtual void reset_stats() = 0;
};

// Dense attention on a device's executor (attention/executor.h executor_for): the CPU's tiled
// executor by default, used when no other backend is given.
AttentionBackend& dense_attention_backend(Device device = Device::cpu);

struct LoadOptions {
  // Matrices in their stored type (dequantized per matmul) or converted to F32 at load; see
  // docs/results/cpu.md for the measurement behind the default.
  WeightStorage weights = WeightStorage::stored;
  // Where the forward runs: the CPU decoder, or a device model registered below (Device::cuda:
  // model/cuda/cuda_decoder.h, install_cuda_models()).
  Device device = Device::cpu;
};

// Builds the model of a device other than the host; registered by that device's library.
using DeviceModelFactory = std::function<std::unique_ptr<Model>(
    const ModelConfig& cfg, const TensorSource& src, const LoadOptions& options)>;
void register_device_model_factory(Device device, DeviceModelFactory factory);

// path: a .gguf file, or a directory (or config.json) of an HF safetensors checkpoint.
std::unique_ptr<Model> load_model(const std::string& path, const LoadOptions& options = {});
// The decoder stack for a config over any tensor source (checkpoints built in memory, benches).
// Throws spf::Error naming a missing or misshapen tensor, or a config the stack cannot run.
std::unique_ptr<Model> make_model(const ModelConfig& cfg, const TensorSource& src,
                                  const LoadOptions& options = {});

}  // namespace spf
