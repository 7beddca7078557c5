// ModelRunner: the sweep Runner backed by spf models. A cell's method is a method spec
// (support/method_spec.h: "dense", "oracle", "oracle:block64:groups=head", "vertical_slash",
// "antidiagonal", ...) and its budget the sweep's ("5%" or a key count); plain "dense" runs the
// dense backend, anything else goes through make_producer(spec, budget). The prompt is prefilled
// through that backend; decoding is dense (sparsity is a prefill optimisation), greedy, stopping at
// the model's end tokens.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "eval/sweep.h"
#include "model/model.h"
#include "support/producer.h"
#include "tokenizer/tokenizer.h"

namespace spf::eval {

// The producer of a cell: its method spec at its budget ("5%" -> fraction, "256" -> top-k; "" ->
// the full support, for budget-less dense cells). Throws spf::Error naming the method and budget.
std::unique_ptr<SupportProducer> make_cell_producer(const std::string& method,
                                                    const std::string& budget);

// The prompt format of a model with this tokenizer, as sweeps use it: tokens counted with special
// tokens parsed (as run() encodes prompts) and the user text wrapped in ChatML with the model's
// default system message. `tok` must outlive the result.
PromptFormat chat_prompt_format(const Tokenizer& tok);

class ModelRunner final : public Runner {
 public:
  // Models load on, and attention runs on, this device (Device::cuda: its model and executor must
  // be installed, model/cuda/cuda_decoder.h install_cuda_models()).
  explicit ModelRunner(Device device = Device::cpu) : device_(device) {}
  PromptFormat prompt_format(const std::string& model) override;
  int64_t max_context(const std::string& model) override;
  RunResult run(const Sample& sample, const CellKey& cell, const RunOptions& options) override;

 private:
  struct Loaded {
    std::unique_ptr<Model> model;
    std::unique_ptr<Tokenizer> tok;
  };
  Loaded& get(const std::string& model);
  Device device_ = Device::cpu;
  std::map<std::string, Loaded> models_;
};

}  // namespace spf::eval
