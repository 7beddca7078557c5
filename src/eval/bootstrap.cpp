#include "eval/bootstrap.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "eval/rng.h"

namespace spf::eval {

double quantile_sorted(const std::vector<double>& sorted, double q) {
  SPF_CHECK(!sorted.empty(), "quantile of no values");
  const double pos = q * double(sorted.size() - 1);
  const auto i = size_t(std::floor(pos));
  if (i + 1 >= sorted.size()) return sorted.back();
  return sorted[i] + (pos - double(i)) * (sorted[i + 1] - sorted[i]);
}

Interval bootstrap_mean(const std::vector<std::vector<double>>& strata, uint64_t seed,
                        int resamples, double level) {
  std::vector<const std::vector<double>*> used;
  Interval r;
  for (const auto& s : strata)
    if (!s.empty()) {
      used.push_back(&s);
      r.n += int64_t(s.size());
    }
  if (used.empty()) {
    r.mean = r.lo = r.hi = std::numeric_limits<double>::quiet_NaN();
    return r;
  }
  auto mean_of = [](const std::vector<double>& v) {
    double s = 0;
    for (const double x : v) s += x;
    return s / double(v.size());
  };
  double m = 0;
  for (const auto* s : used) m += mean_of(*s);
  r.mean = m / double(used.size());

  Rng rng(seed);
  std::vector<double> stats(size_t(std::max(resamples, 1)));
  for (double& stat : stats) {
    double total = 0;
    for (const auto* s : used) {
      double sum = 0;
      for (size_t k = 0; k < s->size(); ++k) sum += (*s)[size_t(rng.below(s->size()))];
      total += sum / double(s->size());
    }
    stat = total / double(used.size());
  }
  std::sort(stats.begin(), stats.end());
  const double tail = (1.0 - level) / 2.0;
  r.lo = quantile_sorted(stats, tail);
  r.hi = quantile_sorted(stats, 1.0 - tail);
  return r;
}

}  // namespace spf::eval
