// Unicode NFC normalization (Qwen2/Qwen3.5 tokenizers normalize their input with NFC before
// splitting): canonical decomposition, canonical reordering of combining marks, canonical
// composition, Hangul included. Data tables (nfc_tables.cpp) are generated from Python's
// unicodedata; the Unicode version may trail HF's Rust crate by a release, which only matters for
// code points assigned in between.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace spf {

// True when s certainly is NFC already: every code point is below U+0300 (no combining marks, no
// decomposable code points there), i.e. no byte >= 0xCC. Lets ASCII/Latin-1 text skip the work.
bool nfc_is_trivially_stable(std::string_view s);
// NFC of s; s must be valid UTF-8.
std::string nfc_normalize(std::string_view s);

namespace nfc_data {
struct CccRun {
  uint32_t first, last;
  uint8_t ccc;
};
struct Decomp {
  uint32_t cp, first, second;  // second == 0: singleton decomposition
  uint8_t composes;            // the pair recomposes to cp under NFC
};
extern const char* const kUnicodeVersion;
extern const CccRun kCccRuns[];
extern const size_t kCccRunCount;
extern const Decomp kDecomps[];
extern const size_t kDecompCount;
}  // namespace nfc_data

}  // namespace spf
