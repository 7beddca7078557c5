#include "eval/report_table.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "core/error.h"
#include "eval/rng.h"
#include "eval/sweep_config.h"
#include "eval/tasks/registry.h"

namespace spf::eval {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct CellId {  // (model, method, budget, length, task)
  std::string model, method, budget;
  int64_t length;
  std::string task;
  auto tie() const { return std::tie(model, method, budget, length, task); }
  bool operator<(const CellId& o) const { return tie() < o.tie(); }
};

using SampleId = std::pair<int64_t, uint64_t>;  // (sample index, seed)

struct CellData {
  std::map<SampleId, double> scores;
  double prefill_sum = 0, density_sum = 0, tokens_sum = 0;
  int64_t prefill_n = 0, density_n = 0, tokens_n = 0;
};

int group_rank(const std::string& g) {
  static const std::vector<std::string> order = {"retrieval", "multi-hop", "aggregation", "qa"};
  const auto it = std::find(order.begin(), order.end(), g);
  return it == order.end() ? int(order.size()) : int(it - order.begin());
}

template <class T>
int first_seen_rank(const std::vector<T>& seen, const T& x) {
  return int(std::find(seen.begin(), seen.end(), x) - seen.begin());
}

double mean_or_nan(double sum, int64_t n) {
  return n > 0 ? sum / double(n) : kNaN;
}

}  // namespace

int64_t drop_duplicate_records(std::vector<ResultRecord>& records) {
  std::set<ResultKey> seen;
  const size_t before = records.size();
  std::erase_if(records, [&](const ResultRecord& r) { return !seen.insert(r.key).second; });
  return int64_t(before - records.size());
}

std::vector<SummaryRow> summarize_results(const std::vector<ResultRecord>& records) {
  std::map<CellId, CellData> cells;
  std::vector<std::string> models, methods, tasks;
  auto note = [](std::vector<std::string>& v, const std::string& x) {
    if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
  };
  for (const ResultRecord& r : records) {
    note(models, r.key.model);
    note(methods, r.key.method);
    note(tasks, r.key.task);
    CellData& c = cells[{r.key.model, r.key.method, r.key.budget, r.key.length, r.key.task}];
    c.scores[{r.key.sample, r.key.seed}] = r.score;
    if (std::isfinite(r.prefill_seconds)) c.prefill_sum += r.prefill_seconds, ++c.prefill_n;
    if (std::isfinite(r.support_density)) c.density_sum += r.support_density, ++c.density_n;
    if (r.prompt_tokens >= 0) c.tokens_sum += double(r.prompt_tokens), ++c.tokens_n;
  }

  // Units: each task, each group of tasks, all tasks.
  struct Unit {
    std::string kind, name;
    std::vector<std::string> tasks;
  };
  std::vector<Unit> units;
  units.push_back({"all", "all", tasks});
  std::map<std::string, std::vector<std::string>> groups;
  for (const std::string& t : tasks) groups[task_group(t)].push_back(t);
  for (const auto& [g, ts] : groups) units.push_back({"group", g, ts});
  for (const std::string& t : tasks) units.push_back({"task", t, {t}});

  // Row skeletons: every (model, method, budget, length) seen.
  std::set<std::tuple<std::string, std::string, std::string, int64_t>> mmbl;
  for (const auto& [id, _] : cells) mmbl.insert({id.model, id.method, id.budget, id.length});

  std::vector<SummaryRow> rows;
  for (const Unit& u : units) {
    for (const auto& [model, method, budget, length] : mmbl) {
      std::vector<std::vector<double>> strata, diffs;
      double pre = 0, den = 0, tok = 0;
      int64_t pre_n = 0, den_n = 0, tok_n = 0;
      bool dense_seen = false;
      for (const std::string& t : u.tasks) {
        const auto it = cells.find({model, method, budget, length, t});
        if (it == cells.end()) continue;
        const CellData& c = it->second;
        std::vector<double> s;
        for (const auto& [_, v] : c.scores) s.push_back(v);
        strata.push_back(std::move(s));
        pre += c.prefill_sum, pre_n += c.prefill_n;
        den += c.density_sum, den_n += c.density_n;
        tok += c.tokens_sum, tok_n += c.tokens_n;
        if (is_dense_method(method)) continue;
        const auto d = cells.find({model, "dense", "", length, t});
        if (d == cells.end()) continue;
        dense_seen = true;
        std::vector<double> paired;
        for (const auto& [sid, v] : c.scores)
          if (const auto m = d->second.scores.find(sid); m != d->second.scores.end())
            paired.push_back(v - m->second);
        diffs.push_back(std::move(paired));
      }
      if (strata.empty()) continue;
      SummaryRow row;
      row.model = model;
      row.kind = u.kind;
      row.group = u.name;
      row.length = length;
      row.method = method;
      row.budget = budget;
      row.n_tasks = int64_t(strata.size());
      const uint64_t seed = derive_seed(
          kBootstrapSeed, hash64(cat(model, '\x1f', u.name, '\x1f', method, '\x1f', budget)),
          uint64_t(length));
      row.score = bootstrap_mean(strata, seed);
      if (dense_seen) {
        row.delta = bootstrap_mean(diffs, derive_seed(seed, 1));
        row.has_delta = row.delta.n > 0;
      }
      row.prefill_seconds = mean_or_nan(pre, pre_n);
      row.support_density = mean_or_nan(den, den_n);
      row.prompt_tokens = mean_or_nan(tok, tok_n);
      rows.push_back(std::move(row));
    }
  }

  auto task_rank = [&](const std::string& t) {
    const auto& b = builtin_tasks();
    for (size_t i = 0; i < b.size(); ++i)
      if (b[i].name == t) return int(i);
    return int(b.size()) + first_seen_rank(tasks, t);
  };
  auto kind_rank = [](const std::string& k) { return k == "all" ? 0 : k == "group" ? 1 : 2; };
  auto method_rank = [&](const std::string& m) {
    return is_dense_method(m) ? -1 : first_seen_rank(methods, m);
  };
  auto budget_key = [](const std::string& b) {
    const double v = budget_value(b);
    return std::make_pair(std::isnan(v) ? 1e300 : v, b);
  };
  std::stable_sort(rows.begin(), rows.end(), [&](const SummaryRow& a, const SummaryRow& b) {
    const auto ka = std::make_tuple(first_seen_rank(models, a.model), kind_rank(a.kind),
                                    a.kind == "task" ? task_rank(a.group) : group_rank(a.group),
                                    a.group, a.length, method_rank(a.method), budget_key(a.budget));
    const auto kb = std::make_tuple(first_seen_rank(models, b.model), kind_rank(b.kind),
                                    b.kind == "task" ? task_rank(b.group) : group_rank(b.group),
                                    b.group, b.length, method_rank(b.method), budget_key(b.budget));
    return ka < kb;
  });
  return rows;
}

}  // namespace spf::eval
