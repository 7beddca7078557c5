#include "eval/oracle_study.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "attention/cpu/cpu_executor.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/timer.h"
#include "indexer/producer.h"
#include "support/layer_selection.h"

namespace spf {

std::string SparseConfig::label() const {
  std::string s = cat(to_string(spec), " @ ", budget);
  if (dense_layers > 0) s += cat(" (first ", dense_layers, " layers dense)");
  if (sparse_layers != "all") s += cat(" (sparse layers ", sparse_layers, ")");
  return s;
}

std::vector<float> forward_all_logits(const Model& model, std::span<const int32_t> ids,
                                      AttentionBackend& attention) {
  const int64_t n = int64_t(ids.size()), V = model.config().vocab_size;
  std::vector<float> logits(size_t(n * V));
  auto st = model.new_state(n);
  model.forward(ids, *st, attention, LogitsMode::all, logits);
  return logits;
}

SparseRunResult run_sparse_config(const Model& model, std::span<const int32_t> ids,
                                  std::span<const float> dense_logits, const SparseConfig& config) {
  SupportAttentionOptions ao;
  ao.dense_layers = config.dense_layers;
  ao.sparse_layers =
      LayerSelection::parse(config.sparse_layers).mask(model.config().n_attention_layers());
  ao.diagnostics = true;
  install_indexer_method();
  SupportAttention backend(make_producer(config.spec, parse_budget(config.budget)), cpu_executor(),
                           ao);

  SparseRunResult r;
  r.config = config;
  r.producer_name = backend.producer().name();
  Stopwatch sw;
  const std::vector<float> logits = forward_all_logits(model, ids, backend);
  r.seconds = sw.seconds();
  r.logits = compare_logits(dense_logits, logits, int64_t(ids.size()), model.config().vocab_size);
  int sparse_layers = 0;
  for (const LayerDiagnostics& d : backend.diagnostics()) {
    LayerSummary l;
    l.layer = d.layer;
    l.dense = d.dense;
    l.density = d.support.density;
    l.retained_mass = d.support.retained_mass;
    l.rel_error = d.support.rel_error;
    l.critical_dropped_fraction = d.support.critical_dropped_fraction();
    r.layers.push_back(l);
    if (!d.dense) {
      ++sparse_layers;
      r.density += l.density;
      r.retained_mass += l.retained_mass;
      r.rel_error += l.rel_error;
      r.critical_dropped_fraction += l.critical_dropped_fraction;
    }
  }
  if (sparse_layers > 0) {
    r.density /= sparse_layers;
    r.retained_mass /= sparse_layers;
    r.rel_error /= sparse_layers;
    r.critical_dropped_fraction /= sparse_layers;
  } else {
    r.density = r.retained_mass = 1.0;
  }
  return r;
}

namespace {

nlohmann::json run_json(const SparseRunResult& r) {
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerSummary& l : r.layers)
    layers.push_back({{"layer", l.layer},
                      {"dense", l.dense},
                      {"density", l.density},
                      {"retained_mass", l.retained_mass},
                      {"rel_error", l.rel_error},
                      {"critical_dropped_fraction", l.critical_dropped_fraction}});
  return {{"label", r.config.label()},
          {"method", to_string(r.config.spec)},
          {"budget", r.config.budget},
          {"block", r.config.spec.block},
          {"groups", group_mode_name(r.config.spec.groups)},
          {"dense_layers", r.config.dense_layers},
          {"sparse_layers", r.config.sparse_layers},
          {"producer", r.producer_name},
          {"kl_mean", r.logits.kl_mean},
          {"kl_max", r.logits.kl_max},
          {"kl_last", r.logits.kl_last},
          {"top1_agreement", r.logits.top1_agreement},
          {"top1_last_same", r.logits.top1_last_same},
          {"density", r.density},
          {"retained_mass", r.retained_mass},
          {"rel_error", r.rel_error},
          {"critical_dropped_fraction", r.critical_dropped_fraction},
          {"seconds", r.seconds},
          {"layers", layers}};
}

// "method" is a spec; "block" and "groups" restate its granularity and grouping (older reports
// hold a bare method name there, so these fields carry them).
MethodSpec run_spec(const nlohmann::json& rj, const std::string& path) {
  const std::string method = rj.at("method").get<std::string>();
  try {
    MethodSpec spec = parse_method_spec(method);
    if (rj.contains("block")) spec.block = rj.at("block").get<int>();
    if (rj.contains("groups")) spec.groups = parse_group_mode(rj.at("groups").get<std::string>());
    return parse_method_spec(to_string(spec));  // checks the combination
  } catch (const Error& e) {
    fail(path, ": run ", rj.value("label", method), ": ", e.what());
  }
}

}  // namespace

OracleStudy read_oracle_json(const std::string& path) {
  OracleStudy s;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
    s.model_path = j.at("model").get<std::string>();
    s.n_tokens = j.at("n_tokens").get<int64_t>();
    s.dense_seconds = j.at("dense_seconds").get<double>();
    for (const auto& rj : j.at("runs")) {
      SparseRunResult r;
      r.config.spec = run_spec(rj, path);
      r.config.budget = rj.at("budget").get<std::string>();
      r.config.dense_layers = rj.at("dense_layers").get<int>();
      r.config.sparse_layers = rj.value("sparse_layers", std::string("all"));
      r.producer_name = rj.at("producer").get<std::string>();
      r.logits.positions = s.n_tokens;
      r.logits.kl_mean = rj.at("kl_mean").get<double>();
      r.logits.kl_max = rj.at("kl_max").get<double>();
      r.logits.kl_last = rj.at("kl_last").get<double>();
      r.logits.top1_agreement = rj.at("top1_agreement").get<double>();
      r.logits.top1_last_same = rj.at("top1_last_same").get<bool>();
      r.density = rj.at("density").get<double>();
      r.retained_mass = rj.at("retained_mass").get<double>();
      r.rel_error = rj.at("rel_error").get<double>();
      r.critical_dropped_fraction = rj.at("critical_dropped_fraction").get<double>();
      r.seconds = rj.at("seconds").get<double>();
      for (const auto& lj : rj.at("layers"))
        r.layers.push_back({lj.at("layer").get<int>(), lj.at("density").get<double>(),
                            lj.at("retained_mass").get<double>(), lj.at("rel_error").get<double>(),
                            lj.at("critical_dropped_fraction").get<double>(),
                            lj.at("dense").get<bool>()});
      s.runs.push_back(std::move(r));
    }
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": not a valid oracle report: ", e.what());
  }
  return s;
}

std::string oracle_markdown(const OracleStudy& s) {
  std::string md = cat("# Oracle study\n\nModel `", s.model_path, "`, ", s.n_tokens,
                       " tokens, dense forward ", s.dense_seconds, " s.\n\n");
  md +=
      "| configuration | density | retained mass | output rel. error | head-critical dropped | KL "
      "mean (nats) | "
      "KL last | top-1 agree | last top-1 same | seconds |\n";
  md += "|---|---|---|---|---|---|---|---|---|---|\n";
  char buf[512];
  for (const SparseRunResult& r : s.runs) {
    std::snprintf(buf, sizeof buf,
                  "| %s | %.4f | %.4f | %.4f | %.4f | %.4g | %.4g | %.4f | %s | %.1f |\n",
                  r.config.label().c_str(), r.density, r.retained_mass, r.rel_error,
                  r.critical_dropped_fraction, r.logits.kl_mean, r.logits.kl_last,
                  r.logits.top1_agreement, r.logits.top1_last_same ? "yes" : "no", r.seconds);
    md += buf;
  }
  md +=
      "\nDensity, retained mass, output error and head-critical fraction are means over the sparse "
      "attention layers; KL is KL(dense || sparse) of the next-token distributions.\n";
  return md;
}

void write_oracle_reports(const OracleStudy& s, const std::string& json_path,
                          const std::string& md_path) {
  if (!json_path.empty()) {
    nlohmann::json j = {
        {"model", s.model_path}, {"n_tokens", s.n_tokens}, {"dense_seconds", s.dense_seconds}};
    j["runs"] = nlohmann::json::array();
    for (const SparseRunResult& r : s.runs) j["runs"].push_back(run_json(r));
    write_file_atomic(json_path, j.dump(2) + "\n");
  }
  if (!md_path.empty()) write_file_atomic(md_path, oracle_markdown(s));
}

}  // namespace spf
