// Write errors injected mid-file: the command runs under a file-size limit (`ulimit -f`, with
// SIGXFSZ ignored so write() fails with EFBIG the way a full disk fails with ENOSPC). Every output
// must fail with one line and exit 1, leave no temp file behind, and keep what was at the path.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/cli_checks.h"
#include "test_util.h"

namespace spf {
namespace {

using test::expect_one_line_error;
using test::TempDir;
namespace fs = std::filesystem;

const std::string kTiny = test::fixture("hf/llama");

// spf with `args`, writing files of at most `kib` KiB.
test::CliRun run_limited(const TempDir& t, int kib, const std::string& args) {
  return test::run_split(t, "--version >/dev/null; (trap '' XFSZ; ulimit -f " +
                                std::to_string(kib) + "; exec " + SPF_CLI_PATH + " " + args + ")");
}

// Names in the directory other than the ones expected.
std::vector<std::string> strays(const TempDir& t, std::initializer_list<std::string> expected) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(t.path())) {
    const std::string name = e.path().filename().string();
    if (name == "stderr.txt") continue;
    if (std::find(expected.begin(), expected.end(), name) == expected.end()) out.push_back(name);
  }
  return out;
}

std::string ids(int n) {
  std::string s;
  for (int i = 1; i <= n; ++i) {
    if (i > 1) s += ',';
    s += std::to_string(i % 500 + 1);
  }
  return s;
}

TEST(WriteErrors, LogitsNpyCutMidFileKeepsThePreviousOutput) {
  TempDir t;
  test::write_text(t.file("out.npy"), "previous");
  // 200 tokens x 512 logits x 4 bytes = 400 KB against an 8 KiB limit.
  const test::CliRun r = run_limited(
      t, 8, "logits --model " + kTiny + " --ids " + ids(200) + " --out " + t.file("out.npy"));
  expect_one_line_error(r, {"out.npy", "write failed"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(test::read_text(t.file("out.npy")), "previous");
  EXPECT_EQ(strays(t, {"out.npy"}), std::vector<std::string>{});
}

TEST(WriteErrors, LogitsNpyCutMidFileWritesNothingNew) {
  TempDir t;
  const test::CliRun r = run_limited(
      t, 8, "logits --model " + kTiny + " --ids " + ids(200) + " --out " + t.file("new.npy"));
  expect_one_line_error(r, {"new.npy"});
  EXPECT_EQ(strays(t, {}), std::vector<std::string>{});
}

TEST(WriteErrors, ReportCutMidFileLeavesNoPartialTable) {
  TempDir t;
  std::string lines;
  for (int i = 0; i < 400; ++i) {
    nlohmann::json j = {{"model", "m"},
                        {"method", i % 2 ? "oracle" : "dense"},
                        {"budget", i % 2 ? "5%" : ""},
                        {"length", 1024 + 1024 * (i % 8)},
                        {"task", "niah_single_1"},
                        {"sample", i / 16},
                        {"seed", 42},
                        {"id", "x"},
                        {"score", 100.0 * (i % 3 != 0)},
                        {"prediction", "p"},
                        {"outputs", {"o"}},
                        {"metric", "all"},
                        {"prefill_seconds", 1.0},
                        {"support_density", 0.5},
                        {"prompt_tokens", 1024},
                        {"timestamp", "2026-01-01T00:00:00Z"}};
    lines += j.dump() + "\n";
  }
  test::write_text(t.file("r.jsonl"), lines);
  const test::CliRun r =
      run_limited(t, 2, "report " + t.file("r.jsonl") + " --no-plots -o " + t.file("rep"));
  expect_one_line_error(r, {"write failed"});
  // Whatever was completed before the limit was hit is whole; nothing half-written is left.
  for (const auto& e : fs::directory_iterator(t.file("rep"))) {
    const std::string name = e.path().filename().string();
    EXPECT_TRUE(name == "summary.csv" || name == "summary.json" || name == "report.md") << name;
  }
}

}  // namespace
}  // namespace spf
