#include "eval/scoring.h"

#include "core/error.h"

namespace spf::eval {

Metric parse_metric(std::string_view name) {
  if (name == "all") return Metric::all;
  if (name == "part") return Metric::part;
  fail("unknown metric \"", name, "\" (expected \"all\" or \"part\")");
}

std::string_view metric_name(Metric m) {
  return m == Metric::all ? "all" : "part";
}

namespace {

// Python's str.strip() on ASCII: \t\n\v\f\r, \x1c-\x1f and space.
bool is_py_space(char c) {
  const auto u = uint8_t(c);
  return u == ' ' || (u >= 0x09 && u <= 0x0d) || (u >= 0x1c && u <= 0x1f);
}

std::string_view strip(std::string_view s) {
  while (!s.empty() && is_py_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_py_space(s.back())) s.remove_suffix(1);
  return s;
}

// ASCII lowering only: references and predictions of the synthetic tasks are ASCII.
std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return out;
}

}  // namespace

std::string postprocess_prediction(std::string_view prediction) {
  std::string s(strip(prediction));
  for (char& c : s)
    if (uint8_t(c) <= 0x1f) c = '\n';
  return std::string(strip(s));
}

double string_match_all(std::string_view prediction, const std::vector<std::string>& references) {
  if (references.empty()) return 0.0;
  const std::string p = lower(prediction);
  size_t hits = 0;
  for (const std::string& r : references) hits += p.find(lower(r)) != std::string::npos;
  return double(hits) / double(references.size());
}

double string_match_part(std::string_view prediction, const std::vector<std::string>& references) {
  const std::string p = lower(prediction);
  for (const std::string& r : references)
    if (p.find(lower(r)) != std::string::npos) return 1.0;
  return 0.0;
}

double score_prediction(std::string_view prediction, const std::vector<std::string>& references,
                        Metric metric) {
  const std::string p = postprocess_prediction(prediction);
  const double s =
      metric == Metric::all ? string_match_all(p, references) : string_match_part(p, references);
  return 100.0 * s;
}

}  // namespace spf::eval
