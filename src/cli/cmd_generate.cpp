// spf generate: chat (default) or raw completion with streamed output and throughput stats.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>

#include "cli/common.h"
#include "core/timer.h"
#include "model/generate.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace spf::cli {

namespace {
struct GenerateOptions {
  std::string model, prompt, system;
  bool raw = false;
  bool quiet = false;
  int max_new = 256;
  float temperature = 0.0f;
  float top_p = 1.0f;
  uint64_t seed = 0;
  int threads = 0;
  int64_t prefill_chunk = 0;
  std::string device = "cpu";
};

void run_generate(const GenerateOptions& o) {
  apply_threads(o.threads);
  const std::string path = resolve_model(o.model);
  const Device device = use_device(o.device);
  Stopwatch load;
  LoadOptions lo;
  lo.device = device;
  auto model = load_model(path, lo);
  Tokenizer tok = Tokenizer::load_for_model(path);
  const double load_s = load.seconds();

  std::string text = o.prompt;
  if (!o.raw) {
    std::vector<ChatMessage> msgs;
    const std::string sys =
        o.system.empty() ? default_system_prompt(tok.chat_template()) : o.system;
    if (!sys.empty()) msgs.push_back({"system", sys});
    msgs.push_back({"user", o.prompt});
    text = apply_chatml(msgs, "", true);
  }
  const std::vector<int32_t> ids =
      tok.encode(text, /*add_special=*/o.raw, /*parse_special=*/!o.raw);

  GenerateParams gp;
  gp.max_new_tokens = o.max_new;
  gp.sampling = {o.temperature, o.top_p, o.seed};
  gp.stop_ids = tok.special().eos_ids;
  gp.prefill_chunk = o.prefill_chunk;
  StreamDecoder dec(tok);
  auto on_token = [&](int32_t id) {
    const std::string piece = dec.push(id);
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
  };
  const GenerateResult r = generate(*model, ids, gp, dense_attention_backend(device), on_token);
  const std::string rest = dec.flush();
  std::fwrite(rest.data(), 1, rest.size(), stdout);
  std::fputc('\n', stdout);
  if (!o.quiet) {
    const double ntok = double(r.tokens.size());
    std::fprintf(
        stderr,
        "[spf] model %s loaded in %.2f s | prompt %lld tokens, prefill %.3f s (%.1f tok/s) | "
        "decode %zu tokens, %.3f s (%.1f tok/s)%s\n",
        path.c_str(), load_s, (long long)r.prompt_tokens, r.prefill_seconds,
        double(r.prompt_tokens) / std::max(r.prefill_seconds, 1e-9), r.tokens.size(),
        r.decode_seconds, ntok / std::max(r.decode_seconds, 1e-9),
        r.reason == StopReason::stop_id ? "" : " (no end-of-sequence yet)");
  }
}
}  // namespace

void add_generate(CLI::App& app) {
  auto o = std::make_shared<GenerateOptions>();
  CLI::App* sub =
      app.add_subcommand("generate", "Generate text from a prompt (chat template by default)");
  sub->add_option("-m,--model", o->model,
                  "GGUF file or HF checkpoint directory (default: SmolLM2-135M-Instruct)");
  sub->add_option("-p,--prompt", o->prompt, "Prompt text (the user message in chat mode)")
      ->required();
  sub->add_option("--system", o->system,
                  "System message (chat mode; default: the model template's own)");
  sub->add_flag("--raw", o->raw, "Feed the prompt as is, without the chat template");
  sub->add_option("-n,--max-new-tokens", o->max_new, "Maximum tokens to generate")
      ->check(CLI::Range(0, 1 << 20));
  sub->add_option("-t,--temperature", o->temperature, "Sampling temperature (0 = greedy)")
      ->check(CLI::Range(0.0f, 100.0f));
  sub->add_option("--top-p", o->top_p, "Nucleus sampling mass in (0, 1]")
      ->check(CLI::Range(1e-6f, 1.0f));
  seed_value(sub->add_option("--seed", o->seed, "Sampling seed"));
  sub->add_flag("-q,--quiet", o->quiet, "Do not print timing statistics");
  sub->add_option("--prefill-chunk", o->prefill_chunk,
                  "Prefill the prompt in chunks of N tokens (0 = whole prompt)")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 30));
  add_threads_option(*sub, o->threads);
  add_device_option(*sub, o->device);
  sub->callback([o] { run_generate(*o); });
}

}  // namespace spf::cli
