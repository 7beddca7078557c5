#include "indexer/cuda/device_indexer_weights.h"

#include "attention/cuda/cuda_executor.h"
#include "core/error.h"
#include "core/half.h"

namespace spf {

namespace {

// bf16 elements of a matrix rounded up to 256 bytes (cuBLASLt likes aligned operands).
int64_t aligned(int64_t elements) {
  return (elements + 127) / 128 * 128;
}

}  // namespace

DeviceIndexerWeights::DeviceIndexerWeights(const IndexerWeights& w) : config_(w.config) {
  const IndexerConfig& c = config_;
  c.validate();
  SPF_CHECK(int64_t(w.params.size()) == c.total_size(), "cuda indexer: ", w.params.size(),
            " parameters, the config (", c.variant(), ", ", c.n_layers, " layers, d_model ",
            c.d_model, ") needs ", c.total_size());
  const int64_t dm = c.d_model, d = c.d_idx, H = c.n_heads, G = c.n_groups;
  std::vector<uint16_t> host;
  auto append = [&](const float* src, int64_t rows) {
    const int64_t at = int64_t(host.size());
    host.resize(size_t(at + aligned(rows * dm)), 0);
    for (int64_t i = 0; i < rows * dm; ++i) host[size_t(at + i)] = f32_to_bf16(src[i]);
    return at;
  };
  for (int l = 0; l < c.n_layers; ++l) {
    std::vector<float> wk(size_t(G * d * dm));
    for (int g = 0; g < G; ++g) {
      const float* src = w.params.data() + param_offset(c, l, g, IndexerMatrix::wk);
      std::copy_n(src, d * dm, wk.begin() + g * d * dm);
    }
    wk_at_.push_back(append(wk.data(), G * d));
    for (int g = 0; g < G; ++g) {
      wq_at_.push_back(append(w.params.data() + param_offset(c, l, g, IndexerMatrix::wq), H * d));
      ww_at_.push_back(H > 1 ? append(w.params.data() + param_offset(c, l, g, IndexerMatrix::ww), H)
                             : -1);
    }
  }
  SPF_CHECK(cuda_device_present(), "cuda indexer: no CUDA device");
  weights_ = Buffer(Device::cuda, host.size() * 2);
  cuda_copy_to_device(weights_.data(), host.data(), host.size() * 2);
  const std::vector<float> f = indexer_inv_freq(c);
  inv_freq_ = Buffer(Device::cuda, std::max<size_t>(f.size(), 1) * 4);
  if (!f.empty()) cuda_copy_to_device(inv_freq_.data(), f.data(), f.size() * 4);
}

const uint16_t* DeviceIndexerWeights::wk(int layer) const {
  return static_cast<const uint16_t*>(weights_.data()) + wk_at_[size_t(layer)];
}

const uint16_t* DeviceIndexerWeights::wq(int layer, int group) const {
  return static_cast<const uint16_t*>(weights_.data()) +
         wq_at_[size_t(layer * config_.n_groups + group)];
}

const uint16_t* DeviceIndexerWeights::ww(int layer, int group) const {
  const int64_t at = ww_at_[size_t(layer * config_.n_groups + group)];
  return at < 0 ? nullptr : static_cast<const uint16_t*>(weights_.data()) + at;
}

}  // namespace spf
