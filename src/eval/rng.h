// Deterministic random numbers for the eval tasks and the bootstrap: SplitMix64 plus our own
// uniform integer, shuffle and sampling, so that a seed gives the same bytes with every compiler
// and standard library (std::uniform_int_distribution and std::shuffle are implementation-defined).
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace spf::eval {

// The SplitMix64 output function: a bijective 64-bit mixer.
uint64_t mix64(uint64_t x);
// FNV-1a, for deriving seeds from names.
uint64_t hash64(std::string_view s);
// Combines values into one seed; order matters.
inline uint64_t derive_seed(uint64_t a, uint64_t b) {
  return mix64(a ^ mix64(b + 0x632be59bd9b4e019ULL));
}
inline uint64_t derive_seed(uint64_t a, uint64_t b, uint64_t c) {
  return derive_seed(derive_seed(a, b), c);
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next();
  // Uniform in [0, n) without bias (multiply-shift with rejection); n > 0.
  uint64_t below(uint64_t n);
  // Uniform in [lo, hi], inclusive; lo <= hi.
  int64_t range(int64_t lo, int64_t hi);
  // Uniform double in [0, 1) with 53 random bits.
  double unit();
  // Fisher-Yates.
  template <class T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[size_t(below(i))]);
  }
  // k distinct values of [0, n), in draw order; k <= n.
  std::vector<int64_t> distinct(int64_t n, int64_t k);

 private:
  uint64_t state_;
};

}  // namespace spf::eval
