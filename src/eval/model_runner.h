// ModelRunner: the sweep Runner backed by spf models. Method strings name a support producer and
// its shape: "dense", "oracle:token", "oracle:block64", "oracle:token:per_head", "vertical_slash",
// "antidiagonal:block64", "streaming", "random" —
// METHOD[:token|blockB][:shared|per_kv_group|per_head]. Budgets are the sweep's ("5%" or a key
// count). The prompt is prefilled through the sparse backend; decoding is dense (sparsity is a
// prefill optimisation), greedy, stopping at the model's end tokens.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "eval/sweep.h"
#include "model/model.h"
#include "support/producer.h"
#include "tokenizer/tokenizer.h"

namespace spf::eval {

struct MethodSpec {
  std::string producer;  // make_producer name
  int block = 1;
  GroupMode groups = GroupMode::shared;
};
// Throws spf::Error for a malformed method string or an unknown producer.
MethodSpec parse_method(const std::string& method);
// Producer options for a method at a sweep budget ("5%" -> fraction, "256" -> top-k).
ProducerOptions producer_options(const MethodSpec& m, const std::string& budget);

class ModelRunner final : public Runner {
 public:
  ModelRunner() = default;
  PromptFormat prompt_format(const std::string& model) override;
  int64_t max_context(const std::string& model) override;
  RunResult run(const Sample& sample, const CellKey& cell, const RunOptions& options) override;

 private:
  struct Loaded {
    std::unique_ptr<Model> model;
    std::unique_ptr<Tokenizer> tok;
    std::string system;
  };
  Loaded& get(const std::string& model);
  std::map<std::string, Loaded> models_;
};

}  // namespace spf::eval
