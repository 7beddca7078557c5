// Mixer: the token-mixing half of a decoder layer (model/decoder.h), between the input RMSNorm and
// the first residual add. Two kinds: softmax attention through the AttentionBackend
// (attention_mixer.h) and Gated DeltaNet (gdn_mixer.h). A mixer owns its layer's weights; its
// per-sequence state lives in the ModelState, at the mixer's slot (its index among the layers of
// its kind).
#pragma once

#include <cstdint>

#include "attention/attention.h"
#include "model/model.h"
#include "model/state.h"
#include "model/trace.h"

namespace spf {

// What a mixer needs of the current forward() chunk besides its input.
struct MixerContext {
  int layer = 0;     // model layer index
  int64_t n = 0;     // tokens in this call
  int64_t pos0 = 0;  // position of the first
  ModelState& state;
  AttentionBackend& backend;
  TraceSink* trace = nullptr;  // null when nobody listens
  ForwardStats& stats;         // the mixer adds its core time

  bool tracing(const char* name) const { return trace != nullptr && trace->wants(layer, name); }
  void capture(const char* name, const TensorView& t) const {
    if (tracing(name)) trace->capture(layer, name, pos0, t);
  }
};

class Mixer {
 public:
  virtual ~Mixer() = default;
  virtual MixerKind kind() const = 0;
  // h [n][hidden]: the normalised layer input; out [n][hidden]: the mixer output (before the
  // residual). Scratch comes from ctx.state.layer_arena() (reset after the layer).
  virtual void forward(const float* h, float* out, MixerContext& ctx) const = 0;
};

}  // namespace spf
