#include "eval/logit_compare.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace spf {

namespace {
// log-sum-exp of a row, in double for stability over a 50K-entry vocabulary.
double lse(const float* r, int64_t v) {
  const double mx = *std::max_element(r, r + v);
  double s = 0;
  for (int64_t i = 0; i < v; ++i) s += std::exp(double(r[i]) - mx);
  return mx + std::log(s);
}
}  // namespace

LogitComparison compare_logits(std::span<const float> dense, std::span<const float> sparse,
                               int64_t n, int64_t vocab) {
  SPF_CHECK(n > 0 && vocab > 0, "compare_logits: empty input");
  SPF_CHECK(int64_t(dense.size()) == n * vocab && int64_t(sparse.size()) == n * vocab,
            "compare_logits: logits are not [", n, ", ", vocab, "]");
  std::vector<double> kl(static_cast<size_t>(n));
  std::vector<char> same(static_cast<size_t>(n));
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < n; ++t) {
    const float* d = dense.data() + t * vocab;
    const float* s = sparse.data() + t * vocab;
    const double ld = lse(d, vocab), ls = lse(s, vocab);
    double k = 0;
    for (int64_t i = 0; i < vocab; ++i) {
      const double lpd = double(d[i]) - ld;
      k += std::exp(lpd) * (lpd - (double(s[i]) - ls));
    }
    kl[size_t(t)] = std::max(0.0, k);  // rounding can make an exact match slightly negative
    same[size_t(t)] = (std::max_element(d, d + vocab) - d) == (std::max_element(s, s + vocab) - s);
  }
  LogitComparison c;
  c.positions = n;
  for (int64_t t = 0; t < n; ++t) {
    c.kl_mean += kl[size_t(t)];
    c.kl_max = std::max(c.kl_max, kl[size_t(t)]);
    c.top1_agreement += same[size_t(t)];
  }
  c.kl_mean /= double(n);
  c.top1_agreement /= double(n);
  c.kl_last = kl[size_t(n - 1)];
  c.top1_last_same = same[size_t(n - 1)] != 0;
  return c;
}

}  // namespace spf
