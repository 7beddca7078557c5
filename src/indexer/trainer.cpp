#include "indexer/trainer.h"

#include <cmath>
#include <filesystem>
#include <map>
#include <utility>

#include "attention/cpu/cpu_executor.h"
#include "core/error.h"
#include "core/splitmix.h"
#include "core/timer.h"
#include "nlohmann/json.hpp"

namespace spf {

void TrainConfig::validate() const {
  SPF_CHECK(seq_len >= 2, "train-indexer: seq_len = ", seq_len, " (must be >= 2)");
  SPF_CHECK(steps >= 1, "train-indexer: steps = ", steps, " (must be >= 1)");
  SPF_CHECK(std::isfinite(lr) && lr > 0, "train-indexer: lr = ", lr, " (must be > 0)");
  SPF_CHECK(warmup >= 0, "train-indexer: warmup = ", warmup, " (must be >= 0)");
  SPF_CHECK(final_lr_frac >= 0 && final_lr_frac <= 1,
            "train-indexer: final_lr_frac = ", final_lr_frac, " (must be in [0, 1])");
  SPF_CHECK(clip > 0, "train-indexer: clip = ", clip, " (must be > 0)");
  SPF_CHECK(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1 && adam_eps > 0,
            "train-indexer: Adam betas must be in [0, 1) and eps > 0");
  SPF_CHECK(loss.is_kl() || (std::isfinite(loss.topk_lambda) && loss.topk_lambda > 0 &&
                             loss.topk_frac > 0 && loss.topk_frac <= 1),
            "train-indexer: loss ", loss.spec(), " (LAMBDA must be > 0, FRAC in (0, 1])");
  SPF_CHECK(std::isfinite(synthetic) && synthetic >= 0 && synthetic <= 1,
            "train-indexer: --synthetic ", synthetic,
            " (the fraction of synthetic steps must be in [0, 1])");
  SPF_CHECK(synthetic == 0 || !synthetic_tasks.empty(), "train-indexer: --synthetic ", synthetic,
            " needs at least one task (--synthetic-tasks)");
  for (const std::string& t : synthetic_tasks)
    SPF_CHECK(!t.empty(), "train-indexer: --synthetic-tasks has an empty task name");
}

std::string TrainConfig::json() const {
  nlohmann::ordered_json j;
  j["d_idx"] = d_idx;
  j["rope_dims"] = rope_dims;
  j["heads"] = heads;
  j["per_kv_group"] = per_kv_group;
  j["seq_len"] = seq_len;
  j["steps"] = steps;
  j["lr"] = lr;
  j["warmup"] = warmup;
  j["final_lr_frac"] = final_lr_frac;
  j["clip"] = clip;
  j["beta1"] = beta1;
  j["beta2"] = beta2;
  j["adam_eps"] = adam_eps;
  j["seed"] = seed;
  if (!loss.is_kl()) j["loss"] = loss.spec();
  j["data"] = data;
  if (synthetic > 0) {
    j["synthetic"] = synthetic;
    j["synthetic_tasks"] = synthetic_tasks;
    j["synthetic_data"] = synthetic_data;
  }
  return j.dump();
}

std::string TrainConfig::synthetic_spec() const {
  if (synthetic == 0) return "0";
  std::string s = cat(synthetic, ":");
  for (size_t i = 0; i < synthetic_tasks.size(); ++i) s += (i ? "," : "") + synthetic_tasks[i];
  return s;
}

double lr_at(const TrainConfig& c, int64_t step) {
  if (step < c.warmup) return c.lr * double(step + 1) / double(c.warmup);
  const int64_t decay = c.steps - c.warmup;
  if (decay <= 1) return c.lr;
  const double f = double(step - c.warmup) / double(decay - 1);
  const double pi = 3.141592653589793;
  return c.lr * (c.final_lr_frac + (1.0 - c.final_lr_frac) * 0.5 * (1.0 + std::cos(pi * f)));
}

int64_t window_start(const TrainConfig& c, int64_t step, int64_t n_tokens) {
  SPF_CHECK(n_tokens >= c.seq_len, "train-indexer: ", n_tokens,
            " training tokens, fewer than one window of ", c.seq_len);
  // splitmix64 of (seed, step): the same window after a resume, whatever ran before. (The offset
  // keeps the draws of every checkpoint made before splitmix64 was shared: it was written out
  // here with the golden-ratio increment folded into 0x632BE59BD9B4E019.)
  const uint64_t z = splitmix64(c.seed * 0x9E3779B97F4A7C15ull + uint64_t(step) +
                                (0x632BE59BD9B4E019ull - 0x9E3779B97F4A7C15ull));
  return int64_t(z % uint64_t(n_tokens - c.seq_len + 1));
}

namespace {

// A draw of (seed, step) for one purpose `tag`: bijective in step for a given seed and tag, and
// unrelated to window_start's hash, so the kind of a step does not depend on its text window.
uint64_t step_hash(uint64_t seed, int64_t step, uint64_t tag) {
  return splitmix64(splitmix64(splitmix64(tag) ^ seed) ^ uint64_t(step));
}

constexpr uint64_t kKindTag = 0x73796E746B696E64ull;  // "syntkind"
constexpr uint64_t kTaskTag = 0x73796E747461736Bull;  // "synttask"
constexpr uint64_t kDrawTag = 0x73796E7464726177ull;  // "syntdraw"

}  // namespace

bool synthetic_step(const TrainConfig& c, int64_t step) {
  if (c.synthetic <= 0) return false;
  const double u = double(step_hash(c.seed, step, kKindTag) >> 11) * 0x1.0p-53;  // [0, 1)
  return u < c.synthetic;
}

size_t synthetic_task(const TrainConfig& c, int64_t step) {
  SPF_CHECK(!c.synthetic_tasks.empty(), "train-indexer: no synthetic tasks to choose from");
  return size_t(step_hash(c.seed, step, kTaskTag) % uint64_t(c.synthetic_tasks.size()));
}

uint64_t step_draw(const TrainConfig& c, int64_t step, uint64_t n) {
  SPF_CHECK(n > 0, "step_draw: empty range");
  return step_hash(c.seed, step, kDrawTag) % n;
}

TextWindows::TextWindows(const TrainConfig& c, std::span<const int32_t> ids) : c_(c), ids_(ids) {
  (void)window_start(c_, 0, int64_t(ids_.size()));  // enough tokens?
}

void TextWindows::window(int64_t step, std::vector<int32_t>& ids) const {
  const int64_t start = window_start(c_, step, int64_t(ids_.size()));
  const auto w = ids_.subspan(size_t(start), size_t(c_.seq_len));
  ids.assign(w.begin(), w.end());
}

DistillBackend::DistillBackend(const IndexerWeights& weights, AttentionExecutor& executor,
                               float* grad, const DistillLoss& loss)
    : w_(weights),
      executor_(executor),
      grad_(grad),
      loss_(loss),
      inv_freq_(indexer_inv_freq(weights.config)) {
  layer_kl_.assign(size_t(weights.config.n_layers), 0.0);
  layer_loss_.assign(size_t(weights.config.n_layers), 0.0);
}

void DistillBackend::attend(const AttentionCall& call) {
  call.validate();
  SPF_CHECK(call.device() == Device::cpu,
            "indexer distillation on the host: the call's tensors are on ",
            device_name(call.device()), " (the model runs there: train on that device)");
  executor_.dense(call);
  const IndexerConfig& c = w_.config;
  const AttentionShape& s = call.shape;
  SPF_CHECK(s.q_pos0 == 0 && s.n_q == s.n_kv, "indexer distillation: one forward from position 0",
            " (got queries at ", s.q_pos0, " of ", s.n_kv, " keys)");
  SPF_CHECK(call.attention_layer < c.n_layers, "indexer distillation: attention layer ",
            call.attention_layer, " but the indexer has ", c.n_layers, " layers");
  SPF_CHECK(call.hidden.ptr != nullptr && call.hidden.shape[1] == c.d_model,
            "indexer distillation: the call carries no hidden input of width ", c.d_model);
  const int64_t n = s.n_q;
  head_averaged_targets(executor_, call, c.n_groups, targets_);
  const float* x = call.hidden.data<float>();
  const double scale = 1.0 / (double(n) * double(c.n_layers) * double(c.n_groups));
  double sum = 0, kl = 0;
  for (int g = 0; g < c.n_groups; ++g) {
    DistillTerms terms;
    sum += distill_scorer(w_, inv_freq_, call.attention_layer, g, x, n,
                          targets_.data() + size_t(g) * size_t(n * n), scale, grad_, scratch_,
                          loss_, &terms);
    kl += terms.kl;
  }
  layer_kl_[size_t(call.attention_layer)] = kl / (double(n) * double(c.n_groups));
  layer_loss_[size_t(call.attention_layer)] = sum / (double(n) * double(c.n_groups));
}

namespace {

std::map<Device, DistillFactory>& distill_factories() {
  static std::map<Device, DistillFactory> f;
  return f;
}

}  // namespace

void register_distill_backend(Device device, DistillFactory factory) {
  distill_factories()[device] = std::move(factory);
}

std::unique_ptr<DistillAttention> make_distill_backend(Device device, const IndexerWeights& weights,
                                                       float* grad, const DistillLoss& loss) {
  if (device == Device::cpu)
    return std::make_unique<DistillBackend>(weights, cpu_executor(), grad, loss);
  const auto it = distill_factories().find(device);
  SPF_CHECK(it != distill_factories().end(), "indexer distillation: no backend for device ",
            device_name(device), " in this build");
  return it->second(weights, grad, loss);
}

std::vector<double> heldout_kl(const Model& model, const IndexerWeights& w,
                               std::span<const int32_t> ids, Device device) {
  auto b = make_distill_backend(device, w, nullptr);
  auto state = model.new_state(int64_t(ids.size()));
  std::vector<float> logits(size_t(model.config().vocab_size));
  model.forward(ids, *state, *b, LogitsMode::last, logits);
  b->finish();
  return b->layer_kl();
}

namespace {

double mean(const std::vector<double>& v) {
  double s = 0;
  for (const double x : v) s += x;
  return v.empty() ? 0.0 : s / double(v.size());
}

// One Adam update with global-norm clipping; returns the gradient norm before clipping.
double adam_update(const TrainConfig& c, int64_t step, std::vector<float>& p,
                   const std::vector<float>& g, std::vector<float>& m, std::vector<float>& v) {
  double sq = 0;
  for (const float x : g) sq += double(x) * double(x);
  const double norm = std::sqrt(sq);
  const float clip = norm > c.clip ? float(c.clip / norm) : 1.0f;
  const double t = double(step + 1);
  const float lr = float(lr_at(c, step));
  const float b1 = float(c.beta1), b2 = float(c.beta2);
  const float c1 = float(1.0 / (1.0 - std::pow(c.beta1, t)));
  const float c2 = float(1.0 / (1.0 - std::pow(c.beta2, t)));
  const float eps = float(c.adam_eps);
  const int64_t n = int64_t(p.size());
#pragma omp parallel for simd
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[size_t(i)] * clip;
    m[size_t(i)] = b1 * m[size_t(i)] + (1.0f - b1) * gi;
    v[size_t(i)] = b2 * v[size_t(i)] + (1.0f - b2) * gi * gi;
    p[size_t(i)] -= lr * (m[size_t(i)] * c1) / (std::sqrt(v[size_t(i)] * c2) + eps);
  }
  return norm;
}

}  // namespace

TrainResult train_indexer(const Model& model, const ModelIdentity& identity,
                          std::span<const int32_t> train_ids, const TrainConfig& config,
                          const std::string& ckpt_path, const TrainHooks& hooks) {
  config.validate();
  return train_indexer(model, identity, TextWindows(config, train_ids), config, ckpt_path, hooks);
}

TrainResult train_indexer(const Model& model, const ModelIdentity& identity,
                          const TrainWindows& data, const TrainConfig& config,
                          const std::string& ckpt_path, const TrainHooks& hooks) {
  config.validate();
  // A held-out curve asked for and silently skipped would read as a run that never evaluated.
  SPF_CHECK(hooks.eval_every <= 0 || !hooks.heldout.empty(), "train-indexer: eval every ",
            hooks.eval_every, " steps with no held-out tokens");
  SPF_CHECK(hooks.checkpoint_every >= 0 && hooks.eval_every >= 0 && hooks.stop_after >= 0,
            "train-indexer: checkpoint_every ", hooks.checkpoint_every, ", eval_every ",
            hooks.eval_every, ", stop_after ", hooks.stop_after, " (each must be >= 0)");
  const ModelConfig& mc = model.config();
  SPF_CHECK(config.seq_len <= mc.max_context, "train-indexer: seq_len ", config.seq_len,
            " exceeds the model's context of ", mc.max_context);
  const IndexerConfig ic =
      indexer_config_for(mc, config.d_idx, config.rope_dims, config.heads, config.per_kv_group);

  TrainResult r;
  IndexerFile& f = r.file;
  if (!ckpt_path.empty() && std::filesystem::exists(ckpt_path)) {
    f = load_indexer(ckpt_path);
    SPF_CHECK(!f.adam_m.empty(), ckpt_path, ": not a training checkpoint (no optimizer state)");
    check_indexer_for_model(f, ckpt_path, mc, "");
    SPF_CHECK(f.meta.model.text == identity.text && f.meta.model.hash == identity.hash, ckpt_path,
              ": checkpoint of another model (", f.meta.model.text, ", hash ", f.meta.model.hash,
              ")");
    SPF_CHECK(f.weights.config == ic, ckpt_path, ": checkpoint of indexer ",
              f.weights.config.variant(), " d_idx=", f.weights.config.d_idx, ", not ", ic.variant(),
              " d_idx=", ic.d_idx);
    const auto saved = f.meta.extra.find("loss");  // absent: a checkpoint from before --loss
    const std::string saved_loss = saved == f.meta.extra.end() ? "kl" : saved->second;
    SPF_CHECK(saved_loss == config.loss.spec(), ckpt_path, ": checkpoint trained with --loss ",
              saved_loss, ", not ", config.loss.spec(),
              "; resume with the same loss or delete the checkpoint");
    const auto mix = f.meta.extra.find("synthetic");  // absent: text only
    const std::string saved_mix = mix == f.meta.extra.end() ? "0" : mix->second;
    SPF_CHECK(saved_mix == config.synthetic_spec(), ckpt_path,
              ": checkpoint trained with --synthetic ", saved_mix, ", not ",
              config.synthetic_spec(), "; resume with the same mix or delete the checkpoint");
    SPF_CHECK(f.meta.train_config == config.json(), ckpt_path,
              ": checkpoint of another training config (", f.meta.train_config,
              "); delete it or train with the same options");
    SPF_CHECK(f.meta.step >= 0 && f.meta.step <= config.steps, ckpt_path, ": step ", f.meta.step,
              " outside [0, ", config.steps, "]");
    f.meta.extra["loss"] = config.loss.spec();  // named in files of earlier runs too
    r.resumed = true;
  } else {
    f.weights = random_indexer(ic, config.seed);
    f.meta.model = identity;
    f.meta.train_config = config.json();
    f.meta.init_seed = config.seed;
    f.meta.extra["loss"] = config.loss.spec();
    if (config.synthetic > 0) f.meta.extra["synthetic"] = config.synthetic_spec();
    f.adam_m.assign(f.weights.params.size(), 0.0f);
    f.adam_v.assign(f.weights.params.size(), 0.0f);
  }

  auto evaluate = [&](int64_t step) {
    if (hooks.eval_every <= 0 || !hooks.on_eval) return;
    hooks.on_eval(step, f.meta.tokens_seen,
                  heldout_kl(model, f.weights, hooks.heldout, hooks.device));
  };
  if (!r.resumed) evaluate(0);

  Stopwatch clock;
  std::vector<float> grad(f.weights.params.size());
  std::vector<float> logits(size_t(mc.vocab_size));
  std::vector<int32_t> window;
  auto state = model.new_state(config.seq_len);
  while (f.meta.step < config.steps) {
    const int64_t s = f.meta.step;
    data.window(s, window);
    SPF_CHECK(int64_t(window.size()) == config.seq_len, "train-indexer: the window of step ", s,
              " has ", window.size(), " tokens, not seq_len ", config.seq_len);
    std::fill(grad.begin(), grad.end(), 0.0f);
    auto backend = make_distill_backend(hooks.device, f.weights, grad.data(), config.loss);
    state = model.new_state(config.seq_len);
    model.forward(window, *state, *backend, LogitsMode::last, logits);
    backend->finish();
    const double loss = mean(backend->layer_loss());
    SPF_CHECK(std::isfinite(loss), "train-indexer: loss became ", loss, " at step ", s);
    adam_update(config, s, f.weights.params, grad, f.adam_m, f.adam_v);
    f.meta.step = s + 1;
    f.meta.tokens_seen += config.seq_len;
    f.meta.extra["device"] = device_name(hooks.device);  // where the last step ran
    ++r.steps_run;
    if (hooks.on_step)
      hooks.on_step(f.meta.step, config.steps, loss, f.meta.tokens_seen, clock.seconds());
    const bool last = f.meta.step == config.steps;
    const bool stop = hooks.stop_after > 0 && f.meta.step >= hooks.stop_after;
    if (!ckpt_path.empty() &&
        (last || stop || (hooks.checkpoint_every > 0 && f.meta.step % hooks.checkpoint_every == 0)))
      save_indexer(ckpt_path, f);
    if (hooks.eval_every > 0 && (f.meta.step % hooks.eval_every == 0 || last))
      evaluate(f.meta.step);
    if (stop && !last) break;
  }
  r.finished = f.meta.step == config.steps;
  r.seconds = clock.seconds();
  return r;
}

}  // namespace spf
