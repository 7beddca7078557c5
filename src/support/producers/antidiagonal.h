// Block antidiagonal scoring (in the spirit of XAttention). With stride S and block B (B a multiple
// of S), queries and keys are grouped in runs of S; a query run a and key run b score
//   scale * sum_{t < S} q[a S + S - 1 - t] . k[b S + t]
// (one antidiagonal of their S x S score sub-block, the S terms summed, zero-padded at the ends:
// one GEMM over concatenated, reversed queries). Each query run's scores are softmax-normalized
// over its causal key runs (a key run is causal when it starts at or before the run's last query;
// the estimate may include a few future entries of the diagonal sub-block), summed into (query
// block, key block) scores, averaged over the heads of each group, and each query block keeps its
// best key blocks by the budget: k / fraction, or top-p as the cumulative score threshold. Work
// goes by tiles of query blocks with memory O(tile x n_kv / S).
#pragma once

#include "support/producer.h"

namespace spf {

class AntidiagonalProducer : public SupportProducer {
 public:
  // Throws spf::Error unless block >= stride and block % stride == 0.
  explicit AntidiagonalProducer(ProducerOptions options);
  Support produce(const AttentionCall& call) override;
  std::string name() const override;

 private:
  ProducerOptions options_;
};

}  // namespace spf
