// Splitting one sweep over several processes (or machines) and folding the pieces back.
// Shard K of N runs the samples whose ordinal (slot order x sample index) is K mod N, appending to
// its own file next to the results file ("results.jsonl" -> "results.shardKofN.jsonl"), and skips
// what the main results file already holds. merge_shards folds every shard file of a sweep into the
// main file: records not already there are appended (one atomic rewrite), then the shard files are
// removed. A merge cut short loses nothing: a rerun finds the copied keys and skips them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace spf::eval {

struct Shard {
  int64_t index = 0, count = 1;
  bool whole() const { return count == 1; }
};

// "K/N" with 0 <= K < N; throws spf::Error on anything else.
Shard parse_shard(const std::string& text);
std::string shard_results_path(const std::string& results, const Shard& shard);
// Existing shard files of `results`, sorted.
std::vector<std::string> find_shard_files(const std::string& results);

struct MergeSummary {
  int64_t files = 0, appended = 0, duplicates = 0, torn = 0;
};
// A complete line that does not parse throws "PATH:LINE: what" before anything is written; a torn
// last line of a shard file (a killed shard) is dropped: that sample runs again.
MergeSummary merge_shards(const std::string& results);

}  // namespace spf::eval
