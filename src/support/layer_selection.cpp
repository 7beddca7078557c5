#include "support/layer_selection.h"

#include <algorithm>
#include <charconv>

#include "core/error.h"

namespace spf {

namespace {

bool parse_index(std::string_view s, int& v) {
  if (s.empty() || s.size() > 6) return false;
  for (const char ch : s)
    if (ch < '0' || ch > '9') return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

LayerSelection LayerSelection::parse(std::string_view text) {
  constexpr const char* kForms = "all, every:K or a list such as 3,7,11";
  LayerSelection s;
  if (text == "all") return s;
  if (text.starts_with("every:")) {
    int k = 0;
    SPF_CHECK(parse_index(text.substr(6), k) && k >= 1, "--sparse-layers '", text,
              "': every:K needs an integer K >= 1 (", kForms, ")");
    s.kind = Kind::every;
    s.every = k;
    return s;
  }
  SPF_CHECK(!text.empty(), "--sparse-layers: empty (", kForms, ")");
  s.kind = Kind::list;
  size_t start = 0;
  while (true) {
    const size_t end = text.find(',', start);
    const std::string_view item =
        text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    int v = 0;
    SPF_CHECK(parse_index(item, v), "--sparse-layers '", text, "': '", item,
              "' is not an attention-layer index (", kForms, ")");
    SPF_CHECK(std::find(s.layers.begin(), s.layers.end(), v) == s.layers.end(), "--sparse-layers '",
              text, "': layer ", v, " listed twice");
    s.layers.push_back(v);
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  std::sort(s.layers.begin(), s.layers.end());
  return s;
}

std::vector<uint8_t> LayerSelection::mask(int n) const {
  std::vector<uint8_t> m(size_t(std::max(n, 0)), 0);
  for (int i = 0; i < n; ++i)
    m[size_t(i)] = kind == Kind::all || (kind == Kind::every && i % every == every - 1);
  if (kind == Kind::list)
    for (const int l : layers) {
      SPF_CHECK(l < n, "--sparse-layers ", str(), ": layer ", l, " is outside [0, ", n,
                ") (the model has ", n, " attention layers)");
      m[size_t(l)] = 1;
    }
  return m;
}

std::string LayerSelection::str() const {
  if (kind == Kind::all) return "all";
  if (kind == Kind::every) return cat("every:", every);
  std::string s;
  for (const int l : layers) s += cat(s.empty() ? "" : ",", l);
  return s;
}

}  // namespace spf
