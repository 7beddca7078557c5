// One evaluation sample and the model-side hooks the task generators need. src/eval never sees the
// model: the caller supplies a token counter and a chat wrapper (PromptFormat).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace spf::eval {

// How a prediction is scored against its references (RULER): "all" = fraction of references found,
// "part" = 1 if any reference is found.
enum class Metric { all, part };
Metric parse_metric(std::string_view name);  // "all" | "part", else spf::Error
std::string_view metric_name(Metric m);

// Tokens of a text as the model will see it (no special tokens added).
using TokenCounter = std::function<int64_t(const std::string& text)>;
// Wraps the user message in the model's chat template up to and including the assistant header.
// Contract: the user text appears verbatim in the result (answer positions are located through it).
using ChatWrapper = std::function<std::string(const std::string& user)>;

struct PromptFormat {
  TokenCounter count_tokens;  // required for the synthetic tasks
  ChatWrapper wrap;           // empty: no chat template (the user text is the prompt)
  // The model ships a chat template of its own (a chat model): custom task inputs are wrapped by
  // default, as RULER and lm-eval-harness do, since a chat model fed a bare prompt often stops at
  // once. Synthetic tasks always go through `wrap`.
  bool has_chat_template = false;
};

// Whether a custom task's input goes through the model's chat template: per sweep (config key
// "chat_template", `--chat-template`) and per task line (key "chat_template", which wins).
// automatic: wrapped when the model has a template; none: fed verbatim.
enum class ChatTemplateMode { inherit, automatic, none };
// "auto" | "none" (inherit has no spelling), else spf::Error naming `where`.
ChatTemplateMode parse_chat_template_mode(std::string_view text, std::string_view where);
std::string_view chat_template_mode_name(ChatTemplateMode m);

struct Sample {
  std::string task;  // "niah_single_1", ..., or "custom:FILE.jsonl" as named in the sweep
  std::string id;    // "<task>/<index>" for synthetic tasks, the file's "id" for custom ones
  int64_t index = 0;
  uint64_t seed = 0;  // the base seed the sample was derived from (the sweep's seed)
  // The complete text fed to the model: wrap(task text) followed by answer_prefix. The answer
  // prefix is INCLUDED here (RULER stores it apart); answer_prefix repeats it for reference.
  std::string input;
  std::string answer_prefix;
  std::vector<std::string> outputs;  // references
  Metric metric = Metric::all;
  int64_t max_new_tokens = 0;
  int64_t target_tokens = 0;   // the requested length; 0 for custom samples
  int64_t prompt_tokens = -1;  // count_tokens(input); -1 when not counted
  int64_t haystack_units = 0;  // the fitted haystack size (lines, words, ... per task)
  // Char offset in `input` of each reference's gold occurrence (the needle, the chain line, the
  // first occurrence in the list), parallel to `outputs`; -1 when unknown (custom samples).
  std::vector<int64_t> answer_offsets;
  // Custom samples: the line's own choice (inherit: the sweep's).
  ChatTemplateMode chat_template = ChatTemplateMode::inherit;
};

}  // namespace spf::eval
