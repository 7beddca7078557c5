// What every Model::forward() implementation (the CPU decoder, the GPU one) does before and
// around its layers, written once: the argument checks (the state is the model's own and has room,
// the logits buffer fits the mode, every token id is in the vocabulary; one-line spf::Error, state
// untouched) and the split of a prompt into prefill chunks with the logits rows each chunk writes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>

#include "model/config.h"
#include "model/model.h"
#include "model/state.h"

namespace spf {

// Throws spf::Error naming the first bad argument.
void check_forward_call(const ModelConfig& cfg, const ModelState& st, const void* owner,
                        std::span<const int32_t> tokens, std::span<const float> logits,
                        const ForwardOptions& options);

// Calls run(first, count, logits_out, n_logits) for each chunk of options.prefill_chunk tokens (the
// whole prompt when 0), in order; logits_out is where the chunk's last n_logits rows of logits go
// (null and 0 when the chunk writes none: LogitsMode::last writes only the final chunk's last row).
// A template, not a std::function: a decode step must not allocate.
template <class Run>
void for_each_prefill_chunk(int64_t n, std::span<float> logits, const ForwardOptions& options,
                            int64_t vocab, Run&& run) {
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
