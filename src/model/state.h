// ModelState: everything one sequence carries between forward() calls, sized once for `capacity`
// positions when the model creates it:
//   - a KV cache per attention layer ([capacity][n_kv_heads][head_dim], model/kv_cache.h),
//   - a SideCache per attention layer (attention/side_cache.h; capacity rows, filled by whatever
//     backend or producer writes it — every attention call carries its layer's side cache),
//   - conv and recurrent state per Gated DeltaNet layer,
//   - two activation Arenas (core/buffer.h): arena() for what lives through a forward() call (the
//     residual stream, the normed input, a layer's output) and layer_arena() for the scratch of
//     one layer (projections, MLP intermediates), reset after every layer so that it holds one
//     layer's worth whatever the depth. Both are reset after each call, so once the largest call
//     (the prefill) has run, decode steps allocate nothing on the heap.
// Prefill of N tokens followed by decode is exact because all of this is carried.
//
// A device model (model/cuda/) makes its states with Device::cuda: no host caches are allocated,
// the side caches and arenas live on the device, and the model keeps its device KV cache and
// recurrent state in a StateExtension the state owns.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "attention/side_cache.h"
#include "core/buffer.h"
#include "model/config.h"
#include "model/kv_cache.h"

namespace spf {

// Per-sequence data of a device model, defined by that model.
class StateExtension {
 public:
  virtual ~StateExtension() = default;
};

class ModelState {
 public:
  // owner identifies the model that made the state (forward() rejects a foreign one).
  ModelState(const ModelConfig& cfg, int64_t capacity, const void* owner,
             Device device = Device::cpu);
  ModelState(const ModelState&) = delete;
  ModelState& operator=(const ModelState&) = delete;

  int64_t n_past() const { return n_past_; }
  int64_t capacity() const { return capacity_; }
  Device device() const { return device_; }

  int n_attention_layers() const { return int(side_caches_.size()); }
  // The side cache of attention layer i (0 .. n_attention_layers() - 1, in layer order).
  SideCache& side_cache(int attention_layer);
  const SideCache& side_cache(int attention_layer) const;
  const Arena& arena() const { return arena_; }
  const Arena& layer_arena() const { return layer_arena_; }

  // For the model's forward().
  const void* owner() const { return owner_; }
  Arena& arena() { return arena_; }
  Arena& layer_arena() { return layer_arena_; }
  KvCache& kv() { return kv_; }
  float* gdn_conv(int gdn_layer) { return conv_[size_t(gdn_layer)].data(); }
  float* gdn_recurrent(int gdn_layer) { return recurrent_[size_t(gdn_layer)].data(); }
  void advance(int64_t n) { n_past_ += n; }
  StateExtension* extension() const { return extension_.get(); }
  void set_extension(std::unique_ptr<StateExtension> e) { extension_ = std::move(e); }

 private:
  const void* owner_;
  int64_t n_past_ = 0;
  int64_t capacity_ = 0;
  Device device_ = Device::cpu;
  KvCache kv_;
  std::vector<SideCache> side_caches_;
  std::vector<std::vector<float>> conv_, recurrent_;  // per GDN layer: [K-1][C], [nv][dk][dv]
  Arena arena_, layer_arena_;
  std::unique_ptr<StateExtension> extension_;
};

}  // namespace spf
