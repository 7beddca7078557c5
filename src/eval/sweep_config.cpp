#include "eval/sweep_config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "eval/custom_tasks.h"
#include "eval/tasks/registry.h"
#include "formats/json_text.h"
#include "support/budget.h"
#include "support/layer_selection.h"
#include "support/method_spec.h"

namespace spf::eval {

namespace {

using nlohmann::json;

std::vector<std::string> string_list(const json& j, const char* key, const std::string& where,
                                     bool required) {
  if (!j.contains(key)) {
    SPF_CHECK(!required, where, ": missing key \"", key, "\"");
    return {};
  }
  const json& v = j[key];
  SPF_CHECK(v.is_array(), where, ": \"", key, "\" must be an array of strings");
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const json& e : v) {
    SPF_CHECK(e.is_string() && !e.get<std::string>().empty(), where, ": \"", key,
              "\" must hold non-empty strings");
    SPF_CHECK(seen.insert(e.get<std::string>()).second, where, ": \"", key, "\" lists \"",
              e.get<std::string>(), "\" twice");
    out.push_back(e.get<std::string>());
  }
  SPF_CHECK(!required || !out.empty(), where, ": \"", key, "\" is empty");
  return out;
}

// The methods in canonical form: every entry must parse as a method spec, and two spellings of
// one method (e.g. "oracle:token" and "oracle") are a duplicate.
std::vector<std::string> method_list(const json& j, const std::string& where) {
  std::vector<std::string> out;
  for (const std::string& m : string_list(j, "methods", where, true)) {
    std::string c;
    try {
      c = canonical_method(m);
    } catch (const Error& e) {
      fail(where, ": \"methods\": ", e.what());
    }
    for (size_t i = 0; i < out.size(); ++i)
      SPF_CHECK(out[i] != c, where, ": \"methods\" lists ", c, " twice (as \"",
                j["methods"][i].get<std::string>(), "\" and \"", m, "\")");
    out.push_back(c);
  }
  return out;
}

std::string resolve(const std::string& base_dir, const std::string& p) {
  const std::filesystem::path path(p);
  if (path.is_absolute() || base_dir.empty()) return p;
  return (std::filesystem::path(base_dir) / path).lexically_normal().string();
}

}  // namespace

bool is_dense_method(const std::string& method) {
  const std::optional<MethodSpec> spec = try_parse_method_spec(method);
  return spec && spec->method == "dense";
}

double budget_value(const std::string& budget) {
  const bool pct = !budget.empty() && budget.back() == '%';
  const std::string num = pct ? budget.substr(0, budget.size() - 1) : budget;
  if (num.empty()) return std::numeric_limits<double>::quiet_NaN();
  size_t used = 0;
  double v;
  try {
    v = std::stod(num, &used);
  } catch (const std::exception&) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  if (used != num.size() || !std::isfinite(v)) return std::numeric_limits<double>::quiet_NaN();
  if (pct) return (v > 0 && v <= 100) ? v : std::numeric_limits<double>::quiet_NaN();
  // A token count is written in digits only (1e9, 1.5e1 are not counts).
  const bool digits =
      std::all_of(num.begin(), num.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
  return (digits && v >= 1) ? v : std::numeric_limits<double>::quiet_NaN();
}

SweepConfig parse_sweep_config(const json& j, const std::string& where,
                               const std::string& base_dir) {
  SPF_CHECK(j.is_object(), where, ": the sweep config must be a JSON object");
  static const std::set<std::string> known = {
      "models", "methods", "budgets",          "lengths",       "tasks",         "samples",
      "seed",   "results", "stop_when_scored", "prefill_chunk", "chat_template", "sparse_layers"};
  for (const auto& [k, v] : j.items())
    SPF_CHECK(known.count(k), where, ": unknown key \"", k,
              "\" (known: models, methods, budgets, lengths, tasks, samples, seed, results, "
              "stop_when_scored, prefill_chunk, chat_template, sparse_layers)");
  SweepConfig c;
  c.base_dir = base_dir;
  c.models = string_list(j, "models", where, true);
  c.methods = method_list(j, where);
  c.budgets = string_list(j, "budgets", where, false);
  c.tasks = string_list(j, "tasks", where, true);
  // A custom task is named by its path in normal form, so "./t.jsonl" and "t.jsonl" key the same
  // results (and resume each other).
  std::set<std::string> normal_tasks;
  for (std::string& t : c.tasks) {
    if (t.rfind(kCustomPrefix, 0) == 0) {
      const std::string file = t.substr(std::string(kCustomPrefix).size());
      if (!file.empty())
        t = kCustomPrefix + std::filesystem::path(file).lexically_normal().string();
    }
    SPF_CHECK(normal_tasks.insert(t).second, where, ": \"tasks\" lists ", t,
              " twice (as different spellings of one path)");
  }

  bool sparse = false;
  for (const std::string& m : c.methods) sparse |= !is_dense_method(m);
  SPF_CHECK(!sparse || !c.budgets.empty(), where,
            ": \"budgets\" is empty but a method other than dense needs one");
  // The run parses budgets with parse_budget(); check them with it, so that a budget the run would
  // read differently (1e9 as k = 1) cannot pass here.
  for (const std::string& b : c.budgets) {
    SPF_CHECK(!std::isnan(budget_value(b)), where, ": budget \"", b,
              "\" is neither a percentage in (0%, 100%] nor a positive integer token count");
    try {
      parse_budget(b);
    } catch (const Error& e) {
      fail(where, ": ", e.what());
    }
  }

  bool builtin = false;
  for (const std::string& t : c.tasks) {
    if (t.rfind(kCustomPrefix, 0) == 0) {
      SPF_CHECK(t.size() > std::string(kCustomPrefix).size(), where, ": task \"", t,
                "\" names no file");
      continue;
    }
    SPF_CHECK(find_builtin_task(t) != nullptr, where, ": unknown task \"", t,
              "\" (built-in tasks: ", builtin_task_list(), "; or custom:FILE.jsonl)");
    builtin = true;
  }

  if (j.contains("lengths")) {
    const json& v = j["lengths"];
    SPF_CHECK(v.is_array(), where, ": \"lengths\" must be an array of positive integers");
    std::set<int64_t> seen;
    for (const json& e : v) {
      SPF_CHECK(e.is_number_integer() && e.get<int64_t>() > 0, where,
                ": \"lengths\" must hold positive integers");
      SPF_CHECK(seen.insert(e.get<int64_t>()).second, where, ": \"lengths\" lists ",
                e.get<int64_t>(), " twice");
      c.lengths.push_back(e.get<int64_t>());
    }
  }
  SPF_CHECK(!builtin || !c.lengths.empty(), where,
            ": \"lengths\" is empty but built-in tasks need it");

  SPF_CHECK(
      j.contains("samples") && j["samples"].is_number_integer() && j["samples"].get<int64_t>() > 0,
      where, ": \"samples\" must be a positive integer");
  c.samples = j["samples"].get<int64_t>();
  if (j.contains("seed")) {
    SPF_CHECK(j["seed"].is_number_unsigned() ||
                  (j["seed"].is_number_integer() && j["seed"].get<int64_t>() >= 0),
              where, ": \"seed\" must be a non-negative integer");
    c.seed = j["seed"].get<uint64_t>();
  }
  SPF_CHECK(
      j.contains("results") && j["results"].is_string() && !j["results"].get<std::string>().empty(),
      where, ": \"results\" must name the results file");
  c.results = resolve(base_dir, j["results"].get<std::string>());
  if (j.contains("stop_when_scored")) {
    SPF_CHECK(j["stop_when_scored"].is_boolean(), where,
              ": \"stop_when_scored\" must be true or false");
    c.stop_when_scored = j["stop_when_scored"].get<bool>();
  }
  if (j.contains("prefill_chunk")) {
    SPF_CHECK(j["prefill_chunk"].is_number_integer() && j["prefill_chunk"].get<int64_t>() >= 0,
              where, ": \"prefill_chunk\" must be a non-negative integer (0: whole prompt)");
    c.prefill_chunk = j["prefill_chunk"].get<int64_t>();
  }
  if (j.contains("chat_template")) {
    SPF_CHECK(j["chat_template"].is_string(), where,
              ": \"chat_template\" must be \"auto\" or \"none\"");
    c.chat_template = parse_chat_template_mode(j["chat_template"].get<std::string>(), where);
  }
  if (j.contains("sparse_layers")) {
    SPF_CHECK(j["sparse_layers"].is_string(), where,
              ": \"sparse_layers\" must be a string (all, every:K or 3,7,11)");
    try {
      c.sparse_layers = LayerSelection::parse(j["sparse_layers"].get<std::string>()).str();
    } catch (const Error& e) {
      fail(where, ": ", e.what());
    }
  }
  return c;
}

SweepConfig load_sweep_config(const std::string& path) {
  SPF_CHECK(std::filesystem::is_regular_file(path), "sweep config ", path, " not found");
  const json j = parse_json_text<json>(read_file(path), path);
  return parse_sweep_config(j, path, std::filesystem::path(path).parent_path().string());
}

std::string custom_task_path(const SweepConfig& cfg, const std::string& task) {
  if (task.rfind(kCustomPrefix, 0) != 0) return "";
  return resolve(cfg.base_dir, task.substr(std::string(kCustomPrefix).size()));
}

void validate_sweep_config(const SweepConfig& cfg, const MaxContextFn& max_context) {
  if (max_context) {
    for (const std::string& m : cfg.models) {
      const int64_t cap = max_context(m);
      if (cap <= 0) continue;
      for (const int64_t len : cfg.lengths)
        SPF_CHECK(len <= cap, "sweep: length ", len, " exceeds the max context ", cap, " of model ",
                  m);
    }
  }
  for (const std::string& t : cfg.tasks)
    if (const std::string p = custom_task_path(cfg, t); !p.empty()) load_custom_tasks(p, t);
  const std::filesystem::path dir = std::filesystem::path(cfg.results).parent_path();
  SPF_CHECK(dir.empty() || std::filesystem::is_directory(dir),
            "sweep: the directory of the results file ", cfg.results, " does not exist");
}

std::vector<CellKey> enumerate_cells(const SweepConfig& cfg) {
  std::vector<CellKey> cells;
  for (const std::string& model : cfg.models) {
    std::vector<std::pair<int64_t, std::string>> slots;  // (length, task)
    for (const int64_t len : cfg.lengths)
      for (const std::string& t : cfg.tasks)
        if (t.rfind(kCustomPrefix, 0) != 0) slots.emplace_back(len, t);
    for (const std::string& t : cfg.tasks)
      if (t.rfind(kCustomPrefix, 0) == 0) slots.emplace_back(0, t);
    for (const auto& [len, task] : slots)
      for (const std::string& method : cfg.methods) {
        if (is_dense_method(method)) {
          cells.push_back({model, method, "", len, task});
          continue;
        }
        for (const std::string& b : cfg.budgets) cells.push_back({model, method, b, len, task});
      }
  }
  return cells;
}

}  // namespace spf::eval
