// Strict JSON for files users hand us (config.json, tokenizer.json, safetensors headers, task
// and sweep files): one parse that
//   - rejects a key repeated in any object (nlohmann would silently keep the last),
//   - rejects nesting deeper than max_depth before building it (50 MB of "[[[[" must not take
//     gigabytes),
//   - reports any syntax error as one short printable line naming `where` (nlohmann's message may
//     quote megabytes of input or raw control characters).
// Json is nlohmann::json or nlohmann::ordered_json.
#pragma once

#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "core/error.h"
#include "core/printable.h"

namespace spf {

struct JsonLimits {
  int max_depth = 64;
};

template <class Json>
Json parse_json_text(std::string_view text, const std::string& where, JsonLimits limits = {}) {
  std::vector<std::unordered_set<std::string>> open;  // keys seen, per open object
  std::string problem;
  auto cb = [&](int depth, typename Json::parse_event_t ev, Json& parsed) {
    using E = typename Json::parse_event_t;
    if (ev == E::object_start || ev == E::array_start) {
      if (depth >= limits.max_depth && problem.empty())
        problem = cat("nesting deeper than ", limits.max_depth, " levels");
      if (!problem.empty()) throw Error(problem);  // stop before building any deeper
      if (ev == E::object_start) open.emplace_back();
    } else if (ev == E::object_end) {
      if (!open.empty()) open.pop_back();
    } else if (ev == E::key && !open.empty()) {
      const std::string k = parsed.template get<std::string>();
      if (!open.back().insert(k).second && problem.empty())
        problem = cat("key \"", printable(k, 80), "\" appears twice in one object");
      if (!problem.empty()) throw Error(problem);
    }
    return true;
  };
  SPF_CHECK(!text.empty(), where, " is empty");
  try {
    return Json::parse(text.begin(), text.end(), cb);
  } catch (const Error& e) {
    fail(where, ": invalid JSON: ", e.what());
  } catch (const typename Json::exception& e) {
    fail(where, ": invalid JSON: ", printable(e.what(), 200));
  }
}

}  // namespace spf
