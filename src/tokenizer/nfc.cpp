#include "tokenizer/nfc.h"

#include <algorithm>
#include <unordered_map>
#include <vector>

#include "tokenizer/utf8.h"

namespace spf {
namespace {

using nfc_data::CccRun;
using nfc_data::Decomp;

// Hangul syllable arithmetic (Unicode ch. 3.12).
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount,
                   kSCount = kLCount * kNCount;

struct Tables {
  std::unordered_map<uint32_t, const Decomp*> decomp;
  std::unordered_map<uint64_t, uint32_t> compose;
  Tables() {
    decomp.reserve(nfc_data::kDecompCount);
    for (size_t i = 0; i < nfc_data::kDecompCount; ++i) {
      const Decomp& d = nfc_data::kDecomps[i];
      decomp.emplace(d.cp, &d);
      if (d.composes) compose.emplace((uint64_t(d.first) << 32) | d.second, d.cp);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

uint8_t ccc(uint32_t cp) {
  if (cp < 0x300) return 0;
  const CccRun* begin = nfc_data::kCccRuns;
  const CccRun* end = begin + nfc_data::kCccRunCount;
  const CccRun* it =
      std::upper_bound(begin, end, cp, [](uint32_t v, const CccRun& r) { return v < r.first; });
  if (it == begin) return 0;
  --it;
  return cp <= it->last ? it->ccc : 0;
}

void decompose(uint32_t cp, std::vector<uint32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const uint32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out.push_back(kTBase + s % kTCount);
    return;
  }
  const auto& m = tables().decomp;
  auto it = m.find(cp);
  if (it == m.end()) {
    out.push_back(cp);
    return;
  }
  decompose(it->second->first, out);
  if (it->second->second != 0) decompose(it->second->second, out);
}

uint32_t compose_pair(uint32_t a, uint32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount)
    return a + (b - kTBase);
  const auto& m = tables().compose;
  auto it = m.find((uint64_t(a) << 32) | b);
  return it == m.end() ? 0 : it->second;
}

}  // namespace

bool nfc_is_trivially_stable(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0xCC; });
}

std::string nfc_normalize(std::string_view s) {
  std::vector<uint32_t> cps;
  cps.reserve(s.size());
  for (size_t i = 0; i < s.size();) decompose(utf8::next(s, i), cps);

  // Canonical ordering: stable sort of each run of non-starters by combining class.
  for (size_t i = 0; i < cps.size();) {
    if (ccc(cps[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < cps.size() && ccc(cps[j]) != 0) ++j;
    std::stable_sort(cps.begin() + static_cast<std::ptrdiff_t>(i),
                     cps.begin() + static_cast<std::ptrdiff_t>(j),
                     [](uint32_t a, uint32_t b) { return ccc(a) < ccc(b); });
    i = j;
  }

  // Canonical composition: a character joins the last starter unless something between them blocks
  // it (a starter, or a mark of the same or higher class).
  std::vector<uint32_t> out;
  out.reserve(cps.size());
  std::ptrdiff_t starter = -1;
  for (const uint32_t c : cps) {
    const uint8_t cc = ccc(c);
    if (starter >= 0) {
      const bool adjacent = static_cast<size_t>(starter) + 1 == out.size();
      const uint8_t last_cc = adjacent ? 0 : ccc(out.back());
      const bool blocked = !adjacent && (last_cc == 0 || last_cc >= cc);
      if (!blocked) {
        if (const uint32_t comp = compose_pair(out[static_cast<size_t>(starter)], c); comp != 0) {
          out[static_cast<size_t>(starter)] = comp;
          continue;
        }
      }
    }
    if (cc == 0) starter = static_cast<std::ptrdiff_t>(out.size());
    out.push_back(c);
  }
  std::string r;
  r.reserve(s.size());
  for (const uint32_t c : out) utf8::append(r, c);
  return r;
}

}  // namespace spf
