// Kill-and-resume of a real `spf sweep` process (and a write error mid-run) on the default model:
// SIGKILL at pseudo-random moments, several times, then resume; the final results must equal an
// uninterrupted run's (every key once, same predictions, scores and prompt lengths; timings and
// timestamps aside).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "cli/cli_checks.h"
#include "core/atomic_file.h"
#include "eval/results_log.h"
#include "test_util.h"

namespace spf::eval {
namespace {

using nlohmann::json;

// Starts `spf sweep --config cfg` with one thread; returns its pid.
pid_t start_sweep(const std::string& cfg, const std::string& log) {
  std::fflush(nullptr);  // the child must not inherit (and write again) unflushed output
  const pid_t pid = fork();
  if (pid == 0) {
    setenv("OMP_NUM_THREADS", "1", 1);
    FILE* f = std::freopen(log.c_str(), "a", stderr);
    (void)f;
    f = std::freopen(log.c_str(), "a", stdout);
    (void)f;
    execl(SPF_CLI_PATH, SPF_CLI_PATH, "sweep", "--config", cfg.c_str(), (char*)nullptr);
    _exit(127);
  }
  return pid;
}

// Exit status of a finished child, -SIGNAL when killed.
int wait_for(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

std::map<ResultKey, ResultRecord> records_of(const std::string& path) {
  std::map<ResultKey, ResultRecord> out;
  const ResultsScan scan = scan_results(path, true);
  EXPECT_FALSE(scan.torn_tail) << path;
  for (const ResultRecord& r : scan.records) {
    EXPECT_TRUE(out.emplace(r.key, r).second) << "duplicate result " << r.id << " in " << path;
  }
  return out;
}

TEST(SweepKill, ResultsAfterRepeatedSigkillsEqualAnUninterruptedRun) {
  SPF_REQUIRE_DEFAULT_MODEL(model);
  spf::test::TempDir dir;
  std::string tasks;
  for (int i = 0; i < 8; ++i)
    tasks += json{{"id", i},
                  {"input", "Repeat the word number " + std::to_string(100 + 7 * i) + " twice."},
                  {"outputs", {std::to_string(100 + 7 * i)}},
                  {"metric", "part"},
                  {"max_new_tokens", 6}}
                 .dump() +
             "\n";
  write_file_atomic(dir.file("t.jsonl"), tasks);
  const auto config = [&](const std::string& results) {
    const std::string path = dir.file(results + ".json");
    write_file_atomic(path, json{{"models", {model}},
                                 {"methods", {"dense", "streaming"}},
                                 {"budgets", {"25%"}},
                                 {"tasks", {"custom:t.jsonl"}},
                                 {"samples", 8},
                                 {"results", results}}
                                .dump());
    return path;
  };
  const std::string log = dir.file("log.txt");

  const std::string whole_cfg = config("whole.jsonl");
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(wait_for(start_sweep(whole_cfg, log)), 0) << read_file(log);
  const int whole_ms = int(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count());
  const auto whole = records_of(dir.file("whole.jsonl"));
  ASSERT_EQ(whole.size(), 16u);

  // Kill after delays drawn from [50 ms, a third of a whole run]: some before the model has
  // loaded, some mid-sample or mid-write. Each restart gets further; the first three cannot finish
  // in that time. Stop when a run finishes by itself.
  const std::string killed_cfg = config("killed.jsonl");
  std::mt19937 rng(20261204);
  std::uniform_int_distribution<int> delay_ms(50, std::max(100, whole_ms / 3));
  int kills = 0;
  bool finished = false;
  for (int attempt = 0; attempt < 10 && !finished; ++attempt) {
    const pid_t pid = start_sweep(killed_cfg, log);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    kill(pid, SIGKILL);
    const int status = wait_for(pid);
    kills += status == -SIGKILL;
    finished = status == 0;
    const std::string so_far = std::filesystem::exists(dir.file("killed.jsonl"))
                                   ? read_file(dir.file("killed.jsonl"))
                                   : std::string();
    std::printf("  run %d: %s, %zu complete lines, torn tail: %s\n", attempt + 1,
                finished ? "finished" : "killed",
                size_t(std::count(so_far.begin(), so_far.end(), '\n')),
                !so_far.empty() && so_far.back() != '\n' ? "yes" : "no");
  }
  EXPECT_GE(kills, 3);
  if (!finished) {
    ASSERT_EQ(wait_for(start_sweep(killed_cfg, log)), 0) << read_file(log);
  }
  const auto resumed = records_of(dir.file("killed.jsonl"));

  ASSERT_EQ(resumed.size(), whole.size());
  for (const auto& [key, w] : whole) {
    const auto it = resumed.find(key);
    ASSERT_NE(it, resumed.end()) << "missing " << w.id << " " << key.method;
    EXPECT_EQ(it->second.prediction, w.prediction) << w.id << " " << key.method;
    EXPECT_EQ(it->second.score, w.score) << w.id;
    EXPECT_EQ(it->second.prompt_tokens, w.prompt_tokens) << w.id;
  }
}

// A results line that cannot be appended stops the sweep with one line; the next run (no limit)
// drops any torn tail and completes, every sample once.
TEST(WriteErrors, SweepResultsAppendFailureResumes) {
  SPF_REQUIRE_DEFAULT_MODEL(model);
  spf::test::TempDir t;
  std::string tasks;
  for (int i = 0; i < 12; ++i)
    tasks += nlohmann::json{{"id", i},
                            {"input", std::string(60, 'a' + char(i % 26))},
                            {"outputs", {"zz"}},
                            {"metric", "part"},
                            {"max_new_tokens", 1}}
                 .dump() +
             "\n";
  test::write_text(t.file("t.jsonl"), tasks);
  test::write_text(t.file("s.json"), nlohmann::json{{"models", {model}},
                                                    {"methods", {"dense"}},
                                                    {"tasks", {"custom:t.jsonl"}},
                                                    {"samples", 40},
                                                    {"results", "r.jsonl"}}
                                         .dump());
  const test::CliRun r = test::run_split(
      t, "--version >/dev/null; (trap '' XFSZ; ulimit -f 2; OMP_NUM_THREADS=1 exec " +
             std::string(SPF_CLI_PATH) + " sweep --config " + t.file("s.json") + ")");
  // Progress lines come first; the last line is the one error.
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("r.jsonl: write failed"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.substr(r.err.rfind('\n', r.err.size() - 2) + 1).rfind("spf: error: ", 0), 0u)
      << r.err;
  const uintmax_t cut = std::filesystem::file_size(t.file("r.jsonl"));
  EXPECT_LE(cut, 2u * 1024);
  const test::CliRun again =
      test::run_split(t, "--version >/dev/null; OMP_NUM_THREADS=1 " + std::string(SPF_CLI_PATH) +
                             " sweep --config " + t.file("s.json"));
  EXPECT_EQ(again.code, 0) << again.err;
  const std::string all = test::read_text(t.file("r.jsonl"));
  EXPECT_EQ(std::count(all.begin(), all.end(), '\n'), 12) << again.out;
  EXPECT_EQ(all.back(), '\n');
}

}  // namespace
}  // namespace spf::eval
