#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "eval/results_log.h"
#include "eval/sweep.h"
#include "eval_test_helpers.h"
#include "test_util.h"

namespace spf::eval {
namespace {

using nlohmann::json;

// Answers perfectly with dense, half right otherwise; can be told to die after N runs. Remembers
// the prompt of every (task, length, sample) it saw to check that resumed runs get the same
// prompts.
class FakeRunner : public Runner {
 public:
  int64_t die_after = -1;
  int64_t max_ctx = 0;
  int64_t runs = 0;
  std::map<std::tuple<std::string, int64_t, int64_t>, std::string> prompts;
  bool prompt_mismatch = false;
  bool saw_stop_when_scored = false;

  bool chat_model = false;    // the model ships a chat template
  bool answer_empty = false;  // generate nothing (a chat model fed a bare prompt)

  PromptFormat prompt_format(const std::string&) override {
    PromptFormat f = test::bytes_format();
    f.has_chat_template = chat_model;
    return f;
  }
  int64_t max_context(const std::string&) override { return max_ctx; }
  RunResult run(const Sample& s, const CellKey& c, const RunOptions& o) override {
    saw_stop_when_scored |= o.stop_when_scored;
    if (die_after >= 0 && runs >= die_after) throw Error("runner killed");
    ++runs;
    const auto key = std::make_tuple(s.task, c.length, s.index);
    if (auto it = prompts.find(key); it != prompts.end() && it->second != s.input)
      prompt_mismatch = true;
    prompts[key] = s.input;
    RunResult r;
    if (answer_empty) return r;
    for (size_t i = 0; i < s.outputs.size(); ++i)
      if (c.method == "dense" || i % 2 == 0) r.prediction += s.outputs[i] + " ";
    if (c.method != "dense") r.prediction += "\xc3";  // a cut UTF-8 sequence must not break the log
    r.prefill_seconds = c.method == "dense" ? 2.0 : 1.0;
    r.support_density = c.method == "dense" ? 1.0 : 0.1;
    return r;
  }
};

struct SweepFixture : ::testing::Test {
  spf::test::TempDir dir;
  std::ostringstream log;
  SweepOptions opts;

  void SetUp() override {
    write_file_atomic(
        dir.file("c.jsonl"),
        "{\"id\":\"q1\",\"input\":\"Say apple.\",\"outputs\":[\"apple\"],\"metric\":\"part\"}\n"
        "{\"id\":\"q2\",\"input\":\"Say pear and "
        "fig.\",\"outputs\":[\"pear\",\"fig\"],\"metric\":\"all\"}\n");
    opts.progress = &log;
    opts.progress_style = ProgressStyle::lines;
    opts.progress_interval_s = 0;
  }
  SweepConfig config(json overrides = json::object()) {
    json j = json::parse(
        R"({"models": ["m"], "methods": ["dense", "oracle:token"], "budgets": ["5%", "10%"],
      "lengths": [2048, 4096], "tasks": ["niah_single_1", "vt", "custom:c.jsonl"], "samples": 3, "seed": 42,
      "results": "results.jsonl"})");
    j.update(overrides);
    return parse_sweep_config(j, "test", dir.path().string());
  }
  std::string results() const { return dir.file("results.jsonl"); }
  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    std::istringstream in(read_file(results()));
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }
};

// 2 lengths x 2 tasks x 3 samples x (dense + 2 budgets) + custom 2 samples x 3 cells.
constexpr int64_t kTotal = 2 * 2 * 3 * 3 + 2 * 3;

std::set<ResultKey> expected_keys(const SweepConfig& c) {
  std::set<ResultKey> keys;
  for (const CellKey& k : enumerate_cells(c)) {
    const int64_t n = k.task.rfind("custom:", 0) == 0 ? 2 : c.samples;
    for (int64_t i = 0; i < n; ++i)
      keys.insert({k.model, k.method, k.budget, k.length, k.task, i, c.seed});
  }
  return keys;
}

void expect_each_cell_once(const std::string& path, const SweepConfig& c) {
  const ResultsScan scan = scan_results(path, true);
  EXPECT_FALSE(scan.torn_tail);
  std::set<ResultKey> seen;
  for (const ResultRecord& r : scan.records)
    EXPECT_TRUE(seen.insert(r.key).second) << "duplicate " << r.id;
  EXPECT_EQ(seen, expected_keys(c));
}

TEST_F(SweepFixture, RunsEveryCellAndScores) {
  FakeRunner runner;
  const SweepConfig c = config();
  const SweepSummary s = run_sweep(c, runner, opts);
  EXPECT_EQ(s.total, kTotal);
  EXPECT_EQ(s.ran, kTotal);
  EXPECT_EQ(s.already_done, 0);
  expect_each_cell_once(results(), c);
  for (const ResultRecord& r : scan_results(results(), true).records) {
    if (r.key.method == "dense") {
      EXPECT_DOUBLE_EQ(r.score, 100.0) << r.id;
    }
    EXPECT_FALSE(r.timestamp.empty());
    EXPECT_GT(r.prompt_tokens, 0);
    EXPECT_FALSE(r.outputs.empty());
    if (r.key.task == "vt") {
      EXPECT_DOUBLE_EQ(r.score, r.key.method == "dense" ? 100.0 : 60.0);  // 3 of 5 names
      EXPECT_EQ(r.id, "vt/" + std::to_string(r.key.sample));
    }
  }
  const std::string progress = log.str();
  EXPECT_NE(progress.find("sweep: 42 samples, 0 already done, 42 to run"), std::string::npos)
      << progress;
  EXPECT_NE(progress.find("42/42"), std::string::npos);
  EXPECT_NE(progress.find("ETA"), std::string::npos);
}

// Custom task inputs go through a chat model's template unless the sweep or the line says none.
TEST_F(SweepFixture, CustomTasksUseTheChatTemplateOfAChatModel) {
  write_file_atomic(
      dir.file("d.jsonl"),
      "{\"id\":\"a\",\"input\":\"Say apple.\",\"outputs\":[\"apple\"],\"metric\":\"part\"}\n"
      "{\"id\":\"b\",\"input\":\"<raw>\",\"outputs\":[\"x\"],\"metric\":\"part\","
      "\"chat_template\":\"none\"}\n");
  const json only_custom = {{"methods", {"dense"}}, {"tasks", {"custom:d.jsonl"}}};
  const std::string wrapped = test::chatml("Say apple.");
  const auto key = [](int64_t i) { return std::make_tuple(std::string("custom:d.jsonl"), 0, i); };

  FakeRunner chat;
  chat.chat_model = true;
  run_sweep(config(only_custom), chat, opts);
  EXPECT_EQ(chat.prompts.at(key(0)), wrapped);
  EXPECT_EQ(chat.prompts.at(key(1)), "<raw>") << "the line's \"none\" must win";
  for (const ResultRecord& r : scan_results(results(), true).records) {
    EXPECT_EQ(r.extra.at("chat_template").get<bool>(), r.id == "a") << r.id;
    EXPECT_EQ(r.prompt_tokens, test::bytes_over_4(r.id == "a" ? wrapped : "<raw>"));
  }

  std::filesystem::remove(results());
  FakeRunner verbatim;
  verbatim.chat_model = true;
  run_sweep(config(json{
                {"methods", {"dense"}}, {"tasks", {"custom:d.jsonl"}}, {"chat_template", "none"}}),
            verbatim, opts);
  EXPECT_EQ(verbatim.prompts.at(key(0)), "Say apple.");

  std::filesystem::remove(results());
  FakeRunner base;  // a model without a template: auto leaves the input alone
  run_sweep(config(only_custom), base, opts);
  EXPECT_EQ(base.prompts.at(key(0)), "Say apple.");

  EXPECT_THROW(config(json{{"chat_template", "chatml"}}), Error);
  EXPECT_THROW(config(json{{"chat_template", true}}), Error);
}

TEST_F(SweepFixture, EmptyPredictionsAreCountedAndWarnedAbout) {
  FakeRunner mute;
  mute.answer_empty = true;
  const SweepSummary s =
      run_sweep(config(json{{"methods", {"dense"}}, {"tasks", {"custom:c.jsonl"}}}), mute, opts);
  EXPECT_EQ(s.ran, 2);
  EXPECT_EQ(s.empty_predictions, 2);
  ASSERT_EQ(s.empty_cells.size(), 1u);
  EXPECT_EQ(*s.empty_cells.begin(), "custom:c.jsonl @ 0 dense");
  const std::string w = empty_prediction_warning(s);
  EXPECT_NE(w.find("WARNING: 2 of 2 samples"), std::string::npos) << w;
  EXPECT_NE(w.find("custom:c.jsonl @ 0 dense"), std::string::npos) << w;
  EXPECT_EQ(w.find('\n'), std::string::npos);

  FakeRunner talker;
  std::filesystem::remove(results());
  EXPECT_EQ(run_sweep(config(), talker, opts).empty_predictions, 0);
  EXPECT_TRUE(prediction_is_empty(" \n\t"));
  EXPECT_FALSE(prediction_is_empty(" a"));
}

// "./c.jsonl" and "c.jsonl" are one task: each resumes the other.
TEST_F(SweepFixture, CustomTaskSpellingsOfOnePathResumeEachOther) {
  FakeRunner first;
  const SweepConfig dotted = config(json{{"tasks", {"custom:./c.jsonl"}}});
  EXPECT_EQ(dotted.tasks, (std::vector<std::string>{"custom:c.jsonl"}));
  run_sweep(dotted, first, opts);
  FakeRunner second;
  const SweepSummary s = run_sweep(config(json{{"tasks", {"custom:c.jsonl"}}}), second, opts);
  EXPECT_EQ(s.ran, 0);
  EXPECT_EQ(s.already_done, s.total);
  EXPECT_THROW(config(json{{"tasks", {"custom:c.jsonl", "custom:./c.jsonl"}}}), Error);
}

TEST_F(SweepFixture, ResumesAfterAKillAndATornLine) {
  const SweepConfig c = config();
  FakeRunner dying;
  dying.die_after = 10;
  EXPECT_THROW(run_sweep(c, dying, opts), Error);
  const std::string before = read_file(results());
  ASSERT_EQ(lines().size(), 10u);
  // The kill also cut a write short.
  const std::string torn =
      R"({"model":"m","method":"dense","budget":"","length":2048,"task":"vt","sam)";
  {
    std::FILE* f = std::fopen(results().c_str(), "a");
    std::fputs(torn.c_str(), f);
    std::fclose(f);
  }
  FakeRunner runner;
  runner.prompts = dying.prompts;
  const SweepSummary s = run_sweep(c, runner, opts);
  EXPECT_TRUE(s.dropped_torn_line);
  EXPECT_EQ(s.already_done, 10);
  EXPECT_EQ(s.ran, kTotal - 10);
  EXPECT_FALSE(runner.prompt_mismatch) << "a resumed sample got a different prompt";
  const std::string after = read_file(results());
  EXPECT_EQ(after.substr(0, before.size()), before) << "finished lines changed";
  EXPECT_EQ(after.find(torn), std::string::npos);
  EXPECT_NE(log.str().find("dropped the torn last line 11"), std::string::npos) << log.str();
  expect_each_cell_once(results(), c);

  // Complete: a rerun runs nothing and leaves the file alone.
  FakeRunner idle;
  const SweepSummary again = run_sweep(c, idle, opts);
  EXPECT_EQ(again.ran, 0);
  EXPECT_EQ(again.already_done, kTotal);
  EXPECT_EQ(idle.runs, 0);
  EXPECT_EQ(read_file(results()), after);
}

TEST_F(SweepFixture, SeveralKillsInARow) {
  const SweepConfig c = config();
  for (const int64_t n : {1, 0, 7, 13}) {
    FakeRunner dying;
    dying.die_after = n;
    EXPECT_THROW(run_sweep(c, dying, opts), Error);
  }
  FakeRunner runner;
  run_sweep(c, runner, opts);
  EXPECT_EQ(lines().size(), size_t(kTotal));
  expect_each_cell_once(results(), c);
}

TEST_F(SweepFixture, ExtendingTheSweepRunsOnlyTheNewCells) {
  FakeRunner first;
  run_sweep(config(json{{"samples", 2}}), first, opts);
  FakeRunner second;
  const SweepConfig bigger = config(json{{"samples", 3}, {"budgets", {"5%", "10%", "20%"}}});
  const SweepSummary s = run_sweep(bigger, second, opts);
  EXPECT_EQ(s.already_done, first.runs);
  EXPECT_EQ(s.ran + s.already_done, s.total);
  const ResultsScan scan = scan_results(results(), true);
  std::set<ResultKey> seen;
  for (const ResultRecord& r : scan.records) EXPECT_TRUE(seen.insert(r.key).second);
  EXPECT_EQ(seen, expected_keys(bigger));
}

TEST_F(SweepFixture, InvalidConfigWritesNothing) {
  FakeRunner runner;
  // Unknown task: rejected by the parser.
  EXPECT_THROW(config(json{{"tasks", {"niah_single_1", "nope"}}}), Error);
  // Length beyond the model's context.
  runner.max_ctx = 3000;
  try {
    run_sweep(config(), runner, opts);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("length 4096 exceeds the max context 3000 of model m"),
              std::string::npos);
  }
  // A length too small for a task is found before anything runs.
  runner.max_ctx = 0;
  try {
    run_sweep(config(json{{"lengths", {2048, 150}}}), runner, opts);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("150"), std::string::npos) << e.what();
  }
  // A custom prompt beyond the context.
  runner.max_ctx = 10;
  EXPECT_THROW(run_sweep(config(json{{"lengths", json::array()}, {"tasks", {"custom:c.jsonl"}}}),
                         runner, opts),
               Error);
  EXPECT_EQ(runner.runs, 0);
  EXPECT_FALSE(std::filesystem::exists(results()));
}

TEST_F(SweepFixture, ValidationFailureLeavesATornFileUntouched) {
  const std::string content = "{\"model\":\"m\",\"meth";
  write_file_atomic(results(), content);
  FakeRunner runner;
  runner.max_ctx = 1000;
  EXPECT_THROW(run_sweep(config(), runner, opts), Error);
  EXPECT_EQ(read_file(results()), content);
}

TEST_F(SweepFixture, CorruptLineInTheMiddleIsAnErrorWithItsLineNumber) {
  FakeRunner first;
  first.die_after = 3;
  EXPECT_THROW(run_sweep(config(), first, opts), Error);
  std::string text = read_file(results());
  text.insert(text.find('\n') + 1, "not json\n");
  write_file_atomic(results(), text);
  FakeRunner runner;
  try {
    run_sweep(config(), runner, opts);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(results() + ":2: invalid JSON"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(read_file(results()), text);
  EXPECT_EQ(runner.runs, 0);
}

TEST_F(SweepFixture, ShardsPartitionTheSweepAndAWholeRunMergesThem) {
  const SweepConfig c = config(json{{"stop_when_scored", true}});
  int64_t ran = 0;
  std::set<std::tuple<std::string, int64_t, int64_t>> samples_seen;
  for (int64_t k = 0; k < 3; ++k) {
    SweepOptions so = opts;
    so.shard = {k, 3};
    FakeRunner runner;
    const SweepSummary s = run_sweep(c, runner, so);
    EXPECT_TRUE(runner.saw_stop_when_scored);
    EXPECT_EQ(s.ran, s.total);
    EXPECT_GT(s.ran, 0);
    ran += s.ran;
    // A sample (with all its cells) belongs to exactly one shard.
    for (const auto& [key, prompt] : runner.prompts)
      EXPECT_TRUE(samples_seen.insert(key).second) << std::get<0>(key) << " in two shards";
    EXPECT_TRUE(std::filesystem::exists(shard_results_path(results(), so.shard)));
  }
  EXPECT_EQ(ran, kTotal);
  EXPECT_FALSE(std::filesystem::exists(results()));
  EXPECT_EQ(find_shard_files(results()).size(), 3u);

  // Rerunning a shard finds its work done; a whole run merges, runs nothing and removes the parts.
  SweepOptions again = opts;
  again.shard = {1, 3};
  FakeRunner idle;
  EXPECT_EQ(run_sweep(c, idle, again).ran, 0);
  FakeRunner whole;
  const SweepSummary s = run_sweep(c, whole, opts);
  EXPECT_EQ(whole.runs, 0);
  EXPECT_EQ(s.merged, kTotal);
  EXPECT_TRUE(find_shard_files(results()).empty());
  expect_each_cell_once(results(), c);
  EXPECT_NE(log.str().find("merged 3 shard file(s)"), std::string::npos) << log.str();
}

TEST_F(SweepFixture, KilledShardResumesAndMergeSkipsDuplicatesAndTornTails) {
  const SweepConfig c = config();
  FakeRunner first;
  first.die_after = 5;
  EXPECT_THROW(run_sweep(c, first, opts), Error);  // 5 lines in the main file
  SweepOptions so = opts;
  so.shard = {0, 2};
  FakeRunner dying;
  dying.die_after = 4;
  EXPECT_THROW(run_sweep(c, dying, so), Error);
  const std::string part = shard_results_path(results(), so.shard);
  // A duplicate of a main-file line and a torn tail in the shard file.
  std::string text = read_file(part);
  const std::string main_first =
      read_file(results()).substr(0, read_file(results()).find('\n') + 1);
  write_file_atomic(part, text + main_first + "{\"model\":\"m\",\"met");
  const MergeSummary m = merge_shards(results());
  EXPECT_EQ(m.files, 1);
  EXPECT_EQ(m.appended, 4);
  EXPECT_EQ(m.duplicates, 1);
  EXPECT_EQ(m.torn, 1);
  EXPECT_FALSE(std::filesystem::exists(part));
  FakeRunner rest;
  const SweepSummary s = run_sweep(c, rest, opts);
  EXPECT_EQ(s.already_done, 9);
  expect_each_cell_once(results(), c);
}

TEST(EvalShards, ParseAndNames) {
  const Shard s = parse_shard("2/8");
  EXPECT_EQ(s.index, 2);
  EXPECT_EQ(s.count, 8);
  EXPECT_TRUE(parse_shard("0/1").whole());
  for (const char* bad : {"", "8/8", "1", "a/2", "-1/2", "1/0", "1/2/3", " 1/2"})
    EXPECT_THROW(parse_shard(bad), Error) << bad;
  EXPECT_EQ(shard_results_path("d/results-1024.jsonl", s), "d/results-1024.shard2of8.jsonl");
  EXPECT_EQ(shard_results_path("r", s), "r.shard2of8");
}

TEST(EvalProgress, BarAndDurations) {
  std::ostringstream out;
  Progress p(&out, ProgressStyle::bar, 10, 4);
  p.tick();
  p.finish();
  EXPECT_NE(out.str().find("\r["), std::string::npos);
  EXPECT_NE(out.str().find("] 5/10"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("ETA"), std::string::npos);
  EXPECT_EQ(out.str().back(), '\n');
  EXPECT_EQ(Progress::format_duration(125), "2:05");
  EXPECT_EQ(Progress::format_duration(3725), "1:02:05");
  EXPECT_EQ(Progress::format_duration(-1), "?");
  std::ostringstream quiet;
  Progress none(&quiet, ProgressStyle::none, 10, 0);
  none.tick();
  none.finish();
  EXPECT_EQ(quiet.str(), "");
}

TEST(EvalResultsLog, RecordRoundTripAndNullDensity) {
  ResultRecord r;
  r.key = {"m", "xattn", "5%", 4096, "vt", 3, 42};
  r.id = "vt/3";
  r.score = 80;
  r.prediction = "A B";
  r.outputs = {"A", "B"};
  r.metric = "all";
  r.prefill_seconds = 1.5;
  r.support_density = std::numeric_limits<double>::quiet_NaN();
  r.prompt_tokens = 4000;
  r.timestamp = utc_timestamp();
  r.extra = {{"decode_seconds", 0.5}};
  const json j = record_to_json(r);
  EXPECT_TRUE(j["support_density"].is_null());
  const ResultRecord back = record_from_json(json::parse(j.dump()), "x:1");
  EXPECT_EQ(back.key, r.key);
  EXPECT_EQ(back.outputs, r.outputs);
  EXPECT_TRUE(std::isnan(back.support_density));
  EXPECT_EQ(back.extra["decode_seconds"], 0.5);
  EXPECT_EQ(back.timestamp.size(), 20u);
  json missing = j;
  missing.erase("task");
  EXPECT_THROW(record_from_json(missing, "x:1"), Error);
}

}  // namespace
}  // namespace spf::eval
