// splitmix64 (Steele, Lea, Flood): a bijective 64-bit mix with good avalanche, the project's one
// stateless hash for reproducible draws of (seed, index) — random weights, random supports, the
// trainer's step draws. Changing it changes every such draw, so it is defined once, here.
#pragma once

#include <cstdint>

namespace spf {

constexpr uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace spf
