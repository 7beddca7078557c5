// spf bench prefill: prompt-processing throughput at several lengths, with the time spent inside
// the attention entry point split out; --methods runs sparse methods (a support producer and the
// CPU executor, e.g. indexer:FILE) beside dense in the same process, so their end-to-end speedup
// is a same-run ratio. spf bench decode: token-by-token decode throughput after a
// prompt. Synthetic token ids (seeded) — speed does not depend on content. Both can load the
// weights in their stored type (--weights stored) instead of converting them to F32 at load.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <thread>

#include "cli/common.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/threads.h"
#include "core/timer.h"
#include "model/model.h"
#include "support/layer_selection.h"
#include "support/method_spec.h"
#include "support/producer.h"
#include "support/support_attention.h"

namespace spf::cli {

namespace {

struct BenchOptions {
  std::string model, lengths = "512,2048,8192", json_out, weights = "default";
  std::string methods = "dense", budget = "5%", sparse_layers = "all";  // bench prefill
  int repeats = 1;
  int threads = 0;
  int64_t prefill_chunk = 0;
  int prompt_tokens = 128, decode_tokens = 64;  // bench decode
};

LoadOptions load_options(const std::string& weights) {
  LoadOptions o;
  if (weights == "f32") o.weights = WeightStorage::f32;
  if (weights == "stored") o.weights = WeightStorage::stored;
  return o;
}

const char* storage_name(WeightStorage s) {
  return s == WeightStorage::f32 ? "f32" : "stored";
}

// Times every attention call made through it.
class TimedBackend final : public AttentionBackend {
 public:
  explicit TimedBackend(AttentionBackend& inner) : inner_(inner) {}
  void attend(const AttentionCall& call) override {
    Stopwatch sw;
    inner_.attend(call);
    seconds += sw.seconds();
  }
  double seconds = 0;

 private:
  AttentionBackend& inner_;
};

void run_bench(const BenchOptions& o) {
  apply_threads(o.threads);
  const std::vector<int32_t> lengths = parse_ids(o.lengths, "--lengths", "prompt length");
  for (int32_t n : lengths) SPF_CHECK(n > 0, "--lengths: ", n, " is not a positive prompt length");
  check_output_path(o.json_out, "--json");
  // Methods, budget and layer list are checked before the model loads.
  const std::vector<std::string> methods = split_list(o.methods);
  SPF_CHECK(!methods.empty(), "--methods: no methods");
  std::vector<MethodSpec> specs;
  for (const std::string& m : methods) specs.push_back(parse_method_spec(m));
  const Budget budget = parse_budget(o.budget);
  const LayerSelection layers = LayerSelection::parse(o.sparse_layers);
  const std::string path = resolve_model(o.model);
  const LoadOptions lo = load_options(o.weights);
  auto model = load_model(path, lo);
  const ModelConfig& cfg = model->config();
  for (int32_t n : lengths)  // all checked before the first run
    SPF_CHECK(n <= cfg.max_context, "--lengths: ", n, " is outside 1..", cfg.max_context,
              " (the model's context)");
  check_indexer_specs(methods, cfg, path);
  // One backend per method, made once (an indexer file loads once); plain dense runs the dense
  // backend itself.
  SupportAttentionOptions ao;
  ao.sparse_layers = layers.mask(cfg.n_attention_layers());
  std::vector<std::unique_ptr<AttentionBackend>> backends;
  for (const MethodSpec& spec : specs)
    backends.push_back(to_string(spec) == "dense"
                           ? nullptr
                           : std::make_unique<SupportAttention>(make_producer(spec, budget),
                                                                executor_for(Device::cpu), ao));
  nlohmann::json rows = nlohmann::json::array();
  std::printf("model %s, %d threads, %s weights", path.c_str(), num_threads(),
              storage_name(lo.weights));
  if (o.prefill_chunk > 0) std::printf(", prefill in chunks of %lld", (long long)o.prefill_chunk);
  if (methods.size() > 1 || to_string(specs[0]) != "dense")
    std::printf(", budget %s, sparse layers %s", o.budget.c_str(), o.sparse_layers.c_str());
  std::printf("\n");
  std::printf("%8s %-24s %10s %12s %12s %10s %9s\n", "tokens", "method", "prefill_s", "tokens/s",
              "attention_s", "attn_share", "vs_dense");
  uint64_t state = 0x9e3779b97f4a7c15ull;
  std::vector<float> logits(size_t(cfg.vocab_size));
  {
    // One short untimed prompt through every method first: the thread pools, the weights' first
    // touch and the methods' one-time setup would otherwise land in the first timed row.
    uint64_t warm_state = 1;
    const std::vector<int32_t> warm =
        synthetic_ids(std::min<int64_t>(64, cfg.max_context), cfg.vocab_size, warm_state);
    for (size_t m = 0; m < specs.size(); ++m) {
      auto st = model->new_state(int64_t(warm.size()));
      model->forward(warm, *st, backends[m] ? *backends[m] : dense_attention_backend(), logits,
                     ForwardOptions{});
    }
  }
  for (int32_t n : lengths) {
    const std::vector<int32_t> ids = synthetic_ids(n, cfg.vocab_size, state);
    double dense_s = 0;
    for (size_t m = 0; m < specs.size(); ++m) {
      AttentionBackend& inner = backends[m] ? *backends[m] : dense_attention_backend();
      double best = 1e300, best_attn = 0;
      for (int r = 0; r < o.repeats; ++r) {
        auto st = model->new_state(n);
        TimedBackend timed(inner);
        Stopwatch sw;
        ForwardOptions fo;
        fo.prefill_chunk = o.prefill_chunk;
        model->forward(ids, *st, timed, logits, fo);
        const double s = sw.seconds();
        if (s < best) {
          best = s;
          best_attn = timed.seconds;
        }
      }
      if (!backends[m]) dense_s = best;
      const std::string name = to_string(specs[m]);
      // No dense row before this one: no ratio.
      char ratio[32] = "-";
      if (dense_s > 0) std::snprintf(ratio, sizeof ratio, "%.2fx", dense_s / best);
      std::printf("%8d %-24s %10.3f %12.1f %12.3f %9.1f%% %9s\n", n, name.c_str(), best, n / best,
                  best_attn, 100.0 * best_attn / best, ratio);
      std::fflush(stdout);
      nlohmann::json row = {{"tokens", n},
                            {"method", name},
                            {"budget", backends[m] ? o.budget : "100%"},
                            {"prefill_seconds", best},
                            {"tokens_per_second", n / best},
                            {"attention_seconds", best_attn}};
      if (dense_s > 0) row["speedup_vs_dense"] = dense_s / best;
      rows.push_back(row);
    }
  }
  if (!o.json_out.empty()) write_file_atomic(o.json_out, rows.dump(1) + "\n");
}

void run_decode_bench(const BenchOptions& o) {
  apply_threads(o.threads);
  check_output_path(o.json_out, "--json");
  const std::string path = resolve_model(o.model);
  const LoadOptions lo = load_options(o.weights);
  auto model = load_model(path, lo);
  const ModelConfig& cfg = model->config();
  const int64_t need = int64_t(o.prompt_tokens) + o.decode_tokens;
  SPF_CHECK(need <= cfg.max_context, "--prompt-tokens + --tokens = ", need,
            " exceeds the model's context of ", cfg.max_context, " tokens");
  uint64_t state = 0x9e3779b97f4a7c15ull;
  const std::vector<int32_t> prompt = synthetic_ids(o.prompt_tokens, cfg.vocab_size, state);
  std::vector<float> logits(size_t(cfg.vocab_size));
  double best = 1e300;
  for (int r = 0; r < o.repeats; ++r) {
    auto st = model->new_state(need);
    model->forward(prompt, *st, dense_attention_backend(), LogitsMode::last, logits);
    Stopwatch sw;
    for (int i = 0; i < o.decode_tokens; ++i) {
      const int32_t id = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
      model->forward(std::span<const int32_t>(&id, 1), *st, dense_attention_backend(),
                     LogitsMode::last, logits);
    }
    best = std::min(best, sw.seconds());
  }
  std::printf("model %s, %d threads, %s weights\n", path.c_str(), num_threads(),
              storage_name(lo.weights));
  std::printf("%8s %8s %10s %12s %10s\n", "prompt", "tokens", "decode_s", "tokens/s", "ms/token");
  std::printf("%8d %8d %10.3f %12.1f %10.2f\n", o.prompt_tokens, o.decode_tokens, best,
              o.decode_tokens / best, 1e3 * best / o.decode_tokens);
  if (!o.json_out.empty())
    write_file_atomic(o.json_out, cat("{\"prompt_tokens\":", o.prompt_tokens, ",\"decode_tokens\":",
                                      o.decode_tokens, ",\"decode_seconds\":", best,
                                      ",\"tokens_per_second\":", o.decode_tokens / best, "}\n"));
}

void add_weights_option(CLI::App& sub, std::string& weights) {
  sub.add_option("--weights", weights,
                 "Weight storage: f32 (converted at load) or stored (the checkpoint's type, "
                 "dequantized per matmul); default: the library's")
      ->check(CLI::IsMember({"default", "f32", "stored"}));
}

}  // namespace

void add_bench(CLI::App& app) {
  CLI::App* bench =
      app.add_subcommand("bench", "Benchmarks (speed goals; results go to docs/results/)");
  bench->require_subcommand(1);
  auto o = std::make_shared<BenchOptions>();
  CLI::App* sub = bench->add_subcommand("prefill", "Prefill tokens/s at several prompt lengths");
  sub->add_option("-m,--model", o->model,
                  "GGUF file or HF checkpoint directory (default: SmolLM2)");
  sub->add_option("--lengths", o->lengths, "Comma-separated prompt lengths in tokens");
  sub->add_option("--repeats", o->repeats, "Runs per length (best is reported)")
      ->check(CLI::Range(1, 100));
  sub->add_option("--json", o->json_out, "Also write the results as JSON");
  sub->add_option("--prefill-chunk", o->prefill_chunk,
                  "Run the prompt in chunks of N tokens (0 = whole prompt)")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 30));
  sub->add_option("--methods", o->methods,
                  "Comma-separated methods, each timed in turn (dense, or a support method spec "
                  "served on the CPU executor, e.g. indexer:FILE; see spf methods); a dense entry "
                  "before the others gives their speedup");
  sub->add_option("--budget", o->budget, "Budget of the sparse methods (k=N, N% or p=F)");
  sub->add_option("--sparse-layers", o->sparse_layers,
                  "Attention layers that run sparse: all, every:K or a list of layers");
  add_weights_option(*sub, o->weights);
  add_threads_option(*sub, o->threads);
  sub->callback([o] { run_bench(*o); });

  auto d = std::make_shared<BenchOptions>();
  CLI::App* dec = bench->add_subcommand("decode", "Decode tokens/s after a synthetic prompt");
  dec->add_option("-m,--model", d->model,
                  "GGUF file or HF checkpoint directory (default: SmolLM2)");
  dec->add_option("--prompt-tokens", d->prompt_tokens, "Prompt length before decoding")
      ->check(CLI::Range(1, 1 << 24));
  dec->add_option("--tokens", d->decode_tokens, "Tokens to decode (greedy)")
      ->check(CLI::Range(1, 1 << 24));
  dec->add_option("--repeats", d->repeats, "Runs (best is reported)")->check(CLI::Range(1, 100));
  dec->add_option("--json", d->json_out, "Also write the result as JSON");
  add_weights_option(*dec, d->weights);
  add_threads_option(*dec, d->threads);
  dec->callback([d] { run_decode_bench(*d); });
  add_bench_ttft(*bench);
}

}  // namespace spf::cli
