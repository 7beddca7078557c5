// Bad option values and inputs for logits, oracle, eval, sweep, bench prefill and generate: one
// "spf: error:" line naming the value, a non-zero exit, and no output file created or changed.
// Checks that need no model run on the tiny llama checkpoint; the default model is loaded only by
// the two cases that need a tokenizer and its 8192-token context (skipped when it is absent).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>

#include "cli/cli_checks.h"
#include "test_util.h"

namespace spf {
namespace {

using test::CliRun;
using test::expect_one_line_error;
using test::read_text;
using test::run_split;
using test::write_text;

namespace fs = std::filesystem;
using test::TempDir;

const std::string kTiny = test::fixture("hf/llama");  // vocab 512, context 4096

// ---- logits: token ids ----

void expect_logits_ids_error(const std::string& opt, std::initializer_list<std::string> needles) {
  SCOPED_TRACE(opt);
  TempDir t;
  const std::string out = t.file("X.npy");
  expect_one_line_error(run_split(t, "logits --model " + kTiny + " " + opt + " --out " + out),
                        needles);
  EXPECT_FALSE(fs::exists(out));
}

TEST(CliBadValues, LogitsTokenIds) {
  expect_logits_ids_error("--ids 1,512", {"--ids", "token id 512", "index 1", "vocabulary of 512"});
  expect_logits_ids_error("--ids 1,,2", {"--ids", "empty element at position 1"});
  expect_logits_ids_error("--ids abc", {"--ids", "'abc'", "not a non-negative token id"});
  expect_logits_ids_error("--ids=-3", {"--ids", "'-3'", "not a non-negative token id"});
  expect_logits_ids_error("--ids 1,99999999999", {"--ids", "'99999999999'"});
}

TEST(CliBadValues, LogitsIdsFile) {
  TempDir t;
  const std::string ids = t.file("ids.txt"), out = t.file("X.npy");
  write_text(ids, "1 2\n3 x4\n");
  expect_one_line_error(
      run_split(t, "logits --model " + kTiny + " --ids-file " + ids + " --out " + out),
      {ids, "'x4'"});
  write_text(ids, "1 2\n3 511 512\n");
  expect_one_line_error(
      run_split(t, "logits --model " + kTiny + " --ids-file " + ids + " --out " + out),
      {ids, "token id 512", "index 4"});
  expect_one_line_error(run_split(t, "logits --model " + kTiny + " --out " + out),
                        {"--ids", "--ids-file"});
  EXPECT_FALSE(fs::exists(out));
}

TEST(CliBadValues, LogitsFailureKeepsExistingOutput) {
  TempDir t;
  const std::string out = t.file("X.npy");
  write_text(out, "old content");
  expect_one_line_error(run_split(t, "logits --model " + kTiny + " --ids 3,700 --out " + out),
                        {"token id 700"});
  EXPECT_EQ(read_text(out), "old content");
  EXPECT_EQ(std::distance(fs::directory_iterator(t.path()), fs::directory_iterator()), 2)
      << "a temp file was left behind";  // X.npy and stderr.txt
}

// Output paths are checked before the model loads (the model path here does not even exist).
TEST(CliBadValues, OutputDirectoryMissing) {
  TempDir t;
  const std::string absent = t.file("absent_model");
  const std::string out = t.file("no_dir/X.npy"), prompt = t.file("p.txt");
  write_text(prompt, "hello\n");
  expect_one_line_error(run_split(t, "logits --model " + absent + " --ids 1 --out " + out),
                        {"--out", out, "does not exist"});
  expect_one_line_error(
      run_split(t, "logits --model " + absent + " --ids 1 --out " + t.path().string()),
      {"--out", "is a directory"});
  expect_one_line_error(
      run_split(t, "oracle --model " + absent + " --prompt-file " + prompt + " --json " + out),
      {"--json", out, "does not exist"});
  expect_one_line_error(
      run_split(t, "oracle --model " + absent + " --prompt-file " + prompt + " --markdown " + out),
      {"--markdown", out, "does not exist"});
  expect_one_line_error(run_split(t, "bench prefill --model " + absent + " --json " + out),
                        {"--json", out, "does not exist"});
  expect_one_line_error(run_split(t, "eval --model " + absent + " --task vt --results " + out),
                        {"results file", out, "does not exist"});
  EXPECT_FALSE(fs::exists(t.file("no_dir")));
}

// ---- oracle: every configuration is checked before the model loads ----

void expect_oracle_error(const std::string& opts, std::initializer_list<std::string> needles) {
  SCOPED_TRACE(opts);
  TempDir t;
  const std::string prompt = t.file("prompt.txt"), json = t.file("oracle.json");
  write_text(prompt, "The quick brown fox jumps over the lazy dog.\n");
  expect_one_line_error(run_split(t, "oracle --model " + kTiny + " --prompt-file " + prompt +
                                         " --json " + json + " " + opts),
                        needles);
  EXPECT_FALSE(fs::exists(json));
}

TEST(CliBadValues, OracleBudgetsMethodsGranularity) {
  expect_oracle_error("--budget 0%", {"budget '0%'", "(0%, 100%]"});
  expect_oracle_error("--budget 150%", {"budget '150%'", "(0%, 100%]"});
  expect_oracle_error("--budget=-1", {"budget '-1'"});
  expect_oracle_error("--budget k=0", {"budget 'k=0'"});
  expect_oracle_error("--budget 5%,lots", {"budget 'lots'"});
  expect_oracle_error("--method oracle,bogus",
                      {"method spec 'bogus'", "unknown method 'bogus'", "oracle"});
  expect_oracle_error("--method oracle:block0",
                      {"method spec 'oracle:block0'", "bad granularity 'block0'"});
  expect_oracle_error("--method oracle:rows", {"unknown argument 'rows'", "blockN"});
  expect_oracle_error("--method oracle:groups=everyone",
                      {"bad value 'everyone' for groups", "shared|kv|head"});
  expect_oracle_error("--method vertical_slash:probe=0", {"bad value '0' for probe"});
  expect_oracle_error("--method oracle:probe=8", {"option 'probe' is not valid for oracle"});
  expect_oracle_error("--method random:seed=1:seed=2", {"duplicate option 'seed'"});
  // Two spellings of one run, and a spec that disagrees with the budget.
  expect_oracle_error("--method oracle:token,oracle", {"oracle @ 5%", "listed twice"});
  expect_oracle_error("--method oracle:sink=2 --sink 3", {"sink=2", "sink=3"});
  expect_oracle_error("--method streaming --sink 8", {"streaming:sink=8"});
  expect_oracle_error("--method indexer:idx.bin:block64", {"idx.bin", "no such indexer file"});
  // The grid axes of old are spec arguments now.
  expect_oracle_error("--granularity block:64", {"--granularity"});
}

// Options a producer itself rejects fail before the model loads (this model path does not exist).
TEST(CliBadValues, ProducerOptionsCheckedBeforeLoading) {
  TempDir t;
  const std::string absent = t.file("absent_model"), prompt = t.file("p.txt");
  const std::string results = t.file("r.jsonl");
  write_text(prompt, "hello\n");
  expect_one_line_error(run_split(t, "oracle --model " + absent + " --prompt-file " + prompt +
                                         " --method antidiagonal:block:3"),
                        {"antidiagonal", "block size 3", "stride"});
  expect_one_line_error(run_split(t, "eval --model " + absent + " --task vt --results " + results +
                                         " --method antidiagonal:block3"),
                        {"antidiagonal:block3", "block size 3", "stride"});
  expect_one_line_error(run_split(t, "eval --model " + absent + " --task vt --results " + results +
                                         " --method oracle:rows"),
                        {"oracle:rows", "unknown argument 'rows'"});
  expect_one_line_error(run_split(t, "eval --model " + absent + " --task vt --results " + results +
                                         " --method indexer:idx.bin:block64"),
                        {"indexer:idx.bin:block64", "no such indexer file"});
  expect_one_line_error(run_split(t, "logits --model " + absent + " --ids 1,2 --out " +
                                         t.file("x.npy") + " --method indexer:idx.bin"),
                        {"idx.bin", "no such indexer file"});
  expect_one_line_error(run_split(t, "logits --model " + absent + " --ids 1,2 --out " +
                                         t.file("x.npy") + " --method oracle:per_head:per_head"),
                        {"method spec 'oracle:per_head:per_head'", "duplicate group mode"});
  expect_one_line_error(run_split(t, "eval --model " + absent + " --task vt --results " + results +
                                         " --method oracle --budget 99999999999999999999"),
                        {"budget", "99999999999999999999"});
  EXPECT_FALSE(fs::exists(results));
}

// ---- eval and sweep: bad tasks and lengths leave the results file as it was ----

constexpr const char* kOldResults =
    R"({"model":"m","method":"dense","budget":"","length":1024,"task":"vt","sample":0,"seed":42,)"
    R"("id":"a","score":1.0,"prediction":"x","outputs":["x"],"metric":"all","prefill_seconds":0.1,)"
    R"("support_density":null,"prompt_tokens":10,"timestamp":"2025-01-01T00:00:00Z"})"
    "\n";

void expect_eval_error(const std::string& model, const std::string& opts,
                       std::initializer_list<std::string> needles) {
  SCOPED_TRACE(opts);
  TempDir t;
  const std::string results = t.file("results.jsonl");
  write_text(results, kOldResults);
  expect_one_line_error(
      run_split(t, "eval --model " + model + " --results " + results + " " + opts), needles);
  EXPECT_EQ(read_text(results), kOldResults);
}

TEST(CliBadValues, EvalUnknownTask) {
  expect_eval_error(kTiny, "--task niah_single_1,no_such_task", {"unknown task \"no_such_task\""});
}

TEST(CliBadValues, EvalMalformedTasksJsonl) {
  TempDir t;
  const std::string tasks = t.file("tasks.jsonl");
  write_text(tasks,
             "{\"id\":\"a\",\"input\":\"What is 2+2?\",\"outputs\":[\"4\"],\"metric\":\"all\"}\n"
             "\n"
             "{\"id\":\"b\",\"input\":\"oops\",\"outputs\":[\"x\"],\n");
  expect_eval_error(kTiny, "--tasks " + tasks, {tasks + ":3", "invalid JSON"});
  write_text(tasks, "{\"id\":\"a\",\"input\":\"q\",\"outputs\":[\"4\"],\"metric\":\"some\"}\n");
  expect_eval_error(kTiny, "--tasks " + tasks, {tasks + ":1", "\"metric\""});
}

TEST(CliBadValues, EvalLengthBeyondContext) {
  SPF_REQUIRE_DEFAULT_MODEL(model);
  expect_eval_error(model, "--task niah_single_1 --length 1024,100000",
                    {"length 100000", "max context 8192"});
}

TEST(CliBadValues, SweepUnknownTask) {
  TempDir t;
  const std::string cfg = t.file("sweep.json"), results = t.file("r.jsonl");
  write_text(cfg, R"({"models":[")" + kTiny +
                      R"("],"methods":["dense"],"lengths":[1024],"tasks":["vt","nope"],)"
                      R"("samples":1,"results":"r.jsonl"})");
  expect_one_line_error(run_split(t, "sweep --config " + cfg), {cfg, "unknown task \"nope\""});
  EXPECT_FALSE(fs::exists(results));
}

TEST(CliBadValues, SweepShard) {
  TempDir t;
  const std::string cfg = t.file("sweep.json"), results = t.file("r.jsonl");
  write_text(cfg, R"({"models":[")" + kTiny +
                      R"("],"methods":["dense"],"lengths":[1024],"tasks":["vt"],)"
                      R"("samples":1,"results":"r.jsonl"})");
  for (const char* bad : {"3/2", "x", "1/0"}) {
    SCOPED_TRACE(bad);
    expect_one_line_error(run_split(t, "sweep --config " + cfg + " --shard " + bad),
                          {"shard '" + std::string(bad) + "'"});
  }
  EXPECT_FALSE(fs::exists(results));
}

// ---- bench prefill ----

void expect_bench_error(const std::string& lengths, std::initializer_list<std::string> needles) {
  SCOPED_TRACE(lengths);
  TempDir t;
  const std::string json = t.file("bench.json");
  const CliRun r =
      run_split(t, "bench prefill --model " + kTiny + " --lengths " + lengths + " --json " + json);
  expect_one_line_error(r, needles);
  EXPECT_EQ(r.out, "");  // every length is checked before the first run
  EXPECT_FALSE(fs::exists(json));
}

TEST(CliBadValues, BenchPrefillLengths) {
  expect_bench_error("0", {"--lengths", "0 is not a positive prompt length"});
  expect_bench_error("16,5000", {"--lengths", "5000 is outside 1..4096", "context"});
  expect_bench_error("16,x", {"--lengths", "'x'", "prompt length"});
}

// Methods, budget and layer list are refused before the model loads, so nothing runs.
TEST(CliBadValues, BenchPrefillMethods) {
  TempDir t;
  const std::string json = t.file("bench.json");
  const std::string base = "bench prefill --model " + kTiny + " --lengths 16 --json " + json;
  for (const auto& [args, needle] : std::vector<std::pair<std::string, std::string>>{
           {" --methods dense,bogus", "bogus"},
           {" --methods ,", "--methods"},
           {" --methods dense,streaming --budget 200%", "200%"},
           {" --methods dense,streaming --sparse-layers every:0", "every:0"},
           {" --methods indexer:" + t.file("absent.safetensors"), "absent.safetensors"}}) {
    SCOPED_TRACE(args);
    const CliRun r = run_split(t, base + args);
    expect_one_line_error(r, {needle});
    EXPECT_EQ(r.out, "");
    EXPECT_FALSE(fs::exists(json));
  }
}

// A sparse method beside dense: one row per method and length, its speedup a same-run ratio.
TEST(CliBadValues, BenchPrefillTimesEachMethodBesideDense) {
  TempDir t;
  const std::string json = t.file("bench.json");
  const CliRun r = run_split(t, "bench prefill --model " + kTiny +
                                    " --lengths 16,40 --methods dense,streaming --budget 25% "
                                    "--sparse-layers every:2 --json " +
                                    json);
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string text = read_text(json);
  for (const char* want : {"\"method\": \"dense\"", "\"method\": \"streaming\"",
                           "\"budget\": \"25%\"", "\"speedup_vs_dense\"", "\"tokens\": 40"})
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
  size_t rows = 0;
  for (size_t at = text.find("\"method\""); at != std::string::npos;
       at = text.find("\"method\"", at + 1))
    ++rows;
  EXPECT_EQ(rows, 4u) << text;
}

// ---- command-line syntax: CLI11's errors take the same one-line form ----

TEST(CliBadValues, UsageErrors) {
  TempDir t;
  expect_one_line_error(run_split(t, ""), {"subcommand", "spf --help"});
  expect_one_line_error(run_split(t, "frobnicate"),
                        {"unknown subcommand 'frobnicate'", "logits", "spf --help"});
  expect_one_line_error(run_split(t, "logits --ids 1"), {"--out", "spf logits --help"});
  expect_one_line_error(run_split(t, "logits --ids 1 --out x.npy --bogus"),
                        {"--bogus", "spf logits --help"});
  expect_one_line_error(run_split(t, "bench prefill --repeats 0"),
                        {"--repeats", "spf bench prefill --help"});
  expect_one_line_error(run_split(t, "oracle --prompt-file " + t.file("absent.txt")),
                        {"--prompt-file", "absent.txt"});
  expect_one_line_error(run_split(t, "info"), {"path", "spf info --help"});
}

// ---- integer options: a short range in the message; negative seeds refused, not wrapped ----

TEST(CliBadValues, IntegerRangesAndSeeds) {
  TempDir t;
  const std::string m = " --model " + kTiny;
  const std::string eval = "eval" + m + " --task niah_single_1 --length 512 --method dense";
  expect_one_line_error(run_split(t, eval + " --prefill-chunk -1"),
                        {"--prefill-chunk", "-1", "not in range 0 to 1099511627776"});
  expect_one_line_error(run_split(t, eval + " --seed -3"),
                        {"--seed", "a seed must be >= 0, got -3"});
  expect_one_line_error(run_split(t, "generate" + m + " -p hi --seed -1"), {"--seed", "-1"});
  expect_one_line_error(
      run_split(t, "train-indexer" + m + " --out " + t.file("i.st") + " --seed -1"),
      {"--seed", "-1"});
  const std::string oracle = "oracle" + m + " --prompt-file " + t.file("p.txt") + " --budget 5%";
  write_text(t.file("p.txt"), "hello");
  expect_one_line_error(run_split(t, oracle + " --sink -1"), {"--sink", "not in range 0 to"});
  expect_one_line_error(run_split(t, oracle + " --max-tokens 0"), {"--max-tokens", "range 1 to"});
  const std::string ev = "indexer-eval" + m + " --indexer " + t.file("absent.st");
  expect_one_line_error(run_split(t, ev + " --tokens 0"), {"--tokens", "range 1 to"});
  expect_one_line_error(run_split(t, ev + " --cost 128,-1"), {"--cost", "-1"});
  EXPECT_FALSE(fs::exists(t.file("i.st")));
}

// ---- bench ttft: the attention kernel is checked before anything runs ----

TEST(CliBadValues, BenchTtftAttentionKernel) {
  TempDir t;
  expect_one_line_error(run_split(t, "bench ttft --attention-kernel foo --lengths 1024"),
                        {"--attention-kernel", "foo", "auto,mma,wgmma"});
  // Named as bad input before the device is looked for (so also where there is none).
  const CliRun shape = run_split(t, "bench ttft --shape qwen9 --lengths 1024");
  if (shape.err.find("needs a CUDA build") != std::string::npos) GTEST_SKIP() << shape.err;
  expect_one_line_error(shape, {"--shape", "qwen9"});
  expect_one_line_error(run_split(t, "bench ttft --sparse-layers every:0 --lengths 1024"),
                        {"every:0"});
  expect_one_line_error(
      run_split(t, "bench ttft --indexer " + t.file("absent.safetensors") + " --lengths 1024"),
      {"absent.safetensors"});
}

// ---- generate: a prompt beyond the context fails before any forward ----

TEST(CliBadValues, GeneratePromptBeyondContext) {
  SPF_REQUIRE_DEFAULT_MODEL(model);
  TempDir t;
  std::string prompt;
  for (int i = 0; i < 9000; ++i) prompt += " hello";
  const CliRun r = run_split(t, "generate --model " + model + " --raw -q -n 4 -p '" + prompt + "'");
  expect_one_line_error(r, {"tokens", "context of 8192"});
  EXPECT_EQ(r.out, "");  // nothing generated
}

}  // namespace
}  // namespace spf
