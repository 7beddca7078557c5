// Prompt -> continuation: one batched prefill over the prompt (optionally in chunks of
// prefill_chunk tokens, each attending to the whole cache so far), then token-by-token decode with
// the model's caches, stopping at an end-of-sequence id or max_new_tokens. Reports
// time-to-first-token and decode throughput. The attention backend is used for prefill; decode uses
// the same backend. An optional stop_when predicate ends decoding early (e.g. once an evaluation
// can no longer change its score), which saves decode time without changing greedy tokens already
// chosen.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "attention/attention.h"
#include "model/model.h"
#include "model/sampler.h"

namespace spf {

struct GenerateParams {
  int max_new_tokens = 128;
  SamplingParams sampling;
  std::vector<int32_t> stop_ids;
  // Called with the ids generated so far after each new one; true ends decoding. May be empty.
  std::function<bool(std::span<const int32_t>)> stop_when;
  // Prefill the prompt in chunks of this many tokens (0: the whole prompt in one call).
  int64_t prefill_chunk = 0;
};

enum class StopReason { limit, stop_id, predicate, context_full };
const char* stop_reason_name(StopReason r);

struct GenerateResult {
  std::vector<int32_t> tokens;  // generated ids (without the stop id)
  StopReason reason = StopReason::limit;
  int64_t prompt_tokens = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;
};

// on_token is called for every generated id as soon as it is chosen (for streaming); may be empty.
GenerateResult generate(const Model& model, std::span<const int32_t> prompt,
                        const GenerateParams& params, AttentionBackend& attention,
                        const std::function<void(int32_t)>& on_token = {});

}  // namespace spf
