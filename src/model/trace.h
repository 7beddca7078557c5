// Trace hook: named intermediates of each layer, handed to a TraceSink during forward() (passed in
// ForwardOptions). The model asks wants(layer, name) first and only then captures, so an idle hook
// costs nothing. A captured view is valid only during capture(): copy what you keep. Rows are
// tokens at positions pos0 .. pos0 + rows - 1 (with chunked prefill one forward() captures each
// name once per chunk, in order).
//
// Names (every layer unless noted; H = hidden size, D = head_dim):
//   mixer_in   [n][H]             the layer's input after its first RMSNorm (what the mixer and an
//                                 indexer read; AttentionCall::hidden)
//   q          [n][n_heads][D]    queries after q-norm and RoPE          (attention layers)
//   k, v       [n][n_kv_heads][D] this call's keys after k-norm and RoPE, and values
//                                                                        (attention layers)
//   attn_out   [n][n_heads][D]    the attention backend's output, before the output gate and
//                                 o_proj                                 (attention layers)
//   mixer_out  [n][H]             the mixer's output (after o_proj / out_proj), before the residual
//   mlp_out    [n][H]             the SwiGLU MLP's output, before the residual
//   residual   [n][H]             the residual stream after the layer (the next layer's input; the
//                                 last layer's goes through the final norm and the head)
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace spf {

namespace trace {
inline constexpr const char* kMixerIn = "mixer_in";
inline constexpr const char* kQ = "q";
inline constexpr const char* kK = "k";
inline constexpr const char* kV = "v";
inline constexpr const char* kAttnOut = "attn_out";
inline constexpr const char* kMixerOut = "mixer_out";
inline constexpr const char* kMlpOut = "mlp_out";
inline constexpr const char* kResidual = "residual";
// Every name above, in the order a layer produces them.
inline constexpr const char* kNames[] = {kMixerIn, kQ,        kK,      kV,
                                         kAttnOut, kMixerOut, kMlpOut, kResidual};
}  // namespace trace

class TraceSink {
 public:
  virtual ~TraceSink() = default;
  virtual bool wants(int layer, std::string_view name) const = 0;
  virtual void capture(int layer, std::string_view name, int64_t pos0, const TensorView& t) = 0;
};

// A sink that keeps every capture of the chosen layers (all names) in memory as fp32, rows of
// successive calls appended in position order; write_npy() stores each as
// <dir>/L<layer, 2 digits>.<name>.npy, atomically.
class TraceRecorder final : public TraceSink {
 public:
  struct Array {
    std::vector<int64_t> shape;  // rows first
    std::vector<float> data;
    int64_t pos0 = 0;  // position of row 0
  };
  explicit TraceRecorder(std::set<int> layers) : layers_(std::move(layers)) {}
  bool wants(int layer, std::string_view name) const override;
  // Throws spf::Error when a capture does not continue the rows recorded so far (a position gap,
  // or a row shape that changed).
  void capture(int layer, std::string_view name, int64_t pos0, const TensorView& t) override;

  const std::map<std::pair<int, std::string>, Array>& arrays() const { return arrays_; }
  // Throws spf::Error naming the array when nothing was captured for it.
  const Array& get(int layer, const std::string& name) const;
  // "L05.attn_out.npy"
  static std::string file_name(int layer, std::string_view name);
  // Writes every array into dir (created if missing); returns the number of files.
  int write_npy(const std::string& dir) const;

 private:
  std::set<int> layers_;
  std::map<std::pair<int, std::string>, Array> arrays_;
};

// "0,5,7" or "all" -> layer indices, each within [0, n_layers). Throws spf::Error naming the bad
// element (not a number, out of range) and `where` (e.g. "--dump-layers").
std::set<int> parse_layer_list(std::string_view text, int n_layers, std::string_view where);

}  // namespace spf
