#include "eval/model_runner.h"

#include <cmath>

#include "attention/cpu/cpu_executor.h"
#include "core/error.h"
#include "core/threads.h"
#include "core/timer.h"
#include "eval/scoring.h"
#include "model/generate.h"
#include "support/budget.h"
#include "support/support_attention.h"

namespace spf::eval {

MethodSpec parse_method(const std::string& method) {
  MethodSpec m;
  size_t start = 0;
  int part = 0;
  while (start <= method.size()) {
    size_t end = method.find(':', start);
    if (end == std::string::npos) end = method.size();
    const std::string p = method.substr(start, end - start);
    SPF_CHECK(!p.empty(), "method '", method, "': empty part");
    if (part == 0) {
      m.producer = p;
    } else if (p == "token") {
      m.block = 1;
    } else if (p.rfind("block", 0) == 0) {
      m.block = parse_granularity(p.size() > 5 ? p.substr(5) : std::string("64"));
    } else {
      try {
        m.groups = parse_group_mode(p);
      } catch (const Error&) {
        fail("method '", method, "': unknown part '", p,
             "' (expected token, blockB, shared, per_kv_group or per_head)");
      }
    }
    ++part;
    start = end + 1;
  }
  check_producer_method(m.producer);
  return m;
}

ProducerOptions producer_options(const MethodSpec& m, const std::string& budget) {
  ProducerOptions po;
  if (!budget.empty()) {
    const bool pct = budget.back() == '%';
    po.budget = pct ? parse_budget(budget) : Budget::top_k(std::stoll(budget));
  }
  po.block = m.block;
  po.groups = m.groups;
  po.validate();
  return po;
}

ModelRunner::Loaded& ModelRunner::get(const std::string& model) {
  auto it = models_.find(model);
  if (it == models_.end()) {
    Loaded l;
    l.model = load_model(model);
    l.tok = std::make_unique<Tokenizer>(Tokenizer::load_for_model(model));
    l.system = default_system_prompt(l.tok->chat_template());
    it = models_.emplace(model, std::move(l)).first;
  }
  return it->second;
}

PromptFormat ModelRunner::prompt_format(const std::string& model) {
  Loaded& l = get(model);
  const Tokenizer* tok = l.tok.get();
  const std::string system = l.system;
  PromptFormat f;
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

int64_t ModelRunner::max_context(const std::string& model) {
  return get(model).model->config().max_context;
}

RunResult ModelRunner::run(const Sample& sample, const CellKey& cell, const RunOptions& options) {
  Loaded& l = get(cell.model);
  const std::vector<int32_t> ids = l.tok->encode(sample.input, false, true);
  GenerateParams gp;
  gp.max_new_tokens = int(sample.max_new_tokens);
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
  if (!is_dense_method(cell.method)) {
    const MethodSpec m = parse_method(cell.method);
    auto backend = std::make_unique<SupportAttention>(
        make_producer(m.producer, producer_options(m, cell.budget)), cpu_executor());
    backend->set_observer([&](const AttentionCall& call, const Support& s) {
      const double nq = double(call.shape.n_q), p0 = double(call.shape.q_pos0);
      admitted += double(s.admitted_pairs()) / double(s.n_groups);
      causal += nq * p0 + nq * (nq + 1) / 2;
    });
    sparse = std::move(backend);
  }
  AttentionBackend& backend = sparse ? *sparse : dense_attention_backend();
  const GenerateResult g = generate(*l.model, ids, gp, backend);
  RunResult r;
  r.prediction = l.tok->decode(g.tokens, true);
  r.prefill_seconds = g.prefill_seconds;
  r.prompt_tokens = int64_t(ids.size());
  r.support_density = sparse ? (causal > 0 ? admitted / causal : 1.0) : 1.0;
  r.extra = {{"generated_tokens", g.tokens.size()},
             {"decode_seconds", g.decode_seconds},
             {"stop", stop_reason_name(g.reason)},
             {"threads", num_threads()}};
  return r;
}

}  // namespace spf::eval
