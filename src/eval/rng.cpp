#include "eval/rng.h"

#include <unordered_set>

#include "core/error.h"

namespace spf::eval {

uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

uint64_t hash64(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : s) {
    h ^= uint8_t(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

uint64_t Rng::next() {
  state_ += 0x9e3779b97f4a7c15ULL;
  return mix64(state_);
}

uint64_t Rng::below(uint64_t n) {
  SPF_CHECK(n > 0, "Rng::below: empty range");
  // Lemire's multiply-shift with rejection: unbiased, and rarely needs a division.
  unsigned __int128 m = (unsigned __int128)next() * n;
  auto low = uint64_t(m);
  if (low < n) {
    const uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      m = (unsigned __int128)next() * n;
      low = uint64_t(m);
    }
  }
  return uint64_t(m >> 64);
}

int64_t Rng::range(int64_t lo, int64_t hi) {
  SPF_CHECK(lo <= hi, "Rng::range: lo ", lo, " > hi ", hi);
  return lo + int64_t(below(uint64_t(hi - lo) + 1));
}

double Rng::unit() {
  return double(next() >> 11) * 0x1.0p-53;
}

std::vector<int64_t> Rng::distinct(int64_t n, int64_t k) {
  SPF_CHECK(k >= 0 && k <= n, "Rng::distinct: cannot draw ", k, " distinct values from ", n);
  std::vector<int64_t> out;
  out.reserve(size_t(k));
  if (k * 4 <= n) {
    std::unordered_set<int64_t> seen;
    while (int64_t(out.size()) < k) {
      const int64_t x = int64_t(below(uint64_t(n)));
      if (seen.insert(x).second) out.push_back(x);
    }
    return out;
  }
  // Dense case: partial Fisher-Yates over the whole range.
  std::vector<int64_t> all(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) all[size_t(i)] = i;
  for (int64_t i = 0; i < k; ++i) {
    const int64_t j = i + int64_t(below(uint64_t(n - i)));
    std::swap(all[size_t(i)], all[size_t(j)]);
    out.push_back(all[size_t(i)]);
  }
  return out;
}

}  // namespace spf::eval
