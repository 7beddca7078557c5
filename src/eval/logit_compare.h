// Model-level distance between a dense and a sparse forward over the same tokens: KL(dense ||
// sparse) of the next-token distributions (every position, and the last) and top-1 agreement.
#pragma once

#include <cstdint>
#include <span>

namespace spf {

struct LogitComparison {
  int64_t positions = 0;
  double kl_mean = 0;  // mean over positions of KL(p_dense || p_sparse), nats
  double kl_max = 0;
  double kl_last = 0;         // at the last position (the next token after the prompt)
  double top1_agreement = 0;  // fraction of positions with the same argmax
  bool top1_last_same = false;
};

// dense and sparse are [n, vocab] row-major logits.
LogitComparison compare_logits(std::span<const float> dense, std::span<const float> sparse,
                               int64_t n, int64_t vocab);

}  // namespace spf
