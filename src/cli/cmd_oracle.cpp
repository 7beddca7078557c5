// spf oracle: how much of dense attention a support keeps, per layer and at the logits, for the
// attention-mass oracle and every baseline: a grid of method specs x budgets. Resumable: runs
// already in the --json report (same model and token count, same label) are kept and skipped.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>
#include <sstream>

#include "cli/common.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/timer.h"
#include "eval/oracle_study.h"
#include "support/layer_selection.h"
#include "tokenizer/tokenizer.h"

namespace spf::cli {

namespace {

struct OracleOptions {
  std::string model, prompt_file, json_out, md_out;
  std::vector<std::string> methods{"oracle"}, budgets{"5%"};
  int64_t max_tokens = 0, sink = 0, window = 0;
  int dense_layers = 0;
  std::string sparse_layers = "all";
  bool chat = false, per_layer = false;
  int threads = 0;
};

void print_layers(const SparseRunResult& r) {
  std::printf("  %5s %8s %9s %9s %9s\n", "layer", "density", "retained", "rel_err", "critical");
  for (const LayerSummary& l : r.layers)
    std::printf("  %5d %8.4f %9.4f %9.4f %9.4f%s\n", l.layer, l.density, l.retained_mass,
                l.rel_error, l.critical_dropped_fraction, l.dense ? "  (dense)" : "");
}

void run_oracle(const OracleOptions& o) {
  apply_threads(o.threads);
  // Validate every configuration before the expensive part starts.
  std::vector<SparseConfig> configs;
  std::set<std::string> labels;
  for (const std::string& m : o.methods) {
    const MethodSpec spec = parse_method_spec(m);
    for (std::string b : o.budgets) {
      if (o.sink > 0) b += cat(",sink=", o.sink);
      if (o.window > 0) b += cat(",window=", o.window);
      SparseConfig c;
      c.spec = spec;
      c.budget = b;
      c.dense_layers = o.dense_layers;
      c.sparse_layers = LayerSelection::parse(o.sparse_layers).str();
      make_producer(spec, parse_budget(b));  // throws for options the producer cannot use
      SPF_CHECK(labels.insert(c.label()).second, "--method: ", c.label(),
                " is listed twice (two spellings of one spec?)");
      configs.push_back(c);
    }
  }
  SPF_CHECK(o.dense_layers >= 0, "--dense-layers must be >= 0");
  check_output_path(o.json_out, "--json");
  check_output_path(o.md_out, "--markdown");

  const std::string path = resolve_model(o.model);
  auto model = load_model(path);
  check_dense_layers(o.dense_layers, model->config());
  (void)LayerSelection::parse(o.sparse_layers).mask(model->config().n_attention_layers());
  check_indexer_specs(o.methods, model->config(), path);
  Tokenizer tok = Tokenizer::load_for_model(path);
  std::string text = read_file(o.prompt_file);
  if (o.chat) text = apply_chatml({{"user", text}}, "", true);
  std::vector<int32_t> ids = tok.encode(text, false, o.chat);
  SPF_CHECK(!ids.empty(), o.prompt_file, ": the prompt has no tokens");
  if (o.max_tokens > 0 && int64_t(ids.size()) > o.max_tokens) ids.resize(size_t(o.max_tokens));
  SPF_CHECK(int64_t(ids.size()) <= model->config().max_context, o.prompt_file, ": ", ids.size(),
            " tokens exceed the model's context of ", model->config().max_context,
            " (use --max-tokens to truncate)");

  OracleStudy study;
  std::set<std::string> done;
  if (!o.json_out.empty() && std::filesystem::exists(o.json_out)) {
    OracleStudy prev = read_oracle_json(o.json_out);
    if (prev.model_path == path && prev.n_tokens == int64_t(ids.size())) {
      study = prev;
      for (const SparseRunResult& r : study.runs) done.insert(r.config.label());
      std::fprintf(stderr, "[spf] resuming: %zu runs already in %s\n", done.size(),
                   o.json_out.c_str());
    } else {
      std::fprintf(stderr, "[spf] %s is for another model or prompt: starting over\n",
                   o.json_out.c_str());
    }
  }
  study.model_path = path;
  study.n_tokens = int64_t(ids.size());

  std::fprintf(stderr, "[spf] %zu tokens; dense forward...\n", ids.size());
  Stopwatch sw;
  const std::vector<float> dense = forward_all_logits(*model, ids, dense_attention_backend());
  study.dense_seconds = sw.seconds();
  std::fprintf(stderr, "[spf] dense forward %.1f s\n", study.dense_seconds);

  Stopwatch total;
  int ran = 0;
  const int pending = int(configs.size()) -
                      int(std::count_if(configs.begin(), configs.end(), [&](const SparseConfig& c) {
                        return done.count(c.label()) > 0;
                      }));
  for (const SparseConfig& c : configs) {
    if (done.count(c.label())) continue;
    const SparseRunResult r = run_sparse_config(*model, ids, dense, c);
    ++ran;
    const double eta = total.seconds() / ran * (pending - ran);
    std::printf(
        "[%d/%d] %-44s density %.4f  retained %.4f  KL %.4g  top-1 %.4f  (%.1f s, ETA %.0f s)\n",
        ran, pending, c.label().c_str(), r.density, r.retained_mass, r.logits.kl_mean,
        r.logits.top1_agreement, r.seconds, eta);
    if (o.per_layer) print_layers(r);
    std::fflush(stdout);
    study.runs.push_back(r);
    done.insert(c.label());
    write_oracle_reports(study, o.json_out,
                         o.md_out);  // after every run: a kill loses nothing finished
  }
  std::printf("\n%s", oracle_markdown(study).c_str());
}

}  // namespace

void add_oracle(CLI::App& app) {
  auto o = std::make_shared<OracleOptions>();
  CLI::App* sub = app.add_subcommand("oracle",
                                     "Compare sparse supports (attention-mass oracle and "
                                     "baselines) with dense attention on a prompt");
  sub->add_option("-m,--model", o->model,
                  "GGUF file or HF checkpoint directory (default: SmolLM2)");
  sub->add_option("--prompt-file", o->prompt_file, "Text file with the prompt")
      ->required()
      ->check(CLI::ExistingFile);
  sub->add_option("--method", o->methods,
                  "Method specs (comma list), e.g. oracle,oracle:block64:groups=head,streaming,"
                  "vertical_slash:probe=128 (see spf methods)")
      ->delimiter(',');
  sub->add_option("--budget", o->budgets,
                  "Budgets (comma list): 5% or 0.05 (fraction), k=256, p=0.9 (mass)")
      ->delimiter(',');
  at_least(sub->add_option("--sink", o->sink, "Always keep the first N keys (inside the budget)"),
           0);
  at_least(sub->add_option("--window", o->window,
                           "Always keep the last N keys of each query (inside the budget)"),
           0);
  sub->add_option("--dense-layers", o->dense_layers, "Keep the first L attention layers dense");
  sub->add_option("--sparse-layers", o->sparse_layers,
                  "Attention layers that run sparse: all, every:K (K-1, 2K-1, ...) or a list "
                  "3,7,11 (with --dense-layers: both must allow a layer)");
  at_least(
      sub->add_option("--max-tokens", o->max_tokens, "Truncate the prompt to this many tokens"), 1);
  sub->add_flag("--chat", o->chat, "Wrap the prompt as a user message in the chat template");
  sub->add_flag("--per-layer", o->per_layer, "Print the per-layer table of every run");
  sub->add_option("--json", o->json_out, "JSON report (resumed if present)");
  sub->add_option("--markdown", o->md_out, "Markdown report");
  add_threads_option(*sub, o->threads);
  sub->callback([o] { run_oracle(*o); });
}

}  // namespace spf::cli
