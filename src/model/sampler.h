// Next-token choice from logits: greedy (temperature 0) or temperature + top-p (nucleus) sampling
// with a seeded generator, so a run is reproducible.
#pragma once

#include <cstdint>
#include <random>
#include <span>

namespace spf {

struct SamplingParams {
  float temperature = 0.0f;  // 0: greedy
  float top_p = 1.0f;        // (0, 1]
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p);
  int32_t sample(std::span<const float> logits);

 private:
  SamplingParams p_;
  std::mt19937_64 rng_;
};

int32_t argmax(std::span<const float> logits);

}  // namespace spf
