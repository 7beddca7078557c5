// An indexer's weights on the GPU, bf16, laid out for the projections of CudaIndexerBackend:
// per layer one matrix wk [n_groups * d_idx][d_model] (all groups' key rows, so one GEMM writes a
// token's side-cache row [n_groups][d_idx] at once), and per (layer, group) wq [n_heads * d_idx]
// [d_model] and, with lightning heads, ww [n_heads][d_model]; plus the RoPE inverse frequencies
// (f32, indexer_inv_freq). Rounding the f32 weights to bf16 is the one change from the CPU scorer.
#pragma once

#include <cstdint>
#include <vector>

#include "core/buffer.h"
#include "indexer/indexer_model.h"

namespace spf {

class DeviceIndexerWeights {
 public:
  // Throws spf::Error when the parameter count does not match the config.
  explicit DeviceIndexerWeights(const IndexerWeights& w);

  const IndexerConfig& config() const { return config_; }
  const uint16_t* wk(int layer) const;
  const uint16_t* wq(int layer, int group) const;
  const uint16_t* ww(int layer, int group) const;  // null when n_heads == 1
  const float* inv_freq() const { return static_cast<const float*>(inv_freq_.data()); }
  size_t bytes() const { return weights_.bytes() + inv_freq_.bytes(); }

 private:
  IndexerConfig config_;
  Buffer weights_;                      // every matrix, 256-byte aligned offsets (bf16 elements)
  std::vector<int64_t> wk_at_;          // [layer]
  std::vector<int64_t> wq_at_, ww_at_;  // [layer * n_groups + group]; ww -1 without heads
  Buffer inv_freq_;
};

}  // namespace spf
