// Budget: how many keys a support row may keep, and which keys it must keep.
//
//   top_k    value = k keys per query. At block granularity: ceil(k / k_block) key blocks per row.
//   fraction value in (0, 1]: ceil(value * avail) columns, at least 1, where avail is the number of
//            causal columns of the row (the visible keys of the query at token granularity).
//   top_p    value in (0, 1]: the fewest best-scoring columns whose score reaches value * the row's
//            total score (cumulative attention mass for the oracle); at least one column.
//
// sink (the first `sink` keys) and window (keys (q - window, q] of each query q of the row) are
// always kept and count INSIDE the budget: a row holds exactly min(avail, max(budget, |forced|))
// columns for top_k / fraction, where |forced| is the number of causal sink and window columns; the
// remaining budget goes to the best-scoring other columns.
//
// Text form (parse_budget, str): "k=256" or "256", "5%" or "0.05" or "frac=0.05", "p=0.9",
// optionally followed by ",sink=4" and ",window=64".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace spf {

enum class BudgetKind { top_k, fraction, top_p };

struct Budget {
  BudgetKind kind = BudgetKind::fraction;
  double value = 1.0;
  int64_t sink = 0;
  int64_t window = 0;

  static Budget top_k(int64_t k) { return {BudgetKind::top_k, double(k), 0, 0}; }
  static Budget fraction(double f) { return {BudgetKind::fraction, f, 0, 0}; }
  static Budget top_p(double p) { return {BudgetKind::top_p, p, 0, 0}; }
  Budget with_sink(int64_t n) const {
    Budget b = *this;
    b.sink = n;
    return b;
  }
  Budget with_window(int64_t n) const {
    Budget b = *this;
    b.window = n;
    return b;
  }

  // Throws spf::Error: k < 1 or not an integer, fraction or p outside (0, 1], negative sink/window.
  void validate() const;
  std::string str() const;
};

// Parses the text form above; throws spf::Error with the offending text.
Budget parse_budget(std::string_view text);

// Columns a top_k or fraction budget grants a row with `avail` causal columns of k_block keys,
// before forced columns are accounted for; in [1, avail] (0 only when avail is 0). Throws for
// top_p.
int64_t budget_columns(const Budget& budget, int64_t avail, int k_block);

}  // namespace spf
