#include "eval/sweep_shards.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <string_view>

#include "core/atomic_file.h"
#include "core/error.h"
#include "eval/results_log.h"

namespace spf::eval {

namespace fs = std::filesystem;

namespace {

bool all_digits(std::string_view s, size_t max_len) {
  return !s.empty() && s.size() <= max_len &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

Shard parse_shard(const std::string& text) {
  const size_t slash = text.find('/');
  const bool ok = slash != std::string::npos && all_digits(text.substr(0, slash), 6) &&
                  all_digits(text.substr(slash + 1), 6);
  SPF_CHECK(ok, "shard '", text, "': expected K/N (this process runs part K of N, 0 <= K < N)");
  Shard s{std::stoll(text.substr(0, slash)), std::stoll(text.substr(slash + 1))};
  SPF_CHECK(s.count >= 1 && s.index < s.count, "shard '", text, "': need 0 <= K < N and N >= 1");
  return s;
}

namespace {

// "dir/results.jsonl" -> ("dir/results", ".jsonl"); no extension -> ("dir/results", "").
std::pair<std::string, std::string> split_ext(const std::string& results) {
  const fs::path p(results);
  const std::string ext = p.extension().string();
  return {results.substr(0, results.size() - ext.size()), ext};
}

}  // namespace

std::string shard_results_path(const std::string& results, const Shard& shard) {
  const auto [stem, ext] = split_ext(results);
  return cat(stem, ".shard", shard.index, "of", shard.count, ext);
}

std::vector<std::string> find_shard_files(const std::string& results) {
  const auto [stem, ext] = split_ext(results);
  const fs::path dir = fs::path(results).parent_path();
  const std::string base = fs::path(stem).filename().string() + ".shard";
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::is_directory(dir.empty() ? fs::path(".") : dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir.empty() ? fs::path(".") : dir)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || name.rfind(base, 0) != 0) continue;
    if (name.size() < base.size() + ext.size() ||
        name.compare(name.size() - ext.size(), ext.size(), ext) != 0)
      continue;
    const std::string mid = name.substr(base.size(), name.size() - base.size() - ext.size());
    const size_t of = mid.find("of");
    if (of != std::string::npos && all_digits(mid.substr(0, of), 6) &&
        all_digits(mid.substr(of + 2), 6))
      out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

MergeSummary merge_shards(const std::string& results) {
  MergeSummary sum;
  const std::vector<std::string> files = find_shard_files(results);
  if (files.empty()) return sum;
  const ResultsScan main = scan_results(results, /*strict=*/true);
  std::set<ResultKey> have;
  for (const ResultRecord& r : main.records) have.insert(r.key);
  std::string text = fs::exists(results) ? read_file(results) : std::string();
  text.resize(main.complete_bytes);  // a torn tail of the main file goes too
  for (const std::string& f : files) {
    const ResultsScan scan = scan_results(f, /*strict=*/true);
    sum.torn += scan.torn_tail ? 1 : 0;
    for (const ResultRecord& r : scan.records) {
      if (!have.insert(r.key).second) {
        ++sum.duplicates;
        continue;
      }
      text += record_to_json(r).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      text += '\n';
      ++sum.appended;
    }
    ++sum.files;
  }
  write_file_atomic(results, text);
  for (const std::string& f : files) fs::remove(f);
  return sum;
}

}  // namespace spf::eval
