#include "model/forward_plan.h"

#include <algorithm>

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

void for_each_prefill_chunk(
    int64_t n, std::span<float> logits, const ForwardOptions& options, int64_t vocab,
    const std::function<void(int64_t first, int64_t count, float* out, int64_t rows)>& run) {
  const bool all = options.mode == LogitsMode::all;
  const int64_t chunk = options.prefill_chunk > 0 ? options.prefill_chunk : n;
  for (int64_t c0 = 0; c0 < n; c0 += chunk) {
    const int64_t nc = std::min(chunk, n - c0);
    float* out = nullptr;
    int64_t rows = 0;
    if (all) {
      out = logits.data() + c0 * vocab;
      rows = nc;
    } else if (c0 + nc == n) {
      out = logits.data();
      rows = 1;
    }
    run(c0, nc, out, rows);
  }
}

}  // namespace spf
