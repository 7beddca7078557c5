#include "model/generate.h"

#include <algorithm>

#include "core/error.h"
#include "core/timer.h"

namespace spf {

const char* stop_reason_name(StopReason r) {
  switch (r) {
    case StopReason::limit:
      return "limit";
    case StopReason::stop_id:
      return "stop_id";
    case StopReason::predicate:
      return "predicate";
    case StopReason::context_full:
      return "context_full";
  }
  return "?";
}

GenerateResult generate(const Model& model, std::span<const int32_t> prompt,
                        const GenerateParams& params, AttentionBackend& attention,
                        const std::function<void(int32_t)>& on_token) {
  SPF_CHECK(!prompt.empty(), "the prompt is empty");
  SPF_CHECK(params.max_new_tokens >= 0, "max new tokens must be >= 0");
  SPF_CHECK(params.prefill_chunk >= 0, "prefill chunk must be >= 0 (0: the whole prompt), got ",
            params.prefill_chunk);
  const ModelConfig& cfg = model.config();
  const int64_t need = int64_t(prompt.size()) + params.max_new_tokens;
  SPF_CHECK(int64_t(prompt.size()) <= cfg.max_context, "prompt of ", prompt.size(),
            " tokens is longer than the model's context of ", cfg.max_context, " tokens");
  auto state = model.new_state(std::min<int64_t>(need, cfg.max_context));
  Sampler sampler(params.sampling);
  GenerateResult r;
  r.prompt_tokens = int64_t(prompt.size());
  std::vector<float> logits(size_t(cfg.vocab_size));
  Stopwatch sw;
  ForwardOptions prefill;
  prefill.prefill_chunk = params.prefill_chunk;
  model.forward(prompt, *state, attention, logits, prefill);
  r.prefill_seconds = sw.seconds();
  sw.reset();
  for (int i = 0; i < params.max_new_tokens; ++i) {
    const int32_t id = sampler.sample(logits);
    if (std::find(params.stop_ids.begin(), params.stop_ids.end(), id) != params.stop_ids.end()) {
      r.reason = StopReason::stop_id;
      break;
    }
    r.tokens.push_back(id);
    if (on_token) on_token(id);
    if (params.stop_when && params.stop_when(r.tokens)) {
      r.reason = StopReason::predicate;
      break;
    }
    if (i + 1 == params.max_new_tokens) break;
    if (state->n_past() >= state->capacity()) {
      r.reason = StopReason::context_full;
      break;
    }
    model.forward(std::span<const int32_t>(&id, 1), *state, attention, LogitsMode::last, logits);
  }
  r.decode_seconds = sw.seconds();
  return r;
}

}  // namespace spf
