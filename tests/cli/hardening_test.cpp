// Hardening of the CLI's edges: untrusted text in errors is escaped and bounded, the thread-count
// environment is checked before OpenMP can crash on it, special output paths are never replaced,
// argument errors exit 1 as documented, and --version answers.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "cli/cli_checks.h"
#include "test_util.h"

namespace spf {
namespace {

using test::expect_one_line_error;
using test::run_split;
using test::TempDir;
using test::write_text;
namespace fs = std::filesystem;

const std::string kTiny = test::fixture("hf/llama");

TEST(Hardening, ControlCharactersFromAnIdsFileAreEscapedInTheError) {
  TempDir t;
  write_text(t.file("ids.txt"), "1 2 \x1b[31mRED\x1b[0m 3\n");
  const test::CliRun r = run_split(t, "logits --model " + kTiny + " --ids-file " +
                                          t.file("ids.txt") + " --out " + t.file("o.npy"));
  expect_one_line_error(r, {});
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << "raw escape byte reached the terminal";
  EXPECT_NE(r.err.find("\\x1b"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(t.file("o.npy")));
}

TEST(Hardening, AHugeBadTokenIsCutInTheError) {
  TempDir t;
  write_text(t.file("ids.txt"), "1 " + std::string(200000, 'x') + "\n");
  const test::CliRun r = run_split(t, "logits --model " + kTiny + " --ids-file " +
                                          t.file("ids.txt") + " --out " + t.file("o.npy"));
  expect_one_line_error(r, {"more bytes"});
  EXPECT_LT(r.err.size(), 2000u);
}

TEST(Hardening, AbsurdOmpNumThreadsIsAnErrorNotACrash) {
  for (const char* v : {"100000", "0", "-3", "abc", "4,", ""}) {
    SCOPED_TRACE(v);
    const test::CommandResult c = test::run_cli_env(std::string("OMP_NUM_THREADS=") + "'" + v + "'",
                                                    "info " + kTiny + " 2>&1; exit $?");
    EXPECT_EQ(c.exit_code, 1) << c.output;
    EXPECT_NE(c.output.find("OMP_NUM_THREADS"), std::string::npos) << c.output;
  }
  const test::CommandResult ok = test::run_cli_env("OMP_NUM_THREADS=2", "info " + kTiny);
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
}

TEST(Hardening, UsageErrorsExitOneAndVersionAnswers) {
  TempDir t;
  const test::CliRun bad = run_split(t, "logits --no-such-flag");
  expect_one_line_error(bad, {"see spf logits --help"});
  EXPECT_EQ(bad.code, 1);
  const test::CliRun v = run_split(t, "--version");
  EXPECT_EQ(v.code, 0);
  EXPECT_EQ(v.out.rfind("spf ", 0), 0u) << v.out;
}

TEST(Hardening, AFifoAsOutputIsRefusedAndKept) {
  TempDir t;
  const std::string fifo = t.file("out.npy");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  const test::CliRun r = run_split(t, "logits --model " + kTiny + " --ids 1,2,3 --out " + fifo);
  expect_one_line_error(r, {"not a regular file"});
  EXPECT_TRUE(fs::is_fifo(fifo));
}

// An unwritable results path is reported before the model runs a sample, not after.
TEST(Hardening, UnwritableResultsFailBeforeTheFirstSample) {
  TempDir t;
  std::filesystem::create_directory(t.file("dir.jsonl"));
  for (const std::string& results : {t.file("missing/r.jsonl"), t.file("dir.jsonl")}) {
    SCOPED_TRACE(results);
    const test::CliRun r =
        run_split(t, "eval --model " + kTiny + " --task niah_single_1 --length 64 --samples 1 " +
                         "--method dense --results " + results);
    expect_one_line_error(r, {results});
    EXPECT_EQ(r.out.find("niah_single_1"), std::string::npos) << "a sample ran first: " << r.out;
  }
  EXPECT_FALSE(fs::exists(t.file("missing")));
}

TEST(Hardening, OutOfRangeCountsAndSeedsAreRejected) {
  TempDir t;
  // The tiny llama fixture has 3 attention layers.
  expect_one_line_error(run_split(t, "logits --model " + kTiny +
                                         " --ids 1,2 --method oracle --budget 50% --dense-layers 4 "
                                         "--out " +
                                         t.file("o.npy")),
                        {"--dense-layers 4", "3 attention layers"});
  EXPECT_FALSE(fs::exists(t.file("o.npy")));
  expect_one_line_error(run_split(t, "generate --model " + kTiny + " --seed -1 -p hi"), {"--seed"});
  expect_one_line_error(run_split(t, "eval --model " + kTiny + " --task vt --seed -1"), {"--seed"});
  write_text(t.file("p.txt"), "hello");
  for (const char* n : {"0", "-5"})
    expect_one_line_error(run_split(t, "oracle --model " + kTiny + " --prompt-file " +
                                           t.file("p.txt") + " --max-tokens " + n),
                          {"--max-tokens"});
}

}  // namespace
}  // namespace spf
