// A plain (untemplated) custom task file scores on the chat model SmolLM2-Instruct as its
// chat-templated twin does: by default the sweep wraps custom inputs in the model's template, as
// RULER and lm-eval-harness do. The twin holds the wrapped text itself and opts out per line.
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/atomic_file.h"
#include "core/printable.h"
#include "eval/model_runner.h"
#include "eval/results_log.h"
#include "eval/sweep.h"
#include "test_util.h"

namespace spf::eval {
namespace {

using nlohmann::json;

const char* const kNames[] = {"Alice", "Bruno", "Chen", "Dana"};
const char* const kNumbers[] = {"4821", "7390", "1568", "9023"};

// Needle questions: one planted fact among filler lines.
std::string needle_prompt(int i) {
  std::ostringstream s;
  s << "Read the notes and answer the question.\n";
  for (int k = 0; k < 6; ++k) {
    if (k == 3) s << "The secret number of " << kNames[i] << " is " << kNumbers[i] << ".\n";
    s << "The weather was mild and the river ran quietly past the old mill.\n";
  }
  s << "Question: what is the secret number of " << kNames[i] << "? Answer with the number.";
  return s.str();
}

std::map<std::string, ResultRecord> by_id(const std::string& path) {
  std::map<std::string, ResultRecord> out;
  for (ResultRecord& r : scan_results(path, true).records) out[r.id] = std::move(r);
  return out;
}

TEST(CustomChatTemplate, PlainTaskFileScoresAsItsTemplatedTwin) {
  SPF_REQUIRE_DEFAULT_MODEL(model);
  spf::test::TempDir dir;
  ModelRunner runner;
  const PromptFormat format = runner.prompt_format(model);
  ASSERT_TRUE(format.has_chat_template) << "SmolLM2-Instruct ships a chat template";
  std::string plain, twin;
  for (int i = 0; i < 4; ++i) {
    json line = {{"id", std::to_string(i)},
                 {"input", needle_prompt(i)},
                 {"outputs", {kNumbers[i]}},
                 {"metric", "all"},
                 {"max_new_tokens", 16}};
    plain += line.dump() + "\n";
    line["input"] = format.wrap(needle_prompt(i));
    line["chat_template"] = "none";
    twin += line.dump() + "\n";
  }
  write_file_atomic(dir.file("plain.jsonl"), plain);
  write_file_atomic(dir.file("twin.jsonl"), twin);

  SweepOptions quiet;
  quiet.progress = nullptr;
  const auto run = [&](const std::string& tasks, const std::string& results) {
    const json cfg = {
        {"models", {model}}, {"methods", {"dense"}}, {"tasks", {tasks}},        {"samples", 4},
        {"seed", 42},        {"results", results},   {"stop_when_scored", true}};
    run_sweep(parse_sweep_config(cfg, "test", dir.path().string()), runner, quiet);
    return by_id(dir.file(results));
  };
  const auto a = run("custom:plain.jsonl", "plain-results.jsonl");
  const auto b = run("custom:twin.jsonl", "twin-results.jsonl");
  ASSERT_EQ(a.size(), 4u);
  ASSERT_EQ(b.size(), 4u);
  double total = 0;
  for (const auto& [id, r] : a) {
    EXPECT_EQ(r.prediction, b.at(id).prediction) << id;
    EXPECT_EQ(r.score, b.at(id).score) << id;
    EXPECT_EQ(r.prompt_tokens, b.at(id).prompt_tokens) << id;
    EXPECT_TRUE(r.extra.at("chat_template").get<bool>());
    EXPECT_FALSE(b.at(id).extra.at("chat_template").get<bool>());
    EXPECT_FALSE(prediction_is_empty(r.prediction)) << id;
    total += r.score;
    std::printf("  %s: %s (score %.0f)\n", id.c_str(), printable(r.prediction).c_str(), r.score);
  }
  // The twins agree because both are templated, not because both fail.
  EXPECT_GT(total, 0.0);
}

}  // namespace
}  // namespace spf::eval
