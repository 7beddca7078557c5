#include "model/forward_plan.h"

#include "core/error.h"

namespace spf {

void check_forward_call(const ModelConfig& cfg, const ModelState& st, const void* owner,
                        std::span<const int32_t> tokens, std::span<const float> logits,
                        const ForwardOptions& options) {
  SPF_CHECK(st.owner() == owner, "model state was not created by this model");
  const int64_t n = int64_t(tokens.size());
  const int64_t pos0 = st.n_past(), V = cfg.vocab_size;
  SPF_CHECK(pos0 + n <= st.capacity(), "sequence of ", pos0 + n,
            " tokens exceeds the state's capacity of ", st.capacity(), " tokens");
  const bool all = options.mode == LogitsMode::all;
  SPF_CHECK(n == 0 || int64_t(logits.size()) == (all ? n : 1) * V, "logits buffer has ",
            logits.size(), " floats, expected ", (all ? n : 1) * V);
  SPF_CHECK(options.prefill_chunk >= 0, "prefill chunk must be >= 0 (0: the whole prompt), got ",
            options.prefill_chunk);
  for (int64_t t = 0; t < n; ++t) {
    const int32_t id = tokens[size_t(t)];
    SPF_CHECK(id >= 0 && id < V, "token id ", id, " at position ", pos0 + t,
              " is outside the vocabulary [0, ", V, ")");
  }
}

}  // namespace spf
