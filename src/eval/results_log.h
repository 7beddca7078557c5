// The sweep's results file: JSON Lines, one finished sample per line, appended with
// append_line_durable. A line holds the cell key (model, method, budget, length, task), the sample
// index and seed, the sample id, score (0..100), prediction, references, metric, prefill_seconds,
// support_density, prompt_tokens, timestamp (UTC ISO 8601) and optionally "extra" (runner-defined).
// Reading: complete lines end in '\n'; a last line without one is a write cut short ("torn"). The
// method of a line read back is put in canonical spec form (support/method_spec.h), so lines
// written with older spellings ("oracle:token", "antidiagonal:block64") match today's cells and
// reports.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <vector>

namespace spf::eval {

struct ResultKey {
  std::string model, method, budget;
  int64_t length = 0;
  std::string task;
  int64_t sample = 0;
  uint64_t seed = 0;
  auto tie() const { return std::tie(model, method, budget, length, task, sample, seed); }
  bool operator<(const ResultKey& o) const { return tie() < o.tie(); }
  bool operator==(const ResultKey& o) const { return tie() == o.tie(); }
};

struct ResultRecord {
  ResultKey key;
  std::string id;
  double score = 0;  // 0..100
  std::string prediction;
  std::vector<std::string> outputs;
  std::string metric;
  double prefill_seconds = 0;
  int64_t prefill_chunk = 0;  // tokens per prefill chunk (0: whole prompt); written when > 0
  std::string sparse_layers = "all";  // --sparse-layers of the run; written when not "all"
  double support_density = 0;         // NaN when the runner did not say (written as null)
  int64_t prompt_tokens = -1;
  std::string timestamp;
  nlohmann::json extra;  // null: omitted
};

nlohmann::json record_to_json(const ResultRecord& r);
// Throws spf::Error "where: what" when a key is missing or has the wrong type.
ResultRecord record_from_json(const nlohmann::json& j, const std::string& where);
std::string utc_timestamp();

struct ResultsScan {
  std::vector<ResultRecord> records;  // valid complete lines, file order
  size_t complete_bytes = 0;          // length of the prefix made of complete lines
  bool torn_tail = false;             // the file ends in a partial line
  int64_t torn_line = 0;              // its line number
  std::vector<std::string> skipped;   // lenient mode: "PATH:LINE: what" of each invalid line
};
// A missing file scans as empty. strict: an invalid complete line throws "PATH:LINE: what";
// otherwise it is skipped and listed.
ResultsScan scan_results(const std::string& path, bool strict);

}  // namespace spf::eval
