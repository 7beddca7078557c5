#include "model/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/error.h"

namespace spf {

int32_t argmax(std::span<const float> logits) {
  SPF_CHECK(!logits.empty(), "argmax of empty logits");
  return int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

Sampler::Sampler(const SamplingParams& p) : p_(p), rng_(p.seed) {
  SPF_CHECK(p.temperature >= 0 && std::isfinite(p.temperature), "temperature must be >= 0, got ",
            p.temperature);
  SPF_CHECK(p.top_p > 0 && p.top_p <= 1, "top-p must be in (0, 1], got ", p.top_p);
}

int32_t Sampler::sample(std::span<const float> logits) {
  if (p_.temperature == 0.0f) return argmax(logits);
  const float mx = *std::max_element(logits.begin(), logits.end());
  std::vector<int32_t> idx(logits.size());
  std::vector<double> prob(logits.size());
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    prob[i] = std::exp(double(logits[i] - mx) / p_.temperature);
    sum += prob[i];
  }
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(),
            [&](int32_t a, int32_t b) { return prob[size_t(a)] > prob[size_t(b)]; });
  // Smallest prefix of the sorted distribution whose mass reaches top_p.
  size_t keep = 0;
  double acc = 0;
  while (keep < idx.size()) {
    acc += prob[size_t(idx[keep++])] / sum;
    if (acc >= p_.top_p) break;
  }
  double kept = 0;
  for (size_t i = 0; i < keep; ++i) kept += prob[size_t(idx[i])];
  // Uniform double from the top 53 bits: identical across standard libraries.
  const double u = double(rng_() >> 11) * 0x1.0p-53 * kept;
  double c = 0;
  for (size_t i = 0; i < keep; ++i) {
    c += prob[size_t(idx[i])];
    if (u < c) return idx[i];
  }
  return idx[keep - 1];
}

}  // namespace spf
