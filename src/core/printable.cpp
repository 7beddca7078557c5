#include "core/printable.h"

#include <cstdio>

namespace spf {

std::string printable(std::string_view text, size_t max_bytes) {
  std::string out;
  const size_t n = text.size() > max_bytes ? max_bytes : text.size();
  out.reserve(n + 32);
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    // C0 controls, DEL, and C1 controls in their UTF-8 form (0xc2 0x80..0x9f, e.g. CSI).
    const bool c1 =
        c == 0xc2 && i + 1 < n && (static_cast<unsigned char>(text[i + 1]) & 0xe0) == 0x80;
    if (c1) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "\\u%04x", unsigned(static_cast<unsigned char>(text[i + 1])));
      out += buf;
      ++i;
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", unsigned(c));
      out += buf;
    } else {
      out += char(c);
    }
  }
  if (n < text.size()) out += "... (" + std::to_string(text.size() - n) + " more bytes)";
  return out;
}

}  // namespace spf
