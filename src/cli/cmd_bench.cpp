// spf bench prefill: prompt-processing throughput at several lengths, with the time spent inside
// the attention entry point split out. Synthetic token ids (seeded) — speed does not depend on
// content.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <memory>
#include <thread>

#include "cli/common.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/threads.h"
#include "core/timer.h"
#include "model/model.h"

namespace spf::cli {

namespace {

struct BenchOptions {
  std::string model, lengths = "512,2048,8192", json_out;
  int repeats = 1;
  int threads = 0;
};

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
  const std::string path = resolve_model(o.model);
  auto model = load_model(path);
  const ModelConfig& cfg = model->config();
  for (int32_t n : lengths)  // all checked before the first run
    SPF_CHECK(n <= cfg.max_context, "--lengths: ", n, " is outside 1..", cfg.max_context,
              " (the model's context)");
  std::string json = "[";
  std::printf("model %s, %d threads\n", path.c_str(), num_threads());
  std::printf("%8s %10s %12s %12s %10s\n", "tokens", "prefill_s", "tokens/s", "attention_s",
              "attn_share");
  uint64_t state = 0x9e3779b97f4a7c15ull;
  for (int32_t n : lengths) {
    std::vector<int32_t> ids(static_cast<size_t>(n));
    for (int32_t& id : ids) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      id = int32_t((state >> 33) % uint64_t(cfg.vocab_size));
    }
    std::vector<float> logits(size_t(cfg.vocab_size));
    double best = 1e300, best_attn = 0;
    for (int r = 0; r < o.repeats; ++r) {
      auto st = model->new_state(n);
      TimedBackend timed(dense_attention_backend());
      Stopwatch sw;
      model->forward(ids, *st, timed, LogitsMode::last, logits);
      const double s = sw.seconds();
      if (s < best) {
        best = s;
        best_attn = timed.seconds;
      }
    }
    std::printf("%8d %10.3f %12.1f %12.3f %9.1f%%\n", n, best, n / best, best_attn,
                100.0 * best_attn / best);
    std::fflush(stdout);
    json += cat(json.size() > 1 ? "," : "", "{\"tokens\":", n, ",\"prefill_seconds\":", best,
                ",\"tokens_per_second\":", n / best, ",\"attention_seconds\":", best_attn, "}");
  }
  json += "]\n";
  if (!o.json_out.empty()) write_file_atomic(o.json_out, json);
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
  add_threads_option(*sub, o->threads);
  sub->callback([o] { run_bench(*o); });
}

}  // namespace spf::cli
