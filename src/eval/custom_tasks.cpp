#include "eval/custom_tasks.h"

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/printable.h"
#include "formats/json_text.h"

namespace spf::eval {

namespace {

using nlohmann::json;

std::string id_of(const json& v, const std::string& where) {
  if (v.is_string()) {
    SPF_CHECK(!v.get<std::string>().empty(), where, ": \"id\" is empty");
    return v.get<std::string>();
  }
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  fail(where, ": \"id\" must be a string or an integer");
}

Sample parse_line(const std::string& line, const std::string& where) {
  const json j = parse_json_text<json>(line, where);
  SPF_CHECK(j.is_object(), where, ": expected a JSON object");
  for (const char* key : {"id", "input", "outputs", "metric"})
    SPF_CHECK(j.contains(key), where, ": missing key \"", key, "\"");
  Sample s;
  s.id = id_of(j["id"], where);
  SPF_CHECK(j["input"].is_string() && !j["input"].get<std::string>().empty(), where,
            ": \"input\" must be a non-empty string");
  s.input = j["input"].get<std::string>();
  const json& outs = j["outputs"];
  SPF_CHECK(outs.is_array() && !outs.empty(), where,
            ": \"outputs\" must be a non-empty array of strings");
  for (const json& o : outs) {
    SPF_CHECK(o.is_string() && !o.get<std::string>().empty(), where,
              ": \"outputs\" must hold non-empty strings");
    s.outputs.push_back(o.get<std::string>());
  }
  SPF_CHECK(j["metric"].is_string(), where, ": \"metric\" must be \"all\" or \"part\"");
  const std::string metric = j["metric"].get<std::string>();
  SPF_CHECK(metric == "all" || metric == "part", where,
            ": \"metric\" must be \"all\" or \"part\", not \"", metric, "\"");
  s.metric = parse_metric(metric);
  s.max_new_tokens = kCustomDefaultMaxNewTokens;
  if (j.contains("max_new_tokens")) {
    const json& m = j["max_new_tokens"];
    SPF_CHECK(m.is_number_integer() && m.get<int64_t>() > 0, where,
              ": \"max_new_tokens\" must be a positive integer");
    s.max_new_tokens = m.get<int64_t>();
  }
  if (j.contains("chat_template")) {
    SPF_CHECK(j["chat_template"].is_string(), where,
              ": \"chat_template\" must be \"auto\" or \"none\"");
    s.chat_template = parse_chat_template_mode(j["chat_template"].get<std::string>(), where);
  }
  s.answer_offsets.assign(s.outputs.size(), -1);
  return s;
}

}  // namespace

ChatTemplateMode parse_chat_template_mode(std::string_view text, std::string_view where) {
  if (text == "auto") return ChatTemplateMode::automatic;
  if (text == "none") return ChatTemplateMode::none;
  fail(where, ": chat template \"", printable(text), "\" is neither \"auto\" nor \"none\"");
}

std::string_view chat_template_mode_name(ChatTemplateMode m) {
  switch (m) {
    case ChatTemplateMode::automatic:
      return "auto";
    case ChatTemplateMode::none:
      return "none";
    case ChatTemplateMode::inherit:
      break;
  }
  return "inherit";
}

Sample custom_prompt(const Sample& s, const PromptFormat& format, ChatTemplateMode sweep_mode,
                     bool* applied) {
  const ChatTemplateMode mode =
      s.chat_template == ChatTemplateMode::inherit ? sweep_mode : s.chat_template;
  const bool wrap = mode == ChatTemplateMode::automatic && format.has_chat_template && format.wrap;
  if (applied) *applied = wrap;
  Sample out = s;
  if (wrap) out.input = format.wrap(s.input);
  return out;
}

std::vector<Sample> load_custom_tasks(const std::string& path, const std::string& task) {
  SPF_CHECK(std::filesystem::is_regular_file(path), "custom task file ", path, " not found");
  const std::string text = read_file(path);
  std::vector<Sample> samples;
  std::map<std::string, int64_t> first_line;
  int64_t line_no = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = text.find('\n', i);
    if (j == std::string::npos) j = text.size();
    ++line_no;
    std::string line = text.substr(i, j - i);
    i = j + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = cat(path, ":", line_no);
    Sample s = parse_line(line, where);
    const auto [it, fresh] = first_line.emplace(s.id, line_no);
    SPF_CHECK(fresh, where, ": duplicate id \"", s.id, "\" (first on line ", it->second, ")");
    s.task = task;
    s.index = int64_t(samples.size());
    samples.push_back(std::move(s));
  }
  SPF_CHECK(!samples.empty(), path, ": no samples (expected one JSON object per line)");
  return samples;
}

}  // namespace spf::eval
