#include "eval/model_runner.h"

#include <cmath>

#include "attention/executor.h"
#include "core/error.h"
#include "core/threads.h"
#include "core/timer.h"
#include "eval/scoring.h"
#include "indexer/producer.h"
#include "model/generate.h"
#include "support/budget.h"
#include "support/device_backend.h"
#include "support/layer_selection.h"
#include "support/support_attention.h"

namespace spf::eval {

std::unique_ptr<SupportProducer> make_cell_producer(const std::string& method,
                                                    const std::string& budget) {
  install_indexer_method();
  const MethodSpec spec = parse_method_spec(method);
  Budget b;
  if (!budget.empty()) {
    try {
      b = parse_budget(budget);
    } catch (const Error& e) {
      fail("method ", method, ": ", e.what());
    }
  }
  try {
    return make_producer(spec, b);
  } catch (const Error& e) {
    fail("method ", method, " at budget ", budget.empty() ? "(none)" : budget, ": ", e.what());
  }
}

ModelRunner::Loaded& ModelRunner::get(const std::string& model) {
  auto it = models_.find(model);
  if (it == models_.end()) {
    Loaded l;
    LoadOptions lo;
    lo.device = device_;
    l.model = load_model(model, lo);
    l.tok = std::make_unique<Tokenizer>(Tokenizer::load_for_model(model));
    it = models_.emplace(model, std::move(l)).first;
  }
  return it->second;
}

PromptFormat chat_prompt_format(const Tokenizer& t) {
  const Tokenizer* tok = &t;
  const std::string system = default_system_prompt(t.chat_template());
  PromptFormat f;
  f.has_chat_template = !t.chat_template().empty();
  f.count_tokens = [tok](const std::string& text) {
    return int64_t(tok->encode(text, false, true).size());
  };
  f.wrap = [system](const std::string& user) {
    std::vector<ChatMessage> msgs;
    if (!system.empty()) msgs.push_back({"system", system});
    msgs.push_back({"user", user});
    return apply_chatml(msgs, "", true);
  };
  return f;
}

PromptFormat ModelRunner::prompt_format(const std::string& model) {
  return chat_prompt_format(*get(model).tok);
}

int64_t ModelRunner::max_context(const std::string& model) {
  return get(model).model->config().max_context;
}

RunResult ModelRunner::run(const Sample& sample, const CellKey& cell, const RunOptions& options) {
  Loaded& l = get(cell.model);
  const std::vector<int32_t> ids = l.tok->encode(sample.input, false, true);
  GenerateParams gp;
  gp.max_new_tokens = int(sample.max_new_tokens);
  gp.prefill_chunk = options.prefill_chunk;
  gp.stop_ids = l.tok->special().eos_ids;
  if (options.stop_when_scored && !sample.outputs.empty()) {
    const Tokenizer* tok = l.tok.get();
    gp.stop_when = [tok, &sample](std::span<const int32_t> so_far) {
      return score_prediction(tok->decode({so_far.begin(), so_far.end()}, true), sample.outputs,
                              sample.metric) >= 100.0;
    };
  }

  // Density of the prefill supports: admitted / causal pairs over every sparse attention call.
  double admitted = 0, causal = 0;
  std::unique_ptr<AttentionBackend> sparse;
  // Plain dense runs the dense backend; "dense:block64" exercises the sparse path on the full
  // support.
  bool measured_density = true;
  if (canonical_method(cell.method) != "dense") {
    SupportAttentionOptions ao;
    ao.sparse_layers =
        LayerSelection::parse(options.sparse_layers).mask(l.model->config().n_attention_layers());
    // A method that runs wholly on the device (the GPU indexer) keeps its supports there: their
    // density is not measured (NaN in the results, skipped by reports).
    if (device_ != Device::cpu) {
      sparse = make_device_backend(parse_method_spec(cell.method),
                                   cell.budget.empty() ? Budget{} : parse_budget(cell.budget),
                                   device_, ao);
      measured_density = sparse == nullptr;
    }
    if (sparse == nullptr) {
      auto backend = std::make_unique<SupportAttention>(
          make_cell_producer(cell.method, cell.budget), executor_for(device_), ao);
      backend->set_observer([&](const AttentionCall& call, const Support& s) {
        const double nq = double(call.shape.n_q), p0 = double(call.shape.q_pos0);
        admitted += double(s.admitted_pairs()) / double(s.n_groups);
        causal += nq * p0 + nq * (nq + 1) / 2;
      });
      sparse = std::move(backend);
    }
  }
  AttentionBackend& backend = sparse ? *sparse : dense_attention_backend(device_);
  const GenerateResult g = generate(*l.model, ids, gp, backend);
  RunResult r;
  r.prediction = l.tok->decode(g.tokens, true);
  r.prefill_seconds = g.prefill_seconds;
  r.prompt_tokens = int64_t(ids.size());
  r.support_density = !measured_density ? std::nan("")
                      : sparse          ? (causal > 0 ? admitted / causal : 1.0)
                                        : 1.0;
  r.extra = {{"generated_tokens", g.tokens.size()},
             {"decode_seconds", g.decode_seconds},
             {"stop", stop_reason_name(g.reason)},
             {"threads", num_threads()},
             {"device", device_name(device_)}};
  return r;
}

}  // namespace spf::eval
