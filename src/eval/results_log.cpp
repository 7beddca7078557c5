#include "eval/results_log.h"

#include <cmath>
#include <ctime>
#include <filesystem>
#include <limits>
#include <optional>

#include "core/atomic_file.h"
#include "core/error.h"
#include "support/method_spec.h"

namespace spf::eval {

using nlohmann::json;

json record_to_json(const ResultRecord& r) {
  json j = {
      {"model", r.key.model},
      {"method", r.key.method},
      {"budget", r.key.budget},
      {"length", r.key.length},
      {"task", r.key.task},
      {"sample", r.key.sample},
      {"seed", r.key.seed},
      {"id", r.id},
      {"score", r.score},
      {"prediction", r.prediction},
      {"outputs", r.outputs},
      {"metric", r.metric},
      {"prefill_seconds", r.prefill_seconds},
      {"support_density", std::isfinite(r.support_density) ? json(r.support_density) : json()},
      {"prompt_tokens", r.prompt_tokens},
      {"timestamp", r.timestamp}};
  if (r.prefill_chunk > 0) j["prefill_chunk"] = r.prefill_chunk;
  if (r.sparse_layers != "all") j["sparse_layers"] = r.sparse_layers;
  if (!r.extra.is_null()) j["extra"] = r.extra;
  return j;
}

namespace {

const json& need(const json& j, const char* key, const std::string& where) {
  SPF_CHECK(j.contains(key), where, ": missing key \"", key, "\"");
  return j[key];
}

std::string need_string(const json& j, const char* key, const std::string& where) {
  const json& v = need(j, key, where);
  SPF_CHECK(v.is_string(), where, ": \"", key, "\" must be a string");
  return v.get<std::string>();
}

int64_t need_int(const json& j, const char* key, const std::string& where) {
  const json& v = need(j, key, where);
  SPF_CHECK(v.is_number_integer(), where, ": \"", key, "\" must be an integer");
  return v.get<int64_t>();
}

double need_number(const json& j, const char* key, const std::string& where) {
  const json& v = need(j, key, where);
  SPF_CHECK(v.is_number(), where, ": \"", key, "\" must be a number");
  return v.get<double>();
}

}  // namespace

ResultRecord record_from_json(const json& j, const std::string& where) {
  SPF_CHECK(j.is_object(), where, ": expected a JSON object");
  ResultRecord r;
  r.key.model = need_string(j, "model", where);
  r.key.method = need_string(j, "method", where);
  // Lines written before the method grammar hold older spellings ("oracle:token"): compare in
  // canonical form. A label that is no valid spec stays as written (no config cell can match it).
  if (const std::optional<MethodSpec> spec = try_parse_method_spec(r.key.method))
    r.key.method = to_string(*spec);
  r.key.budget = need_string(j, "budget", where);
  r.key.length = need_int(j, "length", where);
  r.key.task = need_string(j, "task", where);
  r.key.sample = need_int(j, "sample", where);
  const json& seed = need(j, "seed", where);
  SPF_CHECK(seed.is_number_unsigned() || (seed.is_number_integer() && seed.get<int64_t>() >= 0),
            where, ": \"seed\" must be a non-negative integer");
  r.key.seed = seed.get<uint64_t>();
  r.score = need_number(j, "score", where);
  r.id = j.contains("id") && j["id"].is_string() ? j["id"].get<std::string>() : "";
  r.prediction = j.contains("prediction") && j["prediction"].is_string()
                     ? j["prediction"].get<std::string>()
                     : "";
  if (j.contains("outputs") && j["outputs"].is_array())
    for (const json& o : j["outputs"])
      if (o.is_string()) r.outputs.push_back(o.get<std::string>());
  r.metric = j.contains("metric") && j["metric"].is_string() ? j["metric"].get<std::string>() : "";
  r.prefill_seconds = j.contains("prefill_seconds") && j["prefill_seconds"].is_number()
                          ? j["prefill_seconds"].get<double>()
                          : std::numeric_limits<double>::quiet_NaN();
  r.support_density = j.contains("support_density") && j["support_density"].is_number()
                          ? j["support_density"].get<double>()
                          : std::numeric_limits<double>::quiet_NaN();
  r.prefill_chunk = j.contains("prefill_chunk") && j["prefill_chunk"].is_number_integer()
                        ? j["prefill_chunk"].get<int64_t>()
                        : 0;
  r.sparse_layers = j.contains("sparse_layers") && j["sparse_layers"].is_string()
                        ? j["sparse_layers"].get<std::string>()
                        : "all";
  r.prompt_tokens = j.contains("prompt_tokens") && j["prompt_tokens"].is_number_integer()
                        ? j["prompt_tokens"].get<int64_t>()
                        : -1;
  r.timestamp = j.contains("timestamp") && j["timestamp"].is_string()
                    ? j["timestamp"].get<std::string>()
                    : "";
  if (j.contains("extra")) r.extra = j["extra"];
  return r;
}

std::string utc_timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

ResultsScan scan_results(const std::string& path, bool strict) {
  ResultsScan scan;
  if (!std::filesystem::exists(path)) return scan;
  const std::string text = read_file(path);
  int64_t line_no = 0;
  size_t i = 0;
  while (i < text.size()) {
    ++line_no;
    const size_t nl = text.find('\n', i);
    if (nl == std::string::npos) {
      scan.torn_tail = true;
      scan.torn_line = line_no;
      break;
    }
    const std::string line = text.substr(i, nl - i);
    i = nl + 1;
    scan.complete_bytes = i;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = cat(path, ":", line_no);
    try {
      json j;
      try {
        j = json::parse(line);
      } catch (const json::parse_error& e) {
        fail(where, ": invalid JSON (", e.what(), ")");
      }
      scan.records.push_back(record_from_json(j, where));
    } catch (const Error& e) {
      if (strict) fail(e.what(), "; fix or remove that line");
      scan.skipped.push_back(e.what());
    }
  }
  return scan;
}

}  // namespace spf::eval
