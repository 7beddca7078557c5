// What every Model::forward() implementation (the CPU decoder, the GPU one) does before and
// around its layers, written once: the argument checks (the state is the model's own and has room,
// the logits buffer fits the mode, every token id is in the vocabulary; one-line spf::Error, state
// untouched) and the split of a prompt into prefill chunks with the logits rows each chunk writes.
#pragma once

#include <cstdint>
#include <functional>
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
void for_each_prefill_chunk(
    int64_t n, std::span<float> logits, const ForwardOptions& options, int64_t vocab,
    const std::function<void(int64_t first, int64_t count, float* out, int64_t rows)>& run);

}  // namespace spf
