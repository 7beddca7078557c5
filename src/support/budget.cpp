#include "support/budget.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <sstream>

#include "core/error.h"

namespace spf {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

double parse_number(std::string_view s, std::string_view whole) {
  s = trim(s);
  double v = 0.0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  SPF_CHECK(!s.empty() && ec == std::errc() && end == s.data() + s.size(), "budget '", whole,
            "': '", s, "' is not a number");
  return v;
}

int64_t parse_count(std::string_view s, std::string_view whole) {
  s = trim(s);
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  SPF_CHECK(!s.empty() && ec == std::errc() && end == s.data() + s.size(), "budget '", whole,
            "': '", s, "' is not an integer");
  return v;
}

bool is_integer(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

void Budget::validate() const {
  switch (kind) {
    case BudgetKind::top_k:
      SPF_CHECK(value >= 1.0 && value == std::floor(value) && value < 9.2e18, "budget k = ", value,
                " (must be a whole number of keys >= 1)");
      break;
    case BudgetKind::fraction:
      SPF_CHECK(value > 0.0 && value <= 1.0, "budget fraction ", value * 100.0,
                "% (must be in (0%, 100%])");
      break;
    case BudgetKind::top_p:
      SPF_CHECK(value > 0.0 && value <= 1.0, "budget p = ", value, " (must be in (0, 1])");
      break;
  }
  SPF_CHECK(sink >= 0 && window >= 0, "budget sink = ", sink, ", window = ", window,
            " (must be >= 0)");
}

std::string Budget::str() const {
  std::ostringstream os;
  os.precision(17);
  switch (kind) {
    case BudgetKind::top_k:
      os << "k=" << int64_t(value);
      break;
    case BudgetKind::fraction:
      os << "frac=" << value;
      break;
    case BudgetKind::top_p:
      os << "p=" << value;
      break;
  }
  if (sink > 0) os << ",sink=" << sink;
  if (window > 0) os << ",window=" << window;
  return os.str();
}

Budget parse_budget(std::string_view text) {
  const std::string_view whole = text;
  const size_t comma = text.find(',');
  std::string_view head = trim(text.substr(0, comma));
  Budget b;
  if (head.starts_with("k=")) {
    b = Budget::top_k(parse_count(head.substr(2), whole));
  } else if (head.starts_with("p=")) {
    b = Budget::top_p(parse_number(head.substr(2), whole));
  } else if (head.starts_with("frac=")) {
    b = Budget::fraction(parse_number(head.substr(5), whole));
  } else if (head.ends_with('%')) {
    b = Budget::fraction(parse_number(head.substr(0, head.size() - 1), whole) / 100.0);
  } else if (is_integer(head)) {
    b = Budget::top_k(parse_count(head, whole));
  } else {
    const double v = parse_number(head, whole);
    SPF_CHECK(v <= 1.0, "budget '", whole, "': ", v,
              " is above 100% (write k=N for a key count or N% for a percentage)");
    b = Budget::fraction(v);
  }
  // Optional ",sink=N" and ",window=N" parts.
  for (size_t at = comma; at != std::string_view::npos;) {
    const size_t next = text.find(',', at + 1);
    const std::string_view part =
        trim(text.substr(at + 1, next == std::string_view::npos ? next : next - at - 1));
    if (part.starts_with("sink=")) {
      b.sink = parse_count(part.substr(5), whole);
    } else if (part.starts_with("window=")) {
      b.window = parse_count(part.substr(7), whole);
    } else {
      fail("budget '", whole, "': unknown part '", part, "' (expected sink=N or window=N)");
    }
    at = next;
  }
  try {
    b.validate();
  } catch (const Error& e) {
    fail("budget '", whole, "': ", e.what());
  }
  return b;
}

int64_t budget_columns(const Budget& b, int64_t avail, int k_block) {
  if (avail <= 0) return 0;
  switch (b.kind) {
    case BudgetKind::top_k: {
      const int64_t k = int64_t(b.value);
      return std::min(avail, (k + k_block - 1) / k_block);
    }
    case BudgetKind::fraction: {
      // The relative slack keeps products such as 0.07 * 100 (7.000000000000001) from rounding up.
      const double want = std::ceil(b.value * double(avail) * (1.0 - 1e-12));
      return std::clamp<int64_t>(int64_t(want), 1, avail);
    }
    case BudgetKind::top_p:
      break;
  }
  fail("budget ", b.str(), ": a top-p budget has no fixed column count");
}

}  // namespace spf
