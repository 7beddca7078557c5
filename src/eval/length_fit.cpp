#include "eval/length_fit.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"

namespace spf::eval {

FitResult fit_units(const std::function<int64_t(int64_t)>& tokens_of, int64_t budget,
                    int64_t min_units, int64_t max_units, int64_t start, double slope,
                    const std::string& what) {
  SPF_CHECK(min_units <= max_units, what, ": empty haystack size range");
  FitResult r;
  std::map<int64_t, int64_t> seen;
  auto count = [&](int64_t n) {
    if (auto it = seen.find(n); it != seen.end()) return it->second;
    ++r.calls;
    return seen[n] = tokens_of(n);
  };
  if (!(slope > 0) || !std::isfinite(slope)) slope = 1.0;
  // Keeps the slope estimate current from the two latest probes (a secant).
  int64_t last_n = -1, last_t = 0;
  auto probe = [&](int64_t n) {
    const int64_t t = count(n);
    if (last_n >= 0 && n != last_n) {
      const double s = double(t - last_t) / double(n - last_n);
      if (s > 0 && std::isfinite(s)) slope = s;
    }
    last_n = n;
    last_t = t;
    return t;
  };
  auto steps_for = [&](int64_t tokens) {  // units that `tokens` tokens are estimated to take
    return int64_t(std::min(std::floor(double(tokens) / slope), 1e15));
  };

  start = std::clamp(start, min_units, max_units);
  int64_t lo = 0, tlo = 0, hi = 0, thi = 0;
  bool hi_known = true;  // false: hi = max_units + 1, a size never counted
  int64_t grow = 1;
  const int64_t t_start = probe(start);
  if (t_start <= budget) {
    lo = start;
    tlo = t_start;
    for (;;) {
      if (lo == max_units) {
        hi = max_units + 1;
        hi_known = false;
        break;
      }
      const int64_t step = std::max(grow, steps_for(budget - tlo) + 1);
      const int64_t cand = lo + std::min(step, max_units - lo);
      const int64_t t = probe(cand);
      if (t <= budget) {
        lo = cand;
        tlo = t;
        grow *= 2;
      } else {
        hi = cand;
        thi = t;
        break;
      }
    }
  } else {
    hi = start;
    thi = t_start;
    for (;;) {
      SPF_CHECK(hi > min_units, what, ": does not fit even with the smallest haystack (",
                count(min_units), " tokens > budget ", budget, ")");
      const int64_t step = std::max(grow, steps_for(thi - budget) + 1);
      const int64_t cand = hi - std::min(step, hi - min_units);
      const int64_t t = probe(cand);
      if (t <= budget) {
        lo = cand;
        tlo = t;
        break;
      }
      hi = cand;
      thi = t;
      grow *= 2;
    }
  }

  // Invariant: lo fits, hi does not (or is past max_units).
  if (!hi_known) return {lo, tlo, r.calls};
  int64_t width = hi - lo;
  bool interpolate = true;
  while (hi - lo > 1) {
    int64_t mid;
    if (interpolate && thi > tlo) {
      const double frac = double(budget - tlo) / double(thi - tlo);
      mid = lo + int64_t(std::floor(frac * double(hi - lo)));
    } else {
      mid = lo + (hi - lo) / 2;
    }
    mid = std::clamp(mid, lo + 1, hi - 1);
    const int64_t t = count(mid);
    if (t <= budget) {
      lo = mid;
      tlo = t;
    } else {
      hi = mid;
      thi = t;
    }
    // Interpolation that fails to halve the bracket (a non-linear count) hands over to bisection.
    interpolate = (hi - lo) * 2 <= width;
    width = hi - lo;
  }
  return {lo, tlo, r.calls};
}

}  // namespace spf::eval
