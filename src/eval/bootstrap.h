// Percentile bootstrap confidence intervals for the report. The statistic is the mean over strata
// of each stratum's mean (strata = tasks, so every task weighs the same, as in RULER's average over
// tasks); each resample redraws every stratum's values with replacement, independently. A fixed
// seed makes the interval reproducible.
#pragma once

#include <cstdint>
#include <vector>

namespace spf::eval {

struct Interval {
  double mean = 0;  // the statistic on the data itself
  double lo = 0, hi = 0;
  int64_t n = 0;  // values over all strata
};

inline constexpr int kBootstrapResamples = 2000;
inline constexpr uint64_t kBootstrapSeed = 20240601;

// level: e.g. 0.95. Empty strata are ignored; all empty gives n = 0 and NaNs.
Interval bootstrap_mean(const std::vector<std::vector<double>>& strata,
                        uint64_t seed = kBootstrapSeed, int resamples = kBootstrapResamples,
                        double level = 0.95);
inline Interval bootstrap_mean(const std::vector<double>& values, uint64_t seed = kBootstrapSeed,
                               int resamples = kBootstrapResamples, double level = 0.95) {
  return bootstrap_mean(std::vector<std::vector<double>>{values}, seed, resamples, level);
}

// Linear-interpolation quantile of sorted values (numpy's default), q in [0, 1].
double quantile_sorted(const std::vector<double>& sorted, double q);

}  // namespace spf::eval
