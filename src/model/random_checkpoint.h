// A checkpoint of random weights for any config the decoder runs (every family's tensor names
// and shapes, including biases, q/k norms, the output gate and Gated DeltaNet layers), as a
// TensorSource that fills tensors on read from a hash of (seed, name, index): nothing is held
// besides the names. For benchmarks of real-size shapes and for tests that compare two forwards
// (CPU vs GPU) on the same weights. Linear weights are uniform with std ~ 1/sqrt(in), norms near
// their identity, so activations stay O(1) through any depth.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "formats/tensor_source.h"
#include "model/config.h"

namespace spf {

class RandomCheckpoint final : public TensorSource {
 public:
  RandomCheckpoint(const ModelConfig& cfg, uint64_t seed);
  const std::string& path() const override { return path_; }
  std::vector<std::string> names() const override { return order_; }
  bool has(const std::string& name) const override { return tensors_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const override;
  using TensorSource::read_f32;
  void read_f32(const std::string& name, std::span<float> out) const override;

 private:
  struct Entry {
    TensorInfo info;
    float center = 0, scale = 0;  // uniform in [center - scale, center + scale]
  };
  void add(const std::string& name, std::vector<int64_t> shape, float center, float scale);
  const Entry& get(const std::string& name) const;

  uint64_t seed_;
  std::string path_;
  std::vector<std::string> order_;
  std::map<std::string, Entry> tensors_;
};

}  // namespace spf
